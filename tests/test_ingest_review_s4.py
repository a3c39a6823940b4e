"""Review of the s4 ingest checks (QA s4 F17): a camera gap stays the cameras' line beside a
band's own gap, meta.xml times with zones are compared in UTC and shown as written, and a dead
red band is named as dead even when --saturated nodata made another band's pixels nodata."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import rasterio

from groklst_cli.app import run
from pipelines import sdgsat
from pipelines.errors import InputError
from tests.test_acquisition_dates_s4 import not_one_acquisition
from tests.test_ingest_bands_s4 import _camera, _copy, dead_band_refusal, _ingest, _lines, sample  # noqa: F401 - sample: a fixture


def _fill(path: Path, bands: range | list[int], cols: int | None = None) -> None:
    """Make ``bands`` of ``path`` fill (DN 0): all of it, or its first ``cols`` columns."""
    with rasterio.open(path, "r+") as src:
        for band in bands:
            dn = src.read(band)
            dn[:, :cols] = 0
            src.write(dn, band)


def test_a_camera_gap_stays_the_cameras_line_beside_a_band_gap(sample, tmp_path, capsys):
    """Camera B absent and B5 fill in camera A's first columns: before, the one line blamed the
    whole camera gap on B5 red."""
    assert _ingest(_copy(sample, tmp_path / "whole"), tmp_path / "whole_out", "--no-coregister") == 0
    scene = _copy(sample, tmp_path)
    _fill(_camera(scene, "B"), range(1, 8))
    _fill(_camera(scene, "A"), [5], cols=6)
    capsys.readouterr()
    assert _ingest(scene, tmp_path / "out", "--no-coregister") == 0
    warned = [line for line in _lines(capsys, "warning:") if line.startswith("warning: MII ")]
    with rasterio.open(tmp_path / "whole_out" / "s_lst.tif") as src:
        inside = np.isfinite(src.read(1))  # the TIS data: the whole scene's LST, both cameras there
    with rasterio.open(tmp_path / "out" / "s_lst.tif") as src:
        lst_tag = src.tags()["mii_coverage"]
    with rasterio.open(tmp_path / "out" / "s_guidance.tif") as src:
        guidance_tag = src.tags()["mii_coverage"]
        rows, cols = inside.shape
        blocks = [np.isfinite(src.read(b)).reshape(rows, 3, cols, 3).any(axis=(1, 3)) for b in range(2, 9)]
    cameras = int((inside & ~np.logical_or.reduce(blocks)).sum())
    red = int((inside & ~blocks[3]).sum()) - cameras  # B5 red is the guidance file's band 5
    assert cameras > 0 and red > 0
    total = int(inside.sum())
    camera_line = (f"MII cameras cover {100 - 100 * cameras / total:.1f} % of the TIS data: {cameras} LST pixels "
                   f"({100 * cameras / total:.1f} %) have no guidance")
    red_line = (f"MII B5 red has no data under {red} more LST pixels ({100 * red / total:.1f} % of the TIS data) "
                "the cameras cover")
    assert lst_tag == guidance_tag == f"{camera_line}; {red_line}"
    assert warned == [f"warning: {camera_line} and are nodata in the guidance and the LST",
                      f"warning: {red_line}: it is nodata there, and so is a downscaled LST; is B5 red dead in one "
                      f"camera? ({_camera(scene, 'A').name}, {_camera(scene, 'B').name})"]


def test_a_dead_red_band_is_dead_though_another_band_saturates(sample, tmp_path, capsys):
    """Before, --saturated nodata with any saturation said every red pixel was saturated."""
    scene = _copy(sample, tmp_path)
    for letter in "AB":
        _fill(_camera(scene, letter), [5])
    capsys.readouterr()
    assert _ingest(scene, tmp_path / "out", "--saturated", "nodata", "--mii-saturation-dn", "100",
                   "--no-coregister") == 2
    assert _lines(capsys, "error:") == [dead_band_refusal(scene, "B5 red")]
    assert not (tmp_path / "out").exists()


def _timed(sample: Path, tmp_path: Path, tis_time: str, mii_time: str) -> tuple[sdgsat.Product, sdgsat.Product]:
    """The sample's TIS and MII products, copied, with these meta.xml CenterTime texts, read."""
    scene = _copy(sample, tmp_path)
    for sensor, text in (("TIS", tis_time), ("MII", mii_time)):
        meta = next(scene.glob(f"KX10_{sensor}_*/*.meta.xml"))
        old = meta.read_text(encoding="utf-8")
        start = old.index("<CenterTime>") + len("<CenterTime>")
        meta.write_text(old[:start] + text + old[old.index("</CenterTime>"):], encoding="utf-8")
    return (sdgsat.read_product(next(scene.glob("KX10_TIS_*"))),
            sdgsat.read_product(next(scene.glob("KX10_MII_*"))))


