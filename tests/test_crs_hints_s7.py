"""A raster in a local CRS beside one in a CRS that has no EPSG code: the hint said
``gdal_edit.py -a_srs EPSG:XXXX``, a code the user cannot find because none is that CRS. It now
gives the commands that copy the other raster's CRS, and they work as printed."""
from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from groklst_cli.app import run
from pipelines.grids import unrelated_crs_error

CUSTOM = CRS.from_proj4("+proj=tmerc +lat_0=0 +lon_0=7.3 +k=0.9996 +x_0=500000 +y_0=0 +ellps=WGS84 +units=m +no_defs")
LOCAL = CRS.from_wkt('LOCAL_CS["site grid",UNIT["metre",1],AXIS["Easting",EAST],AXIS["Northing",NORTH]]')


def _write(path: Path, crs: CRS, res: float, size: int) -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=1, dtype="float32", crs=crs,
                       transform=Affine(res, 0, 400000, 0, -res, 5700000), nodata=-9999.0) as dst:
        dst.write(np.linspace(290, 310, size * size, dtype=np.float32).reshape(size, size), 1)
    return path


def test_a_crs_without_a_code_is_copied_from_its_raster(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "lst.tif", CUSTOM, 30.0, 16)
    _write(tmp_path / "g.tif", LOCAL, 10.0, 48)
    assert run(["guidance", "lst.tif", "swir1=g.tif", "--scale", "2", "-o", "out.tif"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.endswith(
        "(hint: if g.tif is in lst.tif's CRS, declare it: gdalsrsinfo -o wkt lst.tif > crs.wkt, then "
        "gdal_edit.py -a_srs crs.wkt g.tif (it edits g.tif in place: copy it first to keep the original))")
    assert "XXXX" not in error
    if shutil.which("gdalsrsinfo") is None or shutil.which("gdal_edit.py") is None:
        pytest.skip("GDAL's command-line tools are not installed")
    commands = error.split("declare it: ", 1)[1].split(" (it edits", 1)[0]
    subprocess.run(commands.replace(", then ", " && "), shell=True, check=True, cwd=tmp_path)
    with rasterio.open(tmp_path / "g.tif") as src, rasterio.open(tmp_path / "lst.tif") as lst:
        assert src.crs == lst.crs
    assert run(["-q", "guidance", "lst.tif", "swir1=g.tif", "--scale", "2", "-o", "out.tif"]) == 0


def test_a_crs_known_only_by_its_role_gets_a_placeholder_file() -> None:
    """Water vapour names the LST by role ('the LST'): the hint shows where its file goes."""
    error = unrelated_crs_error("wv.tif", LOCAL, "the LST", CUSTOM)
    assert str(error).endswith(
        "(hint: if wv.tif is in the LST's CRS, declare it: gdalsrsinfo -o wkt LST.tif > crs.wkt, then "
        "gdal_edit.py -a_srs crs.wkt wv.tif (it edits wv.tif in place: copy it first to keep the original))")


def test_a_crs_with_a_code_is_still_named_by_it(tmp_path: Path) -> None:
    error = unrelated_crs_error(str(tmp_path / "g.tif"), LOCAL, "lst.tif", CRS.from_epsg(32632))
    assert f"gdal_edit.py -a_srs EPSG:32632 {shlex.quote(str(tmp_path / 'g.tif'))}" in str(error)


@pytest.mark.parametrize("name", ["/vsizip/s.zip/x_lst.tif", "NETCDF:era5.nc:lst"])
def test_a_gdal_name_is_kept_as_given_in_the_command(name: str) -> None:
    """Review R3: a GDAL name is no local file, and was turned into a role's placeholder
    (``/VSIZIP/S.ZIP/X_LST.TIF.tif``), which gdalsrsinfo cannot read."""
    error = unrelated_crs_error("g.tif", LOCAL, name, CUSTOM)
    assert f"gdalsrsinfo -o wkt {shlex.quote(name)} > crs.wkt, then" in str(error)
