"""Rasters near 180 degrees: a source or an LST across the antimeridian, and longitudes given as
-180..180 in one raster and 0..360 in the other, land where they would anywhere else."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform as transform_points, transform_bounds

from groklst_cli.app import run
from pipelines.geotiff import write_raster
from pipelines.grids import Grid, footprint_in, pair_grids
from pipelines.guidance import GuidanceOptions, align_scale, build_guidance, parse_source

GEO, UTM60S = CRS.from_epsg(4326), CRS.from_epsg(32760)  # UTM zone 60 ends at 180 degrees
LAT = -16.0
LST_RES = 0.0003  # degrees: about 32 m at 16 S, so 10 m guidance suggests x3


def pattern(rows: int, cols: int, bands: int = 2) -> np.ndarray:
    """Smooth bands that differ at every pixel (so a shifted or missing pixel shows)."""
    r, c = np.mgrid[0:rows, 0:cols].astype(np.float32)
    return np.stack([100 + 0.5 * r + 0.3 * c + 5 * np.sin(c / 7 + b) for b in range(bands)])


def write_lst(path: Path, west: float, size: int = 20) -> Path:
    r, c = np.mgrid[0:size, 0:size]
    lst = (290 + 0.2 * r + 0.1 * c).astype(np.float32)
    return write_raster(path, lst, crs=GEO, transform=Affine(LST_RES, 0, west, 0, -LST_RES, LAT),
                        descriptions=["lst"], units="K")


def utm_tile(folder: Path, east: float) -> tuple[Path, Path]:
    """A 10 m UTM 60S tile from 179.96 E to ``east`` (past 180: as a zone-60 Sentinel-2 tile),
    and the same pixels cropped to end west of 180."""
    left, bottom, right, top = transform_bounds(GEO, UTM60S, 179.96, LAT - 0.02, east, LAT + 0.01)
    x0, y1 = np.floor(left / 10) * 10, np.ceil(top / 10) * 10
    cols, rows = int((right - x0) / 10) + 1, int((y1 - bottom) / 10) + 1
    data = pattern(rows, cols)
    west_cols = int((transform_bounds(GEO, UTM60S, 179.96, LAT - 0.02, 179.995, LAT + 0.01)[2] - x0) / 10)
    transform = Affine(10, 0, x0, 0, -10, y1)
    crossing, cropped = folder / "s2_crossing.tif", folder / "s2_west.tif"
    write_raster(crossing, data, crs=UTM60S, transform=transform, descriptions=["red", "nir"])
    write_raster(cropped, data[:, :, :west_cols], crs=UTM60S, transform=transform, descriptions=["red", "nir"])
    return crossing, cropped


def read(path: Path) -> tuple[np.ndarray, Affine]:
    with rasterio.open(path) as src:
        return src.read(), src.transform


def test_a_utm_tile_across_180_guides_as_the_same_tile_cropped_west_of_it(tmp_path: Path) -> None:
    """QA B1: the crossing tile was 'not finer than the LST (pixel-size ratio -0.00)' and 'does
    not overlap the LST footprint' (its footprint in degrees read as the rest of the globe)."""
    lst = write_lst(tmp_path / "lst.tif", 179.97)  # 179.970..179.976 E
    crossing, cropped = utm_tile(tmp_path, 180.02)
    assert align_scale(lst, crossing) == align_scale(lst, cropped) == 3
    outputs = {}
    for tile in (crossing, cropped):
        guidance = tmp_path / f"g_{tile.stem}.tif"
        build_guidance(lst, [parse_source(str(tile))], guidance, GuidanceOptions(scale=3))
        downscaled = tmp_path / f"d_{tile.stem}.tif"
        assert run(["-q", "downscale", str(lst), "--guidance", str(tile), "--align", "--model", "bicubic",
                    "-o", str(downscaled)]) == 0
        outputs[tile] = (read(guidance), read(downscaled))
    ((g_cross, t_cross), (d_cross, _)), ((g_west, t_west), (d_west, _)) = outputs.values()
    assert t_cross == t_west == Affine(LST_RES / 3, 0, 179.97, 0, -LST_RES / 3, LAT)
    assert g_cross.shape == (2, 60, 60) and np.isfinite(g_cross).all()
    np.testing.assert_array_equal(g_cross, g_west)
    np.testing.assert_array_equal(d_cross, d_west)


