"""SDGSAT-1 ingest gaps (s5): meta.xml zones written ``+800``/``+0800`` are read (the time of
day was dropped and only dates paired TIS with MII), a zone not understood is a warning naming
the file and the text, and a TIS B3 image or gain is needed only by the split window."""

from __future__ import annotations

import re
import shutil
import warnings
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from groklst_cli.app import run
from pipelines import ingest, sdgsat
from pipelines.errors import GroklstWarning, InputError
from pipelines.fixtures import FixtureSettings, write_product_fixture
from pipelines.sample_scene import generate_scene
from tests.test_ingest_bands_s4 import _camera, _copy, dead_band_refusal, _ingest, _lines, _zero_band, sample  # noqa: F401 - a fixture
from tests.test_ingest_review_s4 import _timed


@pytest.mark.parametrize("mii_time, hours", [("2022-08-15 11:12:05+800", 8), ("2022-08-15 11:12:05 +0800", 8),
                                             ("2022-08-15T11:12:05.0+800", 8), ("2022-08-15 08:42:05-0530", -5.5)])
def test_zones_without_a_colon_keep_the_time_of_day(sample, tmp_path, mii_time, hours):
    """Before, ``+800`` was read as 80 h, so the time was dropped and dates alone paired the products."""
    tis, mii = _timed(sample, tmp_path / "same", "2022-08-15T03:12:05Z" if hours > 0 else "2022-08-15T14:12:05Z",
                      mii_time)
    assert isinstance(mii.recorded, datetime) and mii.recorded.utcoffset() == timedelta(hours=hours)
    sdgsat.check_simultaneous(tis, mii)
    tis, mii = _timed(sample, tmp_path / "apart", "2022-08-15T11:12:05Z", "2022-08-15 11:12:05+800")
    with pytest.raises(InputError, match=r"2022-08-15 11:12:05Z, the MII product's .* 2022-08-15 11:12:05\+08:00"):
        sdgsat.check_simultaneous(tis, mii)


@pytest.mark.parametrize("zone", ["CST", "+2500", "+0860", "Beijing"])
def test_a_zone_not_understood_is_named_once_and_dates_alone_are_compared(sample, tmp_path, zone):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tis, mii = _timed(sample, tmp_path, "2022-08-15T03:12:05Z", f"2022-08-15 11:12:05 {zone}")
    named = [str(w.message) for w in caught if issubclass(w.category, GroklstWarning)]
    assert named == [f"{mii.meta}: CenterTime '2022-08-15 11:12:05 {zone}' ends in '{zone}', not a time zone "
                     "groklst reads (Z, UTC, +08:00, +0800, +800): its time of day is not used, so the TIS and "
                     "MII products are paired by date alone; write the zone as +HH:MM to have their times compared"]
    assert mii.recorded == date(2022, 8, 15)  # before: 11:12:05 taken as written, the zone ignored
    sdgsat.check_simultaneous(tis, mii)


@pytest.fixture(scope="module")
def per_band(tmp_path_factory) -> Path:
    """A scene whose TIS is delivered one image per band, beside its MII product."""
    folder = tmp_path_factory.mktemp("per_band")
    write_product_fixture(generate_scene((16, 16), seed=7), folder, FixtureSettings(tis_per_band=True))
    return folder


def _products(scene: Path) -> list[Path]:
    return sorted(p for p in scene.iterdir() if p.is_dir())


def _run(scene: Path, out: Path, *extra: str) -> int:
    return run(["ingest", *map(str, _products(scene)), "--out-dir", str(out), "--name", "s", *extra])


def test_single_channel_reads_a_per_band_tis_without_b3(per_band, tmp_path, capsys):
    scene = Path(shutil.copytree(per_band, tmp_path / "scene"))
    assert _run(scene, tmp_path / "whole", "--lst-method", "single-channel") == 0
    b3 = next(scene.glob("SDGSAT1_TIS_*/*_B3.tif"))
    b3.unlink()
    assert _run(scene, tmp_path / "one", "--lst-method", "single-channel") == 0  # before: refused
    with rasterio.open(tmp_path / "one" / "s_lst.tif") as src, \
            rasterio.open(tmp_path / "whole" / "s_lst.tif") as whole:
        assert np.isfinite(src.read(1)).sum() > 0.9 * src.width * src.height
        np.testing.assert_array_equal(src.read(1), whole.read(1))
    capsys.readouterr()
    assert _run(scene, tmp_path / "split") == 2
    [error] = _lines(capsys, "error:")
    assert error.startswith(f"error: {b3}: TIS band 3 image not found: the product is one image per band and "
                            "only ")
    assert error.endswith("(hint: copy the complete product folder; --lst-method single-channel reads B2 alone)")
    assert not (tmp_path / "split").exists()


