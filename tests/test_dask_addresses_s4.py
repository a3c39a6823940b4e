"""``downscale --dask-scheduler`` at an address where no dask scheduler answers (a silent
listener, an HTTP server, a service that speaks first, a dask worker) is refused in one line
within the connect timeout, and a scheduler lost mid-run fails the scene in one line, with the
time it took and none of distributed's own log lines."""

from __future__ import annotations

import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import pipelines.scenes as scenes
from groklst_cli.app import run
from pipelines.sample_scene import generate_scene, write_scene

distributed = pytest.importorskip("dask.distributed")

RUN_LIMIT_S = 30  # a run that takes longer hung (the bug); the test fails instead of hanging
TIMEOUT_HINT = ("start one (dask scheduler) or give a running dask scheduler's address, such as "
                "tcp://HOST:8786")
PORT_HINT = ("check the port: dask scheduler prints its address (tcp://HOST:8786 by default; its "
             "dashboard, 8787, is not it)")
DASK = Path(sys.executable).with_name("dask")


def _scene(folder: Path, name: str = "a") -> Path:
    return write_scene(generate_scene((16, 16), seed=1), folder, name=name)[0]


def _serve(handle: Callable[[socket.socket], None]) -> Iterator[str]:
    """A TCP listener on 127.0.0.1 calling ``handle`` on each connection; yields its address."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    kept: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            kept.append(conn)
            handle(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    finally:
        done.set()
        thread.join(5)
        for conn in kept:
            conn.close()
        server.close()


@pytest.fixture
def silent() -> Iterator[str]:
    """Accepts and never says anything (what a wrong service waiting for its own request does)."""
    yield from _serve(lambda conn: None)


@pytest.fixture
def ssh() -> Iterator[str]:
    """Speaks first, as an SSH server does."""
    yield from _serve(lambda conn: conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n"))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the server's own log, not groklst's
        """Say nothing on stderr, which the test reads."""


@pytest.fixture
def http_server() -> Iterator[str]:
    """An HTTP server (a dashboard port given by mistake)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _bounded_run(args: list[str]) -> tuple[int, float]:
    """``run(args)`` in a thread, failing the test if it does not end within RUN_LIMIT_S."""
    result: list[int] = []
    start = time.monotonic()
    thread = threading.Thread(target=lambda: result.append(run(args)), daemon=True)
    thread.start()
    thread.join(RUN_LIMIT_S)
    assert not thread.is_alive(), f"groklst {' '.join(args)} hung"
    return result[0], time.monotonic() - start


def test_a_listener_that_never_answers_is_refused_after_the_timeout(
        tmp_path: Path, capsys, monkeypatch, silent: str) -> None:
    """QA: a silent TCP listener at the address hung groklst for good (an HTTP server too: it is
    named as one since 4a42b98, tests/test_dask_s5.py)."""
    monkeypatch.setattr(scenes, "CONNECT_TIMEOUT_S", 1)
    address = silent
    lst = _scene(tmp_path)
    code, took = _bounded_run(["-q", "downscale", str(lst), "--model", "bicubic", "--out-dir",
                               str(tmp_path / "out"), "--json", "--dask-scheduler", address])
    assert code == 2 and 1 <= took < 10
    line = f"--dask-scheduler: no dask scheduler answered at {address} within 1 s (hint: {TIMEOUT_HINT})"
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [f"error: {line}"]
    assert json.loads(captured.out)["error"] == line
    assert not (tmp_path / "out").exists()


def test_a_service_that_speaks_first_is_refused_at_once(tmp_path: Path, capsys, ssh: str) -> None:
    """QA: an SSH banner was read as a dask message: ``internal error: MemoryError: Unable to
    allocate 2.82 EiB``, exit 1, the scene ``failed``."""
    lst = _scene(tmp_path)
    code, took = _bounded_run(["-q", "downscale", str(lst), "--model", "bicubic", "--out-dir",
                               str(tmp_path / "out"), "--json", "--dask-scheduler", ssh])
    assert code == 2 and took < 5
    line = (f"--dask-scheduler: {ssh}: no dask scheduler answers there (another service answered, not in "
            f"dask's protocol) (hint: {PORT_HINT})")
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [f"error: {line}"]
    assert json.loads(captured.out) == {"input": str(lst), "output": f"{tmp_path / 'out'}/a_lst_downscaled.tif",
                                       "status": "error", "error": line, "warnings": []}


def test_a_workers_address_is_refused_as_no_scheduler(tmp_path: Path, capsys) -> None:
    lst = _scene(tmp_path)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  protocol="tcp", dashboard_address=None) as cluster:
        worker = next(iter(cluster.workers.values())).address
        code, _ = _bounded_run(["-q", "downscale", str(lst), "--model", "bicubic", "--out-dir",
                                str(tmp_path / "out"), "--dask-scheduler", worker])
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: --dask-scheduler: {worker}: no dask scheduler answers there (a dask Worker answered, not a "
        f"scheduler) (hint: {PORT_HINT})"]


