"""Running the downscaler over many scenes: one failure never stops the others.

Scenes run one after another in this process, or are distributed over a dask.distributed
cluster (one task per scene). Each scene yields a :class:`SceneReport`.

On a cluster, paths are made absolute here (a worker's current folder is not this one), the
warnings a scene raises on its worker are raised again here, and a stopped run stops for
real: queued scenes never start, running ones see the run's stop event at their next progress
report and, decisively, right before their output is renamed into place, so nothing is
published after the client stopped.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import logging
import os
import re
import shlex
import socket
import threading
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from rasterio.windows import Window

from pipelines.atomic import (OutputAppeared, OutputExists, atomic_output, check_writable, remove_stale_partials,
                              resolved)
from pipelines.downscale import (DownscaleOptions, SceneReport, downscale_scene, guidance_beside,
                                 lst_pixels_with_guidance)
from pipelines.errors import (EmptySceneError, GroklstWarning, InputError, environment_error, one_run, said_so_far,
                             unmistakable_path)
from pipelines.geotiff import check_geotiff_name, streaming_gdal_env
from pipelines.grids import Grid, pair_grids
from pipelines.infer import ModelSource
from pipelines.lst_values import LstDecoding, scan
from pipelines.finished_outputs import FinishedKind, finished_as
from pipelines.quicklook import write_quicklook
from pipelines.raster_names import display_name, gdal_name, raster_stem
from pipelines.scene_align import aligned_guidance, check_before_aligning, named_as_guidance
from pipelines.tile_reader import SceneSources

if TYPE_CHECKING:  # dask loads only for a run on a cluster
    from distributed import Client

# How long to try reaching a --dask-scheduler: distributed retries a refused connection until
# then, so a wrong port waited this long (15 s was asked for); a few seconds still cover a
# scheduler started just before groklst (about 1-2 s to listen) and a handshake over a LAN.
CONNECT_TIMEOUT_S = 5
HTTP_PROBE_S = 1  # how long an address no scheduler answered is given to answer HTTP (a dashboard)
WORKER_WAIT_S = 60  # how long to wait for a scheduler's first worker
WORKER_WAIT_QUIET_S = 2  # ... before saying so
STOP_POLL_S = 0.5  # a running scene asks whether its run was stopped at most this often
STOP_WAIT_S = 10  # how long a stopped run waits for its running scenes to stop
ADDRESS_HINT = "give a running dask scheduler's address, such as tcp://HOST:8786"
OTHER_SERVICE_HINT = ("check the port: dask scheduler prints its address (tcp://HOST:8786 by default; "
                      "its dashboard, 8787, is not it)")
KILLED_WORKER_HINT = ("check the dask workers' memory: a worker that runs out of it is killed; give each more "
                      "(dask worker --memory-limit) or fewer threads (--nthreads)")
IN_PROCESS_HINT = ("give the tcp:// address of a running dask scheduler, such as tcp://HOST:8786 "
                   "(dask scheduler prints it)")


class SceneStopped(Exception):
    """The run this scene belongs to was stopped: nothing of it is published."""


@dataclass(frozen=True)
class SceneJob:
    """One scene to downscale."""

    lst: Path
    output: Path
    guidance: Path | None = None
    guided: bool = True  # False: interpolation onto the refined LST grid (--scale), no guidance
    align: bool = False  # resample ``guidance`` onto the LST's grid first (--align)
    quicklook: Path | None = None  # a PNG of input and output, drawn once the output is published

    def __post_init__(self) -> None:
        if self.align and self.guidance is None:
            raise ValueError("aligning needs a guidance raster")

    def inputs(self) -> list[Path]:
        """Every file the job reads (the guidance beside the LST when not given and guided)."""
        if not self.guided:
            return [self.lst]
        try:
            return [self.lst, self.guidance or guidance_beside(self.lst)]
        except InputError:
            return [self.lst]


def output_for(lst: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Path:
    """Default output name: ``OUT_DIR/<input stem>_downscaled.tif`` (a subdataset's: the file's
    stem and the variable, :func:`~pipelines.raster_names.raster_stem`)."""
    return Path(out_dir) / f"{raster_stem(lst)}_downscaled.tif"


def check_batch(jobs: Iterable[SceneJob]) -> None:
    """Refuse, before any work, a batch in which two scenes share an output or an output is an input."""
    jobs = list(jobs)
    seen: dict[Path, SceneJob] = {}
    for job in jobs:
        key = resolved(job.output)
        if key in seen:
            raise InputError(job.output, f"both {seen[key].lst} and {job.lst} would be written here",
                             "inputs with the same name need separate runs with different --out-dir")
        seen[key] = job
    for job in jobs:
        for source in job.inputs():
            clash = seen.get(resolved(source))
            if clash is not None:
                raise InputError(clash.output, f"is also an input of this run ({source}); it would be overwritten",
                                 "write the outputs under another name or to another folder")


def run_job(
    job: SceneJob,
    source: ModelSource,
    options: DownscaleOptions,
    *,
    skip_existing: bool = False,
    debug: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
    on_grid: Callable[[str], None] | None = None,
    stopped: Callable[[], bool] | None = None,
) -> SceneReport:
    """Downscale one job, turning every failure into a report instead of an exception.

    Statuses: ``ok``; ``skipped`` (output exists, ``skip_existing``); ``empty`` (no valid
    pixel, nothing written); ``error`` (bad input or environment); ``failed`` (a bug);
    ``stopped`` (``stopped()`` said so: nothing written, no temporary left). A ``quicklook``
    that cannot be drawn makes a written scene ``error`` or ``failed`` (:func:`_with_quicklook`).
    ``on_grid`` gets a line on each grid decision (the alignment, the output grid).
    ``stopped`` is asked before any work, every :data:`STOP_POLL_S` on progress, and right
    before the finished output is renamed into place. The job is one run
    (:func:`~pipelines.errors.one_run`): a thing said of a file in its checks (``--align``'s header
    check, the LST's coverage) is said once, and by every job of a batch (a shared guidance's).
    """
    with one_run():
        start = time.perf_counter()
        if stopped is not None and stopped():
            return _ended(job, start, "stopped")
        try:
            if skip_existing and finished_output(job.output):
                remove_stale_partials(job.output)  # a killed run's, a day old: as writing it would
                return _ended(job, start, "skipped")
        except InputError as exc:
            return _ended(job, start, "error", str(exc))
        try:
            check_geotiff_name(job.output)
            check_writable(job.output, options.overwrite, inputs=job.inputs())
            if job.align:  # what the headers refuse, before minutes of warping a copy for the same error
                check_before_aligning(job.lst, job.guidance, source, options)
            with ExitStack() as stack:
                output = job.output
                if stopped is not None:
                    output = stack.enter_context(_published_unless_stopped(job, source, options, stopped))
                    on_progress = _checking(on_progress, stopped)
                guidance = job.guidance
                if job.align:
                    aligned = stack.enter_context(aligned_guidance(job.lst, job.guidance, job.output, source.scale))
                    if on_grid:
                        on_grid(aligned.description)
                    guidance, options = aligned.path, replace(options, tags={**options.tags, **aligned.tags})
                try:
                    report = downscale_scene(
                        job.lst, output, source, guidance_path=guidance, options=options,
                        on_progress=on_progress, on_grid=on_grid,
                    )
                except EmptySceneError as exc:  # a guidance that misses the LST's data: not an empty LST
                    missed = guidance_misses_lst(job.lst, guidance or guidance_beside(job.lst), source.scale,
                                                 options.decoding, named=job.guidance) if job.guided else None
                    if missed is not None:
                        raise missed from exc
                    raise
                report.output = str(job.output)
                if job.guided:
                    _note_lst_coverage(report, job, guidance or guidance_beside(job.lst), source, options)
            report.seconds = _seconds_since(start)  # with the alignment
            return _with_quicklook(report, job, options.overwrite, debug)
        except SceneStopped:
            return _ended(job, start, "stopped")
        except GuidanceMissesLst as exc:
            report = _ended(job, start, "error", str(exc))
            report.extra["lst_covered_fraction"] = 0.0  # as a scene the guidance covers in part says its share
            return report
        except EmptySceneError as exc:
            return _ended(job, start, "empty", str(exc))
        except OutputAppeared as exc:  # another run of the scene finished first; its output is kept
            return _ended(job, start, "skipped") if skip_existing else _ended(job, start, "error", str(exc))
        except OutputExists as exc:  # ... or finished it between the first look and the write
            return _ended(job, start, "skipped") if finished_meanwhile(job.output, skip_existing) \
                else _ended(job, start, "error", str(exc))
        except Exception as exc:  # noqa: BLE001 - reported per scene; the run goes on
            return _ended(job, start, *_failure(exc, job.output, debug))


def _note_lst_coverage(report: SceneReport, job: SceneJob, guidance: Path, source: ModelSource,
                       options: DownscaleOptions) -> None:
    """Warn of the LST's valid pixels the output lacks because of the guidance, with their
    share on the --json line: those outside its extent (``lst_covered_fraction``: the output is
    cropped to the guidance's footprint, so ``valid_fraction``, a share of output pixels, said
    1.0 for a guidance that covered half the scene) and those inside it where it is nodata
    (``lst_without_guidance_fraction``: NaN in the output, said only through ``valid_fraction``).
    The second is the downscale's exact count over the tiles' masks (``report.without_guidance``),
    not the output's valid pixels against the LST's: the LST's holes grow in the output (bicubic's
    support, a network's hole margin), which warned of a guidance with data everywhere."""
    assert report.lst_valid is not None  # downscale_scene counts it on every scene it writes
    coverage = lst_coverage(job.lst, guidance, source.scale, options.decoding, report.lst_valid)
    named = display_name(job.guidance or guidance)  # as given, not --align's hidden copy
    covered = coverage.covered_fraction
    if covered < 1:
        report.extra["lst_covered_fraction"] = covered
        warnings.warn(f"{display_name(job.lst)}: {_share(1 - covered)} % of its valid pixels lie outside the guidance "
                      f"{named} and are not in the output, which covers only the part of the scene the guidance "
                      f"covers; {COVER_HINT}", GroklstWarning, stacklevel=2)
    if report.without_guidance:
        missing = coverage.without_guidance(report.without_guidance)
        report.extra["lst_without_guidance_fraction"] = missing
        warnings.warn(f"{display_name(job.lst)}: {_share(missing)} % of its valid pixels inside the guidance {named} "
                      f"are NaN in the output: the guidance has no data over them (clouds, gaps); {COVER_HINT}",
                      GroklstWarning, stacklevel=2)


