"""QA s4 F2: ``groklst mask`` on a float64 mask matches ``--values -999.9`` where GDAL widened a
float32 -999.9 to -999.9000244140625 (0 pixels flagged before), and the gdalwarp hint for a 0/1 mask
that declares a nodata rewrites it as 1 first: ``-r max`` (GDAL 3.6) skips nodata, so a pixel part
nodata and part 0 became clear. F15: that rewrite is a strict 0/1 Byte file with nodata 255 (a mask
with nodata 1 lost every flag), also for signed and float masks (a -32768 flag lost beside 0s). F18: a
mask's own mask band (internal, ``.msk``) and the part of a raster pixel a mask does not reach are
copied as flags (1) on the mask's own grid before ``-r max`` (0 of 9 and 30 of 40 flagged before)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.crs
import rasterio.warp
from affine import Affine

from tests.test_compare import raster
from tests.test_mask import TRANSFORM, mask, write

X0, Y0 = TRANSFORM.c, TRANSFORM.f
WIDENED = float(np.float32(-999.9))  # -999.9000244140625: a float32 -999.9 band converted to Float64


def lst(folder: Path, shape: tuple[int, int] = (4, 4), dtype: str = "float32", values: float = 300.0) -> Path:
    return raster(folder / "lst.tif", np.full(shape, values), origin=(X0, Y0), dtype=dtype)


def masked_count(capsys, *args: object) -> int:
    capsys.readouterr()
    assert mask(*args, "--json") == 0
    return json.loads(capsys.readouterr().out)["masked"]


@pytest.mark.parametrize("value, expected", [
    (-999.9, WIDENED), (-999.9000244, WIDENED),  # as typed, and as the README spells it
    (WIDENED, None),  # already the float32 number: matched as itself only
    (-999.90001, None), (16777217.0, None),  # float64 numbers that only round to a float32 one
    (1e-50, None), (1e39, None), (-999.0, None), (float("nan"), None),  # 0, inf, exact, no number
])
def test_a_value_is_widened_only_where_it_spells_its_float32_rounding(value: float, expected: float | None) -> None:
    from pipelines.masking import _widened_float32  # here: the other tests also run against the code before it

    assert _widened_float32(value) == expected


@pytest.mark.parametrize("given, masked", [("-999.9", 4), ("-999.9000244", 3)])
def test_a_float64_mask_matches_a_widened_float32_flag(tmp_path: Path, capsys, given: str, masked: int) -> None:
    """The reproducer: a float64 mask holding GDAL's widened -999.9 flagged 0 pixels (exit 0)."""
    data = np.zeros((4, 4))
    data[0, :3] = WIDENED
    data[1, 0] = -999.9  # a float64 -999.9 is the value as typed: matched too by -999.9
    data[2, 0] = -999.90001  # a genuine float64 value next to it: not the widened one, stays clear
    flags = write(tmp_path / "m.tif", data)
    assert masked_count(capsys, lst(tmp_path), flags, "--values", given, "-o", tmp_path / "out.tif") == masked


def test_the_exact_widened_value_does_not_match_the_float64_value_it_rounds(tmp_path: Path, capsys) -> None:
    data = np.zeros((4, 4))
    data[0, 0], data[0, 1], data[0, 2] = WIDENED, -999.9, 16777216.0
    flags = write(tmp_path / "m.tif", data)
    out = tmp_path / "out.tif"
    assert masked_count(capsys, lst(tmp_path), flags, "--values", repr(WIDENED), "-o", out) == 1
    assert masked_count(capsys, lst(tmp_path), flags, "--values", "16777217", "-o", out, "--overwrite") == 0


def test_a_fill_that_gdal_reads_in_the_pixels_is_refused(tmp_path: Path, capsys) -> None:
    """``--fill -999.9`` on a float64 raster holding a float32 -999.9 widened (-999.9000244140625): GDAL
    reads those pixels as nodata -999.9 (within two float32 epsilons), so all 16 became nodata, exit 0."""
    flags = write(tmp_path / "m.tif", np.eye(4, dtype=np.uint8))
    capsys.readouterr()
    for dtype in ("float32", "float64"):
        source = lst(tmp_path, dtype=dtype, values=WIDENED)
        assert mask(source, flags, "--fill", "-999.9", "-o", tmp_path / "out.tif") == 2
        assert f"--fill: -999.9 occurs in 12 valid pixel(s) of {source}" in capsys.readouterr().err
    assert not (tmp_path / "out.tif").exists()


