"""F6: a TIS and an MII product are one acquisition only if their meta.xml times agree, whatever
their folder names say (names may miss the metadata by a day, so names alone cannot pair them);
the Earth-Sun distance follows the meta.xml date."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pytest

from pipelines import sdgsat
from pipelines.errors import InputError
from pipelines.fixtures import write_product_fixture
from pipelines.sample_scene import generate_scene


@pytest.fixture(scope="module")
def products(tmp_path_factory) -> tuple[Path, Path]:
    tis, mii = write_product_fixture(generate_scene((16, 16), seed=7), tmp_path_factory.mktemp("dates_s4"))
    return Path(tis), Path(mii)


def _with_meta(product: Path, tmp_path: Path, old: str, new: str) -> sdgsat.Product:
    """A copy of ``product`` (same folder name) whose meta.xml has ``old`` replaced by ``new``, read."""
    copy = Path(shutil.copytree(product, tmp_path / product.name))
    meta = next(copy.glob("*.meta.xml"))
    text = meta.read_text(encoding="utf-8")
    assert old in text
    meta.write_text(text.replace(old, new), encoding="utf-8")
    return sdgsat.read_product(copy)


def test_the_fixture_pair_is_one_acquisition(products):
    tis, mii = (sdgsat.read_product(p) for p in products)
    assert tis.recorded == mii.recorded == datetime(2022, 8, 15, 3, 12, 5, 750000)
    assert tis.imaged_on == tis.acquired == date(2022, 8, 15)
    sdgsat.check_simultaneous(tis, mii)


def not_one_acquisition(tis: sdgsat.Product, mii: sdgsat.Product, tis_shown: str, mii_shown: str) -> str:
    """The refusal of TIS and MII products whose meta.xml times, shown so, are not one acquisition."""
    return (f"{tis.meta}: records {tis_shown}, the MII product's {mii.meta} {mii_shown}: TIS and MII image "
            "simultaneously, so these are not one acquisition (at most 10 min apart) (hint: give the TIS and MII "
            "products of one acquisition, each with its own meta.xml)")


def test_metadata_dates_that_differ_are_refused_though_the_folder_names_agree(products, tmp_path):
    """The reported case: both folders named 2022-08-15 (each within a day of its meta.xml, so
    each is read), TIS CenterTime 2022-08-16, MII 2022-08-14."""
    tis = _with_meta(products[0], tmp_path / "t", "2022-08-15", "2022-08-16")
    mii = _with_meta(products[1], tmp_path / "m", "2022-08-15", "2022-08-14")
    assert tis.acquired == mii.acquired == date(2022, 8, 15)
    with pytest.raises(InputError) as caught:
        sdgsat.check_simultaneous(tis, mii)
    assert str(caught.value) == not_one_acquisition(tis, mii, "2022-08-16 03:12:05.75", "2022-08-14 03:12:05.75")
    assert "\n" not in str(caught.value)


def test_another_pass_on_the_same_day_is_refused(products, tmp_path):
    tis = sdgsat.read_product(products[0])
    mii = _with_meta(products[1], tmp_path, "<CenterTime>2022-08-15 03:12:05.750", "<CenterTime>2022-08-15 14:40:00")
    with pytest.raises(InputError, match=re.escape("the MII product's") + ".* 2022-08-15 14:40:00: "):
        sdgsat.check_simultaneous(tis, mii)


@pytest.mark.parametrize("tis_time, mii_time", [
    ("2022-08-15 03:12:05.750", "2022-08-15 03:12:11"),  # cameras or tags seconds apart
    ("2022-08-15 23:59:58", "2022-08-16T00:00:03"),  # one scene across midnight: dates differ
])
def test_times_seconds_apart_are_one_acquisition(products, tmp_path, tis_time, mii_time):
    old = "<CenterTime>2022-08-15 03:12:05.750"
    tis = _with_meta(products[0], tmp_path / "t", old, f"<CenterTime>{tis_time}")
    mii = _with_meta(products[1], tmp_path / "m", old, f"<CenterTime>{mii_time}")
    sdgsat.check_simultaneous(tis, mii)


def test_a_date_without_a_time_is_compared_by_date(products):
    tis, mii = (sdgsat.read_product(p) for p in products)
    sdgsat.check_simultaneous(replace(tis, recorded=date(2022, 8, 15)), mii)
    with pytest.raises(InputError, match=r"records 2022-08-14, the MII product's .* 2022-08-15 03:12:05.75: "):
        sdgsat.check_simultaneous(replace(tis, recorded=date(2022, 8, 14)), mii)
    sdgsat.check_simultaneous(replace(tis, recorded=None), replace(mii, recorded=date(2021, 1, 1)))


def test_the_earth_sun_distance_follows_the_metadata_date(products, tmp_path):
    """Folder named 2022-08-15, meta.xml 2022-08-16 (a day off is allowed): the meta.xml's day counts."""
    mii = _with_meta(products[1], tmp_path, "2022-08-15", "2022-08-16")
    assert mii.acquired == date(2022, 8, 15)
    assert mii.recorded == datetime(2022, 8, 16, 3, 12, 5, 750000)
    assert mii.imaged_on == date(2022, 8, 16)
    assert sdgsat.earth_sun_distance(mii.imaged_on) == pytest.approx(1.012662, abs=1e-6)
    assert sdgsat.earth_sun_distance(mii.acquired) == pytest.approx(1.012848, abs=1e-6)


