"""groklst guidance with sources and an LST named as GDAL subdatasets (``NETCDF:"f.nc":var``):
bands are named after the variable, tags and messages name the input as given."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from groklst_cli.app import run
from pipelines.geotiff import write_raster

with rasterio.Env() as _env:
    _HAS_NETCDF = "netCDF" in _env.drivers()
pytestmark = pytest.mark.skipif(not _HAS_NETCDF, reason="GDAL has no netCDF driver")

UTM = CRS.from_epsg(32632)
X0, Y0 = 400_000.0, 5_760_000.0
ROWS, COLS = 12, 16  # LST pixels (30 m); the sources are 10 m, three times as many


def _netcdf(path: Path, variables: dict[str, np.ndarray], res: float) -> Path:
    """A CF-georeferenced netCDF of ``variables`` (y, x) on a ``res`` m grid at (X0, Y0)."""
    xr = pytest.importorskip("xarray")
    pytest.importorskip("rioxarray")
    rows, cols = next(iter(variables.values())).shape
    coords = {"y": Y0 - res / 2 - res * np.arange(rows), "x": X0 + res / 2 + res * np.arange(cols)}
    ds = xr.Dataset({k: (("y", "x"), v) for k, v in variables.items()}, coords=coords)
    ds.rio.write_crs(UTM).rio.write_coordinate_system().to_netcdf(path, engine="scipy")
    return path


@pytest.fixture
def scene(tmp_path: Path) -> dict[str, Path | np.ndarray]:
    """An LST netCDF, a guidance netCDF holding nir and dem, and the same bands as GeoTIFFs."""
    rng = np.random.default_rng(3)
    lst = np.full((ROWS, COLS), 300.0, np.float32) + rng.random((ROWS, COLS), np.float32)
    nir = rng.random((3 * ROWS, 3 * COLS), np.float32)
    dem = 500.0 + 100.0 * rng.random((3 * ROWS, 3 * COLS), np.float32)
    fine = Affine(10, 0, X0, 0, -10, Y0)
    write_raster(tmp_path / "nir.tif", nir, crs=UTM, transform=fine, descriptions=["nir"])
    write_raster(tmp_path / "dem.tif", dem, crs=UTM, transform=fine, descriptions=["dem"])
    write_raster(tmp_path / "lst.tif", lst, crs=UTM, transform=Affine(30, 0, X0, 0, -30, Y0),
                 descriptions=["lst"], units="K")
    return {"day": _netcdf(tmp_path / "day.nc", {"LST": lst}, 30.0),
            "guid": _netcdf(tmp_path / "guid.nc", {"nir": nir, "dem": dem}, 10.0),
            "nir": nir, "dem": dem, "lst": tmp_path / "lst.tif"}


def test_variables_of_one_netcdf_are_bands_named_after_them(tmp_path: Path, scene, capsys) -> None:
    day, guid = scene["day"], scene["guid"]
    out, ref = tmp_path / "g.tif", tmp_path / "ref.tif"
    sources = [f'NETCDF:"{guid}":nir', f"NETCDF:{guid}:dem"]  # quoted and unquoted
    assert run(["guidance", f'NETCDF:"{day}":LST', *sources, "--scale", "3", "-o", str(out)]) == 0
    assert f'  nir: NETCDF:"{guid}":nir band 1, ' in capsys.readouterr().err
    assert run(["-q", "guidance", str(scene["lst"]), str(tmp_path / "nir.tif"), str(tmp_path / "dem.tif"),
                "--scale", "3", "-o", str(ref)]) == 0
    with rasterio.open(out) as got, rasterio.open(ref) as want:
        assert got.descriptions == want.descriptions == ("nir", "dem")
        assert (got.transform, got.shape) == (want.transform, want.shape)
        np.testing.assert_array_equal(got.read(), want.read())
        np.testing.assert_allclose(got.read(1), scene["nir"], rtol=1e-6)  # same grid: values kept
        np.testing.assert_allclose(got.read(2), scene["dem"], rtol=1e-6)
        assert got.tags(1)["source"] == f'NETCDF:"{guid}":nir band 1'
        assert got.tags(2)["source"] == f"NETCDF:{guid}:dem band 1"
        assert got.tags()["lst_source"] == f'NETCDF:"{day}":LST'
        assert want.tags(1)["source"] == f"{(tmp_path / 'nir.tif').resolve()} band 1"
        assert want.tags()["lst_source"] == str((tmp_path / "lst.tif").resolve())


def test_two_bands_of_one_name_are_refused_naming_both_sources(tmp_path: Path, scene, capsys) -> None:
    guid, out = scene["guid"], tmp_path / "g.tif"
    args = [str(scene["lst"]), f'NETCDF:"{guid}":nir', f"nir=NETCDF:{guid}:dem", "--scale", "3", "-o", str(out)]
    assert run(["guidance", *args]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f'error: nir: two guidance bands have this name (from NETCDF:"{guid}":nir and NETCDF:{guid}:dem) '
        "(hint: name the sources' bands with NAME=PATH)"]
    assert not out.exists()
    assert run(["guidance", str(scene["lst"]), f"NETCDF:{guid}:nir", f"red=NETCDF:{guid}:dem",
                f"ndvi=NETCDF:{guid}:dem", "--index", "ndvi", "--scale", "3", "-o", str(out)]) == 2
    assert f"ndvi: two guidance bands have this name (from NETCDF:{guid}:dem and --index)" in capsys.readouterr().err
