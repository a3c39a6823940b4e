"""``groklst mask``: LST pixels a mask flags become nodata; nothing else in the file changes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS
from scipy import ndimage

from groklst_cli.app import run

UTM = CRS.from_epsg(32632)
TRANSFORM = Affine(30.0, 0.0, 396_705.0, 0.0, -30.0, 5_763_315.0)
LANDSAT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "landsat-muenster"
# Landsat Collection-2 QA_PIXEL words: clear land; high-confidence cloud (bit 3); shadow (bit 4);
# dilated cloud (bit 1); fill (bit 0, the file's nodata)
CLEAR, CLOUD, SHADOW, DILATED, FILL = 21824, 22280, 23888, 21826, 1


def write(path: Path, data: np.ndarray, nodata: float | None = None, transform: Affine = TRANSFORM,
          **extra) -> Path:
    profile = dict(driver="GTiff", width=data.shape[1], height=data.shape[0], count=1, dtype=data.dtype.name,
                   crs=UTM, transform=transform, nodata=nodata)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
        if "scale" in extra:
            dst.scales, dst.offsets = (extra["scale"],), (extra["offset"],)
        if "tags" in extra:
            dst.update_tags(**extra["tags"])
    return path


def landsat_like(folder: Path) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """A uint16 ST band (scale/offset metadata, nodata 0, PixelIsPoint) and its QA_PIXEL."""
    rows, cols = np.mgrid[0:70, 0:90]
    dn = (40_000 + 60 * rows + 40 * cols).astype(np.uint16)  # 285.7 K rising to 306.9 K
    dn[:, :3] = 0  # fill
    qa = np.full(dn.shape, CLEAR, np.uint16)
    qa[dn == 0] = FILL
    qa[10:20, 10:30] = CLOUD
    qa[40:45, 5:60] = SHADOW
    qa[30, 30:40] = DILATED
    st = write(folder / "ST_B10.TIF", dn, nodata=0, scale=0.00341802, offset=149.0,
               tags={"AREA_OR_POINT": "Point"})
    return st, write(folder / "QA_PIXEL.TIF", qa, nodata=FILL), dn, qa


def mask(*args: str | Path) -> int:
    return run(["-q", "mask", *map(str, args)])


def test_qa_bits_set_the_flagged_pixels_to_the_lst_nodata_and_keep_everything_else(tmp_path: Path, capsys) -> None:
    st, qa_path, dn, qa = landsat_like(tmp_path)
    out = tmp_path / "masked.tif"
    capsys.readouterr()
    assert mask(st, qa_path, "-o", out, "--bits", "3,4", "--json") == 0
    line = json.loads(capsys.readouterr().out)
    flagged = ((qa == CLOUD) | (qa == SHADOW)) & (dn != 0)
    assert line["masked"] == flagged.sum() == 200 + 5 * 55 - 0 and line["valid_before"] == (dn != 0).sum()
    assert line["status"] == "ok" and line["rule"] == "bits 3,4 set"
    with rasterio.open(out) as src, rasterio.open(st) as orig:
        data = src.read(1)
        assert src.dtypes[0] == "uint16" and src.nodata == 0
        assert src.transform == orig.transform and src.crs == orig.crs
        assert src.scales == orig.scales and src.offsets == orig.offsets
        assert src.tags()["AREA_OR_POINT"] == "Point" and src.tags()["mask_rule"] == "bits 3,4 set"
        assert src.tags()["masked_pixels"] == str(line["masked"])
    assert (data[flagged] == 0).all()
    np.testing.assert_array_equal(data[~flagged], dn[~flagged])  # bit for bit
    # dilated cloud (bit 1) too
    assert mask(st, qa_path, "-o", tmp_path / "more.tif", "--bits", "1,3,4") == 0
    with rasterio.open(tmp_path / "more.tif") as src:
        assert (src.read(1)[30, 30:40] == 0).all()


def test_without_a_rule_any_nonzero_or_nodata_mask_pixel_flags(tmp_path: Path) -> None:
    lst = np.linspace(280, 310, 60 * 50, dtype=np.float32).reshape(60, 50)
    cloud = np.zeros(lst.shape, np.uint8)
    cloud[5:15, 5:15] = 1
    cloud[50:, 40:] = 255  # the mask's own nodata: cloud state unknown
    lst_path = write(tmp_path / "lst.tif", lst)  # no nodata declared: flagged pixels become NaN
    mask_path = write(tmp_path / "cloud.tif", cloud, nodata=255)
    out = tmp_path / "out.tif"
    assert mask(lst_path, mask_path, "-o", out) == 0
    with rasterio.open(out) as src:
        data = src.read(1)
        assert np.isnan(src.nodata)
    assert np.isnan(data[cloud != 0]).all() and np.isnan(data).sum() == 100 + 100
    np.testing.assert_array_equal(data[cloud == 0], lst[cloud == 0])


def test_values_flag_class_codes(tmp_path: Path) -> None:
    lst = np.full((20, 20), 300.0, np.float32)
    classes = np.tile(np.arange(20, dtype=np.float32) % 5, (20, 1))
    lst_path = write(tmp_path / "lst.tif", lst, nodata=-9999.0)
    out = tmp_path / "out.tif"
    assert mask(lst_path, write(tmp_path / "classes.tif", classes), "-o", out, "--values", "3,4") == 0
    with rasterio.open(out) as src:
        data = src.read(1)
    assert (data[np.isin(classes, (3, 4))] == -9999).all() and (data[classes < 3] == 300).all()


def test_the_masked_lst_downscales_to_nodata_under_the_clouds(tmp_path: Path) -> None:
    st, qa_path, dn, qa = landsat_like(tmp_path)
    out = tmp_path / "masked.tif"
    assert mask(st, qa_path, "-o", out, "--bits", "3,4") == 0
    fine = tmp_path / "fine.tif"
    assert run(["-q", "downscale", str(out), "--model", "bicubic", "--scale", "2", "-o", str(fine)]) == 0
    with rasterio.open(fine) as src:
        data = src.read(1)
    cloud = np.kron((qa == CLOUD) | (qa == SHADOW) | (dn == 0), np.ones((2, 2), bool))
    assert np.isnan(data[cloud]).all() and np.isfinite(data[~cloud]).all()
    kelvin = dn[~((qa == CLOUD) | (qa == SHADOW) | (dn == 0))] * 0.00341802 + 149.0
    assert kelvin.min() - 1 < np.nanmin(data) and np.nanmax(data) < kelvin.max() + 1


@pytest.mark.parametrize("args, fragment", [
    (["--bits", "16"], "bit(s) [16] do not exist in a 16-bit mask"),
    (["--values", "3.5"], "3.5 cannot occur in"),
    (["--bits", "3,x"], "is not a comma-separated list of integers"),
    (["--bits", "3", "--fill", "5"], "--fill: 5 differs from the nodata value 0"),
])
def test_bad_rules_are_refused_in_one_line(tmp_path: Path, capsys, args: list[str], fragment: str) -> None:
    st, qa_path, _, _ = landsat_like(tmp_path)
    out = tmp_path / "out.tif"
    capsys.readouterr()
    assert mask(st, qa_path, "-o", out, *args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], lines
    assert not out.exists() and not list(tmp_path.glob(".out.tif*"))


def test_bad_inputs_are_refused_and_nothing_is_written(tmp_path: Path, capsys) -> None:
    st, qa_path, dn, qa = landsat_like(tmp_path)
    shifted = write(tmp_path / "shifted.tif", qa, nodata=FILL, transform=TRANSFORM @ Affine.translation(1, 0))
    half = write(tmp_path / "half.tif", qa, nodata=FILL, transform=TRANSFORM @ Affine.translation(0.5, 0))
    coarse_25 = write(tmp_path / "c25.tif", qa[::2, ::2].copy(), nodata=FILL, transform=TRANSFORM @ Affine.scale(25 / 30))
    far_half = write(tmp_path / "far_half.tif", np.vstack([np.full((600, 90), CLEAR, np.uint16), qa]), nodata=FILL,
                     transform=TRANSFORM @ Affine.translation(0.5, -600))  # tolerances once grew with the offset
    sliding = write(tmp_path / "sliding.tif", qa, nodata=FILL, transform=TRANSFORM @ Affine.scale(30.02 / 30))
    float_mask = write(tmp_path / "float.tif", qa.astype(np.float32))
    no_nodata = write(tmp_path / "dn.tif", dn)
    other_crs = tmp_path / "crs.tif"
    with rasterio.open(qa_path) as src, rasterio.open(other_crs, "w", **{**src.profile, "crs": CRS.from_epsg(32633)}) as dst:
        dst.write(src.read())
    no_crs_qa, no_crs_st = tmp_path / "no_crs_qa.tif", tmp_path / "no_crs_st.tif"
    for source, target in ((qa_path, no_crs_qa), (st, no_crs_st)):
        with rasterio.open(source) as src, rasterio.open(target, "w", **{**src.profile, "crs": None}) as dst:
            dst.write(src.read())
    out = tmp_path / "out.tif"
    for args, fragment in (
        ([st, no_crs_qa, "--bits", "3"], "no_crs_qa.tif: has no CRS"),
        ([no_crs_st, qa_path, "--bits", "3"], "no_crs_st.tif: has no CRS"),
        ([st, shifted, "--bits", "3"], "does not cover the whole of"),
        ([st, half, "--bits", "3"], "does not nest in the grid of"),
        ([st, other_crs, "--bits", "3"], "CRS EPSG:32633 differs"),
        ([st, coarse_25, "--bits", "3"], "pixel size 25 x 25 m against 30 x 30 m: one must be a whole multiple"),
        ([st, far_half, "--bits", "3"], "does not nest in the grid of"),
        ([st, sliding, "--bits", "3"], "does not nest in the grid of"),
        ([st, float_mask, "--bits", "3"], "bit flags need an integer mask"),
        ([no_nodata, qa_path, "--bits", "3"], "declares no nodata value and stores uint16"),
        ([no_nodata, qa_path, "--bits", "3", "--fill", "-1"], "-1 cannot be stored"),
        ([st, st, "--bits", "3", "-o", st, "--overwrite"], "the output is one of the inputs"),
    ):
        capsys.readouterr()
        extra = [] if "-o" in args else ["-o", out]
        assert mask(*args, *extra) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and fragment in lines[0], (fragment, lines)
        assert not out.exists()
    with rasterio.open(st) as src:
        np.testing.assert_array_equal(src.read(1), dn)  # the input untouched
    assert mask(no_nodata, qa_path, "--bits", "3", "--fill", "0", "-o", out) == 0
    with rasterio.open(out) as src:
        assert src.nodata == 0 and (src.read(1)[qa == CLOUD] == 0).all()
    capsys.readouterr()
    assert mask(st, qa_path, "--bits", "3", "-o", out) == 2  # exists, no --overwrite
    assert "output already exists" in capsys.readouterr().err


def test_a_mask_that_flags_everything_writes_nothing_and_exits_3(tmp_path: Path, capsys) -> None:
    st, qa_path, _, _ = landsat_like(tmp_path)
    out = tmp_path / "out.tif"
    capsys.readouterr()
    assert mask(st, qa_path, "-o", out, "--values", f"{CLEAR},{CLOUD},{SHADOW},{DILATED}", "--json") == 3
    captured = capsys.readouterr()
    line = json.loads(captured.out)
    # QA: "output" was null though -o was given, and the message was both the error and a warning
    assert (line["input"], line["output"], line["status"], line["warnings"]) == (str(st), str(out), "empty", [])
    assert line["error"].startswith(f"{st}: the mask flags every valid pixel")
    assert captured.err.strip() == f"warning: {line['error']}"  # an empty scene's own line is its error
    assert not out.exists() and not list(tmp_path.glob(".out.tif*"))
    empty = write(tmp_path / "empty.tif", np.zeros((70, 90), np.uint16), nodata=0)
    assert mask(empty, qa_path, "-o", out, "--bits", "3") == 3
    assert "has no valid pixel to mask" in capsys.readouterr().err and not out.exists()


def test_a_real_landsat_date_masked_reads_as_before(tmp_path: Path) -> None:
    """A real ST clip (float32 degC, -9999, PixelIsPoint): the masked copy is the same scene to
    every command, with the flagged pixels nodata."""
    files = sorted(LANDSAT.glob("*_ST_B10.TIF")) if LANDSAT.is_dir() else []
    if not files:
        pytest.skip(f"no Landsat clip in {LANDSAT}")
    with rasterio.open(files[0]) as src:
        values, profile = src.read(1), src.profile
    cloud = np.zeros(values.shape, np.uint8)
    cloud[100:180, 200:320] = 1
    mask_path = tmp_path / "cloud.tif"
    with rasterio.open(mask_path, "w", **{**profile, "dtype": "uint8", "nodata": None}) as dst:
        dst.write(cloud, 1)
    out = tmp_path / "masked.tif"
    assert mask(files[0], mask_path, "-o", out) == 0
    with rasterio.open(out) as src:
        masked = src.read(1)
        assert src.transform == profile["transform"] and src.tags()["AREA_OR_POINT"] == "Point"
    assert (masked[cloud == 1] == -9999).all()
    np.testing.assert_array_equal(masked[cloud == 0], values[cloud == 0])
    for name, path in (("orig", files[0]), ("masked", out)):
        assert run(["-q", "downscale", str(path), "--model", "bicubic", "--scale", "2",
                    "-o", str(tmp_path / f"{name}_fine.tif")]) == 0
    with rasterio.open(tmp_path / "orig_fine.tif") as a, rasterio.open(tmp_path / "masked_fine.tif") as b:
        orig_fine, masked_fine = a.read(1), b.read(1)
        assert a.tags()["units"] == b.tags()["units"] == "degC" and a.transform == b.transform
    hidden = np.kron(cloud == 1, np.ones((2, 2), bool))
    assert np.isnan(masked_fine[hidden]).all()
    near = ndimage.binary_dilation(cloud == 1, iterations=3)  # bicubic reads 2 LR px around
    far = np.kron(~near, np.ones((2, 2), bool))
    np.testing.assert_allclose(masked_fine[far], orig_fine[far], atol=1e-3)  # tiles blend in float32


def test_a_mask_on_a_nesting_grid_flags_the_pixels_it_covers(tmp_path: Path) -> None:
    """A 20 m classification over 10 m bands (Sentinel-2 SCL), or a finer mask: the flags are
    carried onto the raster's pixels (a pixel flagged when any mask pixel in it is)."""
    guidance = np.stack([np.full((40, 60), 100.0 * b, np.float32) for b in (1, 2, 3)])
    transform = Affine(10.0, 0.0, 400_000.0, 0.0, -10.0, 5_760_000.0)
    path = tmp_path / "guidance.tif"
    with rasterio.open(path, "w", driver="GTiff", width=60, height=40, count=3, dtype="float32", crs=UTM,
                       transform=transform, nodata=-1.0) as dst:
        dst.write(guidance)
        dst.descriptions = ("blue", "green", "red")
    # 20 m classes, one pixel beyond the bands on the west and north (it must only cover them)
    scl = np.full((22, 32), 4, np.uint8)
    scl[3, 5] = 9  # 20 m pixel (3, 5) -> 10 m rows 4-5, columns 8-9 (one 20 m pixel of margin)
    coarse = write(tmp_path / "scl.tif", scl, transform=Affine(20.0, 0.0, 399_980.0, 0.0, -20.0, 5_760_020.0))
    out = tmp_path / "out.tif"
    assert mask(path, coarse, "-o", out, "--values", "8,9,10") == 0
    with rasterio.open(out) as src:
        data = src.read()
        assert src.descriptions == ("blue", "green", "red") and src.count == 3
    flagged = np.zeros((40, 60), bool)
    flagged[4:6, 8:10] = True
    assert (data[:, flagged] == -1).all() and (data[:, ~flagged] == guidance[:, ~flagged]).all()
    # a 2 m cloud mask, 5 x finer: one fine pixel flags the 10 m pixel it lies in
    fine = np.zeros((200, 300), np.uint8)
    fine[57, 123] = 1  # -> 10 m pixel (11, 24)
    fine_path = write(tmp_path / "fine.tif", fine, transform=Affine(2.0, 0.0, 400_000.0, 0.0, -2.0, 5_760_000.0))
    assert mask(path, fine_path, "-o", tmp_path / "fine_out.tif") == 0
    with rasterio.open(tmp_path / "fine_out.tif") as src:
        data = src.read()
    assert (data[:, 11, 24] == -1).all() and (data == -1).sum() == 3
