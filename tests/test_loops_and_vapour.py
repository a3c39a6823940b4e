"""A path through a looping symbolic link gets the loop's message from every command, not
"file not found" or "broken symbolic link"; a water vapour raster that misses the scene is
refused naming both footprints, as one overlapping by a sliver is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from groklst_cli.app import run
from pipelines.errors import InputError, not_found_error
from pipelines.fixtures import write_product_fixture
from pipelines.ingest import IngestWarning, ingest_product
from pipelines.sample_scene import generate_scene
from tests.conftest import write_canonical_scene

LOOP = ("cannot be reached: {} is a symbolic link that loops (to loop) "
        "(hint: fix or remove the link, or choose another folder)")


@pytest.fixture
def in_loop_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``tmp_path`` as the working folder, holding a canonical scene as L.tif, ``loop -> loop`` and
    an empty products folder."""
    monkeypatch.chdir(tmp_path)
    lst, _ = write_canonical_scene(tmp_path, shape=(8, 8))
    Path("L.tif").symlink_to(lst.name)
    Path("loop").symlink_to("loop")
    (tmp_path / "products").mkdir()  # where ingest would look for SDGSAT-1 products
    return tmp_path


@pytest.mark.parametrize(("args", "named"), [
    (["compare", "L.tif", "loop"], "loop"),
    (["compare", "L.tif", "loop/L.tif"], "loop/L.tif"),
    (["mask", "L.tif", "loop", "-o", "x.tif"], "loop"),
    (["prepare", "loop", "-o", "ds"], "loop"),
    (["prepare", "L.tif", "-o", "loop/ds"], "loop/ds"),
    (["ingest", "loop", "--out-dir", "out"], "loop"),
    (["ingest", "products", "--retrieval-config", "loop", "--out-dir", "out"], "loop"),
    (["evaluate", "-c", "loop", "ds"], "loop"),
])
def test_each_command_names_the_looping_link(in_loop_folder, capsys, args: list[str], named: str) -> None:
    before = sorted(p.name for p in in_loop_folder.iterdir())
    assert run(["-q", *args]) == 2
    assert capsys.readouterr().err.splitlines() == [f"error: {named}: {LOOP.format(in_loop_folder / 'loop')}"]
    assert sorted(p.name for p in in_loop_folder.iterdir()) == before  # nothing written or created


def test_a_water_vapour_raster_through_the_loop_is_named(in_loop_folder, capsys) -> None:
    (in_loop_folder / "r.toml").write_text('[split_window]\nwater_vapour = "loop/tcwv.tif"\n')
    assert run(["-q", "ingest", "products", "--retrieval-config", "r.toml", "--out-dir", "out"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: loop/tcwv.tif: {LOOP.format(in_loop_folder / 'loop')}"]


def test_the_loop_found_is_the_link_that_loops_not_the_first_on_the_way(tmp_path) -> None:
    """``a -> loop`` and ``loop -> loop``: stat fails at both; the first step that fails is named."""
    (tmp_path / "loop").symlink_to("loop")
    (tmp_path / "a").symlink_to("loop")
    assert str(not_found_error(tmp_path / "a" / "x.tif")) == (
        f"{tmp_path / 'a/x.tif'}: cannot be reached: {tmp_path / 'a'} is a symbolic link that loops (to loop) "
        "(hint: fix or remove the link, or choose another folder)")


def test_a_missing_file_or_a_broken_link_is_still_not_found(tmp_path) -> None:
    (tmp_path / "broken").symlink_to("nowhere")
    gone = tmp_path / "gone.tif"
    assert str(not_found_error(gone)) == f"{gone}: file not found (hint: check the path)"
    assert str(not_found_error(tmp_path / "broken", "config file not found", None)) == (
        f"{tmp_path / 'broken'}: config file not found")


@pytest.fixture(scope="module")
def products(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_product_fixture(generate_scene((16, 20), seed=5), tmp_path_factory.mktemp("products"))


@pytest.fixture(scope="module")
def lst_grid(products: tuple[Path, Path],
             tmp_path_factory: pytest.TempPathFactory) -> tuple[Affine, object, tuple[int, int]]:
    """The transform, CRS and shape of the scene's LST, ingested with a scalar water vapour."""
    folder = tmp_path_factory.mktemp("scalar")
    (folder / "r.toml").write_text("[split_window]\nwater_vapour = 1.5\n")
    with pytest.warns(IngestWarning, match="no --dem"):
        lst = ingest_product(list(products), folder / "out", retrieval_config=folder / "r.toml")[0]
    with rasterio.open(lst) as src:
        return src.transform, src.crs, src.shape


def _toml_naming_raster(folder: Path, transform: Affine, crs: object, shape: tuple[int, int]) -> Path:
    """A TOML naming ``wv_far.tif``, a 1.5 g/cm2 raster of ``shape`` at ``transform``."""
    with rasterio.open(folder / "wv_far.tif", "w", driver="GTiff", width=shape[1], height=shape[0], count=1,
                       dtype="float32", crs=crs, transform=transform) as dst:
        dst.write(np.full(shape, 1.5, dtype=np.float32), 1)
    (folder / "r.toml").write_text('[split_window]\nwater_vapour = "wv_far.tif"\n')
    return folder / "r.toml"


def test_a_raster_beside_the_scene_names_both_footprints(products, lst_grid, tmp_path) -> None:
    """On the LST's CRS, 20 pixels west of the scene (10 wide): both boxes are known exactly."""
    transform, crs, (rows, cols) = lst_grid
    res = transform.a
    config = _toml_naming_raster(tmp_path, transform @ Affine.translation(-20, 0), crs, (rows, 10))
    left, top = transform.c, transform.f
    bottom, right = top - rows * res, left + cols * res
    with pytest.raises(InputError) as refused:
        ingest_product(list(products), tmp_path / "out", retrieval_config=config)
    assert str(refused.value) == (
        f"{tmp_path / 'wv_far.tif'}: does not overlap the scene: its footprint ({left - 20 * res:.1f}, {bottom:.1f}, "
        f"{left - 10 * res:.1f}, {top:.1f}) against the scene's ({left:.1f}, {bottom:.1f}, {right:.1f}, {top:.1f}) "
        f"({crs.to_string()}) (hint: give a water vapour raster that covers it)")
    assert not (tmp_path / "out").exists()


def test_a_geographic_raster_a_degree_away_names_both_footprints_in_one_line(products, lst_grid, tmp_path,
                                                                            capsys) -> None:
    """An ERA5-like raster east of the scene: its box is given in the LST's CRS, beside the scene's."""
    from rasterio.warp import transform_bounds

    transform, crs, (rows, cols) = lst_grid
    config = _toml_naming_raster(tmp_path, Affine(0.01, 0, 101.5, 0, -0.01, 39.1), "EPSG:4326", (20, 20))
    far = transform_bounds("EPSG:4326", crs, 101.5, 38.9, 101.7, 39.1, densify_pts=21)
    scene = (transform.c, transform.f - rows * transform.a, transform.c + cols * transform.a, transform.f)
    assert far[0] > scene[2]  # east of it, really disjoint
    assert run(["-q", "ingest", *map(str, products), "--retrieval-config", str(config),
                "--out-dir", str(tmp_path / "out")]) == 2
    boxes = [", ".join(f"{v:.1f}" for v in box) for box in (far, scene)]
    assert capsys.readouterr().err.splitlines() == [
        f"error: {tmp_path / 'wv_far.tif'}: does not overlap the scene: its footprint ({boxes[0]}) against the "
        f"scene's ({boxes[1]}) ({crs.to_string()}) (hint: give a water vapour raster that covers it)"]
