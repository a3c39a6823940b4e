"""SDGSAT-1 ingest (s9): with --lst a TIS product is not read at all (given by name it is warned
of), an empty calib.xml tag is named empty (not missing), a per-band TIS product without B1 is
ingested (no method reads B1), and a TIS archive beside the MII product is hinted to be unpacked."""

from __future__ import annotations

import json
import re
import shutil
import tarfile
from pathlib import Path

import numpy as np
import rasterio

from groklst_cli.app import run
from tests.test_ingest_bands_s4 import _copy, _ingest, _lines, sample  # noqa: F401 - sample: a fixture


def _tis(scene: Path) -> Path:
    return next(scene.glob("KX10_TIS_*"))


def _mii(scene: Path) -> Path:
    return next(scene.glob("KX10_MII_*"))


def _empty_tag(calib: Path, tag: str) -> None:
    """Empty ``tag``'s value in ``calib`` (GBK bytes, not decoded)."""
    text, n = re.subn(rb"<%s>[^<]*</%s>" % (tag.encode(), tag.encode()), b"<%s></%s>" % (tag.encode(), tag.encode()),
                      calib.read_bytes())
    assert n == 1
    calib.write_bytes(text)


def _break_tis(scene: Path) -> None:
    """A TIS product that fails every check: another pass's meta.xml time, a truncated image, an
    empty B2 bias (before, with --lst, only the calib.xml was read, the rest unchecked)."""
    tis = _tis(scene)
    meta = next(tis.glob("*.meta.xml"))
    meta.write_bytes(meta.read_bytes().replace(b" 03:12:", b" 21:12:"))
    image = next(tis.glob("*.tiff"))
    image.write_bytes(image.read_bytes()[:500])
    _empty_tag(next(tis.glob("*.calib.xml")), "RADIANCE_BIAS_BAND_2")