@pytest.mark.parametrize("command", ["ingest", "downscale"])
def test_the_commands_refuse_the_pair_and_write_nothing(products, tmp_path, capsys, command):
    """End to end: check_one_acquisition calls check_simultaneous, so ingest and downscale of
    product folders refuse the reported pair (before, both exited 0 and wrote a scene)."""
    from groklst_cli.app import run

    tis = _with_meta(products[0], tmp_path / "t", "2022-08-15", "2022-08-16")
    mii = _with_meta(products[1], tmp_path / "m", "2022-08-15", "2022-08-14")
    capsys.readouterr()
    assert run([command, str(tis.folder), str(mii.folder), "--out-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "records 2022-08-16 03:12:05.75, the MII product's" in err, err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())



def test_reflectance_follows_the_meta_xml_date(products, tmp_path, capsys):
    """ingest's Earth-Sun distance comes from mii.imaged_on: both meta.xml files a day after their
    folder names (allowed) scale the guidance reflectance by the factors' ratio (before, the
    folder name's date was used)."""
    import numpy as np
    import rasterio
    from groklst_cli.app import run

    tis = _with_meta(products[0], tmp_path / "t", "2022-08-15", "2022-08-16")
    mii = _with_meta(products[1], tmp_path / "m", "2022-08-15", "2022-08-16")
    bands = {}
    for label, pair in (("named", products), ("next", (tis.folder, mii.folder))):
        assert run(["-q", "ingest", str(pair[0]), str(pair[1]), "--out-dir", str(tmp_path / label)]) == 0
        with rasterio.open(next((tmp_path / label).glob("*_guidance.tif"))) as src:
            bands[label] = {name: src.read(i + 1) for i, name in enumerate(src.descriptions)}
    expected = (sdgsat.reflectance_factor(4, mii.solar_zenith, date(2022, 8, 16))
                / sdgsat.reflectance_factor(4, mii.solar_zenith, date(2022, 8, 15)))
    assert expected != pytest.approx(1.0, abs=1e-5)
    ratio = bands["next"]["red"] / bands["named"]["red"]
    valid = np.isfinite(ratio)
    assert valid.any()
    np.testing.assert_allclose(ratio[valid], expected, rtol=1e-5)
    np.testing.assert_array_equal(bands["next"]["dem"], bands["named"]["dem"])
