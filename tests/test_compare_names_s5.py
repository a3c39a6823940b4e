"""QA s5 f7: the outputs compare's gdalwarp hints name for GDAL names collided, so a second pasted hint
found the first's output: ``/vsigzip/a/lst.tif.gz`` and ``/vsigzip/b/lst.tif.gz`` (and two URLs ending in
``lst.tif``) were both ``lst_on_grid.tif``, and ``/vsizip/s1/d1.zip/lst.tif`` and ``/vsizip/s1_d1.zip/lst.tif``
both ``s1_d1_lst_on_grid.tif``. A GDAL name's output now carries a short hash of the name, its local file
made absolute, so one file typed two ways keeps one output; a local file keeps ``<stem>_on_grid.tif``
beside it, as a folder holds one file of a name."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from groklst_cli.app import run
from pipelines.compare import _warped_path
from tests.test_compare import raster
from tests.test_compare_hints_s4 import on_grid
from tests.test_nest_hints_s3 import X0, Y0, compare_json, field, only_error, run_printed


def zipped(folder: Path, archive: str, member: str) -> str:
    """Make zip ``archive`` below ``folder`` hold a small ``member``; its GDAL name relative to ``folder``."""
    (folder / archive).parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / archive, "a") as opened:
        opened.writestr(member, b"x")
    return f"/vsizip/{archive}/{member}"


def test_gzipped_files_of_one_name_in_two_folders_get_two_outputs(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    outputs = [_warped_path(Path(f"/vsigzip/{folder}/lst.tif.gz")) for folder in ("a", "b")]
    assert outputs == [Path(on_grid("lst", f"/vsigzip/{tmp_path}/{folder}/lst.tif.gz")) for folder in ("a", "b")]
    assert outputs[0] != outputs[1]


def test_two_urls_ending_in_one_name_get_two_outputs() -> None:
    urls = ["https://one.example/s1/lst.tif", "https://two.example/s1/lst.tif?sig=1"]
    outputs = [_warped_path(Path(f"/vsicurl/{url}")) for url in urls]
    # the query is no part of the name (2b174de: a re-signed URL keeps its output); the hosts differ
    assert outputs == [Path(on_grid("lst", f"/vsicurl/{url.split('?')[0]}")) for url in urls]
    assert outputs[0] != outputs[1]


def test_a_folder_and_an_underscore_in_an_archive_name_get_two_outputs(tmp_path: Path, monkeypatch) -> None:
    """``s1/d1.zip`` and ``s1_d1.zip`` both read ``s1_d1``: the hash tells them apart, the words stay."""
    monkeypatch.chdir(tmp_path)
    names = [zipped(tmp_path, archive, "lst.tif") for archive in ("s1/d1.zip", "s1_d1.zip")]
    outputs = [_warped_path(Path(name)) for name in names]
    assert outputs == [Path(on_grid("s1_d1_lst", f"/vsizip/{tmp_path}/{archive}/lst.tif"))
                       for archive in ("s1/d1.zip", "s1_d1.zip")]
    assert outputs[0] != outputs[1]


def test_a_member_in_a_folder_of_its_name_gets_its_own_output(tmp_path: Path, monkeypatch) -> None:
    """``lst.zip/lst.tif`` and ``lst.zip/lst/lst.tif`` both read ``lst`` (a repeated word is dropped)."""
    monkeypatch.chdir(tmp_path)
    names = [zipped(tmp_path, "lst.zip", member) for member in ("lst.tif", "lst/lst.tif")]
    outputs = [_warped_path(Path(name)) for name in names]
    assert outputs == [Path(on_grid("lst", f"/vsizip/{tmp_path}/lst.zip/{member}"))
                       for member in ("lst.tif", "lst/lst.tif")]
    assert outputs[0] != outputs[1]


@pytest.mark.parametrize(("typed", "again"), [
    ("/vsigzip/a/lst.tif.gz", "/vsigzip/./a/lst.tif.gz"),
    ("/vsizip/s1/d1.zip/lst.tif", "/vsizip/{cwd}/s1/d1.zip/lst.tif"),
    ("/vsizip/s1/d1.zip/lst.tif", "/vsizip/s1/../s1/d1.zip/lst.tif"),
], ids=["dot folder", "absolute archive", "dot-dot folder"])
def test_one_file_typed_two_ways_gets_one_output(tmp_path: Path, monkeypatch, typed: str, again: str) -> None:
    monkeypatch.chdir(tmp_path)
    zipped(tmp_path, "s1/d1.zip", "lst.tif")
    assert _warped_path(Path(again.format(cwd=tmp_path))) == _warped_path(Path(typed))


def test_a_local_file_keeps_its_short_name_beside_it(tmp_path: Path) -> None:
    assert _warped_path(tmp_path / "s1" / "lst.tif") == tmp_path / "s1" / "lst_on_grid.tif"
    assert _warped_path(Path("lst.tif")) == Path("lst_on_grid.tif")


def test_pasted_hints_for_s1_d1_and_s1_underscore_d1_warp_to_two_files(tmp_path: Path, capsys, monkeypatch) -> None:
    """Run end to end: both pasted gdalwarp commands write their own file, each keeping its own values."""
    monkeypatch.chdir(tmp_path)
    reference = raster(tmp_path / "ref.tif", field((40, 40), (30, 30), (X0, Y0)), origin=(X0, Y0))
    origin = (X0 + 10, Y0 - 20)
    lines = []
    for archive, warmer in (("s1/d1.zip", 0.0), ("s1_d1.zip", 5.0)):
        lst = raster(tmp_path / "lst.tif", field((40, 40), (30, 30), origin) + warmer, origin=origin)
        (tmp_path / archive).parent.mkdir(exist_ok=True)
        with zipfile.ZipFile(tmp_path / archive, "w") as opened:
            opened.write(lst, "lst.tif")
        capsys.readouterr()
        assert run(["compare", "ref.tif", f"/vsizip/{archive}/lst.tif"]) == 2
        lines.append(only_error(capsys))
    outputs = [on_grid("s1_d1_lst", f"/vsizip/{tmp_path}/{archive}/lst.tif") for archive in ("s1/d1.zip", "s1_d1.zip")]
    for line, output in zip(lines, outputs):
        assert f" {output}, then compare that" in line, line
    for line in lines:
        run_printed(line, ", then compare")
    rows = compare_json(capsys, reference, *(tmp_path / output for output in outputs))["rows"]
    assert [round(row["bias"], 3) for row in rows] == [0.0, 5.0]
