"""An integer LST in tenths of Kelvin with an undeclared fill of 0 over a quarter of the scene also
reads as hundredths of degrees Celsius with the fill as 0 degC (all plausible): the hint offered that
reading, and following it wrote a scene ~10 K too cold with the fill as valid 0 degC, exit 0 (QA)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio

from groklst_cli.app import run
from pipelines.sample_scene import generate_scene, write_scene


def _tenths_of_kelvin_with_fill(folder: Path) -> Path:
    lst, _ = write_scene(generate_scene((48, 48), seed=3), folder, name="k")
    with rasterio.open(lst) as src:
        profile, kelvin = src.profile, src.read(1)
    stored = np.where(np.isnan(kelvin), 0, np.round(kelvin * 10)).astype(np.int16)
    stored[:, :12] = 0  # the fill, undeclared
    with rasterio.open(lst, "w", **{**profile, "dtype": "int16", "nodata": None}) as dst:
        dst.write(stored, 1)
    return lst


def test_a_common_extreme_value_is_named_as_the_fill_before_any_encoding(tmp_path: Path, capsys) -> None:
    lst = _tenths_of_kelvin_with_fill(tmp_path)
    capsys.readouterr()
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(tmp_path / "o.tif")]) == 2
    err = capsys.readouterr().err
    assert "hint: the value 0 fills 2" in err and "pass --nodata 0 with --scale-factor 0.1 --offset 0.0" in err
    assert not (tmp_path / "o.tif").exists()
    # the hint, followed: Kelvin as stored, the fill NaN
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(tmp_path / "o.tif"),
                "--nodata", "0", "--scale-factor", "0.1", "--offset", "0"]) == 0
    with rasterio.open(tmp_path / "o.tif") as out:
        values = out.read(1)
    assert np.isnan(values[:, :36]).all() and 280 < np.nanmin(values) and np.nanmax(values) < 340


def test_a_fill_that_may_be_a_temperature_gets_both_readings(tmp_path: Path, capsys) -> None:
    """Review: hundredths of degC with a frozen lake at 0.00 degC over 5 % of the scene: the fill
    reading alone told the user to mask the lake; the reading with 0 as a temperature is offered too."""
    stored = np.tile(np.linspace(100, 1500, 60), (60, 1)).astype(np.int16)
    stored[:14, :14] = 0
    lst = tmp_path / "w_lst.tif"
    with rasterio.open(lst, "w", driver="GTiff", width=60, height=60, count=1, dtype="int16", crs="EPSG:32633",
                       transform=rasterio.transform.from_origin(400000, 5760000, 30, 30)) as dst:
        dst.write(stored, 1)
    capsys.readouterr()
    assert run(["-q", "downscale", str(lst), "-m", "bicubic", "-s", "3", "-o", str(tmp_path / "o.tif")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert ("pass --nodata 0 with --scale-factor 0.01 --offset 0.0 --units celsius (hundredths: 1..15 degC); or, "
            "if that value is a temperature, not a fill, pass --scale-factor 0.01 --offset 0.0 --units celsius "
            "(hundredths: 0..15 degC)") in err
