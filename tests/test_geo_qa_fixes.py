"""QA defects in compare and downscale: shifts in degrees reported as 0, numpy warnings on a thin
reference, the resolution warning blind to y, +-inf LST read as nodata, and one common pixel
scored without RMSE/MAE/BIAS."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from groklst_cli.app import run
from pipelines.band_registration import measure_shift
from pipelines.checkpoint import Checkpoint
from pipelines.compare import Moments, compare
from pipelines.compare_shift import ContentShift
from tests.test_compare import raster
from tests.test_compare_shift import scene

WGS84 = CRS.from_epsg(4326)
DEGREE_PX = 0.0003  # about 30 m


def sample_scene(folder: Path, size: int) -> tuple[Path, Path]:
    """The demo LST and guidance of ``size`` guidance pixels a side, in ``folder``."""
    assert run(["-q", "sample-scene", str(folder), "--size", str(size)]) == 0
    return folder / "heihe_demo_lst.tif", folder / "heihe_demo_guidance.tif"


def test_a_shift_in_degrees_is_reported_with_the_digits_its_pixel_needs(tmp_path: Path, capsys) -> None:
    """A 1 px offset on 0.0003 degree pixels was reported as x 0 (3 decimals) and 0.0 deg."""
    truth = scene(96, 96)
    moved = truth.copy()
    moved[:, 1:] = truth[:, :-1]  # content one pixel east
    kw = dict(res=DEGREE_PX, origin=(100.0, 39.0), crs=WGS84)
    ref, cand = raster(tmp_path / "ref.tif", truth, **kw), raster(tmp_path / "moved.tif", moved, **kw)
    capsys.readouterr()
    assert run(["compare", str(ref), str(cand), "--json"]) == 0
    out, err = capsys.readouterr()
    shift = json.loads(out)["rows"][0]["shift"]
    assert shift["x_px"] == pytest.approx(1.0, abs=0.05)
    assert shift["x"] == pytest.approx(DEGREE_PX * shift["x_px"], abs=1e-7) and shift["x"] > 0.00028
    assert "px (0.00030 deg) east" in err
    assert "(0.0 deg)" not in err


def test_shift_digits_follow_the_pixel_size_and_metres_keep_their_form() -> None:
    degrees = ContentShift(1.98, -0.5, (DEGREE_PX, DEGREE_PX), True)
    assert degrees.as_json()["x"] == 0.000594 and degrees.as_json()["y"] == -0.00015
    assert "1.98 px (0.00059 deg) east and 0.50 px (0.00015 deg) south" in degrees.warning("c.tif", "deg")
    metres = ContentShift(1.98, -0.5, (30.0, 30.0), True)
    assert metres.as_json()["x"] == 59.4 and metres.as_json()["y"] == -15.0
    assert "1.98 px (59.4 m) east and 0.50 px (15.0 m) south" in metres.warning("c.tif", "m")


def test_a_thin_reference_gives_no_numpy_warning_and_no_shift(tmp_path: Path) -> None:
    """A 3 x 40 px reference left crops of no rows: 'Mean of empty slice' on stderr."""
    truth = scene(3, 40)
    ref = raster(tmp_path / "strip.tif", truth, res=30.0)
    fine = raster(tmp_path / "fine.tif", np.repeat(np.repeat(truth, 3, axis=0), 3, axis=1), res=10.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        result = compare(ref, [fine])
    assert result.rows[0]["shift"] is None
    assert result.rows[0]["rmse"] == pytest.approx(0.0, abs=1e-4)


def test_an_empty_crop_is_not_measured_without_a_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        found = measure_shift([(np.empty((0, 10)), np.empty((0, 10)))])
    assert found.crops == 0 and not found.reliable


@pytest.mark.parametrize(("size", "warned"), [
    ((10.0, 30.0), "trained to write 10 m pixels, these are 10 x 30 m (3x coarser in y)"),
    ((30.0, 10.0), "trained to write 10 m pixels, these are 30 x 10 m (3x coarser in x)"),
    ((10.0, 5.0), "trained to write 10 m pixels, these are 10 x 5 m (2x finer in y)"),
    ((10.0, 12.0), None),
    ((5.0, 20.0), "trained to write 10 m pixels, these are 5 x 20 m (2x finer in x, 2x coarser in y)"),
    (1000.0, "trained to write 10 m pixels, these are 1000 m (100x coarser)"),
    (996.0, "trained to write 10 m pixels, these are 996 m (100x coarser)"),
    (0.04, "trained to write 10 m pixels, these are 0.04 m (250x finer)"),
    (20.0, "trained to write 10 m pixels, these are 20 m (2x coarser)"),
    ((20.0, 20.0), "trained to write 10 m pixels, these are 20 m (2x coarser)"),
])
def test_the_resolution_is_compared_on_each_axis(size, warned) -> None:
    checkpoint = Checkpoint(model="bicubic", scale=3, bands=["a"], hr_resolution=10.0, hr_resolution_units="m")
    assert checkpoint.compare_resolution(size, "m") == warned


def test_downscale_warns_about_non_square_pixels_coarser_in_y(tmp_path: Path, capsys) -> None:
    lst, guidance = sample_scene(tmp_path, 48)
    for path, x, y in ((lst, 30.0, 90.0), (guidance, 10.0, 30.0)):
        with rasterio.open(path, "r+") as dst:
            t = dst.transform
            dst.transform = Affine(x, 0, t.c, 0, -y, t.f)
    capsys.readouterr()
    assert run(["downscale", str(lst), "-o", str(tmp_path / "tall.tif")]) == 0
    err = capsys.readouterr().err
    assert "trained to write 10 m pixels, these are 10 x 30 m (3x coarser in y)" in err


def infinite_lst(folder: Path, value: float) -> Path:
    """The demo LST, no nodata tag, its holes 300 K and one pixel ``value``."""
    lst, _ = sample_scene(folder, 48)
    with rasterio.open(lst) as src:
        profile, values = src.profile, src.read(1)
    profile.pop("nodata")
    values = np.where(np.isnan(values), 300.0, values)
    values[5, 5] = value
    path = folder / "inf.tif"
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values, 1)
    return path


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_an_infinite_lst_value_is_refused_as_implausible(tmp_path: Path, capsys, value: float) -> None:
    lst = infinite_lst(tmp_path, value)
    for command in (["downscale", str(lst), "--model", "bicubic", "--scale", "3", "-o", str(tmp_path / "o.tif")],
                    ["compare", str(lst), str(lst)]):
        capsys.readouterr()
        assert run(command) == 2
        err = capsys.readouterr().err
        shown = "inf" if value > 0 else "-inf"
        assert f"{lst}: LST values" in err and shown in err and "are not all plausible" in err
        assert "--mask-implausible" in err
    assert not (tmp_path / "o.tif").exists()


def test_an_outlier_the_sample_missed_is_not_called_zero_per_cent(tmp_path: Path, capsys, monkeypatch) -> None:
    """Review: one inf pixel in a large scene read 'about 0.0% outside' (none in the sample)."""
    monkeypatch.setattr("pipelines.lst_values._SAMPLE", 10)  # every 230th of the 48 x 48 pixels
    lst = infinite_lst(tmp_path, np.inf)
    assert run(["downscale", str(lst), "--model", "bicubic", "--scale", "3", "-o", str(tmp_path / "o.tif")]) == 2
    err = capsys.readouterr().err
    assert "(150..400 K; too few outside to appear among 11 sampled pixels)" in err, err


def test_mask_implausible_makes_an_infinite_lst_value_nodata(tmp_path: Path) -> None:
    lst = infinite_lst(tmp_path, np.inf)
    out = tmp_path / "o.tif"
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "--scale", "3", "--mask-implausible",
                "-o", str(out)]) == 0
    with rasterio.open(out) as src:
        values = src.read(1)
    assert np.isnan(values[15:18, 15:18]).all()  # the inf pixel's 3 x 3 output pixels
    assert np.isfinite(values).sum() == values.size - 9


def test_one_common_pixel_has_rmse_mae_and_bias() -> None:
    moments = Moments()
    moments.add(np.array([301.5]), np.array([300.0]))
    found = moments.metrics()
    assert (found["rmse"], found["mae"], found["bias"]) == (1.5, 1.5, 1.5)
    assert np.isnan(found["cc"]) and np.isnan(found["rsd"])


def test_the_table_of_one_common_pixel_says_pixel(tmp_path: Path, capsys) -> None:
    reference = raster(tmp_path / "r.tif", np.array([[300.0]]))
    candidate = raster(tmp_path / "c.tif", np.array([[301.5]]))
    assert run(["compare", str(reference), str(candidate)]) == 0
    out = capsys.readouterr().out
    assert "on 1 common pixel (" in out and "1.5000" in out, out
