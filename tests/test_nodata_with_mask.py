"""A file's declared nodata value still counts when the file also has a mask (internal, .msk).

GDAL's mask band is the per-dataset mask when there is one, and then ignores the nodata value:
a Landsat fill 0 outside the mask was read as 149 K and downscale/compare refused the scene,
telling the user to declare the nodata the file already declared. A pixel is nodata when the
mask says so OR it holds the declared nodata, on every read (:func:`read_stored`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import scipy.io
from affine import Affine
from rasterio.windows import Window

from groklst_cli.app import run
from pipelines.errors import InputError
from pipelines.geotiff import read_stored, read_values
from pipelines.grokmat import read_lst

SCALE, OFFSET = 0.00341802, 149.0


def _write(path: Path, data: np.ndarray, nodata: float, mask: np.ndarray | None, *, internal: bool = True,
           scaling: bool = False, transform: Affine = Affine(30, 0, 500000, 0, -30, 4300000)) -> None:
    """A GeoTIFF of ``data`` declaring ``nodata``, with a per-dataset mask (0 = no data)."""
    profile = dict(driver="GTiff", width=data.shape[-1], height=data.shape[-2],
                   count=1 if data.ndim == 2 else len(data), dtype=data.dtype.name, crs="EPSG:32647", transform=transform, nodata=nodata)
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=internal):
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data if data.ndim == 3 else data[None])
            if scaling:
                dst.scales, dst.offsets = [SCALE], [OFFSET]
            if mask is not None:
                dst.write_mask(mask)


def _mask(shape: tuple[int, int]) -> np.ndarray:
    mask = np.full(shape, 255, np.uint8)
    mask[2:4, 2:6] = 0
    return mask


@pytest.mark.parametrize("internal", [True, False], ids=["internal", "msk"])
def test_fill_outside_the_mask_is_nodata(tmp_path: Path, internal: bool) -> None:
    data = np.full((10, 12), 1000, np.uint16)
    data[2:4, 2:6] = 0  # fill and masked
    data[7, 8:10] = 0  # fill only
    path = tmp_path / "lst.tif"
    _write(path, data, 0, _mask(data.shape), internal=internal)
    with rasterio.open(path) as src:
        assert src.mask_flag_enums[0] == [rasterio.enums.MaskFlags.per_dataset]
        masked = np.ma.getmaskarray(read_stored(src, 1, Window(0, 0, 12, 10), path))
    expected = data == 0
    np.testing.assert_array_equal(masked, expected)


def test_masked_pixel_holding_data_stays_masked_and_nan_nodata_counts(tmp_path: Path) -> None:
    data = np.full((2, 10, 12), 0.25, np.float32)
    data[:, 2:4, 2:6] = 0.5  # a value, but masked
    data[1, 7, 8] = np.nan  # NaN nodata in one band only, outside the mask
    path = tmp_path / "guidance.tif"
    _write(path, data, float("nan"), _mask((10, 12)))
    with rasterio.open(path) as src:
        values = read_values(src, [1, 2], Window(0, 0, 12, 10), path)
    assert np.isnan(values[:, 2:4, 2:6]).all()
    assert np.isnan(values[1, 7, 8]) and values[0, 7, 8] == np.float32(0.25)
    assert int(np.isnan(values).sum()) == 2 * 8 + 1


def test_nodata_only_file_reads_as_before(tmp_path: Path) -> None:
    data = np.array([[0, 5], [65535, 7]], np.uint16)
    path = tmp_path / "plain.tif"
    _write(path, data, 65535, None)
    with rasterio.open(path) as src:
        read = read_stored(src, 1, Window(0, 0, 2, 2), path)
    np.testing.assert_array_equal(np.ma.getmaskarray(read), [[False, False], [True, False]])


def _landsat_with_mask(folder: Path) -> Path:
    """The brief's reproducer: the sample scene as Landsat DNs, fill 0 declared, and a mask that
    covers only one of the two fill blocks."""
    assert run(["-q", "sample-scene", str(folder), "--size", "60"]) == 0
    with rasterio.open(folder / "heihe_demo_lst.tif") as src:
        kelvin, transform = src.read(1).astype(np.float64), src.transform
    dn = np.round((kelvin - OFFSET) / SCALE)
    dn[np.isnan(kelvin)] = 0
    dn[10:16, 20:30] = 0
    dn[40:42, 40:42] = 0
    mask = np.full(dn.shape, 255, np.uint8)
    mask[10:16, 20:30] = 0
    path = folder / "ls_mask.tif"
    _write(path, dn.astype(np.uint16), 0, mask, scaling=True, transform=transform)
    return path


def test_downscale_and_compare_accept_a_masked_landsat_scene(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    lst = _landsat_with_mask(tmp_path)
    out = tmp_path / "out.tif"
    assert run(["-q", "downscale", str(lst), "-g", str(tmp_path / "heihe_demo_guidance.tif"), "-m", "bicubic",
                "-o", str(out)]) == 0
    with rasterio.open(out) as dst:
        result = dst.read(1)
    assert np.isnan(result[120:126, 120:126]).all()  # the fill-only block, 3x finer
    assert np.nanmin(result) > 250  # no 149 K fill anywhere
    assert run(["-q", "compare", str(tmp_path / "heihe_demo_lst.tif"), str(lst)]) == 0
    assert "149" not in capsys.readouterr().err


def test_groklst_mat_lst_refuses_infinity(tmp_path: Path) -> None:
    lst = np.full((8, 8), 300.0)
    lst[3, 4] = np.inf
    path = tmp_path / "0.mat"
    scipy.io.savemat(path, {"data": lst})
    with pytest.raises(InputError, match=r"band 'data' holds infinite values \(\+inf\): 1 pixel, the first at row 3, "
                                         r"column 4"):
        read_lst(path)
    lst[3, 4] = np.nan
    scipy.io.savemat(path, {"data": lst})
    assert int(np.isnan(read_lst(path)).sum()) == 1
