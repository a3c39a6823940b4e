"""``groklst downscale``: whole scenes to georeferenced GeoTIFF mosaics."""

from __future__ import annotations

import math
import os
import sys
import time
from contextlib import ExitStack, closing
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

import typer

from groklst_cli import guidance_options, ingest_options, lst_options
from groklst_cli.choices import DEVICE_HINT, lower_case
from groklst_cli.commands._downscale_fit import (build_fit_options, check_psf_width, finite_seconds,
                                                 refuse_fit_bands_before_aligning, run_fit, save_checkpoint_name)
from groklst_cli.commands._downscale_products import (
    check_product_run,
    end_if_failed,
    ingest_scene,
    name_planned_output,
    output_done,
    plan_product_scene,
    scene_failed,
    skipped_quicklook,
    start_product_scene,
)
from groklst_cli.commands._scene_reports import (
    TypedNames,
    batch_summary,
    exit_status,
    name_as_typed,
    say,
    say_once,
    say_stopped,
    typed_output,
    unsaved_checkpoint,
)
from groklst_cli.console import info, progress, state, warn
from groklst_cli.interrupts import reported_once_published
from groklst_cli.option_sources import was_given
from groklst_cli.path_options import not_empty, typed_file_to_write
from pipelines.atomic import check_writable, missing_folders, remove_if_empty, resolved, same_path
from pipelines.errors import InputError, TypedPath
from pipelines.fit_options import DEFAULT_CANDIDATES, FitOptions
from pipelines.tiling import DEFAULT_OVERLAP, default_overlap
from pipelines.units import OutputUnits, Units

if TYPE_CHECKING:  # torch, rasterio and dask load only when a scene is processed
    from groklst_cli.commands._downscale_products import ProductScene
    from pipelines.downscale import DownscaleOptions, SceneReport
    from pipelines.infer import ModelSource
    from pipelines.scenes import SceneJob

INTERPOLATORS = ("bicubic", "bilinear")
# --hole-margin's bound in output pixels, 1000x the default at x3: a wider margin reads about the whole
# scene around every tile, and a huge one overflowed the mask's filter (an internal error).
MAX_HOLE_MARGIN = 10_000


def _check_model_choice(checkpoint: Optional[str], model: Optional[str]) -> None:
    """Refuse a model choice that cannot work, before anything slow (a scheduler's connection,
    loading a checkpoint) keeps the user waiting for the error."""
    if checkpoint is not None and model is not None:
        raise InputError("--model", "give either --checkpoint or --model, not both",
                         "the checkpoint names its model (groklst checkpoint-info)")
    if model is not None and model not in INTERPOLATORS:
        _check_known_model(model)
        raise InputError("--model", f"{model!r} needs trained weights",
                         "pass --checkpoint CKPT instead, or add --fit to fit it on the scene")


def _check_known_model(model: str) -> None:
    """Refuse a ``--model`` that names no model (imports torch: only on the way to an error)."""
    from models.registry import get_spec

    try:
        get_spec(model)
    except KeyError:
        raise InputError("--model", f"unknown model {model!r}",
                         f"use {' or '.join(INTERPOLATORS)}, or --checkpoint CKPT for a trained network "
                         "(groklst models lists the networks)") from None


def _model_source(checkpoint: Optional[str], model: Optional[str], device: str) -> ModelSource:
    """The interpolator or checkpoint to run (:func:`_check_model_choice` first)."""
    from pipelines.checkpoint import load_checkpoint
    from pipelines.infer import DEFAULT_CHECKPOINT, ModelSource

    if checkpoint is not None:
        return ModelSource(checkpoint=load_checkpoint(checkpoint), checkpoint_path=checkpoint, device=device)
    if model is not None:
        return ModelSource(interpolation=model, device=device)
    if DEFAULT_CHECKPOINT.is_file():
        return ModelSource(
            checkpoint=load_checkpoint(DEFAULT_CHECKPOINT), checkpoint_path=DEFAULT_CHECKPOINT, device=device
        )
    raise InputError(
        "--checkpoint",
        "no checkpoint given and no default model is installed",
        "pass --checkpoint CKPT, or --model bicubic for plain interpolation",
    )


def _inputs(paths: list[str]) -> list[str]:
    """The input paths as typed (reports name them so), or read from stdin (``-``), each once."""
    if paths == ["-"]:
        given = _stdin_paths(_stdin_text())
        if not given:
            warn("no input paths on stdin: nothing to do")
    elif "-" in paths:
        raise InputError("-", "'-' (read paths from stdin) must be the only input")
    else:
        given = paths
    unique = _each_once(given)
    seen: set[Path] = set()
    for typed in given:  # named as typed (``./x.tif``), as every other line names it
        key = _input_key(Path(typed))
        if key in seen:
            first = unique[key]
            also = "" if first == typed else f" (as {first})"
            warn(f"{typed}: given more than once{also}; downscaled once")
        seen.add(key)
    return list(unique.values())


def _input_key(path: Path) -> Path:
    """What an input is, however it is spelled (``x.tif``, ``./x.tif``, ``d/../d/x.tif``, through a
    linked folder): a folder resolved, a file's folder resolved and its own name (a link to it
    under another name is another input, with its own guidance beside it and its own output)."""
    if path.is_dir():
        return resolved(path)
    return resolved(path.parent) / path.name


def _each_once(paths: list[str]) -> dict[Path, str]:
    """Each input (:func:`_input_key`) once, as it was first typed."""
    unique: dict[Path, str] = {}
    for path in paths:
        unique.setdefault(_input_key(Path(path)), path)
    return unique


def _typed_names(inputs: list[str], output: Optional[str], out_dir: Optional[str],
                 quicklook: Optional[str]) -> TypedNames:
    """The run's inputs, ``-o``, ``--out-dir`` and ``--quicklook`` as typed, by the names they are opened under
    (one scene's product folders are named together, joined by ``, ``)."""
    from pipelines.raster_names import display_name

    opened = [Path(i) for i in inputs]
    names = {display_name(path): typed for path, typed in zip(opened, inputs)}
    names[", ".join(map(str, opened))] = ", ".join(inputs)
    if output is not None:
        names[str(Path(output))] = output
    return TypedNames(names, out_dir, quicklook)


