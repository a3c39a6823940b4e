"""SDGSAT-1 products -> the canonical scene pair ``NAME_lst.tif`` + ``NAME_guidance.tif``.

The LST grid is the grid of the given LST raster (``lst``) or of the TIS product, cropped to
whole pixels inside the MII footprint. The guidance grid subdivides it by an integer ratio
(the LST/MII resolution ratio, 3 for 30 m/10 m) so that every LST pixel holds exactly
``ratio x ratio`` guidance pixels. MII cameras A and B are calibrated to approximate TOA
reflectance, resampled (bilinear; an exact copy when the grids already align) and mosaicked
(first camera wins where they overlap). Guidance bands follow the GrokLST paper's order.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform_bounds
from rasterio.windows import Window, from_bounds

from pipelines import indices, lst_retrieval, sdgsat
from pipelines.atomic import check_writable
from pipelines.errors import InputError
from pipelines.geotiff import open_raster, write_raster
from pipelines.sample_scene import BAND_NAMES, BAND_UNITS
from pipelines.units import Units, detect_units, to_kelvin

DEFAULT_DEM_M = 0.0  # elevation written when no --dem is given (a constant band, flagged in the tags)
LST_METHODS = ("split-window", "single-channel")
MII_GUIDANCE_BANDS = (2, 3, 4, 5, 6, 7)  # deep blue, blue, green, red, VRE, NIR
MAX_SOLAR_ZENITH = 85.0  # deg; lower suns make TOA reflectance meaningless (night MII scenes)
STEP_COUNT = len(MII_GUIDANCE_BANDS) + 4  # products found, each MII band, LST, DEM, written

StepCallback = Callable[[str], None]


class IngestWarning(UserWarning):
    """Something the user should know about an ingested scene (e.g. no DEM given)."""


@dataclass(frozen=True)
class _Grid:
    crs: CRS
    transform: Affine
    height: int
    width: int


def _looks_like_product(folder: Path, patterns: sdgsat.ProductPatterns) -> bool:
    globs = (*patterns.tis_images, *patterns.mii_images, patterns.calib)
    return any(any(folder.glob(g)) for g in globs)


def find_products(paths: Sequence[Path], patterns: sdgsat.ProductPatterns = sdgsat.PATTERNS) -> list[sdgsat.Product]:
    """Products in ``paths``: each path is a product folder or a folder holding product folders."""
    products = []
    for path in map(Path, paths):
        if not path.exists():
            raise InputError(path, "not found", "give SDGSAT-1 product folders")
        if not path.is_dir():
            raise InputError(path, "not a folder", "give the product folder, not a file inside it")
        if _looks_like_product(path, patterns):
            products.append(sdgsat.read_product(path, patterns))
            continue
        inner = [p for p in sorted(path.iterdir()) if p.is_dir() and _looks_like_product(p, patterns)]
        if not inner:
            raise InputError(path, "no SDGSAT-1 product found", "expected KX10_TIS_*/KX10_MII_* folders")
        products.extend(sdgsat.read_product(p, patterns) for p in inner)
    return products


def _pick(products: list[sdgsat.Product], sensor: str, needed: bool) -> sdgsat.Product | None:
    found = [p for p in products if p.sensor == sensor]
    if len(found) > 1:
        raise InputError(found[1].folder, f"more than one {sensor} product given", "ingest one scene at a time")
    if needed and not found:
        hint = "add the TIS product or pass --lst LST.tif" if sensor == "TIS" else "add the MII product"
        raise InputError(products[0].folder if products else None, f"no {sensor} product given", hint)
    return found[0] if found else None


def default_name(mii: sdgsat.Product) -> str:
    """The scene name from the MII folder name, without the sensor token."""
    return mii.folder.name.replace("_MII_", "_", 1)


def _common_crs(srcs: list[rasterio.DatasetReader]) -> CRS:
    crs = srcs[0].crs
    for src in srcs:
        if src.crs is None:
            raise InputError(src.name, "has no CRS", "MII imagery must be georeferenced")
        if src.crs != crs:
            raise InputError(src.name, "MII cameras A and B are in different CRSs")
    return crs


def _grids(lst_src: rasterio.DatasetReader, mii_srcs: list[rasterio.DatasetReader]) -> tuple[Window, _Grid, _Grid, int]:
    """The LST window inside the MII footprint, the LST and guidance grids, and their ratio."""
    if lst_src.crs is None:
        raise InputError(lst_src.name, "has no CRS", "the LST raster must be georeferenced")
    mii_crs = _common_crs(mii_srcs)
    lst_res, mii_res = abs(lst_src.transform.a), abs(mii_srcs[0].transform.a)
    if not lst_src.crs.is_projected or not mii_crs.is_projected:
        raise InputError(lst_src.name if not lst_src.crs.is_projected else mii_srcs[0].name,
                         "is not in a projected CRS", "SDGSAT-1 L4 products are in UTM")
    ratio = round(lst_res / mii_res)
    if ratio < 1 or abs(lst_res / mii_res - ratio) > 0.02 * ratio:
        raise InputError(lst_src.name, f"{lst_res:g} m LST does not nest {mii_res:g} m MII pixels",
                         "the LST resolution must be an integer multiple of the MII resolution")
    boxes = [transform_bounds(src.crs, lst_src.crs, *src.bounds) for src in mii_srcs]
    left, bottom = min(b[0] for b in boxes), min(b[1] for b in boxes)
    right, top = max(b[2] for b in boxes), max(b[3] for b in boxes)
    raw = from_bounds(left, bottom, right, top, lst_src.transform)
    col0, row0 = max(math.ceil(raw.col_off - 1e-6), 0), max(math.ceil(raw.row_off - 1e-6), 0)
    col1 = min(math.floor(raw.col_off + raw.width + 1e-6), lst_src.width)
    row1 = min(math.floor(raw.row_off + raw.height + 1e-6), lst_src.height)
    if col1 <= col0 or row1 <= row0:
        raise InputError(lst_src.name, "does not overlap the MII product", "check that both cover the same area")
    window = Window(col0, row0, col1 - col0, row1 - row0)
    lst_transform = lst_src.transform @ Affine.translation(col0, row0)
    lst_grid = _Grid(lst_src.crs, lst_transform, window.height, window.width)
    guidance_grid = _Grid(lst_src.crs, lst_transform @ Affine.scale(1.0 / ratio),
                          window.height * ratio, window.width * ratio)
    return window, lst_grid, guidance_grid, ratio


def _warp(src: rasterio.DatasetReader, band: int, grid: _Grid, src_nodata: float | None) -> np.ndarray:
    out = np.full((grid.height, grid.width), np.nan, dtype=np.float32)
    reproject(rasterio.band(src, band), out, src_nodata=src_nodata, dst_transform=grid.transform,
              dst_crs=grid.crs, dst_nodata=np.nan, resampling=Resampling.bilinear)
    return out


def _mii_reflectance(mii: sdgsat.Product, srcs: list[rasterio.DatasetReader], grid: _Grid,
                     on_step: StepCallback) -> list[np.ndarray]:
    """Approximate TOA reflectance of MII B2..B7 on the guidance grid, cameras mosaicked."""
    if mii.solar_zenith is None:
        raise InputError(mii.folder, "no solar zenith in the meta.xml", "adapt PATTERNS.solar_zenith_tags")
    if not 0.0 <= mii.solar_zenith < MAX_SOLAR_ZENITH:
        raise InputError(mii.folder, f"solar zenith {mii.solar_zenith:g} deg in the meta.xml",
                         f"reflectance needs the sun above the horizon (zenith < {MAX_SOLAR_ZENITH:g} deg)")
    for src in srcs:
        if src.count < 7:
            raise InputError(src.name, f"{src.count} bands, MII imagery has 7", "is this an MII image?")
    bands = []
    for band in MII_GUIDANCE_BANDS:
        if band not in mii.calibration.gains:
            raise InputError(mii.folder, f"calib.xml has no gain for MII band {band}")
        mosaic = np.full((grid.height, grid.width), np.nan, dtype=np.float32)
        for src in srcs:
            dn = _warp(src, band, grid, src_nodata=0)
            fill = np.isnan(mosaic) & np.isfinite(dn)
            mosaic[fill] = dn[fill]
        radiance = mii.calibration.gains[band] * mosaic + mii.calibration.biases[band]
        bands.append((radiance * sdgsat.reflectance_factor(band, mii.solar_zenith, mii.acquired)).astype(np.float32))
        on_step(f"MII B{band}")
    if not np.isfinite(bands[0]).any():
        raise InputError(mii.folder, "no valid MII pixels inside the LST footprint")
    return bands


def _dem_band(dem: Path | None, grid: _Grid) -> tuple[np.ndarray, str]:
    if dem is None:
        warnings.warn(f"no --dem given: the dem band is filled with the constant {DEFAULT_DEM_M:g} m",
                      IngestWarning, stacklevel=3)
        return np.full((grid.height, grid.width), DEFAULT_DEM_M, dtype=np.float32), f"constant {DEFAULT_DEM_M:g} m"
    with open_raster(dem) as src:
        if src.crs is None:
            raise InputError(dem, "has no CRS", "the DEM must be georeferenced")
        out = _warp(src, 1, grid, src_nodata=src.nodata)
    if not np.isfinite(out).any():
        raise InputError(dem, "does not overlap the scene", "give a DEM covering the MII footprint")
    if not np.isfinite(out).all():
        warnings.warn(f"{dem} does not cover the whole scene: dem is nodata there", IngestWarning, stacklevel=3)
    return out, Path(dem).name


def _block_mean(band: np.ndarray, ratio: int) -> np.ndarray:
    rows, cols = band.shape[0] // ratio, band.shape[1] // ratio
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # blocks without MII data stay NaN
        return np.nanmean(band.reshape(rows, ratio, cols, ratio), axis=(1, 3))


def _given_lst(src: rasterio.DatasetReader, window: Window) -> tuple[np.ndarray, dict[str, str]]:
    names = [(d or "").strip().lower() for d in src.descriptions]
    if src.count != 1 and "lst" not in names:
        raise InputError(src.name, f"{src.count} bands and none named 'lst'", "give a single-band LST raster")
    band = names.index("lst") + 1 if "lst" in names else 1
    data = src.read(band, window=window, masked=True).astype(np.float64).filled(np.nan)
    declared = (src.units[band - 1] or "").strip().lower()
    units = (Units.celsius if declared in ("degc", "c", "celsius", "°c")
             else Units.kelvin if declared in ("k", "kelvin") else detect_units(data))
    if not np.isfinite(data).any():
        raise InputError(src.name, "no valid LST pixels inside the MII footprint")
    return to_kelvin(data, units), {"lst_source": Path(src.name).name, "lst_input_units": units.value}


def _tis_lst(tis: sdgsat.Product, src: rasterio.DatasetReader, window: Window, reflectance: list[np.ndarray],
             ratio: int, method: str, config: lst_retrieval.RetrievalConfig) -> tuple[np.ndarray, dict[str, str]]:
    if src.count < 3:
        raise InputError(src.name, f"{src.count} bands, TIS imagery has 3", "is this a TIS image?")
    temps = []
    for band in (2, 3):
        if band not in tis.calibration.gains:
            raise InputError(tis.folder, f"calib.xml has no gain for TIS band {band}")
        radiance = tis.calibration.radiance(src.read(band, window=window), band)
        temps.append(sdgsat.brightness_temperature(radiance, band))
    green, red, nir = (_block_mean(reflectance[i], ratio) for i in (2, 3, 5))
    e2, e3 = lst_retrieval.emissivity(indices.ndvi(red, nir), indices.ndwi(green, nir), config)
    if method == "split-window":
        lst = lst_retrieval.split_window(temps[0], temps[1], e2, e3, config)
        detail = f"c={list(config.c)}, water_vapour={config.water_vapour:g} g/cm2"
    else:
        lst = lst_retrieval.single_channel(temps[0], e2, sdgsat.TIS_WAVELENGTH_UM[1])
        detail = "TIS B2, no atmospheric correction"
    if not np.isfinite(lst).any():
        raise InputError(tis.folder, "no valid TIS pixels inside the MII footprint")
    tags = {"lst_source": tis.folder.name, "lst_method": f"{method} ({detail}), NDVI-threshold emissivity",
            "approximate": "yes: LST retrieved without SDGSAT-1-specific coefficients"}
    return lst, tags


def ingest_product(
    product_dirs: list[Path],
    out_dir: Path,
    name: str | None = None,
    dem: Path | None = None,
    lst: Path | None = None,
    overwrite: bool = False,
    *,
    method: str = "split-window",
    retrieval_config: Path | None = None,
    patterns: sdgsat.ProductPatterns = sdgsat.PATTERNS,
    on_step: StepCallback | None = None,
) -> tuple[Path, Path]:
    """Ingest SDGSAT-1 product folders into ``out_dir``; return the (lst, guidance) paths written.

    ``lst`` gives the LST raster (K or degC); without it the LST is retrieved from the TIS
    product by ``method`` with coefficients from ``retrieval_config`` (see
    :mod:`pipelines.lst_retrieval`). Warnings (e.g. no DEM) are issued as :class:`IngestWarning`.
    """
    step = on_step or (lambda _: None)
    if method not in LST_METHODS:
        raise InputError("--lst-method", f"unknown method {method!r}", f"use one of {', '.join(LST_METHODS)}")
    config = lst_retrieval.load_config(retrieval_config)
    products = find_products(product_dirs, patterns)
    mii = _pick(products, "MII", needed=True)
    tis = _pick(products, "TIS", needed=lst is None)
    name = name or default_name(mii)
    lst_path, guidance_path = Path(out_dir) / f"{name}_lst.tif", Path(out_dir) / f"{name}_guidance.tif"
    check_writable(lst_path, overwrite)
    check_writable(guidance_path, overwrite)
    step("find products")

    with ExitStack() as stack:
        mii_srcs = [stack.enter_context(open_raster(p)) for p in mii.images]
        lst_src = stack.enter_context(open_raster(lst if lst is not None else tis.images[0]))
        window, lst_grid, guidance_grid, ratio = _grids(lst_src, mii_srcs)
        reflectance = _mii_reflectance(mii, mii_srcs, guidance_grid, step)
        if lst is not None:
            lst_data, lst_tags = _given_lst(lst_src, window)
        else:
            lst_data, lst_tags = _tis_lst(tis, lst_src, window, reflectance, ratio, method, config)
        step("LST")
    dem_band, dem_source = _dem_band(dem, guidance_grid)
    step("DEM")
    deepblue, blue, green, red, vre, nir = reflectance
    guidance = np.stack([dem_band, deepblue, blue, green, red, vre, nir, indices.ndmvi(red, nir),
                         indices.ndvi(red, nir), indices.ndwi(green, nir)])

    common = {"generator": "groklst ingest", "mii_source": mii.folder.name, "ratio": str(ratio)}
    write_raster(guidance_path, guidance, crs=guidance_grid.crs, transform=guidance_grid.transform,
                 descriptions=list(BAND_NAMES), units=list(BAND_UNITS), overwrite=overwrite,
                 tags={**common, "dem_source": dem_source,
                       "reflectance": "approximate TOA (MII calib.xml gains, tabulated ESUN)"})
    write_raster(lst_path, lst_data, crs=lst_grid.crs, transform=lst_grid.transform, descriptions=["lst"],
                 units="K", overwrite=overwrite, tags={**common, **lst_tags})
    step("write")
    return lst_path, guidance_path
