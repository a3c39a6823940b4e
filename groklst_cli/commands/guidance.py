"""``groklst guidance``: rasters on any grid -> a guidance stack on the fine grid of an LST."""

from __future__ import annotations

import math
from dataclasses import asdict, replace
from pathlib import Path
from collections.abc import Iterable
from typing import TYPE_CHECKING, Optional

import typer

from groklst_cli.choices import lower_case
from groklst_cli.console import info, json_ok, progress, result, result_path, state
from groklst_cli.interrupts import reported_once_published
from groklst_cli.path_options import not_empty, rasters_only, typed_file_to_write
from pipelines import strict_json
from pipelines.atomic import folders_removed_if_left_empty
from pipelines.errors import InputError

if TYPE_CHECKING:  # rasterio loads only when a guidance is built
    from pipelines.guidance import GuidanceReport, SourceSpec


def _class_values(text: Optional[str], categorical: Optional[list[str]]) -> tuple[int, ...]:
    """The ``--class-values`` list; refused empty, or without a class map to apply to."""
    if text is None:
        return ()
    if not categorical:
        raise InputError("--class-values", "applies to class maps only", "add --categorical [NAME=]PATH, or drop it")
    if not text.strip():
        raise InputError("--class-values", "is empty", "give the classes to write, e.g. 1,2,3,4, or drop it")
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError as exc:
        raise InputError("--class-values", f"{text!r} is not a comma-separated list of integers") from exc


def _check_res(res: Optional[float]) -> None:
    """Refuse a NaN or infinite --res here: it would fail deep in the grid arithmetic."""
    if res is not None and not math.isfinite(res):
        raise InputError("--res", f"must be a finite pixel size, got {res:g}", "e.g. --res 10 for 30 m -> 10 m")


