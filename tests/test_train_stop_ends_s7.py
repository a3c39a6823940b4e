"""``groklst train --json`` stopped at its two ends (QA s7).

After the end: a SIGTERM, SIGHUP or Ctrl-C that comes once the run printed its ok line
(``"finished": true``) failed it, 143 with ``error: terminated (SIGTERM)`` (in the block, as
the command's contexts closed) or -15 (killed, once groklst had given the default handler back).
At the start: a stop during train's imports (torch) or the dataset's opening printed no JSON line.
"""

from __future__ import annotations

import builtins
import json
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import groklst_cli.app as app_module
from groklst_cli.app import run
from tests.test_train import CLI_TRAIN, dataset  # noqa: F401 - dataset: a fixture

RUN = "r1"

# groklst's main in a child that says "exiting" from an atexit callback (after the run, as the
# process exits) and waits there for the signal
_CHILD = textwrap.dedent("""
    import atexit, sys, time
    from groklst_cli import app

    def exiting():
        print("exiting", flush=True)
        time.sleep(3)

    atexit.register(exiting)
    sys.argv = ["groklst", *sys.argv[1:]]
    app.main()
""")


def _train_args(dataset: Path, *extra: str) -> list[str]:  # noqa: F811
    return ["train", str(dataset), "-o", RUN, "--iters", "2", *CLI_TRAIN, "--json", *extra]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def _ok_line(text: str) -> dict[str, object]:
    line = json.loads(text)
    assert (line["status"], line["finished"], line["run"], line["iteration"]) == ("ok", True, RUN, 2), line
    return line


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_as_a_finished_run_exits_does_not_fail_it(dataset: Path, tmp_path: Path,  # noqa: F811
                                                          signum: signal.Signals) -> None:
    """-15 (-1, -2) before: the default handlers were back once the command had ended."""
    child = subprocess.Popen([sys.executable, "-c", _CHILD, *_train_args(dataset)], cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _ok_line(child.stdout.readline())
        assert child.stdout.readline() == "exiting\n"
        child.send_signal(signum)
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert (child.returncode, out) == (0, "")
    assert "error" not in err and "Traceback" not in err, err
    assert (tmp_path / RUN / "best.pt").is_file()


def test_sigterm_right_after_the_ok_line_does_not_fail_the_run(dataset: Path, tmp_path: Path) -> None:  # noqa: F811
    """QA's harness: 143 or -15 in most tries before, wherever the signal landed."""
    for _ in range(3):
        shutil.rmtree(tmp_path / RUN, ignore_errors=True)
        child = subprocess.Popen([sys.executable, "-m", "groklst_cli", *_train_args(dataset)], cwd=tmp_path,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _ok_line(child.stdout.readline())
            child.send_signal(signal.SIGTERM)
            out, err = child.communicate(timeout=60)
        finally:
            child.kill()
        assert (child.returncode, out) == (0, ""), err
        assert "error" not in err, err


def _stopped_as_the_command_ends(monkeypatch: pytest.MonkeyPatch, signum: int) -> None:
    """``signum`` once the command has returned, as the run's contexts close (``one_run``)."""
    real = app_module.one_run

    @contextmanager
    def stopped_as_it_ends() -> Iterator[None]:
        with real():
            yield
        signal.raise_signal(signum)

    monkeypatch.setattr(app_module, "one_run", stopped_as_it_ends)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_as_the_commands_contexts_close_does_not_fail_a_finished_run(
        dataset: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],  # noqa: F811
        signum: signal.Signals) -> None:
    """143 'error: terminated (SIGTERM)' (130 'interrupted') before: the stop came after train
    returned. The finished train is that run's only: the next command stopped so still fails."""
    _stopped_as_the_command_ends(monkeypatch, signum)
    assert run(_train_args(dataset)) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 1
    _ok_line(out)
    assert "error" not in err, err
    assert run(["models"]) == 128 + signum
    assert capsys.readouterr().err.splitlines()[-1] in ("error: terminated (SIGTERM)", "error: interrupted")


def _stop_at_import(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    """SIGTERM as train imports ``module`` (its first import, which loads torch)."""
    real = builtins.__import__

    def importing(name: str, *args: object, **kwargs: object) -> object:
        if name == module:
            signal.raise_signal(signal.SIGTERM)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", importing)


def test_a_stop_during_trains_imports_writes_the_interrupted_line(
        dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    """No JSON line before: the stop came before train's report of it was set up."""
    _stop_at_import(monkeypatch, "pipelines.dataset")
    assert run(_train_args(dataset)) == 143
    out, err = capsys.readouterr()
    line = json.loads(out)
    assert line == {"input": str(dataset), "output": RUN, "status": "interrupted",
                    "error": "stopped by SIGTERM at iteration 0, before the run's first save: start it again",
                    "signal": "SIGTERM", "run": RUN, "iteration": 0, "saved_iteration": None, "state": None,
                    "last_checkpoint": None, "resume": None, "warnings": []}
    assert err.splitlines()[-1] == "error: terminated (SIGTERM)"
    assert not (tmp_path / RUN).exists()


def test_a_resume_stopped_before_torch_loads_says_how_to_resume(
        dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    """Its state.pt is not read with torch then (importing torch again after a cut-short import
    crashed); the --max-seconds run below saved iteration 1."""
    assert run(["train", str(dataset), "-o", RUN, "--iters", "4", *CLI_TRAIN, "--max-seconds", "1e-9"]) == 0
    capsys.readouterr()
    monkeypatch.delitem(sys.modules, "pipelines.train")
    _stop_at_import(monkeypatch, "pipelines.dataset")
    assert run(["train", str(dataset), "-o", RUN, "--resume", "--json"]) == 143
    line = json.loads(capsys.readouterr().out)
    # "iteration": the one it resumes from, read without torch (0 before 86dedf9)
    assert (line["status"], line["iteration"], line["saved_iteration"], line["state"], line["last_checkpoint"]) == (
        "interrupted", 1, None, f"{RUN}/state.pt", f"{RUN}/last.pt")
    assert line["resume"] == f"groklst train {dataset} -o {RUN} --resume"
    assert line["error"] == "stopped by SIGTERM as the resumed run started; --resume restarts from the run's last save"
