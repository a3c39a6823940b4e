"""groklst ingest: MII cameras that cover only part of the LST, cameras of different pixel sizes, and
implausible MII reflectance refused before the write pass."""

from __future__ import annotations

import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from groklst_cli.app import run
from pipelines.errors import InputError
from pipelines.fixtures import write_product_fixture
from pipelines.ingest import MAX_REFLECTANCE, IngestWarning, ingest_product
from pipelines.sample_scene import generate_scene

KEPT_B_ROWS = 24  # of camera B's 48 guidance rows: its lower half is cut away


@pytest.fixture(scope="module")
def scene():
    return generate_scene((16, 20), seed=5)


@pytest.fixture(scope="module")
def products(scene, tmp_path_factory):
    return write_product_fixture(scene, tmp_path_factory.mktemp("products_t9"))


def _rewritten_camera_b(mii: Path, target: Path, change) -> Path:
    """A copy of the MII product whose camera B image is ``change(data, profile)``'s."""
    copy = target / mii.name
    shutil.copytree(mii, copy)
    camera = next(copy.glob("*_B.tif"))
    with rasterio.open(camera) as src:
        data, profile = src.read(), src.profile
    data = change(data, profile)
    profile.update(height=data.shape[1], width=data.shape[2])
    with rasterio.open(camera, "w", **profile) as dst:
        dst.write(data)
    return copy


def _ingest(args: list[Path], out: Path, **kwargs) -> tuple[list[str], dict[str, np.ndarray], dict[str, dict]]:
    """Ingest; the ingest warnings issued, the outputs' values and their tags."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        paths = ingest_product(args, out, name="s", **kwargs)
    values, tags = {}, {}
    for kind, path in zip(("lst", "guidance"), paths):
        with rasterio.open(path) as src:
            values[kind], tags[kind] = src.read(), src.tags()
    return [str(w.message) for w in caught if issubclass(w.category, IngestWarning)], values, tags


def _blocks_without_guidance(guidance: np.ndarray, ratio: int = 3) -> np.ndarray:
    bands, rows, cols = guidance[1:7].shape
    return np.isnan(guidance[1:7]).reshape(bands, rows // ratio, ratio, cols // ratio, ratio).all(axis=(0, 2, 4))


@pytest.mark.parametrize("given_lst", [False, True])
def test_cameras_covering_part_of_the_lst_are_a_warning_and_a_tag(given_lst, scene, products, tmp_path):
    tis, mii = products
    cut = _rewritten_camera_b(mii, tmp_path, lambda data, profile: data[:, :KEPT_B_ROWS, :])
    kwargs = {}
    if given_lst:
        lst_file = tmp_path / "lst.tif"
        with rasterio.open(lst_file, "w", driver="GTiff", width=scene.lst.shape[1], height=scene.lst.shape[0],
                           count=1, dtype="float32", crs=scene.crs, transform=scene.lst_transform) as dst:
            dst.write(scene.lst.astype(np.float32), 1)
        kwargs = {"lst": lst_file}
    inputs = [cut] if given_lst else [tis, cut]
    full_warnings, full, full_tags = _ingest([mii] if given_lst else [tis, mii], tmp_path / "full", **kwargs)
    said, part, tags = _ingest(inputs, tmp_path / "part", **kwargs)

    missing = _blocks_without_guidance(part["guidance"])  # camera B's cut-away lower right
    assert missing.shape == full["lst"][0].shape and not _blocks_without_guidance(full["guidance"]).any()
    uncovered = int((missing & np.isfinite(full["lst"][0])).sum())
    inside = int(np.isfinite(full["lst"][0]).sum())
    # columns 12..19 (camera A ends at guidance column 36) of rows 8..15, of 316 LST pixels with data
    assert (uncovered, inside) == ((16 - KEPT_B_ROWS // 3) * 8, 316)
    data = "the given LST's data" if given_lst else "the TIS data"
    line = f"MII cameras cover 79.7 % of {data}: 64 LST pixels (20.3 %) have no guidance"  # 64 / 316
    effect = ("in the guidance (a downscaled LST is nodata there)" if given_lst
              else "in the guidance and the LST")
    assert [w for w in said if w.startswith("MII cameras cover")] == [f"{line} and are nodata {effect}"]
    assert not [w for w in full_warnings if "MII cameras cover" in w]
    assert tags["lst"]["mii_coverage"] == tags["guidance"]["mii_coverage"] == line
    assert "mii_coverage" not in full_tags["lst"] and "mii_coverage" not in full_tags["guidance"]
    # where a camera has data the outputs are those of the whole product; where none has, nodata
    covered = ~np.kron(missing, np.ones((3, 3), dtype=bool))
    np.testing.assert_array_equal(part["guidance"][:, covered], full["guidance"][:, covered])
    if given_lst:
        np.testing.assert_array_equal(part["lst"], full["lst"])
    else:
        assert np.isnan(part["lst"][0][missing]).all()
        np.testing.assert_array_equal(part["lst"][0][~missing], full["lst"][0][~missing])


def test_downscale_on_product_folders_keeps_the_coverage_tag(products, tmp_path, capsys):
    """The downscaled LST says why part of it is nodata, as the ingested pair did."""
    tis, mii = products
    cut = _rewritten_camera_b(mii, tmp_path, lambda data, profile: data[:, :KEPT_B_ROWS, :])
    out = tmp_path / "out"
    assert run(["-q", "downscale", str(tis), str(cut), "--out-dir", str(out)]) == 0
    assert "MII cameras cover 79.7 % of the TIS data" in capsys.readouterr().err
    (output,) = out.glob("*_downscaled.tif")
    with rasterio.open(output) as src:
        assert src.tags()["mii_coverage"].startswith("MII cameras cover 79.7 % of the TIS data: 64 LST pixels")


def test_a_camera_b_of_another_pixel_size_is_refused_in_one_line(products, tmp_path, capsys):
    tis, mii = products

    def at_20_m(data: np.ndarray, profile: dict) -> np.ndarray:
        profile["transform"] = profile["transform"] @ Affine.scale(2.0)
        return data[:, ::2, ::2]

    coarse = _rewritten_camera_b(mii, tmp_path, at_20_m)
    camera_a, camera_b = next(coarse.glob("*_A.tif")), next(coarse.glob("*_B.tif"))
    out = tmp_path / "out"
    assert run(["ingest", str(tis), str(coarse), "--out-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        f"error: {camera_b}: 20 m pixels, camera A's ({camera_a.name}) are 10 m (hint: "
        "MII cameras A and B must share one pixel size: resample the product or adapt PATTERNS)"]
    assert not out.exists()


def _nir_gain_scaled(mii: Path, target: Path, scale: float) -> Path:
    """A copy of the MII product with B7's gain (calib.xml, GBK) times ``scale``."""
    copy = target / f"x{scale:.9g}" / mii.name
    shutil.copytree(mii, copy)
    calib = copy / f"{mii.name}.calib.xml"
    text, n = re.subn(rb"(<RADIANCE_GAIN_BAND_7>)([0-9.]+)", lambda m: m[1] + repr(float(m[2]) * scale).encode(),
                      calib.read_bytes())
    assert n == 1
    calib.write_bytes(text)
    return copy


