"""The GDAL commands groklst prints to fix an unusable guidance, run as printed (QA s3).

Before: the ``gdal_edit.py -a_nodata inf FILE`` hint replaced a file's own nodata (0, a
Sentinel-2 fill), so its fill pixels read as data and downscale exited 0 with wrong pixels;
with +inf in one band and -inf in another each refusal's -a_nodata undid the last; the
gdal_calc.py rewrite dropped scale/offset without saying so; the netCDF extraction and the
'assign a CRS' commands broke on a path with a space or named no file at all."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from groklst_cli.app import run
from pipelines.errors import InputError
from pipelines.geotiff import read_values, write_raster
from pipelines.sample_scene import generate_scene, write_scene

INF_PIXELS = ((10, 12), (11, 12), (50, 7))  # guidance (row, column) made unusable in band 3
FILL = (slice(0, 20), slice(0, 38))  # guidance pixels holding the file's own nodata 0 in every band
SCALES = (0.5, 0.25, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
OFFSETS = (-1.0, 0.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(LST, clean 10-band float32 guidance) on 40x40 / 120x120 pixels."""
    folder = tmp_path_factory.mktemp("hints")
    return write_scene(generate_scene((40, 40), seed=4), folder, name="s")


def variant(guidance: Path, out: Path, values: dict[tuple[int, int, int], float], *, nodata: float | None = None,
            fill: bool = False, dtype: str = "float32", scaled: bool = False) -> Path:
    """A copy of ``guidance`` as ``dtype`` with ``values`` at (band, row, column), 0 in FILL when
    ``fill``, nodata ``nodata``, and SCALES/OFFSETS declared (the stored values then undo them) when ``scaled``."""
    with rasterio.open(guidance) as src:
        stack, crs, transform, names = src.read().astype(dtype), src.crs, src.transform, src.descriptions
    if scaled:
        for band, (scale, offset) in enumerate(zip(SCALES, OFFSETS)):
            stack[band] = (stack[band] - offset) / scale
    if fill:
        stack[:, FILL[0], FILL[1]] = 0
    for (band, row, col), value in values.items():
        stack[band - 1, row, col] = value
    with rasterio.open(out, "w", driver="GTiff", width=120, height=120, count=len(stack), dtype=dtype, crs=crs,
                       transform=transform) as dst:  # not write_raster: it writes float32
        dst.write(stack)
        dst.descriptions = names
        if nodata is not None:
            dst.nodata = nodata
        if scaled:
            dst.scales, dst.offsets = SCALES, OFFSETS
    return out


def infinities(signs: tuple[float, ...] = (np.inf, -np.inf, np.inf),
               band: int = 3) -> dict[tuple[int, int, int], float]:
    """``signs`` at INF_PIXELS of ``band``."""
    return {(band, row, col): sign for (row, col), sign in zip(INF_PIXELS, signs)}


