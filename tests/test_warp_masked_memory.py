"""Masked warps in bounded memory (73f7acb's regression).

73f7acb warped sources with both a mask and a declared nodata from memory, reading a whole
strip's window for all bands at once in float64 (~20 bytes per source pixel per band): a 1 m
source of 3900x3900x4 took 1.4 GB, an orthophoto tens of GB. It now goes one band at a time in
float32 where that is exact, and in row chunks sized by a byte budget. These tests pin that the
chunked, per-band path gives exactly 73f7acb's output (values and NaN), strip edges included,
and that no masked pixel leaks into it.
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
from rasterio.warp import reproject

from pipelines.geotiff import read_stored
from pipelines.grids import Grid
from pipelines.warping import _PAD, _warp_masked, grid_rows, source_window, warp_bands

UTM = CRS.from_epsg(32647)
X0, Y0 = 1000.0, 9000.0


def _source(path: Path, res: float, dtype: str = "uint16") -> Path:
    """400 m x 300 m of three bands of ``dtype`` at ``res`` m, with nodata 0 (some pixels hold
    it) and an internal mask (blocks of it say nodata)."""
    width, height = round(400 / res), round(300 / res)
    rows, cols = np.mgrid[0:height, 0:width]
    data = np.stack([1000 + 500 * np.sin(cols / 7 + b) * np.cos(rows / 5) + 37 * ((rows * cols + b) % 11)
                     for b in range(3)]).astype(dtype)
    data[:, (cols + 2 * rows) % 37 < 2] = 0
    mask = np.where((cols // 13 + rows // 11) % 5 == 0, 0, 255).astype(np.uint8)
    profile = dict(driver="GTiff", width=width, height=height, count=3, dtype=dtype, crs=UTM, nodata=0,
                   transform=Affine(res, 0, X0, 0, -res, Y0), tiled=True, blockxsize=16, blockysize=16)
    with Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        dst.write_mask(mask)
    return path


def _whole_strip(src: rasterio.DatasetReader, grid: Grid, resampling: Resampling) -> np.ndarray:
    """73f7acb's warp: the strip's whole window, all bands at once, in float64."""
    out = np.full((src.count, grid.height, grid.width), np.nan, np.float32)
    window = source_window(src, grid, _PAD)
    if window is None:
        return out
    data = read_stored(src, list(range(1, src.count + 1)), window, src.name)
    values = np.ma.filled(data.astype(np.float64), np.nan)
    transform = src.transform @ Affine.translation(window.col_off, window.row_off)
    for layer, source in zip(out, values):
        reproject(source, layer, src_transform=transform, src_crs=src.crs, src_nodata=np.nan,
                  dst_transform=grid.transform, dst_crs=grid.crs, dst_nodata=np.nan, resampling=resampling)
    return out


def _strips(res: float, rows: int) -> list[Grid]:
    """A grid 3.3 m left of the source and 2.1 m above it, reaching past its bottom, in strips."""
    grid = Grid(UTM, Affine(res, 0, X0 - 3.3, 0, -res, Y0 + 2.1), int(380 / res), int(310 / res))
    return [grid_rows(grid, top, min(rows, grid.height - top)) for top in range(0, grid.height, rows)]


@pytest.mark.parametrize("resampling", [Resampling.bilinear, Resampling.cubic, Resampling.average])
@pytest.mark.parametrize(("source_res", "dtype"), [(1.0, "uint16"), (3.0, "int16"), (3.0, "float32"),
                                                   (1.0, "int32")])
@pytest.mark.parametrize("guidance_res", [10.0, 2.5])
def test_chunked_per_band_warp_equals_whole_strip(tmp_path: Path, resampling: Resampling, source_res: float,
                                                  dtype: str, guidance_res: float) -> None:
    """A one-byte budget (chunks of one grid row) gives exactly the whole-strip output."""
    finite = 0
    with rasterio.open(_source(tmp_path / "s.tif", source_res, dtype)) as src:
        for strip in _strips(guidance_res, 7):
            expected = _whole_strip(src, strip, resampling)
            got = np.full_like(expected, np.nan)
            _warp_masked(src, [1, 2, 3], strip, got, 0.0, resampling, budget=1)
            np.testing.assert_array_equal(got, expected, err_msg=f"strip {strip.transform.f}")
            finite += int(np.isfinite(got).sum())
    assert finite > 0


def test_no_masked_pixel_leaks_through_chunks(tmp_path: Path) -> None:
    """On the source's own grid (nearest), the output is NaN exactly where the mask says nodata
    or a pixel holds 0, and the stored value elsewhere, chunked or not."""
    path = _source(tmp_path / "s.tif", 10.0)
    with rasterio.open(path) as src:
        stored = src.read().astype(np.float32)
        masked = (src.read_masks(1) == 0)[None] | (stored == 0)
        grid = Grid(UTM, src.transform, src.width, src.height)
        expected = np.where(masked, np.nan, stored)
        for budget in (1, 2000, 10**9):
            got = np.full(stored.shape, np.nan, np.float32)
            _warp_masked(src, [1, 2, 3], grid, got, 0.0, Resampling.nearest, budget=budget)
            np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(warp_bands(src, [1, 2, 3], grid, src_nodata=0.0,
                                                 resampling=Resampling.nearest), expected)
        assert masked.any() and (~masked).any()


def test_reads_one_band_at_a_time_within_the_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each read holds one band of a row chunk, not the strip's window for every band (at 1 m to
    10 m with a 60 kB budget: 400 columns x 8 bytes, so ~18 source rows a chunk plus margins)."""
    import pipelines.warping as warping

    reads: list[tuple[object, int]] = []

    def recording(src, bands, window, path):
        reads.append((bands, window.height))
        return read_stored(src, bands, window, path)

    monkeypatch.setattr(warping, "read_stored", recording)
    with rasterio.open(_source(tmp_path / "s.tif", 1.0)) as src:
        grid = Grid(UTM, Affine(10, 0, X0, 0, -10, Y0), 40, 30)
        got = np.full((3, 30, 40), np.nan, np.float32)
        _warp_masked(src, [1, 2, 3], grid, got, 0.0, Resampling.average, budget=60_000)
        np.testing.assert_array_equal(got, _whole_strip(src, grid, Resampling.average))
    assert all(isinstance(bands, int) for bands, _ in reads)
    assert len(reads) > 3 and max(height for _, height in reads) < 150  # the strip: 300 rows


