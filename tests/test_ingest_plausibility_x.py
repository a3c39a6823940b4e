"""groklst ingest refuses MII reflectance no ground gives and reports clipped TIS bands."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio

from groklst_cli.app import run

MII_CALIB = "KX10_MII_20220815_E100.45_N38.93_202200112236_L4A.calib.xml"
TIS_NAME = "KX10_TIS_20220815_E100.45_N38.93_202200112236_L4A"


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    """A 48-pixel sample scene's SDGSAT-1 products (and its DEM)."""
    folder = tmp_path_factory.mktemp("sample")
    assert run(["-q", "sample-scene", str(folder), "--size", "48", "--seed", "3", "--products"]) == 0
    return folder


def _copy(sample: Path, tmp_path: Path) -> Path:
    scene = tmp_path / "scene"
    for product in sample.glob("KX10_*"):
        shutil.copytree(product, scene / product.name)
    return scene


def _ingest(scene: Path, out: Path, *extra: str) -> int:
    return run(["ingest", *map(str, sorted(scene.glob("KX10_*"))), "--out-dir", str(out), "--name", "s", *extra])


def _edit(path: Path, pattern: bytes, replace) -> None:  # noqa: ANN001 - a re.sub replacement
    """Rewrite ``path``'s bytes (calib.xml is GBK, so not decoded)."""
    text, n = re.subn(pattern, replace, path.read_bytes())
    assert n > 0
    path.write_bytes(text)


def _lines(capsys, start: str) -> list[str]:  # noqa: ANN001
    """The CLI's stderr lines that start with ``start`` (``error:``, ``warning:``)."""
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith(start)]


def test_mii_gains_ten_times_too_high_are_refused_naming_calib_xml(sample, tmp_path, capsys):
    scene = _copy(sample, tmp_path)
    calib = next(scene.glob("KX10_MII_*")) / MII_CALIB
    _edit(calib, rb"(<RADIANCE_GAIN_BAND_\d>)([0-9.]+)", lambda m: m[1] + str(float(m[2]) * 10).encode())
    capsys.readouterr()
    assert _ingest(scene, tmp_path / "out") == 2
    assert _lines(capsys, "error:") == [
        f"error: {calib}: the MII reflectance is implausible: B6 vre reaches 3.8, above 1.5 on 90 % of its "
        "valid pixels (also above it: B4, B5, B7) (hint: check the MII gains in calib.xml and the solar "
        "zenith in meta.xml (32.5 deg used); even snow slopes facing the sun stay below 1.5 on most of a scene)"]
    assert not (tmp_path / "out").exists()


def test_a_sun_near_the_horizon_in_meta_xml_is_refused_with_the_zenith_used(sample, tmp_path, capsys):
    scene = _copy(sample, tmp_path)
    mii = next(scene.glob("KX10_MII_*"))
    _edit(mii / MII_CALIB.replace("calib", "meta"), rb"<SolarZenith>32.5<", b"<SolarZenith>84<")
    capsys.readouterr()
    assert _ingest(scene, tmp_path / "out") == 2
    assert _lines(capsys, "error:") == [
        f"error: {mii / MII_CALIB}: the MII reflectance is implausible: B7 nir reaches 3.9, above 1.5 on 90 % of "
        "its valid pixels (also above it: B4, B5, B6) (hint: check the MII gains in calib.xml and the solar "
        "zenith in meta.xml (84 deg used); even snow slopes facing the sun stay below 1.5 on most of a scene)"]


def test_bright_but_possible_reflectance_is_written(sample, tmp_path, capsys):
    """Gains tripled: the brightest NIR passes 1.4 (brighter than snow) on a few pixels, under 1.5: kept."""
    scene = _copy(sample, tmp_path)
    _edit(next(scene.glob("KX10_MII_*")) / MII_CALIB, rb"(<RADIANCE_GAIN_BAND_\d>)([0-9.]+)",
          lambda m: m[1] + str(float(m[2]) * 3).encode())
    assert _ingest(scene, tmp_path / "out") == 0
    with rasterio.open(tmp_path / "out" / "s_guidance.tif") as src:
        nir = src.read(7)
    assert 1.4 < float(np.nanmax(nir)) < 1.5


def _clip_tis(scene: Path, bands: tuple[int, ...]) -> list[int]:
    """Clip TIS ``bands`` at their 97th-percentile DN, as a saturated detector does; the DNs."""
    image = next(next(scene.glob("KX10_TIS_*")).glob("*.tif*"))
    with rasterio.open(image) as src:
        profile, dn = src.profile, src.read()
    levels = []
    for band in bands:
        level = int(np.percentile(dn[band - 1][dn[band - 1] > 0], 97))
        np.minimum(dn[band - 1], level, out=dn[band - 1])
        levels.append(level)
    with rasterio.open(image, "w", **profile) as dst:
        dst.write(dn)
    return levels


def _lst_tag(out: Path) -> str:
    with rasterio.open(out / "s_lst.tif") as src:
        return src.tags()["tis_saturation"]


def test_clipped_tis_bands_are_warned_about_and_tagged(sample, tmp_path, capsys):
    scene = _copy(sample, tmp_path)
    b2, b3 = _clip_tis(scene, (2, 3))
    capsys.readouterr()
    assert _ingest(scene, tmp_path / "out") == 0
    found = f"B2 3.18 % (73 px) from DN {b2}; B3 3.09 % (71 px) from DN {b3}"
    assert [line for line in _lines(capsys, "warning:") if "saturated" in line] == [
        f"warning: TIS bands saturated in {TIS_NAME} (share of the image's pixels): {found}; their brightness "
        "temperature is a lower bound there, and so is the LST retrieved from it (a split window's is "
        "unreliable there)"]
    assert _lst_tag(tmp_path / "out") == f"{found}; kept as delivered"


def test_single_channel_looks_only_at_b2_and_clean_bands_say_none(sample, tmp_path, capsys):
    scene = _copy(sample, tmp_path)
    assert _ingest(scene, tmp_path / "clean") == 0
    assert _lst_tag(tmp_path / "clean") == "none found (no band's histogram piles up at its largest DN)"
    _clip_tis(scene, (3,))
    assert _ingest(scene, tmp_path / "b3", "--lst-method", "single-channel") == 0
    assert _lst_tag(tmp_path / "b3") == "none found (no band's histogram piles up at its largest DN)"
    assert "TIS bands saturated" not in capsys.readouterr().err


def test_sunlit_snow_slopes_on_part_of_the_scene_are_written(sample, tmp_path, capsys):
    """Reviewer: 3 % of the MII pixels at reflectance 1.6-2.0 (snow slopes facing a low sun) with
    right gains refused the whole scene; only most of a band above 1.5 is a wrong gain or zenith."""
    scene = _copy(sample, tmp_path)
    rng = np.random.default_rng(0)
    for image in sorted(next(scene.glob("KX10_MII_*")).glob("*_[AB].tif")):
        with rasterio.open(image) as src:
            profile, dn = src.profile, src.read()
        side = int(round(0.03 ** 0.5 * dn.shape[1]))
        for band in dn:
            top = np.percentile(band[band > 0], 99.5)
            band[:side, :side] = np.minimum(top * rng.uniform(3.6, 4.4, (side, side)), 65535).astype(band.dtype)
        with rasterio.open(image, "w", **profile) as dst:
            dst.write(dn)
    assert _ingest(scene, tmp_path / "out") == 0
    guidance = next((tmp_path / "out").glob("*_guidance.tif"))
    with rasterio.open(guidance) as src:
        assert np.nanmax(src.read(7)) > 1.5  # the bright slopes are written as they are
