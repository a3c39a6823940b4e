"""The +-inf refusal of guidance (tests/test_guidance_infinite.py) on the routes it missed:

- ``groklst guidance`` warped an infinite source pixel into the built stack with exit 0 (one
  +inf source pixel, one inf output pixel); it now refuses at the source, naming the source file
  and band. A class map's inf is refused too: it matched no class, so the pixel counted as data
  with every class fraction 0.
- GrokLST ``.mat`` guidance (``prepare --from-groklst``) kept inf as is, into hole filling and the
  model; now refused naming the .mat file and band.
- A value beyond float32's range (a float64 band, or a stored value the band's scale pushes
  there) became NaN silently; now refused unless the file declares it nodata.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import scipy.io
from affine import Affine
from rasterio.windows import Window

from groklst_cli.app import run
from pipelines.errors import InputError
from pipelines.geotiff import read_values
from tests.test_grokmat import _write_layout

CRS = "EPSG:32647"
LST_TRANSFORM = Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 4300000.0)
SOURCE_TRANSFORM = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4300000.0)  # the --scale 3 grid itself
PIXEL = (7, 11)  # (row, column) of the damaged source pixel


def write(path: Path, bands: np.ndarray, transform: Affine = SOURCE_TRANSFORM, *, names: tuple[str, ...] = (),
          nodata: float | None = None, scale: float | None = None) -> Path:
    """A GeoTIFF of ``bands`` (bands, rows, cols) in their own dtype, with optional metadata."""
    profile = {"driver": "GTiff", "width": bands.shape[2], "height": bands.shape[1], "count": bands.shape[0],
               "dtype": bands.dtype.name, "crs": CRS, "transform": transform, "nodata": nodata}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(bands)
        for i, name in enumerate(names, start=1):
            dst.set_band_description(i, name)
        if scale is not None:
            dst.scales = [scale] * bands.shape[0]
    return path


@pytest.fixture
def lst(tmp_path: Path) -> Path:
    return write(tmp_path / "lst.tif", np.full((1, 10, 10), 300.0, np.float32), LST_TRANSFORM)


def source(tmp_path: Path, value: float, dtype: str = "float32", **meta) -> Path:
    """Two bands (red, nir) of reflectances, nir holding ``value`` at PIXEL."""
    bands = np.random.default_rng(1).uniform(0.05, 0.5, (2, 30, 30)).astype(dtype)
    bands[1][PIXEL] = value
    return write(tmp_path / "src.tif", bands, names=("red", "nir"), **meta)


def refusal(capsys: pytest.CaptureFixture[str]) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def build(lst: Path, *sources: str, out: Path, options: tuple[str, ...] = ()) -> int:
    return run(["-q", "guidance", str(lst), *sources, "--scale", "3", *options, "-o", str(out)])


def test_guidance_refuses_an_infinite_source_pixel_naming_the_source(lst, tmp_path, capsys) -> None:
    src = source(tmp_path, np.inf)
    out = tmp_path / "g.tif"
    assert build(lst, str(src), out=out) == 2
    line = refusal(capsys)
    assert line.startswith(f"error: {src}: band 2 (nir) holds infinite values (+inf): 1 pixel in rows 0..29, "
                           f"columns 0..29 (the part read so far), the first at row 7, column 11; "
                           "infinity is no value and no nodata (hint: declare them nodata: gdal_edit.py "
                           "-a_nodata inf FILE, or set them to nodata: gdal_calc.py")
    assert "give the band names again" in line  # gdal_calc.py drops them
    assert not out.exists()


def test_guidance_keeps_an_infinity_the_source_declares_as_nodata(lst, tmp_path) -> None:
    out = tmp_path / "g.tif"
    assert build(lst, str(source(tmp_path, -np.inf, nodata=-np.inf)), out=out) == 0
    with rasterio.open(out) as built:
        nir = built.read(2)
    assert np.isnan(nir[PIXEL]) and np.isfinite(nir).sum() == 30 * 30 - 1


@pytest.mark.parametrize("options", [(), ("--classes", "mode"), ("--class-values", "1,2")],
                         ids=["fractions", "mode", "class-values"])
def test_guidance_refuses_an_infinite_class(lst, tmp_path, capsys, options) -> None:
    """Before: fractions wrote 0 for every class there (valid data), mode an inf pixel."""
    classes = np.where(np.arange(900).reshape(1, 30, 30) % 2 == 0, 1.0, 2.0).astype(np.float32)
    classes[0][PIXEL] = np.inf
    landcover = write(tmp_path / "lc.tif", classes)
    out = tmp_path / "g.tif"
    assert build(lst, f"--categorical=lc={landcover}", out=out, options=options) == 2
    line = refusal(capsys)
    assert line.startswith(f"error: {landcover}: band 1 holds infinite values (+inf): 1 pixel in rows 0..")
    assert ", the first at row 7, column 11; infinity is no value" in line
    assert not out.exists()


def test_guidance_refuses_a_value_its_scale_pushes_beyond_float32(lst, tmp_path, capsys) -> None:
    src = source(tmp_path, 1e37, scale=100.0)  # 1e39 once scaled; the other pixels 5..50
    out = tmp_path / "g.tif"
    assert build(lst, str(src), out=out) == 2
    line = refusal(capsys)
    assert line.startswith(f"error: {src}: band 2 (nir) holds values beyond float32's range once scaled "
                           "(stored * 100 + 0), e.g. 1e+37: 1 pixel in rows 0..29, columns 0..29 (the part "
                           "read so far), the first at row 7, column 11; no reflectance, elevation or index is "
                           "that large (hint: if 9.999999933815813e+36 is a fill value, declare it nodata: "
                           "gdal_edit.py -a_nodata 9.999999933815813e+36 FILE, or fix the band's scale/offset "
                           "metadata (gdal_edit.py -scale S -offset O FILE))")  # the float32 1e37, exactly
    assert not out.exists()


def test_guidance_refuses_float64_beyond_float32_unless_declared_nodata(lst, tmp_path, capsys) -> None:
    out = tmp_path / "g.tif"
    src = source(tmp_path, -1e39, dtype="float64")
    assert build(lst, str(src), out=out) == 2
    assert refusal(capsys).startswith(
        f"error: {src}: band 2 (nir) holds values beyond float32's range, e.g. -1e+39: 1 pixel in rows 0..29")
    assert build(lst, str(source(tmp_path, -1e39, dtype="float64", nodata=-1e39)), out=out) == 0
    with rasterio.open(out) as built:
        assert np.isnan(built.read(2)[PIXEL]) and np.isfinite(built.read(2)).sum() == 30 * 30 - 1


@pytest.mark.parametrize(("value", "dtype", "scale", "problem"),
                         [(3e38, "float32", 2.0, "values beyond float32's range once scaled (stored * 2 + 0), "
                                                 "e.g. 3e+38"),
                          (1e300, "float64", None, "values beyond float32's range, e.g. 1e+300")])
def test_read_values_refuses_beyond_float32(tmp_path, value, dtype, scale, problem) -> None:
    """downscale's and prepare's guidance read: before, NaN there (a hole) with exit 0."""
    src = source(tmp_path, value, dtype=dtype, scale=scale)
    with rasterio.open(src) as opened, pytest.raises(InputError) as refused:
        read_values(opened, [1, 2], Window(0, 0, 30, 30), src)
    assert str(refused.value).startswith(f"{src}: band 2 (nir) holds {problem}: 1 pixel in rows 0..29, columns "
                                         "0..29 (the part read so far), the first at row 7, column 11;")


def test_read_values_scales_float64_before_narrowing(tmp_path) -> None:
    """A float64 value beyond float32's range that the scale brings back is kept (was NaN)."""
    src = source(tmp_path, 1e39, dtype="float64", scale=1e-10)
    with rasterio.open(src) as opened:
        nir = read_values(opened, 2, Window(0, 0, 30, 30), src)
    assert nir.dtype == np.float32 and nir[PIXEL] == np.float32(1e29)


@pytest.mark.parametrize(("value", "problem"), [(-np.inf, "infinite values (-inf)"),
                                                 (1e39, "values beyond float32's range, e.g. 1e+39")])
def test_groklst_mat_guidance_refused(tmp_path, capsys, value, problem) -> None:
    root = tmp_path / "GrokLST"
    _write_layout(root)
    mat = root / "30m" / "guidance" / "0002.mat"
    content = {k: v for k, v in scipy.io.loadmat(mat).items() if not k.startswith("__")}
    content["ndvi"][3, 5] = value
    scipy.io.savemat(mat, content)
    out = tmp_path / "ds"
    assert run(["-q", "prepare", "--from-groklst", str(root), "-o", str(out)]) == 2
    assert refusal(capsys) == (f"error: {mat}: band 'ndvi' holds {problem}: 1 pixel, the first at row 3, "
                               "column 5; " + ("infinity is no value and no nodata" if np.isinf(value) else
                                               "no reflectance, elevation or index is that large")
                               + " (hint: the file may be damaged: set those pixels to NaN (nodata) in the "
                               "file, or leave the file out)")
    assert not out.exists()
