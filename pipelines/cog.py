"""Archive layouts for a finished GeoTIFF: internal overviews, or a Cloud-Optimized GeoTIFF.

Both run on the complete temporary file (:func:`pipelines.geotiff.geotiff_output` checks it
before and after, then renames it), so the streaming writers stay as they are and a failed
conversion leaves nothing behind.
The COG is written by GDAL's COG driver (tiled 512 x 512, DEFLATE with a predictor, overviews
as :func:`overview_resampling` says, nodata, band descriptions, units and tags carried over);
a copy of another file (:func:`kept_layout`) keeps that file's tiles and overview factors.
GDAL builds all bands' overviews with one method, so a file with class-code bands gets nearest
overviews, which hold only real values of each band, and says so in its ``overview_resampling``
tag; a file of continuous bands only keeps the area average.
Either is one GDAL call of a minute or more on a large scene, which a signal waits for, so
:func:`layout` runs it in a child process (:func:`in_child`) that a signal does not wait for.
"""

from __future__ import annotations

import ctypes
import errno
import multiprocessing
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import partial
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from types import FrameType

import numpy as np
import rasterio
import rasterio.shutil
from rasterio._err import CPLE_BaseError  # what GDAL raises directly, e.g. from a copy
from rasterio.enums import Resampling
from rasterio.errors import RasterioError

from pipelines.geotiff import BLOCK, WRITE_THREADS, streaming_gdal_env

OVERVIEW_RESAMPLING = Resampling.average  # continuous bands (LST, guidance): average, not nearest
# Any class band: a real value of each band. Not mode, even for class bands only: GDAL 3.10's mode
# writes 0, no class, where all pixels under an overview pixel are NaN (measured)
CLASS_OVERVIEW_RESAMPLING = Resampling.nearest

STOPPING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # those the CLI stops on
STOP_WAIT_S = 30  # how long a stop waits for the killed child to exit

# Dataset tags that describe a file's overviews (:func:`_record`): a copy of a file carries them
# only when it has the same overviews, which its layout step then tags itself (:func:`kept_layout`)
OVERVIEW_TAGS = ("overview_resampling",)

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


def overview_resampling(class_bands: Sequence[bool]) -> Resampling:
    """The one overview method for a file whose bands hold class codes where ``class_bands``
    is true: an average of codes 1 and 2 is no class (QA: 1.25, 1.5 ... in a land-cover band's
    overviews), so any class band makes it nearest (GDAL builds every band's overviews alike;
    nearest is a fair quick-look of a continuous band beside it)."""
    return CLASS_OVERVIEW_RESAMPLING if any(class_bands) else OVERVIEW_RESAMPLING


def _record(dst: rasterio.io.DatasetWriter, resampling: Resampling) -> None:
    """Tag the overview method of a file whose overviews are not the area average, so that a
    reader knows a continuous band's overviews are not averages; average files stay untagged."""
    if resampling is not OVERVIEW_RESAMPLING:
        dst.update_tags(overview_resampling=resampling.name)


def add_overviews(path: str | os.PathLike[str], resampling: Resampling = OVERVIEW_RESAMPLING,
                  factors: Sequence[int] | None = None) -> None:
    """Build internal overviews in place (DEFLATE-compressed like the full resolution, with the
    predictor of its data type: the floating-point one writes a broken file of integers, which
    ``groklst mask`` keeps), at ``factors`` (default: :func:`overview_factors`)."""
    with rasterio.open(path, "r+") as dst:
        _build_overviews(dst, resampling, factors)
        dst.update_tags(ns="rio_overview", resampling=resampling.name)
        _record(dst, resampling)


def _build_overviews(dst: rasterio.io.DatasetWriter, resampling: Resampling, factors: Sequence[int] | None) -> None:
    """Build ``dst``'s internal overviews at ``factors`` (default: :func:`overview_factors`)."""
    predictor = 3 if np.dtype(dst.dtypes[0]).kind == "f" else 2
    chosen = list(overview_factors(dst.width, dst.height) if factors is None else factors)
    with rasterio.Env(COMPRESS_OVERVIEW="DEFLATE", PREDICTOR_OVERVIEW=predictor, GDAL_NUM_THREADS=WRITE_THREADS):
        dst.build_overviews(chosen, resampling)


