"""A raster in a local (engineering) CRS beside one in an EPSG CRS (fixer f8, QA s5): GDAL 3.6's
``gdal_edit.py -a_ullr`` replaces a file's EPSG:32632 by ``ENGCRS["unnamed"]``, which PROJ relates
to no other CRS. ``guidance`` and ``downscale --align`` (then, f9: ``mask``, ``compare`` and
``ingest --dem``) failed with an internal error (exit 1) of some 900 characters of PROJJSON naming
no file; every command now names the local file, the other's CRS and the ``gdal_edit.py`` that
declares it (exit 2), and writes nothing."""

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


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_local_guidance_is_named_with_the_lst_crs(tmp_path: Path, monkeypatch, capsys, command: str) -> None:
    """The other direction: the guidance source is the local one (exit 1, internal error; plain
    downscale and coregister said "CRS LOCAL_CS[...] differs from the LST's" with its whole WKT)."""
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


def _mask(path: Path, crs: CRS, res: float, size: int) -> None:
    """A 0/1 uint8 mask over the LST (every pixel clear)."""
    with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=1, dtype="uint8", crs=crs,
                       transform=Affine(res, 0, X0, 0, -res, Y0)) as dst:
        dst.write(np.zeros((1, size, size), np.uint8))


def _errors(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize("mask_res", [30.0, 10.0], ids=["same grid", "3x finer"])
@pytest.mark.parametrize("local", ["lst.tif", "m.tif"])
def test_mask_names_the_local_one_of_raster_and_mask(tmp_path: Path, monkeypatch, capsys, local: str,
                                                     mask_res: float) -> None:
    """groklst mask with either the raster or the mask local: an internal error of PROJJSON (exit 1)
    from measuring the mask's pixels in the raster's CRS."""
    _write(tmp_path / "lst.tif", ENGCRS if local == "lst.tif" else UTM, 30.0, 16)
    _mask(tmp_path / "m.tif", ENGCRS if local == "m.tif" else UTM, mask_res, round(480 / mask_res))
    monkeypatch.chdir(tmp_path)
    assert run(["mask", "lst.tif", "m.tif", "-o", "out.tif"]) == 2
    other = "m.tif" if local == "lst.tif" else "lst.tif"
    assert _errors(capsys) == [_expected(local, "unnamed", other)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lst.tif", "m.tif"]


@pytest.mark.parametrize("local", ["ref.tif", "cand.tif"])
def test_compare_names_the_local_one_of_reference_and_candidate(tmp_path: Path, monkeypatch, capsys,
                                                                local: str) -> None:
    """groklst compare with either raster local: an internal error of PROJJSON (exit 1) from the
    hint's gdalwarp command, which measures the candidate in the reference's CRS."""
    _write(tmp_path / "ref.tif", ENGCRS if local == "ref.tif" else UTM, 30.0, 16)
    _write(tmp_path / "cand.tif", LOCAL_CS if local == "cand.tif" else UTM, 10.0, 48)
    monkeypatch.chdir(tmp_path)
    assert run(["compare", "ref.tif", "cand.tif"]) == 2
    other = "cand.tif" if local == "ref.tif" else "ref.tif"
    assert _errors(capsys) == [_expected(local, "unnamed" if local == "ref.tif" else "site grid", other)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cand.tif", "ref.tif"]


def test_ingest_names_a_local_dem(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, monkeypatch,
                                  capsys) -> None:
    """groklst ingest --dem with a local DEM: an internal error of PROJJSON (exit 1) from placing
    the DEM's footprint in the scene's CRS; the DEM is refused against the scene's EPSG:32647."""
    from pipelines.fixtures import write_product_fixture
    from pipelines.geotiff import write_raster
    from pipelines.sample_scene import generate_scene

    scene = generate_scene((16, 20), seed=5)
    tis, mii = write_product_fixture(scene, tmp_path_factory.mktemp("products"))
    write_raster(tmp_path / "dem.tif", scene.band("dem"), crs=ENGCRS, transform=scene.guidance_transform,
                 descriptions=["dem"])
    monkeypatch.chdir(tmp_path)
    assert run(["ingest", str(tis), str(mii), "--dem", "dem.tif", "--out-dir", "out"]) == 2
    assert _errors(capsys) == [
        'error: dem.tif: its CRS is a local/engineering CRS ("unnamed") that cannot be related to the scene\'s '
        "EPSG:32647 (hint: if dem.tif is in EPSG:32647, declare it: gdal_edit.py -a_srs EPSG:32647 dem.tif (it "
        "edits dem.tif in place: copy it first to keep the original))"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dem.tif"]
