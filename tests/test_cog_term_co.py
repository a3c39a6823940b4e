"""A signal during ``downscale --cog`` never leaves the COG step's temporaries (QA: 6 of 36
``timeout -s TERM`` runs left ``.partial.cog`` / ``.partial.cog.ovr.tmp``): ``timeout`` signals
groklst twice (its pid, then its process group), and a signal can come while the child is
being started. The child is dead before its side files are removed, on every path."""

from __future__ import annotations

import multiprocessing.popen_spawn_posix
import multiprocessing.process
import os
import signal
import time
from pathlib import Path

import pipelines.cog as cog_module
from groklst_cli.app import run
from pipelines.sample_scene import generate_scene, write_scene
from tests.test_stop_promptly_o import STOPS, signal_on_cog, slow_finish

TERMINATED = STOPS[1][1:]  # (143, "error: terminated (SIGTERM); unfinished outputs were removed")


def writes_late(tmp: Path) -> None:
    """A layout step (run in the child) that creates GDAL's side files a second after it starts."""
    time.sleep(1)
    for suffix in cog_module.COG_TEMPORARIES:
        tmp.with_name(tmp.name + suffix).write_bytes(b"made after the parent's cleanup")


def _downscale_over(tmp_path: Path) -> tuple[int, Path]:
    """Run ``downscale --cog --overwrite`` over a previous output: its exit status and the output."""
    lst = write_scene(generate_scene((16, 16), seed=1), tmp_path, name="s")[0]
    out = tmp_path / "o" / "d.tif"
    out.parent.mkdir()
    out.write_bytes(b"II*\x00the previous output")
    return run(["-q", "downscale", str(lst), "--model", "bicubic", "--cog", "--overwrite", "-o", str(out)]), out


def _wait_gone(pid: int, limit_s: float = 60) -> None:
    """Wait until the child ``pid`` has exited (already reaped by its Process, or now)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
        except ChildProcessError:  # in_child joined it
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    raise AssertionError(f"the child {pid} still ran {limit_s} s after the signal")


def test_a_sigterm_while_the_child_is_started_leaves_nothing(tmp_path: Path, monkeypatch, capsys) -> None:
    """The signal comes once the child exists but before ``start()`` returns (no pid yet): the child
    used to run on and write its side files after the parent had cleaned up."""
    spawned: list[int] = []
    launch = multiprocessing.popen_spawn_posix.Popen._launch

    def launch_then_signal(popen: multiprocessing.popen_spawn_posix.Popen, process: object) -> None:
        launch(popen, process)
        spawned.append(popen.pid)
        signal.raise_signal(signal.SIGTERM)

    monkeypatch.setattr(multiprocessing.popen_spawn_posix.Popen, "_launch", launch_then_signal)
    monkeypatch.setattr(cog_module, "to_cog", writes_late)
    code, out = _downscale_over(tmp_path)
    [child] = spawned
    _wait_gone(child)
    assert (code, capsys.readouterr().err.splitlines()[-1]) == TERMINATED
    assert out.read_bytes() == b"II*\x00the previous output"
    assert sorted(p.name for p in out.parent.iterdir()) == ["d.tif"]


def test_a_second_sigterm_while_the_child_is_stopped_leaves_nothing(
        tmp_path: Path, monkeypatch, capsys) -> None:
    """``timeout`` sends SIGTERM to groklst and then to its group: the second one came while the
    parent waited for the killed child and skipped the removal of its side files."""
    joins: list[int] = []
    join = multiprocessing.process.BaseProcess.join

    def join_after_another_signal(process: multiprocessing.process.BaseProcess,
                                  timeout: float | None = None) -> None:
        if not joins:
            joins.append(process.pid)
            signal.raise_signal(signal.SIGTERM)
        join(process, timeout)

    monkeypatch.setattr(multiprocessing.process.BaseProcess, "join", join_after_another_signal)
    monkeypatch.setattr(cog_module, "to_cog", slow_finish)
    thread = signal_on_cog(tmp_path / "o" / "d.tif", signal.SIGTERM, [])
    started = time.monotonic()
    code, out = _downscale_over(tmp_path)
    thread.join()
    assert time.monotonic() - started < 30  # slow_finish's minute-long call was not waited for
    assert len(joins) == 1
    assert (code, capsys.readouterr().err.splitlines()[-1]) == TERMINATED
    assert out.read_bytes() == b"II*\x00the previous output"
    assert sorted(p.name for p in out.parent.iterdir()) == ["d.tif"]


def test_a_signal_its_handler_holds_lets_the_child_finish(tmp_path: Path) -> None:
    """A handler that returns (the CLI holds a signal while a published output is reported) does
    not stop the step: the child is killed only when the handler raises."""
    tmp = tmp_path / "d.tif"
    tmp.write_bytes(b"")
    seen: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    try:
        cog_module.in_child(signals_self_then_writes, tmp)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen == [signal.SIGTERM]
    assert tmp.read_bytes() == b"finished"


def signals_self_then_writes(tmp: Path) -> None:
    """A layout step (run in the child) that SIGTERMs its parent, then finishes its file."""
    os.kill(os.getppid(), signal.SIGTERM)
    time.sleep(0.5)
    tmp.write_bytes(b"finished")

