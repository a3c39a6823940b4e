"""Scale-factor advice that pointed the user the wrong way (QA s7): a right --scale-factor blamed
for an undeclared fill, quicklook drawing a scale that overflows or flattens the LST, and a file's
absurd scale metadata hinted at gdal_edit.py only, not at the --scale-factor that overrides it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from groklst_cli.app import run
from tests.conftest import write_canonical_scene

SHAPE = (32, 32)


def _scene(tmp_path: Path, name: str) -> Path:
    """A canonical Kelvin scene (unit tag K, 300 +- 9 K) with its guidance; the LST's path."""
    lst, _ = write_canonical_scene(tmp_path, name, shape=SHAPE, bands=("red",))
    return lst


def _rewrite(lst: Path, values: np.ndarray, *, unit: str | None = "K", scale: float | None = None) -> None:
    """Replace ``lst``'s band by ``values`` (their dtype, no nodata), keeping its georeferencing."""
    with rasterio.open(lst) as src:
        profile = src.profile
    profile.update(dtype=values.dtype.name, nodata=None)
    with rasterio.open(lst, "w", **profile) as dst:
        dst.write(values, 1)
        if unit:
            dst.units = (unit,)
        if scale is not None:
            dst.scales = (scale,)


def _downscale(lst: Path, out: Path, *options: str) -> int:
    return run(["-q", "downscale", str(lst), "-m", "bicubic", "-o", str(out), *options])


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    return err


@pytest.mark.parametrize("unit", ["K", None])
def test_a_right_factor_on_an_undeclared_fill_is_told_to_declare_the_fill(tmp_path: Path, capsys,
                                                                          unit: str | None) -> None:
    """MODIS-like uint16 (14000..16000 x 0.02 = 280..320 K) with its fill 0 undeclared in 62 % of
    the pixels: the median 0 read the scene as Celsius, so the unit tag's refusal said to check
    the right --scale-factor 0.02 (without a tag: "the file may be damaged"). The fill is named."""
    lst = _scene(tmp_path, "m")
    stored = np.random.default_rng(0).integers(14000, 16000, SHAPE).astype(np.uint16)
    stored.flat[: round(0.62 * stored.size)] = 0
    _rewrite(lst, stored, unit=unit)
    out = tmp_path / "out.tif"
    assert _downscale(lst, out, "--scale-factor", "0.02") == 2
    err = _one_line(capsys)
    assert f"error: {lst}: the stored value 0 (read with --scale-factor 0.02 as 0) fills 62.0% of the scene and is " \
           "not declared as nodata; the other values read 280" in err
    assert err.endswith(" K, plausible temperatures (hint: it looks like a fill value: pass --nodata 0)\n")
    assert not out.exists()
    # a truly wrong factor keeps its refusal: 28..32 read as Celsius with the fill a plausible 0 degC
    if unit:
        assert _downscale(lst, out, "--scale-factor", "0.002") == 2
        err = _one_line(capsys)
        assert "with --scale-factor 0.002 its values read 0.." in err and "not Kelvin as its unit tag (K) says" in err
        assert "hint: check --scale-factor and --offset" in err and "--nodata" not in err
    assert _downscale(lst, out, "--scale-factor", "0.02", "--nodata", "0") == 0
    with rasterio.open(out) as src:
        valid = src.read(1, masked=True).compressed()
    assert valid.size == 9 * np.count_nonzero(stored) and 270.0 < valid.min() and valid.max() < 330.0  # bicubic


@pytest.mark.parametrize("factor, problem", [
    ("1e308", "its stored values {low}..{high} read with --scale-factor 1e+308{offset} overflow to infinity "
              "(1,024 pixels): no temperatures (hint: pass your product's --scale-factor and --offset)\n"),
    ("1e-308", "its distinct stored values {low}..{high} read with --scale-factor 1e-308{offset} as "),
])
def test_quicklook_refuses_a_scale_that_makes_no_temperatures_as_downscale_does(
        tmp_path: Path, capsys, factor: str, problem: str) -> None:
    """quicklook read the LST without downscale's scan: --scale-factor 1e308 (inf) and 1e-308 (a
    flat 0 degC) drew a meaningless picture with exit 0. The offset the output's tags recorded
    (0) is part of quicklook's reading, so its error names it."""
    lst = _scene(tmp_path, "s")
    out, png = tmp_path / "out.tif", tmp_path / "look.png"
    assert _downscale(lst, out) == 0
    with rasterio.open(lst) as src:
        values = src.read(1)
    low, high = f"{values.min():.6g}", f"{values.max():.6g}"
    capsys.readouterr()
    assert _downscale(lst, tmp_path / "again.tif", "--scale-factor", factor) == 2
    said = _one_line(capsys)
    assert said.startswith(f"error: {lst}: " + problem.format(low=low, high=high, offset=""))
    assert run(["-q", "quicklook", str(out), "--scale-factor", factor, "-o", str(png)]) == 2
    err = _one_line(capsys)
    assert err.startswith("error: ") and problem.format(low=low, high=high, offset=" --offset 0") in err
    assert said.split("(hint: ")[-1] == err.split("(hint: ")[-1]
    assert not png.exists()


