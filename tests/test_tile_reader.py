"""Reading tiles beyond the guidance footprint, and placing predictions partly off the raster."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from pipelines.geotiff import write_raster
from pipelines.mosaic import StreamingMosaic
from pipelines.tile_reader import _read_guidance_padded


def block_mean_padded(data: np.ndarray, row: int, col: int, rows: int, cols: int, factor: int) -> np.ndarray:
    """The window of ``data`` (finite everywhere; NaN beyond it) averaged over ``factor`` blocks;
    a block cut by the raster's edge is NaN (only whole output pixels are read off the raster)."""
    k, h, w = data.shape
    pad = 100
    padded = np.full((k, h + 2 * pad, w + 2 * pad), np.nan, np.float32)
    padded[:, pad:pad + h, pad:pad + w] = data
    window = padded[:, pad + row:pad + row + rows, pad + col:pad + col + cols]
    blocks = window.reshape(k, rows // factor, factor, cols // factor, factor)
    return blocks.mean(axis=(2, 4))  # any NaN in a block makes it NaN


@pytest.mark.parametrize("factor", [1, 2])
@pytest.mark.parametrize("window", [(-4, -6, 12, 16), (10, 14, 12, 16), (-2, 18, 30, 8), (2, 2, 8, 8)])
def test_guidance_read_beyond_the_raster_is_nan_there(tmp_path: Path, factor: int,
                                                      window: tuple[int, int, int, int]) -> None:
    rng = np.random.default_rng(1)
    data = rng.normal(0, 1, (2, 21, 25)).astype(np.float32)  # odd sizes: edges cut factor-2 blocks
    path = tmp_path / "g.tif"
    write_raster(path, data, crs=CRS.from_epsg(32647), transform=Affine(10, 0, 0, 0, -10, 0),
                 descriptions=["a", "b"], overwrite=True)
    row, col, rows, cols = window
    with rasterio.open(path) as src:
        got = _read_guidance_padded(src, [1, 2], Window(col, row, cols, rows), factor, path)
    expected = block_mean_padded(data, row, col, rows, cols, factor)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got[~np.isnan(got)], expected[~np.isnan(expected)], rtol=1e-6)


class _Sink:
    """A stand-in for a GeoTIFF being written: the rows the mosaic writes."""

    def __init__(self, height: int, width: int):
        self.height, self.width = height, width
        self.data = np.full((height, width), -1.0, np.float32)

    def write(self, block: np.ndarray, band: int, window: Window) -> None:
        self.data[int(window.row_off):int(window.row_off + window.height)] = block


def test_mosaic_drops_what_lies_off_the_raster() -> None:
    sink = _Sink(6, 8)
    mosaic = StreamingMosaic(sink, block_rows=2)  # type: ignore[arg-type]
    tile = np.arange(100, dtype=np.float32).reshape(10, 10)
    mosaic.add(-2, -1, tile, np.ones_like(tile))  # hangs off the top, left, bottom and right
    mosaic.close()
    np.testing.assert_array_equal(sink.data, tile[2:8, 1:9])


def test_mosaic_ignores_a_tile_wholly_off_the_raster() -> None:
    sink = _Sink(4, 4)
    mosaic = StreamingMosaic(sink, block_rows=2)  # type: ignore[arg-type]
    mosaic.add(0, 0, np.ones((4, 4), np.float32), np.ones((4, 4)))
    mosaic.add(0, 6, np.full((4, 4), 9.0, np.float32), np.ones((4, 4)))
    mosaic.add(-5, 0, np.full((4, 4), 9.0, np.float32), np.ones((4, 4)))
    mosaic.close()
    np.testing.assert_array_equal(sink.data, np.ones((4, 4)))