def test_a_fill_gdal_tells_apart_is_kept(tmp_path: Path, capsys) -> None:
    """0.1000001 is no nodata 0.1 for GDAL (1e-6 apart): the pixels stay measurements."""
    flags = write(tmp_path / "m.tif", np.eye(4, dtype=np.uint8))
    out = tmp_path / "out.tif"
    assert masked_count(capsys, lst(tmp_path, dtype="float64", values=0.1000001), flags, "--fill", "0.1", "-o",
                        out) == 4
    with rasterio.open(out) as src:
        assert src.nodata == 0.1 and int(src.read(1, masked=True).count()) == 12


def hint_commands(line: str) -> list[str]:
    """The hint's commands in order: the bracketed gdalwarp and gdal_calc.py steps, then the last gdalwarp."""
    quoted = r'(?:[^()"]|"[^"]*")*?'  # a quoted --calc may hold parentheses
    steps = re.findall(rf"\((gdal(?:warp|_calc\.py) {quoted} (?:mask_filled\.tif|--outfile=mask_known\.tif))\)", line)
    return [*steps, re.search(r"(gdalwarp [^()]*? mask_on_grid\.tif) \(", line).group(1)]


def run_hint(line: str) -> None:
    """Run the hint's gdalwarp and gdal_calc.py commands as a shell would (cwd: where they write)."""
    if shutil.which("gdalwarp") is None or shutil.which("gdal_calc.py") is None:
        pytest.skip("GDAL's tools are not installed: the printed commands are not run")
    for command in hint_commands(line):
        tool, *args = shlex.split(command)
        subprocess.run([tool, "-q", *args] if tool == "gdalwarp" else [tool, *args], check=True,
                       stdout=subprocess.DEVNULL)


def filled(mask_name: object, extent: str, res: int) -> str:
    """The hint's first step: the mask on its own grid, unknown and unreached pixels a valid 1."""
    return (f"copy it on its own grid with its nodata, invalid pixels and what it does not reach as 1 (gdalwarp "
            f"-overwrite -r near -te {extent} -tr {res} {res} -dstnodata None -wo INIT_DEST=1 {mask_name} "
            "mask_filled.tif), ")


CALC = ('rewrite that as 0/1, every non-zero value as 1 (gdal_calc.py -A mask_filled.tif --calc="A!=0" --type=Byte '
        "--NoDataValue=255 --overwrite --outfile=mask_known.tif), ")
UNKNOWN_WHY = "-r max skips what is unknown or beyond the mask, so a pixel part unknown and part 0 read 0, clear"
NEGATIVE_WHY = "; -r max keeps the largest value, so a negative flag beside 0s read 0, clear"


@pytest.mark.parametrize("dtype, nodata", [("uint8", 255), ("int16", -1), ("float32", float("nan")),
                                           ("float32", -999.9)])
