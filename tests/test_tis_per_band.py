"""TIS delivered as one GeoTIFF per band (the challenge-data layout): read, stacked and
ingested exactly as the 3-band delivery of the same scene, and refused when incomplete."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import date

import numpy as np
import pytest
import rasterio
from affine import Affine

from groklst_cli.app import run
from pipelines import sdgsat
from pipelines.errors import GroklstWarning, InputError
from pipelines.fixtures import FixtureSettings, write_product_fixture
from pipelines.ingest import holds_products
from pipelines.sample_scene import generate_scene
from pipelines.tis_image import open_tis, raster_label

PER_BAND = FixtureSettings(tis_per_band=True)


@pytest.fixture(scope="module")
def scene():
    return generate_scene((16, 20), seed=7)


@pytest.fixture(scope="module")
def stacked(scene, tmp_path_factory):
    return write_product_fixture(scene, tmp_path_factory.mktemp("stacked"))


@pytest.fixture(scope="module")
def per_band(scene, tmp_path_factory):
    return write_product_fixture(scene, tmp_path_factory.mktemp("per_band"), PER_BAND)


@pytest.fixture()
def tis_copy(per_band, tmp_path):
    """A per-band TIS folder of the test's own, to break."""
    return shutil.copytree(per_band[0], tmp_path / per_band[0].name)


def test_per_band_folder_is_read_as_a_tis_product(per_band):
    tis = sdgsat.read_product(per_band[0])
    assert tis.sensor == "TIS" and tis.folder.name.startswith("SDGSAT1_TIS_20220815_L1A_EPSG")
    assert [p.name[-7:] for p in tis.images] == ["_B1.tif", "_B2.tif", "_B3.tif"]
    assert tis.acquired == date(2022, 8, 15)
    assert holds_products(per_band[0]) and holds_products(per_band[0].parent)


def test_date_comes_from_the_band_names_without_meta_xml(tis_copy):
    next(tis_copy.glob("*.meta.xml")).unlink()
    assert sdgsat.read_product(tis_copy).acquired == date(2022, 8, 15)


def test_stack_holds_the_bands_in_order_and_names_the_folder(per_band, stacked):
    with open_tis(sdgsat.read_product(per_band[0])) as src, rasterio.open(sdgsat.read_product(stacked[0]).images[0]) as ref:
        assert src.count == 3 and src.crs == ref.crs and src.transform == ref.transform
        assert np.array_equal(src.read(), ref.read()) and src.nodata == 0
        assert src.read(2, window=((3, 7), (4, 9))).tolist() == ref.read(2, window=((3, 7), (4, 9))).tolist()
        assert raster_label(src) == str(per_band[0])  # the folder as given


def test_ingest_of_per_band_equals_ingest_of_the_3_band_delivery(per_band, stacked, tmp_path):
    for name, (tis, mii) in (("a", stacked), ("b", per_band)):
        assert run(["-q", "ingest", str(tis), str(mii), "--name", name, "--out-dir", str(tmp_path)]) == 0
    with rasterio.open(tmp_path / "a_lst.tif") as a, rasterio.open(tmp_path / "b_lst.tif") as b:
        lst_a, lst_b = a.read(1), b.read(1)
        assert b.tags()["lst_source"] == str(per_band[0].resolve())  # absolute, as every source tag
        assert a.transform == b.transform
    assert np.isfinite(lst_b).mean() > 0.9 and 270 < np.nanmean(lst_b) < 330
    np.testing.assert_array_equal(lst_a, lst_b)


def test_missing_band_names_the_expected_file(tis_copy, per_band, tmp_path, capsys):
    b2 = next(tis_copy.glob("*_B2.tif"))
    b2.unlink()
    assert run(["ingest", str(tis_copy), str(per_band[1]), "--out-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(b2) in err and "TIS band 2 image not found" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("breakage, message", [
    ("duplicate", "several images of TIS band 3"),
    ("both", "holds both a TIS image"),
    ("band4", "is named as TIS band 4"),
    ("date", "not one acquisition"),
])
def test_ambiguous_folders_are_refused(tis_copy, breakage, message):
    b3 = next(tis_copy.glob("*_B3.tif"))
    if breakage == "duplicate":
        shutil.copy(b3, b3.with_name(b3.name.replace("_B3", "_B03")))
    elif breakage == "both":
        shutil.copy(b3, tis_copy / f"{tis_copy.name}.tiff")
    elif breakage == "band4":
        shutil.copy(b3, b3.with_name(b3.name.replace("_B3", "_B4")))
    else:
        b3.rename(b3.with_name(b3.name.replace("20220815", "20230101")))
    with pytest.raises(InputError, match=message):
        sdgsat.read_product(tis_copy)


