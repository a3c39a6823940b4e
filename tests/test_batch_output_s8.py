"""s8 F2b, batch output: a stdin path's stray trailing space, sample-scene's ``./-d`` paths,
NO_COLOR writing no escape codes at all, and an empty stdin with ``-o`` (nothing to do, exit 0)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from groklst_cli.app import run
from groklst_cli.commands.downscale import _stdin_paths
from tests.conftest import write_canonical_scene


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))


def test_a_trailing_space_on_stdin_is_dropped_where_only_that_names_a_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """QA: ``printf 'a_lst.tif \\n'`` said ``error: a_lst.tif : file not found`` (exit 2)."""
    monkeypatch.chdir(tmp_path)
    write_canonical_scene(tmp_path, "a")
    _stdin(monkeypatch, "a_lst.tif \n")
    capsys.readouterr()
    assert run(["downscale", "-", "--model", "bicubic", "--out-dir", "out"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "out/a_lst_downscaled.tif\n"
    assert "warning" not in captured.err and (tmp_path / "out" / "a_lst_downscaled.tif").is_file()


def test_a_trailing_space_naming_no_file_either_way_is_shown_quoted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    _stdin(monkeypatch, "b_lst.tif \n")
    capsys.readouterr()
    assert run(["downscale", "-", "--model", "bicubic"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == ("warning: 'b_lst.tif ' (from stdin) ends in whitespace; no file has that name, "
                        "with or without it")
    assert lines[1].startswith("error: b_lst.tif : file not found")


def test_a_name_that_really_ends_in_a_space_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c_lst.tif ").write_bytes(b"")
    (tmp_path / "c_lst.tif").write_bytes(b"")
    assert _stdin_paths("c_lst.tif \nd_lst.tif\t\r\n") == ["c_lst.tif ", "d_lst.tif\t"]
    assert _stdin_paths("c_lst.tif \0") == ["c_lst.tif "]


def test_sample_scene_prints_a_dash_folder_as_a_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """QA: ``groklst sample-scene ./-d`` printed ``-d/heihe_demo_lst.tif``, an option to the next command."""
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert run(["sample-scene", "./-d", "--size", "8"]) == 0
    assert capsys.readouterr().out.splitlines() == ["./-d/heihe_demo_lst.tif", "./-d/heihe_demo_guidance.tif"]


def _error_bytes(tmp_path: Path, **env: str) -> str:
    """What stderr gets from a downscale of a missing file, with ``env`` added."""
    environment = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    proc = subprocess.run([sys.executable, "-m", "groklst_cli", "downscale", "nope.tif", "--model", "bicubic"],
                          cwd=tmp_path, env={**environment, **env}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    return proc.stderr


def test_no_color_writes_no_escape_codes_even_when_forced(tmp_path: Path) -> None:
    """QA: NO_COLOR=1 (with FORCE_COLOR=1) still wrote ``\\x1b[1merror:\\x1b[0m``."""
    assert _error_bytes(tmp_path, NO_COLOR="1", FORCE_COLOR="1") == (
        "error: nope.tif: file not found (hint: check the path)\n")
    assert "\x1b[" in _error_bytes(tmp_path, NO_COLOR="", FORCE_COLOR="1")  # an empty NO_COLOR is unset


@pytest.mark.parametrize("as_json", [[], ["--json"]])
def test_an_empty_stdin_with_an_output_is_nothing_to_do(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        as_json: list[str]) -> None:
    """QA: ``printf '' | groklst downscale - -o z.tif`` warned, then refused -o for 0 inputs (exit 2)."""
    monkeypatch.chdir(tmp_path)
    _stdin(monkeypatch, "")
    capsys.readouterr()
    assert run(["downscale", "-", "--model", "bicubic", "-o", "z.tif", *as_json]) == 0
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "warning: no input paths on stdin: nothing to do\n")
    assert list(tmp_path.iterdir()) == []


def test_a_stopped_local_batch_ends_with_its_tally(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """QA: a Ctrl-C'd batch printed no ``N scenes: ...`` line, where a finished one does."""
    import pipelines.scenes

    monkeypatch.chdir(tmp_path)
    for name in ("a", "b", "c"):
        write_canonical_scene(tmp_path, name)
    real = pipelines.scenes.run_local
    calls: list[object] = []

    def stopped_on_the_second(jobs, *args, **kwargs):
        calls.append(jobs)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(jobs, *args, **kwargs)

    monkeypatch.setattr(pipelines.scenes, "run_local", stopped_on_the_second)
    capsys.readouterr()
    assert run(["downscale", "a_lst.tif", "b_lst.tif", "c_lst.tif", "--model", "bicubic"]) == 130
    captured = capsys.readouterr()
    assert captured.out == "a_lst_downscaled.tif\n"
    lines = captured.err.splitlines()
    assert lines[-2:] == ["3 scenes: 1 written, 2 stopped", "error: interrupted"]
