"""Hints that printed raw floats or named no command (fix round s3, F2).

compare named a float32 file's nodata as -999.9000244140625 where the user wrote -999.9; a
candidate whose nodata is NaN was told to declare its second fill in NaN's place; a few damaged
pixels got "set implausible values to its nodata" with no command; ``mask --fill`` said "the data
use every uint16 value" when only the two extremes were taken; ``--mask-implausible`` on a scene
with no plausible value gave a range without unit and no hint; and ``mask --values 1e-50`` on a
float32 mask flagged its zeros (1e-50 is 0 there). Each hint is pasted back to show it works.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.control import GroundControlPoint

from groklst_cli.app import run
from tests.test_review_round2_hints import compare_refused, one_error, reference  # noqa: F401 - a fixture

FILL = np.float32(-999.9)  # stored -999.9000244140625


def candidate(reference: Path, out: Path, nodata: float | None, edit=None) -> Path:
    """The reference as float32 with no hole, changed by ``edit`` (the array), declaring ``nodata``."""
    with rasterio.open(reference) as src:
        kelvin, profile = np.nan_to_num(src.read(1), nan=300.0).astype("float32"), src.profile
    if edit is not None:
        edit(kelvin)
    profile.update(dtype="float32", nodata=nodata)
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(kelvin, 1)
    return out


def paste_mask_hint(line: str, capsys: pytest.CaptureFixture[str]) -> Path:
    """Run the ``groklst mask ...`` command the hint gives, as pasted; the copy it wrote."""
    argv = shlex.split(re.search(r"groklst (mask .*? -o \S+?)[,)]", line).group(1))
    assert run(["-q", *argv]) == 0
    capsys.readouterr()
    return Path(argv[-1])


def stored(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


def test_a_float32_fill_is_named_as_typed_and_the_pasted_mask_matches_it(reference: Path, tmp_path: Path,
                                                                        capsys) -> None:
    def fills(a: np.ndarray) -> None:
        a[0:3], a[5:8] = -9999, FILL

    cand = candidate(reference, tmp_path / "c.tif", -9999, fills)
    line = compare_refused(reference, cand, capsys)
    copy = tmp_path / "c_masked.tif"
    assert line.endswith("looks like a fill value: the file already declares nodata -9999 (a GeoTIFF holds one), "
                         f"so set these pixels to it: groklst mask {cand} {cand} --values -999.9 -o {copy})")
    assert int(np.count_nonzero(stored(cand) == FILL)) == 180
    assert paste_mask_hint(line, capsys) == copy
    assert int(np.count_nonzero(stored(copy) == FILL)) == 0 and int(np.count_nonzero(stored(copy) == -9999)) == 360
    assert run(["-q", "compare", str(reference), str(copy)]) == 0


def test_a_float32_nodata_is_named_by_its_shortest_text(reference: Path, tmp_path: Path, capsys) -> None:
    def fills(a: np.ndarray) -> None:
        a[0:3], a[5:8] = FILL, np.float32(0.1)

    cand = candidate(reference, tmp_path / "c.tif", float(FILL), fills)
    line = compare_refused(reference, cand, capsys)
    assert "-999.9000244" not in line
    assert line.endswith("the file already declares nodata -999.9 (a GeoTIFF holds one), so set these pixels to "
                         f"it: groklst mask {cand} {cand} --values 0.1 -o {tmp_path / 'c_masked.tif'})")
    assert np.float32("-999.9") == stored(cand)[0, 0]  # the text read back as float32 is the stored nodata
    copy = paste_mask_hint(line, capsys)
    assert run(["-q", "compare", str(reference), str(copy)]) == 0


def test_float32_lowest_as_nodata_is_named_in_float_notation(reference: Path, tmp_path: Path, capsys) -> None:
    """Review R1: an integral nodata was printed through int(), so float32's lowest value came out
    as 39 digits (-340282346638528859811704183484516925440); the pasted command still matches."""
    lowest = float(np.finfo(np.float32).min)

    def fills(a: np.ndarray) -> None:
        a[0:3], a[5:8] = lowest, FILL

    cand = candidate(reference, tmp_path / "c.tif", lowest, fills)
    line = compare_refused(reference, cand, capsys)
    assert "the file already declares nodata -3.4028235e+38 (a GeoTIFF holds one)" in line
    assert "340282346638528859811704183484516925440" not in line
    copy = paste_mask_hint(line, capsys)
    assert run(["-q", "compare", str(reference), str(copy)]) == 0


def test_a_nan_nodata_with_a_second_fill_gets_the_mask_command(reference: Path, tmp_path: Path, capsys) -> None:
    def fills(a: np.ndarray) -> None:
        a[0:3], a[5:8] = np.nan, FILL

    cand = candidate(reference, tmp_path / "n.tif", float("nan"), fills)
    line = compare_refused(reference, cand, capsys)
    assert "gdal_edit" not in line
    assert line.endswith("looks like a fill value: the file already declares nodata NaN (a GeoTIFF holds one), so "
                         f"set these pixels to it: groklst mask {cand} {cand} --values -999.9 -o "
                         f"{tmp_path / 'n_masked.tif'})")
    copy = paste_mask_hint(line, capsys)
    assert int(np.count_nonzero(np.isnan(stored(copy)))) == 360
    assert run(["-q", "compare", str(reference), str(copy)]) == 0


def test_a_few_damaged_pixels_are_named_in_a_mask_command(reference: Path, tmp_path: Path, capsys) -> None:
    def damage(a: np.ndarray) -> None:
        a[10, 10], a[20, 20], a[30, 30] = 5000, -500, 1e6

    cand = candidate(reference, tmp_path / "d.tif", -9999, damage)
    line = compare_refused(reference, cand, capsys)
    assert line.endswith(f"(gdal_edit.py -a_nodata V -scale F -offset O {cand}), or set its implausible values to "
                         f"nodata: groklst mask {cand} {cand} --values -500.0,5000.0,1e+06 -o "
                         f"{tmp_path / 'd_masked.tif'})")
    copy = paste_mask_hint(line, capsys)
    assert int(np.count_nonzero(stored(copy) == -9999)) == 3
    assert run(["-q", "compare", str(reference), str(copy)]) == 0


def write(path: Path, array: np.ndarray, reference: Path) -> Path:
    with rasterio.open(reference) as src:
        profile = src.profile
    profile.update(dtype=array.dtype.name, nodata=None)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array, 1)
    return path


def test_mask_fill_names_a_free_value_when_only_the_extremes_are_taken(reference: Path, tmp_path: Path,
                                                                      capsys) -> None:
    dn = np.full((60, 60), 40000, np.uint16)
    dn[0, 0], dn[0, 1], dn[0, 2] = 0, 1, 65535
    raster = write(tmp_path / "dn.tif", dn, reference)
    qa_flags = np.zeros((60, 60), np.uint8)
    qa_flags[30:] = 1
    qa = write(tmp_path / "qa.tif", qa_flags, reference)
    out = tmp_path / "m.tif"
    assert run(["-q", "mask", str(raster), str(qa), "--fill", "65535", "-o", str(out)]) == 2
    assert one_error(capsys) == (
        f"error: --fill: 65535 occurs in 1 valid pixel(s) of {raster} that the mask does not flag: they would become "
        "nodata too (hint: the data span all of uint16's range (0..65535) but leave 65,532 values free: give one of "
        "them, e.g. --fill 65534)")
    assert not out.exists()
    assert run(["-q", "mask", str(raster), str(qa), "--fill", "65534", "-o", str(out)]) == 0
    with rasterio.open(out) as src:
        assert src.nodata == 65534 and int(src.read(1, masked=True).count()) == 1800


def test_no_plausible_value_with_mask_implausible_says_the_unit_and_what_to_pass(reference: Path, tmp_path: Path,
                                                                                capsys) -> None:
    assert run(["-q", "compare", "--mask-implausible", "--units", "celsius", str(reference), str(reference)]) == 2
    assert one_error(capsys) == (
        f"error: {reference}: no LST value lies in the plausible -120..120 degC (found LST values 288.055..324.463 "
        "degC) (hint: they look like Kelvin: pass --units kelvin)")
    hot = candidate(reference, tmp_path / "hot.tif", None, lambda a: a.fill(1000))
    assert run(["-q", "compare", "--mask-implausible", str(hot), str(reference)]) == 2
    assert one_error(capsys) == (
        f"error: {hot}: no LST value lies in the plausible 150..400 K (found LST values 1000..1000 K) (hint: check "
        "the unit (--units kelvin or celsius); the values may be stored in another encoding)")


def test_mask_values_a_float32_mask_cannot_hold_are_refused(reference: Path, tmp_path: Path, capsys) -> None:
    lst = candidate(reference, tmp_path / "lst.tif", None)
    flags = np.zeros((60, 60), np.float32)
    flags[0:2] = FILL
    qa = write(tmp_path / "qa.tif", flags, reference)
    out = tmp_path / "m.tif"
    assert run(["-q", "mask", str(lst), str(qa), "--values", "1e-50", "-o", str(out)]) == 2
    assert one_error(capsys) == (
        f"error: --values: 1e-50 is no float32 number: {qa}'s pixels would match it as 0.0 (hint: give a value the "
        "mask can hold, as it stores it: --values 0.0 if that is meant, else check the mask's values (gdalinfo "
        "-stats))")
    assert not out.exists()
    assert run(["-q", "mask", str(lst), str(qa), "--values", "1e-40", "-o", str(out)]) == 2  # digits lost
    assert one_error(capsys).startswith("error: --values: 1e-40 is no float32 number: ")  # (subnormal range)
    # any text that rounds to the stored number matches it: the shortest, the exact, and the
    # README's -999.9000244 (refused by 4251278's first check, which took only the first two)
    for typed in ("-999.9", "-999.9000244140625", "-999.9000244", "-999.900024414062"):
        assert run(["-q", "mask", str(lst), str(qa), "--values", typed, "-o", str(out), "--overwrite", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["masked"] == 120


def test_compare_names_a_candidate_placed_by_gcps(reference: Path, tmp_path: Path, capsys) -> None:
    """Not 'raster has no CRS': rasterio gives a GCP-placed file no CRS, and the hint warps it."""
    with rasterio.open(reference) as src:
        t, crs, width, height = src.transform, src.crs, src.width, src.height
    gcps = [GroundControlPoint(r, c, *(t @ (c, r))) for r, c in [(0, 0), (0, width), (height, 0), (height, width)]]
    out = tmp_path / "gcp.tif"
    with rasterio.open(out, "w", driver="GTiff", width=width, height=height, count=1, dtype="float32",
                       gcps=gcps, crs=crs) as dst:
        dst.write(np.full((height, width), 300, np.float32), 1)
    assert compare_refused(reference, out, capsys) == (
        f"error: {out}: has no geotransform, only GCPs (hint: warp it onto a grid first: gdalwarp -r near IN.tif "
        "OUT.tif (onto the GCPs' CRS))")


def test_a_file_with_its_own_scale_is_not_told_to_scale_again(tmp_path: Path, capsys) -> None:
    """Review R1: int16 hundredths of a kelvin declaring scale 0.01 with two damaged pixels were
    told 'if they are scaled integers, pass --scale-factor 0.01 ... (hundredths: 0.0005..3 degC)':
    the encoding guess ran on values the file's own scale had already scaled."""
    stored_values = (29000 + np.random.default_rng(0).integers(0, 1000, (40, 40))).astype("int16")
    stored_values[0, 0], stored_values[1, 1] = 5, 6
    lst = tmp_path / "s.tif"
    with rasterio.open(lst, "w", driver="GTiff", width=40, height=40, count=1, dtype="int16", crs="EPSG:32632",
                       transform=rasterio.transform.from_origin(400000, 5760000, 30, 30)) as dst:
        dst.write(stored_values, 1)
        dst.scales, dst.offsets = (0.01,), (0.0,)
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "--scale", "3", "-o", str(tmp_path / "o.tif")]) == 2
    line = one_error(capsys)
    assert line.startswith(f"error: {lst}: LST values 0.05..299.99 K are not all plausible")
    assert "--scale-factor 0.01 --offset" not in line and "hundredths" not in line
    assert "pass --mask-implausible" in line


