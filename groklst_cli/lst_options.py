"""The options that say how a file's stored LST values become temperatures.

Every command that reads a user's LST (``prepare``, ``ingest --lst``) declares them the same
way and with the same meaning as ``downscale``; the rule itself lives in
:mod:`pipelines.lst_values`. A command whose defaults differ (``quicklook`` reads the output's
``lst_*`` tags first) passes its own ``help``: one declaration, help that is true where shown.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Optional

import typer

from pipelines.errors import InputError
from pipelines.units import Units

if TYPE_CHECKING:
    from pipelines.lst_values import LstDecoding

UNITS_HELP = "Unit of the input LST (auto: detected from the value range)."
NODATA_HELP = "A fill value of the LST in stored units, nodata besides the file's own (repeat for several)."
SCALE_FACTOR_HELP = ("LST = stored * scale-factor + offset (default: the file's scale metadata, else 1); "
                     "e.g. 0.00341802 for Landsat C2 ST.")
OFFSET_HELP = "See --scale-factor (default: the file's offset metadata, else 0); e.g. 149.0 for Landsat C2 ST."
# --offset's bound: the temperature a stored 0 reads as lies within this of 0 for every encoding
# known (149.0 Landsat C2 ST, 273.15 between the units, 0 MODIS/VIIRS/ECOSTRESS); -1e30 was read,
# and refused per scene with a hint about fill values that did not apply.
MAX_OFFSET = 1000.0
# The parameters of the options above: how a user's LST file is read, never groklst's own
# Kelvin LST retrieved from SDGSAT-1 product folders.
LST_FILE_PARAMS = ("units", "nodata", "scale_factor", "offset", "mask_implausible")
MASK_IMPLAUSIBLE_HELP = ("Treat LST values outside 150-400 K (-120..120 degC) as nodata instead of refusing "
                         "the scene. An integer type's extreme (e.g. uint16 65535) that reads as plausible is "
                         "still refused: declare it with --nodata.")


def units_option(help: str = UNITS_HELP) -> Any:
    return typer.Option(Units.auto, "--units", case_sensitive=False, help=help)


def nodata_option(help: str = NODATA_HELP) -> Any:
    return typer.Option(None, "--nodata", help=help)


def scale_factor_option(help: str = SCALE_FACTOR_HELP) -> Any:
    return typer.Option(None, "--scale-factor", help=help)


def offset_option(help: str = OFFSET_HELP) -> Any:
    return typer.Option(None, "--offset", help=help)


def mask_implausible_option(help: str = MASK_IMPLAUSIBLE_HELP) -> Any:
    return typer.Option(False, "--mask-implausible", help=help)


def lst_decoding(nodata: Optional[list[float]], scale_factor: Optional[float], offset: Optional[float],
                 mask_implausible: bool) -> LstDecoding:
    """The declared decoding (an InputError for impossible values)."""
    from pipelines.lst_values import LstDecoding

    _check_offset(offset)
    return LstDecoding(nodata=tuple(nodata or ()), scale_factor=scale_factor, offset=offset,
                       mask_implausible=mask_implausible)


def refuse_for_products(ctx: typer.Context, hint: str) -> None:
    """Refuse the first LST-file option given (:data:`LST_FILE_PARAMS`) to a run from SDGSAT-1
    product folders: it would rescale the LST groklst retrieves in Kelvin (``--scale-factor 1.1``
    made prepare's training targets 31 K too hot). ``hint`` says what to do; ``{option}`` in it
    is the option's name."""
    from groklst_cli.option_sources import was_given

    for param in ctx.command.params:
        if param.name in LST_FILE_PARAMS and was_given(ctx, param.name):
            option = param.opts[0]
            raise InputError(option, "does not apply to SDGSAT-1 product folders: groklst retrieves their "
                             "LST in Kelvin itself", hint.format(option=option))


def _check_offset(offset: Optional[float]) -> None:
    """Refuse an --offset no encoding has (:data:`MAX_OFFSET`); NaN and inf are LstDecoding's to
    refuse, as not finite (inf was said to be outside the range)."""
    if offset is not None and math.isfinite(offset) and abs(offset) > MAX_OFFSET:
        raise InputError("--offset", f"{offset:g} is outside the plausible range -{MAX_OFFSET:g}..{MAX_OFFSET:g}",
                         "an offset is the temperature a stored 0 reads as, e.g. 149.0 for Landsat C2 ST, "
                         "273.15 between degC and K, 0 for MODIS")