def _share(fraction: float) -> str:
    """``fraction`` as a percentage for a warning (``under 0.1`` for a loss of a few pixels,
    never 0, nor 0.1 for six pixels in 18,000)."""
    percent = round(fraction * 100, 1)
    return f"{percent:g}" if percent >= 0.1 else "under 0.1"


@dataclass(frozen=True)
class LstCoverage:
    """The LST's valid pixels inside the footprint it shares with a guidance and in all, and
    the output pixels per LST pixel (the scale squared)."""

    inside: int
    total: int
    per_pixel: int

    @property
    def covered_fraction(self) -> float:
        """The share of the LST's valid pixels inside the footprint, to 6 decimals and never 1
        while one is outside (one pixel in 2.2 million was rounded to 1: no warning)."""
        if not self.total or self.inside >= self.total:
            return 1.0
        return min(round(self.inside / self.total, 6), 0.999999)

    def without_guidance(self, pixels: int) -> float:
        """The share of the output pixels under the LST's valid pixels inside the footprint that
        ``pixels`` (output pixels there without guidance data) are, to 6 decimals and never 0
        for a loss of one pixel (a share of 3e-7 read as no loss)."""
        expected = self.inside * self.per_pixel
        if not expected or not pixels:
            return 0.0
        return max(round(pixels / expected, 6), 1e-6)


