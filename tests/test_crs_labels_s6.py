"""A CRS is named in messages by what it is: an EPSG code only where the CRS is exactly that code.

rasterio's ``CRS.to_string()`` names the closest EPSG code, so a guidance with a custom
``+towgs84`` datum shift was refused with "CRS EPSG:23032 differs from the LST's EPSG:23032".
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from affine import Affine
from rasterio.crs import CRS

from groklst_cli.app import run
from pipelines.geotiff import write_raster
from pipelines.grids import crs_label, crs_labels

BANDS = ["dem", "deepblue", "blue", "green", "red", "vre", "nir", "ndmvi", "ndvi", "ndwi"]
X0, Y0 = 420_000.0, 5_760_000.0
SHIFTED = CRS.from_proj4("+proj=utm +zone=32 +ellps=intl +towgs84=-87,-98,-121,0,0,0,0 +units=m +no_defs")


def test_a_custom_datum_shift_is_not_labelled_with_the_nearest_epsg_code() -> None:
    assert crs_label(CRS.from_epsg(23032)) == "EPSG:23032"
    assert crs_label(SHIFTED) == "+proj=utm +zone=32 +ellps=intl +towgs84=-87,-98,-121,0,0,0,0 +units=m +no_defs"
    assert crs_label(CRS.from_wkt(CRS.from_epsg(32632).to_wkt())) == "EPSG:32632"


def test_the_refusal_of_another_crs_names_two_different_crss(tmp_path: Path, capsys) -> None:
    lst, guidance = tmp_path / "a_lst.tif", tmp_path / "a_guidance.tif"
    rng = np.random.default_rng(0)
    write_raster(lst, (290 + rng.random((1, 8, 8))).astype(np.float32), crs=CRS.from_epsg(23032),
                 transform=Affine(30, 0, X0, 0, -30, Y0), descriptions=["lst"])
    write_raster(guidance, rng.random((10, 24, 24)).astype(np.float32), crs=SHIFTED,
                 transform=Affine(10, 0, X0, 0, -10, Y0), descriptions=BANDS)
    capsys.readouterr()
    status = run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(tmp_path / "out.tif")])
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert "CRS +proj=utm +zone=32 +ellps=intl +towgs84=-87,-98,-121,0,0,0,0 +units=m +no_defs differs from the " \
           "LST's EPSG:23032" in err, err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "out.tif").exists()


def test_two_compound_crss_of_other_height_datums_are_told_apart() -> None:
    """A PROJ string drops the vertical datum: both read "+proj=utm ... +vunits=m" (review R1)."""
    dhhn, egm = CRS.from_user_input("EPSG:32632+5783"), CRS.from_user_input("EPSG:32632+3855")
    assert crs_label(dhhn) == '"WGS 84 / UTM zone 32N + DHHN92 height"'
    assert crs_labels(dhhn, egm) == ('"WGS 84 / UTM zone 32N + DHHN92 height"', '"WGS 84 / UTM zone 32N + EGM2008 height"')


def test_two_crss_of_one_name_are_told_apart_by_their_proj_strings() -> None:
    wkt = SHIFTED.to_wkt().replace('PROJCS["unknown"', 'PROJCS["ED50 / site"')
    named, other = CRS.from_wkt(wkt), CRS.from_wkt(wkt.replace("-87,-98,-121", "-80,-90,-121"))
    assert crs_label(named) == crs_label(other) == '"ED50 / site"'
    first, second = crs_labels(named, other)
    assert "+towgs84=-87,-98,-121" in first and "+towgs84=-80,-90,-121" in second


def test_a_mask_in_another_compound_crs_names_both(tmp_path: Path, capsys) -> None:
    lst, mask = tmp_path / "l.tif", tmp_path / "m.tif"
    write_raster(lst, np.full((1, 8, 8), 300, np.float32), crs=CRS.from_user_input("EPSG:32632+5783"),
                 transform=Affine(30, 0, X0, 0, -30, Y0), descriptions=["lst"])
    write_raster(mask, np.zeros((1, 8, 8), np.uint8), crs=CRS.from_user_input("EPSG:32632+3855"),
                 transform=Affine(30, 0, X0, 0, -30, Y0), descriptions=["mask"])
    capsys.readouterr()
    assert run(["-q", "mask", str(lst), str(mask), "--values", "1", "-o", str(tmp_path / "o.tif")]) == 2
    err = capsys.readouterr().err
    assert 'CRS "WGS 84 / UTM zone 32N + EGM2008 height" differs from that of' in err, err
    assert '("WGS 84 / UTM zone 32N + DHHN92 height")' in err, err


def test_a_quote_inside_a_crs_name_is_kept() -> None:
    """WKT doubles a quote inside a name; the label stopped at the first one (review R2)."""
    wkt = CRS.from_epsg(32632).to_wkt().replace('"WGS 84 / UTM zone 32N"', '"Survey ""A"" grid"', 1)
    assert crs_label(CRS.from_wkt(wkt.replace(',AUTHORITY["EPSG","32632"]]', ']'))) == '"Survey "A" grid"'
