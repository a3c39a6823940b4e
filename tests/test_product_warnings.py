"""Warnings of a run from SDGSAT-1 product folders: TIS data cut away outside the MII footprint is
said, once; a missing --dem is said once, worded for the command run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import rasterio
from rasterio.windows import Window

from groklst_cli.app import run


@pytest.fixture()
def folders(tmp_path: Path, capsys) -> list[str]:
    """A small sample scene's TIS and MII product folders (12 x 12 TIS pixels, 140 of them valid)."""
    assert run(["-q", "sample-scene", str(tmp_path / "raw"), "--size", "12", "--seed", "2", "--products"]) == 0
    return capsys.readouterr().out.split()[2:4]


def _narrowed_mii(mii: Path, target: Path, keep: float) -> Path:
    """A copy of the MII product whose camera images keep their western ``keep`` share of columns."""
    copy = target / mii.name
    shutil.copytree(mii, copy)
    for camera in copy.glob("*.tif"):
        with rasterio.open(camera) as src:
            window = Window(0, 0, int(src.width * keep), src.height)
            data, profile = src.read(window=window), src.profile
            profile.update(width=window.width, height=window.height)  # the origin stays: the transform too
        with rasterio.open(camera, "w", **profile) as dst:
            dst.write(data)
    return copy


def test_tis_data_outside_the_mii_footprint_is_warned_about_once(tmp_path: Path, folders, capsys) -> None:
    """QA: a TIS scene wider than the MII lost its outer pixels without a word (the coverage
    warning counts gaps inside the MII only)."""
    tis, mii = folders
    narrow = _narrowed_mii(Path(mii), tmp_path / "narrow", 0.75)
    said = "14.3 % of the TIS data (20 of 140 valid pixels) lies outside the MII footprint and is cut from the outputs"
    assert run(["downscale", tis, str(narrow), "--model", "bicubic", "-o", str(tmp_path / "o.tif")]) == 0
    err = capsys.readouterr().err
    assert sum(said in line for line in err.splitlines()) == 1
    assert run(["ingest", tis, str(narrow), "--out-dir", str(tmp_path / "in")]) == 0
    assert said in capsys.readouterr().err
    assert run(["downscale", *folders, "--model", "bicubic", "-o", str(tmp_path / "whole.tif")]) == 0
    assert "outside the MII footprint" not in capsys.readouterr().err


def _dem_warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning: ") and "dem" in line.lower()]


def test_a_missing_dem_is_warned_about_once(tmp_path: Path, folders, capsys) -> None:
    """QA: a product run without --dem said it twice, the second time asking for a DEM given to
    groklst ingest, a command not run; ingest and a downscale of its pair still say it each."""
    assert run(["downscale", *folders, "-o", str(tmp_path / "o.tif")]) == 0
    dem = _dem_warnings(capsys.readouterr().err)
    assert len(dem) == 1 and dem[0].endswith("there instead: pass --dem DEM.tif for its full accuracy")
    assert run(["ingest", *folders, "--out-dir", str(tmp_path / "in")]) == 0
    assert _dem_warnings(capsys.readouterr().err) == [
        "warning: no --dem given: the dem band is filled with the constant 0 m (downscale gives a model its "
        "training mean elevation there instead)"]
    lst = next((tmp_path / "in").glob("*_lst.tif"))
    assert run(["downscale", str(lst), "-o", str(tmp_path / "two.tif")]) == 0
    dem = _dem_warnings(capsys.readouterr().err)
    assert len(dem) == 1 and dem[0].endswith("there instead: pass a DEM to ingest for its full accuracy")
