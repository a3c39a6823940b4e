"""groklst ingest reads a product's calibration for its own sensor only, whatever the calib.xml's
encoding, refuses calibration versions it cannot choose between, products of another sensor
(GIU) or with contradicting names, and tells the user to unpack an archive."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio

from groklst_cli.app import run
from pipelines import sdgsat
from pipelines.errors import InputError

SCENE = "20220815_E100.45_N38.93_202200112236_L4A"
TIS, MII, GIU = (f"KX10_{sensor}_{SCENE}" for sensor in ("TIS", "MII", "GIU"))


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    """A 48-pixel sample scene's SDGSAT-1 products."""
    folder = tmp_path_factory.mktemp("sample")
    assert run(["-q", "sample-scene", str(folder), "--size", "48", "--seed", "3", "--products"]) == 0
    return folder


@pytest.fixture(scope="module")
def reference_lst(sample, tmp_path_factory) -> np.ndarray:
    """The LST ingested from the untouched products (calib.xml declaring GB2312)."""
    out = tmp_path_factory.mktemp("reference")
    assert run(["-q", "ingest", str(sample / TIS), str(sample / MII), "--out-dir", str(out), "--name", "s"]) == 0
    with rasterio.open(out / "s_lst.tif") as src:
        return src.read(1)


def _copy(sample: Path, tmp_path: Path) -> Path:
    scene = tmp_path / "scene"
    for product in (TIS, MII):
        shutil.copytree(sample / product, scene / product)
    return scene


def _ingest(tis: Path, mii: Path, out: Path) -> int:
    return run(["-q", "ingest", str(tis), str(mii), "--out-dir", str(out), "--name", "s"])


def _error(capsys) -> str:  # noqa: ANN001
    """The one error line the CLI wrote."""
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, lines
    return lines[0]


def _calib(scene: Path, product: str) -> Path:
    return scene / product / f"{product}.calib.xml"


def _refused(scene: Path, tmp_path: Path, capsys, *, mii: str = MII) -> str:  # noqa: ANN001
    """Ingest ``scene``, check that it fails with status 2 and writes nothing; the error line."""
    out = tmp_path / "out"
    assert _ingest(scene / TIS, scene / mii, out) == 2
    assert not out.exists() or not any(out.iterdir())
    return _error(capsys)


# --- 1. another sensor's calibration section --------------------------------------------

def test_a_calib_xml_of_another_sensor_section_is_refused(sample, tmp_path, capsys):
    scene = _copy(sample, tmp_path)
    calib = _calib(scene, MII)
    calib.write_bytes(calib.read_bytes().replace(b"<MII>", b"<GIU>").replace(b"</MII>", b"</GIU>"))
    err = _refused(scene, tmp_path, capsys)
    assert err.startswith(f"error: {calib}: no MII section in the calibration (found GIU) (hint: this calib.xml "
                          "belongs to another product")


def test_the_mii_calib_copied_over_the_tis_one_is_refused_as_such(sample, tmp_path, capsys):
    scene = _copy(sample, tmp_path)
    shutil.copyfile(_calib(scene, MII), _calib(scene, TIS))
    err = _refused(scene, tmp_path, capsys)
    assert f"{_calib(scene, TIS)}: no TIS section in the calibration (found MII)" in err
    assert "registered" not in err and "implausible" not in err


FLAT_VERSION = ("<VERSION><RADIANCE_GAIN_BAND_2>0.004</RADIANCE_GAIN_BAND_2>"
                "<RADIANCE_BIAS_BAND_2>0.12</RADIANCE_BIAS_BAND_2></VERSION>")


# Review: an <MII> element holding the MII product's name made a flat TIS calib.xml 'another
# product's calibration'; only sensor-named elements holding coefficients are sections.
@pytest.mark.parametrize("header", ["", "<HEADER><MII>KX10_MII_companion</MII></HEADER>"])
def test_a_calib_xml_without_any_sensor_section_is_still_read(tmp_path, header):
    path = tmp_path / "c.calib.xml"
    path.write_text(f"<RADIOMETRIC_CALIBRATION>{header}{FLAT_VERSION}</RADIOMETRIC_CALIBRATION>")
    cal = sdgsat.parse_calibration(path, "TIS")
    assert cal.gains == {2: 0.004} and cal.biases == {2: 0.12}


