"""An LST with a GDAL alpha band is named so, with the gdal_translate command that keeps the
alpha as its mask (and that command works); rotation terms of float noise are north-up, written
as 0; a ``UNITS`` tag key counts like ``units`` (fixer F8)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.enums import ColorInterp

from groklst_cli.app import run

RES, X0, Y0, SIZE = 30.0, 500_000.0, 4_000_000.0, 24
NORTH_UP = Affine(RES, 0.0, X0, 0.0, -RES, Y0)
HINT = "keep the alpha as the LST's mask: "


def _scene() -> np.ndarray:
    """A smooth Kelvin scene with its two top rows holding -5, implausible unless masked."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    lst = (300.0 + 5.0 * np.sin(yy / 4.0) + 3.0 * np.cos(xx / 5.0)).astype(np.float32)
    lst[:2] = -5.0
    return lst


def _write(path: Path, bands: list[np.ndarray], transform: Affine = NORTH_UP,
           colorinterp: list[ColorInterp] | None = None, **tags: str) -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=SIZE, height=SIZE, count=len(bands),
                       dtype=bands[0].dtype, crs="EPSG:32633", transform=transform) as dst:
        for i, band in enumerate(bands, start=1):
            dst.write(band, i)
        if colorinterp:
            dst.colorinterp = colorinterp
        if tags:
            dst.update_tags(**tags)
    return path


def _with_alpha(folder: Path, dtype: str = "float32") -> Path:
    """One LST band and an alpha band (0 over the two implausible rows), as gdalwarp -dstalpha
    writes them: the alpha in the LST's data type."""
    alpha = np.full((SIZE, SIZE), 255, dtype)
    alpha[:2] = 0
    return _write(folder / "alpha_lst.tif", [_scene().astype(dtype), alpha],
                  colorinterp=[ColorInterp.gray, ColorInterp.alpha])