def test_utc_and_local_time_of_one_instant_are_one_acquisition(sample, tmp_path, capsys):
    tis, mii = _timed(sample, tmp_path, "2022-08-15T03:12:05Z", "2022-08-15T11:12:05+08:00")
    sdgsat.check_simultaneous(tis, mii)  # before: refused as 8 h apart
    assert run(["-q", "ingest", str(tis.folder), str(mii.folder), "--out-dir", str(tmp_path / "out")]) == 0


def test_zones_that_disagree_are_two_passes(sample, tmp_path):
    """The same clock reading in two zones is 8 h apart (before, zones were ignored: accepted)."""
    tis, mii = _timed(sample, tmp_path, "2022-08-15T03:12:05Z", "2022-08-15T03:12:05+08:00")
    with pytest.raises(InputError) as caught:
        sdgsat.check_simultaneous(tis, mii)
    assert str(caught.value).startswith(f"{tis.meta}: records 2022-08-15 03:12:05Z, the MII product's "
                                        f"{mii.meta} 2022-08-15 03:12:05+08:00: TIS and MII image simultaneously")


@pytest.mark.parametrize("tis_time, mii_time, shown", [
    # a zone on one alone: compared as written, both shown as written
    ("2022-08-15T03:12:05Z", "2022-08-15 11:12:05", ("2022-08-15 03:12:05Z", "2022-08-15 11:12:05")),
    ("2022-08-15 03:12:05", "2022-08-15T03:15:05+08:00", None),
    # a night TIS with a daytime MII: no six-digit microseconds
    ("2022-08-15 14:40:05.750", "2022-08-15 03:12:05.750", ("2022-08-15 14:40:05.75", "2022-08-15 03:12:05.75")),
])
def test_a_zone_on_one_time_alone_compares_as_written(sample, tmp_path, tis_time, mii_time, shown):
    tis, mii = _timed(sample, tmp_path, tis_time, mii_time)
    if shown is None:
        sdgsat.check_simultaneous(tis, mii)
        return
    with pytest.raises(InputError) as caught:
        sdgsat.check_simultaneous(tis, mii)
    assert str(caught.value) == not_one_acquisition(tis, mii, *shown)


@pytest.mark.parametrize("mii_time", ["2022-08-15 11:12:05 UTC+8", "2022-08-15 11:12:05+8",
                                      "2022-08-15 11:12:05 GMT+08:00", "2022-08-15 11:12:05+8:00"])
def test_zones_spelt_with_a_prefix_or_one_hour_digit_are_read(sample, tmp_path, mii_time):
    """Review R7: `UTC+8` was read as UTC and `+8` dropped, so an MII 8 h before its TIS was paired
    with it; each spelling is +08:00 now: the same instant pairs, a clock 8 h off does not."""
    tis, mii = _timed(sample, tmp_path / "same", "2022-08-15T03:12:05Z", mii_time)
    assert mii.recorded.utcoffset() == timedelta(hours=8)
    sdgsat.check_simultaneous(tis, mii)
    tis, mii = _timed(sample, tmp_path / "apart", "2022-08-15T11:12:05Z", mii_time)
    with pytest.raises(InputError, match=r"2022-08-15 11:12:05Z, the MII product's .* 2022-08-15 11:12:05\+08:00"):
        sdgsat.check_simultaneous(tis, mii)
