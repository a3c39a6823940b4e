"""QA s3 F3/F4: the gdalwarp commands that compare and mask print for a raster or mask that does
not nest work as printed. compare's hint was ``gdalwarp -tap``, which GDAL refuses without
``-tr`` and which cannot reach a Landsat grid (origins at 15 m); it now names the bounds on the
coarsest grid's pixel edges, the pixel size and the resampling. mask's hint warped a finer 0/1
mask with ``-r near``, which dropped clouds; it is ``-r max`` now, and ``-r near`` at a pixel
size no coarser than the mask's for class codes and QA bits (which max would change)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from groklst_cli.app import run
from tests.test_compare import raster
from tests.test_mask import TRANSFORM, landsat_like, mask, write

LANDSAT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "landsat-muenster"
B10 = LANDSAT / "LC08_L2SP_196024_20240626_20240709_02_T1_ST_B10.TIF"
GDALWARP = shutil.which("gdalwarp")
needs_gdalwarp = pytest.mark.skipif(GDALWARP is None, reason="gdalwarp (GDAL's tools) is not installed")
X0, Y0 = TRANSFORM.c, TRANSFORM.f  # a Landsat grid: its origin is at 15 m, not a multiple of 30 m


def field(shape: tuple[int, int], res: tuple[float, float], origin: tuple[float, float]) -> np.ndarray:
    """A plane of temperatures (K) at the pixel centres: bilinear and average warps keep it exact."""
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    x, y = origin[0] + (cols + 0.5) * res[0], origin[1] - (rows + 0.5) * res[1]
    return 300.0 + 0.002 * (x - X0) - 0.003 * (Y0 - y)


def only_error(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def run_printed(line: str, end: str) -> None:
    """Run the gdalwarp command a hint prints (from ``gdalwarp`` to ``end``) as a shell would."""
    command = re.search(rf"(gdalwarp .*?){re.escape(end)}", line).group(1)
    subprocess.run(["gdalwarp", "-q", *shlex.split(command)[1:]], check=True)


def compare_json(capsys, *paths: Path) -> dict:
    capsys.readouterr()
    assert run(["-q", "compare", "--json", *map(str, paths)]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_shifted_candidate_gets_the_reference_grid_and_bilinear(tmp_path: Path, capsys) -> None:
    """The reproducer: a 30 m candidate 10 m east of a Landsat-grid reference."""
    reference = raster(tmp_path / "ref.tif", field((40, 40), (30, 30), (X0, Y0)), origin=(X0, Y0))
    origin = (X0 + 10, Y0 - 20)
    candidate = raster(tmp_path / "cand.tif", field((40, 40), (30, 30), origin), origin=origin)
    capsys.readouterr()
    assert run(["compare", str(reference), str(candidate)]) == 2
    line = only_error(capsys)
    assert line == (
        f"error: {candidate}: grid does not nest in the coarsest raster's (offset of 0.33 pixel in x) (hint: warp "
        "it onto a grid that nests: gdalwarp -r bilinear -te 396735 5762115 397905 5763285 -tr 30 30 "
        f"{candidate} {tmp_path / 'cand_on_grid.tif'}, then compare that (bilinear: its pixel size stays and the "
        "grid only moves; average where pixels grow))")
    if GDALWARP is None:
        pytest.skip("gdalwarp is not installed: the printed command is not run")
    run_printed(line, ", then compare")
    row = compare_json(capsys, reference, tmp_path / "cand_on_grid.tif")["rows"][0]
    assert row["rmse"] < 1e-3  # the same plane: the bilinear warp found the reference's values


@needs_gdalwarp
@pytest.mark.parametrize("reference_res, res, expected", [
    ((30.0, 30.0), (20.0, 20.0), "-r average -te 396705 5762115 397905 5763315 -tr 30 30 "),  # 20 in 30: no
    ((30.0, 40.0), (10.0, 15.0), "-r average -te 396705 5762435 397305 5763315 -tr 10 20 "),  # 15 in 40: no
    ((30.0, 10.0), (10.0, 30.0), "-r average -te 396705 5761515 397305 5763315 -tr 30 30 "),  # coarsest in y
])
def test_a_pixel_size_that_does_not_nest_gets_an_average_onto_one_that_does(
        tmp_path: Path, capsys, reference_res: tuple[float, float], res: tuple[float, float], expected: str) -> None:
    reference = raster(tmp_path / "ref.tif", field((90, 60), reference_res, (X0, Y0)), res=reference_res,
                       origin=(X0, Y0))
    candidate = raster(tmp_path / "cand.tif", field((60, 60), res, (X0, Y0)), res=res, origin=(X0, Y0))
    capsys.readouterr()
    assert run(["compare", str(reference), str(candidate)]) == 2
    line = only_error(capsys)
    assert f"(hint: warp it onto a grid that nests: gdalwarp {expected}{candidate} " in line
    assert line.endswith("then compare that (average: its pixels grow, so each becomes the mean of those it "
                         "covers))")
    run_printed(line, ", then compare")
    row = compare_json(capsys, reference, tmp_path / "cand_on_grid.tif")["rows"][0]
    assert row["rmse"] < 0.02 and row["written"] > 0.05  # a plane: a mean of it is its value (0.1 K per pixel)


@needs_gdalwarp
@pytest.mark.skipif(not B10.is_file(), reason=f"no Landsat clip {B10.name}")
def test_the_brief_reproducer_on_the_landsat_clip(tmp_path: Path, capsys) -> None:
    reference, candidate = tmp_path / "ref.tif", tmp_path / "cand.tif"
    subprocess.run(["gdal_translate", "-q", "-srcwin", "100", "100", "80", "80", str(B10), str(reference)],
                   check=True)
    subprocess.run(["gdalwarp", "-q", "-r", "bilinear", "-tr", "30", "30", "-te", "399715", "5757295", "402115",
                    "5759695", str(reference), str(candidate)], check=True)
    capsys.readouterr()
    assert run(["compare", str(reference), str(candidate)]) == 2
    line = only_error(capsys)
    assert "gdalwarp -r bilinear -te 399735 5757315 402105 5759685 -tr 30 30 " in line
    run_printed(line, ", then compare")
    row = compare_json(capsys, reference, tmp_path / "cand_on_grid.tif")["rows"][0]
    assert row["rmse"] < 0.5 and row["cc"] > 0.99


def fine_mask(folder: Path, background: int, flag: int) -> Path:
    """A 20 m uint8 mask over the 30 m Landsat-like ST band, one pixel ``flag``: x 920-940 m and
    y 620-640 m from the origin, inside the ST pixels of rows 20-21 and columns 30-31."""
    data = np.full((105, 135), background, np.uint8)
    data[31, 46] = flag
    return write(folder / "mask20.tif", data, transform=TRANSFORM @ TRANSFORM.scale(2 / 3))


@pytest.mark.parametrize("background, flag, rule, warp", [
    (0, 1, (), "-r max -te 396705 5761215 399405 5763315 -tr 30 30 "),
    (5, 3, ("--values", "3"), "-r near -te 396705 5761215 399405 5763315 -tr 15 15 "),
])
def test_a_finer_mask_that_does_not_nest_is_warped_without_losing_its_flag(
        tmp_path: Path, capsys, background: int, flag: int, rule: tuple[str, ...], warp: str) -> None:
    st, _, _, _ = landsat_like(tmp_path)
    flags = fine_mask(tmp_path, background, flag)
    out = tmp_path / "masked.tif"
    capsys.readouterr()
    assert mask(st, flags, *rule, "-o", out) == 2
    line = only_error(capsys)
    assert line.startswith(f"error: {flags}: does not nest in the grid of {st} (pixel size 20 x 20 m against 30 x "
                           "30 m: one must be a whole multiple of the other, the same in x and y) (hint: use the "
                           f"mask delivered with the data, or warp it onto the raster's grid: gdalwarp {warp}"
                           f"{flags} mask_on_grid.tif ("), line
    why = ("max: a pixel is flagged when any mask pixel in it is" if not rule else
           "near, at a pixel size no coarser than the mask's: class codes and QA bits must not be maxed or averaged")
    assert why in line
    if GDALWARP is None:
        pytest.skip("gdalwarp is not installed: the printed command is not run")
    run_printed(line.replace("mask_on_grid.tif", str(tmp_path / "mask_on_grid.tif")), " (")
    assert mask(st, tmp_path / "mask_on_grid.tif", *rule, "-o", out, "--json") == 0
    assert json.loads(capsys.readouterr().out)["masked"] == 4  # the 2 x 2 ST pixels the flag lies in