def test_float32_lowest_as_a_mask_value_and_out_of_range_fills(tmp_path: Path, capsys) -> None:
    """Review R3: the mask command groklst's own hint printed for float32's lowest value
    (--values -3.4028235e+38, ArcGIS's float NoData) was refused as beyond ±3.403e+38, since
    -3.4028235e+38 as typed is a hair beyond it before rounding; and --fill 1e39 on a float32
    raster without nodata was an internal error (GDAL refused the nodata)."""
    lowest = np.finfo(np.float32).min
    stored_values = np.full((16, 16), 300, np.float32)
    stored_values[0, :3] = lowest
    profile = dict(driver="GTiff", width=16, height=16, count=1, dtype="float32", crs="EPSG:32632",
                   transform=rasterio.transform.from_origin(400000, 5760000, 30, 30))
    lst = tmp_path / "lst.tif"
    with rasterio.open(lst, "w", **profile) as dst:
        dst.write(stored_values, 1)
    out = tmp_path / "m.tif"
    assert run(["-q", "mask", str(lst), str(lst), "--values", str(lowest), "-o", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["masked"] == 3
    for option, value, problem in [("--values", "1e39", "cannot occur in"), ("--fill", "1e39", "cannot be stored in"),
                                   ("--fill", "-3.5e38", "cannot be stored in")]:
        other = tmp_path / f"o{value}.tif"
        extra = ["--values", "300"] if option == "--fill" else []
        assert run(["-q", "mask", str(lst), str(lst), *extra, option, value, "-o", str(other)]) == 2
        captured = capsys.readouterr()
        assert captured.err.splitlines() == [
            f"error: {option}: {float(value)!r} {problem} {lst}'s float32 pixels (hint: give "
            f"{'values' if option == '--values' else 'a value'} within ±3.4028235e+38 (the float32 range)"
            f"{', or nan' if option == '--fill' else ''})"]
        assert not other.exists()
