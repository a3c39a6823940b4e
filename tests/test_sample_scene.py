"""The synthetic Heihe scene: grids, bands, physics, determinism, files and the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from groklst_cli.app import run
from pipelines import indices
from pipelines.errors import InputError
from pipelines.sample_scene import (
    BAND_NAMES,
    COVER_NAMES,
    aggregate_radiance,
    generate_scene,
    write_scene,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def scene():
    return generate_scene(lr_shape=(40, 48), seed=3)


def test_bands_shapes_and_crs(scene):
    assert BAND_NAMES == ("dem", "deepblue", "blue", "green", "red", "vre", "nir", "ndmvi", "ndvi", "ndwi")
    assert scene.lst.shape == (40, 48) and scene.lst.dtype == np.float32
    assert scene.guidance.shape == (10, 120, 144) and scene.guidance.dtype == np.float32
    assert scene.lst_fine.shape == (120, 144)
    assert scene.crs.to_epsg() == 32647
    # near Zhangye in UTM 47N
    assert 600_000 < scene.lst_transform.c < 650_000 and 4_290_000 < scene.lst_transform.f < 4_330_000


def test_grids_nest_exactly(scene):
    lt, gt = scene.lst_transform, scene.guidance_transform
    assert (lt.c, lt.f) == (gt.c, gt.f)
    assert lt.a == pytest.approx(30.0) and gt.a == pytest.approx(10.0) and lt.e == -30.0 and gt.e == -10.0
    for ratio in (2, 4):
        other = generate_scene((8, 10), seed=0, ratio=ratio)
        assert other.guidance.shape[1:] == (8 * ratio, 10 * ratio)
        assert other.lst_transform.a == pytest.approx(ratio * other.guidance_transform.a)


@pytest.mark.parametrize("shape", [None, (6, 5), (64, 16)])
def test_physical_ranges(scene, shape):
    """Also for tiny and elongated scenes, where correlated noise is coarser than the scene."""
    scene = scene if shape is None else generate_scene(shape, seed=11)
    lst = scene.lst[np.isfinite(scene.lst)]
    assert 270 < lst.min() and lst.max() < 340
    refl = scene.guidance[1:7]
    assert np.all((refl > 0) & (refl < 1))
    for name in ("ndmvi", "ndvi", "ndwi"):
        band = scene.band(name)
        assert np.all(np.isfinite(band)) and band.min() >= -1 and band.max() <= 1
    dem = scene.band("dem")
    assert 1400 < dem.min() and dem.max() < 4500
    assert np.all(np.isfinite(scene.guidance))


def test_indices_follow_their_formulas(scene):
    red, nir, green = scene.band("red"), scene.band("nir"), scene.band("green")
    np.testing.assert_allclose(scene.band("ndvi"), (nir - red) / (nir + red), atol=1e-6)
    np.testing.assert_allclose(scene.band("ndwi"), (green - nir) / (green + nir), atol=1e-6)
    assert indices.ndvi(np.array([0.0]), np.array([0.0]))[0] == 0.0
    np.testing.assert_allclose(indices.ndmvi(np.array([0.1, 0.2]), np.array([0.3, 0.6]), 0.0, 0.0),
                               [0.5, 0.5], atol=1e-6)


def test_cover_drives_lst(scene):
    fine, cover, ndvi = scene.lst_fine, scene.cover, scene.band("ndvi")
    land = (cover != COVER_NAMES.index("water")) & np.isfinite(fine)
    assert np.corrcoef(ndvi[land], fine[land])[0, 1] < -0.5
    mean = {name: np.nanmean(fine[cover == i]) for i, name in enumerate(COVER_NAMES) if np.any(cover == i)}
    assert mean["water"] < mean["crop"] < mean["desert"]
    assert mean["crop"] + 5 < mean["street"]


def test_lst_is_radiance_block_mean_of_fine(scene):
    expected = aggregate_radiance(scene.lst_fine.astype(np.float64), 3)
    valid = np.isfinite(scene.lst)
    np.testing.assert_allclose(scene.lst[valid], expected[valid], rtol=0, atol=1e-3)
    nodata_blocks = np.isnan(expected)
    np.testing.assert_array_equal(nodata_blocks, ~valid)
    assert 0 < (~valid).sum() < 0.02 * valid.size and np.all(np.isfinite(scene.lst[:, 0]))
    # radiance aggregation, not arithmetic: 290 K and 310 K average to ~300.5 K
    assert aggregate_radiance(np.array([[290.0, 310.0], [290.0, 310.0]]), 2)[0, 0] == pytest.approx(300.50, abs=0.01)


def test_fine_detail_below_lst_resolution(scene):
    """Roads, buildings and field edges make the fine LST vary strongly inside 30 m pixels."""
    blocks = scene.lst_fine.reshape(40, 3, 48, 3).transpose(0, 2, 1, 3).reshape(40, 48, 9)
    spread = np.ptp(blocks[np.isfinite(scene.lst)], axis=1)
    assert np.percentile(spread, 90) > 5.0


def test_deterministic_per_seed():
    a, b, c = generate_scene((12, 12), seed=7), generate_scene((12, 12), seed=7), generate_scene((12, 12), seed=8)
    np.testing.assert_array_equal(a.guidance, b.guidance)
    np.testing.assert_array_equal(a.lst, b.lst)
    assert not np.array_equal(a.guidance, c.guidance)


def test_bad_shape_is_an_input_error():
    with pytest.raises(InputError):
        generate_scene((2, 10))


def test_write_scene_files(tmp_path, scene):
    lst_path, guidance_path = write_scene(scene, tmp_path, name="t")
    with rasterio.open(lst_path) as src:
        assert src.descriptions == ("lst",) and src.units == ("K",)
        assert src.tags()["synthetic"] == "yes" and src.tags()["seed"] == "3"
        assert src.transform == scene.lst_transform and src.crs.to_epsg() == 32647
        np.testing.assert_array_equal(src.read(1), scene.lst)
    with rasterio.open(guidance_path) as src:
        assert src.descriptions == BAND_NAMES and src.count == 10
        np.testing.assert_array_equal(src.read(), scene.guidance)
    with pytest.raises(InputError, match="already exists"):
        write_scene(scene, tmp_path, name="t")


def test_cli_writes_scene_and_truth(tmp_path, capsys):
    assert run(["sample-scene", str(tmp_path), "--name", "x", "--rows", "8", "--cols", "12",
                "--seed", "1", "--with-truth"]) == 0
    out = capsys.readouterr().out.split()
    assert out == [str(tmp_path / f"x_{k}.tif") for k in ("lst", "guidance", "lst_fine")]
    with rasterio.open(out[2]) as src:
        assert src.shape == (24, 36) and src.res == (10.0, 10.0)
    assert run(["sample-scene", str(tmp_path), "--name", "x", "--size", "8"]) == 2
    assert run(["sample-scene", str(tmp_path), "--name", "x", "--size", "8", "--rows", "8"]) == 2
    assert run(["sample-scene", str(tmp_path), "--name", "x", "--size", "8", "--overwrite"]) == 0


def test_cli_misregisters_the_fake_tis_product(tmp_path, capsys):
    """--tis-offset moves the TIS product's georeferencing (to try ingest's coregistration)."""
    assert run(["-q", "sample-scene", str(tmp_path), "--size", "12", "--products", "--tis-offset", "30,-20"]) == 0
    with rasterio.open(next(tmp_path.glob("KX10_TIS_*/*.tiff"))) as tis, \
            rasterio.open(tmp_path / "heihe_demo_lst.tif") as lst:
        assert (tis.transform.c, tis.transform.f) == (lst.transform.c + 30, lst.transform.f - 20)
    capsys.readouterr()
    for args, fragment in ((["--tis-offset", "30,-20"], "add --products"),
                           (["--products", "--tis-offset", "30"], "is not EAST,NORTH"),
                           (["--tis-band-offset", "10,0"], "--tis-band-offset: misregisters the fake TIS product"),
                           (["--products", "--tis-band-offset", "15,0"],
                            "--tis-band-offset: 15,0 m is not a multiple of the 10 m guidance pixel"),
                           (["--products", "--tis-band-offset", "3000,0"],
                            "--tis-band-offset: 3000,0 m is more than the 3 TIS pixels a band offset can be")):
        assert run(["-q", "sample-scene", str(tmp_path / "x"), "--size", "12", *args]) == 2
        assert fragment in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_cli_misregisters_the_fake_tis_bands_and_ingest_registers_them(tmp_path, capsys):
    """--tis-band-offset makes B3 show the ground through moved footprints; ingest finds the move."""
    assert run(["-q", "sample-scene", str(tmp_path), "--size", "30", "--products", "--tis-band-offset", "30,0"]) == 0
    with rasterio.open(next(tmp_path.glob("KX10_TIS_*/*.tiff"))) as tis:
        b2, b3 = tis.read(2).astype(float), tis.read(3).astype(float)
    assert np.corrcoef(b2[:, :-1].ravel(), b3[:, 1:].ravel())[0, 1] > 0.999 > np.corrcoef(b2.ravel(), b3.ravel())[0, 1]
    capsys.readouterr()
    folders = [str(p) for p in sorted(tmp_path.glob("KX10_*"))]
    assert run(["ingest", *folders, "--out-dir", str(tmp_path / "out")]) == 0
    assert "TIS bands are misregistered: TIS B3 moved 30.0 m west onto B2 (1 crop)" in capsys.readouterr().err


def test_committed_demo_scene_matches_generator():
    lst_path = ROOT / "sample_scenes" / "heihe_demo_lst.tif"
    if not lst_path.exists():
        pytest.skip("demo scene not present")
    with rasterio.open(lst_path) as src:
        size = src.width
        committed = src.read(1)
    assert lst_path.stat().st_size + (ROOT / "sample_scenes" / "heihe_demo_guidance.tif").stat().st_size < 5e6
    np.testing.assert_array_equal(committed, generate_scene((size, size), seed=0).lst)
