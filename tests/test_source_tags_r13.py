"""Source tags GDAL can open again: a subdataset's file quoted when its absolute path holds a
colon, an archive reached through a link without extension (a DVC or git-annex cache) named by
the link; ``quicklook --lst`` through such a link read as recorded; and a chain of too many
symbolic links not called a loop (review R13)."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio

from groklst_cli.app import run
from pipelines.errors import not_found_error
from pipelines.quicklook import tagged_lst
from pipelines.raster_names import source_tag
from tests.conftest import write_canonical_scene
from tests.test_quicklook import LANDSAT, assert_same_colours, gradient_kelvin, landsat_dns, write_lst
from tests.test_quicklook_sources import WIDTH, assert_input_drawn_as_output, netcdf_lst


def downscale(name: str, output: str) -> None:
    assert run(["-q", "downscale", name, "--model", "bicubic", "--scale", "2", "-o", output]) == 0


def lst_source(output: Path) -> str:
    with rasterio.open(output) as src:
        return src.tags()["lst_source"]


def test_an_unquoted_subdataset_in_a_folder_with_a_colon_is_tagged_quoted(tmp_path: Path, monkeypatch, capsys) -> None:
    """``NETCDF:l.nc:Band1`` opens in ``a:b``; before, its tag ``NETCDF:/.../a:b/l.nc:Band1`` did
    not ("Failed to parse NETCDF: prefix string"), so quicklook said the LST was not there."""
    folder = tmp_path / "a:b"
    folder.mkdir()
    (tmp_path / "elsewhere").mkdir()
    netcdf_lst(folder)
    monkeypatch.chdir(folder)
    downscale("NETCDF:l.nc:Band1", "o.tif")
    assert lst_source(folder / "o.tif") == f'NETCDF:"{folder.resolve()}/l.nc":Band1'
    monkeypatch.chdir(tmp_path / "elsewhere")
    capsys.readouterr()
    assert run(["-q", "quicklook", "../a:b/o.tif", "-o", "q.png", "--width", WIDTH]) == 0
    assert capsys.readouterr().err == ""
    assert_input_drawn_as_output(tmp_path / "elsewhere" / "q.png")


def test_a_subdataset_found_beside_the_output_in_a_folder_with_a_colon_is_quoted(
        tmp_path: Path, monkeypatch, capsys) -> None:
    """Tagged unquoted where no colon was, then moved with its output into ``m:n``: the name
    beside the output is quoted (before: unquoted, unparsable, "not there")."""
    (tmp_path / "plain").mkdir()
    moved = tmp_path / "m:n"
    moved.mkdir()
    netcdf_lst(tmp_path / "plain")
    monkeypatch.chdir(tmp_path / "plain")
    downscale("NETCDF:l.nc:Band1", "o.tif")
    assert lst_source(tmp_path / "plain" / "o.tif") == f"NETCDF:{tmp_path.resolve()}/plain/l.nc:Band1"
    for name in ("l.nc", "o.tif"):
        (tmp_path / "plain" / name).rename(moved / name)
    monkeypatch.chdir(moved)
    assert tagged_lst("o.tif", lst_source(moved / "o.tif")) == f'NETCDF:"{moved.resolve()}/l.nc":Band1'
    capsys.readouterr()
    assert run(["-q", "quicklook", "o.tif", "-o", "q.png", "--width", WIDTH]) == 0
    assert capsys.readouterr().err == ""
    assert_input_drawn_as_output(moved / "q.png")


def zipped(tif: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("l.tif", tif)
    return buffer.getvalue()


def tarred(tif: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        member = tarfile.TarInfo("l.tif")
        member.size = len(tif)
        archive.addfile(member, io.BytesIO(tif))
    return buffer.getvalue()


@pytest.mark.parametrize("pack, link, name", [
    (zipped, "link.zip", "/vsizip/link.zip/l.tif"),
    (tarred, "link.tar", "/vsitar/link.tar/l.tif"),
    (gzip.compress, "l.tif.gz", "/vsigzip/l.tif.gz"),
])
def test_an_archive_linked_into_a_cache_is_tagged_by_the_link(tmp_path: Path, monkeypatch, capsys,
                                                              pack, link: str, name: str) -> None:
    """``link.zip -> blobs/0123abcd``: /vsizip/ and /vsitar/ find an archive's end by its
    extension, so the tag names the link (its folder resolved), not the blob GDAL cannot open."""
    data, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    (data / "blobs").mkdir(parents=True)
    elsewhere.mkdir()
    tif = write_lst(tmp_path / "l.tif", gradient_kelvin().astype(np.float32))
    (data / "blobs" / "0123abcd").write_bytes(pack(tif.read_bytes()))
    tif.unlink()
    (data / link).symlink_to("blobs/0123abcd")
    (tmp_path / "via").symlink_to("data")  # a linked folder on the way is still resolved
    monkeypatch.chdir(tmp_path / "via")
    downscale(name, "o.tif")
    assert lst_source(data / "o.tif") == name.replace(link, f"{data.resolve()}/{link}")
    monkeypatch.chdir(elsewhere)
    capsys.readouterr()
    assert run(["-q", "quicklook", str(data / "o.tif"), "-o", "q.png", "--width", WIDTH]) == 0
    assert capsys.readouterr().err == ""
    assert_input_drawn_as_output(elsewhere / "q.png")


def test_a_linked_netcdf_keeps_its_link_name_and_opens(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "blobs").mkdir()
    netcdf_lst(tmp_path).rename(tmp_path / "blobs" / "ncblob")
    (tmp_path / "l.nc").symlink_to("blobs/ncblob")
    monkeypatch.chdir(tmp_path)
    tag = source_tag("NETCDF:l.nc:Band1")
    assert tag == f"NETCDF:{tmp_path.resolve()}/l.nc:Band1"
    with rasterio.open(tag) as src:
        assert src.shape == (40, 40)


def test_an_lst_given_through_a_git_annex_link_is_read_as_recorded(tmp_path: Path, monkeypatch, capsys) -> None:
    """``--lst lst.tif -> blobs/SHA256E-...tif``: the tag holds the blob's path; before, the file
    names differed, the recorded scale/offset/nodata were dropped and the panel was raw DNs
    (one saturated colour, with a warning)."""
    (tmp_path / "blobs").mkdir()
    blob = write_lst(tmp_path / "blobs" / "SHA256E-s424--ab.tif", landsat_dns(gradient_kelvin()))  # no metadata
    (tmp_path / "lst.tif").symlink_to("blobs/SHA256E-s424--ab.tif")
    monkeypatch.chdir(tmp_path)
    assert run(["-q", "downscale", "lst.tif", "--model", "bicubic", "--scale", "2", "-o", "o.tif",
                "--scale-factor", str(LANDSAT[0]), "--offset", str(LANDSAT[1]), "--nodata", "0"]) == 0
    assert lst_source(tmp_path / "o.tif") == str(blob.resolve())
    capsys.readouterr()
    assert run(["-q", "quicklook", "o.tif", "--lst", "lst.tif", "-o", "q.png", "--width", WIDTH]) == 0
    assert capsys.readouterr().err == ""
    assert_same_colours(tmp_path / "q.png")


def link_chain(folder: Path, links: int) -> Path:
    """``l0 -> l1 -> ... -> l{links}``, the last a file: the first link."""
    (folder / f"l{links}").write_bytes(b"x")
    for i in range(links):
        (folder / f"l{i}").symlink_to(f"l{i + 1}")
    return folder / "l0"


def test_a_chain_of_too_many_links_is_no_loop(tmp_path: Path, monkeypatch, capsys) -> None:
    """41 links to a file: ELOOP, which also means "too many links"; before, it was called "a
    symbolic link that loops (to l1)"."""
    first = link_chain(tmp_path, 41)
    with pytest.raises(OSError):
        os.stat(first)
    said = (f"cannot be reached: {first} leads through too many symbolic links (to l1, none of them looping) "
            "(hint: link straight to the file, or choose another folder)")
    assert str(not_found_error(first / "x.tif")) == f"{first / 'x.tif'}: {said}"
    monkeypatch.chdir(tmp_path)
    lst, _ = write_canonical_scene(tmp_path, shape=(8, 8))
    assert run(["-q", "compare", lst.name, "l0"]) == 2
    assert capsys.readouterr().err.splitlines() == [f"error: l0: {said}"]
