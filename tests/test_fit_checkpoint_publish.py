"""``downscale --fit --save-checkpoint``: the checkpoint is renamed into place with the scene's
output and named in its JSON line; an interrupted or failed scene leaves neither, nor a
temporary, so the same command runs again (QA: a SIGTERM left t20/ck.pt, which refused reruns)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pipelines.downscale as downscale_module
from groklst_cli.app import run
from pipelines.checkpoint import load_checkpoint
from pipelines.errors import InputError
from tests.test_fit_small_fixes import NETWORK, scene, sha256, tags
from tests.test_interrupts import signal_once_published


def command(lst_path: Path, out: Path, ckpt: Path, *extra: str) -> list[str]:
    return ["-q", "downscale", str(lst_path), "--fit", "--model", "mocolsk-lite", *NETWORK,
            "-o", str(out), "--save-checkpoint", str(ckpt), "--json", *extra]


def json_line(capsys) -> dict:
    [line] = capsys.readouterr().out.splitlines()
    return json.loads(line)


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_signal_while_the_output_is_written_leaves_no_checkpoint_and_the_rerun_saves_it(
        tmp_path: Path, monkeypatch, capsys) -> None:
    lst_path, out, ckpt = scene(tmp_path), tmp_path / "out" / "fit.tif", tmp_path / "out" / "ck.pt"
    real = downscale_module._write_mosaic
    seen: list[list[str]] = []

    def terminated(*args, **kwargs) -> None:
        real(*args, **kwargs)
        seen.append(hidden(out.parent))  # the network waits under a temporary name beside ck.pt
        signal.raise_signal(signal.SIGTERM)

    monkeypatch.setattr(downscale_module, "_write_mosaic", terminated)
    assert run(command(lst_path, out, ckpt)) == 143
    assert capsys.readouterr().out == ""
    [[first, second]] = seen
    assert first.startswith(".ck.pt.") and first.endswith(".partial") and second.startswith(".fit.tif.")
    assert not out.parent.exists()  # no checkpoint, no temporary: the folder the run made is gone
    monkeypatch.setattr(downscale_module, "_write_mosaic", real)
    assert run(command(lst_path, out, ckpt)) == 0  # QA: "ck.pt: output already exists"
    line = json_line(capsys)
    assert (line["status"], line["fit"]["checkpoint_saved"]) == ("ok", str(ckpt))
    assert load_checkpoint(ckpt).model == "mocolsk-lite"
    written = tags(out)
    assert written["checkpoint"] == str(ckpt.resolve()) and written["checkpoint_sha256"] == sha256(ckpt)
    assert sorted(p.name for p in out.parent.iterdir()) == ["ck.pt", "fit.tif"]


def test_existing_outputs_are_skipped_or_kept_when_the_replacement_fails(tmp_path: Path, monkeypatch,
                                                                          capsys) -> None:
    lst_path, out, ckpt = scene(tmp_path), tmp_path / "fit.tif", tmp_path / "ck.pt"
    assert run(command(lst_path, out, ckpt)) == 0
    capsys.readouterr()
    before = (sha256(out), sha256(ckpt))
    # --skip-existing: the scene's output exists, so nothing is fitted and both are kept
    assert run(command(lst_path, out, ckpt, "--skip-existing")) == 0
    line = json_line(capsys)
    assert (line["status"], "fit" in line) == ("skipped", False)

    def fails(*args, **kwargs) -> None:
        raise InputError(out, "writing failed (No space left on device)")

    # --overwrite, and the new output fails: the old pair stays as it was, the new network unsaved
    monkeypatch.setattr(downscale_module, "_write_mosaic", fails)
    assert run(command(lst_path, out, ckpt, "--overwrite")) == 2
    line = json_line(capsys)
    assert (line["status"], line["fit"]["checkpoint_saved"]) == ("error", None)
    assert (sha256(out), sha256(ckpt)) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.pt", "fit.tif", "scene_guidance.tif", "scene_lst.tif"]


def test_a_signal_after_the_output_is_published_waits_for_the_checkpoint_and_the_line(
        tmp_path: Path, monkeypatch, capsys) -> None:
    lst_path, out, ckpt = scene(tmp_path), tmp_path / "fit.tif", tmp_path / "ck.pt"
    signal_once_published(monkeypatch, signal.SIGTERM, out.name)
    assert run(command(lst_path, out, ckpt)) == 143
    line = json_line(capsys)
    assert (line["output"], line["status"], line["fit"]["checkpoint_saved"]) == (str(out), "ok", str(ckpt))
    assert tags(out)["checkpoint_sha256"] == sha256(ckpt) and load_checkpoint(ckpt).scale == 2
    assert hidden(tmp_path) == []


def test_a_checkpoint_saved_by_another_run_meanwhile_is_kept_and_reported(tmp_path: Path, monkeypatch,
                                                                          capsys) -> None:
    lst_path, out, ckpt = scene(tmp_path), tmp_path / "fit.tif", tmp_path / "ck.pt"
    real = downscale_module._write_mosaic

    def other_run_saves(*args, **kwargs) -> None:
        real(*args, **kwargs)
        ckpt.write_bytes(b"another run's network")

    monkeypatch.setattr(downscale_module, "_write_mosaic", other_run_saves)
    assert run(command(lst_path, out, ckpt)) == 2
    line = json_line(capsys)
    assert (line["status"], line["fit"]["checkpoint_saved"]) == ("ok", None)
    assert any("the fitted network was not saved" in w and "ck.pt" in w for w in line["warnings"])
    assert ckpt.read_bytes() == b"another run's network" and out.is_file() and hidden(tmp_path) == []


def test_a_lone_checkpoint_under_skip_existing_is_refused_with_a_hint_that_works(tmp_path: Path, capsys) -> None:
    """QA: a checkpoint without its output (another run's) was refused with "pass --overwrite",
    which --skip-existing refuses in turn; the hint now names what works, before any fit."""
    lst_path, out, ckpt = scene(tmp_path), tmp_path / "fit.tif", tmp_path / "ck.pt"
    ckpt.write_bytes(b"someone else's")
    assert run(["downscale", str(lst_path), "--fit", "--model", "mocolsk-lite", *NETWORK, "--skip-existing",
                "--save-checkpoint", str(ckpt), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: {ckpt}: exists but the output does not; --skip-existing never replaces it "
                   "(hint: remove it, or name another --save-checkpoint file)\n")
    assert ckpt.read_bytes() == b"someone else's" and not out.exists()
