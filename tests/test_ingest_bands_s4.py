"""groklst ingest judges every band on its own: a dead MII guidance band (all fill) is refused
naming the file and band, one with data under less of the LST than the others is a coverage
warning naming it; a TIS B3 gain is needed only by the split window, and a dead B3 is named."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import rasterio

from groklst_cli.app import run
from tests.test_ingest_plausibility_x import _copy, _ingest


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    """A 24-pixel sample scene's SDGSAT-1 products: MII cameras A and B each cover part of it."""
    folder = tmp_path_factory.mktemp("sample")
    assert run(["-q", "sample-scene", str(folder), "--size", "24", "--seed", "7", "--products"]) == 0
    return folder


def _zero_band(path: Path, band: int) -> None:
    """Make ``band`` of ``path`` all fill (DN 0), as a dead detector delivers it."""
    with rasterio.open(path, "r+") as src:
        src.write(np.zeros((src.height, src.width), dtype=src.dtypes[band - 1]), band)


def _camera(scene: Path, letter: str) -> Path:
    return next(scene.glob(f"KX10_MII_*/*_{letter}.tif"))


def _lines(capsys, start: str) -> list[str]:  # noqa: ANN001
    """The CLI's stderr lines that start with ``start`` (``error:``, ``warning:``)."""
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith(start)]


def dead_band_refusal(scene: Path, band: str) -> str:
    """The error line for MII ``band`` (``B5 red``) holding only fill in both cameras of ``scene``."""
    return (f"error: {_camera(scene, 'A')}: MII {band} holds no valid pixel inside the LST footprint (only fill, "
            f"DN 0, here and in {_camera(scene, 'B').name}) (hint: the band is dead or missing in this delivery: "
            "use a complete MII product of the scene; every guidance band is needed)")


def test_a_band_dead_in_both_cameras_is_refused_naming_file_and_band(sample, tmp_path, capsys):
    scene = _copy(sample, tmp_path)
    for letter in "AB":
        _zero_band(_camera(scene, letter), 2)
    capsys.readouterr()
    assert _ingest(scene, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert f"error: {_camera(scene, 'A')}: MII B2 deepblue holds no valid pixel inside the LST footprint " \
           f"(only fill, DN 0, here and in {_camera(scene, 'B').name}) (hint: the band is dead or missing " \
           "in this delivery: use a complete MII product of the scene; every guidance band is needed)" in err
    # the offset warning says why it could not be measured, not "R² nan"
    assert "TIS and MII: not measurable, kept as delivered: MII B2 deepblue holds " \
           "no data where it is measured" in err
    assert "nan" not in err
    assert not (tmp_path / "out").exists()


def test_a_dead_red_band_is_refused_in_the_first_pass_naming_it(sample, tmp_path, capsys):
    scene = _copy(sample, tmp_path)
    for letter in "AB":
        _zero_band(_camera(scene, letter), 5)
    capsys.readouterr()
    assert _ingest(scene, tmp_path / "out", "--no-coregister") == 2
    assert _lines(capsys, "error:") == [dead_band_refusal(scene, "B5 red")]
    assert not (tmp_path / "out").exists()


def test_a_band_dead_in_one_camera_is_a_coverage_warning_naming_it(sample, tmp_path, capsys):
    scene = _copy(sample, tmp_path)
    _zero_band(_camera(scene, "B"), 2)
    capsys.readouterr()
    assert _ingest(scene, tmp_path / "out") == 0
    warned = [line for line in _lines(capsys, "warning:") if "deepblue" in line]
    with rasterio.open(tmp_path / "out" / "s_lst.tif") as src:
        lst, lst_tag = src.read(1), src.tags()["mii_coverage"]
    with rasterio.open(tmp_path / "out" / "s_guidance.tif") as src:
        deepblue, guidance_tag = src.read(2), src.tags()["mii_coverage"]
        assert np.isfinite(src.read(3)).all()  # blue, from both cameras, covers the scene
    rows, cols = lst.shape
    covered = np.isfinite(deepblue).reshape(rows, 3, cols, 3).any(axis=(1, 3))
    inside = np.isfinite(lst)
    gap = int((inside & ~covered).sum())
    assert 0 < gap < inside.sum()  # camera B's part of the scene, only
    share = 100.0 * gap / inside.sum()
    expected = (f"MII B2 deepblue covers {100 - share:.1f} % of the TIS data: {gap} LST pixels ({share:.1f} %) "
                "have no deepblue guidance")
    assert lst_tag == guidance_tag == expected
    assert len(warned) == 1 and warned[0].startswith(f"warning: {expected}: it is nodata there, and so is a "
                                                     "downscaled LST; is B2 deepblue dead in one camera?")


def _drop_tis_b3_gain(scene: Path) -> Path:
    calib = next(scene.glob("KX10_TIS_*/*.calib.xml"))
    text, n = re.subn(rb"\s*<RADIANCE_(GAIN|BIAS)_BAND_3>[^<]*</RADIANCE_(GAIN|BIAS)_BAND_3>", b"",
                      calib.read_bytes())
    assert n == 2
    calib.write_bytes(text)
    return calib


def test_single_channel_needs_no_tis_b3_gain(sample, tmp_path, capsys):
    scene = _copy(sample, tmp_path)
    assert _ingest(scene, tmp_path / "whole", "--lst-method", "single-channel") == 0
    calib = _drop_tis_b3_gain(scene)
    assert _ingest(scene, tmp_path / "one", "--lst-method", "single-channel") == 0
    with rasterio.open(tmp_path / "one" / "s_lst.tif") as src, \
            rasterio.open(tmp_path / "whole" / "s_lst.tif") as whole:
        assert np.isfinite(src.read(1)).sum() > 0.9 * src.width * src.height
        np.testing.assert_array_equal(src.read(1), whole.read(1))  # B3 was never read
        assert src.tags()["lst_method"].startswith("single-channel (TIS B2")
    capsys.readouterr()
    assert _ingest(scene, tmp_path / "split") == 2
    assert _lines(capsys, "error:") == [
        f"error: {calib}: no gain for TIS band 3 (hint: use the TIS product's own calib.xml; "
        "--lst-method single-channel reads B2 alone)"]


def test_a_dead_tis_b3_is_named_and_single_channel_still_works(sample, tmp_path, capsys):
    scene = _copy(sample, tmp_path)
    tis = next(scene.glob("KX10_TIS_*/*.tiff"))
    _zero_band(tis, 3)
    capsys.readouterr()
    assert _ingest(scene, tmp_path / "split") == 2
    assert _lines(capsys, "error:") == [
        f"error: {tis}: TIS band 3 holds no valid pixel inside the MII footprint (only fill, DN 0), so the "
        "split window retrieves none (hint: the band is dead or missing in this delivery: use --lst-method "
        "single-channel, which reads B2 alone)"]
    assert not (tmp_path / "split").exists()
    assert _ingest(scene, tmp_path / "one", "--lst-method", "single-channel") == 0
