"""``downscale --fit``: fit candidate methods on the scene, then downscale with the choice."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from groklst_cli.commands._downscale_products import skipped_quicklook
from groklst_cli.commands._scene_reports import exit_status, say, typed_name, unsaved_checkpoint
from groklst_cli.console import info, info_lines, progress, state, warn
from groklst_cli.interrupts import reported_once_published
from groklst_cli.path_options import file_to_write
from pipelines.errors import EmptySceneError, InputError
from pipelines.fit_options import FitOptions
from pipelines.psf_shape import Psf
from pipelines.units import Units

if TYPE_CHECKING:
    from pipelines.downscale import DownscaleOptions, SceneReport
    from pipelines.infer import Execution, ModelSource
    from pipelines.scene_fit import SceneFit
    from pipelines.scenes import SceneJob

FALLBACKS = ("none", "bicubic")
# downscale's ``--save-checkpoint`` parser: ``''`` (pathlib's ``.``) and a folder were refused by the
# output check as ``.: is a folder``, hinting at a .tif and --out-dir, neither of which applies.
save_checkpoint_name = file_to_write("name the checkpoint file, e.g. DIR/fit.pt", "--save-checkpoint")
# A thermal sensor's PSF is about one LST pixel wide (the estimate tries sigmas up to 1.5, the fit warns
# above 3); blurring costs time in proportion to the width, so a wider one is refused as a typo.
MAX_PSF_LST_PIXELS = 10


def _psf(text: str) -> Optional[Psf]:
    if text.strip().lower() == "auto":
        return None
    try:
        return Psf.parse(text)
    except ValueError as exc:
        raise InputError("--fit-psf", f"{text!r}: {exc}",
                         "use auto, SIGMA, gaussian:SIGMA, moffat:ALPHA:BETA or 0") from None


def check_psf_width(psf: Optional[Psf], scales: set[int]) -> None:
    """Refuse a ``--fit-psf`` wider than :data:`MAX_PSF_LST_PIXELS` LST pixels at the scene's
    scale (``scales``: empty when the scene is unreadable, which the fit reports itself)."""
    if psf is None or len(scales) != 1:
        return
    scale = next(iter(scales))
    limit = MAX_PSF_LST_PIXELS * scale
    if psf.width > limit:
        raise InputError("--fit-psf", f"{psf.spec} is {psf.width / scale:.3g} LST pixels wide (the width is in "
                         f"guidance pixels, {scale} per LST pixel here); at most {MAX_PSF_LST_PIXELS} LST "
                         f"pixels ({limit:g}) is taken", f"use auto, or a width up to {limit:g}")


def finite_seconds(seconds: Optional[float]) -> Optional[float]:
    """``--fit-seconds``'s typer ``callback``: an infinite cap (typer's min=0.1 refuses NaN, not
    inf) refused while the options are read, as a misspelt ``--device`` is (groklst_cli.choices):
    refused in build_fit_options it came only after torch had been imported (seconds)."""
    if seconds is not None and not math.isfinite(seconds):
        raise InputError("--fit-seconds", f"{str(seconds)!r} is not finite",
                         "give the cap in seconds, e.g. --fit-seconds 600, or drop --fit-seconds for none")
    return seconds


def build_fit_options(model: Optional[str], checkpoint: Optional[str], dask_scheduler: Optional[str],
                 jobs: list[SceneJob], iters: int, seconds: Optional[float], lr: float,
                 degradation: str, fallback: str, units: Units, seed: int, device: str,
                 candidates: str, select: str, psf: str, residual: str) -> FitOptions:
    if checkpoint is not None:
        raise InputError("--checkpoint", "give either --fit or --checkpoint, not both")
    if dask_scheduler:
        raise InputError("--dask-scheduler", "--fit runs in this process", "drop --dask-scheduler")
    if len(jobs) > 1:  # none (an empty stdin list) is nothing to do, as without --fit
        raise InputError("--fit", f"fits one scene at a time but {len(jobs)} inputs were given",
                         "run it once per scene, e.g. for f in *_lst.tif; do groklst downscale \"$f\" --fit; done")
    if fallback not in FALLBACKS:
        raise InputError("--fallback", f"unknown fallback {fallback!r}", "use none or bicubic")
    names = tuple(n.strip().lower() for n in candidates.split(",") if n.strip())
    return FitOptions(model=model, candidates=names, iters=iters, seconds=seconds, lr=lr,
                      degradation=degradation, units=units, seed=seed, device=device,
                      select=select, psf=_psf(psf), residual=residual)


def _fit(job: SceneJob, options: FitOptions, downscale: DownscaleOptions, as_json: bool) -> SceneFit:
    """The fit, on the guidance bands named as the downscale that follows names them, or the scene
    reported as an error (its JSON line names it) and exit 2, or as ``empty`` and exit 3 when the
    LST has no valid pixel, as without --fit (README)."""
    from pipelines.downscale import SceneReport, guidance_beside
    from pipelines.raster_names import display_name
    from pipelines.scene_fit import FEW_HELD_OUT_BLOCKS, describe, fit_scene
    from pipelines.scenes import GuidanceMissesLst, guidance_misses_lst

    start = time.perf_counter()  # a failed fit's line says how long it ran too
    guidance = job.guidance or guidance_beside(job.lst)
    try:
        missed = guidance_misses_lst(job.lst, guidance, None, downscale.decoding, named=job.guidance)
        if missed is not None:  # before the fit's minutes, which would end on "0 valid pixels to fit on"
            raise missed
        with progress() as bar:
            task = bar.add_task(f"fitting on {job.lst.name}", total=options.iters)
            fitted = fit_scene(job.lst, guidance, options,
                               decoding=downscale.decoding, guidance_bands=downscale.guidance_bands,
                               on_step=lambda it, _loss: bar.update(task, completed=it))
    except InputError as exc:
        report = SceneReport(display_name(job.lst), str(job.output),
                             status="empty" if isinstance(exc, EmptySceneError) else "error",
                             seconds=round(time.perf_counter() - start, 3), error=str(exc))
        if isinstance(exc, GuidanceMissesLst):
            report.extra["lst_covered_fraction"] = 0.0
        say(report, as_json)
        exit_status([report.status])
    info_lines(describe(fitted))
    if fitted.held_out_blocks < FEW_HELD_OUT_BLOCKS:
        warn(f"{typed_name(display_name(job.lst))}: the choice rests on {fitted.held_out_blocks} held-out blocks only (a "
             "small scene): a weak verdict; check it against --model bicubic on data you trust")
    return fitted


def refuse_fit_bands_before_aligning(job: SceneJob, downscale: DownscaleOptions, as_json: bool) -> None:
    """``--fit --align``: the guidance's bands refused as the fit refuses them (its scene line,
    exit 2), from the header before the guidance is aligned (minutes on a large scene, for an
    error the header tells at once); a scale it cannot give is raised as aligning raises it."""
    from pipelines.downscale import SceneReport
    from pipelines.guidance import align_scale
    from pipelines.raster_names import display_name
    from pipelines.scene_align import check_before_aligning_fit

    align_scale(job.lst, job.guidance)  # first, as aligned_guidance says it
    start = time.perf_counter()
    try:
        check_before_aligning_fit(job.guidance, downscale.guidance_bands)
    except InputError as exc:
        say(SceneReport(display_name(job.lst), str(job.output), status="error",
                        seconds=round(time.perf_counter() - start, 3), error=str(exc)), as_json)
        exit_status(["error"])


def _writes_saved_network(fitted: SceneFit) -> bool:
    """Whether the network that ``--save-checkpoint`` saves is blended into what is written
    (a blend may give it weight 0, or another method may win)."""
    return any(network.checkpoint is fitted.checkpoint for network in fitted.predictor.networks)


@dataclass
class _Saving:
    """The ``--save-checkpoint`` file while the output is written: its temporary name (None:
    nothing to save), whether to publish it, and then the path it was saved to or why not."""

    tmp: Optional[Path] = None
    publish: bool = False
    saved: Optional[Path] = None
    error: Optional[str] = None


class _Withdrawn(Exception):
    """The scene's output was not written, so neither is its network (:func:`_saved_with_output`)."""