def _refusal(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one error line of a run that must exit 2."""
    capsys.readouterr()
    assert run(argv) == 2, argv
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, errors
    return errors[0]


def _downscale(lst: Path, out: Path) -> list[str]:
    return ["-q", "downscale", str(lst), "--model", "bicubic", "--scale", "2", "-o", str(out)]


@pytest.mark.parametrize("dtype", ["float32", "uint16"])
def test_an_alpha_band_is_named_with_the_command_that_keeps_it_as_the_mask(tmp_path: Path, capsys,
                                                                          dtype: str) -> None:
    """It was refused as "2 bands", pointing at gdal_translate -b 1, which drops the nodata."""
    lst = _with_alpha(tmp_path, dtype)
    line = _refusal(_downscale(lst, tmp_path / "o.tif"), capsys)
    assert line == (f"error: {lst}: band 2 is an alpha band (a mask, not LST) beside LST band 1 (hint: {HINT}"
                    "gdal_translate -b 1 -mask 2 --config GDAL_TIFF_INTERNAL_MASK YES IN.tif LST.tif)")
    assert not (tmp_path / "o.tif").exists()


def test_other_extra_bands_are_still_counted(tmp_path: Path, capsys) -> None:
    lst = _write(tmp_path / "two.tif", [_scene(), _scene()])
    line = _refusal(_downscale(lst, tmp_path / "o.tif"), capsys)
    assert line.endswith("has 2 bands, expected 1 LST band (hint: give a single-band LST raster, "
                         "e.g. gdal_translate -b N IN.tif LST.tif)")


@pytest.mark.skipif(shutil.which("gdal_translate") is None, reason="needs GDAL's command-line tools")
def test_the_hinted_command_gives_an_lst_whose_alpha_is_its_nodata(tmp_path: Path, capsys) -> None:
    """The hint, run as printed: one band, the mask inside the TIFF, its 0s read as nodata (the
    -5 rows would otherwise be refused as implausible)."""
    source = _with_alpha(tmp_path)
    line = _refusal(_downscale(source, tmp_path / "o.tif"), capsys)
    command = line[line.index(HINT) + len(HINT):-1]
    fixed = tmp_path / "fixed.tif"
    argv = [{"IN.tif": str(source), "LST.tif": str(fixed)}.get(word, word) for word in shlex.split(command)]
    subprocess.run([*argv, "-q"], check=True)
    assert not Path(f"{fixed}.msk").exists()
    with rasterio.open(fixed) as src:
        assert src.count == 1
    out = tmp_path / "o.tif"
    assert run(_downscale(fixed, out)) == 0
    with rasterio.open(out) as dst:
        values = dst.read(1, masked=True)
    assert values.mask[:4].all() and not values.mask[4:].any()
    assert 280.0 < values[4:].min() and values.max() < 320.0


NOISE = Affine(RES, 1e-12, X0, -3e-13, -RES, Y0)


def test_rotation_terms_of_float_noise_downscale_as_north_up(tmp_path: Path) -> None:
    """b = 1e-12, d = -3e-13 on a 30 m grid was refused as rotated; the output is the one of the
    same file with b = d = 0, written exactly north-up."""
    lst = _scene()
    lst[:2] = 290.0
    noisy = _write(tmp_path / "noisy.tif", [lst], NOISE)
    clean = _write(tmp_path / "clean.tif", [lst])
    with rasterio.open(noisy) as src:
        assert (src.transform.b, src.transform.d) == (1e-12, -3e-13)  # the file keeps its noise
    outputs = []
    for source in (noisy, clean):
        out = tmp_path / f"o_{source.name}"
        assert run(_downscale(source, out)) == 0
        with rasterio.open(out) as dst:
            outputs.append((dst.transform, dst.read(1)))
    (noisy_t, noisy_v), (clean_t, clean_v) = outputs
    assert noisy_t == clean_t == Affine(RES / 2, 0.0, X0, 0.0, -RES / 2, Y0)
    np.testing.assert_array_equal(noisy_v, clean_v)


def test_rotation_terms_of_float_noise_pair_with_a_guidance(tmp_path: Path) -> None:
    """The paired output grid of a noisy LST and a noisy guidance has b = d = 0."""
    from pipelines.grids import Grid, pair_grids

    lst = _write(tmp_path / "lst.tif", [_scene()], NOISE)
    with rasterio.open(lst) as src:
        lst_grid = Grid.of(src)
    guidance = Grid(lst_grid.crs, Affine(RES / 3, 2e-12, X0, 1e-12, -RES / 3, Y0), SIZE * 3, SIZE * 3)
    with rasterio.MemoryFile() as memory, memory.open(driver="GTiff", width=guidance.width, height=guidance.height,
                                                      count=1, dtype="float32", crs=guidance.crs,
                                                      transform=guidance.transform) as src:
        paired = pair_grids(lst_grid, Grid.of(src), scale=3, lst_path=lst, guidance_path="g.tif")
    assert paired.output.transform == Affine(RES / 3, 0.0, X0, 0.0, -RES / 3, Y0)


def test_a_real_rotation_is_still_refused(tmp_path: Path, capsys) -> None:
    """1e-4 degrees moves the far pixels of even a 24-pixel raster by 4e-5 pixel: not noise."""
    turned = NORTH_UP @ Affine.rotation(1e-4)
    lst = _write(tmp_path / "turned.tif", [_scene()], turned)
    line = _refusal(_downscale(lst, tmp_path / "o.tif"), capsys)
    assert f"this one is rotated/sheared (transform terms b={turned.b:.10g}, d={turned.d:.10g})" in line
    assert not (tmp_path / "o.tif").exists()


@pytest.mark.parametrize("key", ["units", "UNITS", "Units"])
def test_a_fahrenheit_units_tag_is_read_whatever_its_key_case(tmp_path: Path, capsys, key: str) -> None:
    """A cold scene in degF (10..25) passes for Celsius; UNITS=degF was ignored, exit 0."""
    cold = (17.0 + 3.0 * np.sin(np.mgrid[0:SIZE, 0:SIZE][0] / 4.0)).astype(np.float32)
    lst = _write(tmp_path / "cold.tif", [cold], **{key: "degF"})
    line = _refusal(_downscale(lst, tmp_path / "o.tif"), capsys)
    assert "its unit tag says degF: groklst reads Kelvin or Celsius" in line
    assert "pass --units celsius to declare it" in line and not (tmp_path / "o.tif").exists()
