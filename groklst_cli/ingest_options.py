"""The options that say how SDGSAT-1 products are ingested: what is done about saturated MII
pixels, and how the LST is retrieved from TIS.

``ingest``, and ``downscale`` and ``prepare`` on SDGSAT-1 product folders, declare them the same
way; the rules themselves live in :mod:`pipelines.saturation` and :mod:`pipelines.lst_retrieval`.
"""

from __future__ import annotations

from typing import Any, Optional

import typer

from groklst_cli.choices import lower_case
from pipelines.saturation import SaturationOptions, parse_levels


def saturated_option() -> Any:
    return typer.Option("keep", "--saturated", callback=lower_case, help="MII pixels at their saturation DN (B4/B5 over bright ground): keep (as delivered, a lower bound, reported) or nodata (those bands and the indices made from them).")


def saturation_dn_option() -> Any:
    return typer.Option(None, "--mii-saturation-dn", help="MII DN at and above which bands are saturated: one for B2-B7 (4095) or per band (B4=4095,B5=4000: only those); default: found per camera and band where its histogram piles up at its largest DN.")


def saturation_options(saturated: str, saturation_dn: Optional[str]) -> SaturationOptions:
    return SaturationOptions(policy=saturated, levels=None if saturation_dn is None else parse_levels(saturation_dn))


def lst_method_option() -> Any:
    return typer.Option("split-window", "--lst-method", callback=lower_case, help="LST from TIS: split-window (B2 and B3) or single-channel (B2, no atmospheric correction).")


def retrieval_config_option() -> Any:
    return typer.Option(None, "--retrieval-config", help="TOML with split-window coefficients, water vapour and emissivities (default: the published Landsat-8 TIRS values; see README).")
