"""Option edge values that crashed or passed nonsense (QA s6): quicklook of a nameless path,
guidance --res so fine its scale overflowed, --scale-factor that overflows or flattens the LST."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from groklst_cli.app import run
from tests.conftest import write_canonical_scene

DOWNSCALE = ["downscale", "{lst}", "-m", "bicubic", "-o", "{out}"]


def _run(tmp_path: Path, command: list[str], capsys) -> tuple[int, str, Path]:
    """``command`` on a canonical Kelvin scene (unit tag K): exit status, stderr, the output path."""
    lst, guidance = write_canonical_scene(tmp_path, "s", bands=("red",))
    out = tmp_path / "out.tif"
    status = run(["-q", *[a.format(lst=lst, guidance=guidance, out=out) for a in command]])
    return status, capsys.readouterr().err, out


@pytest.mark.parametrize("typed, shown", [(".", "."), ("/", "/")])  # "": test_empty_paths_s6
def test_quicklook_of_a_nameless_path_is_refused_as_a_folder(tmp_path: Path, monkeypatch, capsys,
                                                              typed: str, shown: str) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(["-q", "quicklook", typed]) == 2
    assert capsys.readouterr().err == (f"error: {shown}: is a directory, expected a GeoTIFF (hint: SDGSAT-1 "
                                       "product folders are given alone: one scene's TIS and MII folders)\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("res", ["1e-308", "5e-324", "1e-300", "1e-5"])
def test_a_res_giving_an_absurd_grid_is_refused_in_one_short_line(tmp_path: Path, capsys, res: str) -> None:
    status, err, out = _run(tmp_path, ["guidance", "{lst}", "{guidance}", "-o", "{out}", "--res", res, "--force"],
                            capsys)
    assert status == 2
    assert err == (f"error: --res: {float(res):g} m would make the guidance grid more than 1e+12 px (the LST's "
                   "pixels are 30 m) (hint: e.g. --res 10 for x3)\n")
    assert not out.exists()


def test_a_res_splitting_pixels_still_gives_its_grid(tmp_path: Path, capsys) -> None:
    status, _, out = _run(tmp_path, ["guidance", "{lst}", "{guidance}", "-o", "{out}", "--res", "10"], capsys)
    assert status == 0 and out.exists()


@pytest.mark.parametrize("factor", ["1e308", "-1e308"])
def test_a_scale_factor_that_overflows_is_named_without_numpy_warnings(tmp_path: Path, capsys, factor: str) -> None:
    status, err, out = _run(tmp_path, [*DOWNSCALE, "--scale-factor", factor], capsys)
    assert status == 2
    lines = err.splitlines()
    assert len(lines) == 1 and "RuntimeWarning" not in err and "--nodata inf" not in err
    assert lines[0].startswith("error: ") and "s_lst.tif: its stored values " in lines[0]
    assert f"read with --scale-factor {float(factor):g} overflow to infinity (1,024 pixels): no temperatures" \
           " (hint: pass your product's --scale-factor and --offset)" in lines[0]
    assert not out.exists()


@pytest.mark.parametrize("options", [["--scale-factor", "1e-308"], ["--scale-factor", "1e-308", "--units", "celsius"],
                                     ["--scale-factor", "1e-308", "--offset", "300"]])
def test_a_scale_factor_that_flattens_the_scene_is_refused(tmp_path: Path, capsys, options: list[str]) -> None:
    status, err, out = _run(tmp_path, [*DOWNSCALE, *options], capsys)
    assert status == 2
    assert len(err.splitlines()) == 1 and "warning" not in err
    assert "s_lst.tif: its distinct stored values " in err
    assert "less than 0.001 degrees apart: no scene's temperatures" in err
    assert f"read with {' '.join(options[:2] if '--units' in options else options)} as " in err
    assert not out.exists()


def test_scaled_values_that_contradict_the_unit_tag_are_refused_naming_the_factor(tmp_path: Path, capsys) -> None:
    status, err, out = _run(tmp_path, [*DOWNSCALE, "--scale-factor", "0.001"], capsys)
    assert status == 2
    assert err.startswith("error: ") and len(err.splitlines()) == 1
    assert "s_lst.tif: with --scale-factor 0.001 its values read 0.2" in err
    # the stored values are Kelvin as tagged: the factor is the mistake (review R3: it was hinted at)
    assert "not Kelvin as its unit tag (K) says (hint: its stored values are Kelvin already: drop --scale-factor " \
           "and --offset)\n" in err
    assert not out.exists()


def test_declared_celsius_units_still_read_scaled_values(tmp_path: Path, capsys) -> None:
    """--units says what the values are: the tag's contradiction is then the user's call."""
    status, _, out = _run(tmp_path, [*DOWNSCALE, "--scale-factor", "0.1", "--units", "celsius"], capsys)
    assert status == 0 and out.exists()


def _int_lst(path: Path, values: np.ndarray, unit: str | None = None, nodata: float = -32768) -> Path:
    from rasterio.transform import from_origin

    with rasterio.open(path, "w", driver="GTiff", width=values.shape[1], height=values.shape[0], count=1,
                       dtype=values.dtype.name, nodata=nodata, crs="EPSG:32632",
                       transform=from_origin(4e5, 5.76e6, 30, 30)) as dst:
        dst.write(values, 1)
        if unit:
            dst.units = (unit,)
    return path


def test_an_all_nodata_scaled_scene_is_empty_not_a_wrong_factor(tmp_path: Path, capsys) -> None:
    """Review R3: the unit-tag check read an empty scene's range inf..-inf as contradicting its degC
    tag (exit 2); it is an empty scene (exit 3), as before fe75224."""
    lst = _int_lst(tmp_path / "e.tif", np.full((40, 40), -32768, np.int16), "degC")
    status = run(["-q", "downscale", str(lst), "-m", "bicubic", "-s", "3", "-o", str(tmp_path / "o.tif"),
                  "--scale-factor", "0.01", "--offset", "0"])
    assert status == 3, capsys.readouterr().err
    assert not (tmp_path / "o.tif").exists()


def test_a_factor_one_step_of_a_millikelvin_apart_is_not_flat(tmp_path: Path, capsys) -> None:
    """Review R3: 290.002 - 290.001 is 0.00099999 in floating point, refused as 'less than 0.001 apart'."""
    values = np.full((8, 8), 290001, np.int32)
    values[0, 0] = 290002
    lst = _int_lst(tmp_path / "mK.tif", values, nodata=-1)
    assert run(["-q", "downscale", str(lst), "-m", "bicubic", "-s", "3", "-o", str(tmp_path / "o.tif"),
                "--scale-factor", "0.001", "--offset", "0"]) == 0, capsys.readouterr().err


def test_stored_values_already_in_the_tagged_unit_are_told_to_drop_the_scaling(tmp_path: Path, capsys) -> None:
    """Review R3: a Celsius file tagged C read with Landsat's factor and offset (149.1..149.2) was told to
    'check --scale-factor (e.g. 0.00341802 ...)', the factor given, without a word of --offset."""
    values = (20 + np.arange(64, dtype=np.float32).reshape(8, 8) / 10).astype(np.float32)
    lst = _int_lst(tmp_path / "c.tif", values, "C", nodata=-9999)
    assert run(["-q", "downscale", str(lst), "-m", "bicubic", "-s", "3", "-o", str(tmp_path / "o.tif"),
                "--scale-factor", "0.00341802", "--offset", "149.0"]) == 2
    err = capsys.readouterr().err
    assert "with --scale-factor 0.00341802 --offset 149 its values read 149.1..149.1, not Celsius" in err, err
    assert err.rstrip().endswith("(hint: its stored values are Celsius already: drop --scale-factor and --offset)")