def test_single_channel_ignores_a_negative_b3_gain(sample, tmp_path, capsys):
    scene = _copy(sample, tmp_path)
    assert _ingest(scene, tmp_path / "whole", "--lst-method", "single-channel") == 0
    calib = next(scene.glob("KX10_TIS_*/*.calib.xml"))
    text, n = re.subn(rb"<RADIANCE_GAIN_BAND_3>[^<]*<", b"<RADIANCE_GAIN_BAND_3>-0.5<", calib.read_bytes())
    assert n == 1
    calib.write_bytes(text)
    assert _ingest(scene, tmp_path / "one", "--lst-method", "single-channel") == 0  # before: refused
    with rasterio.open(tmp_path / "one" / "s_lst.tif") as src, \
            rasterio.open(tmp_path / "whole" / "s_lst.tif") as whole:
        np.testing.assert_array_equal(src.read(1), whole.read(1))
    capsys.readouterr()
    assert _ingest(scene, tmp_path / "split") == 2
    assert _lines(capsys, "error:") == [
        f"error: {calib}: RADIANCE_GAIN_BAND_3 is -0.5; a radiance gain must be a positive finite number "
        "(hint: is the calib.xml damaged? take it from the original delivery)"]


def test_a_dead_band_is_refused_before_the_write_pass(sample, tmp_path, capsys, monkeypatch):
    """Before, a dead deep-blue band was refused only after the whole write pass."""
    scene = _copy(sample, tmp_path)
    for letter in "AB":
        _zero_band(_camera(scene, letter), 2)

    def written(*args, **kwargs):  # noqa: ANN002, ANN003
        raise AssertionError("the write pass began")

    monkeypatch.setattr(ingest._Mii, "count_coverage", written)
    capsys.readouterr()
    assert _ingest(scene, tmp_path / "out", "--no-coregister") == 2
    assert _lines(capsys, "error:") == [dead_band_refusal(scene, "B2 deepblue")]
    assert not (tmp_path / "out").exists()


def _tiled(path: Path, tile: tuple[int, int] | None) -> rasterio.DatasetReader:
    """A 256-pixel 16-pixel-tiled uint16 file, fill but for ``tile`` (row, column of tiles) when given."""
    dn = np.zeros((256, 256), dtype=np.uint16)
    if tile is not None:
        dn[tile[0] * 16 + 3, tile[1] * 16 + 5] = 7
    with rasterio.open(path, "w", driver="GTiff", width=256, height=256, count=1, dtype="uint16", tiled=True,
                       blockxsize=16, blockysize=16, crs="EPSG:32648", transform=Affine(1, 0, 0, 0, -1, 256)) as dst:
        dst.write(dn, 1)
    return rasterio.open(path)


def test_the_cheap_read_never_calls_a_band_with_data_dead(tmp_path):
    """Sampled blocks miss data in tile (0, 1): only the full read, up to that tile, finds it."""
    with _tiled(tmp_path / "one.tif", (0, 1)) as src:
        assert not ingest.band_holds_data(src, 1, sampled=True)
        assert ingest.band_holds_data(src, 1, sampled=False)
    with _tiled(tmp_path / "sampled.tif", (4, 0)) as src:
        assert ingest.band_holds_data(src, 1, sampled=True)
    with _tiled(tmp_path / "fill.tif", None) as src:
        assert not ingest.band_holds_data(src, 1, sampled=True)
        assert not ingest.band_holds_data(src, 1, sampled=False)


def test_the_one_camera_band_warning_names_the_dead_camera(sample, tmp_path, capsys):
    """Before, both cameras' files were listed: the cameras were merged before counting."""
    scene = _copy(sample, tmp_path)
    _zero_band(_camera(scene, "B"), 2)
    capsys.readouterr()
    assert _ingest(scene, tmp_path / "out") == 0
    [warned] = [line for line in _lines(capsys, "warning:") if "deepblue" in line]
    assert warned.endswith("is B2 deepblue dead in one camera? "
                           f"(only fill in camera B {_camera(scene, 'B').name})")