def _rewrite(path, **changes):
    """Rewrite a band image with some of its profile changed (same pixels)."""
    with rasterio.open(path) as src:
        profile, data = src.profile, src.read()
    profile.update(changes)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data.astype(profile["dtype"]))


def test_band_on_another_grid_is_refused(tis_copy):
    b3 = next(tis_copy.glob("*_B3.tif"))
    with rasterio.open(b3) as src:
        moved = Affine.translation(15, 0) @ src.transform
    _rewrite(b3, transform=moved)
    with pytest.raises(InputError, match=r"_B3\.tif.*is not on .*_B1\.tif's pixel grid"):
        open_tis(sdgsat.read_product(tis_copy))


def test_band_with_another_encoding_is_refused(tis_copy):
    _rewrite(next(tis_copy.glob("*_B2.tif")), nodata=65535)
    with pytest.raises(InputError, match=r"_B2\.tif.*uint16 with nodata 65535.0, .*_B1\.tif is uint16 with nodata 0"):
        open_tis(sdgsat.read_product(tis_copy))


def test_epsg_in_the_name_that_is_not_the_crs_warns(tis_copy):
    b1 = next(tis_copy.glob("*_B1.tif"))
    renamed = b1.with_name(b1.name.replace("EPSG326", "EPSG327"))
    b1.rename(renamed)
    with pytest.warns(GroklstWarning, match=r"named for EPSG:327\d\d but its CRS is EPSG:326"):
        open_tis(sdgsat.read_product(tis_copy)).close()


def test_renamed_tis_folder_without_meta_is_still_tis(stacked, tmp_path):
    """A folder that neither its name nor a meta.xml identifies is told by its imagery (an
    always-true test once took every such folder for MII)."""
    tis = shutil.copytree(stacked[0], tmp_path / "tis")
    next(tis.glob("*.meta.xml")).unlink()
    assert sdgsat.read_product(tis).sensor == "TIS"


def test_sample_scene_writes_the_per_band_layout(tmp_path, capsys):
    assert run(["-q", "sample-scene", str(tmp_path), "--size", "12", "--products", "--tis-per-band"]) == 0
    (tis,) = tmp_path.glob("SDGSAT1_TIS_20220815_L1A_EPSG32647_*")
    assert sorted(p.name[-7:] for p in tis.glob("*.tif")) == ["_B1.tif", "_B2.tif", "_B3.tif"]
    assert sdgsat.read_product(tis).sensor == "TIS"
    assert run(["sample-scene", str(tmp_path / "plain"), "--size", "12", "--tis-per-band"]) == 2
    assert "--tis-per-band: lays out the fake TIS product (hint: add --products)" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".TIF", ".Tiff"])
def test_upper_case_extensions_are_band_images(tis_copy, suffix):
    for path in sorted(tis_copy.glob("*_B?.tif")):
        path.rename(path.with_suffix(suffix))
    tis = sdgsat.read_product(tis_copy)
    assert [p.name[-len(suffix) - 3:] for p in tis.images] == [f"_B{b}{suffix}" for b in (1, 2, 3)]


def test_a_browse_copy_beside_a_band_is_left_out_with_a_warning(tis_copy, per_band):
    b1 = next(tis_copy.glob("*_B1.tif"))
    for extra in (b1.name.replace("_B1", "_B1_thumb"), b1.name.replace("_B1.tif", "_B1 copy.tif"),
                  b1.name.replace("_B1.tif", "_browse.tiff")):
        shutil.copy(b1, tis_copy / extra)
    with pytest.warns(GroklstWarning) as caught:
        tis = sdgsat.read_product(tis_copy)
    assert tis.images[0] == b1
    said = " ".join(str(w.message) for w in caught)
    assert "_B1_thumb.tif" in said and "_B1 copy.tif" in said and "_browse.tiff" in said


def test_two_images_ending_at_the_band_token_are_refused(tis_copy):
    b1 = next(tis_copy.glob("*_B1.tif"))
    shutil.copy(b1, b1.with_name(b1.name.replace("_B1", "_thumb_B1")))
    with pytest.raises(InputError, match="several images of TIS band 1 .* and more than one ends at the band token"):
        sdgsat.read_product(tis_copy)


def test_band_images_beside_the_mii_folder_are_both_found(per_band, tmp_path):
    loose = shutil.copytree(per_band[0], tmp_path / "loose")
    shutil.copytree(per_band[1], loose / per_band[1].name)
    from pipelines.ingest import find_products

    assert sorted(p.sensor for p in find_products([loose])) == ["MII", "TIS"]


