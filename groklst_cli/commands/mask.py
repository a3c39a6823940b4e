"""``groklst mask``: an LST with the pixels a cloud mask (or QA bits) flags set to nodata."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Optional

import typer

from groklst_cli.commands._scene_reports import EXIT_ALL_EMPTY
from groklst_cli.console import info, result, warn
from pipelines.errors import EmptySceneError, InputError


def _numbers(text: Optional[str], option: str, kind: type) -> tuple:
    if not text:
        return ()
    try:
        return tuple(kind(v) for v in text.split(","))
    except ValueError as exc:
        raise InputError(option, f"{text!r} is not a comma-separated list of {'integers' if kind is int else 'numbers'}") from exc


def mask(
    lst: Path = typer.Argument(..., help="The LST raster."),
    mask_raster: Path = typer.Argument(..., metavar="MASK", help="A mask on the LST's grid: a QA raster (e.g. Landsat QA_PIXEL), a 0/1 cloud mask or class codes."),
    output: Path = typer.Option(..., "--output", "-o", help="The masked LST GeoTIFF to write."),
    bits: Optional[str] = typer.Option(None, "--bits", help="Flag pixels with any of these bits set, e.g. 1,2,3,4 (Landsat C2 QA_PIXEL: dilated cloud, cirrus, cloud, shadow); bit 0 is the lowest."),
    values: Optional[str] = typer.Option(None, "--values", help="Flag pixels equal to any of these values, e.g. 8,9,10 (class codes)."),
    fill: Optional[float] = typer.Option(None, "--fill", help="Value for flagged pixels when the LST declares no nodata (default: NaN for float LSTs)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (counts, rule) instead of the path."),
) -> None:
    """Set LST pixels to nodata where a mask on the same grid flags them (clouds, shadows).

    Without --bits or --values every mask value other than 0 flags; the mask's own nodata
    always does. The copy keeps the LST's data type, scale/offset, grid and tags (plus
    mask_source, mask_rule, masked_pixels), so every groklst command reads it as the original.
    Exit status 3 and nothing written when no valid pixel would be left.
    """
    from pipelines.lst_mask import MaskRule, mask_lst

    rule = MaskRule(_numbers(bits, "--bits", int), _numbers(values, "--values", float))
    try:
        report = mask_lst(lst, mask_raster, output, rule, fill=fill, overwrite=overwrite)
    except EmptySceneError as exc:
        warn(str(exc))
        if as_json:
            result(json.dumps({"input": str(lst), "output": None, "status": "empty", "error": str(exc)}))
        raise typer.Exit(EXIT_ALL_EMPTY) from exc
    share = report.masked / report.valid_before
    info(f"{report.input}: {report.masked:,} of {report.valid_before:,} valid pixels ({share:.1%}) "
         f"flagged ({report.rule} in {report.mask}) -> {report.output}")
    if as_json:
        result(json.dumps({**asdict(report), "status": "ok", "valid_after": report.valid_after}))
    else:
        result(str(output))


def register(app: typer.Typer) -> None:
    app.command("mask")(mask)
