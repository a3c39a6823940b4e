"""A raster in a local (engineering) CRS beside one in an EPSG CRS (fixer f8, QA s5): GDAL 3.6's
``gdal_edit.py -a_ullr`` replaces a file's EPSG:32632 by ``ENGCRS["unnamed"]``, which PROJ relates
to no other CRS. ``guidance`` and ``downscale --align`` failed with an internal error (exit 1) of
some 900 characters of PROJJSON naming no file; every command now names the local file, the
other's CRS and the ``gdal_edit.py`` that declares it (exit 2), and writes nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import Affine

from groklst_cli.app import run

UTM = CRS.from_epsg(32632)
# What gdalinfo shows after gdal_edit.py -a_ullr (GDAL 3.6), and the WKT1 form of a local CRS
ENGCRS = CRS.from_wkt('ENGCRS["unnamed",EDATUM[""],CS[Cartesian,2],AXIS["(E)",east,ORDER[1],'
                      'LENGTHUNIT["metre",1]],AXIS["(N)",north,ORDER[2],LENGTHUNIT["metre",1]]]')
LOCAL_CS = CRS.from_wkt('LOCAL_CS["site grid",UNIT["metre",1],AXIS["Easting",EAST],AXIS["Northing",NORTH]]')
X0, Y0 = 400_000.0, 5_760_000.0
INPUTS = ["g.tif", "lst.tif"]


def _write(path: Path, crs: CRS, res: float, size: int) -> None:
    data = np.linspace(290.0, 310.0, size * size, dtype=np.float32).reshape(size, size)
    with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=1, dtype="float32",
                       crs=crs, transform=Affine(res, 0, X0, 0, -res, Y0), nodata=-9999.0) as dst:
        dst.write(data, 1)


def _pair(folder: Path, lst_crs: CRS, guidance_crs: CRS) -> None:
    """A 30 m LST (16 x 16 px) and a 10 m guidance over it, in the given CRSs."""
    _write(folder / "lst.tif", lst_crs, 30.0, 16)
    _write(folder / "g.tif", guidance_crs, 10.0, 48)


def _expected(local: str, label: str, other: str) -> str:
    return (f'error: {local}: its CRS is a local/engineering CRS ("{label}") that cannot be related to '
            f"{other}'s EPSG:32632 (hint: if {local} is in EPSG:32632, declare it: gdal_edit.py -a_srs "
            f"EPSG:32632 {local} (it edits {local} in place: copy it first to keep the original))")


COMMANDS = {
    "guidance": ["guidance", "lst.tif", "swir1=g.tif", "--scale", "2", "-o", "out.tif"],
    "downscale --align": ["downscale", "lst.tif", "--guidance", "g.tif", "--align", "--model", "bicubic",
                          "-o", "out.tif"],
    "downscale": ["downscale", "lst.tif", "--guidance", "g.tif", "--model", "bicubic", "-o", "out.tif"],
    "coregister": ["coregister", "lst.tif", "g.tif", "-o", "out.tif"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("local", [ENGCRS, LOCAL_CS], ids=["ENGCRS", "LOCAL_CS"])
def test_a_local_lst_is_named_with_the_guidance_crs(tmp_path: Path, monkeypatch, capsys, command: str,
                                                    local: CRS) -> None:
    """QA's reproducer: the LST's EPSG:32632 became ENGCRS["unnamed"] (exit 1, internal error)."""
    _pair(tmp_path, local, UTM)
    monkeypatch.chdir(tmp_path)
    assert run(COMMANDS[command]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    label = "unnamed" if local is ENGCRS else "site grid"
    assert [line.removesuffix(" (scene lst.tif)") for line in errors] == [_expected("lst.tif", label, "g.tif")]
    assert sorted(p.name for p in tmp_path.iterdir()) == INPUTS  # no output, no aligned copy left


@pytest.mark.parametrize("command", ["guidance", "downscale --align"])
def test_a_local_guidance_is_named_with_the_lst_crs(tmp_path: Path, monkeypatch, capsys, command: str) -> None:
    """The other direction: the guidance source is the local one (exit 1, internal error)."""
    _pair(tmp_path, UTM, ENGCRS)
    monkeypatch.chdir(tmp_path)
    assert run(COMMANDS[command]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert [line.removesuffix(" (scene lst.tif)") for line in errors] == [_expected("g.tif", "unnamed", "lst.tif")]
    assert sorted(p.name for p in tmp_path.iterdir()) == INPUTS


def test_related_crss_pass_even_where_the_point_is_outside_the_other_domain() -> None:
    """Only the missing coordinate operation is refused: a point PROJ cannot project (here a
    latitude beyond 90) is left to the measuring that follows, and two local CRSs relate."""
    from pipelines.grids import check_related  # new with the fix: the CLI cases fail on the old code by themselves

    check_related("a.tif", CRS.from_epsg(4326), "b.tif", UTM, (199.0, 99.0, 201.0, 101.0))
    check_related("a.tif", ENGCRS, "b.tif", LOCAL_CS, (0.0, 0.0, 1.0, 1.0))
