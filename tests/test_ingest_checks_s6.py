"""SDGSAT-1 ingest (s6, F8): calib.xml VERSION blocks are compared on the bands the LST method
reads only (TIS B1 never; B3 not for a single-channel LST), a NaN written alike in two blocks is
no difference between them; a complex --lst or --dem is refused and a JPEG one warned of, before
any pass over the scene."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import rasterio

from pipelines import ingest, sdgsat
from pipelines.errors import InputError
from tests.test_ingest_bands_s4 import _copy, _ingest, _lines, sample  # noqa: F401 - sample: a fixture

VERSION_REFUSAL = "2 TIS calibration VERSION blocks with different gains or biases"


def _second_version(scene: Path, old: bytes, new: bytes) -> Path:
    """Duplicate the TIS calib.xml's VERSION block, writing ``new`` for ``old`` in the copy only."""
    calib = next(scene.glob("KX10_TIS_*/*.calib.xml"))
    raw = calib.read_bytes()
    block = re.search(rb"[ \t]*<VERSION>.*?</VERSION>\n", raw, re.S).group(0)
    assert old in block
    calib.write_bytes(raw.replace(block, block + block.replace(old, new)))
    return calib


def _lst(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


def test_versions_differing_in_b1_alone_are_no_refusal(sample, tmp_path, capsys):
    """Before, exit 2 'different gains or biases', though no LST method reads B1."""
    scene = _copy(sample, tmp_path)
    assert _ingest(scene, tmp_path / "one") == 0
    _second_version(scene, b">0.003947<", b">0.004100<")
    capsys.readouterr()
    assert _ingest(scene, tmp_path / "two") == 0
    assert _lines(capsys, "error:") == []
    np.testing.assert_array_equal(_lst(tmp_path / "two" / "s_lst.tif"), _lst(tmp_path / "one" / "s_lst.tif"))


def test_versions_differing_in_b3_refuse_the_split_window_only_b2_every_method(sample, tmp_path, capsys):
    scene = _copy(sample, tmp_path)
    calib = _second_version(scene, b">0.005329<", b">0.005400<")
    capsys.readouterr()
    assert _ingest(scene, tmp_path / "split") == 2
    [error] = _lines(capsys, "error:")
    assert error.startswith(f"error: {calib}: {VERSION_REFUSAL}")
    assert _ingest(scene, tmp_path / "single", "--lst-method", "single-channel") == 0
    assert _lines(capsys, "error:") == []
    _second_version(scene, b">0.003946<", b">0.004100<")  # B2, which every method reads
    assert _ingest(scene, tmp_path / "b2", "--lst-method", "single-channel") == 2
    [error] = _lines(capsys, "error:")
    assert error.startswith(f"error: {calib}: 3 TIS calibration VERSION blocks with different gains or biases")


def test_a_nan_written_alike_in_both_blocks_is_no_difference(tmp_path):
    """Before, nan != nan made two identical blocks 'different'; the NaN gain is now refused as such."""
    path = tmp_path / "c.calib.xml"
    block = "<VERSION><RADIANCE_GAIN_BAND_1>nan</RADIANCE_GAIN_BAND_1><RADIANCE_BIAS_BAND_1>0.1</RADIANCE_BIAS_BAND_1></VERSION>"
    path.write_text(f"<r><TIS>{block}{block}</TIS></r>")
    with pytest.raises(InputError, match=r"^.*RADIANCE_GAIN_BAND_1 is nan; a radiance gain must be a positive finite"):
        sdgsat.parse_calibration(path, "TIS")


def _no_pass(monkeypatch) -> None:  # noqa: ANN001
    """Make any pass over the scene fail the test: a refusal must come before them."""
    def long_pass(*args, **kwargs):  # noqa: ANN002, ANN003
        raise AssertionError("a pass over the scene began")

    monkeypatch.setattr(ingest._Mii, "find_saturation", long_pass)
    monkeypatch.setattr(ingest._TisLst, "find_saturation", long_pass)


def _converted(source: Path, path: Path, **profile) -> Path:  # noqa: ANN003
    """A copy of ``source`` with its profile changed by ``profile`` (dtype, compression); to uint8
    (JPEG's depth) clipped to 0..255, NaN as 0."""
    with rasterio.open(source) as src:
        values, out = src.read(1), {**src.profile, **profile}
    with rasterio.open(path, "w", **out) as dst:
        dst.write(np.clip(np.nan_to_num(values), 0, 255).astype(out["dtype"]) if out["dtype"] == "uint8"
                  else values.astype(out["dtype"]), 1)
    return path


@pytest.mark.parametrize(("option", "holds"), [("--lst", "LST"), ("--dem", "elevation")])
def test_a_complex_lst_or_dem_is_refused_before_any_pass(sample, tmp_path, capsys, monkeypatch, option, holds):
    """Before, exit 0: the imaginary part was dropped without a word."""
    scene = _copy(sample, tmp_path)
    given = _converted(sample / "heihe_demo_lst.tif", tmp_path / "c.tif", dtype="complex64", nodata=None)
    _no_pass(monkeypatch)
    capsys.readouterr()
    assert _ingest(scene, tmp_path / "out", option, str(given)) == 2
    assert _lines(capsys, "error:") == [
        f"error: {given}: complex data type CFloat32 holds no {holds} values (hint: give real {holds} values; if "
        f"the real part holds them, keep it: gdal_translate -ot Float32 {given} REAL.tif)"]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("option", "off"), [("--lst", "values may be off by kelvins"),
                                             ("--dem", "elevations may be off")])
def test_a_jpeg_lst_or_dem_is_warned_of(sample, tmp_path, capsys, option, off):
    """Before, a JPEG-compressed --lst or --dem was read as exact, nothing said."""
    scene = _copy(sample, tmp_path)
    source = sample / ("heihe_demo_lst.tif" if option == "--lst" else "heihe_demo_dem.tif")
    given = _converted(source, tmp_path / "j.tif", dtype="uint8", nodata=None, compress="JPEG", photometric="MINISBLACK")
    capsys.readouterr()
    _ingest(scene, tmp_path / "out", option, str(given))
    warned = [line for line in _lines(capsys, "warning:") if "lossy" in line]
    assert warned == [f"warning: {given}: JPEG compression is lossy: {off}; give a losslessly compressed copy of "
                      "the original (COMPRESS=DEFLATE, LZW or ZSTD)"]
