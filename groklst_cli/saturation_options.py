"""The options that say what ingest does about saturated MII pixels.

``ingest``, and ``downscale`` and ``prepare`` on SDGSAT-1 product folders, declare them the same
way; the rule itself lives in :mod:`pipelines.saturation`.
"""

from __future__ import annotations

from typing import Any, Optional

import typer

from pipelines.saturation import SaturationOptions


def saturated_option() -> Any:
    return typer.Option("keep", "--saturated", help="MII pixels at their saturation DN (B4/B5 over bright ground): keep (as delivered, a lower bound, reported) or nodata (those bands and the indices made from them).")


def saturation_dn_option() -> Any:
    return typer.Option(None, "--mii-saturation-dn", min=1, max=65535, help="MII DN at and above which a band is saturated (default: found per camera and band where its histogram piles up at its largest DN).")


def saturation_options(saturated: str, saturation_dn: Optional[int]) -> SaturationOptions:
    return SaturationOptions(policy=saturated, level_dn=saturation_dn)
