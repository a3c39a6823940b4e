"""``downscale --dask-scheduler``: a stopped run publishes nothing, paths mean what they mean
where groklst was started, a scene's warnings on a worker are shown as a local run shows them,
and a bad scheduler is a one-line error (exit 2) before the model loads."""

from __future__ import annotations

import errno
import io
import json
import os
import re
import shutil
import signal
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio

import pipelines.scenes as scenes
from groklst_cli.app import run
from pipelines import checkpoint
from pipelines.downscale import DownscaleOptions
from pipelines.errors import GroklstWarning
from pipelines.infer import DEFAULT_CHECKPOINT, ModelSource
from pipelines.sample_scene import generate_scene, write_scene
from pipelines.scenes import SceneJob, run_job

distributed = pytest.importorskip("dask.distributed")

PARTIAL = re.compile(r".*\.partial(\..+)?")


def _cluster(workers: int = 1):
    return distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=False,
                                    dashboard_address=None)


def _scene(folder: Path, name: str, seed: int) -> Path:
    return write_scene(generate_scene((16, 16), seed=seed), folder, name=name)[0]


def _pixels(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.parametrize("signum, status, message", [
    (signal.SIGINT, 130, "error: interrupted; unfinished outputs were removed"),
    (signal.SIGTERM, 143, "error: terminated (SIGTERM); unfinished outputs were removed"),
    (signal.SIGHUP, 129, "error: hung up (SIGHUP); unfinished outputs were removed"),
])
def test_a_run_stopped_mid_scene_publishes_nothing(tmp_path: Path, capsys, monkeypatch,
                                                   signum: int, status: int, message: str) -> None:
    """QA: after Ctrl-C or SIGTERM (or SIGHUP) the worker went on and replaced the output ~30 s later."""
    a, b = _scene(tmp_path, "a", 1), _scene(tmp_path, "b", 2)
    out = tmp_path / "out"
    assert run(["-q", "downscale", str(a), "--model", "bilinear", "--out-dir", str(out)]) == 0
    before = (out / "a_lst_downscaled.tif").read_bytes()
    started, ended = threading.Event(), threading.Event()
    seen, reports = [], []
    real = scenes.run_job

    def held(job, *args, stopped, **kwargs):
        """The scene halts at its first progress report until the client has stopped the run."""
        def progress(done: int, total: int) -> None:
            seen.append(sorted(p.name for p in out.iterdir()))
            started.set()
            deadline = time.monotonic() + 15
            while not stopped() and time.monotonic() < deadline:
                time.sleep(0.02)

        try:
            reports.append(real(job, *args, stopped=stopped, on_progress=progress, **kwargs))
            return reports[-1]
        finally:
            ended.set()

    def interrupt() -> None:
        if started.wait(20):
            os.kill(os.getpid(), signum)

    monkeypatch.setattr(scenes, "run_job", held)
    with _cluster() as cluster:
        capsys.readouterr()
        threading.Thread(target=interrupt, daemon=True).start()
        code = run(["-q", "downscale", str(a), str(b), "--model", "bicubic", "--out-dir", str(out), "--json",
                    "--overwrite", "--tile", "32", "--overlap", "16", "--dask-scheduler",
                    cluster.scheduler_address])
        captured = capsys.readouterr()
        assert ended.wait(20)
    assert code == status and captured.err.splitlines() == [message]
    assert captured.out == ""  # no scene finished
    # Mid-scene: the scene's temporaries existed; it then stopped without publishing.
    assert any(PARTIAL.fullmatch(name) for name in seen[0]) and "b_lst_downscaled.tif" not in seen[0]
    assert reports[0].status == "stopped" and reports[0].output == str(out / "a_lst_downscaled.tif")
    assert all(r.status == "stopped" for r in reports)  # the queued scene never ran
    assert (out / "a_lst_downscaled.tif").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["a_lst_downscaled.tif"]  # no temporary, no b


def test_a_scene_that_outlives_its_stopped_client_publishes_nothing(tmp_path: Path, capsys, monkeypatch) -> None:
    """A scene busy past the client's wait says so, and still publishes nothing once it goes on."""
    monkeypatch.setattr(scenes, "STOP_WAIT_S", 0.2)
    a = _scene(tmp_path, "a", 1)
    out = tmp_path / "out"
    assert run(["-q", "downscale", str(a), "--model", "bilinear", "--out-dir", str(out)]) == 0
    before = (out / "a_lst_downscaled.tif").read_bytes()
    started, release, ended = threading.Event(), threading.Event(), threading.Event()
    reports = []
    real = scenes.run_job

    def held(*args, **kwargs):
        def progress(done: int, total: int) -> None:
            started.set()
            release.wait(20)  # busy until the client is gone

        try:
            reports.append(real(*args, on_progress=progress, **kwargs))
            return reports[-1]
        finally:
            ended.set()

    def interrupt() -> None:
        if started.wait(20):
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(scenes, "run_job", held)
    with _cluster() as cluster:
        capsys.readouterr()
        threading.Thread(target=interrupt, daemon=True).start()
        code = run(["-q", "downscale", str(a), "--model", "bicubic", "--out-dir", str(out), "--overwrite",
                    "--tile", "32", "--overlap", "16", "--dask-scheduler", cluster.scheduler_address])
        err = capsys.readouterr().err
        release.set()
        assert ended.wait(20)
    assert code == 130 and err.splitlines() == [
        "warning: 1 scene(s) still running on the cluster did not stop within 0.2 s; they stop at their "
        "next tile batch and write nothing",
        "error: interrupted",  # the scene still running removes its temporary after the client ends
    ]
    assert [r.status for r in reports] == ["stopped"]
    assert (out / "a_lst_downscaled.tif").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["a_lst_downscaled.tif"]


def test_a_scene_finished_after_the_stop_is_not_renamed_into_place(tmp_path: Path, monkeypatch) -> None:
    """The last check is right before the rename: a scene whose tiles were all done when its
    run stopped removes its finished temporary and keeps the existing output."""
    monkeypatch.setattr(scenes, "STOP_POLL_S", 1e9)  # no check on progress: only the last one tells
    lst = _scene(tmp_path, "a", 1)
    out = tmp_path / "out" / "a.tif"
    out.parent.mkdir()
    out.write_bytes(b"II*\x00an earlier output")
    stop = threading.Event()
    asked = []

    def stopped() -> bool:
        asked.append(stop.is_set())
        return stop.is_set()

    def progress(done: int, total: int) -> None:
        if done == total:
            stop.set()

    job, source = SceneJob(lst, out), ModelSource(interpolation="bicubic")
    options = DownscaleOptions(overwrite=True)
    report = run_job(job, source, options, stopped=stopped, on_progress=progress)
    assert (report.status, report.output, report.error) == ("stopped", str(out), None)
    assert asked == [False, True]  # before any work, and right before the rename
    assert out.read_bytes() == b"II*\x00an earlier output"
    assert sorted(p.name for p in out.parent.iterdir()) == ["a.tif"]
    # Not stopped: published under its name, as a local run writes it.
    assert run_job(job, source, options, stopped=lambda: False).status == "ok"
    local = tmp_path / "local.tif"
    assert run_job(SceneJob(lst, local), source, options).status == "ok"
    np.testing.assert_array_equal(_pixels(out), _pixels(local))
    assert sorted(p.name for p in out.parent.iterdir()) == ["a.tif"]
    # Stopped before it started: nothing is made, not even the output's folder.
    later = tmp_path / "later" / "a.tif"
    assert run_job(SceneJob(lst, later), source, options, stopped=lambda: True).status == "stopped"
    assert not later.parent.exists()


def _second_scene_waits_for_the_stop(monkeypatch) -> None:
    """Scene b starts only once its run was stopped (so it writes nothing); scene a as usual."""
    real = scenes.run_job

    def held(job, *args, stopped, **kwargs):
        deadline = time.monotonic() + 20
        while job.lst.name == "b_lst.tif" and not stopped() and time.monotonic() < deadline:
            time.sleep(0.02)
        return real(job, *args, stopped=stopped, **kwargs)

    monkeypatch.setattr(scenes, "run_job", held)


def _stopped_run(tmp_path: Path, capsys, cluster) -> tuple[int, list[str], Path]:
    a, b = _scene(tmp_path, "a", 1), _scene(tmp_path, "b", 2)
    out = tmp_path / "out"
    capsys.readouterr()
    code = run(["-q", "downscale", str(a), str(b), "--model", "bicubic", "--out-dir", str(out),
                "--tile", "32", "--overlap", "16", "--dask-scheduler", cluster.scheduler_address])
    captured = capsys.readouterr()
    assert captured.err.splitlines() == ["error: interrupted"]  # b stopped before writing: nothing removed
    return code, captured.out.splitlines(), out


def test_a_scene_written_before_the_stop_reached_the_client_is_reported(tmp_path: Path, capsys,
                                                                        monkeypatch) -> None:
    """QA: Ctrl-C right after a worker renamed a scene into place: the output stayed, said only
    in a warning ("written before the stop reached it"), not on stdout."""
    _second_scene_waits_for_the_stop(monkeypatch)
    held = scenes.run_job

    def interrupted_once_written(job, *args, **kwargs):
        report = held(job, *args, **kwargs)
        if job.lst.name == "a_lst.tif":
            os.kill(os.getpid(), signal.SIGINT)  # the client stops before it gets the report
            time.sleep(0.5)
        return report

    monkeypatch.setattr(scenes, "run_job", interrupted_once_written)
    with _cluster() as cluster:
        code, lines, out = _stopped_run(tmp_path, capsys, cluster)
    assert code == 130
    assert lines == [str(out / "a_lst_downscaled.tif")]  # once, whether it came before the stop or after
    assert sorted(p.name for p in out.iterdir()) == ["a_lst_downscaled.tif"]


def test_a_scene_received_but_not_yet_said_when_the_client_stops_is_reported(tmp_path: Path, capsys,
                                                                            monkeypatch) -> None:
    """QA: the client had taken the scene's report off the cluster but not said it when Ctrl-C
    came: neither its line nor the warning about written scenes was given."""
    _second_scene_waits_for_the_stop(monkeypatch)
    real = scenes._warn_again

    def interrupted(caught, given, sent, registry):  # on the client, between receiving and saying
        real(caught, given, sent, registry)
        if given.lst.name == "a_lst.tif":
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(scenes, "_warn_again", interrupted)
    with _cluster() as cluster:
        code, lines, out = _stopped_run(tmp_path, capsys, cluster)
    assert code == 130 and lines == [str(out / "a_lst_downscaled.tif")]
    assert sorted(p.name for p in out.iterdir()) == ["a_lst_downscaled.tif"]


@pytest.mark.parametrize("outcome", ["error", "failed"])
@pytest.mark.parametrize("stop_on, signum, status, message", [
    ("client", signal.SIGINT, 130, "error: interrupted"),  # b waited before writing: nothing to remove
    ("worker", signal.SIGTERM, 143, "error: terminated (SIGTERM)"),
])
def test_a_scene_that_failed_before_the_stop_is_reported_with_its_error(
        tmp_path: Path, capsys, monkeypatch, outcome: str, stop_on: str, signum: int, status: int,
        message: str) -> None:
    """QA: after Ctrl-C or SIGTERM only scenes that ended "ok" were reported late: a scene whose
    task had ended with an error (its outcome on the client, or arriving while the run stopped)
    had no line, so a script reading --json could not tell it failed. ``client``: the signal
    comes after the client took the outcome, before its line; ``worker``: while the task ends."""
    _second_scene_waits_for_the_stop(monkeypatch)
    bad, b = tmp_path / "m_lst.tif", _scene(tmp_path, "b", 2)
    held = scenes.run_job

    def ends_badly(job, *args, **kwargs):
        if job.lst.name != bad.name:
            return held(job, *args, **kwargs)
        try:
            if outcome == "failed":
                raise RuntimeError("worker lost")  # as future.result() raises KilledWorker
            return held(job, *args, **kwargs)  # no such file: an "error" report
        finally:
            if stop_on == "worker":
                os.kill(os.getpid(), signum)
                time.sleep(0.5)  # the client stops while the task is still running

    real = scenes._warn_again

    def stopped_before_said(caught, given, sent, registry):
        real(caught, given, sent, registry)
        if stop_on == "client" and given.lst.name == bad.name:
            signal.raise_signal(signum)

    monkeypatch.setattr(scenes, "run_job", ends_badly)
    monkeypatch.setattr(scenes, "_warn_again", stopped_before_said)
    out = tmp_path / "out"
    with _cluster() as cluster:
        capsys.readouterr()
        code = run(["-q", "downscale", str(bad), str(b), "--model", "bicubic", "--out-dir", str(out), "--json",
                    "--dask-scheduler", cluster.scheduler_address])
        captured = capsys.readouterr()
    error = {"error": f"{bad}: file not found (hint: check the path)",
             "failed": "the dask task did not finish (RuntimeError: worker lost)"}[outcome]
    [line] = _json_lines(captured.out)
    assert (line["input"], line["output"], line["status"], line["error"]) == (
        str(bad), str(out / "m_lst_downscaled.tif"), outcome, error)
    scene = "" if outcome == "error" else f" (scene {bad})"
    assert captured.err.splitlines() == [f"error: {error}{scene}", message]
    assert code == status  # the stop's status, as a local run stopped after a failed scene
    assert not out.exists() or list(out.iterdir()) == []  # b stopped before writing


def test_a_scene_said_as_the_run_stops_says_its_output_grid_first(tmp_path: Path, capsys, monkeypatch) -> None:
    """A scene given to ``late`` had its line without the output-grid line said before it."""
    _second_scene_waits_for_the_stop(monkeypatch)
    real = scenes._warn_again

    def interrupted(caught, given, sent, registry):
        real(caught, given, sent, registry)
        if given.lst.name == "a_lst.tif":
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(scenes, "_warn_again", interrupted)
    a, b = _scene(tmp_path, "a", 1), _scene(tmp_path, "b", 2)
    out = tmp_path / "out"
    with _cluster() as cluster:
        capsys.readouterr()
        code = run(["downscale", str(a), str(b), "--model", "bicubic", "--out-dir", str(out),
                    "--dask-scheduler", cluster.scheduler_address])
        captured = capsys.readouterr()
    assert code == 130 and captured.out.splitlines() == [str(out / "a_lst_downscaled.tif")]
    note, grid, said, tally, stopped = captured.err.splitlines()
    assert note == "note: non-learned bicubic interpolation (the guidance only masks nodata)"
    assert grid == "output grid: the guidance grid (48x48 px at 10 m)"
    assert said.startswith(f"{a} -> {out / 'a_lst_downscaled.tif'} (0.0023 Mpx in ")
    assert tally == "2 scenes: 1 written, 1 stopped"  # as a local batch's (none before 0c6a44f)
    assert stopped == "error: interrupted"  # a was published, b stopped before writing


class _ClosedStdout(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")


def test_failures_received_when_stdout_closed_all_count(tmp_path: Path, capsys, monkeypatch) -> None:
    """``--json | head``: m1's line finds stdout closed and the run stops; the scenes received by
    then, m2 (an error) and m3 (a failure), are each said on stderr and the status is the
    failure's 1 (m2's line, finding stdout closed too, dropped m3's: status 2)."""
    _second_scene_waits_for_the_stop(monkeypatch)
    bad = [tmp_path / f"m{n}_lst.tif" for n in (1, 2, 3)]
    b = _scene(tmp_path, "b", 2)
    held, real_stop = scenes.run_job, scenes._stop

    def dies_on_m3(job, *args, **kwargs):
        if job.lst.name == "m3_lst.tif":
            raise RuntimeError("worker lost")
        return held(job, *args, **kwargs)

    def once_received(client, stop, pending, outcome):  # m1 (not said), m2 and m3 came back
        deadline = time.monotonic() + 10
        while sum(f.status in ("finished", "error") for f in pending) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        return real_stop(client, stop, pending, outcome)

    monkeypatch.setattr(scenes, "run_job", dies_on_m3)
    monkeypatch.setattr(scenes, "_stop", once_received)
    out = tmp_path / "out"
    with _cluster() as cluster:
        capsys.readouterr()
        monkeypatch.setattr(sys, "stdout", _ClosedStdout())
        code = run(["-q", "downscale", *map(str, bad), str(b), "--model", "bicubic", "--out-dir", str(out),
                    "--json", "--dask-scheduler", cluster.scheduler_address])
        err = capsys.readouterr().err
    assert code == 1
    assert err.splitlines() == [
        *(f"error: {m}: file not found (hint: check the path)" for m in bad[:2]),
        f"error: the dask task did not finish (RuntimeError: worker lost) (scene {bad[2]})",
    ]


def test_relative_paths_are_those_of_the_client_not_of_the_worker(tmp_path: Path, capsys, monkeypatch) -> None:
    """QA: relative inputs, outputs, guidance and checkpoint were looked up in the worker's folder
    (``s/a1_lst.tif: file not found``, a stray folder there, or another file of the same name)."""
    here, there = tmp_path / "here", tmp_path / "there"
    for folder, seed in ((here, 1), (there, 5)):  # the worker's folder has other scenes of the same names
        _scene(folder / "s", "a", seed)
        _scene(folder / "s", "b", seed + 1)
    shutil.copy(DEFAULT_CHECKPOINT, here / "model.pt")
    listing = sorted(str(p.relative_to(there)) for p in there.rglob("*"))
    real = scenes.run_job

    def elsewhere(*args, **kwargs):  # the task runs in the worker's own folder
        os.chdir(there)
        try:
            return real(*args, **kwargs)
        finally:
            os.chdir(here)

    monkeypatch.chdir(here)
    runs = {
        "out-dir": ["s/a_lst.tif", "s/b_lst.tif", "s/missing_lst.tif", "--model", "bicubic", "--out-dir", "o/x"],
        "output": ["s/a_lst.tif", "--guidance", "s/b_guidance.tif", "-c", "model.pt", "-o", "o/y/a.tif"],
    }
    local = {}
    for name, args in runs.items():
        assert run(["-q", "downscale", *args, "--json"]) == (2 if name == "out-dir" else 0)
        local[name] = _json_lines(capsys.readouterr().out)
        shutil.move(here / "o", here / f"local-{name}")
    monkeypatch.setattr(scenes, "run_job", elsewhere)
    with _cluster() as cluster:
        for name, args in runs.items():
            capsys.readouterr()
            status = run(["-q", "downscale", *args, "--json", "--dask-scheduler", cluster.scheduler_address])
            assert status == (2 if name == "out-dir" else 0)
            lines = sorted(_json_lines(capsys.readouterr().out), key=lambda line: line["input"])
            assert [(l["input"], l["output"], l["status"], l["error"]) for l in lines] == \
                [(l["input"], l["output"], l["status"], l["error"]) for l in sorted(local[name], key=lambda l: l["input"])]
    assert [(l["input"], l["output"], l["status"], l["error"]) for l in sorted(local["out-dir"], key=lambda l: l["input"])] == [
        ("s/a_lst.tif", "o/x/a_lst_downscaled.tif", "ok", None),
        ("s/b_lst.tif", "o/x/b_lst_downscaled.tif", "ok", None),
        ("s/missing_lst.tif", "o/x/missing_lst_downscaled.tif", "error", "s/missing_lst.tif: file not found (hint: check the path)"),
    ]
    for written in ("x/a_lst_downscaled.tif", "x/b_lst_downscaled.tif"):
        np.testing.assert_array_equal(_pixels(here / "o" / written), _pixels(here / "local-out-dir" / written))
    np.testing.assert_array_equal(_pixels(here / "o/y/a.tif"), _pixels(here / "local-output/y/a.tif"))
    with rasterio.open(here / "o/y/a.tif") as src:
        tags = src.tags()
    assert tags["guidance_source"] == str(here / "s/b_guidance.tif") and tags["model"] == "mocolsk-lite"
    assert sorted(str(p.relative_to(there)) for p in there.rglob("*")) == listing  # nothing made there


@pytest.mark.parametrize("address, problem", [
    ("processes", "'processes' is not a dask scheduler address (missing port number in address 'processes')"),
    ("localhost", "'localhost' is not a dask scheduler address (missing port number in address 'localhost')"),
    ("tcp://127.0.0.1:1", "nothing listens at tcp://127.0.0.1:1 (connection refused)"),
])
def test_a_bad_or_unreachable_scheduler_is_an_input_error(tmp_path: Path, capsys, monkeypatch,
                                                          address: str, problem: str) -> None:
    """QA: these ended as ``internal error: ValueError/OSError``, exit 1."""
    monkeypatch.setattr(scenes, "CONNECT_TIMEOUT_S", 1)
    lst = _scene(tmp_path, "a", 1)
    start = time.monotonic()
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "--out-dir", str(tmp_path / "out"),
                "--json", "--dask-scheduler", address]) == 2
    assert time.monotonic() - start < 10
    captured = capsys.readouterr()
    hint = ("start one (dask scheduler) or give a running dask scheduler's address, such as tcp://HOST:8786"
            if "listens" in problem else "give a running dask scheduler's address, such as tcp://HOST:8786; "
            "without --dask-scheduler the scenes run here")
    line = f"--dask-scheduler: {problem} (hint: {hint})"
    assert captured.err.splitlines() == [f"error: {line}"]
    output = f"{tmp_path / 'out'}/a_lst_downscaled.tif"  # one scene: its default name under --out-dir (36a8514)
    assert json.loads(captured.out) == {"input": str(lst), "output": output, "status": "error", "error": line,
                                       "warnings": []}
    assert not (tmp_path / "out").exists()


