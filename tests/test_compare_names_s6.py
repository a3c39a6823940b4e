"""QA s6 f4: outputs compare's gdalwarp hints name that collided or multiplied. A local ``lst.tif`` and
``lst.nc`` in one folder were both warped to ``lst_on_grid.tif`` (the second pasted gdalwarp refused, as
its output existed); each now keeps its extension (``lst_tif_on_grid.tif``, ``lst_nc_on_grid.tif``) while
a file no other raster shares a stem with keeps ``<stem>_on_grid.tif``. ``NETCDF:"./f.nc":lst`` and
``NETCDF:f.nc:lst`` (one file) got two outputs, as did a signed ``/vsicurl/`` URL each time it was signed
again: a subdataset's file is made absolute and a URL's signing parameters are dropped before the name is
hashed (its other parameters may pick the data: ``?id=a``, ``?versionId=``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import rasterio.shutil

from groklst_cli.app import run
from pipelines.compare import _warped_path
from tests.test_compare import raster
from tests.test_compare_hints_s4 import on_grid
from tests.test_nest_hints_s3 import X0, Y0, compare_json, field, only_error, run_printed


def test_a_tif_and_a_netcdf_of_one_stem_get_two_outputs_with_their_extensions(tmp_path: Path) -> None:
    for name in ("lst.tif", "lst.nc", "solo.TIF", "solo.tfw", "solo.prj", "solo.hdr", "solo.TIF.aux.xml"):
        (tmp_path / name).write_bytes(b"")
    assert [_warped_path(tmp_path / name) for name in ("lst.tif", "lst.nc", "solo.TIF")] == [
        tmp_path / "lst_tif_on_grid.tif", tmp_path / "lst_nc_on_grid.tif", tmp_path / "solo_on_grid.tif"]


def test_a_file_without_extension_beside_its_tif_gets_its_own_output(tmp_path: Path) -> None:
    """An ENVI ``lst`` (read with its ``lst.hdr``) beside ``lst.tif``: the extension-less one keeps its name."""
    for name in ("lst", "lst.hdr", "lst.tif"):
        (tmp_path / name).write_bytes(b"")
    assert [_warped_path(tmp_path / name) for name in ("lst", "lst.tif")] == [
        tmp_path / "lst_on_grid.tif", tmp_path / "lst_tif_on_grid.tif"]


def test_pasted_hints_for_lst_tif_and_lst_nc_warp_to_two_files(tmp_path: Path, capsys, monkeypatch) -> None:
    """End to end: both pasted gdalwarp commands write their own file, each keeping its own values (on HEAD
    the second, naming the first's output, was refused by gdalwarp)."""
    monkeypatch.chdir(tmp_path)
    reference = raster(tmp_path / "ref.tif", field((40, 40), (30, 30), (X0, Y0)), origin=(X0, Y0))
    origin = (X0 + 10, Y0 - 20)
    candidates = [raster(tmp_path / "lst.tif", field((40, 40), (30, 30), origin), origin=origin)]
    warm = raster(tmp_path / "warm.tif", field((40, 40), (30, 30), origin) + 5.0, origin=origin)
    rasterio.shutil.copy(warm, tmp_path / "lst.nc", driver="netCDF")
    warm.unlink()
    candidates.append(tmp_path / "lst.nc")
    lines = []
    for candidate in candidates:
        capsys.readouterr()
        assert run(["compare", "ref.tif", candidate.name]) == 2
        lines.append(only_error(capsys))
    for line, output in zip(lines, ("lst_tif_on_grid.tif", "lst_nc_on_grid.tif")):
        assert f" {output}, then compare that" in line, line
        run_printed(line, ", then compare")
    rows = compare_json(capsys, reference, tmp_path / "lst_tif_on_grid.tif", tmp_path / "lst_nc_on_grid.tif")["rows"]
    assert [round(row["bias"], 3) for row in rows] == [0.0, 5.0]


@pytest.mark.parametrize("again", ['NETCDF:"./f.nc":lst', "NETCDF:f.nc:lst", 'netcdf:"{cwd}/f.nc":lst',
                                   'NETCDF:"sub/../f.nc":lst'],
                         ids=["dot folder", "unquoted", "absolute, lower-case driver", "dot-dot folder"])
def test_one_subdataset_typed_two_ways_gets_one_output(tmp_path: Path, monkeypatch, again: str) -> None:
    monkeypatch.chdir(tmp_path)
    expected = Path(on_grid("lst", f'NETCDF:"{tmp_path}/f.nc":lst'))
    assert _warped_path(Path('NETCDF:"f.nc":lst')) == expected
    assert _warped_path(Path(again.format(cwd=tmp_path))) == expected


def test_a_signed_url_keeps_its_output_when_signed_again() -> None:
    urls = [f"/vsicurl/https://host/s1/x.tif?X-Amz-Date=2026120{day}&X-Amz-Signature={sig}"
            for day, sig in ((1, "ab12"), (7, "cd34"))]
    outputs = [_warped_path(Path(url)) for url in urls]
    assert outputs == [Path(on_grid("x", "/vsicurl/https://host/s1/x.tif"))] * 2
    assert _warped_path(Path("/vsicurl/https://host/s2/x.tif?X-Amz-Signature=ab12")) != outputs[0]


@pytest.mark.parametrize(("query", "kept"), [("id={}", "id=a"), ("versionId={}&X-Amz-Signature=ab12", "versionId=a"),
                                             ("coverageid={}&sig=9&se=2026", "coverageid=a"),
                                             ("skip={}&id=a", "skip=a&id=a"), ("st={}&id=a", "st=a&id=a")])
def test_urls_whose_query_picks_the_data_get_two_outputs(query: str, kept: str) -> None:
    """Review: the whole query was dropped, so ``get?id=a`` and ``get?id=b`` shared one output and the
    second gdalwarp pasted from the hint refused to overwrite the first; then ``skip=`` and an ``st=``
    without a ``sig=`` were dropped as signing parameters."""
    a, b = (_warped_path(Path(f"/vsicurl/https://host/get?{query.format(v)}")) for v in "ab")
    assert a != b
    assert a == Path(on_grid("get", f"/vsicurl/https://host/get?{kept}"))


@pytest.mark.parametrize("signed", ["sv=2024&se=2026-12-0{}&sig=abc{}", "Expires=17{}&Signature=s{}&Key-Pair-Id=K",
                                   "access_token=ya29.{}{}", "X-Amz-Security-Token=t{}{}"])
def test_a_url_signed_again_keeps_its_output(signed: str) -> None:
    """Review: ``?access_token=`` (re-issued each time) was kept; Azure's and CloudFront's companions go with
    their signature only."""
    a, b = (_warped_path(Path(f"/vsicurl/https://host/x.tif?{signed.format(n, n)}")) for n in (1, 2))
    assert a == b == Path(on_grid("x", "/vsicurl/https://host/x.tif"))
