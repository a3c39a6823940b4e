"""A guidance band holding +-inf (a damaged file, an index computed as x/0) is refused wherever
groklst reads guidance: ``downscale`` (an interpolator, the shipped model, ``--fit``, ``--align``)
and ``prepare`` (whose datasets ``train`` and ``evaluate`` read) stop with one line naming the
file, the band and how many pixels are infinite, and leave no output. Before, every route turned
the infinities into NaN: holes in the output, exit status 0. NaN stays nodata as before, and so
does an infinity the file declares as its nodata."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from groklst_cli.app import run
from pipelines.errors import InputError
from pipelines.geotiff import read_values, write_raster
from pipelines.sample_scene import generate_scene, write_scene
from tests.test_fit import QUICK

INF_PIXELS = ((10, 12), (11, 12), (50, 7))  # guidance (row, column) set to +inf, -inf, +inf
BAND = 3  # 1-based


def with_values(guidance: Path, out: Path, value_at: dict[tuple[int, int], float], *,
                nodata: float | None = None) -> Path:
    """A copy of ``guidance`` with band BAND set to ``value_at`` there (nodata ``nodata`` if given)."""
    with rasterio.open(guidance) as src:
        stack, profile, names = src.read(), src.profile, list(src.descriptions)
    for (row, col), value in value_at.items():
        stack[BAND - 1, row, col] = value
    write_raster(out, stack, crs=profile["crs"], transform=profile["transform"], descriptions=names)
    if nodata is not None:
        with rasterio.open(out, "r+") as dst:
            dst.nodata = nodata
    return out


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, Path, str]:
    """(LST, clean guidance, guidance with three infinite pixels in band BAND, with NaN there, BAND's name)."""
    folder = tmp_path_factory.mktemp("inf")
    lst, guidance = write_scene(generate_scene((40, 40), seed=4), folder, name="s")
    infinite = with_values(guidance, folder / "inf.tif", dict(zip(INF_PIXELS, (np.inf, -np.inf, np.inf))))
    holes = with_values(guidance, folder / "nan.tif", dict.fromkeys(INF_PIXELS, np.nan))
    with rasterio.open(guidance) as src:
        name = src.descriptions[BAND - 1]
    return lst, guidance, infinite, holes, name


def refusal(capsys: pytest.CaptureFixture[str]) -> str:
    """The one error line the run wrote on stderr."""
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def assert_names_the_infinities(line: str, path: Path, name: str) -> None:
    """The refusal names the file, the band and the infinite pixels in the part read (all three,
    or those of a first window holding only some), with a hint to make them nodata."""
    found = re.match(rf"error: {re.escape(str(path))}: band {BAND} \({name}\) holds infinite values "
                     r"\((\+inf/-inf|\+inf|-inf)\): ([123]) pixels? in rows \d+\.\.\d+, columns \d+\.\.\d+ ", line)
    assert found is not None, line
    assert 'gdal_calc.py -A FILE --allBands=A --calc="where(isinf(A), nan, A)"' in line


def test_read_values_refuses_infinities_and_keeps_nan_and_declared_nodata(scene, tmp_path: Path) -> None:
    _, guidance, infinite, holes, name = scene
    with rasterio.open(infinite) as src, pytest.raises(InputError) as refused:
        read_values(src, [1, BAND], Window(0, 0, 60, 60), infinite)
    assert str(refused.value).startswith(
        f"{infinite}: band {BAND} ({name}) holds infinite values (+inf/-inf): 3 pixels in rows 0..59, "
        f"columns 0..59 (the part read so far), the first at row 10, column 12;")
    with rasterio.open(infinite) as src:  # a window without them reads as before
        clean = read_values(src, BAND, Window(20, 20, 10, 10), infinite)
    with rasterio.open(guidance) as src:
        np.testing.assert_array_equal(clean, read_values(src, BAND, Window(20, 20, 10, 10), guidance))
    with rasterio.open(holes) as src:
        values = read_values(src, BAND, Window(0, 0, 60, 60), holes)
    assert np.isnan(values[10, 12]) and np.isnan(values[50, 7]) and np.isfinite(values).sum() == 60 * 60 - 3
    one_sign = with_values(guidance, tmp_path / "plus.tif", {(5, 5): np.inf})
    with rasterio.open(one_sign) as src, pytest.raises(InputError) as refused:
        read_values(src, BAND, Window(0, 0, 60, 60), one_sign)
    assert "(+inf): 1 pixel in rows" in str(refused.value) and "gdal_edit.py -a_nodata inf FILE" in str(refused.value)
    declared = with_values(guidance, tmp_path / "declared.tif", {(5, 5): np.inf}, nodata=np.inf)
    with rasterio.open(declared) as src:
        assert np.isnan(read_values(src, BAND, Window(0, 0, 60, 60), declared)[5, 5])


@pytest.mark.parametrize("options", [["--model", "bicubic"], [], ["--fit", "--model", "gwr", *QUICK], ["--align"]],
                         ids=["bicubic", "shipped-model", "fit", "align"])
def test_downscale_refuses_infinite_guidance(scene, tmp_path: Path, capsys, options: list[str]) -> None:
    lst, _, infinite, _, name = scene
    out = tmp_path / "out.tif"
    assert run(["-q", "downscale", str(lst), "-g", str(infinite), *options, "-o", str(out)]) == 2
    assert_names_the_infinities(refusal(capsys), infinite, name)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize(("options", "atol"), [(["--model", "bicubic"], 0.0), ([], 0.05)],
                         ids=["bicubic", "shipped-model"])
def test_nan_guidance_stays_nodata(scene, tmp_path: Path, options: list[str], atol: float) -> None:
    """NaN guidance pixels give NaN output there; elsewhere the output is as without them (the
    network sees the filled holes: its neighbours change by < 0.05 K)."""
    lst, guidance, _, holes, _ = scene
    outputs = []
    for source in (guidance, holes):
        out = tmp_path / f"{source.stem}.tif"
        assert run(["-q", "downscale", str(lst), "-g", str(source), *options, "--hole-margin", "0",
                    "-o", str(out)]) == 0
        with rasterio.open(out) as src:
            outputs.append(src.read(1))
    clean, with_holes = outputs
    scale = clean.shape[0] // 120  # output pixels per guidance pixel
    holes_out = np.zeros(clean.shape, bool)
    for row, col in INF_PIXELS:
        holes_out[row * scale:(row + 1) * scale, col * scale:(col + 1) * scale] = True
    assert np.isnan(with_holes[holes_out]).all() and np.isfinite(clean[holes_out]).all()
    np.testing.assert_allclose(with_holes[~holes_out], clean[~holes_out], rtol=0, atol=atol)


def test_prepare_refuses_infinite_guidance(scene, tmp_path: Path, capsys) -> None:
    lst, _, infinite, _, name = scene
    out = tmp_path / "ds"
    assert run(["-q", "prepare", str(lst), "--guidance", str(infinite), "-o", str(out), "--scales", "2",
                "--patch", "8", "--stride", "8", "--split", "1:0:0"]) == 2
    assert_names_the_infinities(refusal(capsys), infinite, name)
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.skipif(shutil.which("gdal_calc.py") is None, reason="needs GDAL's gdal_calc.py")
def test_the_gdal_calc_hint_makes_a_guidance_that_downscales(scene, tmp_path: Path, capsys) -> None:
    """The hint's command, run as printed (FILE and FIXED.tif filled in), gives a guidance whose
    infinities are nodata and whose other pixels are the file's: with --NoDataValue=nan, which
    the hint had, gdal_calc.py 3.6 wrote every pixel NaN and downscale had nothing to read."""
    lst, guidance, infinite, _, name = scene
    assert run(["-q", "downscale", str(lst), "-g", str(infinite), "--model", "bicubic",
                "-o", str(tmp_path / "refused.tif")]) == 2
    command = re.search(r"(gdal_calc\.py -A FILE .*? --outfile=FIXED\.tif)", refusal(capsys)).group(1)
    fixed = tmp_path / "fixed.tif"
    args = shlex.split(command.replace("FILE", str(infinite)).replace("FIXED.tif", str(fixed)))
    subprocess.run([*args, "--quiet"], check=True, capture_output=True)
    with rasterio.open(guidance) as src:
        names, clean = src.descriptions, src.read()
    with rasterio.open(fixed) as src:
        rewritten = np.ma.filled(src.read(masked=True).astype(np.float64), np.nan)
    expected = clean.astype(np.float64)
    for row, col in INF_PIXELS:
        expected[BAND - 1, row, col] = np.nan
    np.testing.assert_array_equal(rewritten, expected)
    out = tmp_path / "out.tif"
    assert run(["-q", "downscale", str(lst), "-g", str(fixed), "--model", "bicubic", "--guidance-bands",
                ",".join(names), "-o", str(out)]) == 0