def refusal(lst: Path, guidance: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """The one error line downscale (bicubic) writes for ``guidance``, after checking it refused."""
    capsys.readouterr()
    assert run(["-q", "downscale", str(lst), "-g", str(guidance), "--model", "bicubic",
                "-o", str(tmp_path / "refused.tif")]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def run_printed(line: str, pattern: str, file: Path, fixed: Path) -> None:
    """Run the command ``pattern`` finds in ``line`` as printed, FILE and FIXED.tif filled in."""
    command = re.search(pattern, line).group(1)
    args = shlex.split(command.replace("FILE", shlex.quote(str(file))).replace("FIXED.tif", shlex.quote(str(fixed))))
    subprocess.run(args, check=True, capture_output=True)


def downscaled(lst: Path, guidance: Path, out: Path) -> np.ndarray:
    """Bicubic downscale of ``lst`` with ``guidance`` (its bands named as the scene's), which must succeed."""
    names = "dem,deepblue,blue,green,red,vre,nir,ndmvi,ndvi,ndwi"
    assert run(["-q", "downscale", str(lst), "-g", str(guidance), "--model", "bicubic", "--guidance-bands", names,
                "--hole-margin", "0", "-o", str(out)]) == 0
    with rasterio.open(out) as src:
        return src.read(1)


def guidance_values(path: Path) -> np.ndarray:
    """Every band of ``path`` as groklst reads it: scaled, NaN where nodata."""
    with rasterio.open(path) as src:
        return read_values(src, list(range(1, 11)), Window(0, 0, 120, 120), path, dtype=np.float64)


def separate_vrt(folder: Path, profile: dict, bands: list[tuple[str, str]]) -> Path:
    """``folder/mixed.vrt`` stacking the one-band files ``bands`` ((GDAL data type, name in
    ``folder``)) on ``profile``'s grid: a file whose bands differ in data type."""
    t = profile["transform"]
    sources = "".join(
        f'<VRTRasterBand dataType="{kind}" band="{i}"><SimpleSource><SourceFilename>{folder / name}'
        f"</SourceFilename><SourceBand>1</SourceBand></SimpleSource></VRTRasterBand>"
        for i, (kind, name) in enumerate(bands, start=1))
    vrt = folder / "mixed.vrt"
    vrt.write_text(f'<VRTDataset rasterXSize="{profile["width"]}" rasterYSize="{profile["height"]}">'
                   f'<SRS>{profile["crs"].to_wkt()}</SRS>'
                   f"<GeoTransform>{t.c}, {t.a}, 0, {t.f}, 0, {t.e}</GeoTransform>{sources}</VRTDataset>")
    return vrt


CALC = r"(gdal_calc\.py -A FILE .*? --outfile=FIXED\.tif)"
LIMIT = "where(abs(float64(A)) > 3.4028234663852886e+38, nan, A)"  # float32's limit, whatever was found


def test_a_file_with_its_own_nodata_is_not_told_to_replace_it(scene, tmp_path: Path, capsys) -> None:
    lst, guidance = scene
    bad = variant(guidance, tmp_path / "bad.tif", infinities((np.inf,) * 3), nodata=0.0, fill=True)
    line = refusal(lst, bad, tmp_path, capsys)
    assert "-a_nodata" not in line
    assert ("(+inf): 3 pixels in rows 0..119, columns 0..119 (the part read so far), the first at row 10, column 12; "
            "infinity is no value and no nodata (hint: set them to nodata (a GeoTIFF declares one nodata, and "
            "declaring them would make the file's own (0.0) read as data): gdal_calc.py -A FILE --allBands=A "
            '--calc="where(isinf(A), nan, A)" --outfile=FIXED.tif (gdal_calc.py keeps only grid, projection and '
            "nodata: give the band names again (--guidance-bands, or NAME1,NAME2=FILE to groklst guidance)))") in line


@pytest.mark.skipif(shutil.which("gdal_calc.py") is None, reason="needs GDAL's gdal_calc.py")
def test_the_printed_rewrite_keeps_the_fill_pixels_nodata(scene, tmp_path: Path, capsys) -> None:
    """gdal_calc.py writes its own nodata (3.4028235e+38) where the file held 0: still nodata,
    so downscale gives what a correctly built file (NaN at the infinities, nodata 0) gives."""
    lst, guidance = scene
    bad = variant(guidance, tmp_path / "bad.tif", infinities((np.inf,) * 3), nodata=0.0, fill=True)
    fixed = tmp_path / "fixed.tif"
    run_printed(refusal(lst, bad, tmp_path, capsys), CALC, bad, fixed)
    correct = variant(guidance, tmp_path / "correct.tif", infinities((np.nan,) * 3), nodata=0.0, fill=True)
    values = guidance_values(fixed)
    np.testing.assert_array_equal(values, guidance_values(correct))
    assert np.isnan(values[:, FILL[0], FILL[1]]).all()  # -a_nodata inf made these 760 pixels data
    np.testing.assert_array_equal(downscaled(lst, fixed, tmp_path / "a.tif"),
                                  downscaled(lst, correct, tmp_path / "b.tif"))


def test_signs_in_different_bands_get_only_the_rewrite(scene, tmp_path: Path, capsys) -> None:
    """+inf in band 3 and -inf in band 4: -a_nodata inf, then -inf, then inf... never ended."""
    lst, guidance = scene
    both = {**infinities((np.inf,) * 3), **infinities((-np.inf,) * 3, band=4)}
    bad = variant(guidance, tmp_path / "bad.tif", both)
    line = refusal(lst, bad, tmp_path, capsys)
    assert "holds infinite values (+inf): 3 pixels" in line and "-a_nodata" not in line
    assert ("(hint: set them to nodata (the file holds -inf and +inf, and a GeoTIFF declares one nodata): "
            'gdal_calc.py -A FILE --allBands=A --calc="where(isinf(A), nan, A)" --outfile=FIXED.tif') in line
    with rasterio.open(bad) as src, pytest.raises(InputError) as refused:  # one read of several bands
        read_values(src, [3, 4], Window(0, 0, 120, 120), bad)
    assert "-a_nodata" not in str(refused.value) and "the file holds -inf and +inf" in str(refused.value)
    declared = variant(guidance, tmp_path / "declared.tif", infinities((-np.inf,) * 3, band=4), nodata=np.inf)
    assert "-a_nodata" not in refusal(lst, declared, tmp_path, capsys)  # after -a_nodata inf: not -a_nodata -inf


def test_one_sign_in_a_file_without_nodata_still_gets_the_lossless_route(scene, tmp_path: Path, capsys) -> None:
    lst, guidance = scene
    bad = variant(guidance, tmp_path / "bad.tif", infinities((-np.inf,) * 3))
    assert "(hint: declare them nodata: gdal_edit.py -a_nodata -inf FILE, or set them to nodata: gdal_calc.py" in (
        refusal(lst, bad, tmp_path, capsys))


def test_beyond_float32_values_in_different_bands_get_only_the_rewrite(scene, tmp_path: Path, capsys) -> None:
    lst, guidance = scene
    values = {(3, 10, 12): 1e39, (4, 50, 7): 2e39}
    line = refusal(lst, variant(guidance, tmp_path / "wide.tif", values, dtype="float64"), tmp_path, capsys)
    assert "-a_nodata" not in line
    assert ("(hint: set them to nodata (the file holds +1e+39 and +2e+39, and a GeoTIFF declares one nodata): "
            'gdal_calc.py -A FILE --allBands=A --calc="where(abs(float64(A)) > 3.4028234663852886e+38, nan, A)" '
            "--outfile=FIXED.tif") in line
    fill = variant(guidance, tmp_path / "fill.tif", {(3, 10, 12): 1e39}, dtype="float64", nodata=0.0)
    line = refusal(lst, fill, tmp_path, capsys)
    assert "-a_nodata" not in line and "would make the file's own (0.0) read as data" in line


def test_the_rewrite_of_a_scaled_file_says_how_to_restore_its_scaling(scene, tmp_path: Path, capsys) -> None:
    lst, guidance = scene
    line = refusal(lst, variant(guidance, tmp_path / "bad.tif", infinities(), scaled=True), tmp_path, capsys)
    assert ("(--guidance-bands, or NAME1,NAME2=FILE to groklst guidance); it drops scale/offset too: "
            "restore them with gdal_edit.py -scale 0.5 0.25 2.0 1.0 1.0 1.0 1.0 1.0 1.0 1.0 "
            "-offset -1.0 0.0 3.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 FIXED.tif))") in line


@pytest.mark.skipif(shutil.which("gdal_calc.py") is None or shutil.which("gdal_edit.py") is None,
                    reason="needs GDAL's gdal_calc.py and gdal_edit.py")
def test_the_printed_commands_give_a_scaled_file_groklst_reads_as_the_correct_one(scene, tmp_path: Path,
                                                                                  capsys) -> None:
    """Without the gdal_edit.py step the stored numbers read as values (band 1 doubled, ...)."""
    lst, guidance = scene
    bad = variant(guidance, tmp_path / "bad.tif", infinities(), scaled=True)
    line = refusal(lst, bad, tmp_path, capsys)
    fixed = tmp_path / "fixed.tif"
    run_printed(line, CALC, bad, fixed)
    run_printed(line, r"restore them with (gdal_edit\.py -scale .*? FIXED\.tif)", bad, fixed)
    correct = variant(guidance, tmp_path / "correct.tif", infinities((np.nan,) * 3), scaled=True)
    np.testing.assert_array_equal(guidance_values(fixed), guidance_values(correct))
    np.testing.assert_array_equal(downscaled(lst, fixed, tmp_path / "a.tif"),
                                  downscaled(lst, correct, tmp_path / "b.tif"))


def test_a_raster_without_crs_is_told_the_command_with_its_name(scene, tmp_path: Path, capsys) -> None:
    lst, guidance = scene
    folder = tmp_path / "my data"
    folder.mkdir()
    bare = folder / "no crs.tif"
    with rasterio.open(guidance) as src:
        write_raster(bare, src.read(), crs=None, transform=src.transform, descriptions=list(src.descriptions))
    line = refusal(lst, bare, tmp_path, capsys)
    assert line.startswith(f"error: {bare}: raster has no CRS (hint: assign one with gdal_edit.py -a_srs "
                           f"EPSG:XXXX '{bare}')")
    if shutil.which("gdal_edit.py") is not None:
        with rasterio.open(lst) as src:
            epsg = src.crs.to_string()
        subprocess.run(shlex.split(re.search(r"hint: assign one with (.*?)\)", line).group(1).replace(
            "EPSG:XXXX", epsg)), check=True, capture_output=True)
        downscaled(lst, bare, tmp_path / "out.tif")


def test_the_netcdf_extraction_command_is_quoted(tmp_path: Path, capsys) -> None:
    xr = pytest.importorskip("xarray")
    folder = tmp_path / "my data"
    folder.mkdir()
    two = folder / "two vars.nc"
    values = np.arange(12 * 16, dtype=np.float32).reshape(12, 16)
    xr.Dataset({"LST": (("y", "x"), values), "QC": (("y", "x"), np.zeros((12, 16), np.int16))},
               coords={"y": 5000 - 30 * np.arange(12), "x": 400000 + 30 * np.arange(16)}
               ).to_netcdf(two, engine="scipy")
    out = tmp_path / "o.tif"
    assert run(["-q", "downscale", str(two), "--model", "bicubic", "--scale", "3", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    name = f"netcdf:{two}:LST"
    assert err.endswith(f"(hint: give one by its name, e.g. '{name}', or extract it: gdal_translate '{name}' "
                        "'two vars_LST.tif')\n"), err
    if shutil.which("gdal_translate") is not None:
        command = re.search(r"extract it: (gdal_translate .*)\)$", err.strip()).group(1)
        subprocess.run(shlex.split(command), check=True, capture_output=True, cwd=tmp_path)
        with rasterio.open(tmp_path / "two vars_LST.tif") as src, rasterio.open(name) as variable:
            np.testing.assert_array_equal(src.read(1), variable.read(1))


def test_an_integer_file_is_rewritten_to_floats_so_its_nan_is_nodata(scene, tmp_path: Path, capsys) -> None:
    """Review R6: on an int16 file the rewrite wrote NaN as 0, a valid value, and the next run
    exited 0 with the bad pixels read as data. The hint now makes gdal_calc.py write floats."""
    lst, guidance = scene
    with rasterio.open(guidance) as src:
        profile = {**src.profile, "count": 1, "dtype": "int16", "nodata": None}
    stored_values = np.full((120, 120), 1000, np.int16)
    stored_values[5, 5], stored_values[6, 6] = 30000, -32768  # review R7: abs() of int16 -32768 is -32768
    bad = tmp_path / "i.tif"
    with rasterio.open(bad, "w", **profile) as dst:
        dst.write(stored_values, 1)
        dst.scales, dst.offsets = (1e35,), (0.0,)
    capsys.readouterr()
    assert run(["-q", "guidance", str(lst), f"v={bad}", "--scale", "3", "-o", str(tmp_path / "g.tif")]) == 2
    line = capsys.readouterr().err.strip()
    assert ('--calc="where(abs(float64(A) * 1e+35) > 3.4028234663852886e+38, nan, A)" --type=Float32 '
            "--outfile=FIXED.tif") in line, line  # float32's limit in that scaling, not the least value found
    if shutil.which("gdal_calc.py") is None or shutil.which("gdal_edit.py") is None:
        pytest.skip("running the printed commands needs GDAL's gdal_calc.py and gdal_edit.py")
    fixed = tmp_path / "fixed.tif"
    run_printed(line, CALC, bad, fixed)
    run_printed(line, r"(gdal_edit\.py -scale .*? FIXED\.tif)", bad, fixed)
    out = tmp_path / "g.tif"
    assert run(["-q", "guidance", str(lst), f"v={fixed}", "--scale", "3", "-o", str(out)]) == 0
    with rasterio.open(fixed) as src:
        values = read_values(src, [1], Window(0, 0, 120, 120), fixed, dtype=np.float64)[0]
    assert np.isnan(values[5, 5]) and np.isnan(values[6, 6]) and int(np.isnan(values).sum()) == 2
    assert values[0, 0] == pytest.approx(1e38, rel=1e-6)


def test_a_refusal_in_a_vrt_of_bands_of_different_types_names_the_file(scene, tmp_path: Path, capsys) -> None:
    """Review R6: building the hint read every band at once, which rasterio refuses for bands of
    different data types: an internal error (exit 1) instead of the refusal naming the file."""
    lst, guidance = scene
    with rasterio.open(guidance) as src:
        profile = {**src.profile, "count": 1, "nodata": None}
    floats = np.full((120, 120), 0.2, np.float32)
    floats[5, 5] = np.inf
    with rasterio.open(tmp_path / "f.tif", "w", **{**profile, "dtype": "float32"}) as dst:
        dst.write(floats, 1)
    with rasterio.open(tmp_path / "u8.tif", "w", **{**profile, "dtype": "uint8"}) as dst:
        dst.write(np.full((120, 120), 7, np.uint8), 1)
    vrt = separate_vrt(tmp_path, profile, [("Float32", "f.tif"), ("Byte", "u8.tif")])
    capsys.readouterr()
    assert run(["-q", "guidance", str(lst), str(vrt), "--scale", "3", "-o", str(tmp_path / "g.tif")]) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith(f"error: {vrt}: band 1") and "holds infinite values (+inf)" in line, line


def test_a_file_with_float64_and_integer_bands_is_rewritten_to_float64(scene, tmp_path: Path, capsys) -> None:
    """Review R7: --type=Float32, chosen from the integer band alone, turned the float64 band's
    values beyond float32 into +inf. The VRT carries no <Scale>, so its 4e38 are read unscaled:
    beyond float32 too, and since a32f827 the same one rewrite makes them NaN with the inf."""
    lst, guidance = scene
    with rasterio.open(guidance) as src:
        profile = {**src.profile, "count": 1, "nodata": None}
    wide = np.full((120, 120), 4e38)
    wide[5, 5] = np.inf
    with rasterio.open(tmp_path / "f.tif", "w", **{**profile, "dtype": "float64"}) as dst:
        dst.write(wide, 1)
        dst.scales, dst.offsets = (1e-3,), (0.0,)
    with rasterio.open(tmp_path / "i.tif", "w", **{**profile, "dtype": "int16"}) as dst:
        dst.write(np.full((120, 120), 7, np.int16), 1)
    vrt = separate_vrt(tmp_path, profile, [("Float64", "f.tif"), ("Int16", "i.tif")])
    capsys.readouterr()
    assert run(["-q", "guidance", str(lst), f"a,b={vrt}", "--scale", "3", "-o", str(tmp_path / "g.tif")]) == 2
    line = capsys.readouterr().err.strip()
    assert f'--calc="{LIMIT}" --type=Float64 --outfile=FIXED.tif' in line, line