def test_a_scheduler_without_workers_is_refused_after_a_bounded_wait(tmp_path: Path, capsys, monkeypatch) -> None:
    """QA: groklst waited forever, silently, on a scheduler with no worker."""
    monkeypatch.setattr(scenes, "WORKER_WAIT_S", 1.5)
    monkeypatch.setattr(scenes, "WORKER_WAIT_QUIET_S", 0.5)
    lst = _scene(tmp_path, "a", 1)
    with _cluster(workers=0) as cluster:
        address = cluster.scheduler_address
        capsys.readouterr()
        start = time.monotonic()
        assert run(["-q", "downscale", str(lst), "--model", "bicubic", "--out-dir", str(tmp_path / "out"),
                    "--dask-scheduler", address]) == 2
        assert 1.5 <= time.monotonic() - start < 10
    assert capsys.readouterr().err.splitlines() == [
        f"warning: the dask scheduler at {address} has no worker yet; waiting up to 1.5 s for one",
        f"error: --dask-scheduler: the dask scheduler at {address} has no worker (waited 1.5 s) "
        f"(hint: start workers with: dask worker {address})",
    ]
    assert not (tmp_path / "out").exists()


def test_a_scene_whose_task_dies_is_that_scenes_failure(tmp_path: Path, capsys, monkeypatch) -> None:
    """A worker that dies (dask's KilledWorker) failed the whole command as an internal error;
    it is now that scene's "failed" line, and the other scenes are still written."""
    a, b = _scene(tmp_path, "a", 1), _scene(tmp_path, "b", 2)
    out = tmp_path / "out"
    real = scenes.run_job

    def dies_on_a(job, *args, **kwargs):
        if job.lst.name == "a_lst.tif":
            raise RuntimeError("worker lost")  # as future.result() raises KilledWorker
        return real(job, *args, **kwargs)

    monkeypatch.setattr(scenes, "run_job", dies_on_a)
    with _cluster() as cluster:
        assert run(["-q", "downscale", str(a), str(b), "--model", "bilinear", "--out-dir", str(out), "--json",
                    "--dask-scheduler", cluster.scheduler_address]) == 1
    lines = {line["input"]: line for line in _json_lines(capsys.readouterr().out)}
    assert lines[str(b)]["status"] == "ok" and (out / "b_lst_downscaled.tif").is_file()
    assert lines[str(a)]["status"] == "failed" and "the dask task did not finish (RuntimeError: worker lost)" in lines[str(a)]["error"]
    assert not (out / "a_lst_downscaled.tif").exists()