def lst_coverage(lst: Path, guidance: Path, scale: int | None, decoding: LstDecoding, inside: int) -> LstCoverage:
    """``lst``'s valid pixels inside the footprint it shares with ``guidance`` (the output's,
    :func:`~pipelines.grids.pair_grids`; ``inside``: the downscale's count there) and in all;
    the LST outside it is read only where the footprint leaves part of the grid out, the
    guidance never. Values the footprint's scan would refuse outside it count by grid pixels:
    the scene itself was read without them."""
    with ExitStack() as stack:
        inputs = SceneSources.open(stack, lst, guidance)
        grids = pair_grids(Grid.of(inputs.lst), Grid.of(inputs.guidance), scale=scale,
                           lst_path=lst, guidance_path=guidance)
        window, whole = grids.lr_window, Window(0, 0, inputs.lst.width, inputs.lst.height)
        total = inside
        if (window.width, window.height) != (whole.width, whole.height):
            try:
                total = scan(inputs.lst, whole, decoding, lst).valid
            except InputError:
                total = inside + int(whole.width * whole.height - window.width * window.height)
    return LstCoverage(inside, total, grids.scale ** 2)


COVER_HINT = ("give a guidance with data wherever the LST has data: an optical scene of the same area "
              "with no clouds or gaps over it")


class GuidanceMissesLst(InputError):
    """A guidance with no data over any of the LST's valid pixels (its footprint holds only the
    LST's nodata part, or it is nodata wherever the LST has data): the scene is an ``error``
    with ``lst_covered_fraction`` 0.0, not ``empty`` (exit 3 says "no data", and a pipeline
    would set aside a scene that has data)."""


def guidance_misses_lst(lst: Path, guidance: Path, scale: int | None, decoding: LstDecoding,
                        named: Path | None = None) -> GuidanceMissesLst | None:
    """The refusal of ``guidance`` (``named`` as the user gave it: not ``--align``'s copy) for
    an ``lst`` with valid pixels, none of them with data in any guidance band; None otherwise (an
    LST with no valid pixel anywhere is empty; one band without data is that band's fault)."""
    covered, inside, total, by_band = _valid_pixels(lst, guidance, scale, decoding)
    if covered or not total:
        return None
    name = display_name(named or guidance)
    if 0 in by_band and any(by_band):  # a band without data where others have: named where it is read
        return None  # (--fit's refusal, or the empty output's "guidance band(s) X", whether the model reads it)
    said = (f"none of the LST's {total:,} valid pixels lie inside the guidance {name}: it covers only the "
            "LST's nodata part" if not inside else
            f"none of the LST's {total:,} valid pixels has data in every band of the guidance {name}: its "
            "bands' gaps together cover all of the LST's data" if any(by_band) else
            f"none of the LST's {total:,} valid pixels has guidance data: the guidance {name} is nodata "
            "wherever the LST has data")
    return GuidanceMissesLst(display_name(lst), said, COVER_HINT)


def _valid_pixels(lst: Path, guidance: Path, scale: int | None,
                  decoding: LstDecoding) -> tuple[int, int, int, list[int]]:
    """``lst``'s valid pixels with data in every guidance band, inside the footprint it shares
    with ``guidance``, in all, and with data in each guidance band
    (:func:`~pipelines.downscale.lst_pixels_with_guidance`: the whole guidance is read, so
    only a refusal asks). The LST outside the footprint is read only where it leaves part of
    the grid out; values the footprint's scan would refuse there count by grid pixels."""
    with streaming_gdal_env(), ExitStack() as stack:  # GDAL's default cache grows with the guidance read
        inputs = SceneSources.open(stack, lst, guidance)
        grids = pair_grids(Grid.of(inputs.lst), Grid.of(inputs.guidance), scale=scale,
                           lst_path=lst, guidance_path=guidance)
        covered, inside, by_band = lst_pixels_with_guidance(inputs, grids, decoding)
        window, whole = grids.lr_window, Window(0, 0, inputs.lst.width, inputs.lst.height)
        if (window.width, window.height) == (whole.width, whole.height):
            return covered, inside, inside, by_band
        try:
            total = scan(inputs.lst, whole, decoding, lst).valid
        except InputError:
            total = inside + int(whole.width * whole.height - window.width * window.height)
    return covered, inside, total, by_band


def finished_meanwhile(path: Path, skip_existing: bool) -> bool:
    """Whether ``--skip-existing`` skips a scene refused because its output exists
    (:class:`~pipelines.atomic.OutputExists`) although the first look found none: another run
    finished it meanwhile."""
    try:
        return skip_existing and finished_output(path)
    except InputError:  # not a readable GeoTIFF: not a finished scene
        return False


def _seconds_since(start: float) -> float:
    return round(time.perf_counter() - start, 3)


def _ended(job: SceneJob, start: float, status: str, error: str | None = None) -> SceneReport:
    """The report of a scene that wrote nothing, with the time it took (a failed scene's
    ``seconds`` said 0.0 however long it had run)."""
    return SceneReport(display_name(job.lst), str(job.output), status=status, seconds=_seconds_since(start),
                       error=error)


# A finished downscaled scene: the single band "lst" pipelines.downscale writes, any generator.
DOWNSCALED = FinishedKind("a downscaled scene", "finished scene", ("lst",))


def finished_output(path: Path) -> bool:
    """Whether ``path`` holds a finished scene, which ``--skip-existing`` skips: a georeferenced
    GeoTIFF with a downscaled scene's band whose first and last blocks can be read. Anything
    else there (0 bytes, another format, a copy cut short, a GeoTIFF with no CRS) is an
    :class:`InputError` (:func:`~pipelines.finished_outputs.finished_as`)."""
    return finished_as(path, DOWNSCALED)


def _failure(exc: Exception, path: Path, debug: bool) -> tuple[str, str]:
    """A scene's status and error for ``exc``: ``error`` for bad input or the environment (a
    full disk about ``path``), else ``failed`` (a bug, with the traceback under ``debug``)."""
    if isinstance(exc, InputError):
        return "error", str(exc)
    mapped = environment_error(exc, path)
    if mapped is not None:
        return "error", str(mapped)
    detail = traceback.format_exc() if debug else f"{type(exc).__name__}: {exc}"
    return "failed", f"internal error: {detail}"


