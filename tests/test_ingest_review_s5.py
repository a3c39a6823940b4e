"""Review of 8746120 (s5): two meta.xml times ending in one zone groklst does not read (``CST``)
are compared as written again (a pair 4 s apart across midnight was refused), ``+08:00:00``
and ``03:12:05,750`` are read, a zone not read is warned about once, and ``downscale`` and
``ingest --skip-existing`` need no TIS B3 image or gain for a single-channel LST."""

from __future__ import annotations

import json
import re
import shutil
import warnings
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from groklst_cli.app import run
from pipelines import sdgsat
from pipelines.errors import InputError
from tests.test_ingest_bands_s4 import _copy, _ingest, _lines, sample  # noqa: F401 - sample: a fixture
from tests.test_ingest_review_s4 import _timed

NOT_READ = "not a time zone groklst reads (Z, UTC, +08:00, +0800, +800)"


@pytest.mark.parametrize("zone, mii_zone", [("CST", "CST"), ("BJT", "BJT"), ("CST", "cst")])
def test_one_zone_not_read_on_both_compares_the_times_as_written(sample, tmp_path, zone, mii_zone):
    """Before, each time was a date alone: 4 s apart across midnight was two dates, refused."""
    with warnings.catch_warnings(record=True) as caught, sdgsat.zones_warned_when_paired():
        warnings.simplefilter("always")
        tis, mii = _timed(sample, tmp_path / "near", f"2022-08-15 23:59:58 {zone}",
                          f"2022-08-16 00:00:02 {mii_zone}")
        assert not caught  # the pairing warns, knowing both times
        sdgsat.check_simultaneous(tis, mii)
    assert tis.recorded == date(2022, 8, 15) and mii.recorded == date(2022, 8, 16)
    assert [str(w.message) for w in caught] == [
        f"{tis.meta}: CenterTime '2022-08-15 23:59:58 {zone}' and the MII product's {mii.meta} CenterTime "
        f"'2022-08-16 00:00:02 {mii_zone}' end in '{zone}', {NOT_READ}: their times are compared as written, "
        "taken to be in one zone; write the zone as +HH:MM to have it read"]
    with sdgsat.zones_warned_when_paired():
        tis, mii = _timed(sample, tmp_path / "far", f"2022-08-15 10:00:00 {zone}", f"2022-08-15 10:20:00 {mii_zone}")
    with pytest.raises(InputError, match=rf"records 2022-08-15 10:00:00 {zone}, the MII product's .* "
                                         rf"2022-08-15 10:20:00 {mii_zone}: TIS and MII image simultaneously"):
        sdgsat.check_simultaneous(tis, mii)  # before: one date, accepted


def test_different_zones_not_read_compare_dates(sample, tmp_path):
    with sdgsat.zones_warned_when_paired():
        tis, mii = _timed(sample, tmp_path, "2022-08-15 23:59:58 CST", "2022-08-16 00:00:02 BJT")
    with pytest.raises(InputError, match=r"records 2022-08-15, the MII product's .* 2022-08-16: TIS and MII"):
        sdgsat.check_simultaneous(tis, mii)


@pytest.mark.parametrize("tis_time, mii_time, moment", [
    ("2022-08-15 23:59:58+08:00:00", "2022-08-16 00:00:02 +08:00:00", datetime(2022, 8, 16, 0, 0, 2)),
    ("2022-08-15T16:00:01Z", "2022-08-16 00:00:02,750+08:00", datetime(2022, 8, 16, 0, 0, 2, 750000)),
    ("2022-08-15 23:59:58,5", "2022-08-16 00:00:02,750", datetime(2022, 8, 16, 0, 0, 2, 750000))])
def test_zone_seconds_and_comma_fractions_are_read(sample, tmp_path, recwarn, tis_time, mii_time, moment):
    """Before, ``+08:00:00`` and ``,750`` were warned about and the time of day dropped."""
    tis, mii = _timed(sample, tmp_path, tis_time, mii_time)
    assert not [w for w in recwarn if NOT_READ in str(w.message)]
    assert isinstance(mii.recorded, datetime) and mii.recorded.replace(tzinfo=None) == moment
    assert mii.recorded.utcoffset() == (None if mii_time.endswith("750") else timedelta(hours=8))
    sdgsat.check_simultaneous(tis, mii)


def _set_times(scene: Path, tis_time: str, mii_time: str) -> None:
    """Write these StartTime and CenterTime texts into the TIS and MII meta.xml of ``scene``."""
    for sensor, text in (("TIS", tis_time), ("MII", mii_time)):
        meta = next(scene.glob(f"KX10_{sensor}_*/*.meta.xml"))
        old = meta.read_text(encoding="utf-8")
        meta.write_text(re.sub(r"<(StartTime|CenterTime)>[^<]*<", rf"<\1>{text}<", old), encoding="utf-8")


