"""QA MG: mask says which nesting condition fails and how to warp the mask onto the raster's
grid; guidance warns about a listed class that never occurs (its all-zero band is still
written); mask's help names its arguments in lower case like the other commands."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.warp import Resampling, reproject

from groklst_cli.app import run
from pipelines.guidance import GuidanceOptions, GuidanceWarning, build_guidance, parse_source
from tests.test_mask import CLOUD, FILL, TRANSFORM, landsat_like, mask, write

LANDSAT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "landsat-muenster"
T1 = LANDSAT / "LC08_L2SP_196024_20240813_20240822_02_T1_ST_B10.TIF"
LANDCOVER = LANDSAT / "S2_landcover_rf_10m.tif"
B11 = LANDSAT / "S2_B11_20m.tif"
real_data = pytest.mark.skipif(not (T1.is_file() and LANDCOVER.is_file() and B11.is_file()),
                               reason=f"no Landsat/Sentinel-2 clips in {LANDSAT}")


def only_error(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def warp_as_hinted(line: str, out: Path) -> None:
    """Do what the hint's gdalwarp command says (-r near onto -te/-tr), with rasterio."""
    left, bottom, right, top, xres, yres = map(float, re.search(
        r"-te (\S+) (\S+) (\S+) (\S+) -tr (\S+) (\S+) ", line).groups())
    width, height = round((right - left) / xres), round((top - bottom) / yres)
    transform = Affine(xres, 0, left, 0, -yres, top)
    with rasterio.open(LANDCOVER) as src:
        data = np.zeros((height, width), src.dtypes[0])
        reproject(src.read(1), data, src_transform=src.transform, src_crs=src.crs, dst_transform=transform,
                  dst_crs=src.crs, resampling=Resampling.nearest)
        profile = {**src.profile, "width": width, "height": height, "transform": transform}
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(data, 1)