def to_cog(path: str | os.PathLike[str], resampling: Resampling = OVERVIEW_RESAMPLING,
           factors: Sequence[int] | None = None, block: int = BLOCK) -> None:
    """Rewrite a GeoTIFF in place as a Cloud-Optimized GeoTIFF with GDAL's COG driver, tiled
    ``block`` x ``block``; its overviews at ``factors`` when given (none for an empty list:
    a copy keeps another COG's, :func:`kept_layout`), else as the driver chooses (halving
    down to one block)."""
    path = Path(path)
    cog = path.with_name(path.name + ".cog")
    try:
        if factors or resampling is not OVERVIEW_RESAMPLING:  # the COG driver copies these overviews, the tags
            with rasterio.open(path, "r+") as src:
                if factors:
                    _build_overviews(src, resampling, factors)
                if bool(factors) if factors is not None else max(src.width, src.height) > block:
                    _record(src, resampling)  # else the COG has no overviews to describe
        rasterio.shutil.copy(
            path, cog, driver="COG", BLOCKSIZE=block, COMPRESS="DEFLATE", PREDICTOR="YES",
            OVERVIEW_RESAMPLING=resampling.name.upper(), BIGTIFF="IF_SAFER", NUM_THREADS=WRITE_THREADS,
            OVERVIEWS=_cog_overviews(factors),
        )
        os.replace(cog, path)
    finally:
        cog.unlink(missing_ok=True)


def _cog_overviews(factors: Sequence[int] | None) -> str:
    """The COG driver's ``OVERVIEWS`` option: its own (``AUTO``, the file has none), the ones
    just built (``FORCE_USE_EXISTING``), or ``NONE`` for an empty ``factors``."""
    if factors is None:
        return "AUTO"
    return "FORCE_USE_EXISTING" if factors else "NONE"


def layout(*, cog: bool = False, overviews: bool = False, class_bands: Sequence[bool] = (),
           factors: Sequence[int] | None = None, block: int = BLOCK) -> Callable[[Path], None] | None:
    """What gives a finished GeoTIFF the layout asked for: a COG (which has overviews), or
    overviews, each run in a child process; ``None`` for the plain streaming layout.
    ``class_bands`` marks the bands holding class codes (:func:`overview_resampling`);
    ``factors`` and ``block`` (a COG's tiles) give another file's overviews and tiles
    (:func:`kept_layout`), else the defaults choose them."""
    if not (cog or overviews):
        return None
    step: Callable[..., None] = to_cog if cog else add_overviews
    resampling = overview_resampling(class_bands)
    kept: dict[str, object] = {"factors": list(factors)} if factors is not None else {}
    if cog and block != BLOCK:
        kept["block"] = block
    if resampling is not OVERVIEW_RESAMPLING:  # a continuous file's step is called as it always was
        kept["resampling"] = resampling
    return partial(in_child, partial(step, **kept) if kept else step)


def kept_layout(src: rasterio.DatasetReader) -> Callable[[Path], None] | None:
    """What gives a copy of ``src`` (same grid and bands, e.g. ``groklst mask``'s) the layout of
    ``src``: a COG stays a COG with ``src``'s tiles, a file with overviews gets them again, each
    at ``src``'s overview factors (nearest when a band holds class codes, unit ``class`` as
    ``groklst guidance`` tags them, as :func:`layout` chooses); ``None`` for a plain file.
    Without it a masked COG silently became a plain GeoTIFF, and a COG under 512 px (tiled 256,
    overviews [2]) lost its overviews."""
    cog = src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
    factors = src.overviews(1)
    return layout(cog=cog, overviews=not cog and bool(factors), class_bands=[unit == "class" for unit in src.units],
                  factors=factors, block=src.block_shapes[0][1] if cog else BLOCK)


def in_child(step: Callable[[Path], None], tmp: Path) -> None:
    """Run ``step`` (the COG copy, the overviews) on ``tmp`` in a child process, raising its error.

    Waiting on a child instead of one long GDAL call lets Ctrl-C and SIGTERM stop the run at
    once (QA: SIGTERM during a large --cog guidance took ~150 s, downscale ~20 s): the child is
    killed then, and what it left beside ``tmp`` is removed once it is dead (:class:`_Stopping`;
    a SIGKILLed child still alive after :data:`STOP_WAIT_S`, stuck in the kernel, cannot write any
    more, so its files are removed then too).
    A daemonic process (a dask worker's) may not start children, so it runs ``step`` itself.
    """
    if multiprocessing.current_process().daemon:
        step(tmp)
        return
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no lock held by a thread
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_run_step, args=(step, tmp, send, os.getpid()), daemon=True)
    error: Exception | None = None
    with _Stopping(child) as stopping:
        try:
            child.start()
            stopping.started()
            send.close()
            error = _received(receive)  # before the join: a large error must not fill the pipe
            child.join()
        finally:
            send.close()
            receive.close()
            if child.exitcode != 0:  # stopped, or the child died or failed
                _stop(child)
                for suffix in COG_TEMPORARIES:
                    tmp.with_name(tmp.name + suffix).unlink(missing_ok=True)
    if error is not None:
        raise error
    if child.exitcode != 0:
        raise RasterioError(f"the GDAL layout step {_ended(child.exitcode)}")


