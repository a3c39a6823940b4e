"""Ctrl-C or SIGTERM late in a run: an output renamed into place (complete) is reported on
stdout before the run stops with 130/143; one not complete is removed, never left under its
name. The signal is sent to this process at a chosen moment, so each case is deterministic."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

import pipelines.atomic as atomic
import pipelines.downscale as downscale_module
from groklst_cli.app import run
from tests.conftest import write_canonical_scene

STOPS = [
    (signal.SIGINT, 130, "error: interrupted; unfinished outputs were removed"),
    (signal.SIGTERM, 143, "error: terminated (SIGTERM); unfinished outputs were removed"),
]
# a stop after every output was renamed into place removed nothing, and does not say it did
PUBLISHED_STOPS = [(signum, status, message.split(";")[0]) for signum, status, message in STOPS]


def signal_once_published(monkeypatch, signum: int, name: str) -> None:
    """Send ``signum`` right after the output called ``name`` is renamed into place (a file or
    a dataset folder), before anything else runs."""
    for publish in ("_publish_file", "_publish_dir"):
        real: Callable = getattr(atomic, publish)

        def published(tmp: Path, target: Path, *args, real: Callable = real) -> None:
            real(tmp, target, *args)
            if target.name == name:
                signal.raise_signal(signum)

        monkeypatch.setattr(atomic, publish, published)


def scenes(folder: Path) -> list[str]:
    return [str(write_canonical_scene(folder, name, seed=seed)[0]) for seed, name in enumerate("ab")]


@pytest.mark.parametrize("signum, status, message", PUBLISHED_STOPS)
@pytest.mark.parametrize("as_json", [False, True])
def test_a_scene_renamed_into_place_before_the_signal_is_reported(tmp_path: Path, monkeypatch, capsys,
                                                                   signum, status, message, as_json) -> None:
    """QA: a signal between a scene's rename and its line left a complete output nobody was told of."""
    out = tmp_path / "out"
    signal_once_published(monkeypatch, signum, "a_lst_downscaled.tif")
    code = run(["-q", "downscale", *scenes(tmp_path), "--model", "bicubic", "--out-dir", str(out),
                *(["--json"] if as_json else [])])
    captured = capsys.readouterr()
    assert (code, captured.err.splitlines()) == (status, [message])
    written = out / "a_lst_downscaled.tif"
    if as_json:
        [line] = [json.loads(text) for text in captured.out.splitlines()]
        assert (line["output"], line["status"]) == (str(written), "ok")
    else:
        assert captured.out == f"{written}\n"
    assert [p.name for p in out.iterdir()] == ["a_lst_downscaled.tif"]  # b never started, nothing partial


@pytest.mark.parametrize("signum, status, message", PUBLISHED_STOPS)
def test_a_signal_after_the_last_scene_still_reports_it(tmp_path: Path, monkeypatch, capsys,
                                                         signum, status, message) -> None:
    out = tmp_path / "out"
    signal_once_published(monkeypatch, signum, "b_lst_downscaled.tif")
    assert run(["-q", "downscale", *scenes(tmp_path), "--model", "bicubic", "--out-dir", str(out)]) == status
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [str(out / "a_lst_downscaled.tif"), str(out / "b_lst_downscaled.tif")]
    assert captured.err.splitlines() == [message]
    assert sorted(p.name for p in out.iterdir()) == ["a_lst_downscaled.tif", "b_lst_downscaled.tif"]


def test_a_signal_before_the_rename_stops_at_once_and_leaves_nothing(tmp_path: Path, monkeypatch,
                                                                     capsys) -> None:
    """The wait starts at the rename: a scene whose tiles are all written but not yet renamed is
    removed, and nothing is reported."""
    real = downscale_module._write_mosaic

    def written(*args, **kwargs) -> None:
        real(*args, **kwargs)
        signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(downscale_module, "_write_mosaic", written)
    out = tmp_path / "out"
    assert run(["-q", "downscale", *scenes(tmp_path), "--model", "bicubic", "--out-dir", str(out)]) == 130
    assert capsys.readouterr().out == ""
    assert not out.exists()  # no partial left, and the folder the run made is gone with it


