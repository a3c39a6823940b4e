"""The groklst command itself: version, help, exit statuses, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from groklst_cli import __version__
from groklst_cli.app import run

COMMANDS = ("sample-scene", "ingest", "prepare", "train", "evaluate", "downscale", "models")


def test_version(capsys) -> None:
    assert run(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"groklst {__version__}"


def test_help_lists_every_command(capsys) -> None:
    assert run(["--help"]) == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out, command
    for command in COMMANDS:
        assert run([command, "--help"]) == 0, command
        assert "Usage" in capsys.readouterr().out


def test_help_paragraphs_are_wrapped_at_the_terminal_width(monkeypatch, capsys) -> None:
    """The docstring's own line breaks would leave ragged lines in an 80-column terminal."""
    monkeypatch.setenv("COLUMNS", "80")
    assert run(["downscale", "--help"]) == 0
    lines = [line.strip() for line in capsys.readouterr().out.splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("Exit status:"))
    paragraph = lines[start:lines.index("", start)]
    assert len(paragraph) == 3  # 229 characters at up to 78 a line; 4 ragged lines before
    assert " ".join(paragraph).startswith("Exit status: 0 when every scene succeeded, was skipped or was empty (but not all empty), 2 when")


def test_usage_error_exits_2(capsys) -> None:
    assert run(["downscale", "--no-such-option"]) == 2
    assert run(["no-such-command"]) == 2


def test_missing_file_one_line_exit_2_in_a_real_process(tmp_path: Path) -> None:
    missing = tmp_path / "nope_lst.tif"
    proc = subprocess.run(
        [sys.executable, "-m", "groklst_cli", "downscale", str(missing), "--model", "bicubic",
         "-o", str(tmp_path / "o.tif")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    lines = [l for l in proc.stderr.splitlines() if l.strip() and not l.startswith("note:")]
    assert len(lines) == 1 and str(missing) in lines[0] and "file not found" in lines[0]
    assert proc.stdout == ""


def test_internal_error_exits_1_without_traceback_unless_debug(tmp_path: Path, monkeypatch, capsys) -> None:
    import pipelines.scenes as scenes

    def boom(*args, **kwargs):
        raise ZeroDivisionError("boom")

    # Outside the per-scene guard: break the job builder itself.
    import groklst_cli.commands.downscale as cmd

    monkeypatch.setattr(cmd, "_jobs", boom)
    assert run(["downscale", "x_lst.tif", "--model", "bicubic"]) == 1
    err = capsys.readouterr().err
    assert "internal error: ZeroDivisionError: boom" in err and "Traceback" not in err
    assert run(["--debug", "downscale", "x_lst.tif", "--model", "bicubic"]) == 1
    assert "Traceback" in capsys.readouterr().err
    assert run(["downscale", "x_lst.tif", "--model", "bicubic", "--json"]) == 1  # a pipeline sees why
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == [
        {"input": "x_lst.tif", "output": None, "status": "failed", "error": "internal error: ZeroDivisionError: boom"}]
    assert scenes  # imported module stays untouched


def test_error_lines_print_paths_and_options_as_typed(tmp_path: Path, capsys) -> None:
    """``:fire:`` in a path or option is no emoji code (nor ``[red]`` a style) on stderr."""
    missing = tmp_path / "em:fire:x[red]" / "q_lst.tif"
    assert run(["prepare", str(missing), "-o", str(tmp_path / "ds")]) == 2
    assert capsys.readouterr().err.strip() == f"error: {missing}: file not found (hint: check the path)"
    assert run(["prepare", str(missing), "-o", str(tmp_path / "ds"), "--split", "a:b:c"]) == 2
    assert "'a:b:c' is not TRAIN:VAL:TEST" in capsys.readouterr().err


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_json_errors_that_stop_a_command_name_its_one_input_and_output(tmp_path: Path, capsys) -> None:
    """A pipeline reading stdout learns which input a refused command was about (QA: null)."""
    lst, missing = tmp_path / "a_lst.tif", tmp_path / "nowhere.tif"
    lst.write_bytes(b"")
    cases = [
        (["mask", str(lst), str(missing), "-o", "m.tif", "--json"], str(lst), "m.tif"),
        (["compare", str(lst), str(missing), "--json"], str(lst), None),
        (["ingest", str(tmp_path), "--out-dir", str(tmp_path / "x"), "--json"], str(tmp_path), None),
        (["downscale", str(lst), "--model", "bicubic", "-o", "o.tif", "--overlap", "900", "--json"], str(lst), "o.tif"),
        (["downscale", str(tmp_path), str(tmp_path), "--overlap", "900", "--json"], f"{tmp_path}, {tmp_path}", None),
        (["downscale", str(lst), str(lst), "--model", "bicubic", "--overlap", "900", "--json"], None, None),
    ]
    for argv, given, output in cases:
        assert run(argv) == 2, argv
        [line] = json_lines(capsys.readouterr().out)
        assert (line["input"], line["output"], line["status"]) == (given, output, "error"), argv


@pytest.mark.parametrize("argv", [
    ["downscale", "{lst}", "--model", "bicubic", "-o", "{out}/"],
    ["downscale", "{lst}", "--model", "bicubic", "-o", "{out}.tif", "--quicklook", "{out}/"],
    ["guidance", "{lst}", "--scale", "3", "-o", "{out}/"],
    ["mask", "{lst}", "{lst}", "-o", "{out}/"],
    ["coregister", "{lst}", "{lst}", "-o", "{out}/"],
    ["quicklook", "{lst}", "-o", "{out}/"],
])
def test_a_file_option_ending_in_a_separator_is_refused(tmp_path: Path, capsys, argv: list[str]) -> None:
    """QA: ``-o newdir/`` wrote a file named newdir (pathlib drops the slash)."""
    out = tmp_path / "newdir"
    argv = [a.format(lst=tmp_path / "a_lst.tif", out=out) for a in argv]
    assert run(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {out}/: names a folder (it ends in a separator), not the file to write (hint: name the")
    assert len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
