"""Inputs named as GDAL names them: inside archives (/vsizip/, /vsitar/), a netCDF variable by
its subdataset name, URLs whose ``//`` the command line folded; a local file always wins."""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio

from groklst_cli.app import run
from pipelines.raster_names import gdal_name, raster_stem, source_tag
from tests.conftest import write_canonical_scene


def _pixels(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


@pytest.mark.parametrize("archive", ["zip", "tar"])
def test_a_scene_inside_an_archive_is_read_in_place(tmp_path: Path, capsys, archive: str) -> None:
    lst, guidance = write_canonical_scene(tmp_path, "d1", shape=(16, 20), bands=("red", "nir"))
    bundle = tmp_path / f"bundle.{archive}"
    if archive == "zip":
        with zipfile.ZipFile(bundle, "w") as z:
            z.write(lst, lst.name)
            z.write(guidance, guidance.name)
    else:
        with tarfile.open(bundle, "w") as t:
            t.add(lst, lst.name)
            t.add(guidance, guidance.name)
    inside = f"/vsi{archive}/{bundle}/{lst.name}"  # /vsizip//tmp/...: an absolute archive path
    out = tmp_path / "out"
    assert run(["-q", "downscale", inside, "--model", "bicubic", "--out-dir", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["input"] == inside  # as given, both slashes
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(tmp_path / "ref.tif")]) == 0
    written = out / "d1_lst_downscaled.tif"  # the guidance beside it in the archive was found
    np.testing.assert_array_equal(_pixels(written), _pixels(tmp_path / "ref.tif"))
    with rasterio.open(written) as src:
        assert src.tags()["lst_source"] == inside  # with both slashes, as GDAL reads it
        assert src.tags()["guidance_source"] == f"/vsi{archive}/{bundle}/{guidance.name}"


def test_a_netcdf_variable_by_its_subdataset_name(tmp_path: Path, capsys) -> None:
    import rioxarray  # noqa: F401 - the .rio accessor
    import xarray as xr

    values = (300.0 + np.arange(12 * 16, dtype=np.float32).reshape(12, 16) / 40).astype(np.float32)
    coords = {"y": 5_760_000.0 - 15 - 30 * np.arange(12), "x": 500_015.0 + 30 * np.arange(16)}
    ds = xr.Dataset({"LST": (("y", "x"), values), "QC": (("y", "x"), np.zeros((12, 16), np.int16))}, coords=coords)
    ds = ds.rio.write_crs("EPSG:32632").rio.write_coordinate_system()
    ds.to_netcdf(tmp_path / "day.nc", engine="scipy")
    ds["LST"].rio.to_raster(tmp_path / "day_lst.tif")
    os.chdir(tmp_path)  # the default output goes to the current folder
    try:
        assert run(["-q", "downscale", "NETCDF:day.nc:LST", "--model", "bicubic", "--scale", "3"]) == 0
    finally:
        os.chdir(Path(__file__).parent)
    assert run(["-q", "downscale", str(tmp_path / "day_lst.tif"), "--model", "bicubic", "--scale", "3",
                "-o", str(tmp_path / "ref.tif")]) == 0
    np.testing.assert_array_equal(_pixels(tmp_path / "day_LST_downscaled.tif"), _pixels(tmp_path / "ref.tif"))
    assert run(["-q", "downscale", str(tmp_path / "day.nc"), "--model", "bicubic", "--scale", "3"]) == 2
    assert f"give one by its name, e.g. netcdf:{tmp_path / 'day.nc'}:LST" in capsys.readouterr().err


def test_names_are_read_as_gdal_names_only_when_no_local_file_has_them(tmp_path: Path, monkeypatch) -> None:
    assert gdal_name("/vsicurl/https:/example.com/a_lst.tif") == "/vsicurl/https://example.com/a_lst.tif"
    assert gdal_name("/vsis3/bucket/dates/a_lst.tif") == "/vsis3/bucket/dates/a_lst.tif"
    assert gdal_name("NETCDF:day.nc:LST") == "NETCDF:day.nc:LST"
    assert gdal_name("notadriver:day.tif") is None and gdal_name("day_lst.tif") is None
    monkeypatch.chdir(tmp_path)
    shutil.copy(Path(__file__), tmp_path / "NETCDF:day.nc:LST")  # a local file of that name wins
    assert gdal_name("NETCDF:day.nc:LST") is None
    assert raster_stem('HDF5:"granule.h5":/SDS/LST') == "granule_SDS_LST"
    assert raster_stem("/vsitar/LC08_T1.tar/LC08_T1_ST_B10.TIF") == "LC08_T1_ST_B10"
    assert source_tag("/vsizip/a.zip/x.tif") == "/vsizip/a.zip/x.tif"


def test_an_unreadable_gdal_name_is_one_line_naming_it(tmp_path: Path, capsys) -> None:
    missing = f"/vsizip/{tmp_path}/nothere.zip/a_lst.tif"
    assert run(["downscale", missing, "--model", "bicubic", "--scale", "2", "-o", str(tmp_path / "o.tif")]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and lines[0].startswith(f"error: {missing}: not a readable raster")
    assert "check the name, the archive and any credentials GDAL needs" in lines[0]
    assert not (tmp_path / "o.tif").exists()


def test_prepare_reads_scenes_inside_an_archive(tmp_path: Path) -> None:
    from pipelines.dataset import open_prepared

    lst, guidance = write_canonical_scene(tmp_path, "d1", shape=(16, 20), bands=("red", "nir"))
    with zipfile.ZipFile(tmp_path / "bundle.zip", "w") as z:
        z.write(lst, lst.name)
        z.write(guidance, guidance.name)
    small = ["--scales", "2", "--patch", "8", "--stride", "8", "--split", "1:0:0"]
    assert run(["-q", "prepare", f"/vsizip/{tmp_path}/bundle.zip/{lst.name}", "-o", str(tmp_path / "ds"), *small]) == 0
    assert run(["-q", "prepare", str(lst), "-o", str(tmp_path / "ref"), *small]) == 0
    got, ref = open_prepared(tmp_path / "ds"), open_prepared(tmp_path / "ref")
    assert len(got) == len(ref) > 0
    for i in range(len(ref)):
        for a, b in zip(got.read(i, 2), ref.read(i, 2)):
            np.testing.assert_array_equal(a, b)


def test_a_guidance_source_url_with_a_query_is_a_path_not_names() -> None:
    from pipelines.guidance import parse_source

    url = "/vsicurl/https://host/s2.tif?sig=abc=&se=2026"
    assert parse_source(url).names == () and str(parse_source(url).path).endswith("se=2026")
    named = parse_source(f"swir1={url}")
    assert named.names == ("swir1",) and gdal_name(named.path) == url  # the folded // put back


@pytest.mark.parametrize(("name", "parts", "stem"), [
    ('NETCDF:"day.nc":LST', ("day.nc", "LST"), "day_LST"),
    ("NETCDF:day.nc:dem", ("day.nc", "dem"), "day_dem"),
    ('HDF5:"g.h5"://SDS/LST', ("g.h5", "SDS_LST"), "g_SDS_LST"),
    ('NETCDF:"nir.nc"', ("nir.nc", ""), "nir"),  # QA R9: the band was named '"nir.nc"', quotes and all
    ("NETCDF:x/lst.tif", ("x/lst.tif", ""), "lst"),
])
def test_a_subdataset_name_splits_into_its_file_and_variable(tmp_path: Path, monkeypatch, name: str,
                                                              parts: tuple[str, str], stem: str) -> None:
    from pipelines.raster_names import subdataset

    monkeypatch.chdir(tmp_path)  # no local file has the name: it is a GDAL name
    assert subdataset(name) == parts
    assert raster_stem(name) == stem