@pytest.mark.parametrize("address, environment, cause", [
    ("tls://127.0.0.1:1", {}, "TLS expects a `ssl_context` argument"),
    ("tcp://127.0.0.1:1", {"DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True"}, "encryption required"),
])
def test_a_client_that_cannot_try_the_address_says_so(tmp_path: Path, monkeypatch, address: str,
                                                       environment: dict[str, str], cause: str) -> None:
    """Review R5: a missing TLS context or required encryption (nothing listens on port 1) was told
    'another service answered' and sent to check the port; it is the client's security settings."""
    lst = _scene(tmp_path)
    script = ("import sys; from groklst_cli.app import run; sys.exit(run(['-q', 'downscale', sys.argv[1], '--model', "
              "'bicubic', '--out-dir', sys.argv[2], '--dask-scheduler', sys.argv[3]]))")
    done = subprocess.run([sys.executable, "-c", script, str(lst), str(tmp_path / "out"), address],
                          capture_output=True, text=True, timeout=60, env={**os.environ, **environment},
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"error: --dask-scheduler: {address}: cannot connect from here ({cause}"), line
    assert "another service answered" not in line and "security settings" in line


def test_a_run_from_inside_an_event_loop_still_checks_and_runs(tmp_path: Path) -> None:
    """Review R5: called from a running loop (a notebook cell), the identity check's asyncio.run
    raised 'cannot be called from a running event loop': internal error, exit 1, nothing written."""
    import asyncio

    lst = _scene(tmp_path)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  protocol="tcp", dashboard_address=None) as cluster:
        async def cell() -> int:
            return run(["-q", "downscale", str(lst), "--model", "bicubic", "--out-dir", str(tmp_path / "out"),
                        "--dask-scheduler", cluster.scheduler_address])

        assert asyncio.run(cell()) == 0
    assert (tmp_path / "out" / f"{lst.stem}_downscaled.tif").is_file()


def _wait_for(path: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear within {seconds} s"
        time.sleep(0.1)


# Loaded by the worker: its scenes say they started, then take long (the scheduler dies meanwhile).
SLOW_PRELOAD = """
import pathlib, time
import pipelines.scenes as scenes

def slow(job, *args, **kwargs):
    pathlib.Path({started!r}).touch()
    time.sleep(60)

scenes.run_job = slow
"""


def test_a_scheduler_lost_mid_run_fails_the_scene_in_one_line_with_its_time(tmp_path: Path, capfd) -> None:
    """QA: killing the scheduler mid-scene printed distributed's raw ``Failed to reconnect`` log
    lines and a traceback, the error held a literal ``\\n``, and the scene's ``seconds`` was 0.0."""
    lst = _scene(tmp_path)
    started, preload = tmp_path / "started", tmp_path / "slow_preload.py"
    preload.write_text(SLOW_PRELOAD.format(started=str(started)))
    file = tmp_path / "scheduler.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(scenes.__file__).parents[1]), *sys.path])}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    scheduler = subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0",
                                  "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(file)], **quiet)
    worker = None
    try:
        _wait_for(file, 30)
        time.sleep(0.5)  # the file is written as the scheduler starts listening
        address = json.loads(file.read_text())["address"]
        worker = subprocess.Popen([str(DASK), "worker", address, "--nthreads", "1", "--no-nanny",
                                   "--preload", str(preload)], **quiet)
        result: list[int] = []
        args = ["-q", "downscale", str(lst), "--model", "bicubic", "--out-dir", str(tmp_path / "out"), "--json",
                "--dask-scheduler", address]
        thread = threading.Thread(target=lambda: result.append(run(args)), daemon=True)
        thread.start()
        _wait_for(started, RUN_LIMIT_S)
        time.sleep(1.5)
        scheduler.send_signal(signal.SIGKILL)
        thread.join(RUN_LIMIT_S)
        assert not thread.is_alive(), "groklst hung after its scheduler died"
        time.sleep(1)  # distributed's client logged its reconnect attempts a moment after the run
    finally:
        for process in (worker, scheduler):
            if process is not None:
                process.kill()
                process.wait(10)
    captured = capfd.readouterr()
    report = json.loads(captured.out)
    assert result == [1] and report["status"] == "failed"
    assert re.fullmatch(r"the dask task did not finish \(FutureCancelledError: _scene_task-[0-9a-f-]+ cancelled "
                        r"for reason: scheduler-connection-lost\. Client lost the connection to the scheduler\. "
                        r"Please check your connection and re-run your work\.\)", report["error"])
    assert 1.5 <= report["seconds"] < RUN_LIMIT_S
    said = [line for line in captured.err.splitlines() if not line.startswith("warning: the dask scheduler at ")]
    assert said == [f"error: {report['error']} (scene {lst})"]  # the worker may start after groklst
