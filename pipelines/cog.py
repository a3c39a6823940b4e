"""Archive layouts for a finished GeoTIFF: internal overviews, or a Cloud-Optimized GeoTIFF.

Both run on the complete temporary file (:func:`pipelines.geotiff.geotiff_output` checks it
before and after, then renames it), so the streaming writers stay as they are and a failed
conversion leaves nothing behind.
The COG is written by GDAL's COG driver (tiled 512 x 512, DEFLATE with a predictor, overviews
by area average, nodata, band descriptions, units and tags carried over).
Either is one GDAL call of a minute or more on a large scene, which a signal waits for, so
:func:`layout` runs it in a child process (:func:`in_child`) that a signal does not wait for.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from functools import partial
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from pathlib import Path

import rasterio
import rasterio.shutil
from rasterio.enums import Resampling
from rasterio.errors import RasterioError

from pipelines.geotiff import BLOCK, WRITE_THREADS, streaming_gdal_env

OVERVIEW_RESAMPLING = Resampling.average  # LST and guidance are continuous: average, not nearest

PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies

# What GDAL's COG driver writes beside the file it converts (to_cog removes them itself, except
# when its process is killed)
COG_TEMPORARIES = (".cog", ".cog.ovr.tmp")


def overview_factors(width: int, height: int, block: int = BLOCK) -> list[int]:
    """Decimation factors 2, 4, 8, ... down to the first overview that fits in one block."""
    factors, factor = [], 2
    while True:
        factors.append(factor)
        if max(width, height) / factor <= block:
            return factors
        factor *= 2


def add_overviews(path: str | os.PathLike[str]) -> None:
    """Build internal overviews in place (DEFLATE-compressed like the full resolution)."""
    with rasterio.Env(COMPRESS_OVERVIEW="DEFLATE", PREDICTOR_OVERVIEW=3, GDAL_NUM_THREADS=WRITE_THREADS), \
            rasterio.open(path, "r+") as dst:
        dst.build_overviews(overview_factors(dst.width, dst.height), OVERVIEW_RESAMPLING)
        dst.update_tags(ns="rio_overview", resampling=OVERVIEW_RESAMPLING.name)


def to_cog(path: str | os.PathLike[str]) -> None:
    """Rewrite a GeoTIFF in place as a Cloud-Optimized GeoTIFF with GDAL's COG driver."""
    path = Path(path)
    cog = path.with_name(path.name + ".cog")
    try:
        rasterio.shutil.copy(
            path, cog, driver="COG", BLOCKSIZE=BLOCK, COMPRESS="DEFLATE", PREDICTOR="YES",
            OVERVIEW_RESAMPLING=OVERVIEW_RESAMPLING.name.upper(), BIGTIFF="IF_SAFER",
            NUM_THREADS=WRITE_THREADS,
        )
        os.replace(cog, path)
    finally:
        cog.unlink(missing_ok=True)


def layout(*, cog: bool = False, overviews: bool = False) -> Callable[[Path], None] | None:
    """What gives a finished GeoTIFF the layout asked for: a COG (which has overviews), or
    overviews, each run in a child process; ``None`` for the plain streaming layout."""
    if cog:
        return partial(in_child, to_cog)
    if overviews:
        return partial(in_child, add_overviews)
    return None


def in_child(step: Callable[[Path], None], tmp: Path) -> None:
    """Run ``step`` (the COG copy, the overviews) on ``tmp`` in a child process, raising its error.

    Waiting on a child instead of one long GDAL call lets Ctrl-C and SIGTERM stop the run at
    once (QA: SIGTERM during a large --cog guidance took ~150 s, downscale ~20 s): the child is
    killed then, and what it left beside ``tmp`` is removed. A daemonic process (a dask
    worker's) may not start children, so it runs ``step`` itself.
    """
    if multiprocessing.current_process().daemon:
        step(tmp)
        return
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no lock held by a thread
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_run_step, args=(step, tmp, send, os.getpid()), daemon=True)
    error: Exception | None = None
    try:
        child.start()
        send.close()
        error = _received(receive)  # before the join: a large error must not fill the pipe
        child.join()
    finally:
        send.close()
        receive.close()
        if child.exitcode != 0:  # a signal (or an error) here, or the child died or failed
            _stop(child)
            for suffix in COG_TEMPORARIES:
                tmp.with_name(tmp.name + suffix).unlink(missing_ok=True)
    if error is not None:
        raise error
    if child.exitcode != 0:
        raise RasterioError(f"the GDAL layout step {_ended(child.exitcode)}")


def _received(receive: Connection) -> Exception | None:
    """The child's error, or None; also None when the child died before sending (its pipe
    end closed unsent: killed by the kernel for memory, a crash in GDAL)."""
    try:
        return receive.recv()
    except EOFError:
        return None


def _stop(child: multiprocessing.process.BaseProcess) -> None:
    """Kill ``child`` if it was started and wait for it (its files are then no longer open)."""
    if child.pid is not None:
        child.kill()
        child.join()


def _ended(exitcode: int | None) -> str:
    """How the child ended, for the error line: its exit status, or the signal that killed it."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:  # a number the signal module does not name
            name = f"signal {-exitcode}"
        cause = " (out of memory?)" if name == "SIGKILL" else ""
        return f"was killed by {name}{cause}"
    return f"stopped (exit status {exitcode})"


def _run_step(step: Callable[[Path], None], tmp: Path, send: Connection, parent: int) -> None:
    """The child's side of :func:`in_child`: ``step`` under the streaming GDAL settings, then
    its error (or None) sent back. Ctrl-C reaches the whole process group; the parent decides."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with(parent)
    error: Exception | None = None
    try:
        with streaming_gdal_env():
            step(tmp)
    except Exception as exc:  # raised in the parent, which reports it as it would its own
        error = _portable(exc)
    send.send(error)
    send.close()


def _die_with(parent: int) -> None:
    """Have the kernel kill this process when ``parent`` dies (Linux): a groklst killed outright
    (SIGKILL, out of memory) must not leave its GDAL copy running for minutes. Elsewhere a
    no-op, as is a child whose parent died before this was set (it exits at once)."""
    if not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


def _portable(error: Exception) -> Exception:
    """``error`` if it loads again once pickled, else a RasterioError of its message: a library
    may pickle an error's cause and attributes (tblib, which dask installs), which some of
    rasterio's errors cannot load, and the parent must not fail on reading it."""
    try:
        ForkingPickler.loads(ForkingPickler.dumps(error))
    except Exception:
        return RasterioError(str(error))
    return error
