"""``groklst train`` stops and the library entry point (s8 f4).

1. ``run()`` with no arguments (a library caller leaving them to ``sys.argv``) left SIGTERM and
   SIGHUP ignored in the caller's process after a finished train: only groklst's own process
   (``main``) may.
2. Without ``--json``, a stop once the run had saved its end, before its report, said how to
   resume the finished run and printed no checkpoint.
3. A resumed ``train --json`` stopped as torch loaded said ``"iteration": 0``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
import torch

import groklst_cli.commands.train as train_command
import groklst_cli.interrupts as interrupts
from groklst_cli.app import run
from pipelines.run_layout import BEST, STATE
from tests.test_train import CLI_TRAIN, dataset  # noqa: F401 - dataset: a fixture
from tests.test_train_stop_ends_s7 import _stop_at_import

RUN = "r1"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def _train(dataset: Path, *extra: str) -> list[str]:  # noqa: F811
    return ["train", str(dataset), "-o", RUN, "--iters", "2", *CLI_TRAIN, *extra]


def test_run_without_arguments_gives_the_callers_handlers_back(dataset: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """SIG_IGN for SIGTERM and SIGHUP after it before: run() read sys.argv as groklst's own process."""
    monkeypatch.setattr(interrupts._signals, "ends_process", False)  # as in a library caller
    monkeypatch.setattr(sys, "argv", ["caller.py", *_train(dataset)])
    before = {signum: signal.signal(signum, signal.SIG_DFL) for signum in (signal.SIGTERM, signal.SIGHUP)}
    try:
        assert run() == 0
        assert {signum: signal.getsignal(signum) for signum in before} == dict.fromkeys(before, signal.SIG_DFL)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
    assert capsys.readouterr().out == f"{RUN}/{BEST}\n"


def test_groklst_s_own_process_still_ignores_them_after_a_saved_run(dataset: Path,  # noqa: F811
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """What main() asks for (QA: -15 after the ok line) is kept."""
    monkeypatch.setattr(interrupts._signals, "ends_process", True)
    before = {signum: signal.signal(signum, signal.SIG_DFL) for signum in (signal.SIGTERM, signal.SIGHUP)}
    before[signal.SIGINT] = signal.getsignal(signal.SIGINT)
    try:
        assert run(_train(dataset)) == 0
        assert {signum: signal.getsignal(signum) for signum in before} == dict.fromkeys(before, signal.SIG_IGN)
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


def _stop_before_the_report(monkeypatch: pytest.MonkeyPatch, signum: int) -> None:
    """``signum`` once fit() has returned and its block has closed, before the report's block
    (``_stop_after_the_end_dropped``'s second use) has begun."""
    real = train_command._stop_after_the_end_dropped
    calls = []

    def dropped(stop: train_command._StopPoint) -> AbstractContextManager[None]:
        calls.append(stop)
        if len(calls) == 2:
            assert signal.getsignal(signum) is interrupts._on_signal  # the stop is not ignored
            signal.raise_signal(signum)
        return real(stop)

    monkeypatch.setattr(train_command, "_stop_after_the_end_dropped", dropped)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_before_the_report_without_json_reports_the_finished_run(
        dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
        capsys: pytest.CaptureFixture[str], signum: int) -> None:
    """'warning: the run's state at iteration 2 was kept in r1; to resume: ...' and no checkpoint before."""
    _stop_before_the_report(monkeypatch, signum)
    assert run(_train(dataset)) == 0
    out, err = capsys.readouterr()
    assert out == f"{RUN}/{BEST}\n"
    assert "resume" not in err and "error" not in err and "removed" not in err, err
    assert torch.load(tmp_path / RUN / STATE, weights_only=True)["iteration"] == 2


def test_a_stop_before_the_report_with_json_keeps_the_ok_line(dataset: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    _stop_before_the_report(monkeypatch, signal.SIGTERM)
    assert run(_train(dataset, "--json")) == 0
    line = json.loads(capsys.readouterr().out)
    assert (line["status"], line["iteration"], line["finished"], line["best_checkpoint"]) == (
        "ok", 2, True, f"{RUN}/{BEST}")


def test_a_damaged_state_stopped_so_says_iteration_0(dataset: Path, tmp_path: Path,  # noqa: F811
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A state that cannot be read without torch is no error of the stop's line."""
    assert run(_train(dataset, "--iters", "1")) == 0
    (tmp_path / RUN / STATE).write_bytes(b"not a zip")
    capsys.readouterr()
    monkeypatch.delitem(sys.modules, "pipelines.train")
    _stop_at_import(monkeypatch, "pipelines.dataset")
    assert run(["train", str(dataset), "-o", RUN, "--resume", "--json"]) == 143
    line = json.loads(capsys.readouterr().out)
    assert (line["status"], line["iteration"], line["saved_iteration"]) == ("interrupted", 0, None)



def test_a_state_whose_pickle_unpacks_to_gigabytes_is_not_read(tmp_path: Path) -> None:
    """Review: a 2 MB state.pt whose data.pkl unpacks to 2 GiB took 4 GB of memory and 9 s in
    the report of a stop (the file is the user's, but a stop's report must not hang on it)."""
    import resource
    import zipfile

    from groklst_cli.commands.train import _iteration_without_torch

    bomb = tmp_path / "state.pt"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("archive/data.pkl", "w", force_zip64=True) as member:
            for _ in range(128):
                member.write(bytes(1 << 24))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert _iteration_without_torch(bomb) is None
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KiB


_SIGNALLED_AS_THE_BLOCK_ENDED = textwrap.dedent("""
    import os, signal, sys, time
    from groklst_cli import app

    real = app._done_whatever_comes

    def signalled_first():  # the SIGTERM lands between the command's block and the exit status
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.2)
        return real()

    app._done_whatever_comes = signalled_first
    sys.argv = ["groklst", *sys.argv[1:]]
    app.main()
""")


def test_a_stop_between_the_commands_end_and_the_exit_does_not_kill_a_saved_train(dataset: Path,  # noqa: F811
                                                                                   tmp_path: Path) -> None:
    """A fresh-clone run: -15 once in three tries for a SIGTERM right after train's ok line: the
    block gave the default handler back as it ended, before the saved run's status made the stops
    ignored. A saved run's result now makes the block give back "ignore"."""
    child = subprocess.run([sys.executable, "-c", _SIGNALLED_AS_THE_BLOCK_ENDED, "train", str(dataset), "-o",
                            str(tmp_path / "r"), "--iters", "2", *CLI_TRAIN, "--json"],
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr
    assert json.loads(child.stdout)["status"] == "ok" and (tmp_path / "r" / "best.pt").is_file()
