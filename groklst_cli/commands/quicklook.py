"""``groklst quicklook``: a PNG of a downscaled LST beside its input."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from groklst_cli import lst_options
from groklst_cli.console import result_path, state
from groklst_cli.interrupts import reported_once_published
from groklst_cli.path_options import not_empty, typed_file_to_write
from pipelines.atomic import folders_removed_if_left_empty
from pipelines.units import Units

# downscale's LST options, with what they default to here: the output's lst_* tags (for the LST
# its lst_source tag names), then the file's own metadata and values.
UNITS_HELP = ("Unit of the input LST (auto: the unit the output's lst_units tag recorded, else detected "
              "from the value range).")
NODATA_HELP = ("A fill value of the input LST in stored units, nodata besides the file's own (repeat for "
               "several; default: those the output's lst_nodata tag recorded).")
SCALE_FACTOR_HELP = ("LST = stored * scale-factor + offset (default: the output's lst_scale_factor tag, else "
                     "the file's scale metadata, else 1); e.g. 0.00341802 for Landsat C2 ST.")
OFFSET_HELP = ("See --scale-factor (default: the output's lst_offset tag, else the file's offset metadata, "
               "else 0); e.g. 149.0 for Landsat C2 ST.")
MASK_IMPLAUSIBLE_HELP = ("Draw input LST values outside 150-400 K (-120..120 degC) as nodata (transparent) "
                         "instead of at the colour bar's ends with a warning (also when the output's "
                         "lst_mask_implausible tag says so).")


# --width's bounds: narrower leaves no room for two panels and their colour bar (the pipeline's
# own minimum); 8000 px (a poster) takes about 0.9 GB to draw, far wider runs out of memory.
MIN_WIDTH_PX = 200
MAX_WIDTH_PX = 8000


def quicklook(
    output: str = typer.Argument(..., parser=not_empty("OUTPUT", "name a downscaled GeoTIFF", str), help="A downscaled GeoTIFF (groklst downscale's output)."),
    png: Optional[str] = typer.Option(None, "--output", "-o", metavar="<Path>", parser=typed_file_to_write("name the PNG, e.g. DIR/look.png"), help="PNG to write (default: OUTPUT with .png)."),
    lst: Optional[Path] = typer.Option(None, "--lst", parser=not_empty("--lst", "name the input LST, or drop --lst for the output's lst_source tag"), help="The input LST (default: the output's lst_source tag)."),
    width: int = typer.Option(1200, "--width", min=MIN_WIDTH_PX, max=MAX_WIDTH_PX,
                              help="PNG width in pixels; a tall output's panels are drawn at most "
                              "this tall (aspect ratio kept)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing PNG."),
    units: Units = lst_options.units_option(help=UNITS_HELP),
    nodata: Optional[list[float]] = lst_options.nodata_option(help=NODATA_HELP),
    scale_factor: Optional[float] = lst_options.scale_factor_option(help=SCALE_FACTOR_HELP),
    offset: Optional[float] = lst_options.offset_option(help=OFFSET_HELP),
    mask_implausible: bool = lst_options.mask_implausible_option(help=MASK_IMPLAUSIBLE_HELP),
) -> None:
    """Input and output side by side, one colour scale and colour bar (K or degC), nodata transparent.

    The input LST is read as downscale read it (the output's lst_* tags); the LST options, as
    downscale takes them, override those, or say how to read it for an output written before
    the tags existed. An output downscaled from SDGSAT-1 product folders is drawn alone unless
    --lst is given (its LST was retrieved in a temporary folder); an LST written by groklst
    ingest is drawn alone too (it is the LST). Prints the PNG path on stdout.
    """
    from pipelines.quicklook import LstReading, write_quicklook

    state.working_on(output, png)  # as typed (``./q.png``): scripts join the lines on the names they gave
    shown = png or _png_beside(output)
    target = Path(shown)
    reading = LstReading(lst_options.lst_decoding(nodata, scale_factor, offset, mask_implausible), units)
    # Folders of -o made by a run that writes nothing are removed again; a Ctrl-C after the
    # rename waits for the result line.
    with folders_removed_if_left_empty(target.parent), reported_once_published(target):
        write_quicklook(Path(output), target, lst_path=lst, reading=reading, width_px=width, overwrite=overwrite)
        result_path(shown)


def _png_beside(output: str) -> str:
    """The default PNG, ``output`` with .png, named as ``output`` was typed (``./x.png`` for
    ``./x.tif``, which pathlib folds to ``x.png``); pathlib's name where the typed one does not
    end in the file's name. A path with no name (``''``, ``.``, ``/``) is a folder, which the
    input check refuses before anything is written: ``.png`` is appended only so that it does
    not fail first (pathlib's with_suffix raises on an empty name)."""
    path = Path(output)
    if not path.name:
        return output + ".png"
    if path.name and output.endswith(path.name):
        return output[: len(output) - len(path.suffix)] + ".png"
    return str(path.with_suffix(".png"))


def register(app: typer.Typer) -> None:
    app.command("quicklook")(quicklook)
