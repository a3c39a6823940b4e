"""Grid refusals say what was found and give a hint that works (QA U; fixer W): a south-up,
rotated or east-to-west raster is named as such, and ``--align`` is suggested only where it
would take the guidance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import Affine

from groklst_cli.app import run

UTM = CRS.from_epsg(32647)
X0, Y0 = 500_000.0, 4_000_000.0
LST_SIZE = 240.0  # metres: 8 pixels of 30 m
BICUBIC = ["--model", "bicubic"]


def _write(path: Path, transform: Affine, shape: tuple[int, int]) -> Path:
    data = np.full(shape, 300.0, np.float32)
    with rasterio.open(path, "w", driver="GTiff", width=shape[1], height=shape[0], count=1,
                       dtype="float32", crs=UTM, transform=transform) as dst:
        dst.write(data, 1)
    return path


def _guidance(folder: Path, size: float, transform: Affine | None = None) -> Path:
    """A guidance of ``size`` m pixels over the LST (or on ``transform``)."""
    n = round(LST_SIZE / size)
    return _write(folder / "g.tif", transform or Affine(size, 0, X0, 0, -size, Y0), (n, n))


@pytest.fixture
def lst(tmp_path: Path) -> Path:
    return _write(tmp_path / "a_lst.tif", Affine(30, 0, X0, 0, -30, Y0), (8, 8))


def _refused(lst: Path, guidance: Path, capsys, *extra: str) -> str:
    """The error line of a refused downscale (exit 2), with the folder's path taken out."""
    out = lst.parent / "out.tif"
    argv = ["downscale", str(lst), "-g", str(guidance), *BICUBIC, "-o", str(out), *extra]
    assert run(argv) == 2, argv
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, errors
    assert not out.exists()
    return errors[0].replace(f"{lst.parent}/", "")


WARP = "warp it north-up: gdalwarp -r near IN.tif OUT.tif"
ALIGN = ", or pass downscale --align, which warps the guidance onto the LST grid"
NOT_NORTH_UP = "rotated or flipped grids are not supported: this one is"
FINER = ("pass a guidance finer than the LST, e.g. groklst guidance LST.tif SOURCE.tif --scale N "
         "-o GUIDANCE.tif, or no guidance: --model bicubic --scale N")


@pytest.mark.parametrize("transform, found", [
    (Affine(10, 0, X0, 0, 10, Y0 - LST_SIZE), "south-up (y pixel size 10, positive)"),
    (Affine(-10, 0, X0 + LST_SIZE, 0, -10, Y0), "east-to-west (x pixel size -10, negative)"),
    (Affine(10, 2, X0, 2, -10, Y0), "rotated/sheared (transform terms b=2, d=2)"),
])
def test_a_guidance_not_north_up_is_named_and_told_to_warp_or_align(lst: Path, capsys, transform: Affine,
                                                                    found: str) -> None:
    """QA: "rotated or flipped grids are not supported (hint: warp to north-up first)" said
    neither which, nor how; --align takes such a guidance (it is warped anyway)."""
    guidance = _guidance(lst.parent, 10, transform)
    assert _refused(lst, guidance, capsys) == (
        f"error: g.tif: {NOT_NORTH_UP} {found} (hint: {WARP}{ALIGN}) (scene a_lst.tif)")


def test_a_south_up_lst_is_told_to_warp_without_align(tmp_path: Path, capsys) -> None:
    lst = _write(tmp_path / "a_lst.tif", Affine(30, 0, X0, 0, 30, Y0 - LST_SIZE), (8, 8))
    guidance = _guidance(tmp_path, 10)
    assert _refused(lst, guidance, capsys) == (
        f"error: a_lst.tif: {NOT_NORTH_UP} south-up (y pixel size 30, positive) (hint: {WARP})")


def test_a_guidance_at_the_lst_resolution_is_told_what_to_pass(lst: Path, capsys) -> None:
    """QA: "(got x1 and x1)" came with no hint."""
    assert _refused(lst, _guidance(lst.parent, 30), capsys) == (
        "error: g.tif: guidance must be finer than the LST by the same integer factor >= 2 in x and y "
        f"(got x1 and x1) (hint: {FINER}) (scene a_lst.tif)")


def test_a_coarser_guidance_is_called_coarser_and_not_sent_to_align(lst: Path, capsys) -> None:
    """QA: a 45 m guidance of a 30 m LST was sent to --align, which then refused it."""
    assert _refused(lst, _guidance(lst.parent, 48), capsys) == (
        "error: g.tif: guidance pixels (48 x 48 m) are coarser than the LST's (30 x 30 m) "
        f"(hint: {FINER}) (scene a_lst.tif)")


def test_a_guidance_less_than_twice_as_fine_is_not_sent_to_align(lst: Path, capsys) -> None:
    line = _refused(lst, _guidance(lst.parent, 24), capsys)
    assert line == (
        "error: g.tif: LST pixel size 30 m is not an integer multiple of the guidance pixel size 24 m "
        "(hint: resample the guidance onto a grid that nests in the LST grid: groklst guidance LST.tif "
        "SOURCE.tif --scale N -o GUIDANCE.tif) (scene a_lst.tif)")


@pytest.mark.parametrize("size, problem", [
    (24, "is only 1.25x finer than the LST; --align needs at least 2x (a ratio of 1.5 or more, rounded "
         "to the scale)"),
    (48, "is not finer than the LST (pixel-size ratio 0.62)"),
])
def test_align_says_how_much_finer_the_guidance_is(lst: Path, capsys, size: float, problem: str) -> None:
    """QA: a 22 m guidance of a 30 m LST was "not finer than the LST" under --align."""
    assert _refused(lst, _guidance(lst.parent, size), capsys, "--align") == (
        f"error: g.tif: {problem} (hint: pass a guidance with pixels at most half the LST's, or no "
        "guidance: --model bicubic --scale N) (scene a_lst.tif)")


def test_align_takes_a_south_up_guidance(lst: Path, capsys) -> None:
    """The hint's --align really does take a south-up guidance."""
    guidance = _guidance(lst.parent, 10, Affine(10, 0, X0, 0, 10, Y0 - LST_SIZE))
    out = lst.parent / "out.tif"
    assert run(["downscale", str(lst), "-g", str(guidance), "--model", "bicubic", "--align", "-o", str(out)]) == 0
    with rasterio.open(out) as dst:
        assert dst.transform == Affine(10, 0, X0, 0, -10, Y0) and dst.shape == (24, 24)
