"""QA V: a browse image beside the TIS image, a missing calib.xml and a meta.xml of another date
are refused with one line naming the file, and `groklst ingest` writes nothing."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from groklst_cli.app import run
from pipelines import sdgsat
from pipelines.errors import GroklstWarning
from pipelines.errors import InputError
from pipelines.fixtures import write_product_fixture
from pipelines.sample_scene import generate_scene


@pytest.fixture(scope="module")
def products(tmp_path_factory) -> tuple[Path, Path]:
    tis, mii = write_product_fixture(generate_scene((16, 16), seed=7), tmp_path_factory.mktemp("products_v"))
    return Path(tis), Path(mii)


def _copy(product: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(product, tmp_path / "broken" / product.name))


def _ingest_error(tis: Path, mii: Path, out: Path, capsys) -> str:
    """The one error line of a refused `groklst ingest` (exit 2), its wrapping undone."""
    assert run(["ingest", str(tis), str(mii), "--out-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "Traceback" not in err
    assert not out.exists()
    return " ".join(err.split())


def test_a_browse_tiff_beside_the_tis_image_is_not_read(products, tmp_path):
    """The product's own image (named after the folder) is read, with a warning naming the
    browse: a delivery that ships one must not be refused (review Z), nor the browse read."""
    tis, _ = products
    copy = _copy(tis, tmp_path)
    image = copy / f"{copy.name}.tiff"
    shutil.copyfile(image, copy / "0_browse.tiff")
    with pytest.warns(GroklstWarning, match=rf"also matching \*.tiff: 0_browse.tiff; only the product's own "
                                            rf"{re.escape(image.name)} is read"):
        assert sdgsat.read_product(copy).images == (image,)


def test_several_images_none_the_products_own_are_refused(products, tmp_path, capsys):
    tis, mii = products
    broken = _copy(tis, tmp_path)
    image = broken / f"{broken.name}.tiff"
    image.rename(broken / "scene.tiff")
    shutil.copyfile(broken / "scene.tiff", broken / "0_browse.tiff")
    err = _ingest_error(broken, mii, tmp_path / "out", capsys)
    assert (f"error: {broken}: several TIS images match *.tiff (0_browse.tiff, scene.tiff) and none is named "
            "after the folder (hint: keep only the product's own in the folder)") in err


def test_a_second_mii_camera_a_image_is_not_mosaicked_in(products, tmp_path):
    _, mii = products
    copy = _copy(mii, tmp_path)
    shutil.copyfile(copy / f"{copy.name}_A.tif", copy / "old_A.tif")
    with pytest.warns(GroklstWarning, match=r"also matching \*_A.tif: old_A.tif; only"):
        images = sdgsat.read_product(copy).images
    assert images == (copy / f"{copy.name}_A.tif", copy / f"{copy.name}_B.tif")


def test_a_missing_calib_xml_is_named(products, tmp_path, capsys):
    tis, mii = products
    broken = _copy(tis, tmp_path)
    calib = broken / f"{broken.name}.calib.xml"
    calib.unlink()
    err = _ingest_error(broken, mii, tmp_path / "out", capsys)
    assert (f"error: {calib}: calib.xml not found (hint: the radiance gains and biases are in it: "
            "copy the complete product folder)") in err


def test_a_calib_xml_named_otherwise_points_at_the_patterns(products, tmp_path):
    tis, _ = products
    broken = _copy(tis, tmp_path)
    calib = broken / f"{broken.name}.calib.xml"
    calib.rename(broken / "calibration.xml")
    with pytest.raises(InputError) as caught:
        sdgsat.read_product(broken)
    assert str(caught.value) == (f"{calib}: calib.xml not found (hint: if calibration.xml is the "
                                 "calibration, adapt pipelines.sdgsat.PATTERNS.calib)")
    product = sdgsat.read_product(broken, replace(sdgsat.PATTERNS, calib="calibration.xml"))
    assert product.calib == broken / "calibration.xml"
    assert product.calibration.gains[2] == pytest.approx(0.003946)


@pytest.mark.parametrize("sensor", ["TIS", "MII"])
def test_a_meta_xml_of_another_date_is_refused(products, tmp_path, capsys, sensor):
    tis, mii = products
    broken = _copy(tis if sensor == "TIS" else mii, tmp_path)
    meta = broken / f"{broken.name}.meta.xml"
    raw = meta.read_text()
    assert raw.count("<CenterTime>2022-08-15 ") == 1
    meta.write_text(raw.replace("<CenterTime>2022-08-15 ", "<CenterTime>2022-08-16 "))
    assert sdgsat.read_product(broken).acquired.isoformat() == "2022-08-15"  # a day off: UTC vs local
    meta.write_text(raw.replace("<CenterTime>2022-08-15 ", "<CenterTime>2022-08-17 "))
    pair = (broken, mii) if sensor == "TIS" else (tis, broken)
    err = _ingest_error(*pair, tmp_path / "out", capsys)
    assert (f"error: {meta}: CenterTime 2022-08-17 is not the date in the folder name (2022-08-15, one day "
            "either way allowed) (hint: is this the product's own meta.xml? copy the complete product folder)") in err


def test_a_meta_xml_of_the_folder_date_is_read(products):
    tis, mii = (sdgsat.read_product(p) for p in products)
    assert tis.acquired == mii.acquired and tis.acquired.isoformat() == "2022-08-15"
    assert [p.name for p in tis.images] == [f"{products[0].name}.tiff"]


def test_a_time_tag_in_seconds_is_not_read_as_a_date(products, tmp_path):
    """Reviewer: '1234051012.5' (seconds) read as 1234-05-10 would refuse a good product."""
    tis, _ = products
    copy = _copy(tis, tmp_path)
    meta = copy / f"{copy.name}.meta.xml"
    raw = meta.read_text()
    meta.write_text(re.sub(r"<CenterTime>[^<]*<", "<CenterTime>1234051012.5<", raw))
    assert sdgsat.read_product(copy).acquired.isoformat() == "2022-08-15"  # the folder's date


def test_a_stray_calib_xml_never_calibrates_the_scene(products, tmp_path, capsys):
    """A second *.calib.xml (an older delivery's) sorted before the product's own was read
    silently; now the own one is read with a warning, and without an own one it is refused."""
    tis, mii = products
    copy = _copy(tis, tmp_path)
    own = copy / f"{copy.name}.calib.xml"
    (copy / "0_old.calib.xml").write_bytes(own.read_bytes().replace(b"0.003946", b"0.009999"))
    with pytest.warns(GroklstWarning, match=r"also matching \*.calib.xml: 0_old.calib.xml; only"):
        assert sdgsat.read_product(copy).calibration.gains[2] == pytest.approx(0.003946)
    own.rename(copy / "1_other.calib.xml")
    err = _ingest_error(copy, mii, tmp_path / "out", capsys)
    assert (f"error: {copy}: several calib.xml files match *.calib.xml (0_old.calib.xml, 1_other.calib.xml) "
            "and none is named after the folder (hint: keep only the product's own in the folder)") in err
