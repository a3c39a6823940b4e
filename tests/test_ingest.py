"""groklst ingest: SDGSAT-1 product reading, radiometry, LST retrieval and the end-to-end scene."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from scipy import ndimage

from groklst_cli.app import run
from pipelines import lst_retrieval, sdgsat
from pipelines.errors import InputError
from pipelines.fixtures import FixtureSettings, write_product_fixture
from pipelines.geotiff import write_raster
from pipelines.ingest import IngestWarning, ingest_product
from pipelines.sample_scene import BAND_NAMES, generate_scene
from pipelines.saturation import SaturationOptions, parse_levels, pile_up_level

ROOT = Path(__file__).resolve().parents[1]
LR_SHAPE = (16, 20)


@pytest.fixture(scope="module")
def scene():
    return generate_scene(LR_SHAPE, seed=5)


@pytest.fixture(scope="module")
def products(scene, tmp_path_factory):
    return write_product_fixture(scene, tmp_path_factory.mktemp("products"))


@pytest.fixture(scope="module")
def ingested(products, tmp_path_factory):
    out = tmp_path_factory.mktemp("ingested")
    with pytest.warns(IngestWarning, match="no --dem"):
        return ingest_product(list(products), out)


# --- product reading -------------------------------------------------------------------

def test_read_product_identifies_sensor_and_metadata(products):
    tis, mii = (sdgsat.read_product(p) for p in products)
    assert (tis.sensor, mii.sensor) == ("TIS", "MII")
    assert [p.name[-6:] for p in mii.images] == ["_A.tif", "_B.tif"]
    assert tis.images[0].suffix == ".tiff"
    assert mii.solar_zenith == pytest.approx(32.5) and mii.acquired == date(2022, 8, 15)
    assert tis.calibration.gains[2] == pytest.approx(0.003946)
    assert tis.calibration.biases[3] == pytest.approx(0.222530)
    assert sorted(mii.calibration.gains) == list(range(1, 8))


def test_calib_xml_is_gbk_and_parsed_by_tag_name(products, tmp_path):
    calib = next(products[1].glob("*.calib.xml"))
    raw = calib.read_bytes()
    assert b'encoding="GB2312"' in raw and "辐射定标".encode("gbk") in raw
    # reordered, nested differently, lower-case band tags: still found by name
    odd = tmp_path / "x.calib.xml"
    odd.write_bytes('<?xml version="1.0" encoding="GBK"?><root><备注>说明</备注><TIS><V2><a>'
                    '<radiance_bias_band_1>0.5</radiance_bias_band_1></a>'
                    '<RADIANCE_GAIN_BAND_1>0.002</RADIANCE_GAIN_BAND_1></V2></TIS></root>'.encode("gbk"))
    cal = sdgsat.parse_calibration(odd, "TIS")
    assert cal.gains == {1: 0.002} and cal.biases == {1: 0.5}


def test_detector_row_calibration_variant_is_refused(tmp_path):
    path = tmp_path / "c.calib.xml"
    path.write_text("<r><TIS><RADIANCE_GAIN_BAND_1>0.1</RADIANCE_GAIN_BAND_1>"
                    "<RADIANCE_GAIN_BAND_1>0.2</RADIANCE_GAIN_BAND_1></TIS></r>")
    with pytest.raises(InputError, match="several gains"):
        sdgsat.parse_calibration(path, "TIS")


def test_patterns_can_be_adapted(products, tmp_path):
    variant = tmp_path / "my_tis_delivery"
    shutil.copytree(products[0], variant)
    tiff = next(variant.glob("*.tiff"))
    tiff.rename(variant / "thermal_bands.tif")
    with pytest.raises(InputError):
        sdgsat.read_product(variant)
    mine = replace(sdgsat.PATTERNS, tis_images=("thermal_*.tif",))
    product = sdgsat.read_product(variant, mine)
    assert product.sensor == "TIS" and product.images[0].name == "thermal_bands.tif"


# --- radiometry and retrieval -------------------------------------------------------------

def test_planck_inversion_round_trip_and_typical_dn():
    t = np.array([250.0, 300.0, 330.0])
    for band in (1, 2, 3):
        np.testing.assert_allclose(sdgsat.brightness_temperature(sdgsat.planck_radiance(t, band), band), t)
    cal = sdgsat.Calibration({2: 0.003946}, {2: 0.124622})
    dn = cal.dn(sdgsat.planck_radiance(np.array([300.0]), 2), 2)[0]
    assert 2350 < dn < 2500  # "DN ~2400 at 300 K"
    assert np.isnan(cal.radiance(np.array([0, 10], dtype=np.uint16), 2)[0])


def test_emissivity_thresholds():
    cfg = lst_retrieval.RetrievalConfig()
    ndvi = np.array([0.1, 0.35, 0.8, 0.8])
    ndwi = np.array([-0.3, -0.3, -0.5, 0.2])
    e2, _ = lst_retrieval.emissivity(ndvi, ndwi, cfg)
    pv = 0.25  # ((0.35 - 0.2) / 0.3)^2
    mixed = 0.987 * pv + 0.971 * (1 - pv) + (1 - 0.971) * 0.987 * 0.55 * (1 - pv)
    np.testing.assert_allclose(e2, [0.971, mixed, 0.987, 0.991])


def test_split_window_inverse_and_single_channel():
    cfg = lst_retrieval.RetrievalConfig()
    lst, e2, e3 = np.array([290.0, 320.0]), np.array([0.97, 0.99]), np.array([0.975, 0.988])
    t2, t3 = lst_retrieval.split_window_inverse(lst, e2, e3, cfg, 0.8)
    np.testing.assert_allclose(t2 - t3, 0.8)
    np.testing.assert_allclose(lst_retrieval.split_window(t2, t3, e2, e3, cfg), lst)
    assert lst_retrieval.single_channel(np.array([300.0]), np.array([1.0]))[0] == pytest.approx(300.0)
    expected = 300.0 / (1 + 10.73 * 300.0 / 14388.0 * np.log(0.97))  # about 302.06 K
    assert lst_retrieval.single_channel(np.array([300.0]), np.array([0.97]))[0] == pytest.approx(expected)


def test_retrieval_config_file(tmp_path):
    shipped = ROOT / "sample_scenes" / "sdgsat1_retrieval.toml"
    assert lst_retrieval.load_config(shipped) == lst_retrieval.RetrievalConfig()
    mine = tmp_path / "r.toml"
    mine.write_text("[split_window]\nwater_vapour = 3.0\n")
    assert lst_retrieval.load_config(mine).water_vapour == 3.0
    mine.write_text("[split_window]\nwatervapour = 3.0\n")
    with pytest.raises(InputError, match="unknown key"):
        lst_retrieval.load_config(mine)
    mine.write_text("[emissivity]\nsoil = [0.97]\n")
    with pytest.raises(InputError, match="needs 2 values"):
        lst_retrieval.load_config(mine)


# --- end to end ---------------------------------------------------------------------------

def test_ingest_reproduces_the_scene(scene, ingested):
    lst_path, guidance_path = ingested
    with rasterio.open(lst_path) as src:
        assert src.transform == scene.lst_transform and src.crs == scene.crs and src.units == ("K",)
        assert "approximate" in src.tags() and "split-window" in src.tags()["lst_method"]
        lst = src.read(1)
    with rasterio.open(guidance_path) as src:
        assert src.transform == scene.guidance_transform and src.descriptions == BAND_NAMES
        assert src.shape == (LR_SHAPE[0] * 3, LR_SHAPE[1] * 3)
        assert src.tags()["dem_source"] == "constant 0 m"
        guidance = src.read()
    np.testing.assert_array_equal(np.isnan(lst), np.isnan(scene.lst))
    assert np.nanmax(np.abs(lst - scene.lst)) < 0.15  # DN quantisation only
    np.testing.assert_allclose(guidance[1:7], scene.guidance[1:7], atol=3e-4)  # both cameras mosaicked
    np.testing.assert_allclose(guidance[8:10], scene.guidance[8:10], atol=1e-2)
    assert np.all(guidance[0] == 0.0)


def test_ingest_with_dem_and_given_lst_in_celsius(scene, products, tmp_path):
    dem = tmp_path / "dem.tif"
    write_raster(dem, scene.band("dem"), crs=scene.crs, transform=scene.guidance_transform,
                 descriptions=["dem"], units="m")
    given = tmp_path / "my_lst.tif"
    write_raster(given, scene.lst - 273.15, crs=scene.crs, transform=scene.lst_transform,
                 descriptions=["lst"], units="degC")
    lst_path, guidance_path = ingest_product([products[1]], tmp_path / "out", name="s", dem=dem, lst=given)
    assert lst_path.name == "s_lst.tif"
    with rasterio.open(lst_path) as src:
        np.testing.assert_allclose(src.read(1), scene.lst, atol=1e-4)
        assert src.tags()["lst_source"] == str(given.resolve()) and "approximate" not in src.tags()
    with rasterio.open(guidance_path) as src:
        np.testing.assert_allclose(src.read(1), scene.band("dem"), rtol=1e-6)


def test_a_south_up_geographic_dem_gives_the_dem_band_of_its_north_up_twin(scene, products, tmp_path):
    """QA: a DEM in EPSG:4326 stored bottom row first was an internal error (its bounds,
    bottom above top, read as an inverted latitude range)."""
    from rasterio.transform import array_bounds
    from rasterio.warp import transform_bounds

    rows, cols = scene.guidance.shape[1:]
    west, south, east, north = transform_bounds(scene.crs, "EPSG:4326", *array_bounds(rows, cols, scene.guidance_transform))
    res, pad = 0.0001, 0.001
    height, width = int((north - south + 2 * pad) / res), int((east - west + 2 * pad) / res)
    lat, lon = np.mgrid[0:height, 0:width] * res
    dem = (200.0 + 3000.0 * lon + 1000.0 * lat).astype(np.float32)  # metres, rising east and south
    layouts = {"north": (dem, Affine(res, 0, west - pad, 0, -res, north + pad)),
               "south": (dem[::-1], Affine(res, 0, west - pad, 0, res, north + pad - height * res))}
    bands = []
    for name, (values, transform) in layouts.items():
        path = tmp_path / f"dem_{name}.tif"
        write_raster(path, np.ascontiguousarray(values), crs="EPSG:4326", transform=transform,
                     descriptions=["dem"], units="m")
        with pytest.warns(IngestWarning):
            _, guidance_path = ingest_product(list(products), tmp_path / name, dem=path)
        with rasterio.open(guidance_path) as src:
            bands.append(src.read(1))
    assert np.isfinite(bands[0]).all() and 200.0 < bands[0].min() < bands[0].max() < 300.0
    np.testing.assert_allclose(bands[1], bands[0], atol=1e-3)


def test_a_guidance_that_fails_its_check_leaves_the_old_pair_untouched(products, tmp_path, monkeypatch):
    """The LST was renamed into place before the guidance was checked: a guidance GDAL left
    incomplete at close under --overwrite left a new LST beside the old guidance."""
    import pipelines.geotiff as geotiff

    out = tmp_path / "out"
    with pytest.warns(IngestWarning):
        lst_path, guidance_path = ingest_product(list(products), out, name="s")
    before = [(p.stat().st_ino, p.read_bytes()) for p in (lst_path, guidance_path)]
    check = geotiff.check_complete

    def guidance_truncated(tmp, path, **kwargs):
        if Path(path) == guidance_path:
            raise InputError(path, "incomplete GeoTIFF")
        check(tmp, path, **kwargs)

    monkeypatch.setattr(geotiff, "check_complete", guidance_truncated)
    with pytest.warns(IngestWarning), pytest.raises(InputError, match="incomplete GeoTIFF"):
        ingest_product(list(products), out, name="s", overwrite=True)
    assert [(p.stat().st_ino, p.read_bytes()) for p in (lst_path, guidance_path)] == before
    assert sorted(p.name for p in out.iterdir()) == ["s_guidance.tif", "s_lst.tif"]


def test_given_lst_larger_than_mii_is_cropped_to_whole_pixels(scene, products, tmp_path):
    big = np.pad(scene.lst, 4, constant_values=300.0)
    t = scene.lst_transform @ Affine.translation(-4, -4)
    given = tmp_path / "big_lst.tif"
    write_raster(given, big, crs=scene.crs, transform=t, descriptions=["lst"], units="K")
    with pytest.warns(IngestWarning):
        lst_path, _ = ingest_product([products[1]], tmp_path / "out", lst=given)
    with rasterio.open(lst_path) as src:
        assert src.transform == scene.lst_transform and src.shape == LR_SHAPE
        np.testing.assert_array_equal(src.read(1), scene.lst)


def test_single_channel_method(products, tmp_path):
    with pytest.warns(IngestWarning):
        lst_path, _ = ingest_product(list(products), tmp_path, name="sc", method="single-channel")
    with rasterio.open(lst_path) as src:
        assert "single-channel" in src.tags()["lst_method"]
        assert 260 < np.nanmin(src.read(1)) < np.nanmax(src.read(1)) < 345


# --- the CLI and bad inputs ---------------------------------------------------------------

def test_cli_ingest_from_a_folder_of_products(products, tmp_path, capsys):
    parent = products[0].parent
    assert run(["ingest", str(parent), "--out-dir", str(tmp_path), "--name", "d", "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["lst"] == str(tmp_path / "d_lst.tif") and report["guidance"] == str(tmp_path / "d_guidance.tif")
    assert (report["input"], report["status"]) == (str(parent), "ok")  # as a --json error line has them
    assert "no --dem" in captured.err
    assert run(["ingest", str(parent), "--out-dir", str(tmp_path), "--name", "d"]) == 2
    assert "already exists" in capsys.readouterr().err


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize("case", ["no_mii", "no_tis", "no_overlap", "not_nesting", "bad_calib",
                                  "missing", "bad_method", "unreadable_tiff", "missing_band", "dem_elsewhere",
                                  "bad_config", "implausible_retrieval"])
def test_bad_inputs_exit_2_and_write_nothing(case, scene, products, tmp_path, capsys):
    tis, mii = products
    args = [str(tis), str(mii)]
    if case == "no_mii":
        args = [str(tis)]
    elif case == "no_tis":
        args = [str(mii)]
    elif case in ("no_overlap", "not_nesting"):
        res = 30.0 if case == "no_overlap" else 25.0
        shift = 100_000.0 if case == "no_overlap" else 0.0
        t = Affine(res, 0, scene.lst_transform.c + shift, 0, -res, scene.lst_transform.f)
        given = tmp_path / "l.tif"
        write_raster(given, scene.lst, crs=scene.crs, transform=t, descriptions=["lst"], units="K")
        args = [str(mii), "--lst", str(given)]
    elif case == "bad_calib":
        broken = tmp_path / mii.name
        shutil.copytree(mii, broken)
        next(broken.glob("*.calib.xml")).write_bytes(b"<RADIOMETRIC_CALIBRATION><MII>trunc")
        args = [str(tis), str(broken)]
    elif case == "missing":
        args = [str(tis), str(tmp_path / "nope")]
    elif case == "bad_method":
        args += ["--lst-method", "magic"]
    elif case == "unreadable_tiff":
        broken = tmp_path / mii.name
        shutil.copytree(mii, broken)
        next(broken.glob("*_B.tif")).write_bytes(b"not a tiff")
        args = [str(tis), str(broken)]
    elif case == "missing_band":
        broken = tmp_path / mii.name
        shutil.copytree(mii, broken)
        camera = next(broken.glob("*_A.tif"))
        with rasterio.open(camera) as src:
            profile, three = src.profile, src.read([1, 2, 3])
        profile.update(count=3)
        with rasterio.open(camera, "w", **profile) as dst:
            dst.write(three)
        args = [str(tis), str(broken)]
    elif case == "dem_elsewhere":
        dem = tmp_path / "dem.tif"
        write_raster(dem, scene.band("dem"), crs=scene.crs, descriptions=["dem"],
                     transform=scene.guidance_transform @ Affine.translation(0, 100_000))
        args += ["--dem", str(dem)]
    elif case == "bad_config":
        config = tmp_path / "r.toml"
        config.write_text("[split_window\nc = 1")
        args += ["--retrieval-config", str(config)]
    elif case == "implausible_retrieval":  # TIS B2 gain 10 times too high: B2 reads ~600 K
        broken = tmp_path / tis.name  # (coefficients that do not fit are refused by load_config)
        shutil.copytree(tis, broken)
        calib = next(broken.glob("*.calib.xml"))
        calib.write_bytes(calib.read_bytes().replace(b">0.003946<", b">0.03946<"))
        args = [str(broken), str(mii)]
    out = tmp_path / "out"
    assert run(["ingest", *args, "--out-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "Traceback" not in err
    assert not out.exists()  # not even the folder: a failed run leaves nothing behind
    if case == "implausible_retrieval":
        assert "LST retrieved from TIS is implausible" in err and "outside 150..400 K" in err


def test_ingest_never_writes_over_its_own_inputs(scene, products, tmp_path, capsys):
    """QA: --overwrite replaced the user's --lst (or --dem) when it had the output's name."""
    tis, mii = products
    own = tmp_path / "s_lst.tif"
    write_raster(own, scene.lst, crs=scene.crs, transform=scene.lst_transform, descriptions=["lst"], units="K")
    dem = tmp_path / "s_guidance.tif"
    write_raster(dem, scene.band("dem"), crs=scene.crs, transform=scene.guidance_transform, descriptions=["dem"])
    for extra in (["--lst", str(own)], ["--dem", str(dem)]):
        before = {p: p.read_bytes() for p in (own, dem)}
        status = run(["-q", "ingest", str(tis), str(mii), *extra, "--name", "s", "--out-dir", str(tmp_path),
                      "--overwrite"])
        assert status == 2 and "the output is one of the inputs" in capsys.readouterr().err
        assert {p: p.read_bytes() for p in (own, dem)} == before


def test_tis_and_mii_of_different_dates_are_refused_and_one_folder_twice_is_one_product(products, tmp_path,
                                                                                         capsys):
    """QA: a 2023 TIS beside a 2022 MII was sharpened with the 2022 bands, exit 0."""
    tis, mii = products
    other = tmp_path / tis.name.replace("_20220815_", "_20230101_")
    shutil.copytree(tis, other)
    meta = next(other.glob("*.meta.xml"))  # a 2023 product throughout: its meta.xml agrees with its name
    meta.write_text(meta.read_text().replace("2022-08-15", "2023-01-01"))
    for command in (["ingest", str(other), str(mii), "--out-dir", str(tmp_path / "o")],
                    ["downscale", str(other), str(mii), "-o", str(tmp_path / "o" / "x.tif")]):
        assert run(["-q", *command]) == 2
        err = capsys.readouterr().err
        assert "acquired 2023-01-01, the MII product 2022-08-15: not one scene" in err and err.count("\n") == 1
        assert not (tmp_path / "o").exists()
    assert run(["-q", "ingest", str(tis), str(mii), str(mii), "--out-dir", str(tmp_path / "twice")]) == 0
    assert run(["-q", "ingest", str(tis), str(mii), "--name", "../escaped", "--out-dir", str(tmp_path / "n")]) == 2
    assert "'../escaped' is a path, not a scene name" in capsys.readouterr().err
    assert not list(tmp_path.glob("escaped*"))


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
@pytest.mark.parametrize("placement, message", [
    ("south_up", "rotated or flipped grids are not supported"),
    ("unplaced", "has no georeferencing (no geotransform)"),
])
def test_a_tis_image_on_a_flipped_or_missing_grid_is_refused_in_one_line(products, tmp_path, capsys,
                                                                        placement, message):
    """QA: a south-up TIS was an internal WindowError (exit 1); one without a geotransform (an
    L1A image placed by RPCs) was said not to nest."""
    tis, mii = products
    broken = tmp_path / tis.name
    shutil.copytree(tis, broken)
    image = next(broken.glob("*.tiff"))
    with rasterio.open(image, "r+") as dst:
        t = dst.transform
        dst.transform = (Affine(t.a, 0, t.c, 0, -t.e, t.f - t.e * dst.height) if placement == "south_up"
                         else Affine.identity())
    assert run(["-q", "ingest", str(broken), str(mii), "--out-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and image.name in err and message in err
    assert not (tmp_path / "o").exists()


def test_sample_scene_products_then_ingest_cli(tmp_path, capsys):
    assert run(["-q", "sample-scene", str(tmp_path), "--size", "12", "--seed", "2", "--products"]) == 0
    written = capsys.readouterr().out.split()
    assert [Path(p).name[:8] for p in written[2:4]] == ["KX10_TIS", "KX10_MII"]
    assert written[4] == str(tmp_path / "heihe_demo_dem.tif")
    assert run(["ingest", str(tmp_path), "--dem", written[4], "--out-dir", str(tmp_path / "in"), "--name", "s"]) == 0
    with rasterio.open(tmp_path / "in" / "s_lst.tif") as got, rasterio.open(written[0]) as want:
        assert got.transform == want.transform
        assert np.nanmax(np.abs(got.read(1) - want.read(1))) < 0.15
    with rasterio.open(tmp_path / "in" / "s_guidance.tif") as got, rasterio.open(written[4]) as dem:
        np.testing.assert_allclose(got.read(1), dem.read(1), rtol=1e-6)
    assert run(["-q", "sample-scene", str(tmp_path), "--size", "12", "--seed", "2", "--products", "--overwrite"]) == 2


def test_strips_give_the_same_scene_as_one_pass(scene, products, tmp_path):
    """Streaming must not change a value: NDMVI's minima are scene-wide, not per strip."""
    dem = tmp_path / "dem.tif"
    write_raster(dem, scene.band("dem"), crs=scene.crs, transform=scene.guidance_transform,
                 descriptions=["dem"], units="m")
    steps = []
    one = ingest_product(list(products), tmp_path / "one", dem=dem, strip_rows=LR_SHAPE[0])
    strips = ingest_product(list(products), tmp_path / "strips", dem=dem, strip_rows=3,
                            on_progress=lambda done, total, what: steps.append((done, total)))
    assert steps[-1] == (12, 12)  # 6 strips of 3 LST rows (the last of 1), two passes
    for a, b in zip(one, strips):
        with rasterio.open(a) as x, rasterio.open(b) as y:
            assert x.transform == y.transform and x.tags() == y.tags()
            np.testing.assert_array_equal(x.read(), y.read())
    with rasterio.open(strips[1]) as src:
        ndmvi = src.read(BAND_NAMES.index("ndmvi") + 1)
    assert np.nanmin(ndmvi) < 0.5 < np.nanmax(ndmvi)


