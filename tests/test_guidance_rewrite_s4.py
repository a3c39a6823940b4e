"""QA s4 F3: the gdal_calc.py rewrite a guidance refusal prints fixes the file in one round, and
says how to get its bands' units back.

Before: with +inf in one band and 1e39 (beyond float32, in a float64 file) in another, the
hint's ``where(isinf(A), nan, A)`` fixed the +inf only, and the rewritten file was refused for
the 1e39: a second round. And gdal_calc.py (GDAL 3.6) drops band units, but the hint restored
scale/offset only, so the units were lost without a word."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio

from tests.test_gdal_hints_s3 import CALC, SCALES, OFFSETS, downscaled, refusal, run_printed, variant
from pipelines.sample_scene import generate_scene, write_scene

RESTORE = r"restore them with (gdal_edit\.py .*? FIXED\.tif)"


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(LST, clean 10-band float32 guidance) on 40x40 / 120x120 pixels."""
    return write_scene(generate_scene((40, 40), seed=4), tmp_path_factory.mktemp("rewrite"), name="s")


def with_units(path: Path, units: tuple[str, ...]) -> Path:
    """``path`` with its bands' ``units`` set."""
    with rasterio.open(path, "r+") as dst:
        dst.units = units
    return path


def require_gdal_tools() -> None:
    """Stop the test here (skipped) where GDAL's tools are absent: the hint text is checked already."""
    if shutil.which("gdal_calc.py") is None or shutil.which("gdal_edit.py") is None:
        pytest.skip("GDAL's gdal_calc.py/gdal_edit.py are not installed: the printed commands are not run")


def fix_as_printed(line: str, file: Path, fixed: Path) -> None:
    """Run the printed gdal_calc.py rewrite, then the printed gdal_edit.py restore where there is one."""
    run_printed(line, CALC, file, fixed)
    if re.search(RESTORE, line):
        run_printed(line, RESTORE, fixed, fixed)


@pytest.mark.parametrize("values", [
    {(3, 10, 12): np.inf, (5, 50, 7): 1e39},  # the +inf refused first: its hint must take the 1e39 too
    {(2, 10, 12): 1e39, (5, 50, 7): np.inf, (6, 3, 4): -2e39},  # a value beyond float32 refused first
], ids=["inf-first", "beyond-first"])
def test_one_rewrite_fixes_infinities_and_values_beyond_float32(scene, tmp_path: Path, capsys,
                                                                values: dict) -> None:
    lst, guidance = scene
    bad = variant(guidance, tmp_path / "bad.tif", values, dtype="float64")
    line = refusal(lst, bad, tmp_path, capsys)
    assert ' --calc="where(abs(1.0 * A) >= 1e+39, nan, A)" --outfile=FIXED.tif (' in line, line
    assert "and a GeoTIFF declares one nodata" in line and "gdal_edit.py -a_nodata" not in line, line
    require_gdal_tools()
    fixed = tmp_path / "fixed.tif"
    run_printed(line, CALC, bad, fixed)
    with rasterio.open(fixed) as src:
        stack = src.read()
    assert sorted(zip(*(i.tolist() for i in np.nonzero(np.isnan(stack))))) == sorted(
        (band - 1, row, col) for band, row, col in values)  # NaN (nodata) there, and nowhere else
    out = downscaled(lst, fixed, tmp_path / "out.tif")  # the first run after the rewrite succeeds
    assert np.isfinite(out).mean() > 0.9


def test_a_shared_unit_is_restored_with_the_scale(scene, tmp_path: Path, capsys) -> None:
    lst, guidance = scene
    bad = with_units(variant(guidance, tmp_path / "bad.tif", {(3, 10, 12): np.inf, (3, 11, 12): -np.inf},
                             scaled=True), ("W m-2",) * 10)
    line = refusal(lst, bad, tmp_path, capsys)
    assert line.endswith(
        "it drops scale/offset and units (W m-2) too: restore them with gdal_edit.py -scale 0.5 0.25 2.0 1.0 1.0 "
        "1.0 1.0 1.0 1.0 1.0 -offset -1.0 0.0 3.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 -units 'W m-2' FIXED.tif)) "
        f"(scene {lst})"), line
    require_gdal_tools()
    fixed = tmp_path / "fixed.tif"
    fix_as_printed(line, bad, fixed)
    with rasterio.open(fixed) as src:
        assert (src.units, src.scales, src.offsets) == (("W m-2",) * 10, SCALES, OFFSETS)
    downscaled(lst, fixed, tmp_path / "out.tif")


def test_a_unit_alone_is_restored(scene, tmp_path: Path, capsys) -> None:
    lst, guidance = scene
    bad = with_units(variant(guidance, tmp_path / "bad.tif", {(3, 10, 12): np.inf, (4, 11, 12): -np.inf}),
                     ("K",) * 10)
    line = refusal(lst, bad, tmp_path, capsys)
    assert "--guidance-bands, or NAME1,NAME2=FILE to groklst guidance); it drops units (K) too: restore them " \
           "with gdal_edit.py -units K FIXED.tif))" in line, line
    require_gdal_tools()
    fixed = tmp_path / "fixed.tif"
    fix_as_printed(line, bad, fixed)
    with rasterio.open(fixed) as src:
        assert src.units == ("K",) * 10
    downscaled(lst, fixed, tmp_path / "out.tif")


def test_units_that_differ_are_named_as_lost(scene, tmp_path: Path, capsys) -> None:
    """GDAL 3.6 has no tool that sets one band's unit: the hint says which are lost, and gives no
    -units that would set every band alike."""
    lst, guidance = scene
    bad = with_units(variant(guidance, tmp_path / "bad.tif", {(3, 10, 12): np.inf, (4, 11, 12): -np.inf},
                             scaled=True), ("m",) + ("",) * 6 + ("K", "", ""))
    line = refusal(lst, bad, tmp_path, capsys)
    assert ("-offset -1.0 0.0 3.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 FIXED.tif; the bands' units are lost too "
            "(band 1 m, band 8 K): GDAL 3.6's gdal_edit.py -units sets one unit for every band))") in line, line
    assert "-units m" not in line and "-units K" not in line
    require_gdal_tools()
    fixed = tmp_path / "fixed.tif"
    fix_as_printed(line, bad, fixed)
    with rasterio.open(fixed) as src:
        assert (src.units, src.scales) == ((None,) * 10, SCALES)  # lost, as said; the scale is back
    downscaled(lst, fixed, tmp_path / "out.tif")
