"""The LST value rule: the refusal hint for integer LST (which known encodings would make the
values typical), and fill values named and matched as the band stores them."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window

from groklst_cli.app import run
from pipelines import lst_values
from pipelines.errors import InputError
from pipelines.lst_values import (LstDecoding, LstScan, Remedy, check_plausible, decode_values, reading_from_tags,
                                  reading_tags)
from pipelines.units import Units


def integer_scene(kelvin_low: float, kelvin_high: float, factor: float, offset: float) -> LstScan:
    """A scan of integers that ``factor * dn + offset`` turns into kelvin_low..kelvin_high K."""
    kelvin = np.linspace(kelvin_low, kelvin_high, 1000)
    dn = np.round((kelvin - offset) / factor)
    return LstScan(dn.size, float(dn.min()), float(dn.max()), dn, dtype=np.dtype("uint16"))


def hint(found: LstScan) -> str:
    with pytest.raises(InputError) as refused:
        check_plausible(found, Units.kelvin, LstDecoding(), "lst.tif")
    return str(refused.value)


@pytest.mark.parametrize(
    "factor, offset, named",
    [
        (0.02, 0.0, "--scale-factor 0.02 --offset 0.0 (MODIS, VIIRS and ECOSTRESS LST: 280..320 K)"),
        (0.1, 0.0, "--scale-factor 0.1 --offset 0.0 (tenths: 280..320 K)"),
        (0.00341802, 149.0,
         "--scale-factor 0.00341802 --offset 149.0 (Landsat Collection-2 ST: 280..320 K)"),
    ],
)
def test_the_hint_names_the_encoding_that_gives_typical_temperatures(
        factor: float, offset: float, named: str) -> None:
    message = hint(integer_scene(280, 320, factor, offset))
    assert "look like unscaled digital numbers: pass " + named in message
    # tenths of a kelvin read as typical hundredths of a degree Celsius too: both are named
    assert message.count("--scale-factor") == (2 if factor == 0.1 else 1)


def test_an_ambiguous_scene_gets_every_encoding_that_fits() -> None:
    # Hundredths of a kelvin at 290-300 K read as a cold 250-252 K under Landsat's factors.
    message = hint(integer_scene(290, 300, 0.01, 0.0))
    assert "Landsat Collection-2 ST: 248" in message and "(hundredths: 290..300 K)" in message


def test_integers_no_known_encoding_explains_get_no_factors_that_would_give_wrong_values() -> None:
    """QA: Landsat's factors were named as an example, and passing them wrote 154..166 K with exit 0."""
    found = LstScan(3, 2_000_000.0, 3_000_000.0, np.array([2e6, 2.5e6, 3e6]), dtype=np.dtype("uint16"))
    message = hint(found)
    assert message.endswith("(hint: values like these look like unscaled digital numbers, but no known encoding "
                            "turns them into typical temperatures: pass your product's --scale-factor and --offset)")


@pytest.mark.parametrize("factor, named", [
    (0.01, "pass --scale-factor 0.01 --offset 0.0 --units celsius (hundredths: 16.9..50 degC)"),
    (0.1, "--scale-factor 0.1 --offset 0.0 --units celsius (tenths: 16.9..50 degC)"),
])
def test_scaled_celsius_integers_get_the_factor_and_unit_that_read_them(factor: float, named: str) -> None:
    """QA: hundredths of a degree Celsius got Landsat's factors (154..166 K written with exit 0), and
    tenths, which read as 169..500 K, only the advice to mask the implausible ones."""
    stored = np.round(np.linspace(16.9, 50.0, 200) / factor)
    found = LstScan(stored.size, float(stored.min()), float(stored.max()), stored, dtype=np.dtype("int16"))
    message = hint(found)
    assert named in message and "Landsat" not in message
    if factor == 0.1:  # as stored they read as typical Kelvin, only some too hot: both causes named
        assert message.endswith("; else the file may be damaged: pass --mask-implausible to treat implausible "
                                "values as nodata)")


