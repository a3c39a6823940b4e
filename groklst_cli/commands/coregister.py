"""``groklst coregister``: an LST moved onto its guidance by the offset measured between them."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from groklst_cli import lst_options
from groklst_cli.console import info, json_ok, result, result_path, state, warn
from groklst_cli.interrupts import reported_once_published
from groklst_cli.path_options import not_empty, typed_file_to_write
from pipelines import strict_json
from pipelines.atomic import folders_removed_if_left_empty
from pipelines.coregister import MAX_SHIFT_LR
from pipelines.units import Units

MAX_SHIFT_LIMIT = 20  # LST pixels: --max-shift's largest

if TYPE_CHECKING:  # the pipeline is imported when a scene is placed
    from pipelines.coregister_scene import PlacementReport


def coregister(
    lst: str = typer.Argument(..., parser=not_empty("LST", "name the LST raster, e.g. X_lst.tif", str), help="The LST raster."),
    guidance: str = typer.Argument(..., parser=not_empty("GUIDANCE", "name the guidance raster groklst guidance built, e.g. X_guidance.tif", str), help="Guidance nesting in the LST grid (groklst guidance builds it)."),
    output: str = typer.Option(..., "--output", "-o", metavar="<Path>", parser=typed_file_to_write("name the file, e.g. DIR/X_lst.tif"), help="The LST GeoTIFF to write, its grid moved onto the guidance."),
    max_shift: int = typer.Option(MAX_SHIFT_LR, "--max-shift", min=1, max=MAX_SHIFT_LIMIT, help="LST pixels searched each way."),
    units: Units = lst_options.units_option(),
    nodata: Optional[list[float]] = lst_options.nodata_option(),
    scale_factor: Optional[float] = lst_options.scale_factor_option(),
    offset: Optional[float] = lst_options.offset_option(),
    mask_implausible: bool = lst_options.mask_implausible_option(),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (offset, R², moved) instead of the path."),
) -> None:
    """Measure how far an LST is off its guidance and write it moved onto the guidance.

    The offset is the one (whole guidance pixels, within --max-shift LST pixels) under which a
    linear fit of the LST on the guidance bands, block-averaged to the LST grid, explains it
    best: the mean R² over five crops of up to 256 x 256 LST pixels (the centre and the
    quadrants), taken when it adds at least 0.005 over the delivered placement. The copy has the
    LST's stored values bit for bit and its grid moved by that offset, so it still nests in the
    guidance; the LST options it was read with are recorded in it (scale, offset, unit; pixels
    --nodata or --mask-implausible drop become its nodata: the first --nodata value its data type
    holds), so it needs none of them again; the LST's own mask (internal or .msk) becomes its
    internal mask. When
    the offset cannot be measured (R² below 0.1, or the best at the edge of the search: the
    warning then says which --max-shift to rerun with) the grid is kept, with a warning; when
    another placement a whole LST pixel away fits as well, the placement taken is written with a
    warning that it is uncertain by that much. The coregistration tag says which.
    """
    from pipelines.coregister_scene import coregister_scene

    state.working_on(lst, output)  # as typed (``./x.tif``): scripts join the lines on the names they gave
    target = Path(output)
    decoding = lst_options.lst_decoding(nodata, scale_factor, offset, mask_implausible)
    # Folders of -o made by a run that writes nothing are removed again; a Ctrl-C after the
    # rename waits for the result line.
    with folders_removed_if_left_empty(target.parent), reported_once_published(target):
        report = coregister_scene(Path(lst), Path(guidance), target, units=units, decoding=decoding,
                                  max_shift_lr=max_shift, overwrite=overwrite)
        report = replace(report, input=lst, guidance=guidance, output=output)
        _say_placement(report, max_shift)
        if as_json:
            result(strict_json.dumps(json_ok(asdict(report))))  # an unmeasurable R²: null
        else:
            result_path(output)


def _say_placement(report: PlacementReport, max_shift: int) -> None:
    """The placement on stderr: a warning when the offset could not be measured, lies at the
    edge of the search (with the wider search to run), or another placement a whole LST pixel
    away fits as well (the output is written either way)."""
    if report.at_search_edge:
        warn(f"{report.input}: offset to {report.guidance} {report.placement}; {_wider_search(max_shift)}")
    elif report.placement.startswith("not measurable"):
        warn(f"{report.input}: offset to {report.guidance} {report.placement}")
    elif report.uncertain:
        warn(f"{report.input}: {report.placement} -> {report.output}")
    else:
        info(f"{report.input}: {report.placement} -> {report.output}")


def _wider_search(max_shift: int) -> str:
    """What to run when the best offset lay at the edge of a ``--max-shift`` search."""
    if max_shift >= MAX_SHIFT_LIMIT:
        return (f"--max-shift {MAX_SHIFT_LIMIT} is the widest search: check the LST's georeferencing "
                "against the guidance's")
    return f"rerun with --max-shift {min(2 * max_shift, MAX_SHIFT_LIMIT)} to search further"


def register(app: typer.Typer) -> None:
    app.command("coregister")(coregister)