class _Stopping:
    """While :func:`in_child` runs, what a stopping signal's handler raises kills the child at
    once but is raised only when the block ends, after the child is dead and its files removed.

    Raised where it arrived, a signal could stop the parent inside ``start()``, before it knew
    the child's pid, leaving the child to write its files after the cleanup; or, a second
    signal (``timeout`` signals groklst, then its process group), stop that cleanup midway
    (QA: 6 of 36 runs left ``.partial.cog`` / ``.ovr.tmp``). A handler that returns (the CLI
    holds a signal while a published output is reported) still lets the child finish.
    Main thread only: elsewhere signals are not handled anyway. Not nested: an inner block's
    handler would chain to the outer one, which keeps the stop, and the inner child would live on.
    """

    def __init__(self, child: multiprocessing.process.BaseProcess) -> None:
        self.child = child
        self.previous: dict[int, Callable[[int, FrameType | None], object]] = {}
        self.stop: BaseException | None = None

    def __enter__(self) -> _Stopping:
        if threading.current_thread() is threading.main_thread():
            for signum in STOPPING_SIGNALS:
                handler = signal.getsignal(signum)
                if callable(handler):
                    self.previous[signum] = handler
                    signal.signal(signum, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        try:
            self.previous[signum](signum, frame)
        except BaseException as stop:  # KeyboardInterrupt, the CLI's Terminated: kept for __exit__
            self.stop = self.stop or stop
            if self.child.pid is not None:  # else started() kills it
                self.child.kill()

    def started(self) -> None:
        """Kill the child now if a signal stopped the run while ``start()`` ran."""
        if self.stop is not None:
            self.child.kill()

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        if self.stop is not None:
            raise self.stop


def _received(receive: Connection) -> Exception | None:
    """The child's error, or None; also None when the child died before sending (its pipe
    end closed unsent: killed by the kernel for memory, a crash in GDAL)."""
    try:
        return receive.recv()
    except EOFError:
        return None


def _stop(child: multiprocessing.process.BaseProcess) -> None:
    """Kill ``child`` if it was started and wait for it (its files are then no longer open); at
    most :data:`STOP_WAIT_S`, so that a child stuck in the kernel cannot hang the stop."""
    if child.pid is not None:
        child.kill()
        child.join(STOP_WAIT_S)


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
    printed: list[str] = []
    try:
        with _native_stderr_read(printed), streaming_gdal_env():
            step(tmp)
    except Exception as exc:  # raised in the parent, which reports it as it would its own
        error = _portable(_with_printed_cause(exc, printed))
    send.send(error)
    send.close()


@contextmanager
def _native_stderr_read(printed: list[str]) -> Iterator[None]:
    """Put into ``printed`` the lines C code prints on file descriptor 2 during the block, and
    pass them on there after it.

    libtiff prints the cause of a failed write there (``_tiffWriteProc: File too large.``) and
    GDAL raises only libtiff's last line (``TIFFAppendToStrip:Seek error at scanline 0``); the
    file whose size would show it, the COG copy, GDAL has removed by then. Only for the child
    of :func:`in_child`, which does nothing else: file descriptor 2 is the whole process's."""
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read()
            with suppress(OSError):  # a stderr nobody reads any more
                os.write(2, text)
            printed.extend(text.decode(errors="replace").splitlines())


def _with_printed_cause(error: Exception, printed: Sequence[str]) -> Exception:
    """``error``, or "File too large" (EFBIG) for a GDAL error of a write that libtiff said
    reached the file-size limit (``ulimit -f``), so that :func:`pipelines.geotiff.write_failed`
    names the cause as it does for a plain output."""
    too_large = os.strerror(errno.EFBIG)
    if isinstance(error, (RasterioError, CPLE_BaseError)) and any(too_large in line for line in printed):
        return RasterioError(too_large)
    return error


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
