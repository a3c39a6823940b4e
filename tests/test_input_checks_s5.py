"""Three input checks QA found missing (s5 f15): a complex LST or guidance band was read with its
imaginary part dropped (exit 0, numpy ComplexWarnings); a JPEG-compressed LST or guidance was read
silently although JPEG moved values by kelvins and turned nodata pixels into data; an LST in a
local/engineering CRS under ``--scale`` was said to be "at 10 deg" and written with a metre unit
it never had."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS

from groklst_cli.app import run
from pipelines.grids import resolution_units
from tests.conftest import write_canonical_scene

BICUBIC = ["--model", "bicubic", "-o", "out.tif"]


def _copy(source: Path, target: Path, data: np.ndarray | None = None, **changes) -> None:
    """``source`` rewritten as ``target`` with profile ``changes`` (and ``data`` for its values)."""
    with rasterio.open(source) as src:
        profile, values = src.profile, src.read()
    profile.update(changes)
    with rasterio.open(target, "w", **profile) as dst:
        dst.write(values.astype(profile["dtype"]) if data is None else data)


def _lines(err: str, kind: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith(kind)]


@pytest.fixture
def scene(tmp_path: Path, monkeypatch) -> tuple[Path, Path]:
    monkeypatch.chdir(tmp_path)
    return write_canonical_scene(tmp_path)


@pytest.mark.parametrize(("dtype", "name"), [("complex64", "CFloat32"), ("complex128", "CFloat64")])
def test_a_complex_lst_is_refused(scene, capsys, dtype: str, name: str) -> None:
    lst, _ = scene
    _copy(lst, Path("cplx.tif"), dtype=dtype)
    assert run(["downscale", "cplx.tif", "--scale", "3", *BICUBIC]) == 2
    err = capsys.readouterr().err
    assert _lines(err, "error:") == [
        f"error: cplx.tif: complex data type {name} holds no LST values (hint: give real LST values; if the real "
        "part holds them, keep it: gdal_translate -ot Float32 cplx.tif REAL.tif)"]
    assert "ComplexWarning" not in err
    assert not Path("out.tif").exists()


def test_a_complex_guidance_is_refused(scene, capsys) -> None:
    lst, guidance = scene
    _copy(guidance, Path("cg.tif"), dtype="complex64")
    assert run(["downscale", str(lst), "-g", "cg.tif", *BICUBIC]) == 2
    err = capsys.readouterr().err
    assert [line.split(" (scene ")[0] for line in _lines(err, "error:")] == [
        "error: cg.tif: complex data type CFloat32 holds no guidance values (hint: give real guidance values; if "
        "the real part holds them, keep it: gdal_translate -ot Float32 cg.tif REAL.tif)"]
    assert "ComplexWarning" not in err
    assert not Path("out.tif").exists()


def test_a_complex_guidance_source_is_refused(scene, capsys) -> None:
    lst, guidance = scene
    _copy(guidance, Path("cs.tif"), dtype="complex64")
    assert run(["guidance", str(lst), "red=cs.tif", "--scale", "3", "-o", "g.tif"]) == 2
    assert _lines(capsys.readouterr().err, "error:")[0].startswith(
        "error: cs.tif: complex data type CFloat32 holds no guidance values")


def _byte_lst(lst: Path, target: Path, **changes) -> None:
    """QA's byte LST: 280-330 K as 1..255 (scale 50/254, offset 280 - scale), nodata 0 on 12 pixels."""
    with rasterio.open(lst) as src:
        kelvin = src.read(1)
    stored = np.clip(np.rint((kelvin - 280.0) * 254 / 50 + 1), 1, 255).astype(np.uint8)
    stored[:3, :4] = 0
    _copy(lst, target, stored[None], dtype="uint8", nodata=0, **changes)
    with rasterio.open(target, "r+") as dst:
        dst.scales, dst.offsets = (50 / 254,), (280.0 - 50 / 254,)


LOSSY = "JPEG compression is lossy: values may be off"
LOSSLESS = "give a losslessly compressed copy of the original (COMPRESS=DEFLATE, LZW or ZSTD)"


def test_a_jpeg_lst_is_warned_of_once(scene, capsys) -> None:
    lst, guidance = scene
    _byte_lst(lst, Path("jpeg.tif"), compress="JPEG")
    assert run(["downscale", "jpeg.tif", "-g", str(guidance), *BICUBIC]) == 0
    assert _lines(capsys.readouterr().err, "warning:") == [
        f"warning: jpeg.tif: {LOSSY} by kelvins, and nodata pixels may read as data; {LOSSLESS}"]


def test_a_jpeg_guidance_is_warned_of(scene, capsys) -> None:
    lst, guidance = scene
    with rasterio.open(guidance) as src:
        stored = np.rint(src.read() * 254 + 1).astype(np.uint8)
    _copy(guidance, Path("gj.tif"), stored, dtype="uint8", nodata=None, compress="JPEG", interleave="band")
    assert run(["downscale", str(lst), "-g", "gj.tif", *BICUBIC]) == 0
    assert _lines(capsys.readouterr().err, "warning:") == [f"warning: gj.tif: {LOSSY}; {LOSSLESS}"]


def test_a_losslessly_compressed_lst_is_not_warned_of(scene, capsys) -> None:
    lst, guidance = scene
    _byte_lst(lst, Path("deflate.tif"), compress="DEFLATE")
    assert run(["downscale", "deflate.tif", "-g", str(guidance), *BICUBIC]) == 0
    assert _lines(capsys.readouterr().err, "warning:") == []


LOCAL_UNKNOWN = CRS.from_wkt('LOCAL_CS["unnamed",UNIT["unknown",1]]')  # gdal_edit.py -a_srs "" (QA)
LOCAL_METRE = CRS.from_wkt('LOCAL_CS["site grid",UNIT["metre",1],AXIS["Easting",EAST],AXIS["Northing",NORTH]]')


@pytest.mark.parametrize(("crs", "unit"), [
    (None, "CRS units"), (CRS.from_epsg(4326), "deg"), (CRS.from_epsg(32632), "m"),
    (CRS.from_epsg(2263), "US survey foot"),
    (LOCAL_UNKNOWN, "CRS units"), (LOCAL_METRE, "m"), (CRS.from_epsg(4978), "m"),  # geocentric: not degrees either
])
def test_resolution_units_call_only_a_geographic_crs_degrees(crs: CRS | None, unit: str) -> None:
    assert resolution_units(crs) == unit


@pytest.mark.parametrize("crs", [LOCAL_UNKNOWN, LOCAL_METRE], ids=["unknown unit", "metre"])
def test_a_local_lst_under_scale_is_refused(scene, capsys, crs: CRS) -> None:
    """Not kept: GDAL writes any LOCAL_CS back with a metre unit (QA: the output 'gained UNIT metre')."""
    lst, _ = scene
    _copy(lst, Path("local.tif"), crs=crs)
    assert run(["downscale", "local.tif", "--scale", "3", *BICUBIC]) == 2
    label = "unnamed" if crs is LOCAL_UNKNOWN else "site grid"
    assert _lines(capsys.readouterr().err, "error:") == [
        f'error: local.tif: raster has a local/engineering CRS ("{label}"), which a --scale output cannot keep as '
        "it is (hint: assign the CRS it is in with gdal_edit.py -a_srs EPSG:XXXX local.tif)"]
    assert not Path("out.tif").exists()