def _with_quicklook(report: SceneReport, job: SceneJob, overwrite: bool, debug: bool) -> SceneReport:
    """``report`` once the job's quick look is drawn. A PNG that cannot be written (a full disk)
    makes the scene an ``error`` naming the PNG and the GeoTIFF, complete and kept unless
    something removed it meanwhile (:func:`_geotiff_left`):
    the scene's one report (its --json line, the exit status) says whether everything asked
    for was written, and keeps the output's keys; a drawn PNG is named in ``extra["quicklook"]``."""
    if job.quicklook is None:
        return report
    try:
        write_quicklook(job.output, job.quicklook, lst_path=job.lst, overwrite=overwrite)
    except Exception as exc:  # noqa: BLE001 - the scene's report says it; the run goes on
        status, error = _failure(exc, job.quicklook, debug)
        return replace(report, status=status, error=f"{error}; {_geotiff_left(job)}")
    report.extra["quicklook"] = str(job.quicklook)  # the --json line names it: scripts read stdout only
    return report


def _geotiff_left(job: SceneJob) -> str:
    """What a failed quick look left of the scene's GeoTIFF: kept, with the command that draws
    the PNG from it, or gone (QA: "written and kept" was said of one removed with its folder)."""
    if job.output.exists():
        redraw = f"groklst quicklook {shlex.quote(unmistakable_path(job.output))} -o " \
                 f"{shlex.quote(unmistakable_path(job.quicklook))}"  # pasted as it is ('o $HOME.tif', -o.tif)
        return f"the GeoTIFF {job.output} was written and kept ({redraw} draws the PNG)"
    gone = "with its folder" if not job.output.parent.exists() else "after it was written"
    return f"the GeoTIFF {job.output} was removed {gone}: run the scene again"


@contextmanager
def _published_unless_stopped(job: SceneJob, source: ModelSource, options: DownscaleOptions,
                              stopped: Callable[[], bool]) -> Iterator[Path]:
    """A hidden name beside ``job.output`` for the scene to be written to; renamed onto
    ``job.output`` when the block succeeds and ``stopped()`` says no, right before the rename.

    (:func:`~pipelines.downscale.downscale_scene` publishes when it is done; writing it to this
    temporary name puts the last check between its end and the rename.) Its own temporaries
    beside the hidden name, ``..NAME.XXXXXXXX.partial.XXXXXXXX.partial``, that a killed
    worker left are removed a day later with the output's (:mod:`pipelines.atomic`).
    """
    def check(_: Path) -> None:
        if stopped():
            raise SceneStopped()

    output = job.output
    protected = [*job.inputs(), *([source.checkpoint_path] if source.checkpoint_path else [])]
    with atomic_output(output, options.overwrite, inputs=protected, check=check) as staged:
        yield staged


def _checking(on_progress: Callable[[int, int], None] | None,
              stopped: Callable[[], bool]) -> Callable[[int, int], None]:
    """``on_progress`` that also raises :class:`SceneStopped` when ``stopped()`` (asked at
    most every :data:`STOP_POLL_S`)."""
    asked = time.monotonic()

    def progress(done: int, total: int) -> None:
        nonlocal asked
        if on_progress is not None:
            on_progress(done, total)
        if time.monotonic() - asked >= STOP_POLL_S:
            asked = time.monotonic()
            if stopped():
                raise SceneStopped()

    return progress


def run_local(
    jobs: Iterable[SceneJob], source: ModelSource, options: DownscaleOptions, **kwargs
) -> Iterator[SceneReport]:
    """Scenes one after another in this process."""
    for job in jobs:
        yield run_job(job, source, options, **kwargs)


@contextmanager
def dask_client(scheduler: str, *, workers: bool = True) -> Iterator[Client]:
    """A client of the dask.distributed scheduler at ``scheduler`` for :func:`run_dask`, closed
    on leaving; with ``workers``, once the scheduler has a worker.

    To be made before anything slow (loading the model), so that a bad address fails at once. An
    address that is none, an in-process one (``inproc://``, which only the process that
    started that scheduler can reach), one that nothing answers within
    :data:`CONNECT_TIMEOUT_S`, one where something else answers, or a scheduler with no worker
    within :data:`WORKER_WAIT_S` is an :class:`InputError` naming ``--dask-scheduler``.
    distributed's own log lines are silenced meanwhile (:func:`_distributed_quiet`).
    """
    with _distributed_quiet(), _connect(scheduler) as client:
        if workers:
            _wait_for_workers(client, scheduler)
        yield client


_quiet_lock = threading.Lock()
_quiet_runs = 0  # the runs in this process inside _distributed_quiet
_quiet_levels: dict[str, int] = {}  # distributed's loggers' levels before the first of them


@contextmanager
def _distributed_quiet() -> Iterator[None]:
    """distributed's own log lines silenced in the block (restored after): a lost scheduler
    printed raw ``distributed.client - ERROR - Failed to reconnect`` lines and tracebacks,
    where groklst already says what happened in the scene's own one-line error.

    Loggers are process-wide: runs side by side in threads share one silence, counted, and the
    levels come back when the last of them ends (each restoring its own restored them early,
    and one that started within another's silence kept it for good)."""
    import distributed  # noqa: F401 - importing it sets its loggers' levels, which are set here after

    global _quiet_runs
    with _quiet_lock:
        _quiet_runs += 1
        _silence_distributed()
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_runs -= 1
            if not _quiet_runs:
                for name, level in _quiet_levels.items():
                    logging.getLogger(name).setLevel(level)
                _quiet_levels.clear()


def _silence_distributed() -> None:
    """Silence distributed's loggers, keeping in :data:`_quiet_levels` the level of each not yet
    silenced (one made since the last run started, too)."""
    names = ["distributed", *(name for name in list(logging.Logger.manager.loggerDict)
                              if name.startswith("distributed."))]
    for name in names:
        logger = logging.getLogger(name)
        _quiet_levels.setdefault(name, logger.level)
        logger.setLevel(logging.CRITICAL + 1)