def _one_output(named: list[str], output: Optional[str], out_dir: Optional[str]) -> Optional[str]:
    """The output a one-scene run's --json error line names, as its scene line would: -o as
    typed, else a single LST raster's default name (under --out-dir as typed); None for product
    folders, whose scene name is read from their metadata once the run is planned."""
    if output is not None or len(named) != 1 or Path(named[0]).is_dir():
        return output
    from pipelines.scenes import output_for

    return TypedNames({}, out_dir).output(str(output_for(named[0], out_dir or ".")))


def _stdin_text() -> str:
    """All of stdin, for ``-``; a closed stdin (``<&-``, where Python has none) is refused in
    one line rather than failing as an internal error."""
    if sys.stdin is None:
        raise InputError("-", "stdin is closed",
                         "pipe the input paths in, one per line, or give them as arguments")
    return sys.stdin.read()


def _stdin_paths(text: str) -> list[str]:
    """One path per line (a CRLF or blank line is fine; spaces belong to the name), or NUL-separated
    as ``find -print0`` writes them; trailing whitespace is dropped where only that names a file
    (:func:`_stdin_name`)."""
    parts = text.split("\0") if "\0" in text else text.splitlines()
    return [_stdin_name(p) for p in parts if p.strip()]


def _stdin_name(line: str) -> str:
    """A stdin line's path: as given where a file has that name, else without its trailing
    whitespace (an editor's or ``echo``'s stray space, invisible in the error line otherwise) where
    that names one. Where neither does, kept as given and warned about with its name quoted, so
    that the space the ``file not found`` line cannot show is seen."""
    stripped = line.rstrip()
    if stripped == line or os.path.lexists(line):
        return line
    if os.path.lexists(stripped):
        return stripped
    warn(f"{line!r} (from stdin) ends in whitespace; no file has that name, with or without it")
    return line


def _jobs(inputs: list[Path], guidance: Optional[Path], output: Optional[Path],
          out_dir: Optional[Path], guided: bool = True, align: bool = False) -> list[SceneJob]:
    """One job per input; a ``--guidance`` raster is every input's (an archive of dates over
    one place), aligned onto each input's grid with ``--align``."""
    from pipelines.scenes import SceneJob, check_batch, output_for

    if output is not None and out_dir is not None:
        raise InputError("-o", "give either -o/--output or --out-dir, not both")
    if output is not None and len(inputs) > 1:  # none (an empty stdin) is nothing to do, said already
        raise InputError("-o", f"-o names one output but {len(inputs)} inputs were given", "use --out-dir")
    if align and guidance is None:
        raise InputError("--align", "aligns the --guidance raster onto the LST grid", "pass --guidance G.tif")
    if output is not None:
        jobs = [SceneJob(p, output, guidance, guided, align) for p in inputs]  # one, or none
    else:
        directory = out_dir if out_dir is not None else Path(".")
        jobs = [SceneJob(p, output_for(p, directory), guidance, guided, align) for p in inputs]
    check_batch(jobs)
    return jobs


def _overlap_or_default(overlap: Optional[int], tile: int) -> int:
    """The --overlap given, else :func:`pipelines.tiling.default_overlap` (64, or half of a smaller --tile):
    the fixed default was refused as more than half of a small --tile the user asked for alone."""
    return default_overlap(tile) if overlap is None else overlap


def _check_tiling(tile: int, overlap: int, scales: set[int]) -> None:
    """Refuse tiles and overlaps that do not work, and warn about seams, on the sizes used at
    each of the run's scales (whole LR pixels), naming them where they were rounded. With no
    scale known (no scene readable yet), only an overlap as large as the tile, too large at any."""
    from pipelines.tiling import check_tile_sizes, seam_warning

    if overlap >= tile:  # said as typed: rounded at a scale, 9e12 read as an overlap of 765 px
        raise InputError(None, f"--overlap {overlap} is not smaller than --tile {tile}",
                         "pass an --overlap of at most half the tile")
    for scale in sorted(scales):
        check_tile_sizes(tile, overlap, scale)
    for message in dict.fromkeys(seam_warning(tile, overlap, scale) for scale in sorted(scales)):
        if message is not None:
            warn(message)


def _check_scaled(tile: int, overlap: int, scales: set[int], fit_options: Optional[FitOptions]) -> None:
    """The checks that need the run's scales: the tiling, and a --fit PSF's width."""
    _check_tiling(tile, overlap, scales)
    if fit_options is not None:
        check_psf_width(fit_options.psf, scales)


def _run_scales(jobs: list[SceneJob], scale: Optional[int], checkpoint: Optional[str],
                model: Optional[str], fit: bool) -> set[int]:
    """The scales the scenes will be downscaled by, where known before they are read: --scale,
    the checkpoint's, else each scene's LST-to-guidance pixel-size ratio. A scene whose rasters
    cannot be read (yet) adds none: it reports that itself."""
    if scale is not None:
        return {scale}
    if not fit and model is None:
        fixed = _checkpoint_scale(checkpoint)
        return set() if fixed is None else {fixed}
    return {s for s in map(_grid_scale, jobs) if s is not None}


def _checkpoint_scale(checkpoint: Optional[str]) -> Optional[int]:
    """The scale the checkpoint (or the default model) records, its weights left unread
    (memory-mapped: the model still loads only once a --dask-scheduler answered); None when it
    cannot be read, which loading it says in its turn (a named pipe is not opened: that blocks)."""
    import torch

    from pipelines.errors import special_file_error
    from pipelines.infer import DEFAULT_CHECKPOINT

    if checkpoint is not None and special_file_error(checkpoint) is not None:
        return None
    try:
        data = torch.load(checkpoint or DEFAULT_CHECKPOINT, map_location="cpu", weights_only=True, mmap=True)
        scale = data["scale"]
    except Exception:  # noqa: BLE001 - not a checkpoint: refused when the model is loaded
        return None
    return scale if type(scale) is int and scale >= 2 else None