@pytest.mark.parametrize("west", [179.997, 179.997 - 360])  # the same place, in either longitude range
def test_an_lst_across_180_gets_the_utm_tile_resampled_onto_its_own_grid(tmp_path: Path, west: float) -> None:
    lst = write_lst(tmp_path / "lst.tif", west)  # 179.997..180.003 E
    crossing, _ = utm_tile(tmp_path, 180.02)
    out = tmp_path / "g.tif"
    report = build_guidance(lst, [parse_source(str(crossing))], out, GuidanceOptions(scale=3))
    got, transform = read(out)
    assert transform == Affine(LST_RES / 3, 0, west, 0, -LST_RES / 3, LAT) and not report.warnings
    expected = np.full_like(got, np.nan)
    with rasterio.open(crossing) as src:  # the 10 m tile averaged into ~10.7 m pixels
        assert [b["resampling"] for b in report.bands] == ["average", "average"]
        reproject(rasterio.band(src, [1, 2]), expected, dst_transform=transform, dst_crs=GEO,
                  dst_nodata=np.nan, resampling=Resampling.average)
    assert np.isfinite(expected).all()
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def class_map(path: Path, west: float) -> np.ndarray:
    """A 4326 class map over 179.994..180.006 E (given from ``west``: 179.994 or -180.006)."""
    r, c = np.mgrid[0:120, 0:120]
    classes = (1 + (r // 10 + c // 15) % 3).astype(np.float32)
    write_raster(path, classes, crs=GEO, transform=Affine(0.0001, 0, west, 0, -0.0001, LAT + 0.006),
                 descriptions=["lc"])
    return classes


@pytest.mark.parametrize("west", [179.994, -180.006])
def test_a_class_map_is_read_across_180_for_a_utm_lst_across_it(tmp_path: Path, west: float) -> None:
    """A UTM LST across 180 asks for 179.99..-179.99 of a 4326 map: the window read was the map's
    first columns only (0.4% of the footprint covered instead of all of it)."""
    (x180,), (y16,) = transform_points(GEO, UTM60S, [180.0], [LAT])
    lst = tmp_path / "lst.tif"  # 600 m centred on 180 E, from 16 S southwards
    lst_transform = Affine(30, 0, np.floor(x180 / 30) * 30 - 300, 0, -30, np.floor(y16 / 30) * 30)
    write_raster(lst, np.full((20, 20), 300.0), crs=UTM60S, transform=lst_transform, descriptions=["lst"])
    classes = class_map(tmp_path / "lc.tif", west)
    out = tmp_path / "g.tif"
    build_guidance(lst, [parse_source(str(tmp_path / "lc.tif"), categorical=True)], out, GuidanceOptions(scale=3))
    got, transform = read(out)
    expected = np.full_like(got, np.nan)
    for band, value in zip(expected, (1, 2, 3)):
        reproject((classes == value).astype(np.float32), band, src_transform=Affine(0.0001, 0, west, 0, -0.0001,
                  LAT + 0.006), src_crs=GEO, dst_transform=transform, dst_crs=UTM60S, dst_nodata=np.nan,
                  resampling=Resampling.average)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, atol=1e-6)
    np.testing.assert_allclose(got.sum(axis=0), 1.0, atol=1e-5)


@pytest.mark.parametrize("lst_west, guidance_west", [(-170.0, 190.0), (190.0, -170.0)])
def test_longitudes_in_0_360_and_in_minus_180_180_pair_up(tmp_path: Path, lst_west: float,
                                                          guidance_west: float) -> None:
    """QA L7: both in EPSG:4326, one given in 0..360: 'does not overlap'."""
    lst = write_lst(tmp_path / "lst.tif", lst_west)
    guidance = pattern(60, 60)
    same, other = tmp_path / "same.tif", tmp_path / "other.tif"
    for path, west in ((same, lst_west), (other, guidance_west)):
        write_raster(path, guidance, crs=GEO, transform=Affine(LST_RES / 3, 0, west, 0, -LST_RES / 3, LAT),
                     descriptions=["red", "nir"])
    results = []
    for source in (same, other):
        aligned, nested = tmp_path / f"g_{source.stem}.tif", tmp_path / f"d_{source.stem}.tif"
        build_guidance(lst, [parse_source(str(source))], aligned, GuidanceOptions(scale=3))
        assert run(["-q", "downscale", str(lst), "--guidance", str(source), "--model", "bicubic",
                    "-o", str(nested)]) == 0  # nested as it is: no resampling
        results.append((read(aligned), read(nested)))
    ((g_same, t_same), (d_same, _)), ((g_other, t_other), (d_other, _)) = results
    assert t_same == t_other and t_same.c == lst_west
    np.testing.assert_array_equal(g_other, guidance)
    np.testing.assert_array_equal(g_other, g_same)
    np.testing.assert_array_equal(d_other, d_same)


def test_pair_grids_takes_a_guidance_a_turn_away_in_the_lst_longitudes() -> None:
    lst = Grid(GEO, Affine(0.0003, 0, 179.997, 0, -0.0003, LAT), 20, 20)
    guidance = Grid(GEO, Affine(0.0001, 0, 179.997 - 360 - 0.0003, 0, -0.0001, LAT), 66, 60)
    paired = pair_grids(lst, guidance, scale=3, lst_path="l.tif", guidance_path="g.tif")
    assert paired.output.transform.c == 179.997 and paired.output.width == 60
    assert (paired.guidance_window.col_off, paired.guidance_window.width) == (3, 60)


def test_footprint_in_a_geographic_crs_is_unwrapped_across_180() -> None:
    utm = transform_bounds(GEO, UTM60S, 179.99, LAT - 0.01, 180.01, LAT)
    assert transform_bounds(UTM60S, GEO, *utm)[2] < 0  # rasterio: left > right across 180
    left, _, right, _ = footprint_in(UTM60S, utm, GEO, near=(179.9, LAT - 1, 180.0, LAT))
    assert left == pytest.approx(179.99, abs=1e-3) and right == pytest.approx(180.01, abs=1e-3)
    left, _, right, _ = footprint_in(UTM60S, utm, GEO, near=(-180.0, LAT - 1, -179.9, LAT))
    assert left == pytest.approx(-180.01, abs=1e-3) and right == pytest.approx(-179.99, abs=1e-3)
    south_up = (100.0, 11.0, 101.0, 10.0)  # a south-up raster's own bounds: bottom > top
    assert footprint_in(GEO, south_up, GEO, near=(100.0, 10.0, 101.0, 11.0)) == (100.0, 10.0, 101.0, 11.0)


def test_a_utm_dem_across_180_is_taken_for_a_geographic_scene_across_it(tmp_path: Path) -> None:
    from pipelines.ingest import _Dem

    crossing, _ = utm_tile(tmp_path, 180.02)
    scene = Grid(GEO, Affine(0.0001, 0, 179.997, 0, -0.0001, LAT), 60, 60)  # 179.997..180.003 E
    with ExitStack() as stack:
        band = _Dem(crossing, scene, stack).band(scene)  # refused before: 'does not overlap the scene'
        expected = np.full_like(band, np.nan)
        reproject(rasterio.band(stack.enter_context(rasterio.open(crossing)), 1), expected,
                  dst_transform=scene.transform, dst_crs=GEO, dst_nodata=np.nan, resampling=Resampling.bilinear)
    assert np.isfinite(expected).all()
    np.testing.assert_allclose(band, expected, rtol=1e-6)
