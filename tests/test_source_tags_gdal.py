"""An output's source tags name a GDAL-named input with its file absolute, so that they are usable
from any folder as the README says; and ``downscale --quicklook`` naming an input says so before
judging the PNG's extension (QA fixSRC)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio

from groklst_cli.app import run
from pipelines.raster_names import source_tag
from tests.test_quicklook import gradient_kelvin, write_lst
from tests.test_quicklook_sources import WIDTH, assert_input_drawn_as_output, gzipped_lst, netcdf_lst


@pytest.mark.parametrize("make, name, tagged", [
    (netcdf_lst, 'NETCDF:"l.nc":Band1', 'NETCDF:"{}/l.nc":Band1'),
    (gzipped_lst, "/vsigzip/lz.tif.gz", "/vsigzip/{}/lz.tif.gz"),
])
def test_a_relative_gdal_name_is_tagged_absolute_and_found_from_another_folder(
        tmp_path: Path, monkeypatch, capsys, make, name: str, tagged: str) -> None:
    """The input in one folder, the output in a second, quicklook run from a third: only the
    tag can name the input. Before, the tag was the relative name and quicklook said "which is
    not there (nor beside the output)"."""
    for folder in ("data", "outputs", "elsewhere"):
        (tmp_path / folder).mkdir()
    make(tmp_path / "data")
    monkeypatch.chdir(tmp_path / "data")
    assert run(["-q", "downscale", name, "--model", "bicubic", "--scale", "2", "-o", "../outputs/dl.tif"]) == 0
    output = tmp_path / "outputs" / "dl.tif"
    with rasterio.open(output) as src:
        assert src.tags()["lst_source"] == tagged.format(tmp_path.resolve() / "data")
        assert src.tags()["guidance_source"] == "none"
    monkeypatch.chdir(tmp_path / "elsewhere")
    capsys.readouterr()
    assert run(["-q", "quicklook", str(output), "-o", "x.png", "--width", WIDTH]) == 0
    assert capsys.readouterr().err == ""
    assert_input_drawn_as_output(tmp_path / "elsewhere" / "x.png")


def test_only_the_local_file_of_a_gdal_name_is_made_absolute(tmp_path: Path, monkeypatch) -> None:
    """The GDAL syntax is kept around the file: quotes or none, a subdataset's variable path, an
    archive's inner path; network names, absolute ones and names of no local file stay as typed."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "l.nc").write_bytes(b"x")
    (tmp_path / "f.h5").write_bytes(b"x")
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as archive:
        archive.writestr("in/x.tif", b"x")
    here = tmp_path.resolve()
    assert source_tag('NETCDF:"l.nc":Band1') == f'NETCDF:"{here}/l.nc":Band1'
    assert source_tag("NETCDF:l.nc:Band1") == f"NETCDF:{here}/l.nc:Band1"
    assert source_tag('HDF5:"f.h5"://grp/var') == f'HDF5:"{here}/f.h5"://grp/var'
    assert source_tag("/vsizip/a.zip/in/x.tif") == f"/vsizip/{here}/a.zip/in/x.tif"
    assert source_tag('NETCDF:"/vsizip/a.zip/l.nc":v') == f'NETCDF:"/vsizip/{here}/a.zip/l.nc":v'
    for as_typed in ("/vsicurl/https://example.com/a.tif", "/vsis3/bucket/key.tif", 'NETCDF:"https://h/x.nc":v',
                     f"/vsizip/{here}/a.zip/in/x.tif", "/vsizip/{/vsicurl/https://h/a.zip}/x.tif",
                     "/vsizip/nothere.zip/x.tif", 'NETCDF:"nothere.nc":v'):
        assert source_tag(as_typed) == as_typed


def test_the_input_given_as_the_quicklook_is_said_to_be_one_first(tmp_path: Path, monkeypatch, capsys) -> None:
    """Before: "the quick look is a PNG, not .tif", though the file is the run's input."""
    monkeypatch.chdir(tmp_path)
    lst = write_lst(tmp_path / "in_lst.tif", gradient_kelvin().astype(np.float32))
    before = lst.read_bytes()
    assert run(["downscale", "in_lst.tif", "--model", "bicubic", "--scale", "2", "-o", "o.tif",
                "--quicklook", "in_lst.tif"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: --quicklook: names the input in_lst.tif; it would be overwritten "
        "(hint: give the PNG another name)")
    assert lst.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in_lst.tif"]
