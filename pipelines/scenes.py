"""Running the downscaler over many scenes: one failure never stops the others.

Scenes run one after another in this process, or are distributed over a dask.distributed
cluster (one task per scene). Each scene yields a :class:`SceneReport`.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

from pipelines.atomic import check_writable
from pipelines.downscale import DownscaleOptions, SceneReport, downscale_scene, guidance_beside
from pipelines.errors import EmptySceneError, InputError, environment_error
from pipelines.geotiff import check_geotiff_name
from pipelines.infer import ModelSource
from pipelines.raster_names import display_name, raster_stem
from pipelines.scene_align import aligned_guidance


@dataclass(frozen=True)
class SceneJob:
    """One scene to downscale."""

    lst: Path
    output: Path
    guidance: Path | None = None
    guided: bool = True  # False: interpolation onto the refined LST grid (--scale), no guidance
    align: bool = False  # resample ``guidance`` onto the LST's grid first (--align)

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
        key = job.output.resolve()
        if key in seen:
            raise InputError(job.output, f"both {seen[key].lst} and {job.lst} would be written here",
                             "inputs with the same name need separate runs with different --out-dir")
        seen[key] = job
    for job in jobs:
        for source in job.inputs():
            clash = seen.get(source.resolve())
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
) -> SceneReport:
    """Downscale one job, turning every failure into a report instead of an exception.

    Statuses: ``ok``; ``skipped`` (output exists, ``skip_existing``); ``empty`` (no valid
    pixel, nothing written); ``error`` (bad input or environment); ``failed`` (a bug).
    ``on_grid`` gets a line on each grid decision (the alignment, the output grid).
    """
    if skip_existing and job.output.is_file():
        return SceneReport(display_name(job.lst), str(job.output), status="skipped")
    try:
        check_geotiff_name(job.output)
        check_writable(job.output, options.overwrite, inputs=job.inputs())
        start = time.perf_counter()
        with ExitStack() as stack:
            guidance = job.guidance
            if job.align:
                aligned = stack.enter_context(aligned_guidance(job.lst, job.guidance, job.output, source.scale))
                if on_grid:
                    on_grid(aligned.description)
                guidance, options = aligned.path, replace(options, tags={**options.tags, **aligned.tags})
            report = downscale_scene(
                job.lst, job.output, source, guidance_path=guidance, options=options,
                on_progress=on_progress, on_grid=on_grid,
            )
        report.seconds = round(time.perf_counter() - start, 3)  # with the alignment
        return report
    except EmptySceneError as exc:
        return SceneReport(display_name(job.lst), str(job.output), status="empty", error=str(exc))
    except InputError as exc:
        return SceneReport(display_name(job.lst), str(job.output), status="error", error=str(exc))
    except Exception as exc:  # noqa: BLE001 - reported per scene; the run goes on
        mapped = environment_error(exc, job.output)
        if mapped is not None:
            return SceneReport(display_name(job.lst), str(job.output), status="error", error=str(mapped))
        detail = traceback.format_exc() if debug else f"{type(exc).__name__}: {exc}"
        return SceneReport(
            display_name(job.lst), str(job.output), status="failed", error=f"internal error: {detail}"
        )


def run_local(
    jobs: Iterable[SceneJob], source: ModelSource, options: DownscaleOptions, **kwargs
) -> Iterator[SceneReport]:
    """Scenes one after another in this process."""
    for job in jobs:
        yield run_job(job, source, options, **kwargs)


def run_dask(
    jobs: Iterable[SceneJob],
    source: ModelSource,
    options: DownscaleOptions,
    scheduler: str,
    *,
    skip_existing: bool = False,
) -> Iterator[SceneReport]:
    """Scenes as tasks on the dask.distributed scheduler at ``scheduler``, yielded as they finish.

    Workers need the same files at the same paths (a shared file system) and groklst installed.
    """
    from dask.distributed import Client, as_completed

    with Client(scheduler) as client:
        futures = [
            client.submit(run_job, job, source, options, skip_existing=skip_existing, pure=False)
            for job in jobs
        ]
        for future in as_completed(futures):
            yield future.result()