def fill_scene(path: Path, dtype: str, fill: float, scale: float = 1.0) -> Path:
    """A 300 K scene whose top rows hold an undeclared fill value, stored as ``dtype``."""
    values = np.full((12, 10), 300.0 / scale)
    values[:4] = fill
    with rasterio.open(path, "w", driver="GTiff", width=10, height=12, count=1, dtype=dtype,
                       crs="EPSG:32632", transform=Affine(30, 0, 400_000, 0, -30, 5_760_000)) as dst:
        dst.write(values.astype(dtype), 1)
        dst.scales = (scale,)
    return path


@pytest.mark.parametrize(
    "dtype, fill, named, scale",
    [
        ("float32", -999.9, "-999.9", 1.0),  # stored as -999.9000244140625
        ("float32", -327.68, "-327.68", 1.0),
        ("float32", 9.96921e36, "9.96921e+36", 1.0),  # netCDF's default fill
        ("float32", -3.40282e38, "-3.40282e+38", 1.0),
        ("float64", -999.9, "-999.9", 1.0),
        ("float64", float(np.float32(-999.9)), "-999.9000244140625", 1.0),  # a float32 fill kept in float64
        ("int16", -32768, "-32768", 1.0),
        ("uint16", 65535, "65535", 0.02),  # in stored units, not 65535 * 0.02 = 1310.7
    ],
)
def test_the_named_fill_value_is_one_that_nodata_accepts(
        tmp_path: Path, capsys, dtype: str, fill: float, named: str, scale: float) -> None:
    """The hint's value, typed as ``--nodata V``, matches the stored fill: -999.9 declares a
    float32 band's -999.9000244140625 (refused again before: compared in float64)."""
    lst = fill_scene(tmp_path / "fill_lst.tif", dtype, fill, scale)
    out = tmp_path / "out.tif"
    command = ["-q", "downscale", str(lst), "--model", "bicubic", "--scale", "2", "-o", str(out)]
    assert run(command) == 2
    found = re.search(r"looks like a fill value: pass --nodata (\S+)\)", capsys.readouterr().err)
    assert found is not None and found.group(1) == named
    assert run([*command, "--nodata", named]) == 0
    with rasterio.open(out) as src:
        written = src.read(1)
    assert np.isnan(written[:8]).all() and np.allclose(written[8:], 300.0, atol=1e-3)


def test_a_declared_fill_matches_values_read_at_the_bands_precision() -> None:
    """Blocks read as float32 (prepare's dask path) match ``--nodata -999.9`` too."""
    stored = np.array([[-999.9, 300.0]], dtype=np.float32)
    values = decode_values(stored, LstDecoding(nodata=(-999.9,)), 1.0, 0.0)
    assert np.isnan(values[0, 0]) and values[0, 1] == 300.0 and values.dtype == np.float64
    as_integers = decode_values(np.array([[-327.0, 300.0]]), LstDecoding(nodata=(-327.68,)), 1.0, 0.0)
    assert np.isfinite(as_integers).all()  # -327.68 is no integer: it fills nothing


@pytest.mark.parametrize("low, high, units, refused", [
    (154.8, 166.1, Units.kelvin, True),  # hundredths of a degree Celsius under Landsat's factors (QA)
    (185.0, 240.0, Units.kelvin, False),  # an Antarctic winter scene
    (-100.0, -95.0, Units.celsius, True),
    (320.0, 395.0, Units.kelvin, True),  # each pixel under 400 K, but no land surface is this hot throughout
    (300.0, 345.0, Units.kelvin, False),  # a desert afternoon
])
def test_a_scene_whose_median_no_land_surface_has_is_refused(low: float, high: float, units: Units,
                                                               refused: bool) -> None:
    values = np.linspace(low, high, 500)
    found = LstScan(values.size, low, high, values, dtype=np.dtype("float32"))
    decoding = LstDecoding(scale_factor=0.00341802, offset=149.0)
    if not refused:
        check_plausible(found, units, decoding, "lst.tif")
        return
    with pytest.raises(InputError, match="is no land surface's") as error:
        check_plausible(found, units, decoding, "lst.tif")
    assert "check the --scale-factor/--offset given and the unit" in str(error.value)