def test_ingest_pairs_one_zone_not_read_across_midnight_warning_once(sample, tmp_path, capsys):
    scene = _copy(sample, tmp_path)
    _set_times(scene, "2022-08-15 23:59:58 CST", "2022-08-16 00:00:02 CST")
    capsys.readouterr()
    assert _ingest(scene, tmp_path / "out") == 0  # before: refused as not one acquisition
    tis, mii = (next(scene.glob(f"KX10_{s}_*/*.meta.xml")) for s in ("TIS", "MII"))
    assert [line for line in _lines(capsys, "warning:") if NOT_READ in line] == [
        f"warning: {tis}: CenterTime '2022-08-15 23:59:58 CST' and the MII product's {mii} CenterTime "
        f"'2022-08-16 00:00:02 CST' end in 'CST', {NOT_READ}: their times are compared as written, taken to "
        "be in one zone; write the zone as +HH:MM to have it read"]


def test_a_zone_not_read_is_warned_about_once(sample, tmp_path, capsys):
    """Before, ingest printed it twice (the outputs' names are read from the products first)."""
    scene = _copy(sample, tmp_path)
    _set_times(scene, "2022-08-15T03:12:05Z", "2022-08-15 11:12:05 CST")
    capsys.readouterr()
    assert _ingest(scene, tmp_path / "out", "--json") == 0
    captured = capsys.readouterr()
    mii = next(scene.glob("KX10_MII_*/*.meta.xml"))
    expected = (f"{mii}: CenterTime '2022-08-15 11:12:05 CST' ends in 'CST', {NOT_READ}: its time of day is not "
                "used, so the TIS and MII products are paired by date alone; write the zone as +HH:MM to have "
                "their times compared")
    assert [line for line in captured.err.splitlines() if NOT_READ in line] == [f"warning: {expected}"]
    assert [w for w in json.loads(captured.out)["warnings"] if NOT_READ in w] == [expected]


@pytest.fixture(scope="module")
def per_band(tmp_path_factory) -> Path:
    """A 24-pixel sample scene (DEM beside it) whose TIS is one image per band, without B3."""
    folder = tmp_path_factory.mktemp("per_band")
    assert run(["-q", "sample-scene", str(folder), "--name", "zp", "--size", "24", "--seed", "7", "--products",
                "--tis-per-band"]) == 0
    next(folder.glob("SDGSAT1_TIS_*/*_B3.tif")).unlink()
    return folder


def _products(scene: Path) -> list[str]:
    return [str(next(scene.glob("SDGSAT1_TIS_*"))), str(next(scene.glob("KX10_MII_*")))]


def test_downscale_single_channel_reads_a_per_band_tis_without_b3(per_band, tmp_path, capsys):
    out = tmp_path / "d" / "fine.tif"
    assert run(["-q", "downscale", *_products(per_band), "--dem", str(per_band / "zp_dem.tif"),
                "--lst-method", "single-channel", "-o", str(out)]) == 0  # before: TIS band 3 image not found
    assert out.is_file()
    capsys.readouterr()
    assert run(["-q", "downscale", *_products(per_band), "--dem", str(per_band / "zp_dem.tif"),
                "-o", str(tmp_path / "split.tif")]) == 2
    [error] = _lines(capsys, "error:")
    assert "TIS band 3 image not found" in error and error.endswith(
        "(hint: copy the complete product folder; --lst-method single-channel reads B2 alone) "
        f"(scene {', '.join(map(str, _products(per_band)))})")  # the scene's line since d04f651


def test_downscale_single_channel_ignores_a_negative_b3_gain(sample, tmp_path):
    scene = _copy(sample, tmp_path)
    calib = next(scene.glob("KX10_TIS_*/*.calib.xml"))
    text, n = re.subn(rb"<RADIANCE_GAIN_BAND_3>[^<]*<", b"<RADIANCE_GAIN_BAND_3>-0.5<", calib.read_bytes())
    assert n == 1
    calib.write_bytes(text)
    out = tmp_path / "fine.tif"
    assert run(["-q", "downscale", *map(str, sorted(scene.glob("KX10_*"))), "--lst-method", "single-channel",
                "-o", str(out)]) == 0  # before: RADIANCE_GAIN_BAND_3 is -0.5 refused
    assert out.is_file()


def test_skip_existing_skips_a_single_channel_scene_without_b3(per_band, tmp_path, capsys):
    """Before: the names were not read (B3 refused), so the finished scene was an error."""
    scene = Path(shutil.copytree(per_band, tmp_path / "scene"))
    args = ["ingest", *_products(scene), "--lst-method", "single-channel", "--out-dir", str(tmp_path / "s")]
    assert run(["-q", *args]) == 0
    capsys.readouterr()
    assert run([*args, "--skip-existing", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "skipped"


def test_the_single_channel_hint_is_given_only_for_a_split_window(per_band):
    folder = next(per_band.glob("SDGSAT1_TIS_*"))
    with pytest.raises(InputError) as caught:
        sdgsat.tis_band_files(folder, needed=sdgsat.TIS_BANDS)
    assert str(caught.value).endswith("(hint: copy the complete product folder)")
    with pytest.raises(InputError) as caught:
        sdgsat.tis_band_files(folder, needed=(2, 3))
    assert str(caught.value).endswith("(hint: copy the complete product folder; --lst-method single-channel "
                                      "reads B2 alone)")
