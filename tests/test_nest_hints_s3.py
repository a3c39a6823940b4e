"""QA s3 F3/F4: the gdalwarp commands that compare and mask print for a raster or mask that does
not nest work as printed. compare's hint was ``gdalwarp -tap``, which GDAL refuses without
``-tr`` and which cannot reach a Landsat grid (origins at 15 m); it now names the bounds on the
coarsest grid's pixel edges, the pixel size and the resampling. mask's hint warped a finer 0/1
mask with ``-r near``, which dropped clouds; it is ``-r max`` now, and ``-r near`` at a pixel
size no coarser than the mask's for class codes and QA bits (which max would change)."""

from __future__ import annotations

import json
import math
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.transform
import rasterio.warp
from affine import Affine
from rasterio.crs import CRS

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
    """Run the gdalwarp command a hint prints (from ``gdalwarp`` to ``end``) as a shell would; the
    test stops here (skipped) where gdalwarp is not installed, its hint text checked already."""
    if GDALWARP is None:
        pytest.skip("gdalwarp is not installed: the printed command is not run")
    command = re.search(rf"(gdalwarp .*?){re.escape(end)}", line).group(1)
    subprocess.run(["gdalwarp", "-q", *shlex.split(command)[1:]], check=True)


def run_mask_hint(line: str) -> None:
    """Run every command of a mask hint, in the current folder: since dbf35a7 a 0/1 mask that does
    not cover, or has nodata, is first copied on its own grid (mask_filled.tif) and maybe rewritten."""
    if "mask_filled.tif" in line or "mask_known.tif" in line:
        from tests.test_mask_values_s4 import run_hint

        run_hint(line)
    else:
        run_printed(line, " (")


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
    run_printed(line.replace("mask_on_grid.tif", str(tmp_path / "mask_on_grid.tif")), " (")
    assert mask(st, tmp_path / "mask_on_grid.tif", *rule, "-o", out, "--json") == 0
    assert json.loads(capsys.readouterr().out)["masked"] == 4  # the 2 x 2 ST pixels the flag lies in


# QA s3 F17: the hints for a piped candidate, names starting with '-', a mask in another CRS, and
# a --fill that float32 does not hold.

GROKLST = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "groklst"
SHIFTED_HINT = "-r bilinear -te 396735 5762115 397905 5763285 -tr 30 30 "


def shifted_pair(folder: Path, name: str = "cand.tif") -> tuple[Path, Path]:
    """A 30 m Landsat-grid reference and a candidate 10 m east and 20 m south of its grid."""
    reference = raster(folder / "ref.tif", field((40, 40), (30, 30), (X0, Y0)), origin=(X0, Y0))
    origin = (X0 + 10, Y0 - 20)
    return reference, raster(folder / name, field((40, 40), (30, 30), origin), origin=origin)


def test_a_piped_candidate_gets_placeholders_not_a_file_in_dev(tmp_path: Path, capsys, monkeypatch) -> None:
    """``cat cand.tif | groklst compare ref.tif /dev/stdin`` printed ``/dev/stdin /dev/stdin_on_grid.tif``:
    pasted as root it wrote into /dev, and the stream is gone once read."""
    reference, candidate = shifted_pair(tmp_path)
    with candidate.open("rb") as stream:
        done = subprocess.run([str(GROKLST), "compare", str(reference), "/dev/stdin"], stdin=stream,
                              capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: /dev/stdin: grid does not nest in the coarsest raster's (offset of 0.33 pixel in x) (hint: save the "
        f"stream to a file (IN.tif) first, then warp it onto a grid that nests: gdalwarp {SHIFTED_HINT}IN.tif "
        "IN_on_grid.tif, then compare that (bilinear: its pixel size stays and the grid only moves; average where "
        "pixels grow))"]
    monkeypatch.chdir(tmp_path)
    shutil.copy(candidate, tmp_path / "IN.tif")  # the stream saved to a file, as the hint says
    run_printed(done.stderr, ", then compare")
    assert compare_json(capsys, reference, tmp_path / "IN_on_grid.tif")["rows"][0]["rmse"] < 1e-3