def _scale_putting_above(brightest_first: np.ndarray, above: int) -> float:
    """The B7 gain factor that puts exactly ``above`` of the NIR values (sorted, brightest first)
    above MAX_REFLECTANCE: the limit halfway between two of them (well apart: float32 rounding
    cannot cross it)."""
    lower, upper = float(brightest_first[above]), float(brightest_first[above - 1])
    assert upper - lower > 1e-4 * upper
    return MAX_REFLECTANCE / (0.5 * (lower + upper))


def test_implausible_nir_is_refused_before_the_write_pass_and_just_under_it_is_written(products, tmp_path):
    tis, mii = products
    _, full, _ = _ingest([tis, mii], tmp_path / "full")
    nir = full["guidance"][6]  # dem, B2..B7
    values = np.sort(nir[np.isfinite(nir)])[::-1]
    valid, half = values.size, values.size // 2  # 1440 of 2880 above: not more than half, accepted
    gaps = values[:-1] - values[1:]
    # counts of the brightest pixels that a gain can put above the limit alone (DN ties: not every count)
    under = max(m for m in range(half - 16, half + 1) if gaps[m - 1] > 1e-4 * values[m - 1])
    over = min(m for m in range(half + 1, half + 17) if gaps[m - 1] > 1e-4 * values[m - 1])
    assert (under, over) == (1439, 1449)  # 49.97 % and 50.31 %

    _, written, _ = _ingest([tis, _nir_gain_scaled(mii, tmp_path, _scale_putting_above(values, under))],
                             tmp_path / "under")
    assert (valid, int((written["guidance"][6] > MAX_REFLECTANCE).sum())) == (2880, under)

    labels: list[str] = []
    refused = _nir_gain_scaled(mii, tmp_path, _scale_putting_above(values, over))
    with pytest.raises(InputError, match="the MII reflectance is implausible") as caught, warnings.catch_warnings():
        warnings.simplefilter("ignore", IngestWarning)
        ingest_product([tis, refused], tmp_path / "over", name="s",
                       on_progress=lambda done, total, label: labels.append(label))
    share = 100.0 * over / valid
    assert f": B7 nir reaches {float(values[0]) * _scale_putting_above(values, over):.2g}, above 1.5 on {share:.0f} % " \
        "of its valid pixels (hint: " in str(caught.value)
    assert "NDMVI minima" in labels and "guidance and LST" not in labels  # refused by the first pass
    assert not (tmp_path / "over").exists()


@pytest.mark.parametrize("share, expected", [(64 / 316, ("20.3", "79.7")), (0.0004, ("0.04", "99.96")),
                                             (3e-6, ("0.0003", "99.9997")), (1 - 1e-5, ("99.999", "0.001")),
                                             (0.0, ("0.0", "100.0")), (1.0, ("100.0", "0.0"))])
def test_a_share_never_reads_as_a_false_0_or_100(share: float, expected: tuple[str, str]) -> None:
    """QA: a few uncovered pixels on a large scene read "100.0 % ... (0.0 %)", and (QA R5) a
    sliver of coverage read "0.0 %" covered."""
    from pipelines.percent import percent_pair

    assert percent_pair(share) == expected