def test_only_the_own_sensor_section_is_read_beside_others(tmp_path):
    path = tmp_path / "c.calib.xml"
    path.write_text("<r><MII><RADIANCE_GAIN_BAND_1>0.07</RADIANCE_GAIN_BAND_1><RADIANCE_BIAS_BAND_1>0</RADIANCE_BIAS_BAND_1>"
                    "</MII><TIS><RADIANCE_GAIN_BAND_1>0.003947</RADIANCE_GAIN_BAND_1>"
                    "<RADIANCE_BIAS_BAND_1>0.167126</RADIANCE_BIAS_BAND_1></TIS></r>")
    cal = sdgsat.parse_calibration(path, "TIS")
    assert cal.gains == {1: 0.003947} and cal.biases == {1: 0.167126}


# --- 2. GBK bytes without (or with a wrong) encoding declaration ----------------------------

@pytest.mark.parametrize("declaration", [b"", b'<?xml version="1.0" encoding="UTF-8"?>\n'])
def test_a_gbk_calib_xml_not_declared_so_ingests_to_the_same_lst(sample, reference_lst, tmp_path, declaration):
    scene = _copy(sample, tmp_path)
    for product in (TIS, MII):
        calib = _calib(scene, product)
        raw = calib.read_bytes()
        body = re.sub(rb"^<\?xml[^>]*\?>\n", b"", raw)
        assert body != raw and "辐射定标".encode("gbk") in body  # GBK bytes, not UTF-8
        calib.write_bytes(declaration + body)
    assert _ingest(scene / TIS, scene / MII, tmp_path / "out") == 0
    with rasterio.open(tmp_path / "out" / "s_lst.tif") as src:
        lst = src.read(1)
    assert np.isfinite(lst).sum() > 1000
    np.testing.assert_array_equal(lst, reference_lst)


def test_bytes_that_are_neither_utf8_nor_gbk_are_refused_naming_the_encoding(tmp_path):
    path = tmp_path / "c.calib.xml"
    path.write_bytes(b"<r><TIS><RADIANCE_GAIN_BAND_1>0.1</RADIANCE_GAIN_BAND_1>\xff\xff<x/></TIS></r>")
    with pytest.raises(InputError) as caught:
        sdgsat.parse_calibration(path, "TIS")
    text = str(caught.value)
    assert "byte 0xff at offset 56 is not utf-8 or gb18030 text" in text
    assert "save it as UTF-8 or GBK" in text and "complete" not in text


def test_a_gbk_file_cut_inside_a_character_is_called_incomplete(tmp_path):
    path = tmp_path / "c.calib.xml"
    path.write_bytes("<r><说明>定标".encode("gbk")[:-1])
    with pytest.raises(InputError, match=r"ends inside a gb18030 character \(hint: is the file complete\?"):
        sdgsat.parse_calibration(path, "TIS")


# --- 3. several calibration VERSION blocks ---------------------------------------------------

def _two_versions(calib: Path, new_gain: bytes) -> None:
    raw = calib.read_bytes()
    block = re.search(rb"    <VERSION>.*?</VERSION>\n", raw, re.S).group(0)
    later = block.replace("V1.0".encode(), b"V2.0").replace(b">0.003946<", new_gain)
    calib.write_bytes(raw.replace(block, block + later))


def test_two_versions_with_different_gains_are_refused_naming_them(sample, tmp_path, capsys):
    scene = _copy(sample, tmp_path)
    _two_versions(_calib(scene, TIS), b">0.0041<")
    err = _refused(scene, tmp_path, capsys)
    assert (f"{_calib(scene, TIS)}: 2 TIS calibration VERSION blocks with different gains or biases "
            "(VERSION #1 '定标版本 V1.0', VERSION #2 '定标版本 V2.0')") in err
    assert "keep only the VERSION block" in err and "several gains" not in err


def test_two_identical_versions_calibrate_alike(sample, tmp_path):
    scene = _copy(sample, tmp_path)
    _two_versions(_calib(scene, TIS), b">0.003946<")
    cal = sdgsat.read_product(scene / TIS).calibration
    assert cal.gains == {1: 0.003947, 2: 0.003946, 3: 0.005329}