@pytest.mark.parametrize("command", ["quicklook", "coregister", "prepare"])
def test_single_output_commands_report_an_output_renamed_before_the_signal(tmp_path: Path, monkeypatch,
                                                                           capsys, command: str) -> None:
    lst, guidance = write_canonical_scene(tmp_path, "s")
    downscaled = tmp_path / "s_downscaled.tif"
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(downscaled)]) == 0
    capsys.readouterr()
    output, argv = {
        "quicklook": (tmp_path / "look.png", [str(downscaled), "-o", str(tmp_path / "look.png")]),
        "coregister": (tmp_path / "moved.tif", [str(lst), str(guidance), "-o", str(tmp_path / "moved.tif")]),
        "prepare": (tmp_path / "ds", [str(lst), "--out", str(tmp_path / "ds"), "--scales", "2", "--patch", "8",
                                      "--stride", "8", "--split", "1:0:0"]),
    }[command]
    signal_once_published(monkeypatch, signal.SIGTERM, output.name)
    assert run(["-q", command, *argv]) == 143
    assert capsys.readouterr().out == f"{output}\n"
    assert output.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("first", ["heihe_demo_lst.tif", "heihe_demo_guidance.tif"])
def test_a_pair_renamed_before_the_signal_is_reported_whole(tmp_path: Path, monkeypatch, capsys,
                                                            first: str) -> None:
    """sample-scene and ingest write an LST and its guidance together: a signal after the first
    of the two renames waits for the second and for both result lines."""
    signal_once_published(monkeypatch, signal.SIGTERM, first)
    assert run(["-q", "sample-scene", str(tmp_path / "s"), "--size", "24"]) == 143
    pair = [str(tmp_path / "s" / name) for name in ("heihe_demo_lst.tif", "heihe_demo_guidance.tif")]
    assert capsys.readouterr().out.splitlines() == pair
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["heihe_demo_guidance.tif", "heihe_demo_lst.tif"]
    products = tmp_path / "products"
    assert run(["-q", "sample-scene", str(products), "--size", "24", "--products", "--name", "p"]) == 0
    folders = sorted(str(p) for p in products.iterdir() if p.is_dir())
    capsys.readouterr()
    signal_once_published(monkeypatch, signal.SIGTERM, first.replace("heihe_demo", "x"))
    out = tmp_path / "ingested"
    assert run(["-q", "ingest", *folders, "--out-dir", str(out), "--name", "x"]) == 143
    assert capsys.readouterr().out.splitlines() == [str(out / "x_lst.tif"), str(out / "x_guidance.tif")]
    assert sorted(p.name for p in out.iterdir()) == ["x_guidance.tif", "x_lst.tif"]


def test_a_second_sigterm_during_the_cleanup_does_not_cut_it_short(tmp_path: Path, monkeypatch, capsys) -> None:
    """``timeout`` sends SIGTERM to groklst, then to its process group: the second arrived while
    the first one's removal of temporary outputs ran, and could leave a ``.partial`` behind."""
    real_write, real_remove = downscale_module._write_mosaic, atomic._remove
    stopping = []

    def written(*args, **kwargs) -> None:
        real_write(*args, **kwargs)
        stopping.append(True)
        signal.raise_signal(signal.SIGTERM)

    def removed_after_a_second_signal(path: Path) -> None:
        if stopping and stopping.pop():
            signal.raise_signal(signal.SIGTERM)  # dropped: the run is already stopping
        real_remove(path)

    monkeypatch.setattr(downscale_module, "_write_mosaic", written)
    monkeypatch.setattr(atomic, "_remove", removed_after_a_second_signal)
    out = tmp_path / "out"
    lst = scenes(tmp_path)[0]
    assert run(["-q", "downscale", lst, "--model", "bicubic", "-o", str(out / "a.tif")]) == 143
    assert capsys.readouterr().err.strip().endswith("error: terminated (SIGTERM); unfinished outputs were removed")
    assert not out.exists()  # the .partial was removed, and with it the folder the run made


def test_a_sigterm_long_after_a_swallowed_stop_stops_the_run_again(monkeypatch) -> None:
    """Review R4: a stop swallowed somewhere (an exception in a finalizer) must not make every
    later SIGTERM a repeat to drop; only one within the repeat window is."""
    import groklst_cli.interrupts as interrupts

    monkeypatch.setattr(interrupts, "_signals", interrupts._Signals())
    with pytest.raises(interrupts.Terminated):
        interrupts._on_signal(signal.SIGTERM, None)
    assert interrupts._on_signal(signal.SIGTERM, None) is None  # timeout's second one: dropped
    monkeypatch.setattr(interrupts._signals, "stopped_at", interrupts._signals.stopped_at - interrupts.REPEAT_WINDOW_S)
    with pytest.raises(interrupts.Terminated):
        interrupts._on_signal(signal.SIGTERM, None)
