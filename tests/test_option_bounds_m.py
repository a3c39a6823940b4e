"""Option values that crashed (OverflowError, MemoryError, a segfault, a torch stack, a NaN
geotransform, a file outside OUT_DIR) are refused before any work: exit 2, one line naming the
option, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from groklst_cli.app import run

HUGE = "99999999999999999999"
SEED_PROBLEM = "must be an integer from 0 to 18446744073709551615, not -1 (hint: torch and NumPy take non-negative seeds)"


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    """A 24 x 24 px generated scene."""
    folder = tmp_path_factory.mktemp("bounds_m")
    assert run(["-q", "sample-scene", str(folder), "--size", "24"]) == 0
    return folder / "heihe_demo_lst.tif"


def _refusal(capsys, argv: list[str]) -> str:
    """The one error line of a refused run (exit 2)."""
    assert run(argv) == 2, argv
    [line] = capsys.readouterr().err.strip().splitlines()
    return line


@pytest.mark.parametrize("value", [HUGE, "1000000", "1025"])
def test_threads_above_1024_refused(capsys, value: str) -> None:
    assert _refusal(capsys, ["--threads", value, "models"]) == (
        "error: Invalid value for '--threads': Input should be less than or "
        "equal to 1024 (hint: groklst --help)")


@pytest.mark.parametrize(("option", "value", "low"), [
    ("--scale", HUGE, 2), ("--scale", "1", 2), ("--bands", HUGE, 1), ("--bands", "0", 1)])
def test_models_scale_and_bands_bounded(capsys, option: str, value: str, low: int) -> None:
    assert _refusal(capsys, ["models", option, value]) == (
        f"error: {option}: must be an integer from {low} to 1024, not {value}")


def test_models_help_shows_the_bounds(capsys) -> None:
    assert run(["models", "--help"]) == 0
    assert "factor, 2 to 1024." in " ".join(capsys.readouterr().out.replace("│", " ").split())


@pytest.mark.parametrize("value", ["inf", "nan"])
def test_prepare_hr_res_must_be_finite(scene: Path, tmp_path: Path, capsys, value: str) -> None:
    out = tmp_path / "ds"
    assert _refusal(capsys, ["prepare", str(scene), "-o", str(out), "--hr-res", value]) == (
        f"error: --hr-res: must be a finite positive resolution in CRS units, not {value} "
        "(hint: e.g. --hr-res 30, or leave it out for the LST's own)")
    assert not out.exists()


def test_prepare_negative_seed_refused_like_train(scene: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "ds"
    assert _refusal(capsys, ["prepare", str(scene), "-o", str(out), "--seed", "-1"]) == f"error: --seed: {SEED_PROBLEM}"
    assert not out.exists()


@pytest.mark.parametrize("value", ["1000000", HUGE])
def test_quicklook_width_bounded(scene: Path, tmp_path: Path, capsys, value: str) -> None:
    png = tmp_path / "q.png"
    assert _refusal(capsys, ["quicklook", str(scene), "-o", str(png), "--width", value]) == (
        "error: Invalid value for '--width': Input should be less than or equal to 8000 "
        "(hint: groklst quicklook --help)")
    assert not png.exists()


def test_quicklook_help_shows_min_and_max(capsys) -> None:
    assert run(["quicklook", "--help"]) == 0
    assert "[200<=x<=8000]" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "message"), [
    (["--size", "100000"], "--size: a 100000x100000 px scene at --ratio 3 has more than the 16,000,000 guidance "
                           "pixels a sample scene may have (hint: at most --size 1333 at --ratio 3)"),
    (["--rows", "8000", "--cols", "8000", "--ratio", "1"],
     "--rows/--cols: a 8000x8000 px scene at --ratio 1 has more than the 16,000,000 guidance pixels a sample "
     "scene may have (hint: at most --size 4000 at --ratio 1)"),
    (["--seed", "-1"], f"--seed: {SEED_PROBLEM}"),
    (["--name", "../x"], "--name: '../x' is a path, not a scene name (hint: give a plain name; OUT_DIR says where)"),
    (["--name", "a/b"], "--name: 'a/b' is a path, not a scene name (hint: give a plain name; OUT_DIR says where)"),
    (["--name", ""], "--name: is empty (hint: give a plain name, e.g. heihe_demo)"),
    (["--products", "--tis-offset", "nan,0"], "--tis-offset: 'nan,0' is not EAST,NORTH in finite metres, e.g. 30,-20"),
    (["--products", "--tis-offset", "inf,0"], "--tis-offset: 'inf,0' is not EAST,NORTH in finite metres, e.g. 30,-20"),
    (["--products", "--tis-offset", "1e12,0"], "--tis-offset: 1e+12,0 m is more than the 20 TIS pixels (600 m) "
                                               "groklst coregister can search (hint: real products are off by 1-2 pixels)"),
])
def test_sample_scene_refusals(tmp_path: Path, capsys, args: list[str], message: str) -> None:
    out = tmp_path / "d"
    argv = ["sample-scene", str(out), *args] if args[0] in ("--size", "--rows") else \
        ["sample-scene", str(out), "--size", "24", *args]
    assert _refusal(capsys, argv) == f"error: {message}"
    assert not out.exists() and not (tmp_path / "x_lst.tif").exists()


def test_sample_scene_offset_of_20_pixels_accepted(tmp_path: Path) -> None:
    """The bound is inclusive: 600 m east still writes the fixture."""
    assert run(["-q", "sample-scene", str(tmp_path), "--size", "24", "--products", "--tis-offset", "600,0"]) == 0
    assert (tmp_path / "heihe_demo_lst.tif").exists()
