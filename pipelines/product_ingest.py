"""How SDGSAT-1 product folders given to ``downscale`` or ``prepare`` are ingested: the options
``groklst ingest`` takes for an LST it retrieves, in one record that runs take, check before
any product is read, and write into a dataset's ``info.json``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines import lst_retrieval
from pipelines.errors import InputError
from pipelines.saturation import SaturationOptions

LST_METHODS = ("split-window", "single-channel")


def check_lst_method(method: str) -> None:
    """Refuse a retrieval method groklst does not have."""
    if method not in LST_METHODS:
        raise InputError("--lst-method", f"unknown method {method!r}", f"use one of {', '.join(LST_METHODS)}")


@dataclass(frozen=True)
class ProductIngest:
    """``--dem``, ``--no-coregister``, ``--destripe``, ``--saturated``, ``--mii-saturation-dn``,
    and how the LST is retrieved from TIS (``--lst-method``, ``--retrieval-config``: a TOML of
    split-window coefficients, water vapour and emissivities; None: the built-in ones)."""

    dem: Path | None = None
    coregister: bool = True
    destripe: bool = False
    saturation: SaturationOptions = SaturationOptions()
    lst_method: str = "split-window"
    retrieval_config: Path | None = None

    def check(self) -> None:
        """Refuse an unknown method or an unreadable retrieval TOML before a scene takes a while."""
        check_lst_method(self.lst_method)
        lst_retrieval.load_config(self.retrieval_config)

    def files(self) -> list[Path]:
        """The files the ingest reads besides the products' own (the DEM, the retrieval TOML and
        the water vapour raster it names): no output of the run may be one of them."""
        named = (self.dem, self.retrieval_config, lst_retrieval.load_config(self.retrieval_config).water_vapour_raster)
        return [Path(path) for path in named if path is not None]

    def ingest_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :func:`pipelines.ingest.ingest_product` these options set."""
        return {"dem": self.dem, "coregister": self.coregister, "destripe_b2": self.destripe,
                "saturation": self.saturation, "method": self.lst_method,
                "retrieval_config": self.retrieval_config}

    def settings(self) -> dict[str, Any]:
        """The options as info.json records them: paths absolute, the saturation DN as
        ``--mii-saturation-dn`` takes it (null: found from the histograms)."""
        return {"dem": _absolute(self.dem), "coregister": self.coregister, "destripe": self.destripe,
                "saturated": self.saturation.policy, "mii_saturation_dn": self.saturation.given() or None,
                "lst_method": self.lst_method, "retrieval_config": _absolute(self.retrieval_config)}


def _absolute(path: Path | None) -> str | None:
    return None if path is None else str(Path(path).resolve())
