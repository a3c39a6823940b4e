"""groklst's GeoTIFF convention and the raster reads every command shares.

Convention for every raster groklst writes: float32, 512x512 internal tiles, DEFLATE with the
floating-point predictor, nodata NaN, CRS and transform of the source grid, one description
per band and a unit tag.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.errors import RasterioError, RasterioIOError
from rasterio.windows import Window

from pipelines.atomic import atomic_output
from pipelines.errors import InputError, environment_error

BLOCK = 512
STREAMING_CACHE_MB = 256  # GDAL block cache while streaming a scene, unless GDAL_CACHEMAX is set


def creation_profile(
    *, width: int, height: int, count: int, crs: Any, transform: Any
) -> dict[str, Any]:
    """Rasterio profile for a raster that follows the project convention."""
    return {
        "driver": "GTiff",
        "dtype": "float32",
        "nodata": float("nan"),
        "width": width,
        "height": height,
        "count": count,
        "crs": crs,
        "transform": transform,
        "compress": "deflate",
        "predictor": 3,
        "BIGTIFF": "IF_SAFER",
        "tiled": True,
        "blockxsize": BLOCK,
        "blockysize": BLOCK,
    }


def bounded_block_cache() -> rasterio.Env:
    """A rasterio environment whose GDAL block cache is capped at STREAMING_CACHE_MB.

    GDAL's default cache is 5% of RAM and fills with every block a streaming run touches, so
    peak memory would grow with the scene. A user's own ``GDAL_CACHEMAX`` is respected.
    """
    if "GDAL_CACHEMAX" in os.environ:
        return rasterio.Env()
    return rasterio.Env(GDAL_CACHEMAX=STREAMING_CACHE_MB * 2**20)  # rasterio passes bytes


def open_raster(path: str | os.PathLike[str]) -> rasterio.DatasetReader:
    """Open a raster for reading, turning missing or unreadable files into an :class:`InputError`."""
    p = Path(path)
    if not p.exists():
        raise InputError(p, "file not found", "check the path")
    if p.is_dir():
        raise InputError(p, "is a directory, expected a GeoTIFF")
    try:
        return rasterio.open(p)
    except UnicodeError as exc:
        raise environment_error(exc, p) from exc
    except RasterioIOError as exc:
        raise InputError(p, f"not a readable raster ({_first_line(exc)})", "is it a GeoTIFF?") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def read_window(
    src: rasterio.DatasetReader,
    bands: int | Sequence[int],
    window: Window,
    path: str | os.PathLike[str],
    *,
    dtype: Any = np.float32,
) -> np.ndarray:
    """Read ``bands`` in ``window`` as floats, NaN where the file says nodata or a value is not finite.

    A block that cannot be decoded (a damaged or truncated file) is an :class:`InputError`
    naming the file, not an internal error.
    """
    try:
        data = src.read(bands, window=window, masked=True)
    except RasterioError as exc:
        raise InputError(path, f"cannot be read ({_first_line(exc)})",
                         "the file may be damaged or truncated") from exc
    values = np.ma.filled(data.astype(dtype), np.nan)
    values[~np.isfinite(values)] = np.nan
    return values


def write_failed(path: str | os.PathLike[str], exc: BaseException) -> InputError:
    """A GDAL write failure as one line: the cause when the disk is full, else GDAL's message."""
    folder = Path(path).parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = None
    if free is not None and free < 64 * 2**20:
        return InputError(path, f"writing failed: no space left on the device ({free / 2**20:.0f} MiB free)",
                          "free some space or write to another disk")
    return InputError(path, f"writing failed ({_first_line(exc)}; {_cause(exc)})",
                      "check free space, quotas and file-size limits of the output folder")


def _cause(exc: BaseException) -> str:
    inner = exc.__cause__ or exc.__context__
    return _first_line(inner) if inner is not None else "no detail from GDAL"


def write_raster(
    path: str | os.PathLike[str],
    data: np.ndarray,
    *,
    crs: Any,
    transform: Any,
    descriptions: Sequence[str],
    units: str | Sequence[str] | None = None,
    tags: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a (bands, rows, cols) or (rows, cols) array atomically with the project convention."""
    arr = np.asarray(data, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[None]
    count, height, width = arr.shape
    if len(descriptions) != count:
        raise ValueError(f"{count} bands but {len(descriptions)} descriptions")
    unit_list = [units] * count if isinstance(units, str) or units is None else list(units)
    profile = creation_profile(width=width, height=height, count=count, crs=crs, transform=transform)
    with atomic_output(path, overwrite=overwrite) as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(arr)
            for band, (desc, unit) in enumerate(zip(descriptions, unit_list), start=1):
                dst.set_band_description(band, desc)
                if unit:
                    dst.set_band_unit(band, unit)
            if tags:
                dst.update_tags(**{k: str(v) for k, v in tags.items()})
    return Path(path)


def band_names(src: rasterio.DatasetReader) -> list[str]:
    """Band names from the band descriptions, ``b1..bN`` where a description is missing."""
    return [
        (desc.strip().lower() if desc and desc.strip() else f"b{i}")
        for i, desc in enumerate(src.descriptions, start=1)
    ]