def test_the_warp_hint_keeps_a_pixel_part_nodata_flagged(tmp_path: Path, capsys, monkeypatch, dtype: str,
                                                         nodata: float) -> None:
    """A 10 m mask 5 m off the 30 m raster's grid: its nodata column 1 lies half in each of two 10 m
    pixels of the warped mask, beside 0s; ``-r max`` made them 0, so the raster's column 0 was clear."""
    monkeypatch.chdir(tmp_path)
    data = np.zeros((12, 14), dtype)
    data[:, 1] = nodata
    data[5, 8] = 1  # one flag: the raster's row 1, column 2
    flags = write(tmp_path / "m.tif", data, nodata=nodata, transform=Affine(10, 0, X0 - 5, 0, -10, Y0))
    source, out = lst(tmp_path), tmp_path / "out.tif"
    capsys.readouterr()
    assert mask(source, flags, "-o", out) == 2
    line = capsys.readouterr().err.strip()
    signed = dtype != "uint8"
    assert line == (
        f"error: {flags}: does not nest in the grid of {source} (offset of 0.50 pixel in x; the pixel sizes do "
        f"nest) (hint: use the mask delivered with the data, or {filled(flags, '396700 5763195 396830 5763315', 10)}"
        f"{CALC if signed else ''}then warp that onto the raster's grid: gdalwarp -r max -te 396705 5763195 396825 "
        f"5763315 -tr 10 10 {'mask_known' if signed else 'mask_filled'}.tif mask_on_grid.tif (max: a pixel is "
        f"flagged when any mask pixel in it is; rewritten first: {UNKNOWN_WHY}{NEGATIVE_WHY if signed else ''}))")
    run_hint(line)
    with rasterio.open("mask_on_grid.tif") as warped:
        assert warped.read(1)[:, :2].tolist() == [[1, 1]] * 12  # part nodata, part 0: flagged
    assert masked_count(capsys, source, tmp_path / "mask_on_grid.tif", "-o", out) == 4 + 1  # column 0, the flag


def test_the_rewritten_mask_leaves_what_it_does_not_reach_unknown(tmp_path: Path, capsys, monkeypatch) -> None:
    """A mask with nodata 9 over the raster's top half only: the bottom half is filled with 1 on the
    mask's own grid, so it is flagged, not 0, clear."""
    monkeypatch.chdir(tmp_path)
    flags = write(tmp_path / "m.tif", np.zeros((20, 40), np.uint8), nodata=9)
    source = lst(tmp_path, shape=(40, 40))
    capsys.readouterr()
    assert mask(source, flags, "-o", tmp_path / "out.tif") == 2
    line = capsys.readouterr().err.strip()
    assert (f"{filled(flags, '396705 5762115 397905 5763315', 30)}then warp that onto the raster's grid: gdalwarp "
            "-r max -te 396705 5762115 397905 5763315 -tr 30 30 mask_filled.tif mask_on_grid.tif (max: ") in line, line
    run_hint(line)
    assert masked_count(capsys, source, tmp_path / "mask_on_grid.tif", "-o", tmp_path / "out.tif") == 800


F32_MAX = float(np.finfo(np.float32).max)  # gdal_calc.py's Float32 default nodata (3.402823466e38) as stored