def guidance(
    lst: str = typer.Argument(..., parser=not_empty("LST", "name the LST raster the guidance nests in, e.g. X_lst.tif", str), help="The LST raster whose grid the guidance must nest in."),
    sources: Optional[list[str]] = typer.Argument(None, parser=not_empty("SOURCES", "name a guidance raster as PATH or NAME=PATH", str), help="Continuous guidance rasters, any CRS and resolution: PATH, NAME=PATH or NAME1,NAME2=PATH (band names; default: band descriptions, else the file name)."),
    output: str = typer.Option(..., "--output", "-o", metavar="<Path>", parser=typed_file_to_write("name the file, e.g. DIR/X_guidance.tif"), help="Guidance GeoTIFF to write (e.g. X_guidance.tif beside X_lst.tif)."),
    scale: Optional[int] = typer.Option(None, "--scale", "-s", help="Split every LST pixel into SCALE x SCALE guidance pixels (1: the LST's own grid, for groklst prepare)."),
    res: Optional[float] = typer.Option(None, "--res", help="Guidance pixel size (LST CRS units) for square LST pixels; must divide the LST pixel size (non-square pixels: use --scale)."),
    categorical: Optional[list[str]] = typer.Option(None, "--categorical", parser=not_empty("--categorical", "name a class map as [NAME=]PATH, or drop --categorical", str), help="A class map (land cover), as [NAME=]PATH; repeatable."),
    classes: str = typer.Option("fractions", "--classes", callback=lower_case, help="Class maps as 'fractions' (one band per class: covered fraction) or 'mode' (one band: the most frequent class)."),
    class_values: Optional[str] = typer.Option(None, "--class-values", help="The classes to write, e.g. 1,2,3,4 (default: those found; fix them to get the same bands in every scene)."),
    index: Optional[list[str]] = typer.Option(None, "--index", help="Add an index computed on the fine grid: ndvi, ndwi or ndmvi (needs bands named red, green, nir); repeatable."),
    refine: str = typer.Option("bilinear", "--refine", callback=lower_case, help="Continuous sources not finer than the guidance grid: bilinear or cubic (finer ones are area-averaged)."),
    cog: bool = typer.Option(False, "--cog", help="Write a Cloud-Optimized GeoTIFF (tiled, overviews): the choice for archives."),
    overviews: bool = typer.Option(False, "--overviews", help="Add internal overviews (average; nearest when a --classes mode band is in the file)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
    force: bool = typer.Option(False, "--force", help="Write guidance above 2 Gpx."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (grid, bands, warnings) instead of the path."),
) -> None:
    """Resample guidance rasters onto the grid that nests in the LST grid, ready for downscale.

    The guidance grid covers the LST in whole LST pixels, each split into --scale x --scale
    pixels. Continuous sources finer than that grid are area-averaged, others interpolated
    (--refine); class maps become per-class fractions (or the mode); nodata is NaN. Bands are
    named, so downscale finds them by name. Prints the output path on stdout.
    """
    from pipelines.guidance import MAX_GUIDANCE_PIXELS, GuidanceOptions, build_guidance, parse_source

    state.working_on(lst, output)  # as typed (``./x.tif``): scripts join the lines on the names they gave
    _check_res(res)
    given = [*(sources or []), *(categorical or [])]
    specs = [parse_source(s) for s in sources or []]
    specs += [parse_source(s, categorical=True) for s in categorical or []]
    rasters_only("guidance", [Path(lst), *(spec.path for spec in specs)])
    options = GuidanceOptions(
        scale=scale, res=res, refine=refine, classes=classes, class_values=_class_values(class_values, categorical),
        indices=tuple(i.lower() for i in index or []), cog=cog, overviews=overviews, overwrite=overwrite,
        max_pixels=None if force else MAX_GUIDANCE_PIXELS,
    )
    # Folders of -o made by a run that writes nothing are removed again; a Ctrl-C after the
    # rename waits for the result line.
    target = Path(output)
    with folders_removed_if_left_empty(target.parent), reported_once_published(target):
        with progress() as bar:  # warnings (GroklstWarning) are shown by the app
            task = bar.add_task("guidance", total=None)
            report = build_guidance(
                Path(lst), specs, target, options,
                on_progress=lambda done, total, what: bar.update(task, completed=done, total=total,
                                                                 description=what),
            )
        _say(_as_typed(report, output, zip(given, specs)), as_json, layered=cog or overviews)


def _as_typed(report: GuidanceReport, output: str, given: Iterable[tuple[str, SourceSpec]]) -> GuidanceReport:
    """``report`` naming ``-o`` and each band's source file as typed (``./s2.tif``, ``a//b.tif``, which
    pathlib folds), as the user gave them: scripts join the lines on those names."""
    from pipelines.raster_names import display_name

    typed = {display_name(spec.path): text.split("=", 1)[1] if spec.names else text for text, spec in given}
    bands = [{**band, "source": _source_as_typed(band["source"], typed)} for band in report.bands]
    return replace(report, output=output, bands=bands)


def _source_as_typed(source: str, typed: dict[str, str]) -> str:
    """A band's ``source`` (``FILE`` or ``FILE band N...``) with FILE as typed (``typed``: as shown -> as typed)."""
    for shown, given in typed.items():
        if source == shown or source.startswith(f"{shown} band "):
            return given + source[len(shown):]
    return source


def _say(report: GuidanceReport, as_json: bool, layered: bool) -> None:
    """The grid and bands on stderr (and, for a file with overviews and a class band, why they
    are nearest); the output's path as typed (or the JSON object) on stdout."""
    info(f"guidance grid: {report.grid}")
    for band in report.bands:
        info(f"  {band['name']}: {band['source']}, {band['resampling']}")
    if layered and _overviews_are_nearest(Path(report.output)):
        info("overviews: nearest for every band (GDAL builds a file's overviews with one method, and an "
             "average of class codes is no class)")
    if as_json:
        result(strict_json.dumps(json_ok({**asdict(report), "grid": report.grid})))
    else:
        result_path(report.output)


def _overviews_are_nearest(output: Path) -> bool:
    """Whether the written file's overviews were built by nearest (it has a class band, and is
    large enough to have overviews: a COG of one tile has none)."""
    import rasterio  # not at start-up: --help stays fast

    with rasterio.open(output) as src:
        return src.tags().get("overview_resampling") == "nearest"


def register(app: typer.Typer) -> None:
    app.command("guidance")(guidance)
