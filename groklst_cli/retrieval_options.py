"""The options that say how an LST is retrieved from a TIS product.

``ingest``, and ``downscale`` and ``prepare`` on SDGSAT-1 product folders, declare them the same
way; the retrieval itself lives in :mod:`pipelines.lst_retrieval`.
"""

from __future__ import annotations

from typing import Any

import typer


def lst_method_option() -> Any:
    return typer.Option("split-window", "--lst-method", help="LST from TIS: split-window (B2 and B3) or single-channel (B2, no atmospheric correction).")


def retrieval_config_option() -> Any:
    return typer.Option(None, "--retrieval-config", help="TOML with split-window coefficients, water vapour and emissivities (default: the published Landsat-8 TIRS values; see README).")