@contextmanager
def _saved_with_output(fitted: SceneFit, path: Optional[Path], overwrite: bool, written: bool) -> Iterator[_Saving]:
    """The fitted network under a temporary name beside ``path`` for the block, renamed onto
    ``path`` when the block sets ``publish`` (its output was published) and removed otherwise,
    as on an error or interrupt: a checkpoint is never left without its output to block a rerun.
    Renaming it after the output's rename, the signal already waits (reported_once_published)."""
    saving = _Saving()
    if path is None or fitted.checkpoint is None:
        yield saving
        return
    body_done = False
    try:
        with fitted.checkpoint.staged(path, overwrite) as saving.tmp:
            yield saving
            body_done = True
            if not saving.publish:
                raise _Withdrawn()
    except _Withdrawn:
        return
    except (InputError, OSError) as exc:  # the rename: e.g. another run saved one there meanwhile
        if not body_done:
            raise
        saving.error = f"the fitted network was not saved: {exc}"
        warn(saving.error)
        return
    saving.saved = path
    unused = "" if written else " (not part of the output, which is not tagged with it)"
    info(f"saved the fitted {fitted.checkpoint.model} network to {path}{unused}")


def _fit_tags(fitted: SceneFit, fit_options: FitOptions, save_checkpoint: Optional[Path]) -> dict[str, str]:
    """What was fitted, for the output's tags; ``precision`` where a network is blended in (bf16
    and fp16 are not exact), as a checkpoint's output says. The fitted network starts from random
    weights, so there is no other checkpoint to name than the one ``--save-checkpoint`` writes."""
    saved = fitted.checkpoint is not None and save_checkpoint is not None
    network = "" if not saved else (
        f"; the network {fitted.checkpoint.model} alone is saved" if _writes_saved_network(fitted)
        else f"; the network {fitted.checkpoint.model} is saved (--save-checkpoint) but not part of this output")
    precision = fitted.predictor.precision
    return {"fit": f"fitted on this scene (groklst downscale --fit): {fitted.predictor.name}{network}",
            "fit_psf": fitted.psf.psf.spec, "fit_residual": fit_options.residual,
            **({} if precision is None else {"precision": precision})}


