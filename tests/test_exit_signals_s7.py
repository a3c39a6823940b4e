"""The first stopping signal decides groklst's status, also when a second one lands as it exits.

QA: systemd's SIGTERM then SIGHUP made a stopped run's 143 a 129 once its clean-up was done (the
default handlers were back), and a Ctrl-C there, or just after a run that ended well, printed a
KeyboardInterrupt traceback from an atexit callback (torch's). Each test runs ``main`` in a child
whose command says ``ready`` and waits for the first signal, and whose atexit callback says
``exiting`` and waits for the second.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from groklst_cli.interrupts import Terminated, stopping_signals_raise

_CHILD = textwrap.dedent("""
    import atexit, sys, time
    from groklst_cli import app

    def command(args, prog_name, standalone_mode):
        print("ready", flush=True)
        if sys.argv[1:] == ["wait"]:
            time.sleep(30)
        return 0

    def exiting():
        print("exiting", flush=True)
        time.sleep(5)  # the parent signals within it (2 s was tight under load; tests that ignore the signal wait it out)

    atexit.register(exiting)
    app.app = command
    sys.argv = ["groklst", sys.argv[1]]
    app.main()
""")


def _run(command: str, first: signal.Signals | None, second: signal.Signals) -> tuple[int, str]:
    """Run the child: ``first`` once it is ready (None: none), ``second`` once it exits; its
    status (negative: killed by that signal) and stderr."""
    child = subprocess.Popen([sys.executable, "-c", _CHILD, command], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "ready\n"
        if first is not None:
            child.send_signal(first)
        assert child.stdout.readline() == "exiting\n"
        child.send_signal(second)
        _, stderr = child.communicate(timeout=30)
    finally:
        child.kill()
    return child.returncode, stderr


@pytest.mark.parametrize("second", [signal.SIGHUP, signal.SIGINT, signal.SIGTERM])
def test_a_signal_after_the_clean_up_keeps_the_first_ones_status(second: signal.Signals) -> None:
    status, stderr = _run("wait", signal.SIGTERM, second)
    assert (status, stderr) == (143, "error: terminated (SIGTERM)\n")


def test_a_hang_up_after_the_clean_up_keeps_its_status() -> None:
    status, stderr = _run("wait", signal.SIGHUP, signal.SIGTERM)
    assert (status, stderr) == (129, "error: hung up (SIGHUP)\n")


def test_ctrl_c_as_a_finished_run_exits_ends_it_without_a_traceback() -> None:
    status, stderr = _run("done", None, signal.SIGINT)
    assert (status, stderr) == (-signal.SIGINT, "")


def test_ctrl_c_still_ends_the_process_as_killed_by_sigint() -> None:
    child = subprocess.Popen([sys.executable, "-c", _CHILD, "wait"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "ready\n"
        child.send_signal(signal.SIGINT)
        stdout, stderr = child.communicate(timeout=30)
    finally:
        child.kill()
    assert (child.returncode, stdout, stderr) == (-signal.SIGINT, "", "error: interrupted\n")


class _SlowToStart(threading.Thread):
    """A thread that sends SIGTERM to its process as it starts, and is slow to say it started:
    ``start`` waits for it in the main thread, where the signal is handled."""

    def _bootstrap_inner(self) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.3)
        super()._bootstrap_inner()


def test_a_stop_waits_until_a_thread_has_started() -> None:
    """QA: a SIGTERM as downscale's read-ahead thread started was raised inside ``start``: the
    pool never knew the thread, did not wait for it, and the clean-up closed the files it still
    read (a segfault, 1 run in ~20)."""
    thread, started = _SlowToStart(target=lambda: None), []
    with pytest.raises(Terminated):
        with stopping_signals_raise([signal.SIGTERM]):
            thread.start()
            started.append(thread)
            time.sleep(5)
    assert started == [thread]
    thread.join()