def _grid_scale(job: SceneJob) -> Optional[int]:
    """A scene's scale for an interpolator or a fit: its pixel-size ratio (rounded with --align,
    as aligning rounds it; else whole, as the grids must nest), or None."""
    from pipelines.downscale import guidance_beside
    from pipelines.guidance import pixel_size_ratio

    try:
        ratio = pixel_size_ratio(job.lst, job.guidance or guidance_beside(job.lst))
    except Exception:  # noqa: BLE001 - the scene reports its rasters' problem itself
        return None
    whole = round(ratio)
    return whole if whole >= 2 and (job.align or math.isclose(ratio, whole, rel_tol=1e-6)) else None


def _execution(precision: str, compile_model: bool, plain: bool, interpolator: Optional[str]):
    """How a network runs; ``interpolator`` (the --model that runs none, if any) refuses the
    options that shape it (:func:`_refuse_network_options`); an unknown ``precision`` was refused
    as the options were read (:mod:`groklst_cli.choices`)."""
    from pipelines.infer import Execution

    if interpolator is not None:
        _refuse_network_options(precision, compile_model,
                                f"--model {interpolator}, a non-learned interpolator that runs no network",
                                "drop it, or pass --checkpoint CKPT or --fit to run a network")
    if plain:
        if compile_model or precision not in ("auto", "fp32"):
            raise InputError("--plain", "is the fp32 eager reference path", "drop --compile / --precision")
        return Execution.plain()
    return Execution(precision=precision, compile=compile_model)


def _refuse_network_options(precision: str, compile_model: bool, what: str, hint: str) -> None:
    """Refuse --compile and an inexact --precision (bf16, fp16) where ``what`` runs no network:
    they would be ignored without a word. --plain and --precision fp32 are accepted: they ask
    for the exact fp32 eager path, which is what an interpolator or a classic sharpener runs."""
    if compile_model or precision not in ("auto", "fp32"):
        raise InputError("--compile" if compile_model else "--precision", f"does not apply to {what}", hint)


def _check_fit_execution(precision: str, compile_model: bool, fit_options: FitOptions) -> None:
    """Refuse the network options (:func:`_refuse_network_options`) for a --fit of methods
    without a network (tsharp, gwr, dms, mlp, bicubic), which --save-checkpoint refuses too."""
    if fit_options.networks:
        return
    methods = ",".join(fit_options.methods)
    what = (f"--fit --model {methods}" if fit_options.model is not None else f"--fit-candidates {methods}")
    _refuse_network_options(precision, compile_model, f"{what}, which fits no network",
                            "drop it, or fit a network such as mocolsk-lite; groklst models lists them")


def _refuse_output_onto(jobs: list[SceneJob], path: Path, what: str) -> None:
    for job in jobs:
        if same_path(job.output, path):
            raise InputError(job.output, f"is also {what}; it would be overwritten",
                             "write the output under another name")


FIT_ONLY = ("fit_iters", "fit_seconds", "fit_lr", "degradation", "fit_candidates", "fit_select", "fit_psf",
            "fit_residual", "fallback", "save_checkpoint", "seed")


def _check_fit_only(ctx: typer.Context, fit: bool) -> None:
    """Options that shape a fit are refused without --fit (QA: they were silently ignored), and
    --fit-candidates beside the one method --model fits."""
    if fit:
        if was_given(ctx, "fit_candidates") and ctx.params.get("model") is not None:
            raise InputError("--fit-candidates", "has no effect with --model, which fits that one method",
                             "drop --model to compare the candidates, or drop --fit-candidates")
        return
    for param in ctx.command.params:
        if param.name in FIT_ONLY and was_given(ctx, param.name):
            raise InputError(param.opts[0], "only applies with --fit", "add --fit, or drop the option")


def _check_conserve_spread(spread: Optional[str], fit: bool) -> None:
    """--conserve-spread is block or smooth, and not for --fit, whose residual is spread by --fit-residual."""
    from pipelines.conserve import CONSERVE_SPREADS  # numpy only

    if spread is None:
        return
    if fit:
        raise InputError("--conserve-spread", "does not apply to --fit, which spreads its residual itself",
                         "pass --fit-residual smooth|block (with --conserve for the exact T^4 correction)")
    if spread not in CONSERVE_SPREADS:
        raise InputError("--conserve-spread", f"unknown spread {spread!r}", f"use {' or '.join(CONSERVE_SPREADS)}")


def _check_scale(scale: Optional[int], model: Optional[str], checkpoint: Optional[str],
                 guidance: Optional[Path], guidance_bands: Optional[str], fit: bool, align: bool) -> None:
    """--scale interpolates onto the refined LST grid: only an interpolator, and no guidance
    (so nothing for --align to align)."""
    if scale is None:
        return
    if fit:
        raise InputError("--scale", "does not apply to --fit, which needs guidance",
                         "drop --scale, or drop --fit and pass --model bicubic")
    if guidance is not None:
        raise InputError("--scale", "cannot be combined with --guidance: the guidance sets the output grid",
                         "drop --scale to downscale onto the guidance grid, or drop --guidance")
    if guidance_bands is not None:
        raise InputError("--scale", "reads no guidance, so --guidance-bands has nothing to name",
                         "drop --guidance-bands")
    if align:  # its own hint (pass --guidance) would be refused in turn
        raise InputError("--align", "aligns a --guidance raster onto the LST grid, and --scale reads no guidance",
                         "drop --align to interpolate the LST alone, or drop --scale and pass --guidance G.tif")
    if checkpoint is not None and model in INTERPOLATORS:  # -c is the conflict: --model and --scale agree
        raise InputError("--checkpoint/-c", f"cannot be used with --model {model}: --scale interpolates "
                         "the LST alone, without a network", "drop -c CKPT to interpolate onto the refined "
                         "grid, or drop --model and --scale and give guidance to run the checkpoint")
    if checkpoint is not None and model is None:  # "pass --model bicubic" would be refused for -c in turn
        raise InputError("--scale", "works only with an interpolator, and -c gives a network, which needs guidance",
                         "drop --scale and give guidance to run the checkpoint, or drop -c and pass --model bicubic")
    if model not in INTERPOLATORS:
        if model is not None:  # an unknown model is named as such, not as one needing guidance
            _check_known_model(model)
        raise InputError("--scale", "works only with an interpolator: a learned model needs guidance",
                         f"pass --model {' or --model '.join(INTERPOLATORS)}")


