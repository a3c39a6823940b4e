"""``downscale --cog/--overviews`` stop at once on a signal: :func:`pipelines.cog.layout` runs
GDAL's one long call in a child process for every command (QA: downscale waited for it, ~20 s
on a 225 Mpx output), its errors still name the output, and a dask worker runs it itself."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio

import pipelines.cog as cog_module
from groklst_cli.app import run
from pipelines.sample_scene import generate_scene, write_scene
from tests.test_stop_promptly_o import STOPS, signal_on_cog, slow_finish

BIG_SCALE = 64  # 250 px to 16000 x 16000 px: the COG copy takes ~27 s (2 cores), which SIGTERM waited ~19 s for


def _scene(folder: Path, size: int = 16) -> Path:
    return write_scene(generate_scene((size, size), seed=1), folder, name="s")[0]


def _stop_downscale(lst: Path, out: Path, args: list[str], signum: int) -> tuple[int, float]:
    """Run downscale over an existing ``out`` and signal once the COG side file exists: the exit
    status and the seconds from the signal to the return."""
    out.parent.mkdir(exist_ok=True)
    out.write_bytes(b"II*\x00the previous output")
    sent: list[float] = []
    thread = signal_on_cog(out, signum, sent)
    code = run(["-q", "downscale", str(lst), "--model", "bicubic", *args, "--overwrite", "-o", str(out)])
    stopped = time.monotonic()
    thread.join()
    assert sent, "the COG step's .partial.cog never appeared: no signal was sent"
    return code, stopped - sent[0]


def test_a_sigterm_during_a_real_cog_conversion_stops_at_once(tmp_path: Path, capsys) -> None:
    """GDAL's real copy of a 256 Mpx output: SIGTERM stopped after it, ~20 s later; now within
    a second or two (10 s leaves room for a loaded CI)."""
    out = tmp_path / "o" / "big.tif"
    code, latency = _stop_downscale(_scene(tmp_path, 250), out, ["--scale", str(BIG_SCALE), "--cog"],
                                    STOPS[1][0])
    assert (code, capsys.readouterr().err.splitlines()[-1]) == STOPS[1][1:]
    assert latency < 10
    assert out.read_bytes() == b"II*\x00the previous output"
    assert sorted(p.name for p in out.parent.iterdir()) == ["big.tif"]  # no .partial, .partial.cog, .ovr.tmp


@pytest.mark.parametrize("flag, step", [("--cog", "to_cog"), ("--overviews", "add_overviews")])
@pytest.mark.parametrize("signum, status, message", STOPS)
def test_a_signal_during_either_layout_step_stops_downscale_at_once(
        tmp_path: Path, monkeypatch, capsys, flag: str, step: str, signum: int, status: int, message: str) -> None:
    """Both steps go through the child: a step of a minute that ignores signals is not waited for."""
    monkeypatch.setattr(cog_module, step, slow_finish)
    out = tmp_path / "o" / "d.tif"
    code, latency = _stop_downscale(_scene(tmp_path), out, [flag], signum)
    assert (code, capsys.readouterr().err.splitlines()[-1]) == (status, message)
    assert latency < 15  # the stand-in step takes about a minute
    assert out.read_bytes() == b"II*\x00the previous output"
    assert sorted(p.name for p in out.parent.iterdir()) == ["d.tif"]


def reads_a_missing_file(tmp: Path) -> None:
    """A layout step that GDAL fails on a name made from the temporary's (run in the child)."""
    with rasterio.open(tmp.with_name(tmp.name + ".gone")):
        pass


def test_a_gdal_error_in_the_child_names_the_output_never_the_temporary(
        tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(cog_module, "to_cog", reads_a_missing_file)
    out = tmp_path / "o" / "d.tif"
    assert run(["-q", "downscale", str(_scene(tmp_path)), "--model", "bicubic", "--cog", "-o", str(out)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: {out}: writing failed (") and f"{out}.gone" in line
    assert ".partial" not in line
    assert not out.parent.exists() or not list(out.parent.iterdir())


def test_a_dask_worker_process_writes_the_cog_itself(tmp_path: Path, capsys) -> None:
    """A worker process is daemonic and may not start a child: the COG is made there, as before."""
    distributed = pytest.importorskip("dask.distributed")
    lst = _scene(tmp_path)
    out = tmp_path / "o" / "d.tif"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        assert run(["-q", "downscale", str(lst), "--model", "bicubic", "--cog", "-o", str(out),
                    "--dask-scheduler", cluster.scheduler_address]) == 0
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(tmp_path / "plain.tif")]) == 0
    with rasterio.open(out) as cog, rasterio.open(tmp_path / "plain.tif") as plain:
        assert cog.block_shapes == [(512, 512)] and cog.profile["compress"] == "deflate"
        np.testing.assert_array_equal(cog.read(1), plain.read(1))


def dies_midway(tmp: Path) -> None:
    """A layout step whose process the kernel kills (out of memory) after GDAL began its side file."""
    tmp.with_name(tmp.name + ".cog").write_bytes(b"half a COG")
    tmp.with_name(tmp.name + ".cog.ovr.tmp").write_bytes(b"half its overviews")
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_child_killed_on_its_own_is_a_write_error_and_leaves_nothing(
        tmp_path: Path, monkeypatch, capsys) -> None:
    """Review: a child killed by the kernel was 'internal error: EOFError' and left ~80 MB of
    .partial.cog and .ovr.tmp beside the output; the previous output is kept."""
    monkeypatch.setattr(cog_module, "to_cog", dies_midway)
    out = tmp_path / "o" / "d.tif"
    out.parent.mkdir()
    out.write_bytes(b"II*\x00the previous output")
    code = run(["-q", "downscale", str(_scene(tmp_path)), "--model", "bicubic", "--cog", "--overwrite",
                "-o", str(out)])
    [line] = capsys.readouterr().err.splitlines()
    assert code == 2
    assert line.startswith(f"error: {out}: writing failed (the GDAL layout step was killed by SIGKILL "
                           "(out of memory?))")
    assert out.read_bytes() == b"II*\x00the previous output"
    assert sorted(p.name for p in out.parent.iterdir()) == ["d.tif"]


def test_the_child_dies_with_a_parent_killed_outright(tmp_path: Path) -> None:
    """Review: a SIGKILLed groklst left its COG child running GDAL's copy for a minute or more."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the parent-death signal is Linux's")
    tmp, pid_file = tmp_path / "d.tif", tmp_path / "child.pid"
    tmp.write_bytes(b"")
    parent = subprocess.Popen([sys.executable, "-c", (
        "import sys; from pathlib import Path; import pipelines.cog as cog; "
        "from tests.test_cog_child_o2 import records_pid_then_works; "
        f"cog.in_child(records_pid_then_works, Path({str(tmp)!r}))")], cwd=Path(__file__).parents[1])
    deadline = time.monotonic() + 60
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    child = int(pid_file.read_text())
    parent.kill()
    parent.wait()
    try:
        for _ in range(50):
            if not _alive(child):
                break
            time.sleep(0.1)
        assert not _alive(child)
    finally:
        if _alive(child):  # do not leave it busy for a minute when this fails
            os.kill(child, signal.SIGKILL)


def records_pid_then_works(tmp: Path) -> None:
    """A layout step (run in the child) that says which process it is, then works a minute."""
    tmp.with_name("child.pid.partial").write_text(str(os.getpid()))
    os.replace(tmp.with_name("child.pid.partial"), tmp.with_name("child.pid"))
    hashlib.pbkdf2_hmac("sha256", b"key", b"salt", 2 * 10**8)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped by init, counts as dead)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False