@real_data
def test_a_half_pixel_origin_offset_is_named_and_the_hinted_warp_makes_the_mask_nest(tmp_path: Path,
                                                                                  capsys) -> None:
    out = tmp_path / "x.tif"
    capsys.readouterr()
    assert mask(T1, LANDCOVER, "--values", "2", "-o", out) == 2
    line = only_error(capsys)
    assert line == (
        f"error: {LANDCOVER}: does not nest in the grid of {T1} (offset of 0.50 pixel in x; the pixel sizes "
        "do nest) (hint: use the mask delivered with the data, or warp it onto the raster's grid: gdalwarp "
        f"-dstnodata 2 -r near -te 396705 5747415 415005 5763315 -tr 10 10 {LANDCOVER} mask_on_grid.tif (near, at a "
        "pixel size no coarser than the mask's: class codes and QA bits must not be maxed or averaged, and -r near "
        "onto coarser pixels drops flags; -dstnodata 2: the part the mask does not reach is unknown, which groklst "
        "flags, not 0, clear))")  # the map starts 5 m inside the scene's west edge
    assert not out.exists()
    aligned = tmp_path / "mask_on_grid.tif"
    warp_as_hinted(line, aligned)
    assert mask(T1, aligned, "--values", "2", "-o", out, "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["masked"], report["valid_before"]) == (4357, 323048)  # water: 1.3 % of the scene


@real_data
def test_a_pixel_size_that_does_not_divide_is_named_and_the_hint_warps_to_the_raster_pixel(tmp_path: Path,
                                                                                        capsys) -> None:
    capsys.readouterr()
    assert mask(T1, B11, "-o", tmp_path / "x.tif") == 2
    assert only_error(capsys) == (
        f"error: {B11}: does not nest in the grid of {T1} (pixel size 20 x 20 m against 30 x 30 m: one must "
        "be a whole multiple of the other, the same in x and y) (hint: use the mask delivered with the data, "
        "or copy it on its own grid with its nodata, invalid pixels and what it does not reach as 1 (gdalwarp "
        "-overwrite -r near -te 396700 5747400 415020 5763320 -tr 20 20 -dstnodata None -wo INIT_DEST=1 "
        f"{B11} mask_filled.tif), rewrite that as 0/1, every non-zero value as 1 (gdal_calc.py -A mask_filled.tif "
        "--calc=\"A!=0\" --type=Byte --NoDataValue=255 --overwrite --outfile=mask_known.tif), then warp that onto "
        "the raster's grid: gdalwarp -r max -te 396705 5747415 415005 5763315 -tr 30 30 mask_known.tif "
        "mask_on_grid.tif (max: a pixel is flagged when any mask pixel in it is; rewritten first: -r max skips "
        "what is unknown or beyond the mask, so a pixel part unknown and part 0 read 0, clear; -r max keeps the "
        "largest value, so a negative flag beside 0s read 0, clear))")  # B11 starts 15 m inside: its edge pixels are partly unknown (dbf35a7); float32: flags may be negative


def test_an_origin_offset_in_y_is_named_in_pixels_of_the_finer_grid(tmp_path: Path, capsys) -> None:
    st, _, _, qa = landsat_like(tmp_path)
    fine = np.repeat(np.repeat(qa, 3, axis=0), 3, axis=1)
    shifted = write(tmp_path / "fine.tif", fine, nodata=FILL,
                    transform=TRANSFORM @ Affine.scale(1 / 3) @ Affine.translation(0, -0.25))
    capsys.readouterr()
    assert mask(st, shifted, "--bits", "3", "-o", tmp_path / "x.tif") == 2
    assert "(offset of 0.25 pixel in y; the pixel sizes do nest) (hint: " in only_error(capsys)
    aligned = write(tmp_path / "aligned.tif", fine, nodata=FILL, transform=TRANSFORM @ Affine.scale(1 / 3))
    assert mask(st, aligned, "--bits", "3", "-o", tmp_path / "x.tif", "--json") == 0
    assert json.loads(capsys.readouterr().out)["masked"] == int((qa == CLOUD).sum()) == 200


def test_mask_help_names_its_arguments_in_lower_case_like_compare(capsys) -> None:
    capsys.readouterr()
    assert run(["mask", "--help"]) == 0
    text = capsys.readouterr().out
    assert "Usage: groklst mask [OPTIONS] {raster} {mask}" in text and "MASK" not in text
    assert run(["compare", "--help"]) == 0
    assert "Usage: groklst compare [OPTIONS] {reference} {candidates}..." in capsys.readouterr().out


@real_data
def test_a_listed_class_absent_from_the_map_warns_and_its_zero_band_is_still_written(tmp_path: Path) -> None:
    out = tmp_path / "g.tif"
    spec = parse_source(f"landcover={LANDCOVER}", categorical=True)
    with pytest.warns(GuidanceWarning) as said:
        report = build_guidance(T1, [spec], out, GuidanceOptions(scale=3, class_values=(1, 2, 3, 4, 5)))
    note = (f"class 5 never occurs in {LANDCOVER} over the LST footprint: band landcover_5 is 0 "
            "wherever the map has data (written anyway, so that every scene gets the same bands; leave the "
            "class out of --class-values if unwanted)")
    assert [str(w.message) for w in said] == [note] and report.warnings == [note]
    with rasterio.open(out) as src:
        assert src.descriptions == tuple(f"landcover_{v}" for v in range(1, 6))
        bands = src.read()
    assert (bands[4] == 0).all()
    np.testing.assert_allclose(bands.sum(axis=0), 1.0, atol=1e-5)  # classes 1-4 cover every fine pixel
    assert [round(float(b.mean()), 3) for b in bands[:4]] == [0.112, 0.007, 0.202, 0.68]


@real_data
def test_classes_that_all_occur_and_mode_bands_give_no_class_warning(tmp_path: Path) -> None:
    spec = parse_source(f"landcover={LANDCOVER}", categorical=True)
    for options in (GuidanceOptions(scale=3, class_values=(1, 2, 3, 4)),
                    GuidanceOptions(scale=3, classes="mode", class_values=(1, 2, 3, 4, 5))):
        with warnings.catch_warnings():
            warnings.simplefilter("error", GuidanceWarning)
            report = build_guidance(T1, [spec], tmp_path / f"{options.classes}.tif", options)
        assert report.warnings == []


@real_data
def test_the_cli_prints_the_class_warning_and_lists_it_in_json(tmp_path: Path, capsys) -> None:
    capsys.readouterr()
    assert run(["guidance", str(T1), "--categorical", f"landcover={LANDCOVER}", "--class-values", "1,2,5,9",
                "--scale", "3", "-o", str(tmp_path / "g.tif"), "--json"]) == 0
    captured = capsys.readouterr()
    note = (f"classes 5, 9 never occur in {LANDCOVER} over the LST footprint: bands landcover_5, "
            "landcover_9 are 0 wherever the map has data")
    assert f"warning: {note}" in captured.err
    assert [w for w in json.loads(captured.out)["warnings"] if note in w]


def test_a_tiny_origin_miss_is_not_said_as_0_00_or_1_00_pixel() -> None:
    """QA R6: a grid 0.0033 px off was refused as 'offset of 1.00 pixel' (mask) or '0.00' (compare)."""
    from pipelines.grids import offset_words

    assert offset_words(10.0033, "x") == "offset of 0.0033 pixel in x"
    assert offset_words(9.9967, "y") == "offset of 0.0033 pixel in y"
    assert offset_words(3.75, "x", "guidance pixel") == "offset of 0.25 guidance pixel in x"