def test_warnings_a_scene_raises_on_a_worker_are_shown_as_a_local_run_shows_them(
        tmp_path: Path, capsys, monkeypatch) -> None:
    """QA: a scene's warnings (here about another run's unfinished temporaries beside its output)
    went to the worker's log, which the user never sees."""
    for name, seed in (("a", 1), ("b", 2)):
        _scene(tmp_path / "s", name, seed)
    args = ["-q", "downscale", "s/a_lst.tif", "s/b_lst.tif", "--model", "bicubic", "--out-dir", "o", "--json"]

    def leftovers() -> None:  # a killed run's temporaries beside both outputs: one warning per scene
        (tmp_path / "o").mkdir()
        for name in ("a", "b"):
            killed = tmp_path / "o" / f".{name}_lst_downscaled.tif.0123abcd.partial"
            killed.touch()
            os.utime(killed, (time.time() - 120,) * 2)

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:  # a worker in another process
        monkeypatch.chdir(tmp_path)
        leftovers()
        assert run(args) == 0
        local = capsys.readouterr()
        shutil.rmtree(tmp_path / "o")
        leftovers()
        assert run([*args, "--dask-scheduler", cluster.scheduler_address]) == 0
        remote = capsys.readouterr()
    assert sorted(remote.err.splitlines()) == sorted(local.err.splitlines()) == [
        f"warning: o/{name}_lst_downscaled.tif: 1 unfinished temporary output(s) of a run that was killed "
        f"(.{name}_lst_downscaled.tif.0123abcd.partial); they may be deleted if no other "
        "groklst run is writing there, else they are removed automatically after a day"
        for name in ("a", "b")
    ]
    assert sorted(l["status"] for l in _json_lines(remote.out)) == ["ok", "ok"]
    for line in _json_lines(remote.out):  # each scene's line lists its own warning only
        name = Path(line["input"]).name[0]
        [warning] = line["warnings"]
        assert warning.startswith(f"o/{name}_lst_downscaled.tif: 1 unfinished temporary output(s)")


