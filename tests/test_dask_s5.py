"""``downscale --dask-scheduler`` edges: the scheduler's dashboard port given for it is said to
be an HTTP server, runs side by side in one process share distributed's silenced loggers, and a
scene whose worker died fails in one line naming it, with a hint about the workers' memory."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest

import pipelines.scenes as scenes
from groklst_cli.app import run
from tests.test_dask_addresses_s4 import _bounded_run, _scene, http_server  # noqa: F401 - a fixture
from tests.test_dask_runs import _cluster, _json_lines

distributed = pytest.importorskip("dask.distributed")

HTTP_PROBLEM = "that is an HTTP server (a dask dashboard?); the scheduler listens on another port, usually 8786"
HTTP_HINT = "give the address dask scheduler prints, such as tcp://127.0.0.1:8786"

def _refused(tmp_path: Path, capsys, address: str) -> str:
    """The one error line (stderr and --json agree) of a run against ``address``, which must be
    refused (exit 2) within the test's bound, writing nothing."""
    lst = _scene(tmp_path)
    code, _ = _bounded_run(["-q", "downscale", str(lst), "--model", "bicubic", "--out-dir",
                            str(tmp_path / "out"), "--json", "--dask-scheduler", address])
    captured = capsys.readouterr()
    assert code == 2 and not (tmp_path / "out").exists()
    (line,) = captured.err.splitlines()
    assert line == f"error: {json.loads(captured.out)['error']}"
    return line


def test_a_schedulers_dashboard_port_is_said_to_be_its_http_server(tmp_path: Path, capsys, monkeypatch) -> None:
    """QA: the dashboard port (8787) of a running scheduler was told "no dask scheduler answered
    ... (hint: start one (dask scheduler) ...)": the user has one and gave the wrong port."""
    monkeypatch.setattr(scenes, "CONNECT_TIMEOUT_S", 1)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp",
                                  dashboard_address="127.0.0.1:0") as cluster:  # its HTTP server, bokeh or not
        dashboard = f"tcp://127.0.0.1:{cluster.scheduler.http_server.port}"
        line = _refused(tmp_path, capsys, dashboard)
        assert cluster.scheduler_address != dashboard
    assert line == f"error: --dask-scheduler: {dashboard}: {HTTP_PROBLEM} (hint: {HTTP_HINT})"


def test_any_http_server_at_the_address_is_said_to_be_one(tmp_path: Path, capsys, monkeypatch,
                                                          http_server: str) -> None:
    monkeypatch.setattr(scenes, "CONNECT_TIMEOUT_S", 1)
    assert _refused(tmp_path, capsys, http_server) == (
        f"error: --dask-scheduler: {http_server}: {HTTP_PROBLEM} (hint: {HTTP_HINT})")


def _levels() -> dict[str, int]:
    return {name: logging.getLogger(name).level for name in ("distributed", "distributed.client", "distributed.core")}


def test_runs_side_by_side_keep_distributed_quiet_until_the_last_ends() -> None:
    """Review: each run restored the levels it found: the first to end un-silenced the other
    (its lost-scheduler lines printed again), and one that started inside another's silence
    restored that silence for good."""
    import distributed  # noqa: F401, F811 - sets its loggers' levels, as a run does

    before = _levels()
    first_in, second_in, first_out, second_out = (threading.Event() for _ in range(4))
    seen: dict[str, dict[str, int]] = {}

    def first() -> None:
        with scenes._distributed_quiet():
            first_in.set()
            second_in.wait(10)
        first_out.set()

    def second() -> None:
        first_in.wait(10)
        with scenes._distributed_quiet():
            second_in.set()
            first_out.wait(10)
            seen["after the first ended"] = _levels()
        second_out.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert second_out.is_set()
    silenced = logging.CRITICAL + 1
    assert seen["after the first ended"] == {name: silenced for name in before}
    assert _levels() == before and silenced not in before.values()


def test_a_scene_whose_worker_is_killed_fails_in_one_line_with_a_memory_hint(
        tmp_path: Path, capsys, monkeypatch) -> None:
    """QA: a killed worker's scene said dask's KilledWorker text (five sentences, the task's key,
    the worker's address and a link) on one very long line; the other scene is still written.

    The task raises the KilledWorker its client gets when the scheduler gives up on it (killing
    worker processes took most of a minute on a loaded machine: not a test)."""
    from types import SimpleNamespace

    from distributed.scheduler import KilledWorker

    a, b = _scene(tmp_path, "a"), _scene(tmp_path, "b")
    out = tmp_path / "out"
    real = scenes.run_job

    def dies_on_a(job, *args, **kwargs):
        if job.lst.name == "a_lst.tif":
            raise KilledWorker("_scene_task-0123", SimpleNamespace(address="tcp://127.0.0.1:40000"), 3)
        return real(job, *args, **kwargs)

    monkeypatch.setattr(scenes, "run_job", dies_on_a)
    with _cluster() as cluster:
        code = run(["-q", "downscale", str(a), str(b), "--model", "bicubic", "--out-dir", str(out), "--json",
                    "--dask-scheduler", cluster.scheduler_address])
    captured = capsys.readouterr()
    lines = {line["input"]: line for line in _json_lines(captured.out)}
    assert code == 1 and lines[str(b)]["status"] == "ok" and (out / "b_lst_downscaled.tif").is_file()
    error = (f"{a}: the dask worker running this scene died (4 worker(s) tried it; KilledWorker) "
             "(hint: check the dask workers' memory: a worker that runs out of it is killed; give each more "
             "(dask worker --memory-limit) or fewer threads (--nthreads))")
    assert lines[str(a)]["status"] == "failed" and lines[str(a)]["error"] == error
    assert captured.err.splitlines() == [f"error: {error}"]  # names the scene: no "(scene ...)" after it
    assert not (out / "a_lst_downscaled.tif").exists()
