"""Retrieval TOML: water_vapour_units takes every word a raster's band unit tag may use (one
table), and split-window coefficients are compared with the defaults on probe surfaces, so a
mixed-up c1, c2, c5 or c6 is refused as c0, c3 and c4 are."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from pipelines import lst_retrieval
from pipelines.errors import InputError
from pipelines.fixtures import write_product_fixture
from pipelines.ingest import IngestWarning, ingest_product
from pipelines.sample_scene import generate_scene

DEFAULT = lst_retrieval.RetrievalConfig().c
HINT = ("(hint: check the order (c0..c6), signs and units (K, water vapour in g/cm2), e.g. the default "
        "[-0.268, 1.378, 0.183, 54.3, -2.238, -129.2, 16.4]; if these are the coefficients you mean, set check_coefficients = false in [split_window])")


def _toml(folder: Path, text: str) -> Path:
    config = folder / "r.toml"
    config.write_text(text)
    return config


def _with_c(c: tuple[float, ...]) -> str:
    return "[split_window]\nc = [" + ", ".join(repr(v) for v in c) + "]\n"


@pytest.mark.parametrize(("c", "problem"), [
    # c1 ten times too large: 13.78 - 1.378 = 12.4 K per K of band difference
    ((-0.268, 13.78, 0.183, 54.30, -2.238, -129.20, 16.40),
     "c in [split_window] is [-0.268, 13.78, 0.183, 54.3, -2.238, -129.2, 16.4], which gives a probe surface "
     "(T2 = 300 K, T3 = 305 K, emissivities 0.94 and 0.96, water vapour 0 g/cm2) an LST of 240.7 K where the "
     "default coefficients give 302.7 K, more than 10 K apart"),
    # c2 ten times too large: 1.647 * 25 = 41 K at a 5 K band difference
    ((-0.268, 1.378, 1.83, 54.30, -2.238, -129.20, 16.40),
     "c in [split_window] is [-0.268, 1.378, 1.83, 54.3, -2.238, -129.2, 16.4], which gives a probe surface "
     "(T2 = 300 K, T3 = 305 K, emissivities 0.94 and 0.96, water vapour 0 g/cm2) an LST of 343.9 K where the "
     "default coefficients give 302.7 K, more than 10 K apart"),
    # c5 sign-flipped and ten times too large: (1292 + 129.2) * 0.02 = 28 K
    ((-0.268, 1.378, 0.183, 54.30, -2.238, 1292.0, 16.40),
     "c in [split_window] is [-0.268, 1.378, 0.183, 54.3, -2.238, 1292, 16.4], which gives a probe surface "
     "(T2 = 300 K, T3 = 305 K, emissivities 0.94 and 0.96, water vapour 0 g/cm2) an LST of 274.3 K where the "
     "default coefficients give 302.7 K, more than 10 K apart"),
    # c6 ten times too large: 147.6 * 6 * 0.02 = 17.7 K at w = 6
    ((-0.268, 1.378, 0.183, 54.30, -2.238, -129.20, 164.0),
     "c in [split_window] is [-0.268, 1.378, 0.183, 54.3, -2.238, -129.2, 164], which gives a probe surface "
     "(T2 = 300 K, T3 = 305 K, emissivities 0.94 and 0.96, water vapour 6 g/cm2) an LST of 282.4 K where the "
     "default coefficients give 300.1 K, more than 10 K apart"),
])
def test_mixed_up_band_difference_coefficients_are_refused(tmp_path: Path, c: tuple[float, ...],
                                                           problem: str) -> None:
    config = _toml(tmp_path, _with_c(c))
    with pytest.raises(InputError) as caught:
        lst_retrieval.load_config(config)
    assert str(caught.value) == f"{config}: {problem} {HINT}"


@pytest.mark.parametrize("c", [
    DEFAULT,
    (1.732, *DEFAULT[1:]),  # c0 + 2 K: every probe moves 2 K
    (*DEFAULT[:5], 129.2, DEFAULT[6]),  # c5 sign-flipped alone: at most 258.4 * 0.02 = 5.2 K
])
def test_coefficients_near_the_defaults_are_accepted(tmp_path: Path, c: tuple[float, ...]) -> None:
    assert lst_retrieval.load_config(_toml(tmp_path, _with_c(c))).c == pytest.approx(c)


def test_the_shipped_sample_config_is_accepted() -> None:
    path = Path(__file__).resolve().parent.parent / "sample_scenes" / "sdgsat1_retrieval.toml"
    assert lst_retrieval.load_config(path) == lst_retrieval.RetrievalConfig()


def test_probe_surfaces_span_the_documented_ranges() -> None:
    d, e2, e3, w = lst_retrieval._probes()
    assert (d.min(), d.max(), w.min(), w.max()) == (-5.0, 5.0, 0.0, 6.0)
    assert ((e2 + e3) / 2).min() == pytest.approx(0.95) and ((e2 + e3) / 2).max() == pytest.approx(0.99)
    assert (e2 - e3).min() == pytest.approx(-0.02) and (e2 - e3).max() == pytest.approx(0.02)
    assert d.size == 11 * 2 * 3 * 2


@pytest.mark.parametrize(("word", "units"), [
    ("cm", "g/cm2"), ("g/cm2", "g/cm2"), ("g cm-2", "g/cm2"), ("g cm**-2", "g/cm2"), ("G/CM²", "g/cm2"),
    ("mm", "kg/m2"), ("kg/m2", "kg/m2"), ("kg m**-2", "kg/m2"), ("kg m^-2", "kg/m2"), (" MM ", "kg/m2"),
])
def test_toml_units_accept_every_band_tag_spelling(tmp_path: Path, word: str, units: str) -> None:
    (tmp_path / "tcwv.tif").write_bytes(b"")
    config = _toml(tmp_path, f'[split_window]\nwater_vapour = "tcwv.tif"\nwater_vapour_units = "{word}"\n')
    assert lst_retrieval.load_config(config).water_vapour_units == units
    assert lst_retrieval.water_vapour_units(word) == units  # the raster's tag reads the same table


def test_unknown_toml_units_are_refused_listing_the_words(tmp_path: Path) -> None:
    config = _toml(tmp_path, '[split_window]\nwater_vapour_units = "inch"\n')
    with pytest.raises(InputError) as caught:
        lst_retrieval.load_config(config)
    assert str(caught.value) == (
        f"{config}: water_vapour_units in [split_window] is 'inch', not a unit groklst knows (hint: use one of "
        '"g/cm2", "gcm-2", "cm" (g/cm2) or "kg/m2", "kgm-2", "mm" (kg/m2); spaces, "^" and "**" are ignored '
        "(kg/m2 = mm, as ERA5 TCWV))")


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1).astype(np.float64)


def _lst_with(products: tuple[Path, Path], reference: Path, folder: Path, value: float, units: str) -> np.ndarray:
    """The LST ingested with an untagged constant water vapour raster on ``reference``'s grid, read in ``units``."""
    with rasterio.open(reference) as ref:
        profile = dict(driver="GTiff", width=ref.width, height=ref.height, count=1, dtype="float32",
                       crs=ref.crs, transform=ref.transform)
    folder.mkdir()
    with rasterio.open(folder / "tcwv.tif", "w", **profile) as dst:
        dst.write(np.full((profile["height"], profile["width"]), value, dtype=np.float32), 1)
    config = _toml(folder, f'[split_window]\nwater_vapour = "tcwv.tif"\nwater_vapour_units = "{units}"\n')
    with pytest.warns(IngestWarning):
        return _read(ingest_product(list(products), folder / "out", retrieval_config=config)[0])


def test_cm_and_mm_in_the_toml_give_the_g_per_cm2_lst(tmp_path: Path) -> None:
    """2.5 cm = 2.5 g/cm2 = 25 mm: the same LST as the scene-wide number 2.5."""
    products = write_product_fixture(generate_scene((16, 20), seed=5), tmp_path / "products")
    with pytest.warns(IngestWarning):
        reference = ingest_product(list(products), tmp_path / "scalar", retrieval_config=_toml(
            tmp_path, "[split_window]\nwater_vapour = 2.5\n"))[0]
    expected = _lst_with(products, reference, tmp_path / "g", 2.5, "g/cm2")
    assert np.isfinite(expected).sum() > 300
    np.testing.assert_allclose(expected, _read(reference), atol=1e-4, rtol=0)
    np.testing.assert_array_equal(_lst_with(products, reference, tmp_path / "cm", 2.5, "cm"), expected)
    np.testing.assert_allclose(_lst_with(products, reference, tmp_path / "mm", 25.0, "mm"), expected,
                               atol=1e-4, rtol=0)
