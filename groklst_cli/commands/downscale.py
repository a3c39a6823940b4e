"""``groklst downscale``: whole scenes to georeferenced GeoTIFF mosaics."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Optional

import typer

from groklst_cli.console import err, info, progress, result, state
from pipelines.atomic import check_writable
from pipelines.checkpoint import load_checkpoint
from pipelines.devices import resolve_device
from pipelines.downscale import DownscaleOptions, SceneReport
from pipelines.errors import InputError
from pipelines.infer import DEFAULT_CHECKPOINT, ModelSource
from pipelines.scenes import SceneJob, output_for, run_dask, run_local
from pipelines.units import Units

INTERPOLATORS = ("bicubic", "bilinear")


def _model_source(checkpoint: Optional[Path], model: Optional[str], device: str) -> ModelSource:
    if model is not None and model not in INTERPOLATORS:
        raise InputError(
            "--model", f"{model!r} needs trained weights", "pass --checkpoint CKPT for learned models"
        )
    if checkpoint is not None:
        if model is not None:
            raise InputError("--model", "give either --checkpoint or --model, not both")
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


def _inputs(paths: list[str]) -> list[Path]:
    if paths == ["-"]:
        return [Path(line.strip()) for line in sys.stdin if line.strip()]
    if "-" in paths:
        raise InputError("-", "'-' (read paths from stdin) must be the only input")
    return [Path(p) for p in paths]


def _jobs(inputs: list[Path], guidance: Optional[Path], output: Optional[Path],
          out_dir: Optional[Path]) -> list[SceneJob]:
    if output is not None and out_dir is not None:
        raise InputError("-o", "give either -o/--output or --out-dir, not both")
    if output is not None and len(inputs) != 1:
        raise InputError("-o", f"-o names one output but {len(inputs)} inputs were given", "use --out-dir")
    if guidance is not None and len(inputs) != 1:
        raise InputError("--guidance", "--guidance applies to a single input", "name pairs X_lst.tif + X_guidance.tif")
    if output is not None:
        return [SceneJob(inputs[0], output, guidance)]
    directory = out_dir if out_dir is not None else Path(".")
    return [SceneJob(p, output_for(p, directory), guidance) for p in inputs]


def _say(report: SceneReport, as_json: bool) -> None:
    if as_json:
        keys = ("input", "output", "status", "seconds", "megapixels", "error", "grid", "units",
                "tiles", "tiles_skipped")
        data = asdict(report)
        result(json.dumps({k: data[k] for k in keys}))
    elif report.status == "ok":
        result(report.output)
    if report.status in ("error", "failed"):
        err.print(f"[bold red]error:[/bold red] {report.error}".replace("[", r"\[", 0), markup=True)
    elif report.status == "skipped":
        info(f"skipped {report.input}: {report.output} exists")
    else:
        info(f"{report.input} -> {report.output} ({report.megapixels:g} Mpx in {report.seconds:g} s; "
             f"{report.units})")


def downscale(
    inputs: list[str] = typer.Argument(..., help="LST rasters (X_lst.tif), or - to read paths from stdin."),
    guidance: Optional[Path] = typer.Option(None, "--guidance", "-g", help="Guidance raster (default: X_guidance.tif beside X_lst.tif)."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", "-c", help="Trained checkpoint (default: the shipped mocolsk-lite x3 SDGSAT-1 model)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Use a non-learned interpolator instead: bicubic or bilinear."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Output GeoTIFF (one input only)."),
    out_dir: Optional[Path] = typer.Option(None, "--out-dir", help="Folder for outputs, named <input>_downscaled.tif (default: current folder)."),
    tile: int = typer.Option(512, "--tile", min=8, help="Tile size in output pixels (rounded to whole LR pixels)."),
    overlap: int = typer.Option(64, "--overlap", min=0, help="Overlap between tiles in output pixels, blended smoothly."),
    batch_size: int = typer.Option(4, "--batch-size", min=1, help="Tiles per forward pass."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    units: Units = typer.Option(Units.auto, "--units", help="Unit of the input LST (auto: detected from the value range)."),
    units_out: Optional[Units] = typer.Option(None, "--units-out", help="Unit of the output (default: the input's)."),
    conserve: bool = typer.Option(False, "--conserve", help="Correct each LR cell so its downscaled pixels aggregate (in T^4) to the input value."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    skip_existing: bool = typer.Option(False, "--skip-existing", help="Skip scenes whose output exists (cheap reruns)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON line per scene on stdout."),
    dask_scheduler: Optional[str] = typer.Option(None, "--dask-scheduler", help="Distribute scenes over this dask.distributed scheduler address."),
) -> None:
    """Downscale LST scenes to the guidance grid as tiled, blended, georeferenced GeoTIFFs.

    Exit status: 0 when every scene succeeded (or was skipped), 2 when a scene had bad input,
    1 when a scene failed internally. Other scenes go on either way.
    """
    if units_out is Units.auto:
        raise InputError("--units-out", "must be kelvin or celsius")
    if overlap >= tile:
        raise InputError("--overlap", f"overlap {overlap} must be smaller than the tile {tile}")
    try:
        resolve_device(device)
    except ValueError as exc:
        raise InputError("--device", str(exc)) from exc
    source = _model_source(checkpoint, model, device)
    jobs = _jobs(_inputs(inputs), guidance, output, out_dir)
    if not skip_existing:
        for job in jobs:
            check_writable(job.output, overwrite)
    options = DownscaleOptions(tile=tile, overlap=overlap, batch_size=batch_size, units=units,
                               units_out=units_out, conserve=conserve, overwrite=overwrite)
    if source.interpolation:
        info(f"note: non-learned {source.interpolation} interpolation (the guidance only masks nodata)")
    else:
        info(f"model {source.name} x{source.scale} from {source.checkpoint_path}")
    if dask_scheduler:
        reports = run_dask(jobs, source, options, dask_scheduler, skip_existing=skip_existing)
        statuses = [r.status for r in _report_all(reports, as_json)]
    else:
        statuses = []
        with progress() as bar:
            for job in jobs:
                task = bar.add_task(job.lst.name, total=None)
                report = next(run_local(
                    [job], source, options, skip_existing=skip_existing, debug=state.debug,
                    on_progress=lambda done, total, t=task: bar.update(t, completed=done, total=total),
                    on_grid=info,
                ))
                _say(report, as_json)
                statuses.append(report.status)
    if "failed" in statuses:
        raise typer.Exit(1)
    if "error" in statuses:
        raise typer.Exit(2)


def _report_all(reports, as_json: bool) -> list[SceneReport]:
    done = []
    for report in reports:
        _say(report, as_json)
        done.append(report)
    return done


def register(app: typer.Typer) -> None:
    app.command("downscale")(downscale)
