"""``groklst mask``: a raster (LST or guidance) with the pixels a cloud mask or QA bits flag set to nodata."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Optional

import typer

from groklst_cli.commands._scene_reports import EXIT_ALL_EMPTY
from groklst_cli.console import info, result, result_path, state, warn, warnings_said
from groklst_cli.interrupts import reported_once_published
from groklst_cli.path_options import not_empty, rasters_only, typed_file_to_write
from pipelines import strict_json
from pipelines.atomic import folders_removed_if_left_empty
from pipelines.errors import EmptySceneError, InputError


def _numbers(text: Optional[str], option: str, kind: type) -> tuple:
    if text is None:
        return ()
    if not text.strip():  # '' read as "not given" made --bits '' flag any non-zero mask pixel
        raise InputError(option, "is empty", "give a comma-separated list, or drop the option")
    try:
        return tuple(kind(v) for v in text.split(","))
    except ValueError as exc:
        raise InputError(option, f"{text!r} is not a comma-separated list of {'integers' if kind is int else 'numbers'}") from exc


def _say_empty(exc: EmptySceneError, as_json: bool) -> None:
    """Nothing written: the JSON line (naming the raster and ``-o`` as given) says why in its
    ``error`` alone, as downscale's empty scene does; stderr's warning says it even when
    stdout's reader went away."""
    try:
        if as_json:
            result(strict_json.dumps({**state.names(), "status": "empty", "error": str(exc),
                                      "warnings": warnings_said()}))
    finally:
        warn(str(exc))


def mask(
    raster: str = typer.Argument(..., parser=not_empty("RASTER", "name the raster to mask, e.g. X_lst.tif", str), help="The raster to mask: an LST, or a guidance band or stack."),
    mask_path: str = typer.Argument(..., metavar="mask", parser=not_empty("MASK", "name the QA or mask raster, e.g. QA_PIXEL.tif", str), help="A QA raster (e.g. Landsat QA_PIXEL, Sentinel-2 SCL), a 0/1 cloud mask or class codes, on the raster's grid or one nesting in it."),
    output: str = typer.Option(..., "--output", "-o", metavar="<Path>", parser=typed_file_to_write("name the file, e.g. DIR/masked_lst.tif"), help="The masked GeoTIFF to write."),
    bits: Optional[str] = typer.Option(None, "--bits", help="Flag pixels with any of these bits set, e.g. 1,2,3,4 (Landsat C2 QA_PIXEL: dilated cloud, cirrus, cloud, shadow); bit 0 is the lowest."),
    values: Optional[str] = typer.Option(None, "--values", help="Flag pixels equal to any of these values, e.g. 8,9,10 (class codes); on a float64 mask -999.9 also matches a float32 -999.9 widened (-999.9000244140625)."),
    fill: Optional[float] = typer.Option(None, "--fill", help="Value for flagged pixels when the raster declares no nodata (default: NaN for float data)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (counts, rule) instead of the path."),
) -> None:
    """Set pixels of an LST (or guidance) to nodata where a mask flags them (clouds, shadows).

    The mask is on the raster's grid or one nesting in it (an integer factor coarser or finer:
    a pixel is flagged when any mask pixel in it is). Without --bits or --values every mask
    value other than 0 flags; the mask's own nodata always does. The copy keeps the data type,
    scale/offset, grid, bands and tags (plus mask_source, mask_rule, masked_pixels), so every
    groklst command reads it as the original, and its layout: a COG stays a COG, overviews are
    built again from the masked pixels. Exit status 3 and nothing written when no valid
    pixel would be left.
    """
    from pipelines.masking import MaskRule, mask_raster

    state.working_on(raster, output)  # as typed (``./x.tif``): scripts join the lines on the names they gave
    source, flags, target = Path(raster), Path(mask_path), Path(output)
    rasters_only("mask", [source, flags])
    rule = MaskRule(_numbers(bits, "--bits", int), _numbers(values, "--values", float))
    # Folders of -o made by a run that writes nothing are removed again; a Ctrl-C after the
    # rename waits for the result line.
    with folders_removed_if_left_empty(target.parent), reported_once_published(target):
        try:
            report = mask_raster(source, flags, target, rule, fill=fill, overwrite=overwrite)
        except EmptySceneError as exc:
            _say_empty(exc, as_json)
            raise typer.Exit(EXIT_ALL_EMPTY) from exc
        report = replace(report, input=raster, mask=mask_path, output=output)
        share = report.masked / report.valid_before
        info(f"{report.input}: {report.masked:,} of {report.valid_before:,} valid pixels ({share:.1%}) "
             f"flagged ({report.rule} in {report.mask}) -> {report.output}")
        if as_json:
            result(strict_json.dumps({**asdict(report), "status": "ok", "valid_after": report.valid_after,
                                      "warnings": warnings_said()}))
        else:
            result_path(output)


def register(app: typer.Typer) -> None:
    app.command("mask")(mask)