@pytest.mark.parametrize("covers", [True, False], ids=["covering", "top-only"])
@pytest.mark.parametrize("dtype, nodata, flag", [
    ("uint8", 1, 1),  # QA s4 F15: every flag was nodata on mask_known.tif, skipped
    ("uint8", 254, 255),  # its 255s were gdal_calc.py's Byte nodata, skipped
    ("uint8", 255, 1),
    ("uint16", 0, 65535),  # every clear 0 is nodata: all unknown, flagged
    ("int16", -32768, 1),
    ("int16", -1, -32768),  # a negative flag: max(0, -32768) read 0, clear
    ("int16", None, -32768),  # the same without nodata
    ("float32", float("nan"), F32_MAX),  # a flag holding its Float32 default
    ("float32", None, -1.0),
    ("uint8", None, 1),  # unsigned, no nodata: -r max keeps every flag, warped as it is where it covers
])
def test_the_warp_hint_keeps_every_flag_of_a_0_1_mask(tmp_path: Path, capsys, monkeypatch, dtype: str,
                                                      nodata: float | None, flag: float, covers: bool) -> None:
    """A 20 m mask over a 30 m raster, one cloud pixel holding ``flag`` and one pixel its nodata, beside
    0s. QA s4 F15: the rewrite kept the mask's nodata N declared, so with N == 1 every flag was skipped by
    ``-r max`` (masked 0, exit 0), and a negative flag lost to the 0s beside it. Now the nodata and the
    part a mask over the top 10 of 15 rows (200 m) does not reach are a valid 1 on the mask's own grid,
    so the raster's row 6 (180-210 m), part 0 and part unreached, is flagged too. A mask_known.tif
    from an earlier try is overwritten."""
    monkeypatch.chdir(tmp_path)
    raster(tmp_path / "mask_known.tif", np.zeros((3, 3)), origin=(X0, Y0), dtype="int32")  # an earlier try's
    data = np.zeros((15 if covers else 10, 15), dtype)  # top-only: 200 m, the raster's row 6 in part
    data[5, 5] = flag  # inside the raster's pixel (3, 3)
    if nodata is not None:
        data[0, 0] = nodata  # inside the raster's pixel (0, 0)
    flags = write(tmp_path / "m.tif", data, nodata=nodata, transform=Affine(20, 0, X0, 0, -20, Y0))
    source, out = lst(tmp_path, shape=(10, 10)), tmp_path / "out.tif"
    capsys.readouterr()
    assert mask(source, flags, "-o", out) == 2
    line = capsys.readouterr().err.strip()
    grid = "-r max -te 396705 5763015 397005 5763315 -tr 30 30"
    fills, signed = nodata is not None or not covers, dtype != "uint8" and dtype != "uint16"
    steps = (filled(flags, "396705 5763015 397005 5763315", 20) if fills else "") + (CALC if signed else "")
    if signed and not fills:
        steps = steps.replace("that", "it", 1).replace("-A mask_filled.tif", f"-A {flags}")
    source_name = "mask_known.tif" if signed else "mask_filled.tif" if fills else str(flags)
    assert (f"or {steps}{'then warp that' if steps else 'warp it'} onto the raster's grid: gdalwarp {grid} "
            f"{source_name} mask_on_grid.tif (max: ") in line, line
    assert "-dstnodata 255" not in line  # unreached pixels are a valid 1 on the mask's own grid
    run_hint(line)
    with rasterio.open("mask_on_grid.tif") as warped:
        assert set(np.unique(warped.read(1)).tolist()) <= {0, 1, flag, 255}  # 255: a value, never a fill
    if nodata == 0:  # no pixel left clear: refused, as for the mask itself
        assert mask(source, "mask_on_grid.tif", "-o", out, "--overwrite") == 3
        return
    expected = 1 + (nodata is not None) + (0 if covers else 40)  # the cloud; the nodata; rows 6-9, 6 part reached
    assert masked_count(capsys, source, tmp_path / "mask_on_grid.tif", "-o", out, "--overwrite") == expected


def test_the_rule_and_a_fill_clash_print_values_in_full(tmp_path: Path, capsys) -> None:
    """``--values -999.90001`` read "value -999.9" (``:g``) in the JSON rule and the mask_rule tag, and
    ``--fill 300`` refused "300 occurs" over a pixel holding 300.0001, which GDAL reads as 300."""
    data = np.zeros((4, 4))
    data[0, 0] = -999.90001
    flags, out = write(tmp_path / "m.tif", data), tmp_path / "out.tif"
    capsys.readouterr()
    assert mask(lst(tmp_path), flags, "--values", "-999.90001,3", "-o", out, "--json") == 0
    assert json.loads(capsys.readouterr().out)["rule"] == "values -999.90001,3"
    with rasterio.open(out) as src:
        assert src.tags()["mask_rule"] == "values -999.90001,3"
    values = np.full((4, 4), 250.0)
    values[3, 3] = 300.0001
    source = raster(tmp_path / "near.tif", values, origin=(X0, Y0), dtype="float32")
    assert mask(source, flags, "--values", "-999.90001", "--fill", "300", "-o", tmp_path / "o2.tif") == 2
    assert (f"--fill: 300 occurs in 1 valid pixel(s) of {source} (held as 300.0001, which GDAL reads as 300) that "
            "the mask does not flag: they would become nodata too (hint: leave out --fill (masked pixels get NaN), "
            "or give a value outside the data's range 250..300.0001)") in capsys.readouterr().err


def mask_with_invalid_block(folder: Path, dtype: str) -> Path:
    """A 20 m all-0 mask over the raster whose mask band marks 3 x 3 pixels (100-160 m) invalid."""
    flags = write(folder / "m.tif", np.zeros((15, 15), dtype), transform=Affine(20, 0, X0, 0, -20, Y0))
    with rasterio.open(flags, "r+") as dst:
        valid = np.full((15, 15), 255, np.uint8)
        valid[5:8, 5:8] = 0
        dst.write_mask(valid)
    return flags