def test_a_cluster_run_says_each_scenes_output_grid(tmp_path: Path, capsys, monkeypatch) -> None:
    """Dask runs did not say the output-grid line a local run says."""
    _scene(tmp_path, "a", 1)
    monkeypatch.chdir(tmp_path)
    with _cluster() as cluster:
        assert run(["downscale", "a_lst.tif", "--model", "bicubic", "-o", "o.tif",
                    "--dask-scheduler", cluster.scheduler_address]) == 0
    grid_lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("output grid:")]
    assert grid_lines == ["output grid: the guidance grid (48x48 px at 10 m)"]


def test_scenes_side_by_side_on_a_worker_keep_their_own_warnings(tmp_path: Path, capsys, monkeypatch,
                                                                 recwarn) -> None:
    """Two scenes running at once in a worker's threads: each one's warnings are shown once, named
    as given, a warning given word for word by both once with its count, and a library's too."""
    for name, seed in (("a", 1), ("b", 2)):
        _scene(tmp_path / "s", name, seed)
    both_running = threading.Barrier(2, timeout=10)
    real = scenes.run_job

    def side_by_side(job, *args, **kwargs):
        warnings.warn(f"{job.lst}: before", GroklstWarning)
        both_running.wait()
        report = real(job, *args, **kwargs)
        warnings.warn(f"{job.lst}: after", GroklstWarning)
        warnings.warn("the shared guidance covers 99.9 % of the scene", GroklstWarning)
        warnings.warn(f"{job.lst}: a library's note", RuntimeWarning)
        return report

    monkeypatch.setattr(scenes, "run_job", side_by_side)
    monkeypatch.chdir(tmp_path)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        capsys.readouterr()
        assert run(["-q", "downscale", "s/a_lst.tif", "s/b_lst.tif", "--model", "bicubic", "--out-dir", "o",
                    "--dask-scheduler", cluster.scheduler_address]) == 0
    err = capsys.readouterr().err.splitlines()
    assert sorted(err[:-1]) == [
        "warning: s/a_lst.tif: after", "warning: s/a_lst.tif: before",
        "warning: s/b_lst.tif: after", "warning: s/b_lst.tif: before",
        "warning: the shared guidance covers 99.9 % of the scene",
    ]
    assert err[-1] == "warning: given 1 more time: the shared guidance covers 99.9 % of the scene"
    assert sorted(str(w.message) for w in recwarn if w.category is RuntimeWarning) == [
        "s/a_lst.tif: a library's note", "s/b_lst.tif: a library's note"]