def test_a_candidate_named_with_a_dash_is_printed_as_a_path(tmp_path: Path, capsys, monkeypatch) -> None:
    """``./-x.tif`` was printed ``-x.tif``, which gdalwarp takes for an option."""
    monkeypatch.chdir(tmp_path)
    reference, _ = shifted_pair(tmp_path, "-x.tif")
    capsys.readouterr()
    assert run(["compare", "ref.tif", "./-x.tif"]) == 2
    line = only_error(capsys)
    assert line == (
        "error: ./-x.tif: grid does not nest in the coarsest raster's (offset of 0.33 pixel in x) (hint: warp it "
        f"onto a grid that nests: gdalwarp {SHIFTED_HINT}./-x.tif ./-x_on_grid.tif, then compare that (bilinear: "
        "its pixel size stays and the grid only moves; average where pixels grow))")
    run_printed(line, ", then compare")
    assert compare_json(capsys, reference, tmp_path / "-x_on_grid.tif")["rows"][0]["rmse"] < 1e-3


def test_a_mask_named_with_a_dash_is_printed_as_a_path(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    st, _, _, _ = landsat_like(tmp_path)
    (tmp_path / "mask20.tif").rename(fine_mask(tmp_path, 0, 1).with_name("-m.tif"))
    capsys.readouterr()
    assert mask("ST_B10.TIF", "./-m.tif", "-o", "masked.tif") == 2
    line = only_error(capsys)
    assert line.startswith("error: ./-m.tif: does not nest in the grid of ST_B10.TIF ")
    assert ("gdalwarp -r max -te 396705 5761215 399405 5763315 -tr 30 30 ./-m.tif mask_on_grid.tif (max: "
            in line), line
    run_printed(line, " (max")
    assert mask(st, "mask_on_grid.tif", "-o", "masked.tif", "--json") == 0
    assert json.loads(capsys.readouterr().out)["masked"] == 4


UTM33 = "EPSG:32633"


def landsat_crop(folder: Path) -> Path:
    """The brief's raster: an 80 x 80 crop (30 m, EPSG:32632) of the Landsat ST band."""
    lst = folder / "lst.tif"
    subprocess.run(["gdal_translate", "-q", "-srcwin", "100", "100", "80", "80", str(B10), str(lst)], check=True)
    return lst


def utm33_mask(lst: Path, folder: Path, background: int, flag: int) -> tuple[Path, np.ndarray]:
    """A 10 m mask in EPSG:32633 over ``lst``, flag ``flag`` on single pixels every 7 columns and rows
    (clouds a 30 m ``-r near`` warp mostly misses), and the centres (x, y) of those pixels in ``lst``'s CRS."""
    with rasterio.open(lst) as src:
        left, bottom, right, top = rasterio.warp.transform_bounds(src.crs, UTM33, *src.bounds)
        crs = src.crs
    x0, y0 = math.floor(left / 10) * 10 - 100, math.ceil(top / 10) * 10 + 100
    shape = (int((y0 - bottom) // 10) + 11, int((right - x0) // 10) + 11)
    data = np.full(shape, background, np.uint8)
    data[3::7, 2::7] = flag
    rows, cols = np.nonzero(data == flag)
    xs, ys = rasterio.warp.transform(CRS.from_string(UTM33), crs, list(x0 + 10 * cols + 5.0),
                                     list(y0 - 10 * rows - 5.0))
    path = folder / "mask33.tif"
    with rasterio.open(path, "w", driver="GTiff", width=shape[1], height=shape[0], count=1, dtype="uint8",
                       crs=UTM33, transform=Affine(10, 0, x0, 0, -10, y0)) as dst:
        dst.write(data, 1)
    return path, np.column_stack([xs, ys])


def pixels_under(lst: Path, points: np.ndarray) -> int:
    """How many pixels of ``lst`` hold at least one of ``points`` (x, y)."""
    with rasterio.open(lst) as src:
        rows, cols = rasterio.transform.rowcol(src.transform, points[:, 0], points[:, 1])
        inside = [(r, c) for r, c in zip(rows, cols) if 0 <= r < src.height and 0 <= c < src.width]
    return len(set(inside))


@needs_gdalwarp
@pytest.mark.skipif(not B10.is_file(), reason=f"no Landsat clip {B10.name}")
@pytest.mark.parametrize("background, flag, rule, warp", [
    (0, 1, (), "-r max -te 399705 5757915 402105 5760315 -tr 30 30 "),  # of mask_filled.tif (dbf35a7)
    (5, 3, ("--values", "3"), "-dstnodata 3 -r near -te 399705 5757915 402105 5760315 -tr 5 5 "),
])
def test_a_mask_in_another_crs_gets_the_full_warp(tmp_path: Path, capsys, monkeypatch, background: int, flag: int,
                                                   rule: tuple[str, ...], warp: str) -> None:
    """The brief's reproducer: the hint said only ``gdalwarp -r near``; following it flagged 0 pixels."""
    lst = landsat_crop(tmp_path)
    flags, centres = utm33_mask(lst, tmp_path, background, flag)
    out = tmp_path / "masked.tif"
    capsys.readouterr()
    assert mask(lst, flags, *rule, "-o", out) == 2
    line = only_error(capsys)
    source = flags if rule else "mask_filled.tif"  # a 0/1 mask is first copied on its own grid (dbf35a7)
    assert line.startswith(f"error: {flags}: CRS EPSG:32633 differs from that of {lst} (EPSG:32632) (hint: use the "
                           "mask delivered with the data, or "), line
    assert f"gdalwarp -t_srs EPSG:32632 {warp}{source} mask_on_grid.tif (" in line, line
    monkeypatch.chdir(tmp_path)
    run_mask_hint(line)
    assert mask(lst, tmp_path / "mask_on_grid.tif", *rule, "-o", out, "--json") == 0
    masked = json.loads(capsys.readouterr().out)["masked"]
    assert masked >= pixels_under(lst, centres) > 100  # every pixel a flag's centre lies in is masked


@needs_gdalwarp
def test_a_raster_crs_without_an_epsg_code_is_written_to_a_wkt_file(tmp_path: Path, capsys, monkeypatch) -> None:
    """A CRS no EPSG code is (a custom transverse Mercator): ``-t_srs`` reads it from a WKT file that
    gdalsrsinfo writes from the raster, and the warped mask's CRS is then the raster's."""
    monkeypatch.chdir(tmp_path)
    custom = CRS.from_proj4("+proj=tmerc +lat_0=0 +lon_0=9 +k=0.9995 +x_0=500000 +y_0=0 +datum=WGS84 +units=m")
    lst = raster(tmp_path / "lst.tif", np.full((20, 20), 300.0), origin=(X0, Y0), crs=custom)
    (x,), (y,) = rasterio.warp.transform(custom, CRS.from_epsg(32632), [X0 + 300], [Y0 - 300])  # its centre
    data = np.zeros((100, 100), np.uint8)
    data[50, 50] = 1
    write(tmp_path / "m.tif", data, transform=Affine(10, 0, round(x) - 500, 0, -10, round(y) + 500))
    capsys.readouterr()
    assert mask("lst.tif", "m.tif", "-o", "masked.tif") == 2
    line = only_error(capsys)
    assert "write the raster's CRS (gdalsrsinfo -o wkt lst.tif > raster_crs.wkt) and " in line, line
    assert ("gdalwarp -t_srs raster_crs.wkt -r max -te 396705 5762715 397305 5763315 -tr 30 30 mask_filled.tif "
            "mask_on_grid.tif (max: ") in line, line
    srsinfo = re.search(r"\((gdalsrsinfo .*?)\)", line).group(1)
    subprocess.run(srsinfo, shell=True, check=True)
    run_mask_hint(line)
    assert mask("lst.tif", "mask_on_grid.tif", "-o", "masked.tif", "--json") == 0
    assert 1 <= json.loads(capsys.readouterr().out)["masked"] <= 4  # the 30 m pixels the 10 m flag overlaps


def test_a_fill_float32_rounds_to_zero_is_refused(tmp_path: Path, capsys) -> None:
    """``--fill 1e-46`` on a float32 raster without nodata silently became nodata 0.0, a valid degC value."""
    lst = raster(tmp_path / "lst.tif", np.full((40, 40), 21.5), origin=(X0, Y0))
    flags = write(tmp_path / "m.tif", np.eye(40, dtype=np.uint8)[:, ::-1].copy(),
                  transform=Affine(30, 0, X0, 0, -30, Y0))
    out = tmp_path / "masked.tif"
    capsys.readouterr()
    assert mask(lst, flags, "--fill", "1e-46", "-o", out) == 2
    assert only_error(capsys) == (
        f"error: --fill: 1e-46 is no float32 number: {lst}'s masked pixels would get 0.0 (hint: leave out --fill "
        "(masked pixels get NaN), or give a value float32 holds (its smallest normal is 1.1754944e-38))")
    assert not out.exists()
    assert mask(lst, flags, "--fill", "1e-40", "-o", out) == 2  # digits lost in the subnormal range
    assert only_error(capsys).startswith("error: --fill: 1e-40 is no float32 number: ")
    assert mask(lst, flags, "--fill", "-999.9", "-o", out, "--json") == 0  # rounds to its float32: as stored
    assert json.loads(capsys.readouterr().out)["masked"] == 40


def test_a_candidate_in_another_crs_gets_the_full_warp_onto_the_reference(tmp_path: Path, capsys) -> None:
    """QA s3 F18: the hint said only 'warp it onto the reference's CRS with gdalwarp'; it is now the
    command onto the reference's CRS and pixel edges, and compare takes what it writes."""
    reference = raster(tmp_path / "ref.tif", np.full((40, 40), 300.0), origin=(X0, Y0))
    (x,), (y,) = rasterio.warp.transform(CRS.from_epsg(32632), CRS.from_string(UTM33), [X0], [Y0])
    candidate = raster(tmp_path / "cand.tif", np.full((50, 50), 300.0), res=10.0, origin=(round(x) - 100,
                       round(y) + 100), crs=CRS.from_string(UTM33), nodata=-9999.0)  # its turned corners
    capsys.readouterr()
    assert run(["compare", str(reference), str(candidate)]) == 2
    line = only_error(capsys)
    assert line == (
        f"error: {candidate}: CRS EPSG:32633 differs from {reference}'s (EPSG:32632) (hint: warp it onto a grid "
        "that nests: gdalwarp -t_srs EPSG:32632 -r average -te 396615 5762925 397125 5763435 -tr 15 15 "
        f"{candidate} {tmp_path / 'cand_on_grid.tif'}, then compare that (average: its pixels grow, so each "
        "becomes the mean of those it covers))")
    run_printed(line, ", then compare")
    assert compare_json(capsys, reference, tmp_path / "cand_on_grid.tif")["rows"][0]["rmse"] < 1e-3


@needs_gdalwarp
def test_a_reference_crs_without_an_epsg_code_is_written_to_a_wkt_file(tmp_path: Path, capsys,
                                                                       monkeypatch) -> None:
    """As mask's: an EPSG code only close to the reference's CRS would leave the warp refused again."""
    monkeypatch.chdir(tmp_path)
    custom = CRS.from_proj4("+proj=tmerc +lat_0=0 +lon_0=9 +k=0.9995 +x_0=500000 +y_0=0 +datum=WGS84 +units=m")
    raster(tmp_path / "ref.tif", np.full((20, 20), 300.0), origin=(X0, Y0), crs=custom)
    (x,), (y,) = rasterio.warp.transform(custom, CRS.from_epsg(32632), [X0], [Y0])
    raster(tmp_path / "cand.tif", np.full((30, 30), 300.0), origin=(round(x) - 150, round(y) + 150), nodata=-9999.0)
    capsys.readouterr()
    assert run(["compare", "ref.tif", "cand.tif"]) == 2
    line = only_error(capsys)
    assert ("(hint: write the reference's CRS (gdalsrsinfo -o wkt ref.tif > reference_crs.wkt) and warp it onto "
            "a grid that nests: gdalwarp -t_srs reference_crs.wkt -r ") in line, line
    subprocess.run(re.search(r"\((gdalsrsinfo .*?)\)", line).group(1), shell=True, check=True)
    run_printed(line, ", then compare")
    row = compare_json(capsys, tmp_path / "ref.tif", tmp_path / "cand_on_grid.tif")["rows"][0]
    assert row["rmse"] < 1e-3


@pytest.mark.parametrize("data, nodata, rule, fill, masked", [
    (np.full((20, 40), 5, np.uint8), None, ("--values", "3"), "-dstnodata 3 ", 800),  # a value the rule flags
    (np.zeros((20, 40), np.uint16), None, ("--bits", "3"), "-dstnodata 65535 ", 800),  # every bit set
])  # a 0/1 mask that does not cover is first copied on its own grid (dbf35a7): tests/test_mask_values_s4.py
def test_a_mask_that_does_not_cover_is_warped_with_the_rest_unknown(tmp_path: Path, capsys, data: np.ndarray,
                                                                    nodata: int | None, rule: tuple[str, ...],
                                                                    fill: str, masked: int) -> None:
    """QA s3 F18: the hint was 'gdalwarp -r near', which fills what the mask does not reach with 0
    (clear) where it declares no nodata: the uncovered half of the raster was masked nowhere (0 of 800)."""
    flags = write(tmp_path / "m.tif", data, nodata=nodata)  # clear, over the top half only
    lst = raster(tmp_path / "lst.tif", np.full((40, 40), 300.0), origin=(X0, Y0))
    out = tmp_path / "masked.tif"
    capsys.readouterr()
    assert mask(lst, flags, *rule, "-o", out) == 2
    line = only_error(capsys)
    method = "max" if not rule else "near"
    assert line.startswith(f"error: {flags}: does not cover the whole of {lst} (hint: use the mask delivered with "
                           f"the data, or warp it onto the raster's grid: gdalwarp {fill}-r {method} -te 396705 "
                           f"5762115 397905 5763315 -tr 30 30 {flags} mask_on_grid.tif ({method}"), line
    assert line.endswith(f"; {fill.strip()}: the part the mask does not reach is unknown, which groklst flags, not 0, "
                         "clear))" if fill else "drops flags))" if rule else "in it is))"), line
    run_printed(line.replace("mask_on_grid.tif", str(tmp_path / "mask_on_grid.tif")), " (")
    assert mask(lst, tmp_path / "mask_on_grid.tif", *rule, "-o", out, "--json") == 0
    assert json.loads(capsys.readouterr().out)["masked"] == masked  # the uncovered half, none of the clear one


@needs_gdalwarp
def test_a_mask_in_another_crs_reaching_part_of_the_raster_leaves_the_rest_unknown(tmp_path: Path, capsys,
                                                                                 monkeypatch) -> None:
    """Review R8: the other-CRS hint had no -dstnodata, so gdalwarp filled the part a partial mask
    does not reach with 0 (clear) and nothing there was masked."""
    monkeypatch.chdir(tmp_path)
    lst = raster(tmp_path / "lst.tif", np.full((40, 40), 300.0), origin=(396705, 5763315))
    (x,), (y,) = rasterio.warp.transform(CRS.from_epsg(32632), CRS.from_epsg(32633), [396705.0], [5763315.0])
    with rasterio.open(tmp_path / "m33.tif", "w", driver="GTiff", width=150, height=70, count=1, dtype="uint8",
                       crs="EPSG:32633", transform=rasterio.transform.from_origin(round(x) - 300, round(y) + 300,
                                                                                   10, 10)) as dst:
        dst.write(np.zeros((70, 150), np.uint8), 1)  # clear everywhere it reaches: the top of the raster
    capsys.readouterr()
    assert mask("lst.tif", "m33.tif", "-o", "masked.tif") == 2
    line = only_error(capsys)
    assert "gdalwarp -t_srs EPSG:32632 -r max " in line and "mask_filled.tif mask_on_grid.tif" in line, line
    run_mask_hint(line)
    assert mask("lst.tif", "mask_on_grid.tif", "-o", "masked.tif", "--json") == 0
    masked = json.loads(capsys.readouterr().out)["masked"]
    assert 800 < masked < 1600  # the part below the mask's reach (about two thirds), not 0


@needs_gdalwarp
def test_a_candidate_in_another_crs_without_nodata_is_not_scored_with_zeros(tmp_path: Path, capsys,
                                                                          monkeypatch) -> None:
    """Review R8: the box around a turned candidate has corners it does not reach, which gdalwarp
    filled with 0: a Celsius candidate identical to the reference scored RMSE 2.85 K, exit 0."""
    monkeypatch.chdir(tmp_path)
    raster(tmp_path / "ref.tif", np.full((40, 40), 288.15), origin=(396705, 5763315))
    (x,), (y,) = rasterio.warp.transform(CRS.from_epsg(32632), CRS.from_epsg(32633), [396705.0], [5763315.0])
    with rasterio.open(tmp_path / "cand.tif", "w", driver="GTiff", width=120, height=120, count=1, dtype="float32",
                       crs="EPSG:32633", transform=rasterio.transform.from_origin(round(x) - 100, round(y) + 100,
                                                                                   10, 10)) as dst:
        dst.write(np.full((1, 120, 120), 15.0, np.float32))  # 15 degC = 288.15 K, no nodata declared
    capsys.readouterr()
    assert run(["-q", "compare", "ref.tif", "cand.tif"]) == 2
    line = only_error(capsys)
    assert "gdalwarp -t_srs EPSG:32632 -dstnodata nan -r average " in line, line
    run_printed(line, ", then compare")
    scores = compare_json(capsys, Path("ref.tif"), Path("cand_on_grid.tif"))
    assert scores["rows"][0]["rmse"] < 1e-3, scores