@pytest.mark.parametrize("dtype", ["uint8", "int16"])
def test_the_warp_hint_flags_what_the_mask_band_marks_invalid(tmp_path: Path, capsys, monkeypatch, dtype: str) -> None:
    """QA s4 F18 (R6 rep1): a 20 m all-0 mask whose internal mask band marks 3 x 3 pixels (100-160 m)
    invalid. groklst flags the raster pixels over them on the raster's grid (9), but gdal_calc.py and
    a plain gdalwarp ignore a mask band: 0 flagged. The mask is now copied with them as 1 first."""
    monkeypatch.chdir(tmp_path)
    flags = mask_with_invalid_block(tmp_path, dtype)
    source = lst(tmp_path, shape=(10, 10))
    capsys.readouterr()
    assert mask(source, flags, "-o", tmp_path / "out.tif") == 2
    line = capsys.readouterr().err.strip()
    signed = dtype == "int16"
    assert (f"{filled(flags, '396705 5763015 397005 5763315', 20)}{CALC if signed else ''}then warp that onto the "
            "raster's grid: gdalwarp -r max -te 396705 5763015 397005 5763315 -tr 30 30 "
            f"{'mask_known' if signed else 'mask_filled'}.tif mask_on_grid.tif (max: ") in line, line
    run_hint(line)
    assert masked_count(capsys, source, tmp_path / "mask_on_grid.tif", "-o", tmp_path / "out.tif") == 9


def test_a_class_mask_with_a_mask_band_leaves_its_invalid_pixels_unknown(tmp_path: Path, capsys,
                                                                         monkeypatch) -> None:
    """The same for a class mask (--values 3, -r near): gdalwarp skips what the mask band marks invalid
    and wrote 0 there, clear; -dstnodata 3 leaves those pixels unknown (flagged)."""
    monkeypatch.chdir(tmp_path)
    flags = mask_with_invalid_block(tmp_path, "uint8")
    source = lst(tmp_path, shape=(10, 10))
    capsys.readouterr()
    assert mask(source, flags, "--values", "3", "-o", tmp_path / "out.tif") == 2
    line = capsys.readouterr().err.strip()
    assert (f"gdalwarp -dstnodata 3 -r near -te 396705 5763015 397005 5763315 -tr 15 15 {flags} mask_on_grid.tif "
            "(near, ") in line and "does not reach or marks invalid is unknown" in line, line
    if shutil.which("gdalwarp") is None:
        pytest.skip("GDAL's tools are not installed: the printed command is not run")
    command = re.search(r"(gdalwarp [^()]*? mask_on_grid\.tif) \(", line).group(1)
    subprocess.run(["gdalwarp", "-q", *shlex.split(command)[1:]], check=True)
    assert masked_count(capsys, source, tmp_path / "mask_on_grid.tif", "--values", "3", "-o",
                        tmp_path / "out.tif") == 9


@pytest.mark.parametrize("dtype, nodata", [("int16", -1), ("uint8", None)])
def test_a_raster_pixel_the_mask_only_partly_reaches_is_flagged(tmp_path: Path, capsys, monkeypatch, dtype: str,
                                                                 nodata: int | None) -> None:
    """QA s4 F18 (R6 rep2): an all-0 20 m mask over 200 m of a 300 m raster. Row 6 (180-210 m) is 2/3
    mask 0 and 1/3 beyond it: -r max skipped the unreached part (a nodata fill) and read 0, clear
    (30 flagged, not 40), with the rewrite's nodata 255 and with -dstnodata 255 alike."""
    monkeypatch.chdir(tmp_path)
    flags = write(tmp_path / "m.tif", np.zeros((10, 15), dtype), nodata=nodata,
                  transform=Affine(20, 0, X0, 0, -20, Y0))
    source = lst(tmp_path, shape=(10, 10))
    capsys.readouterr()
    assert mask(source, flags, "-o", tmp_path / "out.tif") == 2
    line = capsys.readouterr().err.strip()
    assert filled(flags, "396705 5763015 397005 5763315", 20) in line, line
    run_hint(line)
    with rasterio.open("mask_filled.tif") as copied:
        assert copied.nodata is None and copied.read(1)[10:].tolist() == [[1] * 15] * 5  # beyond: a valid 1
    assert masked_count(capsys, source, tmp_path / "mask_on_grid.tif", "-o", tmp_path / "out.tif") == 40