def _geographic_source(path: Path, left: float) -> Path:
    """A masked float32 source in EPSG:4326 (about 3.5 m pixels near 52 N), its left edge at ``left``."""
    values = (np.random.default_rng(1).random((1, 400, 300)) * 100).astype(np.float32)
    mask = np.full((400, 300), 255, np.uint8)
    mask[130:137] = 0
    profile = dict(driver="GTiff", width=300, height=400, count=1, dtype="float32", crs="EPSG:4326",
                   transform=Affine(5e-5, 0, left, 0, -5e-5, 51.9837), nodata=-9999)
    with Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(path, "w", **profile) as dst:
        dst.write(values)
        dst.write_mask(mask)
    return path


@pytest.mark.parametrize("resampling", [Resampling.bilinear, Resampling.cubic])
def test_a_reprojected_source_gives_the_same_values_at_any_budget(tmp_path: Path, resampling: Resampling) -> None:
    """Chunks of a reprojected source whose edge lies inside the grid changed bilinear and cubic
    values by up to 23 and 32 (of 0..100): GDAL sizes its kernels from the footprint of the region
    warped. Such sources are warped a strip at a time (review R4)."""
    grid = Grid(CRS.from_epsg(32632), Affine(10, 0, 400000, 0, -10, 5760000), 120, 120)
    with rasterio.open(_geographic_source(tmp_path / "g.tif", 7.5489)) as src:
        whole, chunked = (np.full((1, 120, 120), np.nan, np.float32) for _ in range(2))
        _warp_masked(src, [1], grid, whole, -9999.0, resampling, budget=10**12)
        _warp_masked(src, [1], grid, chunked, -9999.0, resampling, budget=20_000)
    np.testing.assert_array_equal(chunked, whole)
