"""Masked warps in row chunks give the one-pass values where a grid edge lies on a source pixel edge.

A chunk's transforms were in map coordinates (rounded to ~1e-10 of a pixel at 5.76e6 m) and GDAL
read the source pixels its region's edges touch by its own rounding: where a chunk's edge met a
pixel edge, a pixel of no area was counted for one warp and not the other, and mode values changed
(a 2.7 m source under a 10 m grid: up to 96 of 0..100 for some budgets). Review F10.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.env import Env

from pipelines.grids import Grid
from pipelines.warping import _warp_masked

UTM = CRS.from_epsg(32632)
GRID = Grid(UTM, Affine(10, 0, 400000, 0, -10, 5760000), 120, 120)


def _masked_source(path: Path, res: float, dx: float, dy: float) -> Path:
    """Random float32 values at ``res`` m from 20 m beyond the grid's corner shifted by (dx, dy),
    with nodata 0 and an internal mask that hides a band of rows."""
    n = int(1300 / res)
    values = (np.random.default_rng(3).random((1, n, n)) * 100).astype(np.float32)
    mask = np.full((n, n), 255, np.uint8)
    mask[40:60, 10:80] = 0
    profile = dict(driver="GTiff", width=n, height=n, count=1, dtype="float32", crs=UTM, nodata=0,
                   transform=Affine(res, 0, 400000 + dx - 20, 0, -res, 5760000 + dy + 20))
    with Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(path, "w", **profile) as dst:
        dst.write(values)
        dst.write_mask(mask)
    return path


@pytest.mark.parametrize("resampling", [Resampling.nearest, Resampling.mode, Resampling.average])
@pytest.mark.parametrize("layout", [(2.7, -10.0, 3.6), (9.0, -17.0, 3.0), (7.0, -17.0, 3.0)])
def test_pixel_picking_chunks_give_exactly_the_one_pass_values(tmp_path: Path, layout: tuple[float, float, float],
                                                               resampling: Resampling) -> None:
    with rasterio.open(_masked_source(tmp_path / "s.tif", *layout)) as src:
        whole = np.full((1, 120, 120), np.nan, np.float32)
        _warp_masked(src, [1], GRID, whole, 0.0, resampling, budget=10**12)
        for budget in range(6_000, 60_000, 6_000):  # chunk ends on many rows
            chunked = np.full((1, 120, 120), np.nan, np.float32)
            _warp_masked(src, [1], GRID, chunked, 0.0, resampling, budget=budget)
            np.testing.assert_array_equal(chunked, whole, err_msg=f"budget {budget}")
    assert np.isnan(whole).any() and np.isfinite(whole).mean() > 0.9
