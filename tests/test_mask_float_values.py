"""``mask --values`` on a floating-point mask matches the values as the mask stores them: -999.9
in a float32 band is -999.9000244, which a float64 -999.9 never equalled, so nothing was flagged
(the hint compare gives for a second fill value, ``groklst mask F F --values V``, then did nothing)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

from groklst_cli.app import run

PROFILE = dict(driver="GTiff", width=4, height=2, count=1, crs="EPSG:32632",
               transform=Affine(30, 0, 500000, 0, -30, 5700000))


def _write(path: Path, values: np.ndarray, dtype: str, nodata: float | None = None) -> Path:
    with rasterio.open(path, "w", dtype=dtype, nodata=nodata, **PROFILE) as dst:
        dst.write(values.astype(dtype), 1)
    return path


def test_a_float32_fill_that_is_no_whole_number_is_flagged(tmp_path: Path) -> None:
    lst = np.array([[290.5, -999.9, 291.0, 292.0], [-999.9, 293.0, -9999.0, 294.0]])
    raster = _write(tmp_path / "lst.tif", lst, "float32", nodata=-9999.0)
    out = tmp_path / "masked.tif"
    assert run(["-q", "mask", str(raster), str(raster), "--values", "-999.9", "-o", str(out)]) == 0
    with rasterio.open(out) as src:
        valid = src.read_masks(1) > 0
        kept = src.read(1)[valid]
    assert valid.tolist() == [[True, False, True, True], [False, True, False, True]]
    np.testing.assert_array_equal(kept, np.float32([290.5, 291.0, 292.0, 293.0, 294.0]))


def test_a_value_beyond_a_float32_mask_is_refused(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    mask = _write(tmp_path / "mask.tif", np.zeros((2, 4)), "float32")
    raster = _write(tmp_path / "lst.tif", np.full((2, 4), 290.0), "float32", nodata=-9999.0)
    assert run(["mask", str(raster), str(mask), "--values", "1e39", "-o", str(tmp_path / "m.tif")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: --values: 1e+39 cannot occur in {mask}'s float32 pixels (hint: give values within "
        "±3.4028235e+38 (the float32 range))")


def test_an_infinite_fill_is_a_value_a_float_mask_holds(tmp_path: Path) -> None:
    """compare hints ``groklst mask F F --values -inf`` for a candidate whose second fill is -inf:
    88279ff refused -inf as beyond float32's range."""
    lst = np.array([[290.0, -np.inf, 291.0, 292.0], [293.0, 294.0, -np.inf, 295.0]])
    raster = _write(tmp_path / "c.tif", lst, "float32", nodata=-9999.0)
    out = tmp_path / "c_masked.tif"
    assert run(["-q", "mask", str(raster), str(raster), "--values", "-inf", "-o", str(out)]) == 0
    with rasterio.open(out) as src:
        assert src.nodata == -9999.0
        assert (src.read_masks(1) > 0).tolist() == [[True, False, True, True], [True, True, False, True]]


def test_pixels_the_input_masks_itself_stay_nodata_in_the_copy(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """A raster with an internal mask: its masked pixels were written with their stored value
    under the copy's nodata-only validity, so they read as data again (review R3: 200 valid where
    --json said 100)."""
    profile = {**PROFILE, "width": 4, "height": 4, "dtype": "uint16"}
    raster = tmp_path / "in.tif"
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(raster, "w", **profile) as dst:
        dst.write(np.full((4, 4), 500, np.uint16), 1)
        own = np.full((4, 4), 255, np.uint8)
        own[0] = 0
        dst.write_mask(own)
    cloud = np.zeros((4, 4))
    cloud[2:] = 1
    with rasterio.open(tmp_path / "cloud.tif", "w", dtype="uint8", **{**PROFILE, "width": 4, "height": 4}) as dst:
        dst.write(cloud.astype(np.uint8), 1)
    out = tmp_path / "out.tif"
    assert run(["-q", "mask", str(raster), str(tmp_path / "cloud.tif"), "--fill", "0", "-o", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    with rasterio.open(out) as src:
        valid = src.read(1, masked=True).count()
        assert src.read(1)[0].tolist() == [0, 0, 0, 0]
    assert (report["valid_before"], report["valid_after"], valid) == (12, 4, 4)
