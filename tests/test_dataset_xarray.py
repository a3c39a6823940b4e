"""prepare's ``data.zarr`` read as a scientist reads it (``xarray.open_zarr``): units, named
dims, per-patch pixel centres and CRS; and stores written before these labels still load and train."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr
import zarr
from affine import Affine

from groklst_cli.app import run
from pipelines.dataset import STORE, DatasetWriter, PatchRecord, guidance_band_units, open_prepared
from pipelines.dataset_identity import dataset_identity
from tests.conftest import PAPER_BANDS, UTM, prepare_generated_dataset, write_canonical_scene
from tests.test_train import CLI_TRAIN

TAGS = ("m", "1", "1", "1", "1", "1", "1", "", "1", "1")  # as groklst ingest tags, ndmvi left untagged
NEW_ARRAYS = ("band_units", "affine", "spatial_ref", "hr_x", "hr_y", "lr_x_x2", "lr_y_x2")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 32 px scene whose guidance bands carry unit tags, prepared at x2 and x4 into 8 px patches."""
    root = tmp_path_factory.mktemp("xr")
    lst, guidance = write_canonical_scene(root)
    with rasterio.open(guidance, "r+") as dst:
        for band, unit in enumerate(TAGS, start=1):
            dst.set_band_unit(band, unit)
    out = root / "ds"
    assert run(["-q", "prepare", str(lst), "--out", str(out), "--scales", "2,4", "--patch", "8",
                "--stride", "8", "--split", "1:0:0"]) == 0
    return out


def test_open_zarr_gives_units_dims_and_the_values_prepare_wrote(prepared: Path) -> None:
    ds, own = xr.open_zarr(prepared / STORE), open_prepared(prepared)
    assert ds.hr_lst.dims == ("patch", "y", "x") and ds.guidance.dims == ("patch", "band", "y", "x")
    assert ds.lr_lst_x4.dims == ("patch", "y_x4", "x_x4") and ds.sizes["patch"] == len(own) == 16
    for name in ("hr_lst", "lr_lst_x2", "lr_lst_x4"):
        assert ds[name].attrs["units"] == "K" and ds[name].attrs["long_name"]
    assert list(ds.band.values) == list(PAPER_BANDS)
    # ndmvi is untagged but an index: "1"; the bands' units differ, so guidance has no single unit
    assert list(ds.band_units.values) == ["m", "1", "1", "1", "1", "1", "1", "1", "1", "1"]
    assert "units" not in ds.guidance.attrs
    for index in (0, 7, 15):
        lr4, guidance, hr = own.read(index, 4)
        np.testing.assert_array_equal(ds.hr_lst[index].values, hr)
        np.testing.assert_array_equal(ds.guidance[index].values, guidance)
        np.testing.assert_array_equal(ds.lr_lst_x4[index].values, lr4)
        assert 280 < float(np.nanmean(ds.hr_lst[index])) < 320  # Kelvin, as the scene was written


def test_pixel_centres_and_crs_follow_each_patch_transform(prepared: Path) -> None:
    ds, own = xr.open_zarr(prepared / STORE), open_prepared(prepared)
    for index in (0, 5, 15):
        crs, t = own.georef(index)
        np.testing.assert_array_equal(ds.hr_x[index].values, t.c + 30.0 * (np.arange(8) + 0.5))
        np.testing.assert_array_equal(ds.hr_y[index].values, t.f - 30.0 * (np.arange(8) + 0.5))
        np.testing.assert_array_equal(ds.lr_x_x4[index].values, t.c + 120.0 * (np.arange(2) + 0.5))
        np.testing.assert_array_equal(ds.transform.sel(affine="c")[index].values, t.c)
        assert crs == UTM
    assert ds.hr_x.attrs["units"] == "m" and "hr_x" in ds.hr_lst.coords and "lr_y_x2" in ds.lr_lst_x2.coords
    assert ds.hr_x[0, 0] == 500_015.0  # the scene origin 500000 + half a pixel
    assert ds.spatial_ref.attrs["crs_wkt"] == UTM.to_wkt() and ds.hr_lst.attrs["grid_mapping"] == "spatial_ref"


def test_band_units_come_from_tags_else_indices_only() -> None:
    assert guidance_band_units(["dem", "swir1", "ndvi"], ["m", "", ""]) == ["m", "", "1"]
    assert guidance_band_units(["red", "ndwi"]) == ["", "1"]  # untagged reflectance may be digital numbers


def test_ungeoreferenced_patches_get_no_invented_coordinates(tmp_path: Path) -> None:
    """A GrokLST import has no CRS: no pixel centres, no spatial_ref; units still named."""
    record = PatchRecord("p", "train", 0, 0, Affine(30, 0, 0, 0, -30, 0), "")
    writer = DatasetWriter(tmp_path, [record], bands=["ndvi", "dem"], scales=[2], patch=4,
                           attrs={"hr_resolution": 30.0}, band_units=["", "m"])
    writer.write(0, np.full((4, 4), 300.0), np.ones((2, 4, 4)), {2: np.full((2, 2), 300.0)})
    ds = xr.open_zarr(tmp_path / STORE)
    assert not {"hr_x", "hr_y", "lr_x_x2", "spatial_ref"} & set(ds.variables)
    assert list(ds.band_units.values) == ["1", "m"] and ds.hr_lst.attrs["units"] == "K"
    np.testing.assert_array_equal(ds.lr_lst_x2[0].values, np.full((2, 2), 300.0, dtype=np.float32))


def _as_old_layout(store: Path) -> None:
    """Strip what this labelling added: the arrays above and every array's CF attributes."""
    for name in NEW_ARRAYS:
        shutil.rmtree(store / name)
    for attrs_file in store.glob("*/.zattrs"):
        attrs = json.loads(attrs_file.read_text())
        attrs_file.write_text(json.dumps({k: v for k, v in attrs.items() if k.startswith("_")}))
    zarr.consolidate_metadata(str(store), zarr_format=2)


def test_an_old_layout_store_still_loads_trains_and_keeps_its_identity(tmp_path: Path) -> None:
    new = prepare_generated_dataset(tmp_path / "new", (2,))
    old = tmp_path / "old"
    shutil.copytree(new, old)
    _as_old_layout(old / STORE)
    assert "hr_x" not in xr.open_zarr(old / STORE).variables
    assert "units" not in xr.open_zarr(old / STORE).hr_lst.attrs
    a, b = open_prepared(new), open_prepared(old)
    assert dataset_identity(a) == dataset_identity(b)  # labels are no part of the fingerprint
    for index in range(len(a)):
        for x, y in zip(a.read(index, 2), b.read(index, 2)):
            np.testing.assert_array_equal(x, y)
    for ds in (new, old):
        assert run(["-q", "train", str(ds), "-o", str(ds.parent / "run"), "--iters", "2", *CLI_TRAIN]) == 0
        assert (ds.parent / "run" / "config.json").exists()
