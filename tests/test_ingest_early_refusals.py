"""Ingest refusals that come before the expensive passes, and product folder names matched
whatever their case (task fixPI)."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from groklst_cli.app import run
from pipelines.errors import InputError
from pipelines.fixtures import write_product_fixture
from pipelines import sdgsat
from pipelines.ingest import default_name, ingest_product
from pipelines.sample_scene import generate_scene


@pytest.fixture(scope="module")
def products(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_product_fixture(generate_scene((16, 20), seed=5), tmp_path_factory.mktemp("products"))


def _sliver_config(products: tuple[Path, Path], folder: Path) -> tuple[Path, tuple[float, ...]]:
    """A TOML naming a water vapour raster west of the TIS image reaching 0.3 LST pixels into it
    (no LST pixel centre gets a value), and the raster's bounds."""
    tis_image = next(products[0].glob("*.tiff"))
    with rasterio.open(tis_image) as tis:
        west = tis.transform @ Affine.translation(0.3 - 10, 0)
        crs, height = tis.crs, tis.height
    raster = folder / "tcwv.tif"
    with rasterio.open(raster, "w", driver="GTiff", width=10, height=height, count=1, dtype="float32",
                       crs=crs, transform=west) as dst:
        dst.write(np.full((1, height, 10), 1.5, dtype=np.float32))
        bounds = tuple(dst.bounds)
    config = folder / "r.toml"
    config.write_text('[split_window]\nwater_vapour = "tcwv.tif"\n')
    return config, bounds


def test_water_vapour_reaching_no_lst_pixel_is_refused_before_the_write_pass(products, tmp_path) -> None:
    """The raster is refused when the LST grid is placed, before the NDMVI and write passes, with
    its footprint and the scene's, and the output folder is not left behind."""
    config, bounds = _sliver_config(products, tmp_path)
    passes: list[str] = []
    out = tmp_path / "out"
    with pytest.raises(InputError) as caught:
        ingest_product(list(products), out, retrieval_config=config,
                       on_progress=lambda done, total, what: passes.append(what))
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'tcwv.tif'}: gives no LST pixel centre of the scene a water vapour "
                              f"value: its footprint ({bounds[0]:.1f}, {bounds[1]:.1f}, {bounds[2]:.1f}, "
                              f"{bounds[3]:.1f}) against the scene's (")
    assert message.endswith("(hint: give a water vapour raster that covers the scene, e.g. ERA5 TCWV cropped "
                            "around it)")
    assert "\n" not in message
    assert "NDMVI minima" not in passes and "guidance and LST" not in passes
    assert not out.exists()


@pytest.mark.parametrize("west", [-180.125, -0.125])  # ERA5 on -180..180 and on its native 0..360
def test_a_global_water_vapour_raster_is_not_refused(products, tmp_path, west: float) -> None:
    """QA R8: the early check projected a global raster's footprint into the scene's UTM zone, got a
    meaningless box and refused a raster that covers the scene (the scene is at 100.4 E)."""
    with rasterio.open(tmp_path / "tcwv.tif", "w", driver="GTiff", width=1440, height=721, count=1,
                       dtype="float32", crs="EPSG:4326", transform=Affine(0.25, 0, west, 0, -0.25, 90.125)) as dst:
        dst.write(np.full((1, 721, 1440), 1.5, dtype=np.float32))
    config = tmp_path / "r.toml"
    config.write_text('[split_window]\nwater_vapour = "tcwv.tif"\n')
    scalar = tmp_path / "scalar.toml"
    scalar.write_text("[split_window]\nwater_vapour = 1.5\n")
    lst, _ = ingest_product(list(products), tmp_path / "out", retrieval_config=config)
    want, _ = ingest_product(list(products), tmp_path / "want", retrieval_config=scalar)
    with rasterio.open(lst) as got, rasterio.open(want) as expected:
        np.testing.assert_allclose(got.read(1), expected.read(1), atol=1e-4)  # NaN where it is NaN
        assert np.isfinite(got.read(1)).mean() > 0.9


def test_case_folded_product_folders_keep_their_sensor_date_and_scene_name(products, tmp_path) -> None:
    """Folder names are matched whatever their case, as the file names inside are."""
    folded = []
    for product in products:
        target = tmp_path / product.name.lower()
        target.mkdir()
        for path in product.iterdir():
            shutil.copy(path, target / path.name.lower())
        folded.append(sdgsat.read_product(target))
    assert [(p.sensor, p.acquired) for p in folded] == [("TIS", date(2022, 8, 15)), ("MII", date(2022, 8, 15))]
    assert default_name(folded[1]) == "kx10_20220815_e100.45_n38.93_202200112233_l4a"


def test_sample_scene_products_of_two_seeds_share_a_folder(tmp_path: Path) -> None:
    """Seed 0 keeps the documented product names; seed 1's are its own, so both are written."""
    for name, seed in (("a", "0"), ("b", "1")):
        assert run(["sample-scene", str(tmp_path), "--name", name, "--size", "8", "--seed", seed, "--products"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == [
        "KX10_MII_20220815_E100.45_N38.93_202200112233_L4A", "KX10_MII_20220815_E100.45_N38.93_202200112234_L4A",
        "KX10_TIS_20220815_E100.45_N38.93_202200112233_L4A", "KX10_TIS_20220815_E100.45_N38.93_202200112234_L4A"]
