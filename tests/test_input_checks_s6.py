"""Input checks QA found missing (s6 f2): a complex or JPEG-compressed mask or water vapour raster
was read as any other (its imaginary part dropped, lossy flags read as flags); a CInt32 band was
called CFloat32; a water vapour raster in a local CRS was hinted to be in the LST's UTM zone,
where ERA5/MODIS water vapour comes in EPSG:4326; and a JPEG file was warned of once per process,
so a second run in the same process (a dask worker, a library user) said nothing."""

from __future__ import annotations

import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from groklst_cli.app import run
from pipelines.errors import InputError, one_run
from pipelines.geotiff import open_raster, refuse_complex, warn_lossy
from pipelines.grids import Grid
from pipelines.water_vapour import WaterVapour

UTM = Affine(30, 0, 500000, 0, -30, 4000000)
LOCAL = CRS.from_wkt('LOCAL_CS["arbitrary",UNIT["metre",1],AXIS["Easting",EAST],AXIS["Northing",NORTH]]')
LOSSLESS = "give a losslessly compressed copy of the original (COMPRESS=DEFLATE, LZW or ZSTD)"


def _raster(path: Path, values: np.ndarray, crs: object = "EPSG:32647", transform: Affine = UTM, **extra) -> Path:
    """A single-band GeoTIFF of ``values`` (``extra``: dtype, compress, nodata)."""
    profile = dict(driver="GTiff", width=values.shape[1], height=values.shape[0], count=1, crs=crs,
                   transform=transform, dtype=values.dtype.name)
    profile.update(extra)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values, 1)
    return path


def _lines(err: str, kind: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith(kind)]


