"""[split_window] check_coefficients = false: a published coefficient set that the probe
comparison refuses (it departs from the defaults by more than 10 K) is taken on purpose, and the
output says it was not checked; every other check still refuses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from pipelines import indices, lst_retrieval
from pipelines.errors import InputError
from pipelines.fixtures import write_product_fixture
from pipelines.ingest import IngestWarning, _block_mean, ingest_product
from pipelines.sample_scene import generate_scene

# c6 ten times the default: 17.7 K from the defaults' LST on the wettest probe (6 g/cm2), as a set
# fitted for wet atmospheres may be.
WET = (-0.268, 1.378, 0.183, 54.30, -2.238, -129.20, 164.0)
SURFACE = "T2 = 300 K, T3 = 305 K, emissivities 0.94 and 0.96, water vapour 6 g/cm2"
UNCHECKED = ("c not checked against the default coefficients (check_coefficients = false in [split_window]); "
             f"its LST is -17.7 K from theirs on the farthest of the 132 probe surfaces ({SURFACE}: 282.4 K, "
             "defaults 300.1 K)")


def _toml(folder: Path, c: tuple[float, ...], extra: str = "") -> Path:
    config = folder / "r.toml"
    config.write_text("[split_window]\nc = [" + ", ".join(repr(v) for v in c) + "]\nwater_vapour = 6.0\n" + extra)
    return config


def test_refused_set_names_the_key_that_accepts_it(tmp_path: Path) -> None:
    config = _toml(tmp_path, WET)
    with pytest.raises(InputError) as caught:
        lst_retrieval.load_config(config)
    assert str(caught.value) == (
        f"{config}: c in [split_window] is [-0.268, 1.378, 0.183, 54.3, -2.238, -129.2, 164], which gives a probe "
        f"surface ({SURFACE}) an LST of 282.4 K where the default coefficients give 300.1 K, more than 10 K apart "
        "(hint: check the order (c0..c6), signs and units (K, water vapour in g/cm2), e.g. the default "
        "[-0.268, 1.378, 0.183, 54.3, -2.238, -129.2, 16.4]; if these are the coefficients you mean, set "
        "check_coefficients = false in [split_window])")


def test_key_false_accepts_the_set_and_true_is_the_default(tmp_path: Path) -> None:
    loaded = lst_retrieval.load_config(_toml(tmp_path, WET, "check_coefficients = false\n"))
    assert loaded == lst_retrieval.RetrievalConfig(c=WET, water_vapour=6.0, check_coefficients=False)
    assert lst_retrieval.unchecked_coefficients(loaded) == UNCHECKED
    default = lst_retrieval.RetrievalConfig().c
    checked = lst_retrieval.load_config(_toml(tmp_path, default, "check_coefficients = true\n"))
    assert checked.check_coefficients and lst_retrieval.unchecked_coefficients(checked) is None


@pytest.mark.parametrize(("value", "shown"), [('"false"', "'false'"), ("0", "0"), ("[false]", "[False]")])
def test_a_non_boolean_switch_is_refused(tmp_path: Path, value: str, shown: str) -> None:
    config = _toml(tmp_path, WET, f"check_coefficients = {value}\n")
    with pytest.raises(InputError) as caught:
        lst_retrieval.load_config(config)
    assert str(caught.value) == (f"{config}: check_coefficients in [split_window] must be true or false, got {shown} "
                                 "(hint: write true or false, unquoted)")


@pytest.mark.parametrize(("extra", "problem"), [
    ("", "c in [split_window] is [-0.268, 1.378, 0.183, 54.3, -2.238, -129.2, nan], not finite"),
    ("[emissivity]\nsoil = [1.2, 0.977]\n", "soil in [emissivity] is [1.2, 0.977], outside (0.8, 1] for a TIS "
     "B2/B3 emissivity"),
])
def test_key_false_keeps_the_other_checks(tmp_path: Path, extra: str, problem: str) -> None:
    c = (*WET[:6], float("nan")) if not extra else WET
    config = _toml(tmp_path, c, "check_coefficients = false\n" + extra)
    with pytest.raises(InputError) as caught:
        lst_retrieval.load_config(config)
    assert str(caught.value).startswith(f"{config}: {problem} (hint: ")


def test_key_false_still_refuses_a_short_list(tmp_path: Path) -> None:
    config = _toml(tmp_path, WET[:6], "check_coefficients = false\n")
    with pytest.raises(InputError, match=r"c needs 7 values, got 6$"):
        lst_retrieval.load_config(config)


def _ingested(products: tuple[Path, Path], out: Path, config: Path) -> tuple[np.ndarray, str, list[str], Path]:
    """The LST ingested with ``config``, its lst_method tag, the ingest's warnings and the guidance."""
    with pytest.warns(IngestWarning) as caught:
        lst, guidance = ingest_product(list(products), out, retrieval_config=config)
    with rasterio.open(lst) as src:
        return src.read(1).astype(np.float64), src.tags()["lst_method"], [str(w.message) for w in caught], guidance


def _emissivities(guidance: Path, ratio: int) -> tuple[np.ndarray, np.ndarray]:
    """TIS B2/B3 emissivity on the LST grid, from the guidance's green, red and NIR (MII B4, B5,
    B7: bands 4, 5 and 7 after the dem) averaged over each LST pixel, as ingest derives it."""
    with rasterio.open(guidance) as src:
        green, red, nir = (_block_mean(src.read(b).astype(np.float64), ratio) for b in (4, 5, 7))
    return lst_retrieval.emissivity(indices.ndvi(red, nir), indices.ndwi(green, nir), lst_retrieval.RetrievalConfig())


def test_unchecked_set_is_retrieved_with_its_own_coefficients_and_tagged(tmp_path: Path) -> None:
    """Ingested with WET and with the defaults, one product's LSTs differ exactly as split_window()
    with the two sets does on the same brightness temperatures and emissivities."""
    scene = generate_scene((16, 20), seed=5)
    wet = lst_retrieval.RetrievalConfig(c=WET, water_vapour=6.0)
    products = write_product_fixture(scene, tmp_path / "products", config=wet)
    wet_dir, default_dir = tmp_path / "wet", tmp_path / "default"
    wet_dir.mkdir(), default_dir.mkdir()
    unchecked = _toml(wet_dir, WET, "check_coefficients = false\n")
    lst, tag, said, guidance = _ingested(products, tmp_path / "out", unchecked)
    assert tag.startswith(f"split-window (c={list(WET)} ({UNCHECKED}), water_vapour=6 g/cm2), NDVI-threshold")
    assert UNCHECKED in said
    default_lst, default_tag, default_said, _ = _ingested(
        products, tmp_path / "out_default", _toml(default_dir, lst_retrieval.RetrievalConfig().c))
    assert "not checked" not in default_tag and not any("not checked" in w for w in default_said)
    e2, e3 = _emissivities(guidance, scene.ratio)
    same = np.zeros_like(e2)  # the coefficients' difference does not depend on the temperatures
    expected = (lst_retrieval.split_window(same, same, e2, e3, wet)
                - lst_retrieval.split_window(same, same, e2, e3, lst_retrieval.RetrievalConfig(water_vapour=6.0)))
    valid = np.isfinite(lst)
    assert valid.sum() > 300 and np.ptp(expected[valid]) > 5.0  # soil (-5.3 K) to water (+4.4 K)
    np.testing.assert_allclose(lst[valid] - default_lst[valid], expected[valid], atol=1e-3, rtol=0)
    np.testing.assert_allclose(lst, scene.lst, atol=0.1)  # the fixture inverted split_window() with WET