def run_dask(
    jobs: Iterable[SceneJob],
    source: ModelSource,
    options: DownscaleOptions,
    client: Client,
    *,
    late: Callable[[SceneReport], None],
    skip_existing: bool = False,
) -> Iterator[SceneReport]:
    """Scenes as tasks on the scheduler of ``client`` (:func:`dask_client`), yielded as they finish.

    Workers need the same files at the same paths (a shared file system) and groklst installed.
    Relative paths are made absolute here (a worker's current folder is its own); reports, and
    the warnings each scene raised on its worker (raised again here before its report), name
    the paths as given. When the caller stops (Ctrl-C, SIGTERM, any exception, or closing this
    generator), queued scenes are cancelled and running ones stop without publishing their
    output (:func:`_stop`); close it before ``client``. Every scene whose outcome came back
    before its task stopped (written, skipped, empty, an error or a failure) and was not yet
    reported (the caller had not asked for the next report since it was yielded: it may have
    been said) is given to ``late``, in the order given, with its warnings raised again first
    (once); the scenes the stop ended are not reported, as a stopped local run does not.
    """
    jobs = list(jobs)
    sent = [_absolute_job(job) for job in jobs]
    source = _absolute_source(source)
    from dask.distributed import Event, as_completed

    stop = Event(f"groklst-stop-{uuid.uuid4().hex}", client=client)
    sent_at = time.perf_counter()
    said = said_so_far()  # the client's header checks of the scenes' files: not said again on a worker
    futures = {
        client.submit(_scene_task, job, source, options, stop.name, skip_existing,
                      _said_as_sent(said, jobs[i], job), pure=False): i
        for i, job in enumerate(sent)
    }
    pending = set(futures)
    registry: dict = {}  # of the warnings shown: a library's once per run, as once per process locally
    warned: set = set()  # the futures whose warnings were raised again here

    def outcome(future) -> tuple[SceneReport, list[_Caught]]:
        return _task_outcome(future, sent[futures[future]], sent_at)

    def given(future, report: SceneReport, caught: list[_Caught]) -> SceneReport:
        """The scene's report named as given, once its warnings were raised again (the first time)."""
        i = futures[future]
        if future not in warned:
            warned.add(future)  # first: a stop in the middle loses a warning rather than repeats one
            _warn_again(caught, jobs[i], sent[i], registry)
        return _as_given(report, jobs[i], sent[i])

    try:
        for future in as_completed(futures):
            yield given(future, *outcome(future))
            pending.discard(future)  # the caller asked for the next: this one was reported
    finally:
        if pending:
            ended = _stop(client, stop, pending, outcome)
            reports = (given(future, *ended[future]) for future in sorted(ended, key=futures.__getitem__))
            _give_each([report for report in reports if report.status != "stopped"], late)


def _give_each(reports: list[SceneReport], late: Callable[[SceneReport], None]) -> None:
    """``late(report)`` for every report, even after one raised (a closed stdout: each later
    scene still has its say on stderr and in the exit status); the first error is raised last."""
    failure = None
    for report in reports:
        try:
            late(report)
        except Exception as exc:  # noqa: BLE001 - raised once every report was given
            failure = failure or exc
    if failure is not None:
        raise failure


@dataclass(frozen=True)
class _Caught:
    """A warning a scene raised on its worker, to be raised again on the client."""

    text: str
    category: type[Warning]
    filename: str
    lineno: int


def _task_outcome(future, job: SceneJob, sent_at: float) -> tuple[SceneReport, list[_Caught]]:
    """The scene's report and warnings; a task that did not return them (its worker died:
    dask's ``KilledWorker``; the scheduler was lost) is that scene's failure, and the other
    scenes go on. Its ``seconds`` count from when the run was sent (when the task started on
    the cluster is not known here), and its error is one line."""
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - run_job reports its own errors: this is the cluster
        return SceneReport(display_name(job.lst), str(job.output), status="failed", seconds=_seconds_since(sent_at),
                           error=_task_error(exc, job)), []


def _task_error(exc: Exception, job: SceneJob) -> str:
    """The one-line error of a scene whose task did not finish: for a worker that died under it
    (dask's ``KilledWorker``, whose own text is five sentences and a link) the scene and a hint
    to check the workers' memory, the usual cause; else dask's exception as it is."""
    from distributed.scheduler import KilledWorker

    if not isinstance(exc, KilledWorker):
        return f"the dask task did not finish ({type(exc).__name__}: {_one_line(exc)})"
    tried = exc.allowed_failures + 1
    return (f"{display_name(job.lst)}: the dask worker running this scene died ({tried} worker(s) tried it; "
            f"KilledWorker) (hint: {KILLED_WORKER_HINT})")


def _warn_again(caught: list[_Caught], given: SceneJob, sent: SceneJob, registry: dict) -> None:
    """Raise here the warnings a scene raised on its worker, its paths named as given, as a
    local run's warnings name them (``registry`` keeps the run's record of those shown)."""
    for warning in caught:
        warnings.warn_explicit(_named_as_given(warning.text, given, sent), warning.category,
                               warning.filename, warning.lineno, registry=registry)


def _said_as_sent(said: frozenset[str], given: SceneJob, sent: SceneJob) -> frozenset[str]:
    """What the client said (:func:`~pipelines.errors.said_so_far`), each thing said of one of
    the scene's files (its key ends with the file's name, ``lossy x_lst.tif``) named as the
    worker opens the file (``sent``'s absolute path)."""
    renamed = {f" {typed}": f" {absolute}" for typed, absolute in zip(given.inputs(), sent.inputs())
               if typed != absolute}
    return frozenset(next((key[:-len(typed)] + absolute for typed, absolute in renamed.items()
                           if key.endswith(typed)), key) for key in said)


def _scene_task(job: SceneJob, source: ModelSource, options: DownscaleOptions, stop: str,
                skip_existing: bool, said: frozenset[str] = frozenset()) -> tuple[SceneReport, list[_Caught]]:
    """One scene on a dask worker, with the warnings it raised (a worker's warnings go to its
    own log, which the user does not see); it stops when the run's event ``stop`` is set or
    the scheduler cancelled it. It starts with what the client ``said`` (a JPEG LST's warning
    from the client's header check: said once, as a local run says it). An ``--align`` copy made
    here is named as its guidance in both (only this process knows the copy's name)."""
    with _warnings_kept() as caught, one_run(said):
        report = run_job(job, source, options, skip_existing=skip_existing, stopped=_RunStopped(stop))
    error = report.error and named_as_guidance(report.error)
    return replace(report, error=error), [replace(c, text=named_as_guidance(c.text)) for c in caught]