def test_raw_landsat_numbers_with_an_undeclared_fill_of_0_get_the_nodata_and_the_factors() -> None:
    """QA: uint16 Landsat ST digital numbers with fill 0 and no nodata in the file were told no
    known encoding fits (0 DN reads as 149 K), though --nodata 0 and Landsat's factors do."""
    dn = integer_scene(280, 320, 0.00341802, 149.0).sample
    stored = np.concatenate([np.zeros(250), dn])
    found = LstScan(stored.size, 0.0, float(dn.max()), stored, dtype=np.dtype("uint16"))
    assert hint(found).endswith(
        "(hint: the value 0 fills 20.0% of the scene and the rest look like unscaled digital numbers: pass "
        "--nodata 0 with --scale-factor 0.00341802 --offset 149.0 (Landsat Collection-2 ST: 280..320 K))")
    once = LstScan(dn.size + 1, 0.0, float(dn.max()), np.concatenate([[0.0], dn]), dtype=np.dtype("uint16"))
    assert "--nodata" not in hint(once)  # a single 0 is no fill value: the factors are not guessed


def test_the_scan_keeps_only_its_sample_not_every_strip(tmp_path: Path, monkeypatch) -> None:
    """QA: the sample kept views of each strip's valid values, so every strip stayed in memory
    until the scan ended (8 bytes per valid pixel: 541 MB peak on a 64 Mpx LST, 130 MB copied)."""
    values = np.linspace(250.0, 320.0, 40 * 30).reshape(40, 30)
    values[5:9, 3:20] = np.nan
    path = tmp_path / "lst.tif"
    with rasterio.open(path, "w", driver="GTiff", width=30, height=40, count=1, dtype="float64",
                       crs="EPSG:32632", transform=Affine(30, 0, 400_000, 0, -30, 5_760_000)) as dst:
        dst.write(values, 1)
    monkeypatch.setattr(lst_values, "_STRIP_ROWS", 4)  # 10 strips
    monkeypatch.setattr(lst_values, "_SAMPLE", 100)  # every 12th valid value
    kept: list[np.ndarray] = []
    concatenate = np.concatenate

    def joined(parts: list[np.ndarray]) -> np.ndarray:  # the parts scan kept, seen as it joins them
        kept.extend(parts)
        return concatenate(parts)

    monkeypatch.setattr(np, "concatenate", joined)
    with rasterio.open(path) as src:
        found = lst_values.scan(src, Window(0, 0, 30, 40), LstDecoding(), path)
    valid = values[np.isfinite(values)]
    assert found.valid == valid.size and np.array_equal(found.sample, valid[::12])
    assert len(kept) == 10 and all(part.base is None for part in kept)  # no part holds its strip
    assert sum(part.nbytes for part in kept) == found.sample.nbytes