def _verdict(fitted: SceneFit) -> str | None:
    """Why the fit should not be written, or ``None``: it must beat plain bicubic and bicubic
    with the same residual spread (the guidance unread) on the held-out blocks."""
    name, rmse = fitted.predictor.name, fitted.fitted["rmse"]
    if not fitted.beats_bicubic:
        return f"the fit ({name}, held-out RMSE {rmse:.3f} K) did not beat bicubic ({fitted.bicubic['rmse']:.3f} K)"
    if not fitted.guidance_helps:
        return (f"the guidance does not help: the fit ({name}, held-out RMSE {rmse:.3f} K) did not beat bicubic "
                f"with the LR residual spread back ({fitted.no_guidance['rmse']:.3f} K)")
    return None


def _fallback_source(fitted: SceneFit, fit_options: FitOptions, reason: str) -> ModelSource:
    """``--fallback bicubic``: plain bicubic or bicubic with the residual spread back, whichever
    scored better on the held-out blocks; its tags say the fit was made but not written."""
    from pipelines.infer import ModelSource

    if fitted.no_guidance["rmse"] < fitted.bicubic["rmse"]:
        spread = fitted.no_guidance_predictor()
        tags = {"fit": f"not written: {reason}; {spread.name} written (--fallback bicubic)",
                "fit_residual": fit_options.residual}
        return ModelSource(fitted=spread, device=fit_options.device, extra_tags=tags)
    tags = {"fit": f"not written: {reason}; bicubic written (--fallback bicubic)"}
    return ModelSource(interpolation="bicubic", device=fit_options.device, extra_tags=tags)


def _source(fitted: SceneFit, fit_options: FitOptions, execution: Execution, fallback_reason: Optional[str],
            save_checkpoint: Optional[Path], staged: Optional[Path]) -> ModelSource:
    """What writes the output: a bicubic (the fallback, when ``fallback_reason``) or the fit, its
    networks run as ``execution`` says (they were built, and scored in fp32, before the run's
    options applied); the saved checkpoint (``staged`` until it is renamed onto ``save_checkpoint``)
    is named and hashed only where its network is in the output."""
    from pipelines.checkpoint import file_hash
    from pipelines.infer import ModelSource

    if fallback_reason is not None:
        return _fallback_source(fitted, fit_options, fallback_reason)
    fitted.predictor.run_with(execution)
    tagged = staged is not None and _writes_saved_network(fitted)
    # the tags hash the checkpoint before it is renamed into place: its temporary's bytes
    return ModelSource(fitted=fitted.predictor, checkpoint_path=save_checkpoint if tagged else None,
                       device=fit_options.device, extra_tags=_fit_tags(fitted, fit_options, save_checkpoint),
                       checkpoint_sha256=file_hash(staged) if tagged else None)