def downscale(
    ctx: typer.Context,
    inputs: list[str] = typer.Argument(..., parser=not_empty("INPUTS", "name an LST raster X_lst.tif, - for paths on stdin, or SDGSAT-1 product folders", str), help="LST rasters (X_lst.tif), - to read paths from stdin, or one scene's SDGSAT-1 product folders."),
    guidance: Optional[Path] = typer.Option(None, "--guidance", "-g", parser=not_empty("--guidance", "name a guidance raster, or drop --guidance"), help="Guidance raster for every input (default: X_guidance.tif beside each X_lst.tif)."),
    checkpoint: Optional[str] = typer.Option(None, "--checkpoint", "-c", parser=not_empty("-c", "name a checkpoint file, e.g. -c runs/r1/best.pt, or drop -c for the default model", TypedPath), help="Trained checkpoint (default: the shipped mocolsk-lite x3 SDGSAT-1 model)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", callback=lower_case, help="Use a non-learned interpolator instead: bicubic or bilinear; with --fit, the one method to fit (a network, tsharp, gwr, dms or mlp; default: compare --fit-candidates)."),
    scale: Optional[int] = typer.Option(None, "--scale", "-s", min=2, help="With --model bicubic or bilinear: no guidance; the output grid is the LST grid with pixels SCALE times smaller."),
    output: Optional[str] = typer.Option(None, "--output", "-o", metavar="<Path>", parser=typed_file_to_write("name the file, e.g. DIR/scene_10m.tif, or give --out-dir DIR"), help="Output GeoTIFF (one input only)."),
    out_dir: Optional[str] = typer.Option(None, "--out-dir", metavar="<path>", parser=not_empty("--out-dir", "name a folder, e.g. --out-dir out, or drop --out-dir to write into the current folder", str), help="Folder for outputs, named <input>_downscaled.tif (default: current folder)."),
    tile: int = typer.Option(768, "--tile", min=8, help="Tile size in output pixels, rounded down to whole LR pixels (10 at x3: 9); at least 24 once rounded: smaller tiles cost mostly per-tile overhead (12 px: 50x the default's time)."),
    overlap: Optional[int] = typer.Option(None, "--overlap", min=0, help=f"Overlap between tiles in output pixels, blended smoothly (default: {DEFAULT_OVERLAP}, or half of --tile when that is smaller); rounded down to whole LR pixels; at most half the tile; under 15 once rounded, seams show (a warning)."),
    batch_size: int = typer.Option(2, "--batch-size", min=1, help="Tiles per forward pass."),
    device: str = typer.Option("auto", "--device", callback=lower_case, help="auto, cpu, cuda or cuda:N."),
    precision: str = typer.Option("auto", "--precision", callback=lower_case, help="auto (fp32 on the CPU, exact; bf16 autocast on CUDA), fp32, bf16 or fp16; bf16/fp16 are not exact and on the CPU only faster with native bf16 instructions (README: measured error and speed)."),
    compile_model: bool = typer.Option(False, "--compile", help="Run the network through torch.compile (a one-off compile, cached by torch; meant for GPUs: no faster than the default on the CPUs measured)."),
    plain: bool = typer.Option(False, "--plain", help="The reference path (fp32, NCHW layout, eager) to check the fast default against; slower."),
    units: Units = lst_options.units_option(),
    units_out: Optional[OutputUnits] = typer.Option(None, "--units-out", case_sensitive=False, help="Unit of the output (default: the input's)."),
    conserve: bool = typer.Option(False, "--conserve", help="Correct each LR cell so its downscaled pixels aggregate (in T^4) to the input value."),
    conserve_spread: Optional[str] = typer.Option(None, "--conserve-spread", callback=lower_case, help="How --conserve spreads the correction (implies --conserve): block (default: each LR cell scaled alone; shows the LR grid) or smooth (a spline over each tile first, then exact per cell)."),
    nodata: Optional[list[float]] = lst_options.nodata_option(),
    scale_factor: Optional[float] = lst_options.scale_factor_option(),
    offset: Optional[float] = lst_options.offset_option(),
    mask_implausible: bool = lst_options.mask_implausible_option(),
    guidance_bands: Optional[str] = guidance_options.guidance_bands_option(),
    hole_margin: Optional[int] = typer.Option(None, "--hole-margin", min=0, max=MAX_HOLE_MARGIN, help="Output pixels around nodata holes (LST or guidance) written as nodata, because a learned model's value there depends on data it cannot see (default: 3 LR pixels for networks, 0 for interpolators and --fit outputs without a network; 0 keeps every pixel)."),
    force: bool = typer.Option(False, "--force", help="Write outputs above 2 Gpx."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    skip_existing: bool = typer.Option(False, "--skip-existing", help="Skip scenes whose output exists (cheap reruns)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON line per scene on stdout."),
    dask_scheduler: Optional[str] = typer.Option(None, "--dask-scheduler", help="Distribute scenes over this dask.distributed scheduler address."),
    fit: bool = typer.Option(False, "--fit", help="Fit on this scene first (bicubic, tsharp, gwr, dms, mlp and a network, compared on held-out blocks of the scene degraded by the scale), then downscale with the best or their blend."),
    fit_iters: int = typer.Option(FitOptions.iters, "--fit-iters", min=1, help="With --fit: at most this many training iterations of the network."),
    fit_seconds: Optional[float] = typer.Option(FitOptions.seconds, "--fit-seconds", min=0.1, callback=finite_seconds, help="With --fit: also stop the network's training after this many seconds (default: no time cap, so the result does not depend on the machine's load)."),
    fit_lr: float = typer.Option(FitOptions.lr, "--fit-lr", min=1e-7, max=1.0, help="With --fit: learning rate."),
    degradation: str = typer.Option(FitOptions.degradation, "--degrade", callback=lower_case, help="With --fit: how the LST is degraded for training: area (block mean) or mtf."),
    fit_candidates: str = typer.Option(",".join(DEFAULT_CANDIDATES), "--fit-candidates", help="With --fit and no --model: the methods to fit and compare (bicubic, tsharp, gwr, dms, mlp, networks)."),
    fit_select: str = typer.Option(FitOptions.select, "--fit-select", callback=lower_case, help="With --fit: blend (the held-out-weighted blend when it beats the best candidate on held-out blocks) or best."),
    fit_psf: str = typer.Option("auto", "--fit-psf", help="With --fit: the thermal sensor's PSF in guidance pixels: auto (shape and width estimated from the LR scene), a Gaussian sigma (SIGMA or gaussian:SIGMA), moffat:ALPHA:BETA, or 0 for none."),
    fit_residual: str = typer.Option(FitOptions.residual, "--fit-residual", callback=lower_case, help="With --fit: spread the LR residual back so the output aggregates to the input: smooth, block or none."),
    fallback: str = typer.Option("none", "--fallback", callback=lower_case, help="With --fit: none, or bicubic to write bicubic when the fit does not beat it on held-out blocks."),
    save_checkpoint: Optional[Path] = typer.Option(None, "--save-checkpoint", parser=save_checkpoint_name, help="With --fit: save the fitted network as a checkpoint for downscale --checkpoint."),
    seed: int = typer.Option(0, "--seed", help="With --fit: random seed (same seed, same result)."),
    align: bool = typer.Option(False, "--align", help="Resample --guidance onto each input's LST grid first (any CRS, resolution, origin; as groklst guidance does)."),
    cog: bool = typer.Option(False, "--cog", help="Write a Cloud-Optimized GeoTIFF (tiled, overviews): the choice for archives."),
    overviews: bool = typer.Option(False, "--overviews", help="Add internal overviews (average)."),
    quicklook: Optional[str] = typer.Option(None, "--quicklook", metavar="<Path>", parser=typed_file_to_write("name the PNG, e.g. DIR/look.png", "--quicklook"), help="Also write a PNG of input vs output (one input only)."),
    dem: Optional[Path] = typer.Option(None, "--dem", parser=not_empty("--dem", "name a DEM GeoTIFF, or drop --dem"), help="With SDGSAT-1 product folders as input: the DEM for the guidance (as groklst ingest --dem)."),
    coregister: Optional[bool] = typer.Option(None, "--coregister/--no-coregister", help="With SDGSAT-1 product folders as input: move the LST onto the MII, and TIS B3 onto B2, when they are misregistered (default, as groklst ingest)."),
    destripe: Optional[bool] = typer.Option(None, "--destripe/--no-destripe", help="With SDGSAT-1 product folders as input: remove TIS B2's detector stripes (as groklst ingest --destripe; off by default)."),
    saturated: str = ingest_options.saturated_option(),
    saturation_dn: Optional[str] = ingest_options.saturation_dn_option(),
    lst_method: str = ingest_options.lst_method_option(),
    retrieval_config: Optional[Path] = ingest_options.retrieval_config_option(),
) -> None:
    """Downscale LST scenes to the guidance grid as tiled, blended, georeferenced GeoTIFFs
    (with --scale and an interpolator: to the LST grid refined by SCALE, without guidance).

    Instead of LST rasters, one scene's SDGSAT-1 TIS and MII product folders (or a folder
    holding them) may be given: they are ingested as groklst ingest does (LST retrieved by
    split window, or as --lst-method and --retrieval-config say; --dem for the guidance) into a
    hidden folder beside the output that is removed when the command ends.

    Exit status: 0 when every scene succeeded, was skipped or was empty (but not all empty),
    2 when a scene had bad input, 1 when a scene failed internally, 3 when every scene was
    empty (no valid pixel). Other scenes go on either way.
    """
    from pipelines.devices import resolve_device
    from pipelines.downscale import MAX_OUTPUT_PIXELS, DownscaleOptions, SceneReport
    from pipelines.ingest import holds_products
    from pipelines.product_ingest import ProductIngest
    from pipelines.raster_names import display_name
    from pipelines.scenes import dask_client

    overlap = _overlap_or_default(overlap, tile)
    named = [] if inputs == ["-"] else list(_each_once(inputs).values())
    if named and (len(named) == 1 or all(Path(p).is_dir() for p in named)):  # one scene
        state.working_on(", ".join(named), _one_output(named, output, out_dir))
    else:  # several scenes: a --json error line names none (a refused -o or --quicklook is raised)
        state.working_on(None)
    if skip_existing and overwrite:
        raise InputError("--skip-existing", "give --skip-existing or --overwrite, not both",
                         "--skip-existing keeps existing outputs, --overwrite replaces them")
    try:
        resolve_device(device)
    except ValueError as exc:
        raise InputError("--device", str(exc), DEVICE_HINT) from exc
    _check_fit_only(ctx, fit)
    _check_conserve_spread(conserve_spread, fit)
    if fit:  # the seed as train checks it, before the fit that would fail on it
        from pipelines.train import check_settings

        check_settings({"seed": seed})
    _check_scale(scale, model, checkpoint, guidance, guidance_bands, fit, align)
    output_path, out_dir_path = _optional_path(output), _optional_path(out_dir)
    folder = out_dir_path or (output_path.parent if output_path is not None else None)
    if folder is not None:  # a run that writes nothing leaves no empty folder of its making behind
        created = missing_folders(folder)
        ctx.call_on_close(lambda: remove_if_empty(created))
    typed = _inputs(inputs)
    name_as_typed(ctx, _typed_names(typed, output, out_dir, quicklook))
    png = _optional_path(quicklook)
    paths = [Path(t) for t in typed]
    scene = None
    if any(holds_products(p) for p in paths):  # one scene's product folders (another folder
        # among LST rasters is that scene's error, and the others go on)
        name_planned_output(paths, output_path, out_dir_path)
        check_product_run(ctx, paths, guidance, align, dask_scheduler)
        how = ProductIngest(dem, coregister is not False, destripe is True,
                            ingest_options.saturation_options(saturated, saturation_dn), lst_method,
                            retrieval_config)
        how.check()
        scene = plan_product_scene(paths, output_path, out_dir_path, how)  # nothing written before the checks
        state.working_on(state.input, typed_output(str(scene.output)))  # the planned output, for an error line
        paths = [scene.lst]
    elif coregister is not None:
        raise InputError("--no-coregister" if coregister is False else "--coregister",
                         "applies to SDGSAT-1 product folders given as the input",
                         "for an LST raster and its guidance run groklst coregister first")
    elif dem is not None:
        raise InputError("--dem", "applies to SDGSAT-1 product folders given as the input",
                         "pass the TIS and MII product folders, or build the guidance with groklst ingest")
    elif destripe is not None:
        raise InputError("--no-destripe" if destripe is False else "--destripe",
                         "applies to SDGSAT-1 product folders given as the input",
                         "pass the TIS and MII product folders, or build the scene with groklst ingest")
    elif was_given(ctx, "saturated") or saturation_dn is not None:
        raise InputError("--saturated" if was_given(ctx, "saturated") else "--mii-saturation-dn",
                         "applies to SDGSAT-1 product folders given as the input",
                         "pass the TIS and MII product folders, or build the guidance with groklst ingest")
    elif was_given(ctx, "lst_method") or retrieval_config is not None:
        raise InputError("--lst-method" if was_given(ctx, "lst_method") else "--retrieval-config",
                         "applies to SDGSAT-1 product folders given as the input (the LST retrieved from TIS)",
                         "pass the TIS and MII product folders, or leave it out")
    jobs = _jobs(paths, guidance, output_path, out_dir_path, guided=scale is None, align=align)
    options = DownscaleOptions(tile=tile, overlap=overlap, batch_size=batch_size, units=units,
                               units_out=units_out and units_out.units, conserve=conserve or conserve_spread is not None,
                               conserve_spread=conserve_spread or "block", overwrite=overwrite,
                               decoding=lst_options.lst_decoding(nodata, scale_factor, offset, mask_implausible),
                               guidance_bands=guidance_options.band_list(guidance_bands),
                               max_output_pixels=None if force else MAX_OUTPUT_PIXELS,
                               hole_margin=hole_margin,
                               execution=_execution(precision, compile_model, plain,
                                                    None if fit or checkpoint or model not in INTERPOLATORS else model),
                               cog=cog, overviews=overviews, scale=scale,
                               tags=scene.tags if scene is not None else {})
    if scene is not None:  # the downscale's warning of ingest's constant dem, worded for this command
        options = replace(options, dem_hint="pass --dem DEM.tif for its full accuracy")
    if png is not None:
        from pipelines.quicklook import check_png_name

        if len(jobs) > 1:
            raise InputError("--quicklook", "applies to a single input", "run groklst quicklook on each output")
        if not jobs:  # an empty stdin list: nothing to draw, the name still checked
            check_png_name(png)
    if png is not None and jobs:
        if same_path(png, jobs[0].output):
            raise InputError("--quicklook", f"names the output GeoTIFF {jobs[0].output}", "give the PNG another name")
        if save_checkpoint is not None and same_path(png, save_checkpoint):
            raise InputError(png, "is also the --save-checkpoint file; one would overwrite the other",
                             "give the PNG another name")
        _refuse_quicklook_onto_input(png, _read_files(scene, jobs[0]))  # said before its extension
        check_png_name(png)
        _check_quicklook_writable(png, jobs[0], overwrite, skip_existing, _read_files(scene, jobs[0]))
        jobs = [replace(jobs[0], quicklook=png)]  # drawn before the scene's line, which says how it went
    fit_options = build_fit_options(model, checkpoint, dask_scheduler, jobs, fit_iters, fit_seconds,
                                    fit_lr, degradation, fallback, units, seed, device, fit_candidates,
                                    fit_select, fit_psf, fit_residual) if fit else None
    if fit_options is not None:
        _check_fit_execution(precision, compile_model, fit_options)
    scales = _run_scales(jobs, scale, checkpoint, model, fit)
    if not scales and scene is not None and scene.scale is not None and (fit or model is not None):
        scales = {scene.scale}  # an interpolator or a fit: the products' pixel sizes give the scale
    _check_scaled(tile, overlap, scales, fit_options)  # before an ingest, which takes a while
    ingest_seconds = 0.0  # a product scene's line counts its ingest: the time the scene took
    if scene is not None:
        if fit_options is None:  # a raster run checks it before its model loads: here before the ingest
            _check_model_choice(checkpoint, model)
        if not start_product_scene(ctx, scene, overwrite, skip_existing, as_json, save_checkpoint, png):
            return  # --skip-existing, and the output exists
        # one warning of a missing --dem: the ingest's for a fit, the downscale's for a model reading the band
        ingest_seconds = ingest_scene(scene, how, as_json, dem_warned=fit)
        if not scales:  # the products' headers were unreadable: the ingested rasters give the scale
            scales = _run_scales(jobs, scale, checkpoint, model, fit)
            _check_scaled(tile, overlap, scales, fit_options)
    state.scenes_begin()
    # scenes before the first that opens whose rasters do not, said in their turn; when all, before any model loads
    # (a product scene's rasters were just written by its ingest)
    refused = {} if scene is not None else _unopenable(jobs, overwrite)
    if jobs and len(refused) == len(jobs):
        for report in refused.values():
            say(report, as_json)
        exit_status([r.status for r in refused.values()])
        return
    if fit_options is not None:
        if save_checkpoint is not None and not fit_options.networks:
            raise InputError("--save-checkpoint", "no network is fitted, so there are no weights to save",
                             "tsharp, gwr, dms and mlp are refitted on every scene")
        if not jobs:  # nothing on stdin: said already; nothing to fit
            _check_named_files(checkpoint, guidance)
            return
        if _fit_output_done(scene, jobs[0], overwrite, skip_existing, ingest_seconds, as_json, save_checkpoint):
            return
        if save_checkpoint is not None:
            if skip_existing and save_checkpoint.exists():  # no output beside it: not this scene's pair
                raise InputError(save_checkpoint, "exists but the output does not; --skip-existing never "
                                 "replaces it", "remove it, or name another --save-checkpoint file")
            from pipelines.checkpoint import check_checkpoint_name

            check_checkpoint_name(save_checkpoint, _read_files(scene, jobs[0]))
            check_writable(save_checkpoint, overwrite, inputs=_read_files(scene, jobs[0]))
            _refuse_output_onto(jobs, save_checkpoint, "the --save-checkpoint file")
        if align:  # before the fit, which learns from the aligned guidance
            refuse_fit_bands_before_aligning(jobs[0], options, as_json)
            jobs, options = _aligned_for_fit(ctx, jobs[0], options)
        if run_fit(jobs[0], fit_options, options, fallback, save_checkpoint, as_json, ingest_seconds,
                   skip_existing) == "ok":
            _said_quicklook(png)
        return
    _check_model_choice(checkpoint, model)
    # the scheduler before the model: a bad address (an unknown host at once) fails without loading it
    client = ctx.with_resource(dask_client(dask_scheduler, workers=bool(jobs))) if dask_scheduler else None
    if not jobs:  # nothing on stdin: said already; the model would load for nothing
        _check_named_files(checkpoint, guidance)
        return
    source = _model_source(checkpoint, model, device)
    if source.checkpoint_path is not None:
        _refuse_output_onto(jobs, Path(source.checkpoint_path), "the checkpoint this run reads")
    if scale is not None:
        info(f"note: non-learned {source.interpolation} interpolation onto the LST grid refined x{scale}")
    elif source.interpolation:
        info(f"note: non-learned {source.interpolation} interpolation (the guidance only masks nodata)")
    else:
        info(f"model {source.name} x{source.scale} from {source.checkpoint_path}")
        _warn_fitted_network(source)
    statuses: list[str] = []  # each scene's outcome as it is said, for the tally of a stopped batch too
    running: list[tuple[SceneJob, float]] = []  # the local scene under way (and since when), until said
    try:
        if client is not None:
            _run_on_cluster(jobs, source, options, client, skip_existing, as_json, png, statuses)
        else:
            _run_here(jobs, refused, source, options, skip_existing, as_json, ingest_seconds, statuses, running)
    except KeyboardInterrupt:  # Terminated too: the batch's tally, as a finished batch ends
        if running and as_json:
            _say_stopped(*running[0])
        if len(jobs) > 1:
            info(batch_summary(statuses + ["stopped"] * (len(jobs) - len(statuses)), 0))
        raise
    exit_status(statuses)
    if statuses == ["ok"]:
        _said_quicklook(png)


def _run_on_cluster(jobs: list[SceneJob], source: ModelSource, options: DownscaleOptions, client: object,
                    skip_existing: bool, as_json: bool, png: Optional[Path], statuses: list[str]) -> None:
    """Run the scenes on a dask cluster, each said once as it ends, its status added to
    ``statuses`` (also those said as a stop ends the run: the stopped batch's tally counts them).
    The run closes before its client: a stopped run is stopped on the cluster."""
    from pipelines.scenes import run_dask

    said: set[str] = set()  # a scene written as the run stopped is said then, if not yet

    def heard(report: SceneReport) -> None:
        if report.output not in said:
            statuses.append(report.status)
        say_once(report, as_json, said)

    # a refused scene runs on the cluster too, whose workers read the files: said as it ends
    with closing(run_dask(jobs, source, options, client, skip_existing=skip_existing, late=heard)) as reports:
        for report in map(_noted_quicklook(png), reports):
            heard(report)


def _run_here(jobs: list[SceneJob], refused: dict[SceneJob, SceneReport], source: ModelSource,
              options: DownscaleOptions, skip_existing: bool, as_json: bool, ingest_seconds: float,
              statuses: list[str], running: list[tuple[SceneJob, float]]) -> None:
    """Run the scenes here one by one under a progress bar, each said as it ends and its status
    added to ``statuses``; ``running`` holds the scene under way until it is said (a stop in
    between gives it its ``stopped`` line)."""
    from pipelines.scenes import run_local

    with progress() as bar:
        # one task reused by every scene: a long run's redraw and memory stay flat (QA: a task
        # per scene, never removed, made the 1560th scene ten times slower on a terminal)
        task = bar.add_task("", total=None, visible=False)
        for job in jobs:
            if job in refused:
                say(refused[job], as_json)
                statuses.append(refused[job].status)
                continue
            # a fresh task, not reset(): reset keeps the last scene's total (0/N on a skip)
            bar.remove_task(task)
            task = bar.add_task(job.lst.name, total=None)
            running[:] = [(job, time.monotonic())]
            with reported_once_published(job.output):  # a Ctrl-C after the rename waits for its line
                report = next(run_local(
                    [job], source, options, skip_existing=skip_existing, debug=state.debug,
                    on_progress=lambda done, total, t=task: bar.update(t, completed=done, total=total),
                    on_grid=info,
                ))
                report.seconds = round(report.seconds + ingest_seconds, 3)
                say(skipped_quicklook(report, job.quicklook), as_json)
                statuses.append(report.status)  # before a signal held until its line is out
                running.clear()


def _say_stopped(job: SceneJob, start: float) -> None:
    """The ``--json`` line (:func:`say_stopped`) of the local scene a stop ended mid-run."""
    from pipelines.downscale import SceneReport
    from pipelines.raster_names import display_name

    say_stopped(SceneReport(state.named(display_name(job.lst)), str(job.output), status="stopped",
                            seconds=round(time.monotonic() - start, 3)))


def _check_named_files(checkpoint: Optional[str], guidance: Optional[Path]) -> None:
    """Refuse a --checkpoint or --guidance that names no usable file when there is no scene to
    read them (empty stdin), as a run with scenes refuses them: a script's typo is exit 2, not a
    silent exit 0. Cheaply: the checkpoint's first bytes and the guidance's header, no model loaded."""
    from pipelines.checkpoint import load_checkpoint
    from pipelines.file_headers import TORCH_HEADERS
    from pipelines.geotiff import open_raster

    if checkpoint is not None and not _looks_like_torch_file(Path(checkpoint), TORCH_HEADERS):
        load_checkpoint(checkpoint)  # refuses it as a scene's run would, without reading any weights
    if guidance is not None:
        with open_raster(guidance):
            pass


def _looks_like_torch_file(path: Path, magic: tuple[bytes, ...]) -> bool:
    """Whether ``path`` is a readable file starting as torch.save writes one (a named pipe is
    not opened: that blocks)."""
    if not path.is_file():
        return False
    try:
        with open(path, "rb") as fh:
            return fh.read(4).startswith(magic)
    except OSError:
        return False


def _unopenable(jobs: list[SceneJob], overwrite: bool) -> dict[SceneJob, SceneReport]:
    """The error report of each job, up to the first that opens, whose output name is no
    GeoTIFF's or whose rasters do not open (the checks the scene makes first), made before the
    model loads (QA: a mistyped path printed the ``model ...`` line and waited for the model
    first). It stops at the first job that opens: the model loads then anyway, and an archive
    of thousands of scenes (or remote ones) is not opened twice before its first output. A job
    whose output exists is left to the run, which skips it or says that it exists, as before."""
    from pipelines.downscale import SceneReport, guidance_beside
    from pipelines.geotiff import check_geotiff_name
    from pipelines.raster_names import display_name
    from pipelines.tile_reader import SceneSources

    refused = {}
    for job in jobs:
        start = time.perf_counter()
        try:
            if overwrite or not os.path.exists(job.output):  # False for a name too long (Path raises)
                check_geotiff_name(job.output)
                with ExitStack() as stack:
                    guidance = (job.guidance or guidance_beside(job.lst)) if job.guided else None
                    SceneSources.open(stack, job.lst, guidance)
        except InputError as exc:
            refused[job] = SceneReport(display_name(job.lst), str(job.output), status="error",
                                       seconds=round(time.perf_counter() - start, 3), error=str(exc))
            continue
        break
    return refused


def _fit_output_done(scene: Optional[ProductScene], job: SceneJob, overwrite: bool, skip_existing: bool,
                     ingest_seconds: float, as_json: bool, save_checkpoint: Optional[Path]) -> bool:
    """Whether the --fit scene's output is done (said ``skipped``, naming the ``save_checkpoint``
    it does not write: also when another run wrote it during the ingest); one that may not be
    written is refused, a product scene's by its scene line."""
    from pipelines.downscale import SceneReport
    from pipelines.geotiff import check_geotiff_name
    from pipelines.raster_names import display_name
    from pipelines.scenes import finished_output

    shown, seconds = (scene.shown if scene is not None else display_name(job.lst)), round(ingest_seconds, 3)
    try:
        if not (skip_existing and finished_output(job.output)):  # a finished one is skipped, as without --fit
            check_geotiff_name(job.output)
        done = output_done(job.output, overwrite, skip_existing, _read_files(scene, job))
    except InputError as exc:
        if scene is None:
            raise
        scene_failed(shown, job.output, exc, seconds, as_json)
    if done:
        report = skipped_quicklook(SceneReport(shown, str(job.output), status="skipped", seconds=seconds), job.quicklook)
        say(unsaved_checkpoint(report, save_checkpoint), as_json)
        end_if_failed(report)
    return done


def _refuse_quicklook_onto_input(png: Path, inputs: list[Path]) -> None:
    """Refuse a --quicklook PNG that is one of the run's inputs, naming --quicklook as the
    clashing output (QA: "the output is one of the inputs" read as if -o were meant)."""
    for source in inputs:
        if same_path(png, source):
            raise InputError("--quicklook", f"names the input {source}; it would be overwritten",
                             "give the PNG another name")


def _check_quicklook_writable(png: Path, job: SceneJob, overwrite: bool, skip_existing: bool,
                              inputs: list[Path]) -> None:
    """Refuse a --quicklook PNG that may not be written. With --skip-existing an existing PNG
    beside a finished output is part of the finished scene, which is skipped (QA B3: the rerun
    failed on the PNG), and beside an output that is no readable GeoTIFF it is left to that
    scene's error (QA R7: the PNG was blamed); one without its output is never replaced."""
    if skip_existing and png.exists():
        if job.output.exists():  # finished: skipped; unreadable: the scene's line says so, nothing is drawn
            return
        raise InputError(png, "exists but the output does not; --skip-existing never replaces it",
                         "remove it, or name another --quicklook file")
    from pipelines.quicklook import check_png_replaceable

    check_writable(png, overwrite, inputs=inputs)  # an input first
    check_png_replaceable(png)  # also a PNG named without .png, which check_writable cannot tell


def _noted_quicklook(png: Optional[Path]) -> Callable[[SceneReport], SceneReport]:
    """A cluster's report, a skipped scene's --quicklook PNG noted (:func:`skipped_quicklook`)."""
    def noted(report: SceneReport) -> SceneReport:
        return skipped_quicklook(report, png)

    return noted


def _read_files(scene: Optional[ProductScene], job: SceneJob) -> list[Path]:
    """Every file the run reads, which none of its outputs may be: the job's, and a product
    scene's product files, DEM, retrieval TOML and the water vapour raster it names."""
    return [*job.inputs(), *(scene.inputs if scene is not None else ())]


def _aligned_for_fit(ctx: typer.Context, job: SceneJob,
                     options: DownscaleOptions) -> tuple[list[SceneJob], DownscaleOptions]:
    """--fit --align: the guidance aligned at the pixel-size ratio for the whole command."""
    from pipelines.scene_align import aligned_guidance

    aligned = ctx.with_resource(aligned_guidance(job.lst, job.guidance, job.output))
    info(aligned.description)
    return [replace(job, guidance=aligned.path, align=False)], replace(options, tags={**options.tags, **aligned.tags})


def _optional_path(typed: Optional[str]) -> Optional[Path]:
    """The file an option kept as typed names (the reports name it as typed, :class:`TypedNames`)."""
    return None if typed is None else Path(typed)


def _warn_fitted_network(source: ModelSource) -> None:
    """Warn that a network saved by ``--fit`` runs alone here: on the README's Muenster scene it
    scored worse than bicubic without the blend it was fitted for (measured, README)."""
    fitted_on = source.checkpoint.config.get("fitted_on") if source.checkpoint is not None else None
    if fitted_on:
        warn(f"{source.checkpoint_path} is a network saved by --fit (on {fitted_on}) and runs alone, without "
             "the blend and residual spread it was fitted with: alone it can be worse than bicubic (0.85 K "
             "against 0.48 K on the README's Muenster scene); score it with groklst compare against "
             "--model bicubic, or run --fit on each scene")


def _said_quicklook(png: Optional[Path]) -> None:
    """Log the --quicklook PNG, which the scene drew (its line would have said a failure)."""
    if png is not None:
        info(f"quicklook: {png}")


def register(app: typer.Typer) -> None:
    app.command("downscale")(downscale)
