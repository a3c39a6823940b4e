"""s9 F3, stops and terminal output: NO_COLOR wins over FORCE_COLOR for the progress bar and for
``--help``, a stopped ``--json`` batch gives its running scene a ``stopped`` line, a stopped
``--dask-scheduler`` batch prints its tally, and ``--scale`` with ``--model bicubic -c`` names -c."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import pipelines.scenes as scenes
from groklst_cli.app import run
from tests.conftest import write_canonical_scene

ROOT = Path(__file__).resolve().parents[1]


def _downscale_stderr(tmp_path: Path, **env: str) -> bytes:
    """The stderr bytes of a one-scene bicubic downscale (stderr a pipe, not a terminal)."""
    if not (tmp_path / "a_lst.tif").exists():
        write_canonical_scene(tmp_path, "a")
    environment = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    proc = subprocess.run([sys.executable, "-m", "groklst_cli", "downscale", "a_lst.tif", "--model", "bicubic",
                           "--overwrite"], cwd=tmp_path, env={**environment, "PYTHONPATH": str(ROOT), **env},
                          capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


def test_no_color_with_force_color_draws_no_progress_escape_codes(tmp_path: Path) -> None:
    """QA: NO_COLOR=1 FORCE_COLOR=1 into a log file still wrote the bar's ``\\x1b[?25l``/``\\x1b[2K``."""
    err = _downscale_stderr(tmp_path, NO_COLOR="1", FORCE_COLOR="1")
    assert b"\x1b" not in err and b"\r" not in err
    assert err.decode().splitlines()[-1].startswith("a_lst.tif -> a_lst_downscaled.tif (")
    assert b"\x1b[?25l" in _downscale_stderr(tmp_path, FORCE_COLOR="1")  # FORCE_COLOR alone: the bar


