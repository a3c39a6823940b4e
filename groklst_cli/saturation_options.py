"""The options that say what ingest does about saturated MII pixels.

``ingest``, and ``downscale`` and ``prepare`` on SDGSAT-1 product folders, declare them the same
way; the rule itself lives in :mod:`pipelines.saturation`.
"""

from __future__ import annotations

from typing import Any, Optional

import typer

from pipelines.saturation import SaturationOptions, parse_levels


def saturated_option() -> Any:
    return typer.Option("keep", "--saturated", help="MII pixels at their saturation DN (B4/B5 over bright ground): keep (as delivered, a lower bound, reported) or nodata (those bands and the indices made from them).")


def saturation_dn_option() -> Any:
    return typer.Option(None, "--mii-saturation-dn", help="MII DN at and above which bands are saturated: one for B2-B7 (4095) or per band (B4=4095,B5=4000: only those); default: found per camera and band where its histogram piles up at its largest DN.")


def saturation_options(saturated: str, saturation_dn: Optional[str]) -> SaturationOptions:
    return SaturationOptions(policy=saturated, levels=None if saturation_dn is None else parse_levels(saturation_dn))