def test_a_mask_in_another_crs_flags_every_raster_pixel_it_does_not_wholly_reach(tmp_path: Path, capsys,
                                                                                monkeypatch) -> None:
    """A clear 10 m UTM 33 mask over the top of a 30 m UTM 32 raster: the old ``-dstnodata 255 -r max``
    left the raster pixels along its turned lower edge, part 0 and part unreached, clear (1130 flagged).
    Now every pixel not wholly inside the mask's footprint is flagged, as its corners say (1154)."""
    monkeypatch.chdir(tmp_path)
    utm32, utm33 = rasterio.crs.CRS.from_epsg(32632), rasterio.crs.CRS.from_epsg(32633)
    source = lst(tmp_path, shape=(40, 40))
    (x,), (y,) = rasterio.warp.transform(utm32, utm33, [X0], [Y0])
    grid = Affine(10, 0, round(x) - 300, 0, -10, round(y) + 300)
    with rasterio.open(tmp_path / "m33.tif", "w", driver="GTiff", width=150, height=70, count=1, dtype="uint8",
                       crs=utm33, transform=grid) as dst:
        dst.write(np.zeros((70, 150), np.uint8), 1)
    capsys.readouterr()
    assert mask(source, "m33.tif", "-o", tmp_path / "out.tif") == 2
    line = capsys.readouterr().err.strip()
    assert (f"{filled('m33.tif', '-14842 5787583 -13542 5788883', 10)}then warp that onto the raster's grid: gdalwarp "
            "-t_srs EPSG:32632 -r max -te 396705 5762115 397905 5763315 -tr 30 30 mask_filled.tif mask_on_grid.tif "
            "(max: ") in line, line
    rows, cols = np.mgrid[0:41, 0:41]
    xs, ys = rasterio.warp.transform(utm32, utm33, (X0 + cols * 30.0).ravel(), (Y0 - rows * 30.0).ravel())
    c, r = ~grid @ (np.array(xs), np.array(ys))
    inside = ((c >= 0) & (c <= 150) & (r >= 0) & (r <= 70)).reshape(41, 41)
    whole = inside[:-1, :-1] & inside[1:, :-1] & inside[:-1, 1:] & inside[1:, 1:]
    assert int((~whole).sum()) == 1154
    run_hint(line)
    assert masked_count(capsys, source, tmp_path / "mask_on_grid.tif", "-o", tmp_path / "out.tif") == 1154


def band_and_nodata(folder: Path, dtype: str, nodata: float, held: float) -> Path:
    """QA s4 F20 (review R8): a 20 m mask, 0 (clear) but for one pixel holding its ``nodata`` (``held``
    there: the raster's row 0, column 0) and one its own mask band marks invalid (row 4, column 4)."""
    data = np.full((12, 12), held, dtype)
    data[1, 1] = nodata
    flags = write(folder / "m.tif", data, nodata=nodata, transform=Affine(20, 0, X0 - 20, 0, -20, Y0 + 20))
    with rasterio.open(flags, "r+") as dst:
        valid = np.full((12, 12), 255, np.uint8)
        valid[6, 6] = 0
        dst.write_mask(valid)
    return flags


BAND_WHY = "; gdalwarp ignores a mask band beside a nodata unless -srcnodata None, so its invalid pixels read as stored"
FILLED_BAND = ("copy it on its own grid with its invalid pixels and what it does not reach as 1, its nodata as stored "
               "(gdalwarp -overwrite -r near -te 396705 5763135 396885 5763315 -tr 20 20 -srcnodata None -dstnodata "
               "None -wo INIT_DEST=1 m.tif mask_filled.tif), ")


