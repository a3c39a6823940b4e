"""A water vapour raster in a local CRS is refused in one line, a small share of LST pixels
without water vapour is not written as 0 %, and ``~`` in the TOML's path is the home folder."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from groklst_cli.app import run
from pipelines import lst_retrieval
from pipelines.fixtures import write_product_fixture
from pipelines.ingest import IngestWarning, ingest_product
from pipelines.sample_scene import generate_scene
from pipelines.water_vapour import WaterVapour

LOCAL = CRS.from_wkt('LOCAL_CS["arbitrary",UNIT["metre",1],AXIS["Easting",EAST],AXIS["Northing",NORTH]]')


@pytest.fixture(scope="module")
def products(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_product_fixture(generate_scene((16, 20), seed=5), tmp_path_factory.mktemp("products"))


def _raster(path: Path, values: np.ndarray, transform: Affine, crs: object) -> Path:
    """A single-band float32 GeoTIFF of ``values``."""
    with rasterio.open(path, "w", driver="GTiff", width=values.shape[1], height=values.shape[0], count=1,
                       dtype="float32", crs=crs, transform=transform) as dst:
        dst.write(values.astype(np.float32), 1)
    return path


def _toml(folder: Path, raster: str) -> Path:
    config = folder / "r.toml"
    config.write_text(f'[split_window]\nwater_vapour = "{raster}"\n')
    return config


def test_a_raster_in_a_local_crs_is_refused_in_one_line(products, tmp_path, capsys) -> None:
    """QA R5: PROJ finds no way from the LST's UTM to a local CRS; that was an internal error, exit 1, then
    a line holding the whole WKT (exit 2); the CRS is now named by its short label."""
    _raster(tmp_path / "tcwv.tif", np.full((10, 10), 1.5), Affine(1000, 0, 0, 0, -1000, 10000), LOCAL)
    out = tmp_path / "out"
    code = run(["ingest", *map(str, products), "--retrieval-config", str(_toml(tmp_path, "tcwv.tif")),
                "--out-dir", str(out)])
    assert code == 2
    raster = tmp_path / "tcwv.tif"
    assert capsys.readouterr().err.splitlines() == [
        f'error: {raster}: its CRS is a local/engineering CRS ("arbitrary") that cannot be related to the LST\'s '
        f"EPSG:32647 (hint: if {raster} is in EPSG:32647, declare it: gdal_edit.py -a_srs EPSG:32647 {raster} "
        f"(it edits {raster} in place: copy it first to keep the original))"]
    assert not out.exists()


def test_three_pixels_of_a_million_without_water_vapour_are_not_zero_percent(tmp_path) -> None:
    path = _raster(tmp_path / "tcwv.tif", np.full((2, 2), 1.5), Affine(1000, 0, 0, 0, -1000, 2000), "EPSG:32647")
    values = np.full((1000, 1000), 1.5)
    values[0, :3] = np.nan
    with rasterio.open(path) as src:
        vapour = WaterVapour(src, None)
        vapour.count_missing(np.ones(values.shape, bool), values)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            vapour.report_missing(IngestWarning)
    assert [str(w.message) for w in caught] == [
        "tcwv.tif has no water vapour under 3 LST pixels (0.0003% of those retrieved): the LST is NaN there; "
        "give a raster that covers the whole scene"]


def test_a_home_relative_path_reads_the_raster_in_home(products, tmp_path, monkeypatch) -> None:
    """``~/tcwv.tif`` was joined to the TOML's folder as ``<toml dir>/~/tcwv.tif``."""
    home, elsewhere = tmp_path / "home", tmp_path / "configs"
    home.mkdir()
    elsewhere.mkdir()
    monkeypatch.setenv("HOME", str(home))
    ramp = np.tile(np.linspace(1.0, 3.0, 40), (40, 1))  # west-east, in degrees over the scene (as ERA5)
    raster = _raster(home / "tcwv.tif", ramp, Affine(0.01, 0, 100.3, 0, -0.01, 39.1), "EPSG:4326")
    by_home = _toml(elsewhere, "~/tcwv.tif")
    assert lst_retrieval.load_config(by_home).water_vapour == raster
    by_absolute = _toml(tmp_path, str(raster))
    lsts = []
    for config, out in ((by_home, tmp_path / "home_out"), (by_absolute, tmp_path / "abs_out")):
        with pytest.warns(IngestWarning):
            lst_path = ingest_product(list(products), out, retrieval_config=config)[0]
        with rasterio.open(lst_path) as src:
            lsts.append(src.read(1).astype(np.float64))
            assert "water_vapour=tcwv.tif (raster, g/cm2; mean " in src.tags()["lst_method"]
    assert np.isfinite(lsts[0]).sum() > 300
    np.testing.assert_array_equal(lsts[0], lsts[1])
