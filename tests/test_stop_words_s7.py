"""What a stopped run says last, and how it ends (s7 f4).

1. "unfinished outputs were removed" only where the clean-up removed one (QA: said after a stop
   that wrote nothing, and after a train whose state is kept for --resume, which says so);
2. the first signal decides: a SIGTERM during a Ctrl-C's clean-up still ends the process as
   killed by SIGINT (QA: status 143, and the shell loop the user Ctrl-C'd went on);
3. train's resume command starts as the run was started, global options included (QA: always
   ``groklst``, without the ``--threads 2`` given before the command).

A SIGINT ends groklst as killed by it (returncode -2; a shell's $? is 130). Signals are sent
only once the child said it is ready (a line on stdout, or its first saved state).
"""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from pipelines.run_layout import STATE
from tests.test_train import CLI_TRAIN, dataset  # noqa: F401 - dataset: a fixture

# groklst with one more command, "stall": it says "ready" and waits; with -o it waits while its
# output is unfinished (a .partial beside it), and with --wait-in-cleanup it says "cleaning" as
# that output's clean-up begins and waits there too.
STALLING_GROKLST = textwrap.dedent('''
    import time
    from typing import Optional

    import typer

    from groklst_cli import app as cli
    from pipelines.atomic import atomic_output


    def wait(said: str) -> None:
        print(said, flush=True)
        for _ in range(3000):  # 30 s at most: the test's signal ends it long before
            time.sleep(0.01)


    @cli.app.command("stall")
    def stall(out: Optional[str] = typer.Option(None, "-o"),
              wait_in_cleanup: bool = typer.Option(False, "--wait-in-cleanup")) -> None:
        if out is None:
            wait("ready")
            return
        with atomic_output(out) as tmp:
            tmp.write_text("half")
            try:
                wait("ready")
            finally:
                if wait_in_cleanup:
                    wait("cleaning")


    cli.main()
''')


def _stalling(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    script = tmp_path / "stalling_groklst.py"
    script.write_text(STALLING_GROKLST)
    return subprocess.Popen([sys.executable, str(script), "stall", *args], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _await_line(process: subprocess.Popen[str], line: str) -> None:
    """Read stdout until ``line`` (the child's readiness), failing if it ends first."""
    assert process.stdout is not None
    while (got := process.stdout.readline()) != f"{line}\n":
        assert got, f"the child ended before saying {line!r}: {process.communicate(timeout=30)}"


def _ended(process: subprocess.Popen[str]) -> tuple[int, list[str]]:
    _, err = process.communicate(timeout=60)
    return process.returncode, err.splitlines()


@pytest.mark.parametrize(("signum", "status", "said"), [
    (signal.SIGINT, -signal.SIGINT, "error: interrupted"),
    (signal.SIGTERM, 143, "error: terminated (SIGTERM)"),
])
def test_a_stop_that_removed_nothing_does_not_say_it_removed_outputs(tmp_path: Path, signum: int,
                                                                     status: int, said: str) -> None:
    process = _stalling(tmp_path)
    _await_line(process, "ready")
    process.send_signal(signum)
    assert _ended(process) == (status, [said])


def test_a_stop_that_removed_an_unfinished_output_says_so(tmp_path: Path) -> None:
    process = _stalling(tmp_path, "-o", "out.txt")
    _await_line(process, "ready")
    assert len(list(tmp_path.glob(".out.txt.*.partial"))) == 1
    process.send_signal(signal.SIGINT)
    assert _ended(process) == (-signal.SIGINT, ["error: interrupted; unfinished outputs were removed"])
    assert not list(tmp_path.glob(".out.txt*")) and not (tmp_path / "out.txt").exists()


def test_a_sigterm_during_the_clean_up_of_a_ctrl_c_still_ends_it_as_a_ctrl_c(tmp_path: Path) -> None:
    process = _stalling(tmp_path, "-o", "out.txt", "--wait-in-cleanup")
    _await_line(process, "ready")
    process.send_signal(signal.SIGINT)
    _await_line(process, "cleaning")
    process.send_signal(signal.SIGTERM)
    assert _ended(process) == (-signal.SIGINT, ["error: interrupted; unfinished outputs were removed"])
    assert not list(tmp_path.glob(".out.txt*"))


def _wait_for_file(path: Path, process: subprocess.Popen[str], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.is_file():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"timed out waiting for {path}"
        time.sleep(0.05)


def test_a_stopped_train_says_its_state_was_kept_and_resumes_as_it_was_started(
        dataset: Path, tmp_path: Path) -> None:  # noqa: F811
    started = [sys.executable, "-m", "groklst_cli", "--threads", "2"]
    process = subprocess.Popen([*started, "train", str(dataset), "-o", "./runs/r1", "--iters", "100000", *CLI_TRAIN],
                               cwd=tmp_path, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for_file(tmp_path / "runs/r1" / STATE, process)
    process.send_signal(signal.SIGINT)
    status, err = _ended(process)
    saved = torch.load(tmp_path / "runs/r1" / STATE, weights_only=True)["iteration"]
    resume = shlex.join([*started, "train", str(dataset), "-o", "./runs/r1", "--resume"])
    assert status == -signal.SIGINT
    assert f"warning: the run's state at iteration {saved} was kept in ./runs/r1; to resume: {resume}" in err
    # removed only where the stop came as a save was being written
    assert err[-1] in ("error: interrupted", "error: interrupted; unfinished outputs were removed")
    resumed = subprocess.run([*shlex.split(resume), "--max-seconds", "2"], cwd=tmp_path, text=True,
                             capture_output=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