_keeping = threading.local()  # .warnings: where the scene running in this thread keeps its warnings
_hook_lock = threading.Lock()


@contextmanager
def _warnings_kept() -> Iterator[list[_Caught]]:
    """The warnings this thread raises in the block, kept instead of shown; each
    :class:`GroklstWarning` every time, as the CLI shows them (others once per place, as
    Python's default filter says).

    Not ``warnings.catch_warnings``: it swaps process-wide state, so scenes run side by side
    in a worker's threads would take, or lose, each other's warnings. Warnings a library
    raises in a thread the scene started (the tile reader's) are not kept; groklst raises its
    own in the scene's thread.
    """
    with _hook_lock:
        if not getattr(warnings.showwarning, "keeps_warnings", False):
            warnings.filterwarnings("always", category=GroklstWarning)
            warnings.showwarning = _keeping_showwarning(warnings.showwarning)
    _keeping.warnings = kept = []
    try:
        yield kept
    finally:
        _keeping.warnings = None


def _keeping_showwarning(show: Callable) -> Callable:
    """``warnings.showwarning`` that keeps the warnings of a thread in :func:`_warnings_kept`
    and hands the others to ``show``."""
    def keep_or_show(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
        kept = getattr(_keeping, "warnings", None)
        if kept is None:
            show(message, category, filename, lineno, file, line)
        else:
            kept.append(_Caught(str(message), category, filename, lineno))

    keep_or_show.keeps_warnings = True
    return keep_or_show


class _RunStopped:
    """Whether a task's run was stopped: its client set the run's event, or the scheduler
    cancelled the task (its client cancelled it or went away; dask still runs a task it
    cancelled to its end, and only drops its result). Once stopped, always stopped: the client
    clears the event once the scenes it saw running ended, and a scene it did not see (sent
    to its worker as it looked) may be told "stop" by the event before the cancel reaches its
    worker; a later look would say "go on" in between."""

    def __init__(self, event: str):
        self.event = event
        self.said = False

    def __call__(self) -> bool:
        from dask.distributed import Event

        if not self.said:
            self.said = _task_cancelled() or Event(self.event).is_set()
        return self.said


def _task_cancelled() -> bool:
    """Whether the dask task running in this thread was cancelled (False outside a task, and
    when the worker's state cannot be read: the run's event is the check to rely on)."""
    try:
        from distributed import get_worker
        from distributed.worker import thread_state

        task = get_worker().state.tasks.get(thread_state.key)
    except (ImportError, AttributeError, ValueError):
        return False
    return task is not None and task.state == "cancelled"


def _connect(scheduler: str):
    """A client of the scheduler at ``scheduler``; an :class:`InputError` naming
    ``--dask-scheduler`` when it is no address, a web address (a dashboard's URL), another
    process's ``inproc://`` address, its host is not known, nothing answers within
    :data:`CONNECT_TIMEOUT_S`, or something other than a dask scheduler answers
    (:func:`_check_a_scheduler_answers`)."""
    from dask.distributed import Client

    try:
        _check_a_scheduler_answers(scheduler)
        return Client(scheduler, timeout=CONNECT_TIMEOUT_S)
    except _UnknownHost as exc:
        raise InputError("--dask-scheduler", f"{scheduler}: the host {exc.host!r} is not known", ADDRESS_HINT) from exc
    except _NotDask as exc:
        raise _http_refusal(scheduler) or InputError(
            "--dask-scheduler", f"{scheduler}: no dask scheduler answers there ({exc})", OTHER_SERVICE_HINT) from exc
    except _NoConnection as exc:
        raise InputError("--dask-scheduler", f"{scheduler}: cannot connect from here ({exc})",
                         "check the client's dask security settings (distributed.comm.tls and "
                         "require-encryption in dask's config, or DASK_DISTRIBUTED__COMM__* variables), "
                         f"or {ADDRESS_HINT}") from exc
    except (ValueError, TypeError) as exc:
        if scheduler.lower().startswith("inproc://"):  # another process's, or none
            raise InputError("--dask-scheduler", f"{scheduler} is an in-process address, which only the "
                             "process that started its scheduler can reach, not a command line",
                             IN_PROCESS_HINT) from exc
        raise _web_address_refusal(scheduler) or InputError("--dask-scheduler", f"{scheduler!r} is not a dask scheduler address ({_first_line(exc)})",
                         f"{ADDRESS_HINT}; without --dask-scheduler the scenes run here") from exc
    except OSError as exc:  # refused, unknown host, timed out: distributed retries until the timeout
        raise _http_refusal(scheduler) or _unanswered(scheduler) from exc


def _unanswered(scheduler: str) -> InputError:
    """The refusal of an address no dask scheduler answered within :data:`CONNECT_TIMEOUT_S`:
    "nothing listens" where the port refuses a connection (said as a wait for an answer, the
    user looked for a slow scheduler where none runs), else the wait."""
    hint = f"start one (dask scheduler) or {ADDRESS_HINT}"
    if _refuses_connections(scheduler):
        return InputError("--dask-scheduler", f"nothing listens at {scheduler} (connection refused)", hint)
    return InputError("--dask-scheduler", f"no dask scheduler answered at {scheduler} within {CONNECT_TIMEOUT_S} s",
                      hint)


def _refuses_connections(scheduler: str) -> bool:
    """Whether a ``tcp://`` address's port refuses a connection (nothing listens there) now."""
    from distributed.comm.addressing import get_address_host_port, parse_address

    if parse_address(scheduler)[0] != "tcp":
        return False
    try:
        socket.create_connection(get_address_host_port(scheduler), timeout=HTTP_PROBE_S).close()
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    return False


def _http_refusal(scheduler: str) -> InputError | None:
    """The refusal of a ``tcp://`` address where an HTTP server answers (the scheduler's
    dashboard, 8787, given for the scheduler: it waits for a request, so the identity check
    only timed out, and "start one (dask scheduler)" told someone who has one to start one);
    None where none answers within :data:`HTTP_PROBE_S`."""
    from distributed.comm.addressing import get_address_host_port, parse_address

    if parse_address(scheduler)[0] != "tcp":
        return None
    host, port = get_address_host_port(scheduler)
    if not _answers_http(host, port):
        return None
    return _dashboard_refusal(scheduler, host, "an HTTP server")


def _web_address_refusal(scheduler: str) -> InputError | None:
    """The refusal of an ``http://`` or ``https://`` address (the dashboard's URL, pasted from
    the browser: it was "not a dask scheduler address", naming dask's known schemes), in the
    words of :func:`_http_refusal`; None for any other scheme."""
    from urllib.parse import urlsplit

    parts = urlsplit(scheduler)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return _dashboard_refusal(scheduler, parts.hostname, "a web address")


def _dashboard_refusal(scheduler: str, host: str, what: str) -> InputError:
    """``scheduler`` is ``what`` (a web address, an HTTP server): a dask dashboard's, most
    likely; the hint gives the scheduler's usual address on ``host``."""
    from distributed.comm.addressing import unparse_host_port

    return InputError("--dask-scheduler", f"{scheduler}: that is {what} (a dask dashboard?); the "
                      "scheduler listens on another port, usually 8786",
                      f"give the address dask scheduler prints, such as tcp://{unparse_host_port(host, 8786)}")


def _answers_http(host: str, port: int) -> bool:
    """Whether an HTTP server answers a ``HEAD /`` at ``host``:``port`` within :data:`HTTP_PROBE_S`."""
    try:
        with socket.create_connection((host, port), timeout=HTTP_PROBE_S) as conn:
            conn.sendall(b"HEAD / HTTP/1.0\r\n\r\n")
            with conn.makefile("rb") as reply:
                return reply.read(5) == b"HTTP/"
    except OSError:
        return False


class _NotDask(Exception):
    """What answers at a --dask-scheduler address is not a dask scheduler."""


class _NoConnection(Exception):
    """This client cannot even try the address: its TLS or encryption settings do not fit it."""


class _UnknownHost(Exception):
    """The host of a --dask-scheduler address does not resolve."""

    def __init__(self, host: str):
        super().__init__(host)
        self.host = host


def _check_host_resolves(scheduler: str) -> None:
    """Look up the host of a ``tcp://`` or ``tls://`` address once: an :class:`_UnknownHost`
    if it does not resolve. distributed retried the lookup until :data:`CONNECT_TIMEOUT_S`, and
    the probes after it (:func:`_http_refusal`, :func:`_unanswered`) looked it up twice more,
    each as slow as the DNS. A ``ValueError`` for no address, as :func:`_identity`'s."""
    from distributed.comm.addressing import get_address_host_port, parse_address

    if parse_address(scheduler)[0] not in ("tcp", "tls"):
        return
    host, _ = get_address_host_port(scheduler)
    try:
        socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError) as exc:
        raise _UnknownHost(host) from exc