def test_meta_date_refusal_names_the_band_images_as_the_source(tis_copy, tmp_path):
    renamed = tis_copy.rename(tmp_path / "anything")
    meta = next(renamed.glob("*.meta.xml"))
    meta.write_text(meta.read_text().replace("2022-08-15", "2022-09-20"))
    with pytest.raises(InputError, match=r"CenterTime 2022-09-20 is not the date in the band images' names \(2022-08-15"):
        sdgsat.read_product(renamed)


def test_float_noise_in_a_band_transform_is_the_same_grid(tis_copy, per_band):
    b2 = next(tis_copy.glob("*_B2.tif"))
    with rasterio.open(b2) as src:
        noisy = Affine.translation(1e-9, 0) @ src.transform
    _rewrite(b2, transform=noisy)
    with open_tis(sdgsat.read_product(tis_copy)) as src, open_tis(sdgsat.read_product(per_band[0])) as ref:
        assert np.array_equal(src.read(), ref.read())


@pytest.mark.parametrize("sensor", ["TIS", "MII"])
def test_imagery_tagged_with_another_fill_than_dn_0_is_refused(stacked, tmp_path, capsys, sensor):
    """QA TB: TIS tagged nodata 65535 had its fill read as radiance (hot pixels, exit 0)."""
    tis, mii = (shutil.copytree(p, tmp_path / p.name) for p in stacked)
    image = next((tis if sensor == "TIS" else mii).glob("*.tiff" if sensor == "TIS" else "*_B.tif"))
    _rewrite(image, nodata=65535)
    assert run(["ingest", str(tis), str(mii), "--out-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: {image}: declares nodata 65535; SDGSAT-1 {sensor} imagery uses DN 0 as fill and every "
                   "other DN is read as radiance (hint: use the delivered file, or set its fill pixels to 0 and then "
                   "its nodata tag (gdal_edit.py -a_nodata 0))")
    assert not (tmp_path / "o").exists()


def test_a_folder_holding_a_per_band_product_folder_is_a_folder_of_products(per_band, tmp_path):
    """QA R6: the band glob matched the TIS folder's own name, so its parent was taken for a product."""
    from pipelines.ingest import find_products

    parent = tmp_path / "p"
    for product in per_band:
        shutil.copytree(product, parent / product.name)
    assert sorted(p.sensor for p in find_products([parent])) == ["MII", "TIS"]


def test_a_regular_products_subfolder_is_not_read(stacked, tmp_path):
    """QA R6: a browse/ folder inside a 3-band TIS product was read as a product of its own."""
    from pipelines.ingest import find_products

    tis = shutil.copytree(stacked[0], tmp_path / stacked[0].name)
    (tis / "browse").mkdir()
    shutil.copy(next(tis.glob("*.tiff")), tis / "browse" / "thumb.tiff")
    assert [p.folder for p in find_products([tis])] == [tis]


def test_a_band_name_with_an_impossible_date_is_refused_naming_it(tis_copy):
    b2 = next(tis_copy.glob("*_B2.tif"))
    renamed = b2.rename(b2.with_name(b2.name.replace("20220815", "20221399")))
    with pytest.raises(InputError, match=rf"{renamed.name}: 20221399 in its name is not a date"):
        sdgsat.read_product(tis_copy)


def test_upper_case_names_are_matched_everywhere(stacked, tis_copy, tmp_path):
    """QA B3: a <folder>.TIFF beside band images was silently ignored, a 3-band KX10_TIS_*.TIFF not found."""
    shutil.copy(next(tis_copy.glob("*_B1.tif")), tis_copy / f"{tis_copy.name}.TIFF")
    with pytest.raises(InputError, match=r"holds both a TIS image \(.*\.TIFF\)"):
        sdgsat.read_product(tis_copy)
    three_band = shutil.copytree(stacked[0], tmp_path / stacked[0].name)
    image = next(three_band.glob("*.tiff"))
    image.rename(image.with_suffix(".TIFF"))
    assert sdgsat.read_product(three_band).images == (image.with_suffix(".TIFF"),)


def test_a_damaged_band_image_is_named_under_the_folder_as_given(per_band, tmp_path, monkeypatch, capsys):
    """QA B3: the error named the folder's absolute path; paths print as typed."""
    copy = shutil.copytree(per_band[0], tmp_path / "pc" / per_band[0].name)
    shutil.copytree(per_band[1], tmp_path / "pc" / per_band[1].name)
    b2 = next(copy.glob("*_B2.tif"))
    b2.write_bytes(b2.read_bytes()[:len(b2.read_bytes()) // 2])
    monkeypatch.chdir(tmp_path)
    assert run(["ingest", f"pc/{per_band[0].name}", f"pc/{per_band[1].name}", "--out-dir", "o"]) == 2
    assert capsys.readouterr().err.startswith(f"error: pc/{per_band[0].name}: cannot be read")
