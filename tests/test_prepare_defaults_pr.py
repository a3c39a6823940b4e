"""prepare degrades like a real sensor by default (MTF blur, radiance aggregation), and the HR
target at --hr-res follows --aggregate as the LR input does."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr
from rasterio.transform import array_bounds
from rasterio.windows import from_bounds

from groklst_cli.app import run
from pipelines.dataset import open_prepared
from pipelines.degrade import block_mean, degrade
from pipelines.prepare import PrepareOptions, prepare
from tests.conftest import write_canonical_scene

RADIANCE_MEAN = ((2 * 290.0**4 + 2 * 310.0**4) / 4) ** 0.25  # 300.4987 K


def _checkerboard() -> np.ndarray:
    """290/310 K alternating pixels: every 2 x 2 block holds two of each."""
    yy, xx = np.mgrid[0:32, 0:32]
    return np.where((yy + xx) % 2 == 0, 290.0, 310.0)


def _settings(dataset: Path) -> dict:
    return json.loads((dataset / "info.json").read_text())["settings"]


def test_defaults_are_mtf_and_radiance() -> None:
    opts = PrepareOptions()
    assert (opts.degrade, opts.aggregate) == ("mtf", "radiance")


@pytest.mark.parametrize(("aggregate", "expected"), [("radiance", 300.50), ("kelvin", 300.00)])
def test_hr_target_at_hr_res_follows_aggregate(tmp_path: Path, aggregate: str, expected: float) -> None:
    lst_path, _ = write_canonical_scene(tmp_path, "board", lst=_checkerboard())
    prepare([lst_path], tmp_path / "ds", PrepareOptions(scales=(2,), hr_resolution=60, patch=4, stride=4,
                                                        ratios=(1, 0, 0), aggregate=aggregate))
    ds = open_prepared(tmp_path / "ds")
    assert ds.hr_resolution == 60 and len(ds) == 16
    for index in range(len(ds)):
        _, _, hr = ds.read(index, 2)
        np.testing.assert_allclose(hr, expected, atol=0.005)
    if aggregate == "radiance":
        assert ds.read(0, 2)[2][0, 0] == pytest.approx(RADIANCE_MEAN, abs=1e-3)


def test_cli_defaults_on_a_sample_scene_are_recorded_and_applied(tmp_path: Path) -> None:
    from pipelines.sample_scene import generate_scene, write_scene

    lst_path, _ = write_scene(generate_scene(lr_shape=(48, 48), seed=5), tmp_path, name="small")
    out = tmp_path / "ds"
    assert run(["-q", "prepare", str(lst_path), "--out", str(out), "--scales", "3", "--patch", "24",
                "--stride", "12", "--split", "1:0:0", "--max-nodata", "1"]) == 0
    settings = _settings(out)
    assert (settings["degrade"], settings["aggregate"]) == ("mtf", "radiance")
    ds = open_prepared(out)
    assert (ds.attrs["degrade"], ds.attrs["aggregate"]) == ("mtf", "radiance")
    with rasterio.open(lst_path) as src:
        scene = src.read(1).astype(np.float64)
        transform = src.transform
    whole = degrade(scene, 3, method="mtf", aggregate="radiance")  # one split: the whole scene is context
    off_by = []
    for index in range(len(ds)):
        lr, _, hr = ds.read(index, 3)
        window = from_bounds(*array_bounds(24, 24, ds.georef(index)[1]), transform=transform)
        row, col = round(window.row_off), round(window.col_off)
        np.testing.assert_allclose(lr, whole[row // 3 : row // 3 + 8, col // 3 : col // 3 + 8], atol=1e-3)
        finite = np.isfinite(lr)
        off_by.append(np.abs(lr - block_mean(hr, 3))[finite].max())
    assert max(off_by) > 0.05  # not the old area/kelvin pairs


def test_an_old_defaults_dataset_is_refused_or_replaced_whole(tmp_path: Path, capsys) -> None:
    lst_path, _ = write_canonical_scene(tmp_path, "board", lst=_checkerboard())
    out = tmp_path / "ds"
    old = ["-q", "prepare", str(lst_path), "--out", str(out), "--scales", "2", "--patch", "8", "--stride", "8",
           "--split", "1:0:0"]
    assert run([*old, "--degrade", "area", "--aggregate", "kelvin"]) == 0
    before = (out / "info.json").read_text()
    capsys.readouterr()
    assert run(old) == 2  # the new defaults into the old dataset: refused, nothing appended
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1 and "already exists" in message and "--overwrite" in message
    assert (out / "info.json").read_text() == before
    assert run([*old, "--overwrite"]) == 0  # replaced whole: every pair made the new way
    assert (_settings(out)["degrade"], _settings(out)["aggregate"]) == ("mtf", "radiance")
    ds = open_prepared(out)
    assert (ds.attrs["degrade"], ds.attrs["aggregate"]) == ("mtf", "radiance")
    store = xr.open_zarr(out / "data.zarr")
    whole = degrade(_checkerboard(), 2, method="mtf", aggregate="radiance")
    for index, (row, col) in enumerate(zip(store.row_off.values, store.col_off.values)):
        lr, _, _ = ds.read(index, 2)
        np.testing.assert_allclose(lr, whole[row // 2 : row // 2 + 4, col // 2 : col // 2 + 4], atol=1e-3)
        assert np.median(lr) == pytest.approx(RADIANCE_MEAN, abs=1e-3)  # kelvin pairs would read 300.00