@pytest.mark.parametrize("dtype, nodata, calc, masked", [
    ("uint8", 255, "", 2),  # its nodata 255 copied as stored: a flag under -r max
    ("int16", -1, "A!=0", 2),  # -1 copied, then rewritten as 1
    ("uint8", 0, "(A!=0)|(A==0)", 36),  # every 0 is nodata, so every pixel is unknown: flagged
])
def test_a_0_1_mask_with_a_mask_band_and_a_held_nodata_keeps_both(tmp_path: Path, capsys, monkeypatch, dtype: str,
                                                                   nodata: int, calc: str, masked: int) -> None:
    """GDAL 3.6's gdalwarp used the nodata and ignored the mask band, so the invalid pixel was copied as
    its stored 0, clear: 1 of 2 flagged, exit 0. ``-srcnodata None`` makes it honour the mask band; the
    nodata pixels then copied as stored flag (rewritten as 1 where they would not)."""
    monkeypatch.chdir(tmp_path)
    band_and_nodata(tmp_path, dtype, nodata, held=1 if nodata == 0 else 0)
    source = lst(tmp_path, shape=(6, 6))
    capsys.readouterr()
    assert mask(source, "m.tif", "-o", tmp_path / "out.tif") == 2
    line = capsys.readouterr().err.strip()
    also = " and its nodata 0" if nodata == 0 else ""
    rewrite = (f'rewrite that as 0/1, every non-zero value{also} as 1 (gdal_calc.py -A mask_filled.tif --calc="{calc}" '
               "--type=Byte --NoDataValue=255 --overwrite --outfile=mask_known.tif), ") if calc else ""
    whys = BAND_WHY + (NEGATIVE_WHY if dtype == "int16" else "")
    whys += "; the nodata 0, copied as stored, reads as clear" if nodata == 0 else ""
    assert (f"(hint: use the mask delivered with the data, or {FILLED_BAND}{rewrite}then warp that onto the raster's "
            "grid: gdalwarp -r max -te 396705 5763135 396885 5763315 -tr 30 30 "
            f"{'mask_known' if calc else 'mask_filled'}.tif mask_on_grid.tif (max: a pixel is flagged when any mask "
            f"pixel in it is; rewritten first: {UNKNOWN_WHY}{whys}))") in line, line
    run_hint(line)
    with rasterio.open("mask_on_grid.tif") as warped:
        assert np.count_nonzero(warped.read(1, masked=True).filled(1)) == masked
    if masked < 36:  # all 36 flagged: groklst writes nothing (exit 3), as on the mask itself
        assert masked_count(capsys, source, tmp_path / "mask_on_grid.tif", "-o", tmp_path / "out.tif") == masked


@pytest.mark.parametrize("dtype, nodata, fill", [("uint8", 255, "255"), ("float32", -999.9, "-999.9")])
def test_a_class_mask_with_a_mask_band_and_a_held_nodata_keeps_both(tmp_path: Path, capsys, monkeypatch, dtype: str,
                                                                     nodata: float, fill: str) -> None:
    """``--values 9``: no -dstnodata was given where the mask declares a nodata, and gdalwarp ignored the
    mask band, so the invalid pixel was copied as 0, clear (1 of 2). Now ``-srcnodata None -dstnodata``
    the mask's nodata: the invalid pixel is written as nodata, the nodata pixel copied as it."""
    monkeypatch.chdir(tmp_path)
    band_and_nodata(tmp_path, dtype, nodata, held=0)
    source = lst(tmp_path, shape=(6, 6))
    capsys.readouterr()
    assert mask(source, "m.tif", "--values", "9", "-o", tmp_path / "out.tif") == 2
    line = capsys.readouterr().err.strip()
    assert (f"warp it onto the raster's grid: gdalwarp -srcnodata None -dstnodata {fill} -r near -te 396705 5763135 "
            f"396885 5763315 -tr 15 15 m.tif mask_on_grid.tif (near, ") in line, line
    assert (f"; -srcnodata None: gdalwarp otherwise ignores a mask band beside a nodata and copies its invalid pixels "
            f"as stored; its nodata pixels are copied as {fill}, unknown too))") in line, line
    run_hint(line)
    assert masked_count(capsys, source, tmp_path / "mask_on_grid.tif", "--values", "9", "-o",
                        tmp_path / "out.tif") == 2
