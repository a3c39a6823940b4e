"""Masks and nodata on the read routes beside :func:`read_stored` (5b9a11c's rule everywhere:
a pixel is nodata when the file's mask says so OR it holds the band's declared nodata).

GDAL's warper took the declared nodata alone and dropped an internal or .msk mask, so
``groklst guidance`` built masked source pixels into the stack as data; quicklook, the water
vapour raster and prepare's lazy scan read with the mask alone (or, rioxarray, the nodata alone).
A GDAL alpha band in a guidance file was read as a guidance feature; it is refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import scipy.io
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.windows import Window

from groklst_cli.app import run
from pipelines.errors import InputError
from pipelines.geotiff import guidance_names, refuse_band_values
from pipelines.grids import Grid
from pipelines.grokmat import read_lst
from pipelines.quicklook import _read as quicklook_read
from pipelines.training_scene import _lazy
from pipelines.warping import warp_bands
from pipelines.water_vapour import WaterVapour

UTM = CRS.from_epsg(32632)
TRANSFORM = Affine(30, 0, 400_000, 0, -30, 5_760_000)


def _write(path: Path, data: np.ndarray, nodata: float | None, *, internal: bool = True) -> Path:
    """``data`` (rows, cols) declaring ``nodata``, masked (per-dataset mask) in rows 0..1."""
    mask = np.full(data.shape, 255, np.uint8)
    mask[:2] = 0
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=internal):
        with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
                           dtype=data.dtype.name, crs=UTM, transform=TRANSFORM, nodata=nodata) as dst:
            dst.write(data, 1)
            dst.write_mask(mask)
    return path


def _data(shape: tuple[int, int] = (8, 8)) -> np.ndarray:
    """Values 100.. with the fill -9999 at (6, 5), outside the masked rows."""
    data = (100 + np.arange(shape[0] * shape[1]).reshape(shape)).astype(np.float32)
    data[6, 5] = -9999
    return data


def _expected_holes(shape: tuple[int, int] = (8, 8)) -> np.ndarray:
    holes = np.zeros(shape, bool)
    holes[:2] = True
    holes[6, 5] = True
    return holes


@pytest.mark.parametrize("internal", [True, False], ids=["internal", "msk"])
def test_warp_keeps_the_mask_beside_the_declared_nodata(tmp_path: Path, internal: bool) -> None:
    data = _data()
    path = _write(tmp_path / "src.tif", data, -9999, internal=internal)
    with rasterio.open(path) as src:
        warped = warp_bands(src, 1, Grid(UTM, TRANSFORM, 8, 8), src_nodata=-9999, resampling=Resampling.nearest)
    np.testing.assert_array_equal(np.isnan(warped), _expected_holes())
    np.testing.assert_array_equal(warped[2:6], data[2:6])


def test_guidance_builds_masked_source_pixels_as_nodata(tmp_path: Path) -> None:
    lst = tmp_path / "lst.tif"
    with rasterio.open(lst, "w", driver="GTiff", width=4, height=4, count=1, dtype="float32", crs=UTM,
                       transform=Affine(60, 0, 400_000, 0, -60, 5_760_000)) as dst:
        dst.write(np.full((1, 4, 4), 300, np.float32))
        dst.descriptions = ("lst",)
    source = _write(tmp_path / "dem.tif", _data(), -9999)
    out = tmp_path / "guidance.tif"
    assert run(["-q", "guidance", str(lst), f"dem={source}", "--scale", "2", "-o", str(out)]) == 0
    with rasterio.open(out) as built:
        dem = built.read(1)
    assert dem.shape == (8, 8)
    np.testing.assert_array_equal(np.isnan(dem), _expected_holes())  # rows 0..1 were 100..115
    np.testing.assert_array_equal(dem[2:6], _data()[2:6])


def test_quicklook_read_drops_masked_and_fill_pixels(tmp_path: Path) -> None:
    path = _write(tmp_path / "out.tif", _data(), -9999)
    with rasterio.open(path) as src:
        values = quicklook_read(src, 8, 8)
    np.testing.assert_array_equal(np.isnan(values), _expected_holes())


def test_water_vapour_reads_masked_and_fill_pixels_as_nodata(tmp_path: Path) -> None:
    data = np.full((8, 8), 2.0, np.float32)
    data[:2] = 9.5  # masked: no water vapour, not 9.5 g cm-2
    data[6, 5] = -9999
    path = _write(tmp_path / "wv.tif", data, -9999)
    with rasterio.open(path) as src:
        wv = WaterVapour(src, "g/cm2")
        values = wv._read(Window(0, 0, 8, 8))
        on_grid = wv.on_grid(Grid(UTM, TRANSFORM, 8, 8))
    np.testing.assert_array_equal(np.isnan(values), _expected_holes())
    assert np.nanmax(values) == 2.0
    assert np.isnan(on_grid[:2]).all() and np.nanmax(on_grid) == pytest.approx(2.0)


def test_prepare_scan_takes_mask_and_declared_nodata(tmp_path: Path) -> None:
    path = _write(tmp_path / "g.tif", _data(), -9999)
    values = _lazy(path).compute()
    assert values.shape == (1, 8, 8)
    np.testing.assert_array_equal(np.isnan(values[0]), _expected_holes())
    np.testing.assert_array_equal(values[0, 2:6], _data()[2:6])


def _rgba(path: Path) -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=8, height=8, count=4, dtype="uint8", crs=UTM,
                       transform=TRANSFORM, photometric="RGB", alpha="YES") as dst:
        dst.write(np.full((4, 8, 8), 200, np.uint8))
    return path


def test_a_guidance_alpha_band_is_refused_with_the_command_that_drops_it(tmp_path: Path) -> None:
    path = _rgba(tmp_path / "rgba.tif")
    with rasterio.open(path) as src, pytest.raises(InputError) as refused:
        guidance_names(src, path, None)
    assert str(refused.value) == (f"{path}: band 4 is an alpha band (a mask, not guidance) (hint: keep the data "
                                  "bands with the alpha as their mask: gdal_translate -b 1 -b 2 -b 3 -mask 4 "
                                  "FILE DATA.tif)")


def test_groklst_guidance_refuses_an_alpha_source(tmp_path: Path, capsys) -> None:
    lst = tmp_path / "lst.tif"
    with rasterio.open(lst, "w", driver="GTiff", width=4, height=4, count=1, dtype="float32", crs=UTM,
                       transform=Affine(60, 0, 400_000, 0, -60, 5_760_000)) as dst:
        dst.write(np.full((1, 4, 4), 300, np.float32))
    path = _rgba(tmp_path / "rgba.tif")
    assert run(["-q", "guidance", str(lst), str(path), "--scale", "2", "-o", str(tmp_path / "g.tif")]) == 2
    assert "band 4 is an alpha band" in capsys.readouterr().err
    assert not (tmp_path / "g.tif").exists()


def test_mat_lst_beyond_float32_names_surface_temperature(tmp_path: Path) -> None:
    lst = np.full((8, 8), 300.0)
    lst[2, 3] = 1e39
    path = tmp_path / "0.mat"
    scipy.io.savemat(path, {"data": lst})
    with pytest.raises(InputError, match="no surface temperature is that large"):
        read_lst(path)


def test_infinite_hint_puts_the_lossless_route_first() -> None:
    stored = np.ones((3, 3), np.float32)
    stored[1, 1] = np.inf
    with pytest.raises(InputError) as one_sign:
        refuse_band_values("g.tif", "band 1", stored)
    hint = str(one_sign.value).split("(hint: ", 1)[1]
    assert hint.startswith("declare them nodata: gdal_edit.py -a_nodata inf FILE, or set them to nodata: gdal_calc.py")
    assert hint.endswith("(gdal_calc.py keeps only grid, projection and nodata: give the band names again "
                         "(--guidance-bands, or NAME1,NAME2=FILE to groklst guidance)))")
    stored[0, 0] = -np.inf
    with pytest.raises(InputError) as both:
        refuse_band_values("g.tif", "band 1", stored)
    assert "gdal_edit.py" not in str(both.value) and "give the band names again" in str(both.value)
