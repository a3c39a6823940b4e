"""QA: a bad GROKLST_THREADS (``abc``, ``0``) blocked every command's ``--help`` with its error,
whose hint says to run ``--help``. The variable is now refused when a command starts, with the
message and exit status it had; a bad ``--threads`` typed on the command line is still refused
at once. And ``--version`` or ``--help`` into a stdout that cannot be written said the disk was
full; it is stdout's problem, said in one line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import typer

from groklst_cli.app import app, run

COMMANDS = sorted(typer.main.get_command(app).commands)
NOT_AN_INTEGER = "Input should be a valid integer, unable to parse string as an integer"


@pytest.mark.parametrize("value", ["abc", "0"])
@pytest.mark.parametrize("command", COMMANDS)
def test_a_bad_variable_blocks_no_command_s_help(capsys, monkeypatch, command: str, value: str) -> None:
    monkeypatch.setenv("GROKLST_THREADS", value)
    assert run([command, "--help"]) == 0
    captured = capsys.readouterr()
    assert f"groklst {command}" in captured.out
    assert captured.err == ""


@pytest.mark.parametrize(("value", "problem"), [
    ("abc", NOT_AN_INTEGER),
    ("0", "Input should be greater than or equal to 1"),
    ("1025", "Input should be less than or equal to 1024"),
    ("nan", "'nan' is not a number"),
])
def test_a_bad_variable_is_refused_when_the_command_runs(capsys, monkeypatch, value: str, problem: str) -> None:
    monkeypatch.setenv("GROKLST_THREADS", value)
    assert run(["models"]) == 2
    captured = capsys.readouterr()
    assert captured.err == (f"error: Invalid value for '--threads' (env var: 'GROKLST_THREADS'): {problem} "
                            "(hint: groklst --help)\n")
    assert captured.out == ""


def test_the_command_line_wins_over_a_bad_variable(capsys, monkeypatch) -> None:
    monkeypatch.setenv("GROKLST_THREADS", "abc")
    assert run(["--threads", "2", "models", "--json"]) == 0
    assert capsys.readouterr().err == ""


def test_an_empty_variable_is_unset(capsys, monkeypatch) -> None:
    monkeypatch.setenv("GROKLST_THREADS", "")
    assert run(["models", "--json"]) == 0


def test_a_bad_threads_typed_is_refused_even_with_help(capsys) -> None:
    assert run(["--threads", "abc", "downscale", "--help"]) == 2
    assert capsys.readouterr().err == f"error: Invalid value for '--threads': {NOT_AN_INTEGER} (hint: groklst --help)\n"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["downscale", "--help"]])
def test_help_and_version_into_a_full_stdout_say_so(argv: list[str]) -> None:
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "groklst_cli", *argv], stdout=full, stderr=subprocess.PIPE,
                              text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr == ("error: stdout: cannot write the results: No space left on device (hint: free some "
                           "space where stdout goes, or redirect it elsewhere; output files already written "
                           "are complete and kept)\n")