@pytest.mark.parametrize("address", ["localhost", "tcp://127.0.0.1:1"])
def test_a_bad_scheduler_is_refused_before_the_model_loads(tmp_path: Path, capsys, monkeypatch,
                                                           address: str) -> None:
    """QA: the model was loaded (seconds) before the address was even tried."""
    monkeypatch.setattr(scenes, "CONNECT_TIMEOUT_S", 1)
    loaded, real = [], checkpoint.load_checkpoint

    def load(path, *args, **kwargs):
        loaded.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(checkpoint, "load_checkpoint", load)
    lst = _scene(tmp_path, "a", 1)
    assert run(["-q", "downscale", str(lst), "--out-dir", str(tmp_path / "out"),
                "--dask-scheduler", address]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: --dask-scheduler: ") and address in err[0]
    assert loaded == []


# fixed ids: the second address holds a pid, and pytest-xdist needs every worker to collect the same ids
@pytest.mark.parametrize("address", ["inproc://x", f"inproc://192.0.2.2/{os.getpid() + 1}/1"],
                         ids=["inproc-name", "inproc-another-pid"])
def test_an_in_process_address_is_refused_saying_what_to_pass(tmp_path: Path, capsys, address: str) -> None:
    """QA: ``--dask-scheduler inproc://x`` said ``'inproc://x' is not a dask scheduler address
    (not enough values to unpack (expected 3, got 1))``."""
    lst = _scene(tmp_path, "a", 1)
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "--out-dir", str(tmp_path / "out"),
                "--dask-scheduler", address]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: --dask-scheduler: {address} is an in-process address, which only the process that started "
        "its scheduler can reach, not a command line (hint: give the tcp:// address of a running dask "
        "scheduler, such as tcp://HOST:8786 (dask scheduler prints it))"
    ]


def test_a_model_choice_that_cannot_work_is_refused_before_the_scheduler_is_tried(
        tmp_path: Path, capsys, monkeypatch) -> None:
    """A --model needing weights waited behind the scheduler's connection (up to its timeout)."""
    tried = []
    monkeypatch.setattr(scenes, "_connect", lambda address: tried.append(address))
    lst = _scene(tmp_path, "a", 1)
    assert run(["downscale", str(lst), "--model", "tsharp", "--dask-scheduler", "tcp://10.255.255.1:8786",
                "-o", str(tmp_path / "o.tif")]) == 2
    assert "--model: unknown model 'tsharp'" in capsys.readouterr().err
    assert tried == []
