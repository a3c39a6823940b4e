"""[split_window] water_vapour as a raster (read on the LST grid), and load_config's refusal of
booleans and of split-window coefficients that probe surfaces show to be mixed up."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from groklst_cli.app import run
from pipelines import indices, lst_retrieval, water_vapour
from pipelines.errors import InputError
from pipelines.fixtures import write_product_fixture
from pipelines.ingest import IngestWarning, ingest_product
from pipelines.grids import Grid
from pipelines.sample_scene import BAND_NAMES, generate_scene
from pipelines.water_vapour import WaterVapour

C = lst_retrieval.RetrievalConfig().c
WORDS = ('"g/cm2", "gcm-2", "cm" (g/cm2) or "kg/m2", "kgm-2", "mm" (kg/m2); spaces, "^" and "**" are ignored '
         "(kg/m2 = mm, as ERA5 TCWV)")


@pytest.fixture(scope="module")
def products(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_product_fixture(generate_scene((16, 20), seed=5), tmp_path_factory.mktemp("products"))


@pytest.fixture(scope="module")
def scalar(products: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scene ingested with ``water_vapour = 1.5``: the reference LST and its grid."""
    folder = tmp_path_factory.mktemp("scalar")
    config = folder / "r.toml"
    config.write_text("[split_window]\nwater_vapour = 1.5\n")
    with pytest.warns(IngestWarning, match="no --dem"):
        return ingest_product(list(products), folder / "out", retrieval_config=config)[0]


def _raster(path: Path, values: np.ndarray, transform: Affine, crs: object, unit: str | None = None,
            nodata: float | None = None) -> Path:
    """A single-band float32 GeoTIFF of ``values``."""
    with rasterio.open(path, "w", driver="GTiff", width=values.shape[1], height=values.shape[0], count=1,
                       dtype="float32", crs=crs, transform=transform, nodata=nodata) as dst:
        dst.write(values.astype(np.float32), 1)
        if unit is not None:
            dst.set_band_unit(1, unit)
    return path


def _on_lst_grid(folder: Path, scalar: Path, values: np.ndarray, **kwargs: object) -> Path:
    """A TOML naming (by a relative path) a raster of ``values`` on the reference LST's grid."""
    with rasterio.open(scalar) as ref:
        _raster(folder / "tcwv.tif", values, ref.transform, ref.crs, **kwargs)
    config = folder / "r.toml"
    config.write_text('[split_window]\nwater_vapour = "tcwv.tif"\n')
    return config


def _ingest(products: tuple[Path, Path], config: Path, out: Path) -> tuple[np.ndarray, dict[str, str]]:
    with pytest.warns(IngestWarning):
        lst_path = ingest_product(list(products), out, retrieval_config=config)[0]
    with rasterio.open(lst_path) as src:
        return src.read(1).astype(np.float64), src.tags()


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1).astype(np.float64)


def test_constant_raster_gives_the_scalar_lst(products, scalar, tmp_path) -> None:
    reference = _read(scalar)
    config = _on_lst_grid(tmp_path, scalar, np.full(reference.shape, 1.5))
    lst, tags = _ingest(products, config, tmp_path / "out")
    assert np.isfinite(lst).sum() == np.isfinite(reference).sum() > 300
    np.testing.assert_allclose(lst, reference, atol=1e-4, rtol=0)
    assert "water_vapour=tcwv.tif (raster, g/cm2; mean 1.500 g/cm2 over the scene)" in tags["lst_method"]