def test_help_has_no_bold_under_no_color(monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """QA: ``groklst --help`` on a terminal with NO_COLOR=1 was still bold (``\\x1b[1m``).
    FORCE_COLOR stands for the terminal here (typer's console then writes styles to a pipe)."""
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    assert run(["--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage: groklst [OPTIONS] COMMAND [ARGS]..." in out and "\x1b" not in out
    monkeypatch.delenv("NO_COLOR")
    assert run(["--help"]) == 0
    assert "\x1b[1m" in capsys.readouterr().out  # the styles are back without NO_COLOR


def test_a_stopped_json_batch_gives_its_running_scene_a_stopped_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """QA: the scene running at Ctrl-C had no --json line: a pipeline could not tell it from c."""
    monkeypatch.chdir(tmp_path)
    for name in ("a", "b", "c"):
        write_canonical_scene(tmp_path, name)
    real = scenes.run_local

    def stopped_mid_b(jobs, *args, on_progress, **kwargs):
        """Scene b is stopped at its first progress report (its temporary exists then)."""
        def progress(done: int, total: int) -> None:
            if jobs[0].lst.name == "b_lst.tif":
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(60)  # the signal's KeyboardInterrupt ends this
            on_progress(done, total)
        return real(jobs, *args, on_progress=progress, **kwargs)

    monkeypatch.setattr(scenes, "run_local", stopped_mid_b)
    capsys.readouterr()
    assert run(["downscale", "a_lst.tif", "b_lst.tif", "c_lst.tif", "--model", "bicubic", "--json",
                "--out-dir", "out"]) == 130
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert [(d["input"], d["output"], d["status"]) for d in lines] == [
        ("a_lst.tif", "out/a_lst_downscaled.tif", "ok"), ("b_lst.tif", None, "stopped")]
    assert lines[1]["error"] is None and lines[1]["warnings"] == [] and lines[1]["seconds"] >= 0
    assert captured.err.splitlines()[-2:] == [
        "3 scenes: 1 written, 2 stopped", "error: interrupted; unfinished outputs were removed"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_lst_downscaled.tif"]


def test_a_stopped_dask_batch_ends_with_its_tally(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """QA: a Ctrl-C'd --dask-scheduler batch printed no ``N scenes: ...`` line, a local one does."""
    distributed = pytest.importorskip("dask.distributed")
    for name in ("a", "b", "c"):
        write_canonical_scene(tmp_path, name)
    out = tmp_path / "out"
    b_started = threading.Event()
    real = scenes.run_job

    def held(job, *args, stopped, **kwargs):
        """Scene b waits, once started, until its run was stopped (ready marker: b_started)."""
        if job.lst.name == "b_lst.tif":
            b_started.set()
            deadline = time.monotonic() + 60
            while not stopped() and time.monotonic() < deadline:
                time.sleep(0.02)
        return real(job, *args, stopped=stopped, **kwargs)

    interrupted: list[bool] = []

    def interrupt() -> None:
        if b_started.wait(60):
            interrupted.append(True)
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(scenes, "run_job", held)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        capsys.readouterr()
        threading.Thread(target=interrupt, daemon=True).start()
        code = run(["downscale", *(str(tmp_path / f"{n}_lst.tif") for n in "abc"), "--model", "bicubic",
                    "--out-dir", str(out), "--dask-scheduler", cluster.scheduler_address])
        err = capsys.readouterr().err.splitlines()
    assert interrupted == [True], "scene b never started on the cluster: no SIGINT was sent"
    assert code == 130
    assert err[-2:] == ["3 scenes: 1 written, 2 stopped", "error: interrupted"]
    assert sorted(p.name for p in out.iterdir()) == ["a_lst_downscaled.tif"]


def test_scale_with_model_bicubic_and_c_names_the_checkpoint(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """QA: ``--model bicubic --scale 3 -c CKPT`` said --scale needs an interpolator: it had one."""
    lst = write_canonical_scene(tmp_path, "x")
    capsys.readouterr()
    assert run(["downscale", str(lst), "--model", "bicubic", "--scale", "3", "-c", str(tmp_path / "m.pt")]) == 2
    assert capsys.readouterr().err == (
        "error: --checkpoint/-c: cannot be used with --model bicubic: --scale interpolates the LST alone, "
        "without a network (hint: drop -c CKPT to interpolate onto the refined grid, or drop --model and "
        "--scale and give guidance to run the checkpoint)\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x_guidance.tif", "x_lst.tif"]


def test_scale_with_a_network_and_c_names_scale(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review: with a network as --model, -c is not what --scale conflicts with (dropping it, as
    0c6a44f's hint said, was refused in turn): --scale needs an interpolator, as before."""
    lst = write_canonical_scene(tmp_path, "x")
    capsys.readouterr()
    assert run(["downscale", str(lst), "--model", "mocolsk-lite", "--scale", "3", "-c", str(tmp_path / "m.pt")]) == 2
    assert capsys.readouterr().err == ("error: --scale: works only with an interpolator: a learned model needs "
                                       "guidance (hint: pass --model bicubic or --model bilinear)\n")


@pytest.mark.parametrize("extra, line", [
    (["-c", "m.pt"], "error: --scale: works only with an interpolator, and -c gives a network, which needs guidance "
                     "(hint: drop --scale and give guidance to run the checkpoint, or drop -c and pass --model bicubic)"),
    (["--model", "foo"], "error: --model: unknown model 'foo' (hint: use bicubic or bilinear, or --checkpoint CKPT "
                         "for a trained network (groklst models lists the networks))"),
])
def test_scale_refusals_whose_hint_leads_nowhere_else(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      extra: list[str], line: str) -> None:
    """Review R4: ``--scale 3 -c CKPT`` said "pass --model bicubic", refused in turn for -c; ``--model foo
    --scale 3`` was told a learned model needs guidance, though foo is no model."""
    lst = write_canonical_scene(tmp_path, "x")
    capsys.readouterr()
    assert run(["downscale", str(lst), "--scale", "3", *extra, "-o", str(tmp_path / "o.tif")]) == 2
    assert capsys.readouterr().err.strip() == line
