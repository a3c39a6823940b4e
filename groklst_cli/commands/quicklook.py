"""``groklst quicklook``: a PNG of a downscaled LST beside its input."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from groklst_cli import lst_options
from groklst_cli.console import result_path, state
from groklst_cli.interrupts import reported_once_published
from groklst_cli.path_options import file_to_write
from pipelines.units import Units


def quicklook(
    output: Path = typer.Argument(..., help="A downscaled GeoTIFF (groklst downscale's output)."),
    png: Optional[Path] = typer.Option(None, "--output", "-o", parser=file_to_write("name the PNG, e.g. DIR/look.png"), help="PNG to write (default: OUTPUT with .png)."),
    lst: Optional[Path] = typer.Option(None, "--lst", help="The input LST (default: the output's lst_source tag)."),
    width: int = typer.Option(1200, "--width", help="PNG width in pixels."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing PNG."),
    units: Units = lst_options.units_option(),
    nodata: Optional[list[float]] = lst_options.nodata_option(),
    scale_factor: Optional[float] = lst_options.scale_factor_option(),
    offset: Optional[float] = lst_options.offset_option(),
    mask_implausible: bool = lst_options.mask_implausible_option(),
) -> None:
    """Input and output side by side, one colour scale and colour bar (K or degC), nodata transparent.

    The input LST is read as downscale read it (the output's lst_* tags); the LST options, as
    downscale takes them, override those, or say how to read it for an output written before
    the tags existed. An output downscaled from SDGSAT-1 product folders is drawn alone unless
    --lst is given (its LST was retrieved in a temporary folder). Prints the PNG path on stdout.
    """
    from pipelines.quicklook import LstReading, write_quicklook

    state.working_on(output, png)
    target = png or output.with_suffix(".png")
    reading = LstReading(lst_options.lst_decoding(nodata, scale_factor, offset, mask_implausible), units)
    with reported_once_published(target):  # a Ctrl-C after the rename waits for the result line
        write_quicklook(output, target, lst_path=lst, reading=reading, width_px=width, overwrite=overwrite)
        result_path(target)


def register(app: typer.Typer) -> None:
    app.command("quicklook")(quicklook)