def test_west_east_gradient_changes_the_lst_by_the_water_vapour_terms(products, scalar, tmp_path) -> None:
    """LST(w) - LST(1.5) = (c4 (1 - e) + c6 de)(w - 1.5), with e and de from the scene's own NDVI/NDWI."""
    reference = _read(scalar)
    rows, cols = reference.shape
    vapour = np.tile(1.0 + 0.15 * np.arange(cols), (rows, 1))  # 1.0 west .. 3.85 g/cm2 east
    lst, tags = _ingest(products, _on_lst_grid(tmp_path, scalar, vapour), tmp_path / "out")
    with rasterio.open(str(scalar).replace("_lst.tif", "_guidance.tif")) as src:
        bands = {name: src.read(i + 1).astype(np.float64) for i, name in enumerate(BAND_NAMES)}
    ratio = bands["red"].shape[0] // rows

    def block_mean(band: np.ndarray) -> np.ndarray:
        return band.reshape(rows, ratio, cols, ratio).mean(axis=(1, 3))

    red, nir, green = (block_mean(bands[name]) for name in ("red", "nir", "green"))
    e2, e3 = lst_retrieval.emissivity(indices.ndvi(red, nir), indices.ndwi(green, nir), lst_retrieval.RetrievalConfig())
    for row, col in ((rows // 2, 1), (rows // 2, cols - 2)):
        e, de = (e2[row, col] + e3[row, col]) / 2, e2[row, col] - e3[row, col]
        by_hand = (C[4] * (1 - e) + C[6] * de) * (vapour[row, col] - 1.5)
        assert abs(by_hand) > 0.01  # the terms are measurable at both pixels
        assert lst[row, col] - reference[row, col] == pytest.approx(by_hand, abs=1e-4)
    assert f"mean {vapour.mean():.3f} g/cm2 over the scene" in tags["lst_method"]


@pytest.mark.parametrize("value, unit, read_as", [
    (15.0, "kg m-2", "kg/m2"),  # kg m-2 (= mm, ERA5 TCWV) is divided by ten
    (1.5, "cm", "g/cm2"),  # MODIS MOD05 precipitable water: 1 cm of water = 1 g cm-2
])
def test_a_unit_tag_is_read_as_its_unit(products, scalar, tmp_path, value: float, unit: str, read_as: str) -> None:
    reference = _read(scalar)
    config = _on_lst_grid(tmp_path, scalar, np.full(reference.shape, value), unit=unit)
    lst, tags = _ingest(products, config, tmp_path / "out")
    np.testing.assert_allclose(lst, reference, atol=1e-4, rtol=0)
    assert f"(raster, {read_as}; mean 1.500 g/cm2 over the scene)" in tags["lst_method"]


def test_kg_per_m2_values_read_as_g_per_cm2_are_refused_with_a_hint(products, scalar, tmp_path) -> None:
    reference = _read(scalar)
    config = _on_lst_grid(tmp_path, scalar, np.full(reference.shape, 25.0))
    with pytest.raises(InputError) as caught:
        ingest_product(list(products), tmp_path / "out", retrieval_config=config)
    assert str(caught.value) == (
        f"{tmp_path / 'tcwv.tif'}: water vapour over the scene is 25..25 g/cm2 (read as g/cm2), outside 0..8 g/cm2 "
        '(hint: values up to 80 look like kg/m2 (mm, as ERA5 TCWV): set water_vapour_units = "kg/m2")')
    config.write_text('[split_window]\nwater_vapour = "tcwv.tif"\nwater_vapour_units = "kg/m2"\n')
    lst, _ = _ingest(products, config, tmp_path / "out")
    config.write_text("[split_window]\nwater_vapour = 2.5\n")
    expected, _ = _ingest(products, config, tmp_path / "expected")
    np.testing.assert_allclose(lst, expected, atol=1e-4, rtol=0)
    assert np.nanmax(np.abs(lst - reference)) > 0.05  # 2.5 g/cm2 is not 1.5


def test_unknown_unit_tag_is_refused_naming_it(products, scalar, tmp_path) -> None:
    config = _on_lst_grid(tmp_path, scalar, np.full(_read(scalar).shape, 1.5), unit="K")
    with pytest.raises(InputError, match=re.escape("band unit 'K' is not a water vapour unit groklst knows")):
        ingest_product(list(products), tmp_path / "out", retrieval_config=config)


def test_hole_gives_nan_and_a_warning_with_count_and_share(products, scalar, tmp_path) -> None:
    reference = _read(scalar)
    vapour = np.full(reference.shape, 1.5)
    vapour[:, :5] = -9999.0  # five western columns without water vapour
    config = _on_lst_grid(tmp_path, scalar, vapour, nodata=-9999.0)
    with pytest.warns(IngestWarning) as caught:
        lst_path = ingest_product(list(products), tmp_path / "out", retrieval_config=config)[0]
    lst = _read(lst_path)
    wanted = np.isfinite(reference)
    missing = int(wanted[:, :5].sum())
    assert np.isnan(lst[:, :5]).all()
    np.testing.assert_allclose(lst[:, 6:], reference[:, 6:], atol=1e-4, rtol=0)
    said = [str(w.message) for w in caught if "no water vapour" in str(w.message)]
    assert said == [f"tcwv.tif has no water vapour under {missing} LST pixels ({missing / wanted.sum():.1%} of those "
                    "retrieved): the LST is NaN there; give a raster that covers the whole scene"]


def test_raster_beside_the_scene_is_refused_by_the_cli(products, tmp_path, capsys) -> None:
    """A geographic raster (as ERA5) a degree east of the scene: one line naming it, exit 2."""
    _raster(tmp_path / "far.tif", np.full((20, 20), 1.5), Affine(0.01, 0, 101.5, 0, -0.01, 39.1), "EPSG:4326")
    config = tmp_path / "r.toml"
    config.write_text('[split_window]\nwater_vapour = "far.tif"\n')
    out = tmp_path / "out"
    assert run(["ingest", *map(str, products), "--retrieval-config", str(config), "--out-dir", str(out)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {tmp_path / 'far.tif'}: does not overlap the scene: its footprint (")
    assert lines[0].endswith(" (EPSG:32647) (hint: give a water vapour raster that covers it)")
    assert not out.exists()


def test_cli_end_to_end_tags_a_geographic_raster(products, tmp_path, capsys) -> None:
    """An ERA5-like raster in degrees and kg/m2, given to `groklst ingest --retrieval-config`."""
    _raster(tmp_path / "era5_tcwv.tif", np.full((40, 40), 20.0), Affine(0.01, 0, 100.3, 0, -0.01, 39.1),
            "EPSG:4326", unit="kg m**-2")
    config = tmp_path / "my.toml"
    config.write_text('[split_window]\nwater_vapour = "era5_tcwv.tif"\n')
    out = tmp_path / "out"
    assert run(["ingest", *map(str, products), "--retrieval-config", str(config), "--out-dir", str(out)]) == 0
    lst_path = Path(capsys.readouterr().out.splitlines()[0])
    with rasterio.open(lst_path) as src:
        assert "water_vapour=era5_tcwv.tif (raster, kg/m2; mean 2.000 g/cm2 over the scene)" in src.tags()["lst_method"]


@pytest.mark.parametrize(("toml", "problem"), [
    ("[emissivity]\ncavity = true\n", "cavity in [emissivity] must be a number, got true"),
    ("[emissivity]\nsoil = [0.97, false]\n", "soil in [emissivity] must be numbers, got [0.97, false]"),
    ("[split_window]\nwater_vapour = true\n", "water_vapour in [split_window] must be a number, got true"),
    ('[split_window]\nwater_vapour = 1.5\nwater_vapour_units = "kg/m2"\n',
     "water_vapour_units in [split_window] describes a water vapour raster, but water_vapour is the number 1.5 "
     '(hint: give the number in g/cm2, or water_vapour = "tcwv.tif" (a path))'),
    ("[split_window]\nwater_vapour_units = true\n",
     "water_vapour_units in [split_window] is true, not a unit groklst knows "
     f"(hint: use one of {WORDS})"),
    ('[split_window]\nwater_vapour_units = "mm/day"\n',
     "water_vapour_units in [split_window] is 'mm/day', not a unit groklst knows "
     f"(hint: use one of {WORDS})"),
    # c0..c6 in reverse order: c1 = -129.2 on a 5 K band difference
    ("[split_window]\nc = [16.40, -129.20, -2.238, 54.30, 0.183, 1.378, -0.268]\n",
     "c in [split_window] is [16.4, -129.2, -2.238, 54.3, 0.183, 1.378, -0.268], which gives a probe surface "
     "(T2 = 300 K, T3 = 295 K, emissivities 0.94 and 0.96, water vapour 0 g/cm2) an LST of -382.9 K where the "
     "default coefficients give 316.5 K, more than 10 K apart (hint: check the order (c0..c6), signs and units "
     "(K, water vapour in g/cm2), e.g. the default [-0.268, 1.378, 0.183, 54.3, -2.238, -129.2, 16.4]; "
     "if these are the coefficients you mean, set check_coefficients = false in [split_window])"),
    # c4 with its sign flipped and a decimal slipped: (223.8 + 2.238)(1 - 0.95) 6 = 68 K more at w = 6
    ("[split_window]\nc = [-0.268, 1.378, 0.183, 54.30, 223.8, -129.20, 16.40]\n",
     "c in [split_window] is [-0.268, 1.378, 0.183, 54.3, 223.8, -129.2, 16.4], which gives a probe surface "
     "(T2 = 300 K, T3 = 305 K, emissivities 0.94 and 0.96, water vapour 6 g/cm2) an LST of 367.9 K where the "
     "default coefficients give 300.1 K, more than 10 K apart (hint: check the order (c0..c6), signs and units "
     "(K, water vapour in g/cm2), e.g. the default [-0.268, 1.378, 0.183, 54.3, -2.238, -129.2, 16.4]; "
     "if these are the coefficients you mean, set check_coefficients = false in [split_window])"),
])
def test_config_mix_ups_are_refused(tmp_path: Path, toml: str, problem: str) -> None:
    config = tmp_path / "r.toml"
    config.write_text(toml)
    with pytest.raises(InputError) as caught:
        lst_retrieval.load_config(config)
    assert str(caught.value) == f"{config}: {problem}"


def test_raster_path_is_relative_to_the_toml_and_must_exist(tmp_path: Path) -> None:
    config = tmp_path / "r.toml"
    config.write_text('[split_window]\nwater_vapour = "missing.tif"\n')
    with pytest.raises(InputError) as caught:
        lst_retrieval.load_config(config)
    assert str(caught.value) == (
        f"{config}: water_vapour in [split_window] names {tmp_path / 'missing.tif'}, which is not a file "
        "(hint: give the path of a single-band GeoTIFF, relative to this TOML's folder)")
    (tmp_path / "missing.tif").write_bytes(b"")
    loaded = lst_retrieval.load_config(config)
    assert (loaded.water_vapour, loaded.water_vapour_units) == (tmp_path / "missing.tif", None)


def test_default_coefficients_keep_a_neutral_surface_near_300_k() -> None:
    e = np.array(0.98)
    found = [float(lst_retrieval.split_window(300.0, 300.0, e, e, lst_retrieval.RetrievalConfig(), w))
             for w in (0.0, 6.0)]
    assert found == pytest.approx([300.818, 300.5494], abs=1e-4)  # 300 - 0.268 + 0.02 (54.3 - 2.238 w)


def test_block_read_summary_equals_the_whole_read(tmp_path, monkeypatch) -> None:
    """check() reads the raster in blocks of rows: the same count, min, max and mean as one read."""
    values = np.random.default_rng(3).uniform(0.2, 6.5, (300, 50))
    values[40:90, 10:20] = -9999.0
    path = _raster(tmp_path / "tcwv.tif", values, Affine(30, 0, 500000, 0, -30, 4320000), "EPSG:32650",
                   nodata=-9999.0)
    monkeypatch.setattr(water_vapour, "BLOCK_PIXELS", 7 * 50)  # 43 blocks of 7 rows
    with rasterio.open(path) as src:
        whole = src.read(1, masked=True).compressed().astype(np.float64)
        found = WaterVapour(src, None).summary_in(tuple(src.bounds))
    assert found.count == whole.size == 300 * 50 - 50 * 10
    assert (found.low, found.high) == (whole.min(), whole.max())
    assert found.total / found.count == pytest.approx(whole.mean(), rel=1e-12)


def test_raster_overlapping_by_a_sliver_is_refused_naming_it(products, scalar, tmp_path) -> None:
    """A raster west of the scene that reaches 0.3 LST pixels into it: check() sees its values (it
    reads a pixel of margin) but no LST pixel centre gets any; the raster is blamed, not the TIS."""
    reference = _read(scalar)
    with rasterio.open(scalar) as ref:
        grid = Grid.of(ref)
    west = grid.transform @ Affine.translation(0.3 - 10, 0)
    _raster(tmp_path / "tcwv.tif", np.full(reference.shape[:1] + (10,), 1.5), west, grid.crs)
    config = tmp_path / "r.toml"
    config.write_text('[split_window]\nwater_vapour = "tcwv.tif"\n')
    with pytest.raises(InputError) as caught:  # refused when the grid is placed, before any pass
        ingest_product(list(products), tmp_path / "out", retrieval_config=config)
    assert str(caught.value).startswith(
        f"{tmp_path / 'tcwv.tif'}: gives no LST pixel centre of the scene a water vapour value: its footprint (")
    assert not (tmp_path / "out").exists()


def test_packed_int16_is_unpacked_by_its_scale_and_offset(products, scalar, tmp_path) -> None:
    """ERA5 as packed int16: stored 1000 * 0.01 + 5 = 15 kg m-2 = 1.5 g cm-2."""
    reference = _read(scalar)
    with rasterio.open(scalar) as ref:
        profile = dict(driver="GTiff", width=ref.width, height=ref.height, count=1, dtype="int16", crs=ref.crs,
                       transform=ref.transform, nodata=-32767)
    with rasterio.open(tmp_path / "tcwv.tif", "w", **profile) as dst:
        dst.write(np.full(reference.shape, 1000, dtype=np.int16), 1)
        dst.scales, dst.offsets = (0.01,), (5.0,)
        dst.set_band_unit(1, "kg m**-2")
    config = tmp_path / "r.toml"
    config.write_text('[split_window]\nwater_vapour = "tcwv.tif"\n')
    lst, tags = _ingest(products, config, tmp_path / "out")
    np.testing.assert_allclose(lst, reference, atol=1e-4, rtol=0)
    assert "(raster, kg/m2; mean 1.500 g/cm2 over the scene)" in tags["lst_method"]
