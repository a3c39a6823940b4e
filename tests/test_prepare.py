"""``groklst prepare``: values, georeferencing, splits, statistics and every bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr
from rasterio.crs import CRS
from rasterio.windows import from_bounds

from groklst_cli.app import run
from pipelines.dataset import open_prepared
from pipelines.degrade import block_mean, degrade
from pipelines.errors import InputError
from pipelines.geotiff import write_raster
from pipelines.patches import parse_ratios, split_by_blocks, Footprint
from pipelines.prepare import PrepareOptions, prepare
from tests.conftest import PAPER_BANDS, write_canonical_scene


def _bounds(transform, patch: int) -> tuple[float, float, float, float]:
    return transform.c, transform.f + patch * transform.e, transform.c + patch * transform.a, transform.f


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.fixture
def big_scene(tmp_path: Path) -> tuple[Path, Path]:
    """96 x 96 px at 30 m with a strong west-east gradient (so splits differ in mean)."""
    yy, xx = np.mgrid[0:96, 0:96]
    lst = 280.0 + 0.5 * xx + 0.1 * yy + np.sin(yy / 3.0)
    return write_canonical_scene(tmp_path, "big", shape=(96, 96), lst=lst)


def test_prepare_writes_the_contract(canonical_scene, tmp_path: Path) -> None:
    lst_path, guidance_path = canonical_scene
    out = tmp_path / "ds"
    status = run(["-q", "prepare", str(lst_path), "--out", str(out), "--scales", "2,4",
                  "--patch", "8", "--stride", "4", "--split", "1:0:0", "--degrade", "area", "--aggregate", "kelvin"])
    assert status == 0
    ds = open_prepared(out)
    assert ds.bands == list(PAPER_BANDS) and ds.scales == [2, 4]
    assert ds.hr_resolution == 30.0 and ds.patch == 8
    assert len(ds.indices("train")) == 49 and ds.indices("test") == []
    lr2, guidance, hr = ds.read(10, 2)
    assert lr2.shape == (4, 4) and guidance.shape == (10, 8, 8) and hr.shape == (8, 8)
    assert lr2.dtype == guidance.dtype == hr.dtype == np.float32
    # area degradation: each LR pixel is the mean of its HR block (the property)
    np.testing.assert_allclose(ds.read(10, 4)[0], block_mean(hr, 4), atol=1e-4)
    np.testing.assert_allclose(lr2, block_mean(hr, 2), atol=1e-4)
    # guidance is the 10 m guidance area-averaged onto the 30 m HR grid
    crs, transform = ds.georef(10)
    with rasterio.open(guidance_path) as src:
        window = from_bounds(*_bounds(transform, 8), transform=src.transform)
        fine = src.read(window=window)
        scene_mean = block_mean(src.read(), 3)
    band = {name: i for i, name in enumerate(PAPER_BANDS)}
    averaged = block_mean(fine, 3)
    for name in ("dem", "deepblue", "blue", "green", "red", "vre", "nir"):
        np.testing.assert_allclose(guidance[band[name]], averaged[band[name]], rtol=1e-6)
    # indices are recomputed from the averaged reflectances, NDMVI with the scene's HR minima
    red, nir, green = averaged[band["red"]], averaged[band["nir"]], averaged[band["green"]]
    np.testing.assert_allclose(guidance[band["ndvi"]], (nir - red) / (nir + red), rtol=1e-5)
    np.testing.assert_allclose(guidance[band["ndwi"]], (green - nir) / (green + nir), rtol=1e-5)
    red_min, nir_min = scene_mean[band["red"]].min(), scene_mean[band["nir"]].min()
    expected = ((nir - nir_min) - (red - red_min)) / ((nir - nir_min) + (red - red_min))
    np.testing.assert_allclose(guidance[band["ndmvi"]], expected, rtol=1e-4)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["computed_on"] == "train" and stats["bands"] == list(PAPER_BANDS)
    info = json.loads((out / "info.json").read_text())
    assert info["patches"] == {"train": 49, "val": 0, "test": 0}
    assert info["settings"]["patch"] == 8 and info["scenes"]["scene"]["candidates"] == 49


def test_patch_written_back_as_geotiff_lands_on_the_right_pixels(canonical_scene, tmp_path: Path) -> None:
    lst_path, _ = canonical_scene
    out = tmp_path / "ds"
    prepare([lst_path], out, PrepareOptions(scales=(2,), patch=8, stride=8, ratios=(1, 0, 0)))
    ds = open_prepared(out)
    index = len(ds.indices("train")) - 1
    _, _, hr = ds.read(index, 2)
    crs, transform = ds.georef(index)
    patch_tif = write_raster(tmp_path / "patch.tif", hr, crs=crs, transform=transform, descriptions=["lst"])
    with rasterio.open(patch_tif) as patch, rasterio.open(lst_path) as scene:
        assert patch.crs == scene.crs
        window = from_bounds(*patch.bounds, transform=scene.transform)
        assert (round(window.row_off), round(window.col_off)) == (24, 24)
        np.testing.assert_array_equal(patch.read(1), scene.read(1, window=window))
    group_row, group_col = 24, 24
    import zarr

    store = zarr.open_group(str(out / "data.zarr"), mode="r")
    assert (store["row_off"][index], store["col_off"][index]) == (group_row, group_col)


def test_splits_are_disjoint_leak_free_and_reproducible(big_scene, tmp_path: Path) -> None:
    lst_path, _ = big_scene
    opts = PrepareOptions(scales=(2,), patch=8, stride=4, split_block=16, seed=3)
    info = prepare([lst_path], tmp_path / "a", opts)
    prepare([lst_path], tmp_path / "b", opts)
    ds = open_prepared(tmp_path / "a")
    splits = {s: set(ds.indices(s)) for s in ("train", "val", "test")}
    assert all(splits.values())
    assert not (splits["train"] & splits["val"] or splits["train"] & splits["test"] or splits["val"] & splits["test"])
    assert set().union(*splits.values()) == set(range(len(ds)))
    bounds = np.array([_bounds(ds.georef(i)[1], 8) for i in range(len(ds))])
    for a_split, b_split in (("train", "val"), ("train", "test"), ("val", "test")):
        a, b = bounds[sorted(splits[a_split])][:, None, :], bounds[sorted(splits[b_split])][None, :, :]
        overlap = (a[..., 0] < b[..., 2]) & (b[..., 0] < a[..., 2]) & (a[..., 1] < b[..., 3]) & (b[..., 1] < a[..., 3])
        assert not overlap.any(), f"{a_split} and {b_split} patches overlap"
    assert info["dropped_split_boundary"] > 0
    assert info["total"] + info["dropped_split_boundary"] == info["scenes"]["big"]["candidates"]
    for name in ("train", "val", "test"):
        text = (tmp_path / "a" / "splits" / f"{name}.txt").read_text()
        assert text == (tmp_path / "b" / "splits" / f"{name}.txt").read_text()
    prepare([lst_path], tmp_path / "c", PrepareOptions(scales=(2,), patch=8, stride=4, split_block=16, seed=4))
    assert open_prepared(tmp_path / "c").indices("train") != ds.indices("train")


def test_statistics_come_from_the_train_split_only(big_scene, tmp_path: Path) -> None:
    lst_path, _ = big_scene
    prepare([lst_path], tmp_path / "ds", PrepareOptions(scales=(2,), patch=8, stride=8, split_block=16))
    ds = open_prepared(tmp_path / "ds")
    train = [ds.read(i, 2) for i in ds.indices("train")]
    everything = [ds.read(i, 2) for i in range(len(ds))]
    train_lst = np.concatenate([hr.ravel() for _, _, hr in train]).astype(np.float64)
    all_lst = np.concatenate([hr.ravel() for _, _, hr in everything]).astype(np.float64)
    assert ds.stats.lst_mean == pytest.approx(train_lst.mean(), rel=1e-9)
    assert ds.stats.lst_std == pytest.approx(train_lst.std(), rel=1e-6)
    assert abs(all_lst.mean() - train_lst.mean()) > 0.1  # the test would be vacuous otherwise
    nir = np.concatenate([g[PAPER_BANDS.index("nir")].ravel() for _, g, _ in train]).astype(np.float64)
    assert ds.stats.band_mean[PAPER_BANDS.index("nir")] == pytest.approx(nir.mean(), rel=1e-9)
    assert ds.stats.band_std[PAPER_BANDS.index("nir")] == pytest.approx(nir.std(), rel=1e-6)
    assert json.loads((tmp_path / "ds" / "stats.json").read_text())["n_pixels"] == train_lst.size


def test_nodata_patches_are_dropped_and_counted(tmp_path: Path) -> None:
    lst = np.full((32, 32), 300.0)
    lst[5, 20] = np.nan
    lst_path, _ = write_canonical_scene(tmp_path, "holes", lst=lst)
    strict = prepare([lst_path], tmp_path / "strict", PrepareOptions(scales=(2,), patch=8, stride=4, ratios=(1, 0, 0)))
    # patches whose rows include 5 and columns include 20: rows 0 and 4, columns 16 and 20
    assert strict["dropped_nodata"] == 4 and strict["total"] == 45
    loose = prepare([lst_path], tmp_path / "loose",
                    PrepareOptions(scales=(2,), patch=8, stride=4, ratios=(1, 0, 0), max_nodata=0.5))
    assert loose["dropped_nodata"] == 0
    ds = open_prepared(tmp_path / "loose")
    holed = [i for i in range(len(ds)) if np.isnan(ds.read(i, 2)[2]).any()]
    assert len(holed) == 4
    lr, _, hr = ds.read(holed[0], 2)
    assert np.isnan(lr).sum() == 1 and np.isnan(hr).sum() == 1
    r, c = np.argwhere(np.isnan(hr))[0]
    assert np.isnan(lr[r // 2, c // 2])


def test_hr_resolution_and_mtf_degradation(canonical_scene, tmp_path: Path) -> None:
    lst_path, _ = canonical_scene
    prepare([lst_path], tmp_path / "ds60", PrepareOptions(scales=(2,), hr_resolution=60, patch=4, stride=4,
                                                          ratios=(1, 0, 0), aggregate="kelvin"))
    ds = open_prepared(tmp_path / "ds60")
    assert ds.hr_resolution == 60
    _, _, hr = ds.read(0, 2)
    with rasterio.open(lst_path) as src:
        np.testing.assert_allclose(hr, block_mean(src.read(1)[:8, :8], 2), atol=1e-4)
    flat = write_canonical_scene(tmp_path, "flat", lst=np.full((32, 32), 295.0))[0]
    prepare([flat], tmp_path / "mtf", PrepareOptions(scales=(2, 4), patch=8, stride=8, ratios=(1, 0, 0), degrade="mtf"))
    ds = open_prepared(tmp_path / "mtf")
    for i in range(len(ds)):
        np.testing.assert_allclose(ds.read(i, 4)[0], 295.0, rtol=1e-6)


def _prepared_info(lst_path: Path, out: Path, capsys) -> tuple[dict, str]:
    """Prepare one scene into ``out`` (8 px patches, all train), then ``--info`` as JSON and text."""
    assert run(["-q", "prepare", str(lst_path), "--out", str(out), "--scales", "2", "--patch", "8",
                "--stride", "8", "--split", "1:0:0"]) == 0
    capsys.readouterr()
    assert run(["prepare", "--info", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert run(["prepare", "--info", str(out)]) == 0
    return summary, capsys.readouterr().out


def test_info_prints_counts_and_json(canonical_scene, tmp_path: Path, capsys) -> None:
    summary, text = _prepared_info(canonical_scene[0], tmp_path / "ds", capsys)
    assert summary["patches"] == {"train": 16, "val": 0, "test": 0} and summary["scales"] == [2]
    assert summary["hr_resolution"] == 30.0 and summary["hr_resolution_units"] == "m"
    assert "train" in text and "16" in text and "lst (K)" in text and "30 m HR" in text


def test_info_prints_the_dataset_path_as_typed(canonical_scene, tmp_path: Path, capsys) -> None:
    """QA: a folder named ds:fire: was titled with an emoji (rich's emoji codes)."""
    _, text = _prepared_info(canonical_scene[0], tmp_path / "ds:fire:[red]", capsys)
    assert "ds:fire:[red]" in text and "\U0001f525" not in text


def test_info_escapes_control_characters_in_the_path_and_band_names(tmp_path: Path, monkeypatch, capsys) -> None:
    """QA: the tables printed values raw: a newline in the dataset's path or a band's name split a
    line, ``\\x1b`` reached the terminal. Escaped as stderr lines escape them."""
    monkeypatch.setenv("COLUMNS", "200")
    lst_path, _ = write_canonical_scene(tmp_path, bands=("dem", "nd\nvi"))
    _, text = _prepared_info(lst_path, tmp_path / "d\ns\x1b[2J", capsys)
    assert "\x1b" not in text and f"{tmp_path}/d\\ns\\x1b[2J  (30 m HR, 8 px patches)" in text.splitlines()
    assert "│ nd\\nvi   │ 0.5061 │ 0.09893 │" in text.splitlines()


def test_info_names_degrees_for_a_geographic_scene(tmp_path: Path, capsys) -> None:
    """A scene on a geographic CRS has its pixel size in degrees, not metres, in the summary."""
    lst_path, _ = write_canonical_scene(tmp_path, "geo", lst_res=0.0003, origin=(7.5, 52.0),
                                        crs=CRS.from_epsg(4326))
    summary, text = _prepared_info(lst_path, tmp_path / "ds", capsys)
    assert summary["hr_resolution"] == pytest.approx(0.0003) and summary["hr_resolution_units"] == "deg"
    assert "0.0003 deg HR" in text


def _assert_refused(args: list[str], out: Path, capsys, fragment: str) -> None:
    capsys.readouterr()
    assert run(["-q", "prepare", *args, "--out", str(out)]) == 2
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1 and fragment in message, message
    assert not out.exists()
    assert not list(out.parent.glob(f".{out.name}*"))


def test_no_overlap_is_refused(tmp_path: Path, capsys) -> None:
    lst_path, _ = write_canonical_scene(tmp_path, "far", guidance_origin=(600_000.0, 5_760_000.0))
    _assert_refused([str(lst_path), "--scales", "2", "--patch", "8"], tmp_path / "ds", capsys, "no overlap")


def test_non_nesting_grids_are_refused(tmp_path: Path, capsys) -> None:
    lst_path, _ = write_canonical_scene(tmp_path, "shifted", guidance_origin=(500_005.0, 5_760_000.0))
    _assert_refused([str(lst_path), "--scales", "2", "--patch", "8"], tmp_path / "ds", capsys, "do not nest")
    odd, _ = write_canonical_scene(tmp_path, "odd", lst_res=30.0, ratio=3)
    _assert_refused([str(odd), "--scales", "2", "--patch", "8", "--hr-res", "25"], tmp_path / "ds", capsys,
                    "not a multiple")


def test_missing_band_is_refused(tmp_path: Path, capsys) -> None:
    full, _ = write_canonical_scene(tmp_path, "full")
    short, _ = write_canonical_scene(tmp_path, "short", bands=PAPER_BANDS[:-1], origin=(600_000.0, 5_760_000.0))
    _assert_refused([str(full), str(short), "--scales", "2", "--patch", "8"], tmp_path / "ds", capsys,
                    "missing band(s) ['ndwi']")


def test_unreadable_and_missing_files_are_refused(tmp_path: Path, capsys) -> None:
    lst_path, guidance_path = write_canonical_scene(tmp_path, "broken")
    guidance_path.write_bytes(b"this is not a GeoTIFF")
    _assert_refused([str(lst_path), "--scales", "2", "--patch", "8"], tmp_path / "ds", capsys, "not a readable raster")
    _assert_refused([str(tmp_path / "none_lst.tif"), "--scales", "2"], tmp_path / "ds", capsys, "file not found")
    alone = tmp_path / "alone_lst.tif"
    alone.write_bytes(lst_path.read_bytes())
    _assert_refused([str(alone), "--scales", "2"], tmp_path / "ds", capsys, "guidance file not found")


def test_bad_options_are_refused(canonical_scene, tmp_path: Path, capsys) -> None:
    lst_path, _ = canonical_scene
    out = tmp_path / "ds"
    _assert_refused([str(lst_path), "--scales", "3", "--patch", "8"], out, capsys, "not a multiple of scale(s) [3]")
    _assert_refused([str(lst_path), "--split", "6:1"], out, capsys, "TRAIN:VAL:TEST")
    _assert_refused([str(lst_path), "--scales", "2", "--patch", "64"], out, capsys,
                    "the scene is smaller than the 64 px patch (32 x 32 HR pixels of 30 m")
    _assert_refused([str(lst_path), "--degrade", "cubic"], out, capsys, "--degrade")


def test_overwrite_replaces_only_a_groklst_dataset(canonical_scene, tmp_path: Path, capsys) -> None:
    lst_path, _ = canonical_scene
    out = tmp_path / "ds"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    args = [str(lst_path), "--scales", "2", "--patch", "8", "--split", "1:0:0", "--out", str(out)]
    assert run(["-q", "prepare", *args]) == 2
    assert run(["-q", "prepare", *args, "--overwrite"]) == 2
    assert "is not a groklst dataset; it is never replaced" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"] and (out / "keep.txt").read_text() == "mine"
    (out / "keep.txt").unlink()
    assert run(["-q", "prepare", *args]) == 0  # an empty folder is fine
    assert run(["-q", "prepare", *args]) == 2
    assert "output already exists" in capsys.readouterr().err
    assert run(["-q", "prepare", *args, "--patch", "16", "--overwrite"]) == 0
    assert open_prepared(out).patch == 16
    assert json.loads((out / "info.json").read_text())["format"] == "groklst-dataset/1"


def test_failure_mid_write_leaves_nothing(canonical_scene, tmp_path: Path, monkeypatch) -> None:
    import pipelines.prepare as prep

    def broken(*args, **kwargs):
        raise InputError("scene_lst.tif", "cannot read pixels (simulated)")

    monkeypatch.setattr(prep, "cut_patch", broken)
    with pytest.raises(InputError):
        prepare([canonical_scene[0]], tmp_path / "ds", PrepareOptions(scales=(2,), patch=8, stride=8))
    assert not (tmp_path / "ds").exists() and not list(tmp_path.glob(".ds*"))


def test_open_prepared_refuses_other_folders(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a groklst prepared dataset"):
        open_prepared(tmp_path)


def test_block_split_never_splits_overlapping_patches() -> None:
    footprints = [Footprint("crs", x, y - 8, x + 8, y) for x in range(0, 64, 4) for y in range(8, 72, 4)]
    splits = split_by_blocks(footprints, 16.0, parse_ratios("6:1:3"), seed=0)
    for a, sa in zip(footprints, splits):
        for b, sb in zip(footprints, splits):
            if sa and sb and sa != sb:
                assert not _overlap((a.left, a.bottom, a.right, a.top), (b.left, b.bottom, b.right, b.top))
    assert {"train", "val", "test"} <= set(splits)


SHARED = Path(__file__).resolve().parents[1].parent / "shared"
MUENSTER = SHARED / "data" / "landsat-muenster" / "LC08_L2SP_196024_20240813_20240822_02_T1_ST_B10.TIF"


def test_real_landsat_lst_in_celsius_with_nodata(tmp_path: Path) -> None:
    """Real LST (degC, nodata -9999, PixelIsPoint) with 10 m guidance over a 64 x 64 px part."""
    if not MUENSTER.exists():
        pytest.skip("../shared/data is not available")
    lst_path = tmp_path / "muenster_lst.tif"
    lst_path.symlink_to(MUENSTER)
    with rasterio.open(MUENSTER) as src:
        t = src.transform
        celsius = src.read(1)
    origin = (t.c + 440 * 30.0, t.f - 100 * 30.0)
    guidance = np.random.default_rng(1).uniform(0, 1, (2, 192, 192))
    write_raster(tmp_path / "muenster_guidance.tif", guidance, crs=src.crs,
                 transform=rasterio.Affine(10.0, 0, origin[0], 0, -10.0, origin[1]), descriptions=["dem", "ndvi"])
    info = prepare([lst_path], tmp_path / "ds", PrepareOptions(scales=(2,), patch=32, stride=32, ratios=(1, 0, 0)))
    # four candidate patches over the guidance; the one with -9999 pixels is dropped
    assert info["scenes"]["muenster"]["candidates"] == 4 and info["dropped_nodata"] == 1
    ds = open_prepared(tmp_path / "ds")
    for i in range(len(ds)):
        _, _, hr = ds.read(i, 2)
        window = from_bounds(*_bounds(ds.georef(i)[1], 32), transform=t)
        row, col = round(window.row_off), round(window.col_off)
        np.testing.assert_allclose(hr, celsius[row : row + 32, col : col + 32] + 273.15, atol=1e-3)
    assert 250.0 < ds.stats.lst_mean < 340.0


def test_sdgsat_like_x3_case_on_the_sample_scene(tmp_path: Path, capsys) -> None:
    """The lead's typical call: 30 m LST as HR, 10 m guidance averaged to 30 m, LR at 90 m."""
    from pipelines.sample_scene import generate_scene, write_scene

    lst_path, _ = write_scene(generate_scene(lr_shape=(72, 72), seed=2), tmp_path, name="heihe")
    out = tmp_path / "ds"
    assert run(["-q", "prepare", str(lst_path), "--out", str(out), "--scales", "3", "--patch", "24",
                "--stride", "12", "--split-block", "36", "--degrade", "area", "--json"]) == 0
    reported = json.loads(capsys.readouterr().out)
    ds = open_prepared(out)
    assert ds.scales == [3] and ds.hr_resolution == 30.0
    assert reported["total"] == len(ds) and reported["dropped_nodata"] > 0  # the scene's nodata edge
    with rasterio.open(lst_path) as src:
        scene_lst = src.read(1)
    for index in ds.indices("train")[:5] + ds.indices("test")[:5]:
        lr, guidance, hr = ds.read(index, 3)
        assert lr.shape == (8, 8) and np.isfinite(hr).all()
        np.testing.assert_allclose(lr, degrade(hr, 3, method="area", aggregate="radiance"), atol=1e-4)
        window = from_bounds(*_bounds(ds.georef(index)[1], 24), transform=src.transform)
        row, col = round(window.row_off), round(window.col_off)
        np.testing.assert_array_equal(hr, scene_lst[row : row + 24, col : col + 24])


def test_deal_follows_weights_and_fills_every_split() -> None:
    from pipelines.patches import deal

    items = [f"block{i}" for i in range(100)]
    split = deal(items, (0.6, 0.1, 0.3), seed=0)
    counts = {name: list(split.values()).count(name) for name in ("train", "val", "test")}
    assert counts == {"train": 60, "val": 10, "test": 30}
    assert deal(list(reversed(items)), (0.6, 0.1, 0.3), seed=0) == split  # order does not matter
    heavy = {"a": 25.0, "b": 30.0, "c": 20.0, "d": 5.0, "e": 0.0}
    dealt = deal(list(heavy), (0.6, 0.1, 0.3), seed=1, weights=heavy)
    assert {dealt[k] for k in "abcd"} == {"train", "val", "test"}


def test_scene_split_radiance_aggregation_and_lenient_lr_nodata(tmp_path: Path) -> None:
    lst = np.full((32, 32), 300.0)
    lst[::2, :] = 290.0
    lst[1::2, :] = 310.0
    lst[0, 0] = np.nan
    paths = [write_canonical_scene(tmp_path, f"s{i}", lst=lst, origin=(500_000.0 + i * 10_000, 5_760_000.0))[0]
             for i in range(3)]
    opts = PrepareOptions(scales=(2,), patch=8, stride=8, split_by="scene", degrade="area", aggregate="radiance",
                          lr_nodata="all", max_nodata=0.1, ratios=(0.34, 0.33, 0.33))
    info = prepare(paths, tmp_path / "ds", opts)
    assert sorted(info["patches"].values()) == [16, 16, 16]
    ds = open_prepared(tmp_path / "ds")
    scenes = xr.open_zarr(tmp_path / "ds" / "data.zarr")["scene"].values
    for split in ("train", "val", "test"):
        assert len({scenes[i] for i in ds.indices(split)}) == 1  # whole scenes per split
    lr, _, hr = ds.read(0, 2)
    assert np.isnan(hr[0, 0]) and np.isfinite(lr).all()  # one of four HR pixels missing: still valid
    # radiance aggregation: mean of T^4, here of the valid pixels 290, 310, 310 in block (0, 0)
    assert lr[0, 0] == pytest.approx(((290.0**4 + 2 * 310.0**4) / 3) ** 0.25, abs=1e-3)
    assert lr[0, 1] == pytest.approx(300.50, abs=0.01)


def test_sdgsat_product_folders_are_ingested_then_prepared(tmp_path: Path, capsys) -> None:
    from pipelines.fixtures import write_product_fixture
    from pipelines.sample_scene import BAND_NAMES, generate_scene

    tis, mii = write_product_fixture(generate_scene((24, 24), seed=3), tmp_path / "products")
    out = tmp_path / "ds"
    capsys.readouterr()
    assert run(["-q", "prepare", str(tis), str(mii), "--out", str(out), "--scales", "2", "--patch", "8",
                "--stride", "8", "--split", "1:0:0", "--max-nodata", "1"]) == 0
    assert "no --dem" in capsys.readouterr().err  # the ingest warning reaches the user
    ds = open_prepared(out)
    assert ds.bands == list(BAND_NAMES) and len(ds) > 0
    lr, _, hr = ds.read(0, 2)
    assert np.nanmean(hr) > 250.0 and lr.shape == (4, 4)
    assert not list(tmp_path.glob(".ds*"))  # the ingested scene was removed with its work folder


def test_grid_noise_is_tolerated_as_downscale_tolerates_it(tmp_path: Path, capsys) -> None:
    """Origins 1e-4 of a guidance pixel apart (rounding noise of a reprojection) nest for prepare
    as they do for downscale: one rule for both, not a stricter one for training data."""
    lst_path, _ = write_canonical_scene(tmp_path, "noisy", guidance_origin=(500_000.001, 5_760_000.0))
    assert run(["-q", "prepare", str(lst_path), "--out", str(tmp_path / "ds"), "--scales", "2",
                "--patch", "8", "--stride", "8", "--split", "1:0:0"]) == 0, capsys.readouterr().err
    assert len(open_prepared(tmp_path / "ds")) == 16
    assert run(["-q", "downscale", str(lst_path), "--model", "bicubic", "--out-dir", str(tmp_path / "out")]) == 0
    shifted, _ = write_canonical_scene(tmp_path, "shifted", guidance_origin=(500_000.1, 5_760_000.0))
    _assert_refused([str(shifted), "--scales", "2", "--patch", "8"], tmp_path / "ds2", capsys, "do not nest")


def test_misregistered_products_are_placed_before_patches_are_cut(tmp_path: Path, capsys) -> None:
    """TIS off by 30 m: the patches pair each LST pixel with the MII under it, as for a
    well-registered delivery; --no-coregister keeps the offset (and says nothing)."""
    from pipelines.fixtures import FixtureSettings, write_product_fixture
    from pipelines.sample_scene import generate_scene

    scene = generate_scene((24, 24), seed=3)
    clean = write_product_fixture(scene, tmp_path / "clean")
    shifted = write_product_fixture(scene, tmp_path / "shifted", FixtureSettings(tis_offset_m=(30.0, 0.0)))
    common = ["--scales", "2", "--patch", "8", "--stride", "8", "--split", "1:0:0", "--max-nodata", "1"]
    datasets = {}
    for name, folders, extra in (("clean", clean, []), ("placed", shifted, []),
                                 ("kept", shifted, ["--no-coregister"])):
        capsys.readouterr()
        assert run(["-q", "prepare", *map(str, folders), "--out", str(tmp_path / f"ds_{name}"), *common, *extra]) == 0
        assert ("misregistered" in capsys.readouterr().err) == (name == "placed")
        datasets[name] = open_prepared(tmp_path / f"ds_{name}")
    assert len(datasets["placed"]) == len(datasets["clean"])
    for i in range(len(datasets["clean"])):
        for a, b in zip(datasets["clean"].read(i, 2), datasets["placed"].read(i, 2)):
            np.testing.assert_array_equal(a, b)
    _, kept_guidance, _ = datasets["kept"].read(0, 2)
    assert not np.array_equal(kept_guidance, datasets["clean"].read(0, 2)[1])


def test_each_product_scene_s_warnings_name_it(tmp_path: Path, capsys) -> None:
    """QA: with several product scenes, 'TIS bands are misregistered' did not say which one."""
    from pipelines.fixtures import FixtureSettings, write_product_fixture
    from pipelines.sample_scene import generate_scene

    scene = generate_scene((24, 24), seed=3)
    first = tmp_path / "first"
    write_product_fixture(scene, first)
    second = tmp_path / "second"
    write_product_fixture(scene, second, FixtureSettings(scene_id="202200445566", tis_band_offset_m=(30.0, 0.0)))
    common = ["--scales", "2", "--patch", "8", "--stride", "8", "--split", "1:0:0", "--max-nodata", "1"]
    capsys.readouterr()
    assert run(["-q", "prepare", str(first), str(second), "--out", str(tmp_path / "ds"), *common]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "TIS bands are misregistered" in line]
    assert lines == [f"warning: {second}: TIS bands are misregistered: TIS B3 moved 30.0 m west onto B2 (1 crop); "
                     "--no-coregister keeps the delivered bands"]


def test_overwrite_onto_a_dataset_with_a_damaged_info_json_says_so(canonical_scene, tmp_path: Path, capsys) -> None:
    """QA: the refusal called such a folder "not a groklst dataset"; it is kept, and the message
    says its info.json cannot be read."""
    lst_path, _ = canonical_scene
    out = tmp_path / "ds"
    args = ["-q", "prepare", str(lst_path), "--scales", "2", "--patch", "8", "--split", "1:0:0", "--out", str(out)]
    assert run(args) == 0
    for damaged in ('{"format": "groklst-dat', "{}", "[1, 2]"):  # QA: "{}" passed as a legacy dataset
        (out / "info.json").write_text(damaged)
        before = sorted(p.name for p in out.iterdir())
        assert run([*args, "--overwrite"]) == 2
        err = capsys.readouterr().err.strip()
        assert err == (f"error: {out}: exists and its info.json cannot be read (damaged?), so it is not known to "
                       "be a groklst dataset; it is never replaced (hint: if it is a damaged groklst dataset, "
                       "delete it yourself; else choose a new or empty output folder)")
        assert sorted(p.name for p in out.iterdir()) == before