@pytest.mark.parametrize("values, dtype, units, told", [
    (np.r_[np.full(10, -9999.0), np.linspace(280, 320, 90)], "float32", Units.kelvin,
     "looks like a fill value: declare it as the file's nodata: gdal_edit.py -a_nodata -9999.0 'my lst.tif'"),
    (np.round(np.linspace(16.9, 50.0, 200) / 0.1), "int16", Units.kelvin,
     ", or gdal_edit.py -scale 0.1 -offset 0.0 'my lst.tif' (tenths: 16.9..50 degC); else the file may be "
     "damaged: set its implausible values to the file's nodata"),  # the unit follows from the scaled values
    (np.array([2e6, 2.5e6, 3e6]), "uint16", Units.kelvin,
     "declare your product's scale and offset in the file: gdal_edit.py -scale F -offset O 'my lst.tif'"),
    (np.linspace(-150.0, 90.0, 50), "float32", Units.celsius,
     "declare fill values and scaled integers in the file (gdal_edit.py -a_nodata V -scale F -offset O "
     "'my lst.tif'), or set implausible values to its nodata"),
    (np.linspace(320.0, 395.0, 50), "float32", Units.kelvin,
     "check the file's scale and offset (gdal_edit.py -scale F -offset O 'my lst.tif') and that its values"),
])
def test_a_raster_read_by_the_default_rule_is_told_what_to_declare_in_its_file(
        values: np.ndarray, dtype: str, units: Units, told: str) -> None:
    """compare's candidates: the LST options read the reference only, so no hint names them."""
    found = LstScan(values.size, float(values.min()), float(values.max()), values, dtype=np.dtype(dtype))
    with pytest.raises(InputError) as refused:
        check_plausible(found, units, LstDecoding(), "my lst.tif", remedy=Remedy.in_file("my lst.tif"))
    assert told in refused.value.hint and " --" not in refused.value.hint


def test_the_reading_tags_read_back_as_written() -> None:
    """downscale's record of how it read its LST, as the quicklook reads it back."""
    decoding = LstDecoding(nodata=(-999.9, 0.0), scale_factor=0.02, offset=-1.5, mask_implausible=True)
    tags = reading_tags(decoding, 0.02, -1.5, Units.celsius)
    assert tags == {"lst_scale_factor": "0.02", "lst_offset": "-1.5", "lst_nodata": "-999.9,0.0",
                    "lst_units": "celsius", "lst_mask_implausible": "true"}
    assert reading_from_tags(tags, "out.tif") == (decoding, Units.celsius)
    assert reading_from_tags({}, "out.tif") == (LstDecoding(), Units.auto)  # nothing recorded: the file's own


def test_a_reading_tag_that_is_no_number_names_the_option_to_pass() -> None:
    with pytest.raises(InputError) as refused:
        reading_from_tags({"lst_scale_factor": "0.02", "lst_offset": "x"}, "out.tif")
    assert str(refused.value) == ("out.tif: its lst_offset tag, 'x', is not a number "
                                  "(hint: pass --offset to say how to read the input LST)")


@pytest.mark.parametrize("scale, offset", [(0.0, 0.0), (0.0, 290.0), (float("nan"), 0.0), (1.0, float("inf"))])
def test_lst_scale_offset_metadata_that_gives_no_values_is_refused(
        tmp_path: Path, capsys, scale: float, offset: float) -> None:
    """Read as the guidance's is (geotiff.band_scaling): scale 0 read every pixel as 0 degC (or as
    the offset) with exit 0, a NaN scale or infinite offset as 'no valid pixel'. Declaring both
    --scale-factor and --offset reads the file without its metadata."""
    lst = tmp_path / "lst.tif"
    with rasterio.open(lst, "w", driver="GTiff", width=10, height=12, count=1, dtype="float32",
                       crs="EPSG:32632", transform=Affine(30, 0, 400_000, 0, -30, 5_760_000)) as dst:
        dst.write(np.full((12, 10), 300.0, np.float32), 1)
        dst.scales, dst.offsets = (scale,), (offset,)
    out = tmp_path / "out.tif"
    command = ["-q", "downscale", str(lst), "--model", "bicubic", "--scale", "2", "-o", str(out)]
    assert run(command) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {lst}: band 1 declares scale {scale:g} and offset {offset:g}, which give no values "
        f"(hint: declare your product's scale and offset in the file: gdal_edit.py -scale F -offset O {lst}, "
        "or override the file's for a run: pass your product's --scale-factor and --offset)")
    assert run([*command, "--scale-factor", "1", "--offset", "0"]) == 0
    with rasterio.open(out) as src:
        assert np.allclose(src.read(1), 300.0, atol=1e-3)