def _lst(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


def test_a_tis_product_given_beside_lst_is_not_read_and_said_so(sample, tmp_path, capsys):
    scene = _copy(sample, tmp_path)
    _break_tis(scene)
    capsys.readouterr()
    assert _ingest(scene, tmp_path / "out", "--lst", str(sample / "heihe_demo_lst.tif")) == 0
    warned = [line for line in _lines(capsys, "warning:") if "TIS" in line]
    assert warned == [f"warning: {_tis(scene)}: TIS product not read: --lst gives the LST, so its imagery, "
                      "calib.xml and meta.xml are neither used nor checked; leave it out"]
    assert np.isfinite(_lst(tmp_path / "out" / "s_lst.tif")).any()


def test_a_tis_product_found_beside_lst_is_not_read_without_a_word(sample, tmp_path, capsys):
    scene = _copy(sample, tmp_path)
    _break_tis(scene)
    capsys.readouterr()
    assert run(["ingest", str(scene), "--out-dir", str(tmp_path / "out"), "--name", "s",
                "--lst", str(sample / "heihe_demo_lst.tif")]) == 0
    assert [line for line in _lines(capsys, "warning:") if "TIS" in line] == []


def test_the_tis_product_is_checked_whole_without_lst(sample, tmp_path, capsys):
    scene = _copy(sample, tmp_path)
    _break_tis(scene)
    capsys.readouterr()
    assert _ingest(scene, tmp_path / "out") == 2
    [error] = _lines(capsys, "error:")
    assert error.startswith(f"error: {next(_tis(scene).glob('*.calib.xml'))}: RADIANCE_BIAS_BAND_2 is empty")


def test_an_empty_calib_tag_is_named_empty_not_missing(sample, tmp_path, capsys):
    """Before: "no TIS RADIANCE_BIAS_BAND_2 for the gain of band 2", though the tag is there."""
    scene = _copy(sample, tmp_path)
    calib = next(_mii(scene).glob("*.calib.xml"))
    _empty_tag(calib, "RADIANCE_BIAS_BAND_5")
    capsys.readouterr()
    assert _ingest(scene, tmp_path / "out") == 2
    assert _lines(capsys, "error:") == [
        f"error: {calib}: RADIANCE_BIAS_BAND_5 is empty: the tag is there but holds no value "
        "(hint: is the calib.xml damaged? take it from the original delivery)"]
    assert not (tmp_path / "out").exists()


def test_an_empty_tag_of_tis_b1_is_no_refusal(sample, tmp_path, capsys):
    """No LST method reads B1: an empty B1 tag calibrates nothing (as a NaN one, test_ingest_s6)."""
    scene = _copy(sample, tmp_path)
    _empty_tag(next(_tis(scene).glob("*.calib.xml")), "RADIANCE_GAIN_BAND_1")
    assert _ingest(scene, tmp_path / "out") == 0


def test_a_per_band_tis_product_without_b1_is_ingested_as_with_it(tmp_path, capsys):
    """README: "a band missing" is refused; B1, which no method reads, may be missing (the LST is
    the same to the bit)."""
    folder = tmp_path / "sample"
    assert run(["-q", "sample-scene", str(folder), "--size", "24", "--seed", "7", "--products",
                "--tis-per-band"]) == 0
    tis = next(folder.glob("SDGSAT1_TIS_*"))

    def ingest(out: str) -> int:
        return run(["ingest", str(tis), str(_mii(folder)), "--out-dir", str(tmp_path / out), "--name", "s"])

    assert ingest("whole") == 0
    [b1] = [p for p in tis.iterdir() if re.search(r"_B0*1\.tif$", p.name, re.IGNORECASE)]
    b1.unlink()
    assert ingest("no_b1") == 0
    np.testing.assert_array_equal(_lst(tmp_path / "no_b1" / "s_lst.tif"), _lst(tmp_path / "whole" / "s_lst.tif"))
    b2 = next(p for p in tis.iterdir() if re.search(r"_B0*2\.tif$", p.name, re.IGNORECASE))
    b2.unlink()
    capsys.readouterr()
    assert ingest("no_b2") == 2
    [error] = _lines(capsys, "error:")
    assert error.startswith(f"error: {b2}: TIS band 2 image not found")


def test_a_tis_zip_beside_the_mii_folder_is_hinted_to_be_unpacked(sample, tmp_path, capsys):
    """Before: "no TIS product given (hint: add the TIS product or pass --lst LST.tif)"."""
    scene = _copy(sample, tmp_path)
    tis = _tis(scene)
    shutil.make_archive(str(scene / "tis"), "zip", scene, tis.name)
    shutil.rmtree(tis)
    capsys.readouterr()
    assert run(["ingest", str(_mii(scene)), "--out-dir", str(tmp_path / "out")]) == 2
    assert _lines(capsys, "error:") == [
        f"error: {_mii(scene)}: no TIS product given (hint: {scene / 'tis.zip'} looks like the TIS product "
        "still packed: unpack it first (tar -xf or unzip), then give the product folder it holds, or pass "
        "--lst LST.tif)"]


def test_a_tis_tar_gz_in_the_folder_given_is_hinted_to_be_unpacked(sample, tmp_path, capsys):
    scene = _copy(sample, tmp_path)
    tis = _tis(scene)
    archive = scene / f"{tis.name}.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tis, arcname=tis.name)
    shutil.rmtree(tis)
    capsys.readouterr()
    assert run(["ingest", str(scene), "--out-dir", str(tmp_path / "out")]) == 2
    [error] = _lines(capsys, "error:")
    assert f"no TIS product given (hint: {archive} looks like the TIS product still packed: unpack it first" in error


# F2c: regressions of 937104f found by review.


def test_a_tis_product_alone_beside_lst_is_named_in_the_missing_mii_error(sample, tmp_path, capsys):
    """Before: "error: no MII product given" naming no folder (the TIS folder, not read with --lst,
    was the one the error named before 937104f)."""
    scene = _copy(sample, tmp_path)
    capsys.readouterr()
    assert run(["ingest", str(_tis(scene)), "--lst", str(sample / "heihe_demo_lst.tif"),
                "--out-dir", str(tmp_path / "out")]) == 2
    assert _lines(capsys, "error:") == [f"error: {_tis(scene)}: no MII product given (hint: add the MII product)"]


def test_a_folder_holding_only_the_tis_product_is_named_in_the_json_error(sample, tmp_path, capsys):
    parent = tmp_path / "only_tis"
    shutil.copytree(_tis(sample), parent / _tis(sample).name)
    capsys.readouterr()
    assert run(["ingest", str(parent), "--lst", str(sample / "heihe_demo_lst.tif"), "--out-dir",
                str(tmp_path / "out"), "--json"]) == 2
    [line] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert line["status"] == "error"
    assert line["error"] == f"{parent}: no MII product given (hint: add the MII product)"


def test_an_empty_tag_of_a_band_mii_has_not_is_no_refusal(sample, tmp_path, capsys):
    """MII has 7 bands: an empty BAND_8 tag calibrates nothing (before 937104f it was ingested)."""
    scene = _copy(sample, tmp_path)
    calib = next(_mii(scene).glob("*.calib.xml"))
    text, n = re.subn(rb"(<RADIANCE_GAIN_BAND_7>[^<]*</RADIANCE_GAIN_BAND_7>)",
                      rb"\1<RADIANCE_GAIN_BAND_8></RADIANCE_GAIN_BAND_8>", calib.read_bytes())
    assert n == 1
    calib.write_bytes(text)
    capsys.readouterr()
    assert _ingest(scene, tmp_path / "out") == 0
    assert _lines(capsys, "error:") == []
    assert np.isfinite(_lst(tmp_path / "out" / "s_lst.tif")).any()


def _archives_beside_mii(scene: Path, names: list[str]) -> list[Path]:
    """``scene`` without its TIS folder, files ``names`` (archives by name) beside the MII folder."""
    shutil.rmtree(_tis(scene))
    for name in names:
        (scene / name).write_bytes(b"")
    return [scene / name for name in names]


def test_the_archive_of_the_mii_scene_is_hinted_not_the_first_sorted(sample, tmp_path, capsys):
    """Before: the hint named sorted(...)[0], here another date's archive."""
    scene = _copy(sample, tmp_path)
    other, own = _archives_beside_mii(scene, ["KX10_TIS_20220101_E100.45_N38.93_202200012240_L4A.tar.gz",
                                              "KX10_TIS_20220815_E100.45_N38.93_202200112240_L4A.tar.gz"])
    capsys.readouterr()
    assert run(["ingest", str(_mii(scene)), "--out-dir", str(tmp_path / "out")]) == 2
    assert _lines(capsys, "error:") == [
        f"error: {_mii(scene)}: no TIS product given (hint: {own} looks like the TIS product still packed: "
        "unpack it first (tar -xf or unzip), then give the product folder it holds, or pass --lst LST.tif)"]


def test_archives_of_other_scenes_are_not_offered_as_this_ones(sample, tmp_path, capsys):
    """Review R4: archives dated otherwise than the MII product were hinted as its TIS product
    ("unpack this scene's first"): they are other scenes' (one listed as such, several counted)."""
    scene = _copy(sample, tmp_path)
    archives = _archives_beside_mii(scene, [f"KX10_TIS_2022010{day}_E101.00_N38.93_202200012240_L4A.tar.gz"
                                            for day in range(1, 5)])
    capsys.readouterr()
    assert run(["ingest", str(_mii(scene)), "--out-dir", str(tmp_path / "out")]) == 2
    assert _lines(capsys, "error:") == [
        f"error: {_mii(scene)}: no TIS product given (hint: {archives[0]}, {archives[1]}, {archives[2]} and 1 more "
        "are other scenes' TIS archives (their dates or places are not the MII product's): add this scene's TIS "
        "product or pass --lst LST.tif)"]
    for extra in archives[1:]:
        extra.unlink()
    assert run(["ingest", str(_mii(scene)), "--out-dir", str(tmp_path / "out")]) == 2
    assert _lines(capsys, "error:") == [
        f"error: {_mii(scene)}: no TIS product given (hint: {archives[0]} is another scene's TIS archive (its date "
        "or place is not the MII product's): add this scene's TIS product or pass --lst LST.tif)"]