def _fallback_summary(summary: dict, fitted: SceneFit) -> dict:
    """The ``fit`` object of a run whose fit ``--fallback bicubic`` set aside: its scores and weights
    are those of the bicubic written (the ``bicubic`` candidate, bicubic with the residual spread,
    has weight 1 when that is written; plain bicubic is no candidate), and the fit that was not
    written keeps its own under ``rejected`` (they described it as if written before)."""
    spread = fitted.no_guidance["rmse"] < fitted.bicubic["rmse"]
    return {
        **summary,
        "candidates": [{**c, "weight": 1.0 if spread and c["name"] == "bicubic" else 0.0}
                       for c in summary["candidates"]],
        "held_out_fitted": summary["held_out_no_guidance" if spread else "held_out_bicubic"],
        "beats_bicubic": spread, "guidance_helps": False,  # the spread written beat plain bicubic to be chosen
        "rejected": {"selected": summary["selected"], "held_out": summary["held_out_fitted"],
                     "beats_bicubic": summary["beats_bicubic"], "guidance_helps": summary["guidance_helps"]},
    }


def run_fit(job: SceneJob, fit_options: FitOptions, options: DownscaleOptions, fallback: str,
             save_checkpoint: Optional[Path], as_json: bool, ingest_seconds: float = 0.0,
             skip_existing: bool = False) -> str:
    """Fit on the scene, report every candidate's held-out metrics, then downscale with the choice;
    the scene's status (``ok``, or ``skipped``: another run wrote the output meanwhile).

    Unless ``--fit-residual none``, every tile is made to aggregate (in Kelvin) to its LR pixels;
    ``--conserve`` adds the exact T^4 correction after blending. ``seconds`` include the fit, and
    ``ingest_seconds``, the ingest of a scene given as SDGSAT-1 product folders. With
    ``skip_existing`` an output another run finished during the fit is ``skipped``, not an error,
    and its line says that ``save_checkpoint`` was not written.
    """
    fitted = _fit(job, fit_options, options, as_json)
    reason = _verdict(fitted)
    use_bicubic = reason is not None and fallback == "bicubic"
    if reason is not None:
        warn(f"on the held-out blocks {reason}" + ("; writing bicubic instead (--fallback bicubic)"
                                                  if use_bicubic else " (--fallback bicubic writes bicubic)"))
    options = replace(options, units=fitted.units)
    info(f"units: {fitted.units.value} in, {(options.units_out or fitted.units).value} out")
    written = not use_bicubic and _writes_saved_network(fitted)
    with reported_once_published(job.output):  # a Ctrl-C after the rename waits for the result line
        with _saved_with_output(fitted, save_checkpoint, options.overwrite, written) as saving:
            source = _source(fitted, fit_options, options.execution, reason if use_bicubic else None,
                             save_checkpoint, saving.tmp)
            report = _downscale(job, source, options, skip_existing)
            saving.publish = report.status == "ok"
        report.seconds = round(report.seconds + fitted.seconds + ingest_seconds, 3)
        summary = _fallback_summary(fitted.summary(), fitted) if use_bicubic else fitted.summary()
        report.extra["fit"] = {**summary, "written": source.name, "conserve": options.conserve,
                               **({"conserve_spread": options.conserve_spread} if options.conserve else {}),
                               "checkpoint_saved": None if saving.saved is None else str(saving.saved)}
        say(unsaved_checkpoint(skipped_quicklook(report, job.quicklook), save_checkpoint), as_json)  # skipped: another run wrote the output
    exit_status([report.status])
    if saving.error is not None:
        raise typer.Exit(2)
    return report.status


def _downscale(job: SceneJob, source: ModelSource, options: DownscaleOptions, skip_existing: bool) -> SceneReport:
    """The scene written by ``source``, with a progress bar."""
    from pipelines.scenes import run_local

    with progress() as bar:
        task = bar.add_task(job.lst.name, total=None)
        return next(run_local(
            [job], source, options, skip_existing=skip_existing, debug=state.debug,
            on_progress=lambda done, total: bar.update(task, completed=done, total=total),
            on_grid=info,
        ))