@pytest.fixture
def lst(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return _raster(Path("lst.tif"), np.full((16, 16), 300.0, np.float32))


def test_a_cint32_band_is_named_cint32(tmp_path: Path) -> None:
    """rasterio reads CInt32 as complex64 as it does CFloat32: the refusal called both CFloat32
    (a CFloat32 one is still named so: test_a_complex_water_vapour_raster_is_refused)."""
    gdal_type = "CInt32"
    source = _raster(tmp_path / "f.tif", np.full((4, 4), 1.5, np.float32))
    target = tmp_path / "c.tif"
    subprocess.run(["gdal_translate", "-q", "-ot", gdal_type, str(source), str(target)], check=True)
    with open_raster(target) as src, pytest.raises(InputError) as caught:
        refuse_complex(src, target, "LST")
    assert caught.value.problem == f"complex data type {gdal_type} holds no LST values"


def test_a_complex_water_vapour_raster_is_refused(tmp_path: Path) -> None:
    path = _raster(tmp_path / "wv.tif", np.full((4, 4), 1.5, np.complex64))
    with open_raster(path) as src, pytest.raises(InputError) as caught:
        WaterVapour(src, None)
    assert str(caught.value) == (
        f"{path}: complex data type CFloat32 holds no water vapour values (hint: give real water vapour values; if "
        f"the real part holds them, keep it: gdal_translate -ot Float32 {path} REAL.tif)")


def test_a_jpeg_water_vapour_raster_is_warned_of(tmp_path: Path) -> None:
    path = _raster(tmp_path / "wvj.tif", np.full((16, 16), 15, np.uint8), compress="JPEG")
    with open_raster(path) as src, pytest.warns(UserWarning) as caught:
        WaterVapour(src, None)
    assert [str(w.message) for w in caught] == [
        f"{path}: JPEG compression is lossy: values may be off; {LOSSLESS}"]


def test_a_local_water_vapour_raster_in_degrees_is_hinted_to_epsg_4326(tmp_path: Path) -> None:
    """ERA5/MODIS water vapour comes on a lat/lon grid: coordinates that read as degrees get EPSG:4326,
    not the LST's UTM zone (metre coordinates keep the LST's: test_water_vapour_wl)."""
    path = _raster(tmp_path / "tcwv.tif", np.full((10, 10), 1.5, np.float32), LOCAL,
                   Affine(0.25, 0, 100, 0, -0.25, 40))
    lst = _raster(tmp_path / "lst.tif", np.full((16, 16), 300.0, np.float32))
    with open_raster(lst) as grid_src:
        grid = Grid.of(grid_src)
    with open_raster(path) as src, pytest.raises(InputError) as caught:
        WaterVapour(src, None).check(grid)
    assert str(caught.value) == (
        f'{path}: its CRS is a local/engineering CRS ("arbitrary") that cannot be related to the LST\'s EPSG:32647 '
        f"(hint: if it is a lat/lon grid (ERA5 and MODIS water vapour usually are), declare it: gdal_edit.py -a_srs "
        f"EPSG:4326 {path} (it edits {path} in place: copy it first to keep the original); else declare the CRS it "
        "was delivered in)")


def test_a_complex_mask_is_refused(lst: Path, capsys) -> None:
    _raster(Path("cm.tif"), np.zeros((16, 16), np.complex64))
    assert run(["mask", "lst.tif", "cm.tif", "--values", "1", "-o", "out.tif"]) == 2
    assert _lines(capsys.readouterr().err, "error:") == [
        "error: cm.tif: complex data type CFloat32 holds no mask values (hint: give real mask values; if the real "
        "part holds them, keep it: gdal_translate -ot Float32 cm.tif REAL.tif)"]
    assert not Path("out.tif").exists()


def test_a_jpeg_mask_is_warned_of_in_each_run(lst: Path, capsys) -> None:
    """Two runs in one process: the second warns too (the files warned of were kept for the process)."""
    flags = np.zeros((16, 16), np.uint8)
    flags[:4] = 200
    _raster(Path("jm.tif"), flags, compress="JPEG")
    expected = [f"warning: jm.tif: JPEG compression is lossy: flags may be off; {LOSSLESS}"]
    for output in ("a.tif", "b.tif"):
        assert run(["mask", "lst.tif", "jm.tif", "--values", "200", "-o", output]) == 0
        assert _lines(capsys.readouterr().err, "warning:") == expected


def test_each_run_warns_of_a_lossy_file_once(tmp_path: Path) -> None:
    """Two runs in one process (a library user's scenes, a dask worker's): the second was not warned,
    the file being kept as warned of for the whole process; within a run it is said once."""
    path = _raster(tmp_path / "lj.tif", np.full((16, 16), 15, np.uint8), compress="JPEG")
    for _ in range(2):
        with warnings.catch_warnings(record=True) as caught, one_run(), open_raster(path) as src:
            warnings.simplefilter("always")
            warn_lossy(src, path)
            warn_lossy(src, path)  # a run opens a file several times: said once
        assert [str(w.message) for w in caught] == [f"{path}: JPEG compression is lossy: values may be off; {LOSSLESS}"]


def test_the_jpeg_raster_being_masked_is_warned_of(tmp_path: Path, monkeypatch, capsys) -> None:
    """The masked copy is written losslessly: a JPEG raster's error passed on as exact values, unwarned."""
    monkeypatch.chdir(tmp_path)
    _raster(Path("jl.tif"), np.full((16, 16), 200, np.uint8), compress="JPEG")
    _raster(Path("m.tif"), np.zeros((16, 16), np.uint8))
    assert run(["mask", "jl.tif", "m.tif", "--values", "1", "--fill", "0", "-o", "out.tif"]) == 0
    assert _lines(capsys.readouterr().err, "warning:") == [
        "warning: jl.tif: JPEG compression is lossy: values may be off (the masked copy keeps them as read); "
        f"{LOSSLESS}"]


def test_a_complex_raster_to_mask_is_refused(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    _raster(Path("cl.tif"), np.full((16, 16), 300, np.complex64))
    _raster(Path("m.tif"), np.zeros((16, 16), np.uint8))
    assert run(["mask", "cl.tif", "m.tif", "--values", "1", "-o", "out.tif"]) == 2
    assert _lines(capsys.readouterr().err, "error:") == [
        "error: cl.tif: complex data type CFloat32 holds no LST or guidance values (hint: give real LST or guidance "
        "values; if the real part holds them, keep it: gdal_translate -ot Float32 cl.tif REAL.tif)"]
    assert not Path("out.tif").exists()


def test_each_scene_of_a_batch_holds_its_shared_jpeg_guidance_warning(tmp_path: Path, monkeypatch, capsys) -> None:
    """Each scene is a run of its own inside the command's: its --json line holds the warning of the
    JPEG guidance it shares, which stderr shows once, saying it was given once more."""
    import json
    import shutil

    monkeypatch.chdir(tmp_path)
    assert run(["-q", "sample-scene", "s", "--size", "60"]) == 0
    with rasterio.open("s/heihe_demo_guidance.tif") as src:
        profile = src.profile | {"dtype": "uint8", "nodata": None, "compress": "JPEG", "interleave": "band"}
        stored = np.rint(np.clip(src.read(), 0, 1) * 254 + 1).astype(np.uint8)
        descriptions = src.descriptions
    with rasterio.open("g.tif", "w", **profile) as dst:
        dst.write(stored)
        dst.descriptions = descriptions
    for name in ("a", "b"):
        shutil.copy("s/heihe_demo_lst.tif", f"{name}_lst.tif")
    capsys.readouterr()
    assert run(["downscale", "a_lst.tif", "b_lst.tif", "-g", "g.tif", "--model", "bicubic", "--out-dir", "o",
                "--json"]) == 0
    captured = capsys.readouterr()
    said = f"g.tif: JPEG compression is lossy: values may be off; {LOSSLESS}"
    assert [json.loads(line)["warnings"] for line in captured.out.splitlines()] == [[said], [said]]
    assert _lines(captured.err, "warning:") == [f"warning: {said}", f"warning: given 1 more time: {said}"]