# --- damaged or incomplete product folders ------------------------------------------------

def _copy(product: Path, tmp_path: Path) -> Path:
    """A copy of a product folder to damage, under the product's own name."""
    return Path(shutil.copytree(product, tmp_path / "broken" / product.name))


def _ingest_fails(tis: Path, mii: Path, out: Path, capsys) -> str:
    """Run the CLI ingest, check it exits 2 with one error line; return that line."""
    assert run(["ingest", str(tis), str(mii), "--out-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "Traceback" not in err and "internal error" not in err
    return " ".join(err.split())  # undo the console's line wrapping


def test_truncated_mii_camera_is_named_and_no_folder_is_left(products, tmp_path, capsys):
    tis, mii = products
    broken = _copy(mii, tmp_path)
    camera = next(broken.glob("*_A.tif"))
    camera.write_bytes(camera.read_bytes()[: camera.stat().st_size * 3 // 4])  # header intact, tiles cut
    err = _ingest_fails(tis, broken, tmp_path / "new" / "out", capsys)
    assert f"{camera}: cannot be read (" in err and "truncated" in err
    assert not (tmp_path / "new").exists()  # both folders the run created are gone
    kept = tmp_path / "mine"
    kept.mkdir()  # a folder the user made is never removed
    _ingest_fails(tis, broken, kept, capsys)
    assert kept.is_dir() and _leftovers(kept) == []


def test_missing_mii_camera_b_is_refused_naming_the_file(products, tmp_path, capsys):
    tis, mii = products
    broken = _copy(mii, tmp_path)
    camera_b = next(broken.glob("*_B.tif"))
    camera_b.unlink()
    with pytest.raises(InputError, match="MII camera image not found") as caught:
        sdgsat.read_product(broken)
    assert caught.value.path == str(camera_b)  # the exact name the delivery should have had
    err = _ingest_fails(tis, broken, tmp_path / "out", capsys)
    assert f"{camera_b}: MII camera image not found" in err and "_A.tif is there" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("text", ["0", "-0.043", "nan", "inf"])
def test_gain_that_is_not_positive_and_finite_is_refused(text, tmp_path):
    path = tmp_path / "c.calib.xml"
    path.write_text(f"<r><TIS><RADIANCE_GAIN_BAND_2>{text}</RADIANCE_GAIN_BAND_2>"
                    "<RADIANCE_GAIN_BAND_3>0.005</RADIANCE_GAIN_BAND_3></TIS></r>")
    with pytest.raises(InputError, match=f"RADIANCE_GAIN_BAND_2 is {text}; a radiance gain must be "
                                         "a positive finite number") as caught:
        sdgsat.parse_calibration(path, "TIS")
    assert caught.value.path == str(path)
    path.write_text("<r><TIS><RADIANCE_GAIN_BAND_2>0.004</RADIANCE_GAIN_BAND_2>"
                    f"<RADIANCE_BIAS_BAND_2>{text}</RADIANCE_BIAS_BAND_2></TIS></r>")
    if text in ("nan", "inf"):
        with pytest.raises(InputError, match="RADIANCE_BIAS_BAND_2 is"):
            sdgsat.parse_calibration(path, "TIS")
    else:  # a zero or negative bias is a legitimate calibration
        assert sdgsat.parse_calibration(path, "TIS").biases == {2: float(text)}


def test_zero_mii_gain_stops_the_cli(products, tmp_path, capsys):
    tis, mii = products
    broken = _copy(mii, tmp_path)
    calib = next(broken.glob("*.calib.xml"))
    raw = calib.read_bytes()
    assert raw.count(b"<RADIANCE_GAIN_BAND_7>0.043<") == 1
    calib.write_bytes(raw.replace(b"<RADIANCE_GAIN_BAND_7>0.043<", b"<RADIANCE_GAIN_BAND_7>0<"))
    err = _ingest_fails(tis, broken, tmp_path / "out", capsys)
    assert f"{calib}: RADIANCE_GAIN_BAND_7 is 0;" in err
    assert not (tmp_path / "out").exists()


def test_a_gain_without_its_bias_stops_the_cli(products, tmp_path, capsys):
    """QA: a calib.xml without RADIANCE_BIAS_BAND_2 (or with an early variant's background term
    in its place) was read with a zero bias: exit 0 and an LST 2-3 K off."""
    tis, mii = products
    broken = _copy(tis, tmp_path)
    calib = next(broken.glob("*.calib.xml"))
    raw = calib.read_bytes()
    assert raw.count(b"RADIANCE_BIAS_BAND_2>") == 2
    calib.write_bytes(raw.replace(b"RADIANCE_BIAS_BAND_2>", b"RADIANCE_BACKGROUND_BAND_2>"))
    err = _ingest_fails(broken, mii, tmp_path / "out", capsys)
    assert f"{calib}: no TIS RADIANCE_BIAS_BAND_2 for the gain of band 2 (hint: is the calib.xml" in err
    assert not (tmp_path / "out").exists()


def test_missing_mii_meta_xml_is_named(products, tmp_path, capsys):
    tis, mii = products
    broken = _copy(mii, tmp_path)
    meta = next(broken.glob("*.meta.xml"))
    meta.unlink()
    err = _ingest_fails(tis, broken, tmp_path / "out", capsys)
    assert f"{broken / (broken.name + '.meta.xml')}: meta.xml not found" in err
    assert meta == broken / (broken.name + ".meta.xml") and "solar zenith" in err
    tis_copy = _copy(tis, tmp_path)  # TIS needs nothing from its meta.xml: still read
    next(tis_copy.glob("*.meta.xml")).unlink()
    assert sdgsat.read_product(tis_copy).sensor == "TIS"


# --- MII saturation -----------------------------------------------------------------------

SATURATION_DN = 1750  # the fixture's B4 (green) and B5 (red) clip here: 1.6 % and 23 % of their pixels


@pytest.fixture(scope="module")
def saturated_products(band_scene, tmp_path_factory):
    return write_product_fixture(band_scene, tmp_path_factory.mktemp("saturated"),
                                 FixtureSettings(mii_saturation_dn=SATURATION_DN))


def _saturated_warnings(caught) -> list[str]:
    return [str(w.message) for w in caught if "saturated" in str(w.message)]


def test_saturated_mii_pixels_are_found_reported_and_kept(band_scene, saturated_products, tmp_path):
    """B4/B5 clipped at one DN pile up there: the guidance keeps their (lower-bound) values, the
    tag and a warning give each band's share, and nothing else changes."""
    clean = write_product_fixture(band_scene, tmp_path / "clean")
    with pytest.warns(IngestWarning) as caught:
        reference = ingest_product(list(clean), tmp_path / "ref")
    assert _saturated_warnings(caught) == []
    with pytest.warns(IngestWarning) as caught:
        kept = ingest_product(list(saturated_products), tmp_path / "kept")
    with rasterio.open(reference[1]) as ref, rasterio.open(kept[1]) as out:
        assert ref.tags()["mii_saturation"] == "none found (no band's histogram piles up at its largest DN)"
        tag = out.tags()["mii_saturation"]
        green, red = (out.read(BAND_NAMES.index(n) + 1) for n in ("green", "red"))
        green_ref, red_ref = (ref.read(BAND_NAMES.index(n) + 1) for n in ("green", "red"))
        untouched = [BAND_NAMES.index(n) + 1 for n in ("dem", "deepblue", "blue", "vre", "nir")]
        np.testing.assert_array_equal(out.read(untouched), ref.read(untouched))
    clipped = {"green": green >= np.nanmax(green) - 1e-6, "red": red >= np.nanmax(red) - 1e-6}  # DN >= 1750
    for got, delivered, at_top in ((green, green_ref, clipped["green"]), (red, red_ref, clipped["red"])):
        assert (delivered[at_top] >= got[at_top] - 1e-6).all()  # clipped: a lower bound
        np.testing.assert_array_equal(got[~at_top], delivered[~at_top])
    shares = {name: 100.0 * mask.sum() / np.isfinite(green_ref).sum() for name, mask in clipped.items()}
    assert 1.0 < shares["green"] < 30.0 and 1.0 < shares["red"] < 30.0
    expected = (f"B4 green {shares['green']:.2f} % (camera A from DN {SATURATION_DN}, camera B from DN {SATURATION_DN}); "
                f"B5 red {shares['red']:.2f} % (camera A from DN {SATURATION_DN}, camera B from DN {SATURATION_DN})")
    assert tag == f"{expected}; kept as delivered"
    assert _saturated_warnings(caught) == [
        f"MII bands saturated (share of the guidance pixels): {expected}; their reflectance is a lower bound "
        "there (NDVI, NDWI, NDMVI biased); --saturated nodata makes them nodata"]


def test_saturated_mii_pixels_can_be_made_nodata_with_the_indices_made_from_them(saturated_products, tmp_path):
    with pytest.warns(IngestWarning):
        kept = ingest_product(list(saturated_products), tmp_path / "kept")
    with pytest.warns(IngestWarning, match=r"MII bands saturated \(share of the guidance pixels\), made nodata \(--saturated nodata\): B4 green"):
        masked = ingest_product(list(saturated_products), tmp_path / "masked",
                                saturation=SaturationOptions(policy="nodata"))
    with rasterio.open(kept[1]) as a, rasterio.open(masked[1]) as b:
        kept_bands, masked_bands = a.read(), b.read()
        assert b.tags()["mii_saturation"].endswith("; made nodata")
    band = {name: k for k, name in enumerate(BAND_NAMES)}
    green_top = kept_bands[band["green"]] >= np.nanmax(kept_bands[band["green"]]) - 1e-6
    red_top = kept_bands[band["red"]] >= np.nanmax(kept_bands[band["red"]]) - 1e-6
    np.testing.assert_array_equal(np.isnan(masked_bands[band["green"]]), green_top)
    np.testing.assert_array_equal(np.isnan(masked_bands[band["red"]]), red_top)
    np.testing.assert_array_equal(np.isnan(masked_bands[band["ndvi"]]), red_top)
    np.testing.assert_array_equal(np.isnan(masked_bands[band["ndwi"]]), green_top)
    np.testing.assert_array_equal(np.isnan(masked_bands[band["ndmvi"]]), red_top)
    keep = ~(green_top | red_top)
    np.testing.assert_array_equal(masked_bands[:, keep], kept_bands[:, keep])
    with rasterio.open(kept[0]) as a, rasterio.open(masked[0]) as b:
        kept_lst, masked_lst = a.read(1), b.read(1)
    no_red = np.isnan(masked_bands[band["red"]]).reshape(60, 3, 60, 3).all(axis=(1, 3))
    assert no_red.sum() > 0  # LST pixels saturated throughout have no emissivity: nodata
    np.testing.assert_array_equal(np.isnan(masked_lst), np.isnan(kept_lst) | no_red)


def test_a_given_saturation_dn_overrides_the_histogram(products, tmp_path):
    """--mii-saturation-dn: every guidance band at or above one DN is saturated (here only the
    brightest NIR pixels reach it, whose histogram does not pile up), or the bands named; a DN
    nothing reaches reports none; every pixel saturated under nodata is refused saying so."""
    with pytest.warns(IngestWarning) as caught:
        lst, guidance = ingest_product(list(products), tmp_path / "given",
                                       saturation=SaturationOptions(levels=parse_levels("2600")))
    with rasterio.open(guidance) as src:
        tag = src.tags()["mii_saturation"]
    assert tag.startswith("B7 nir ") and tag.endswith("(camera A from DN 2600, camera B from DN 2600); kept as delivered")
    assert [w for w in _saturated_warnings(caught) if "B7 nir" in w]
    with pytest.warns(IngestWarning):
        _, named = ingest_product(list(products), tmp_path / "named",
                                  saturation=SaturationOptions(levels=parse_levels("B4=2600,b5=2600")))
    with rasterio.open(named) as src:
        assert src.tags()["mii_saturation"] == "none at or above the given DN (--mii-saturation-dn B4=2600,B5=2600)"
    with pytest.raises(InputError, match=re.escape(
            "every red and NIR pixel inside the LST footprint is saturated at DN 1 and --saturated nodata "
            "made it nodata (NDMVI needs both bands) (hint: raise --mii-saturation-dn, or use --saturated keep)")):
        ingest_product(list(products), tmp_path / "bad", saturation=SaturationOptions("nodata", parse_levels("1")))
    with pytest.raises(InputError, match=re.escape("--saturated: unknown policy 'mask'")):
        ingest_product(list(products), tmp_path / "bad", saturation=SaturationOptions(policy="mask"))
    for text, fragment in (("0", "'0' is not a DN of 1..65535"), ("B8=4095", "'B8' is not an MII guidance band"),
                           ("B4=x", "'x' is not a DN"), ("B4=2100,b4=3000", "B4 is given more than once")):
        with pytest.raises(InputError, match=re.escape(f"--mii-saturation-dn: {fragment}")):
            parse_levels(text)
    assert not (tmp_path / "bad").exists()


def test_a_saturated_camera_gives_way_to_an_unsaturated_one_where_they_overlap(band_scene, tmp_path):
    """Camera A clipped, camera B not: in their overlap the guidance takes B's valid value."""
    clean = write_product_fixture(band_scene, tmp_path / "clean")
    a_image = next(clean[1].glob("*_A.tif"))
    with rasterio.open(a_image) as src:
        profile, data = src.profile, src.read()
    data[4] = np.minimum(data[4], SATURATION_DN)  # B5 red of camera A only
    with rasterio.open(a_image, "w", **profile) as dst:
        dst.write(data)
    with pytest.warns(IngestWarning):
        reference = ingest_product(list(write_product_fixture(band_scene, tmp_path / "ref")), tmp_path / "r")
    with pytest.warns(IngestWarning, match="camera A from DN 1750"):
        mixed = ingest_product(list(clean), tmp_path / "m", saturation=SaturationOptions(policy="nodata"))
    red = BAND_NAMES.index("red") + 1
    with rasterio.open(reference[1]) as r, rasterio.open(mixed[1]) as m:
        truth, got = r.read(red), m.read(red)
    b_starts = int(band_scene.guidance.shape[2] * FixtureSettings().camera_split[1])
    a_ends = int(band_scene.guidance.shape[2] * FixtureSettings().camera_split[0])
    overlap, only_a = np.s_[:, b_starts:a_ends], np.s_[:, :b_starts]
    np.testing.assert_array_equal(got[overlap], truth[overlap])  # B's values, none made nodata
    assert np.isnan(got[only_a]).any()


def test_a_float_mii_is_said_not_to_be_checked_for_saturation(products, tmp_path):
    """QA: a float32 MII (no counted DN to pile up) was reported 'none found'."""
    folder = tmp_path / "float"
    shutil.copytree(products[1], folder)
    for image in folder.glob("*_[AB].tif"):
        with rasterio.open(image) as src:
            profile, data = src.profile, src.read()
        with rasterio.open(image, "w", **{**profile, "dtype": "float32"}) as dst:
            dst.write(data.astype(np.float32))
    with pytest.warns(IngestWarning, match=r"MII saturation not looked for: float32 bands .* give --mii-saturation-dn"):
        _, guidance = ingest_product([products[0], folder], tmp_path / "out")
    with rasterio.open(guidance) as src:
        assert src.tags()["mii_saturation"] == "not looked for (float32 MII): give --mii-saturation-dn"


def test_a_few_resampled_pixels_above_a_clip_do_not_hide_it():
    rng = np.random.default_rng(0)
    clipped = np.minimum(np.clip(rng.normal(1500, 200, 200_000), 1, None).astype(np.int64), 1800)
    counts = np.bincount(np.concatenate([clipped, [1812, 1830, 1831]]), minlength=65536)
    assert pile_up_level(counts) == 1800
    heavy = np.bincount(np.concatenate([clipped, np.full(2000, 1850)]), minlength=65536)
    assert pile_up_level(heavy) == 1850  # a second, larger pile on top is the level


def test_saturation_options_from_the_command_line(tmp_path, capsys):
    """sample-scene --mii-saturate-at makes saturated products; ingest and downscale on them
    report it (downscale's output keeps the tag); the options are refused where they do not apply."""
    assert run(["-q", "sample-scene", str(tmp_path), "--size", "30", "--products", "--mii-saturate-at", "1750"]) == 0
    folders = [str(p) for p in sorted(tmp_path.glob("KX10_*"))]
    capsys.readouterr()
    assert run(["ingest", *folders, "--out-dir", str(tmp_path / "out"), "--saturated", "nodata"]) == 0
    err = capsys.readouterr().err
    assert "made nodata (--saturated nodata): B4 green" in err
    with rasterio.open(next((tmp_path / "out").glob("*_guidance.tif"))) as src:
        assert np.isnan(src.read(BAND_NAMES.index("red") + 1)).any()
    out = tmp_path / "down.tif"
    assert run(["-q", "downscale", *folders, "-o", str(out), "--model", "bicubic", "--mii-saturation-dn", "1700"]) == 0
    with rasterio.open(out) as src:
        assert src.tags()["mii_saturation"].endswith("; kept as delivered") and "DN 1700" in src.tags()["mii_saturation"]
    lst = next((tmp_path / "out").glob("*_lst.tif"))
    for argv, fragment in (
            (["ingest", *folders, "--out-dir", str(tmp_path / "x"), "--saturated", "mask"],
             "--saturated: unknown policy 'mask'"),
            (["ingest", *folders, "--out-dir", str(tmp_path / "x"), "--mii-saturation-dn", "0"], "--mii-saturation-dn"),
            (["downscale", str(lst), "-o", str(tmp_path / "x.tif"), "--saturated", "nodata"],
             "--saturated: applies to SDGSAT-1 product folders given as the input"),
            (["prepare", str(lst), "--out", str(tmp_path / "ds"), "--mii-saturation-dn", "1700"],
             "--mii-saturation-dn: applies to SDGSAT-1 product folders given as inputs"),
            (["prepare", str(lst), "--out", str(tmp_path / "ds"), "--dem", str(lst)],
             "--dem: applies to SDGSAT-1 product folders given as inputs"),
            (["sample-scene", str(tmp_path / "y"), "--mii-saturate-at", "1700"],
             "--mii-saturate-at: saturates the fake MII product"),
            (["sample-scene", str(tmp_path / "y"), "--tis-stripes", "0.3"], "--tis-stripes: stripes the fake TIS product"),
            (["downscale", str(lst), "-o", str(tmp_path / "x.tif"), "--no-destripe"],
             "--no-destripe: applies to SDGSAT-1 product folders given as the input"),
            (["prepare", str(lst), "--out", str(tmp_path / "ds"), "--destripe"],
             "--destripe: applies to SDGSAT-1 product folders given as inputs")):
        assert run(["-q", *argv]) == 2
        assert fragment in capsys.readouterr().err
    assert not any((tmp_path / name).exists() for name in ("x", "x.tif", "ds", "y"))


# --- TIS band-to-band misregistration ----------------------------------------------------

@pytest.fixture(scope="module")
def band_scene():
    return generate_scene((60, 60), seed=4)


def _read_lst(path: Path) -> tuple[np.ndarray, dict[str, str]]:
    with rasterio.open(path) as src:
        return src.read(1), src.tags()


def _band_warnings(caught) -> list[str]:
    return [str(w.message) for w in caught if "TIS B" in str(w.message) or "TIS bands" in str(w.message)]


def test_tis_b3_off_by_a_whole_pixel_is_moved_back_onto_b2(band_scene, tmp_path):
    """A B3 that shows the ground 30 m west of where it is placed gives the clean scene's LST
    once moved back; its outermost column would draw on B3 beyond the image and is nodata."""
    clean = write_product_fixture(band_scene, tmp_path / "clean")
    shifted = write_product_fixture(band_scene, tmp_path / "shifted", FixtureSettings(tis_band_offset_m=(30.0, 0.0)))
    with pytest.warns(IngestWarning) as caught:
        reference = ingest_product(list(clean), tmp_path / "ref")
    assert _band_warnings(caught) == []
    with pytest.warns(IngestWarning) as caught:
        moved = ingest_product(list(shifted), tmp_path / "moved")
    assert _band_warnings(caught) == ["TIS bands are misregistered: TIS B3 moved 30.0 m west onto B2 (1 crop); "
                                      "--no-coregister keeps the delivered bands"]
    (ref, ref_tags), (out, tags) = _read_lst(reference[0]), _read_lst(moved[0])
    assert ref_tags["tis_band_registration"] == "TIS B3 aligned with B2 as delivered (offset 0.0 m, 1 crop)"
    assert tags["tis_band_registration"] == "TIS B3 moved 30.0 m west onto B2 (1 crop)"
    np.testing.assert_allclose(out[:, :-1], ref[:, :-1], atol=0.1)  # 1 DN of B3 (a rounding in the fixture) is 0.07 K
    assert np.isnan(out[:, -1]).all()
    with rasterio.open(reference[1]) as a, rasterio.open(moved[1]) as b:
        np.testing.assert_array_equal(a.read(), b.read())  # the guidance does not depend on the TIS


def test_tis_b3_off_by_a_fraction_of_a_pixel_is_measured_and_most_of_its_error_removed(band_scene, tmp_path):
    """10 m east and 20 m south: the offset is found within 0.1 px, and the split window's
    error (the band difference it amplifies) falls from 5.5 K RMSE (57 K at worst) to under
    1 K (5 K at worst; 2.2 K and 24 K when resampling alone, without the edge repair, was
    measured); --no-coregister keeps it."""
    shifted = write_product_fixture(band_scene, tmp_path / "shifted", FixtureSettings(tis_band_offset_m=(10.0, -20.0)))
    with pytest.warns(IngestWarning, match="TIS bands are misregistered"):
        registered = ingest_product(list(shifted), tmp_path / "registered")
    with pytest.warns(IngestWarning):
        kept = ingest_product(list(shifted), tmp_path / "kept", coregister=False)
    (out, tags), (delivered, kept_tags) = _read_lst(registered[0]), _read_lst(kept[0])
    found = re.fullmatch(r"TIS B3 moved ([\d.]+) m west and ([\d.]+) m north onto B2 \(1 crop\); B2 - B3 "
                         r"difference of \d+ px \([\d.]+%\) taken from the median of their 5 x 5 neighbourhood "
                         r"\(departed from it by > 0.5 K: interpolated at edges\)", tags["tis_band_registration"])
    assert found and abs(float(found[1]) - 10.0) < 3.0 and abs(float(found[2]) - 20.0) < 3.0
    assert kept_tags["tis_band_registration"] == "not measured (--no-coregister)"
    truth = band_scene.lst
    both = np.isfinite(out) & np.isfinite(delivered)
    rmse = [float(np.sqrt(np.mean((a[both] - truth[both]) ** 2))) for a in (out, delivered)]
    assert rmse[0] < 1.0 and rmse[1] > 5.0
    assert np.abs(out[both] - truth[both]).max() < 5.0
    assert np.isnan(out[-1]).all() and np.isnan(out[:, -1]).all()  # they draw on B3 beyond the image
    lost = np.isnan(out[:-1, :-1]) & np.isfinite(truth[:-1, :-1])  # else only next to the scene's nodata
    assert not (lost & ~ndimage.binary_dilation(np.isnan(truth), iterations=2)[:-1, :-1]).any()


def test_an_implausible_lst_from_unregistered_bands_says_so_after_the_warnings(band_scene, tmp_path, capsys):
    """QA: B3 a whole pixel off under --no-coregister gave LST above 400 K, blamed on the gains,
    and the warnings caught until then were never shown."""
    shifted = write_product_fixture(band_scene, tmp_path / "shifted", FixtureSettings(tis_band_offset_m=(30.0, 0.0)))
    capsys.readouterr()
    assert run(["ingest", *map(str, shifted), "--out-dir", str(tmp_path / "out"), "--no-coregister"]) == 2
    err = capsys.readouterr().err
    assert err.index("warning: no --dem given") < err.index("error: ")
    assert ("(hint: TIS B3 was not registered onto B2 (not measured (--no-coregister)), and misregistered bands "
            "give such values at edges: drop --no-coregister, or use --lst-method single-channel or --lst; else "
            "check the TIS gains") in err
    assert not (tmp_path / "out").exists()


def test_band_registration_streams_seamlessly_and_only_runs_for_the_split_window(band_scene, tmp_path):
    shifted = write_product_fixture(band_scene, tmp_path / "shifted", FixtureSettings(tis_band_offset_m=(10.0, -20.0)))
    with pytest.warns(IngestWarning):
        one = ingest_product(list(shifted), tmp_path / "one")
    with pytest.warns(IngestWarning):
        strips = ingest_product(list(shifted), tmp_path / "strips", strip_rows=7)
    np.testing.assert_allclose(_read_lst(one[0])[0], _read_lst(strips[0])[0], atol=1e-4, rtol=0)  # the halo cuts the spline at 1e-7
    with pytest.warns(IngestWarning) as caught:
        single = ingest_product(list(shifted), tmp_path / "single", method="single-channel")
    assert _band_warnings(caught) == [] and "tis_band_registration" not in _read_lst(single[0])[1]


# --- TIS B2 stripes -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def striped_scene():
    return generate_scene((240, 240), seed=3)


def test_tis_b2_stripes_are_found_against_b3_and_removed(striped_scene, tmp_path):
    """--destripe: 0.4 K detector stripes along 10 deg east of north: the split window's LST
    error falls by more than two thirds, strips join exactly; a clean scene is left alone, and
    without the option (the default) B2 is kept as delivered, saying so."""
    clean = write_product_fixture(striped_scene, tmp_path / "clean")
    striped = write_product_fixture(striped_scene, tmp_path / "striped", FixtureSettings(tis_stripes_k=0.4))
    with pytest.warns(IngestWarning) as caught:
        reference = ingest_product(list(clean), tmp_path / "ref", destripe_b2=True)
    assert not [w for w in caught if str(w.message).startswith("TIS B2 destriped")]
    # asked for and nothing removed: said, not only tagged (QA)
    assert [str(w.message) for w in caught if "not destriped" in str(w.message)] == [
        f"{_read_lst(reference[0])[1]['tis_destriping']}; TIS B2 is used as delivered"]
    with pytest.warns(IngestWarning, match=r"TIS B2 destriped: stripes of 0\.\d\d K RMS along 10\.0 deg east of north "
                                           r"removed .*; check it, and leave out --destripe if the scene has none"):
        destriped = ingest_product(list(striped), tmp_path / "destriped", destripe_b2=True)
    with pytest.warns(IngestWarning):
        in_strips = ingest_product(list(striped), tmp_path / "strips", strip_rows=50, destripe_b2=True)
    with pytest.warns(IngestWarning):
        kept = ingest_product(list(striped), tmp_path / "kept")
    (truth, ref_tags), (out, tags), (kept_lst, kept_tags) = (_read_lst(p[0]) for p in (reference, destriped, kept))
    assert ref_tags["tis_destriping"].startswith("TIS B2 not destriped: no stripes found")
    assert tags["tis_destriping"].startswith("TIS B2 destriped")
    assert kept_tags["tis_destriping"] == "not measured (--destripe not given)"
    rmse = [float(np.sqrt(np.nanmean((a - truth) ** 2))) for a in (out, kept_lst)]
    assert rmse[1] > 0.5 and rmse[0] < 0.33 * rmse[1]
    np.testing.assert_array_equal(_read_lst(in_strips[0])[0], out)
    with pytest.warns(IngestWarning):  # a clean scene comes out bit-identical whether or not it is looked at
        unlooked = ingest_product(list(clean), tmp_path / "unlooked")
    np.testing.assert_array_equal(_read_lst(unlooked[0])[0], truth)
    with pytest.warns(IngestWarning, match="--destripe with --lst-method single-channel: not measured"):
        single = ingest_product(list(striped), tmp_path / "single", method="single-channel", destripe_b2=True)
    assert _read_lst(single[0])[1]["tis_destriping"].startswith("not measured: it needs B3 registered")


# --- TIS-MII misregistration -------------------------------------------------------------

def test_a_tis_placement_that_another_fits_as_well_is_a_warning():
    """The TIS-MII estimate names a placement a whole TIS pixel away that fits as well, and
    ingest says so (as it does for one it moved or could not measure)."""
    from pipelines.coregister import ShiftEstimate
    from pipelines.ingest import _report_placement

    tie = ShiftEstimate(0, 0, 0.6, 0.6, 9, True, (3, 0, 0.598))
    with pytest.warns(IngestWarning) as caught:
        placed = _report_placement(tie, 10.0, ())
    assert placed == ("aligned as delivered (R² 0.60), but 30 m south of that fits as well (R² 0.60): "
                      "the placement is uncertain by that much")
    assert [str(w.message) for w in caught] == [f"TIS and MII: {placed}; --no-coregister keeps the delivered grid"]


def test_a_misregistered_tis_is_moved_back_onto_the_mii(tmp_path):
    """Products misregistered by 40 m east and 20 m south (real ones are off by 1-2 TIS pixels)
    ingest to the same pair as well-registered ones; --no-coregister keeps the delivered grid."""
    scene = generate_scene((40, 40), seed=5)
    clean = write_product_fixture(scene, tmp_path / "clean")
    shifted = write_product_fixture(scene, tmp_path / "shifted", FixtureSettings(tis_offset_m=(40.0, -20.0)))
    with pytest.warns(IngestWarning):
        reference = ingest_product(list(clean), tmp_path / "ref")
    with pytest.warns(IngestWarning, match="misregistered: LST moved 40 m west and 20 m north onto the MII"):
        moved = ingest_product(list(shifted), tmp_path / "moved")
    for a, b in zip(reference, moved):
        with rasterio.open(a) as ref, rasterio.open(b) as out:
            assert out.transform == ref.transform and out.shape == ref.shape
            np.testing.assert_array_equal(out.read(), ref.read())
            assert ref.tags()["coregistration"].startswith("aligned as delivered")
            assert out.tags()["coregistration"].startswith("LST moved 40 m west and 20 m north")
    assert run(["-q", "ingest", str(shifted[0]), str(shifted[1]), "--out-dir", str(tmp_path / "kept"),
                "--no-coregister"]) == 0
    with rasterio.open(next((tmp_path / "kept").glob("*_lst.tif"))) as kept, rasterio.open(reference[0]) as ref:
        assert kept.transform == Affine.translation(40.0, -20.0) @ ref.transform
        assert kept.tags()["coregistration"] == "not measured (--no-coregister)"


@pytest.mark.parametrize("option", [["--destripe"], ["--no-destripe"], ["--lst-method", "single-channel"],
                                    ["--retrieval-config", "coefficients.toml"]])
def test_retrieval_options_with_a_given_lst_are_refused(scene, products, tmp_path, capsys, option):
    """QA: with --lst these were accepted and had no effect, with nothing said."""
    tis, mii = products
    own = tmp_path / "own_lst.tif"
    write_raster(own, scene.lst, crs=scene.crs, transform=scene.lst_transform, descriptions=["lst"], units="K")
    out = tmp_path / "out"
    assert run(["ingest", str(tis), str(mii), "--lst", str(own), *option, "--out-dir", str(out)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: {option[0]}: shapes the LST retrieved from TIS, but --lst gives the LST, which is used as it "
        f"is (hint: drop {option[0]}, or drop --lst to retrieve the LST from TIS)"]
    assert not out.exists()
