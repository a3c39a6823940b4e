"""Archive layouts for a finished GeoTIFF: internal overviews, or a Cloud-Optimized GeoTIFF.

Both run on the complete temporary file (:func:`pipelines.geotiff.geotiff_output` checks it
before and after, then renames it), so the streaming writers stay as they are and a failed
conversion leaves nothing behind.
The COG is written by GDAL's COG driver (tiled 512 x 512, DEFLATE with a predictor, overviews
by area average, nodata, band descriptions, units and tags carried over).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import rasterio
import rasterio.shutil
from rasterio.enums import Resampling

from pipelines.geotiff import BLOCK, WRITE_THREADS

OVERVIEW_RESAMPLING = Resampling.average  # LST and guidance are continuous: average, not nearest


def overview_factors(width: int, height: int, block: int = BLOCK) -> list[int]:
    """Decimation factors 2, 4, 8, ... down to the first overview that fits in one block."""
    factors, factor = [], 2
    while True:
        factors.append(factor)
        if max(width, height) / factor <= block:
            return factors
        factor *= 2


def add_overviews(path: str | os.PathLike[str]) -> None:
    """Build internal overviews in place (DEFLATE-compressed like the full resolution)."""
    with rasterio.Env(COMPRESS_OVERVIEW="DEFLATE", PREDICTOR_OVERVIEW=3, GDAL_NUM_THREADS=WRITE_THREADS), \
            rasterio.open(path, "r+") as dst:
        dst.build_overviews(overview_factors(dst.width, dst.height), OVERVIEW_RESAMPLING)
        dst.update_tags(ns="rio_overview", resampling=OVERVIEW_RESAMPLING.name)


def to_cog(path: str | os.PathLike[str]) -> None:
    """Rewrite a GeoTIFF in place as a Cloud-Optimized GeoTIFF with GDAL's COG driver."""
    path = Path(path)
    cog = path.with_name(path.name + ".cog")
    try:
        rasterio.shutil.copy(
            path, cog, driver="COG", BLOCKSIZE=BLOCK, COMPRESS="DEFLATE", PREDICTOR="YES",
            OVERVIEW_RESAMPLING=OVERVIEW_RESAMPLING.name.upper(), BIGTIFF="IF_SAFER",
            NUM_THREADS=WRITE_THREADS,
        )
        os.replace(cog, path)
    finally:
        cog.unlink(missing_ok=True)


def layout(*, cog: bool = False, overviews: bool = False) -> Callable[[Path], None] | None:
    """What gives a finished GeoTIFF the layout asked for: a COG (which has overviews), or
    overviews; ``None`` for the plain streaming layout."""
    if cog:
        return to_cog
    if overviews:
        return add_overviews
    return None