OVERRIDE = ("declare your product's scale and offset in the file: gdal_edit.py -scale F -offset O {lst}, or "
            "override the file's for a run: pass your product's --scale-factor and --offset)\n")


@pytest.mark.parametrize("scale, problem", [
    (1e306, "read with the file's scale 1e+306 and offset 0 overflow to infinity"),
    (1e-300, "read with the file's scale 1e-300 and offset 0 as 2."),
    (1e300, "LST values 2.9"),  # not all plausible: the scale is the suspect, not damage
])
def test_a_files_absurd_scale_is_told_the_command_line_overrides_it(tmp_path: Path, capsys, scale: float,
                                                                    problem: str) -> None:
    """A file's own absurd scale metadata (gdal_edit.py -scale 1e300) was hinted at gdal_edit.py
    only; --scale-factor overrides it for a run, and does."""
    lst = _scene(tmp_path, "f")
    with rasterio.open(lst) as src:
        kelvin = src.read(1)
    _rewrite(lst, kelvin, scale=scale)
    out = tmp_path / "out.tif"
    assert _downscale(lst, out) == 2
    err = _one_line(capsys)
    assert f"error: {lst}: " in err and problem in err and err.endswith(OVERRIDE.format(lst=lst))
    assert _downscale(lst, out, "--scale-factor", "1") == 0
    with rasterio.open(out) as src:
        assert abs(float(src.read(1, masked=True).mean()) - float(kelvin.mean())) < 0.5


def test_a_scale_factor_overrides_a_files_scale_that_gives_no_values(tmp_path: Path, capsys) -> None:
    """A file declaring scale NaN was refused for it even with --scale-factor 1, which replaces
    it (its offset, 0, is still the file's): the override wins."""
    lst = _scene(tmp_path, "n")
    with rasterio.open(lst) as src:
        kelvin = src.read(1)
    _rewrite(lst, kelvin, scale=float("nan"))
    out = tmp_path / "out.tif"
    assert _downscale(lst, out) == 2
    assert "declares scale nan and offset 0, which give no values" in _one_line(capsys)
    assert _downscale(lst, out, "--scale-factor", "1") == 0
    with rasterio.open(out) as src:
        assert abs(float(src.read(1, masked=True).mean()) - float(kelvin.mean())) < 0.5


def test_a_compare_candidates_absurd_scale_is_hinted_at_its_file_only(tmp_path: Path, capsys) -> None:
    """compare's LST options read only the reference: a candidate whose own scale overflows was told
    to override it with --scale-factor, which does not reach candidates (e42ae93's follow-up)."""
    reference = _scene(tmp_path, "r")
    candidate = _scene(tmp_path, "c")
    with rasterio.open(candidate) as src:
        kelvin = src.read(1)
    _rewrite(candidate, kelvin, scale=1e306)
    assert run(["-q", "compare", str(reference), str(candidate)]) == 2
    err = _one_line(capsys)
    assert f"error: {candidate}: " in err and "overflow to infinity" in err
    assert err.endswith(f"(hint: declare your product's scale and offset in the file: gdal_edit.py -scale F "
                        f"-offset O {candidate})\n") and "--scale-factor" not in err


def test_a_nan_file_scale_is_hinted_at_its_file_and_at_the_option_that_overrides_it(tmp_path: Path, capsys) -> None:
    """Review R2: a NaN scale's refusal named only ``gdal_edit.py ... FILE`` (a literal FILE), not the
    file nor the --scale-factor that overrides it; compare's candidate (no options) gets its file only."""
    reference = _scene(tmp_path, "r")
    candidate = _scene(tmp_path, "c")
    with rasterio.open(candidate) as src:
        kelvin = src.read(1)
    _rewrite(candidate, kelvin, scale=float("nan"))
    assert _downscale(candidate, tmp_path / "out.tif", "--offset", "0") == 2
    assert _one_line(capsys) == (
        f"error: {candidate}: band 1 declares scale nan and offset 0, which give no values (hint: declare your "
        f"product's scale and offset in the file: gdal_edit.py -scale F -offset O {candidate}, or override the "
        "file's for a run: pass your product's --scale-factor and --offset)\n")
    assert run(["-q", "compare", str(reference), str(candidate)]) == 2
    assert _one_line(capsys).endswith(
        f"(hint: declare your product's scale and offset in the file: gdal_edit.py -scale F -offset O {candidate})\n")