def test_versions_writing_one_gain_differently_calibrate_alike(sample, tmp_path):
    """Review: the blocks were compared as text, so 0.003946 and 0.0039460 were two gains."""
    scene = _copy(sample, tmp_path)
    _two_versions(_calib(scene, TIS), b">0.0039460<")
    assert sdgsat.read_product(scene / TIS).calibration.gains == {1: 0.003947, 2: 0.003946, 3: 0.005329}


def test_a_version_element_without_coefficients_is_no_second_block(sample, tmp_path):
    scene = _copy(sample, tmp_path)
    calib = _calib(scene, TIS)
    calib.write_bytes(calib.read_bytes().replace(b"</TIS>", b"<VERSION>V1.0</VERSION></TIS>"))
    assert sdgsat.read_product(scene / TIS).calibration.gains == {1: 0.003947, 2: 0.003946, 3: 0.005329}


def test_blocks_keep_their_place_among_the_version_elements(tmp_path):
    """Review: a version string first made the file's 2nd and 3rd VERSION elements '#1, #2'."""
    path = tmp_path / "c.calib.xml"
    path.write_text("<r><TIS><VERSION>2.1</VERSION><VERSION><RADIANCE_GAIN_BAND_1>0.1</RADIANCE_GAIN_BAND_1></VERSION>"
                    "<VERSION><RADIANCE_GAIN_BAND_1>0.2</RADIANCE_GAIN_BAND_1></VERSION></TIS></r>")
    with pytest.raises(InputError, match=r"2 TIS calibration VERSION blocks with different gains or biases "
                                         r"\(VERSION #2, VERSION #3\)"):
        sdgsat.parse_calibration(path, "TIS")


def test_versions_are_named_by_their_attributes(tmp_path):
    path = tmp_path / "c.calib.xml"
    path.write_text('<r><TIS><VERSION id="1"><RADIANCE_GAIN_BAND_1>0.1</RADIANCE_GAIN_BAND_1></VERSION>'
                    '<VERSION id="2"><RADIANCE_GAIN_BAND_1>0.2</RADIANCE_GAIN_BAND_1></VERSION></TIS></r>')
    with pytest.raises(InputError, match=r"\(VERSION id='1', VERSION id='2'\)"):
        sdgsat.parse_calibration(path, "TIS")


# --- 4. a product of another sensor, or one whose name and meta.xml disagree ---------------

def test_a_giu_product_is_not_taken_for_mii(sample, tmp_path, capsys):
    scene = _copy(sample, tmp_path)
    giu = scene / GIU
    (scene / MII).rename(giu)
    for path in giu.iterdir():
        path.rename(giu / path.name.replace(MII, GIU))
    meta = giu / f"{GIU}.meta.xml"
    meta.write_bytes(meta.read_bytes().replace(b"<SensorID>MII<", b"<SensorID>GIU<"))
    err = _refused(scene, tmp_path, capsys, mii=GIU)
    assert err.startswith(f"error: {giu}: not an MII product (GIU) (hint: groklst ingest reads SDGSAT-1 TIS and MII")


def test_a_meta_xml_naming_another_sensor_than_the_folder_is_refused(sample, tmp_path, capsys):
    scene = _copy(sample, tmp_path)
    meta = scene / MII / f"{MII}.meta.xml"
    meta.write_bytes(meta.read_bytes().replace(b"<SensorID>MII<", b"<SensorID>TIS<"))
    err = _refused(scene, tmp_path, capsys)
    assert err.startswith(f"error: {meta}: SensorID says TIS, the folder name MII: not one product (hint:")


# --- 5. an archive given for a product folder -------------------------------------------------

@pytest.mark.parametrize("name", ["p.tar.gz", "p.TGZ", "p.tar", "p.zip"])
def test_an_archive_is_to_be_unpacked_first(tmp_path, capsys, name):
    archive = tmp_path / name
    archive.write_bytes(b"\x1f\x8b")
    assert run(["-q", "ingest", str(archive), "--out-dir", str(tmp_path / "out")]) == 2
    assert _error(capsys) == (f"error: {archive}: not a folder (hint: unpack the archive first (tar -xf or unzip), "
                              "then give the product folder it holds)")


def test_a_file_inside_a_product_keeps_its_hint(sample, capsys, tmp_path):
    image = sample / TIS / f"{TIS}.tiff"
    assert run(["-q", "ingest", str(image), "--out-dir", str(tmp_path / "out")]) == 2
    assert _error(capsys).endswith("not a folder (hint: give the product folder, not a file inside it)")
