"""How SDGSAT-1 product folders given to ``downscale`` or ``prepare`` are ingested: the options
``groklst ingest`` takes for an LST it retrieves, in one record that runs take, check before
any product is read, and write into a dataset's ``info.json``."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines import lst_retrieval
from pipelines.errors import GroklstWarning, InputError
from pipelines.geotiff import check_raster
from pipelines.saturation import SaturationOptions
from pipelines.sdgsat import SPLIT_WINDOW_BANDS

LST_METHODS = ("split-window", "single-channel")


def ingest_outputs(products: Sequence[Path], out_dir: Path, name: str | None,
                   read_tis: bool = True) -> tuple[Path, Path] | None:
    """The LST and guidance paths :func:`pipelines.ingest.ingest_product` writes for ``products``
    (``OUT_DIR/NAME_lst.tif``, ``OUT_DIR/NAME_guidance.tif``), from the folders' names and
    metadata alone, no raster read; None when the products name no scene (no or several MII
    products, no delivered name, a ``name`` that is a path): the ingest refuses them itself,
    in its own order, so nothing is refused here. No TIS band is required (the MII names the
    scene; a TIS without B3 is the ingest's to judge by its method, and a finished scene is
    skipped by ``--skip-existing``), and what the products hold is warned about by the ingest,
    which reads them again (once, not twice). ``read_tis`` False (``--lst``): a TIS product is
    not read, as the ingest does not read it (:func:`pipelines.ingest.find_products`)."""
    from pipelines.ingest import default_name, find_products  # imports scipy: not at start-up

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GroklstWarning)
            mii = [product for product in find_products(products, tis_read=(), read_tis=read_tis) if product.sensor == "MII"]
        name = name or (default_name(mii[0]) if len(mii) == 1 else None)
    except InputError:
        return None
    if name is None or Path(name).name != name or name in (".", ".."):
        return None
    return Path(out_dir) / f"{name}_lst.tif", Path(out_dir) / f"{name}_guidance.tif"


def ingest_finished(lst_path: Path, guidance_path: Path) -> bool:
    """Whether ``--skip-existing`` skips an ingest: True when both of its pair are complete
    outputs of ``groklst ingest``, False when neither is there. One without the other, or
    either not a complete ingest output (cut short, another tool's file), is an
    :class:`InputError` naming it: the pair is neither taken for finished nor replaced."""
    from pipelines.finished_outputs import SKIP_HINT, finished_as
    from pipelines.ingest_record import INGESTED_GUIDANCE, INGESTED_LST

    lst_done, guidance_done = finished_as(lst_path, INGESTED_LST), finished_as(guidance_path, INGESTED_GUIDANCE)
    if lst_done != guidance_done:
        there, missing = (lst_path, guidance_path) if lst_done else (guidance_path, lst_path)
        if not os.path.lexists(missing):  # anything else there is refused by the write, as without the option
            raise InputError(there, f"exists but {missing} does not, so it is no finished ingest", SKIP_HINT)
    return lst_done and guidance_done


def tis_bands_read(method: str) -> tuple[int, ...]:
    """The TIS bands an LST ``method`` reads: B2 and B3 for the split window, B2 alone otherwise
    (only these need an image and a gain)."""
    return SPLIT_WINDOW_BANDS if method == "split-window" else (2,)


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
        """Refuse an unknown method or saturation policy, saturation levels no band can take, an
        unreadable retrieval TOML or a --dem that is no raster before a scene takes a while (or is
        skipped: a typo in --dem passed unnoticed in every rerun of an archive)."""
        check_lst_method(self.lst_method)
        self.saturation.check()
        lst_retrieval.load_config(self.retrieval_config)
        if self.dem is not None:
            check_raster(self.dem)

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