def _check_a_scheduler_answers(scheduler: str) -> None:
    """Raise unless a dask scheduler answers at ``scheduler`` within :data:`CONNECT_TIMEOUT_S`,
    handshake and all: ``Client(timeout=)`` bounds only the TCP connect, so a listener that
    never answers (an HTTP server, a dashboard port) hung for good, and one that speaks first
    (an SSH banner) was read as a message of exabytes (``MemoryError``).

    ``TimeoutError`` (an ``OSError``) when nothing answers in time, ``ValueError`` for no
    address, :class:`_UnknownHost` for a host that does not resolve, :class:`_NotDask` when
    something else answers. An ``inproc://`` address is left
    to ``Client``: only a scheduler in this process answers it, at once, or none does."""
    if scheduler.lower().startswith("inproc://"):
        return
    _check_host_resolves(scheduler)

    def check() -> None:
        asyncio.run(asyncio.wait_for(_identity(scheduler), CONNECT_TIMEOUT_S))

    try:
        asyncio.get_running_loop()
    except RuntimeError:  # the usual case: no event loop runs in this thread
        check()
        return
    # called from a running loop (a notebook cell): asyncio.run cannot nest, so a thread runs it
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(check).result()


async def _identity(scheduler: str) -> None:
    """Connect to ``scheduler`` and ask who it is (dask's ``identity``): a :class:`_NotDask`
    unless a scheduler says so. A refused or closed connection stays an ``OSError``, an address
    that is none a ``ValueError`` (checked before connecting: then a ``ValueError`` is data)."""
    from distributed import Security
    from distributed.comm import connect
    from distributed.comm.addressing import get_address_host_port

    get_address_host_port(scheduler)
    security = Security().get_connection_args("client")  # dask's config (TLS), as the Client's
    try:
        comm = await connect(scheduler, timeout=CONNECT_TIMEOUT_S, **security)
        try:
            await comm.write({"op": "identity", "reply": True})
            reply = await comm.read()
        finally:
            comm.abort()
    except OSError:
        raise
    except (TypeError, RuntimeError) as exc:  # before a byte is sent: tls:// without a context, encryption required
        raise _NoConnection(_first_line(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - bytes that are no dask message: MemoryError, msgpack's
        raise _NotDask("another service answered, not in dask's protocol") from exc
    kind = reply.get("type") if isinstance(reply, dict) else None
    if kind != "Scheduler":
        raise _NotDask(f"a dask {kind} answered, not a scheduler" if kind else "another service answered")


def _wait_for_workers(client, scheduler: str) -> None:
    """Wait up to :data:`WORKER_WAIT_S` for the scheduler's first worker (saying so after a
    moment); an :class:`InputError` if none comes."""
    for waited, wait in ((0, WORKER_WAIT_QUIET_S), (WORKER_WAIT_QUIET_S, WORKER_WAIT_S - WORKER_WAIT_QUIET_S)):
        if waited:
            warnings.warn(f"the dask scheduler at {scheduler} has no worker yet; waiting up to "
                          f"{WORKER_WAIT_S} s for one", GroklstWarning, stacklevel=2)
        try:
            client.wait_for_workers(1, timeout=max(wait, 0.001))
            return
        except TimeoutError:
            pass
    raise InputError("--dask-scheduler", f"the dask scheduler at {scheduler} has no worker (waited "
                     f"{WORKER_WAIT_S} s)", f"start workers with: dask worker {scheduler}")


_ENDED = ("finished", "error")  # a future's status once its task's report or error came back
_ENDED_ON_SCHEDULER = ("memory", "erred")  # a task's state once its report or error is on the cluster


def _stop(client, stop, pending: set, outcome: Callable[..., tuple[SceneReport, list[_Caught]]]) -> dict:
    """Stop a run whose ``pending`` futures were not reported: set its event (running scenes
    stop at their next check and publish nothing), cancel the scenes not started, and wait up
    to :data:`STOP_WAIT_S` for the running ones to end, so that their temporaries are gone.
    Returns, by future, the ``outcome`` of each whose task's report or error came back: those
    that had ended before the stop and those that ended during the wait (some stopped by it),
    taken before the run's futures are cancelled (which drops their results); scenes still
    running after the wait are warned about. Which tasks ended, run or wait is asked of the
    scheduler: this client hears of a finished task a moment after the scheduler knows, and a
    scene that ended in that moment was taken for one not started, cancelled and its report
    lost (CI, 1 run in ~100)."""
    from dask.distributed import wait

    try:
        stop.set()
        states = client.sync(client.scheduler.get_task_status, keys=[f.key for f in pending])
        ended = [f for f in pending if f.status in _ENDED or states.get(f.key) in _ENDED_ON_SCHEDULER]
        started = [f for f in pending if states.get(f.key) == "processing" and f not in ended]
        client.cancel([f for f in pending if f not in ended and f not in started], force=True)
    except Exception as exc:  # noqa: BLE001 - the scheduler is gone: so are the run's results
        warnings.warn(f"could not stop the run's scenes on the dask cluster: {_first_line(exc)}",
                      GroklstWarning, stacklevel=2)
        return {}
    try:
        wait(ended + started, timeout=STOP_WAIT_S)  # an ended one: until this client hears of it
    except TimeoutError:
        pass
    outcomes = {f: outcome(f) for f in ended + started if f.done() and f.status != "cancelled"}
    left = [f for f in started if not f.done()]
    if left:
        warnings.warn(f"{len(left)} scene(s) still running on the cluster did not stop within {STOP_WAIT_S} s; "
                      "they stop at their next tile batch and write nothing", GroklstWarning, stacklevel=2)
    else:
        stop.clear()  # the scheduler keeps a set event until it is cleared
    client.cancel(list(pending), force=True)
    return outcomes


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _one_line(exc: BaseException) -> str:
    """``exc``'s whole message on one line (dask's span lines: the first alone says too little)."""
    return " ".join(str(exc).split()) or type(exc).__name__


# ``/vsizip/a.zip/x.tif``: an archive named relative to the current folder
_RELATIVE_ARCHIVE = re.compile(r"^(/vsi(?:zip|tar|gzip|7z|rar)/)(?![/{])(.+)$")
_DRIVER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*:")


def _absolute(path: Path | None) -> Path | None:
    """``path`` as a worker in another folder must name it: a relative path joined to this
    process's folder (not normalised: ``..`` after a link means what it meant here); a GDAL
    name with a relative archive or file in it (``/vsizip/a.zip/x.tif``, ``NETCDF:a.nc:LST``)
    with that part made absolute; anything else (absolute, remote) as it is."""
    if path is None:
        return None
    name = gdal_name(path)
    if name is None:
        return path if path.is_absolute() else Path.cwd() / path
    archive = _RELATIVE_ARCHIVE.match(name)
    if archive:
        return Path(f"{archive.group(1)}/{Path.cwd() / archive.group(2)}")
    if _DRIVER.match(name):  # the file is one or more ':'-separated parts after the driver
        parts = name.split(":")
        for start in range(1, len(parts)):
            for end in range(len(parts), start, -1):
                file = ":".join(parts[start:end])
                quote = '"' if len(file) > 1 and file[0] == file[-1] == '"' else ""
                bare = file[1:-1] if quote else file
                if bare and not os.path.isabs(bare) and Path(bare).is_file():
                    whole = f"{quote}{Path.cwd() / bare}{quote}"
                    return Path(":".join([*parts[:start], whole, *parts[end:]]))
    return path


def _absolute_job(job: SceneJob) -> SceneJob:
    return replace(job, lst=_absolute(job.lst), output=_absolute(job.output), guidance=_absolute(job.guidance),
                   quicklook=_absolute(job.quicklook))


def _absolute_source(source: ModelSource) -> ModelSource:
    """``source`` with its checkpoint's path absolute (the worker hashes it for the tags)."""
    if source.checkpoint_path is None or os.path.isabs(source.checkpoint_path):
        return source
    moved = copy.copy(source)
    moved.checkpoint_path = str(Path.cwd() / source.checkpoint_path)
    return moved


def _as_given(report: SceneReport, given: SceneJob, sent: SceneJob) -> SceneReport:
    """A worker's report with the scene's paths named as the user gave them, as a local run
    names them (its input and output, and these paths in its error)."""
    error = report.error and _named_as_given(report.error, given, sent)
    return replace(report, input=display_name(given.lst), output=str(given.output), error=error)


def _named_as_given(text: str, given: SceneJob, sent: SceneJob) -> str:
    """``text`` from a worker with the scene's absolute paths (``sent``) named as given."""
    renamed = {}
    for absolute, typed in zip([sent.output, sent.quicklook, *sent.inputs()],
                               [given.output, given.quicklook, *given.inputs()]):
        if absolute is not None and absolute != typed:
            for form in {str(absolute), display_name(absolute)}:
                renamed[form] = display_name(typed)
    for absolute in sorted(renamed, key=len, reverse=True):  # a path before its prefixes
        text = re.sub(re.escape(absolute) + r"(?![\w.-])", lambda _, typed=renamed[absolute]: typed, text)
    return text
