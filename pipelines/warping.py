"""Resampling rasters onto a target grid strip by strip, with ``rasterio.warp``.

``ingest`` and ``guidance`` both build fine grids from sources on other grids. They stream the
target in strips of whole GeoTIFF blocks and let GDAL's warper read only the source pixels each
strip needs, so memory grows with the scene's width, not its area.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.warp import reproject

from pipelines.geotiff import BLOCK
from pipelines.grids import Grid


def warp_bands(
    src: rasterio.DatasetReader,
    bands: int | Sequence[int],
    grid: Grid,
    *,
    src_nodata: float | None,
    resampling: Resampling = Resampling.bilinear,
) -> np.ndarray:
    """Band(s) of ``src`` resampled onto ``grid`` as float32, NaN where there is no data.

    One band gives a (rows, cols) array, a sequence of bands a (bands, rows, cols) array. Each
    band is warped on its own: in one call GDAL takes a pixel as nodata only where every band
    is, so a hole in one band of a multi-band source became data (QA).
    """
    indexes = [bands] if isinstance(bands, int) else list(bands)
    out = np.full((len(indexes), grid.height, grid.width), np.nan, dtype=np.float32)
    for index, layer in zip(indexes, out):
        reproject(rasterio.band(src, index), layer, src_nodata=src_nodata, dst_transform=grid.transform,
                  dst_crs=grid.crs, dst_nodata=np.nan, resampling=resampling)
    return out[0] if isinstance(bands, int) else out


def strip_height(ratio: int, strip_rows: int | None) -> int:
    """Coarse rows per strip: by default the fewest whose ``ratio``-times finer rows are whole
    512-row blocks."""
    if strip_rows is not None:
        return max(1, strip_rows)
    return math.lcm(BLOCK, ratio) // ratio


def grid_rows(grid: Grid, top: int, height: int) -> Grid:
    """The sub-grid of ``height`` rows starting at row ``top``."""
    return Grid(grid.crs, grid.transform @ Affine.translation(0, top), grid.width, height)
