"""Wald-protocol degradation: block-mean property, nodata propagation, MTF response."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipelines.degrade import block_mean, degrade, degrade_guidance, mtf_degrade, mtf_margin, mtf_sigma


@pytest.mark.parametrize("factor", [2, 3, 4, 8])
def test_block_mean_equals_mean_of_each_block(factor: int) -> None:
    rng = np.random.default_rng(factor)
    hr = rng.normal(300.0, 8.0, (5 * factor, 3 * factor)).astype(np.float32)
    lr = block_mean(hr, factor)
    assert lr.shape == (5, 3) and lr.dtype == np.float32
    for i in range(5):
        for j in range(3):
            block = hr[i * factor : (i + 1) * factor, j * factor : (j + 1) * factor]
            assert lr[i, j] == pytest.approx(float(block.astype(np.float64).mean()), abs=1e-4)


def test_block_mean_works_on_band_stacks() -> None:
    stack = np.arange(2 * 6 * 6, dtype=np.float32).reshape(2, 6, 6)
    lr = block_mean(stack, 3)
    assert lr.shape == (2, 2, 2)
    np.testing.assert_allclose(lr[1], block_mean(stack[1], 3))
    assert lr[0, 0, 0] == pytest.approx(np.mean([0, 1, 2, 6, 7, 8, 12, 13, 14]))


def test_nodata_propagates_to_exactly_the_covering_lr_pixel() -> None:
    hr = np.full((6, 6), 300.0, dtype=np.float32)
    hr[4, 1] = np.nan
    lr = block_mean(hr, 3)
    assert np.isnan(lr[1, 0])
    assert np.isfinite(lr).sum() == 3
    lenient = block_mean(hr, 3, propagate_nodata=False)
    assert lenient[1, 0] == pytest.approx(300.0)
    hr[3:6, 0:3] = np.nan
    assert np.isnan(block_mean(hr, 3, propagate_nodata=False)[1, 0])


def test_mtf_nodata_follows_the_same_rule_and_ignores_missing_neighbours() -> None:
    hr = np.full((12, 12), 290.0, dtype=np.float32)
    hr[0, 0] = np.nan
    lr = mtf_degrade(hr, 3)
    assert np.isnan(lr[0, 0])
    # The NaN neighbour and the raster edge are renormalised away: a constant stays constant.
    np.testing.assert_allclose(lr[np.isfinite(lr)], 290.0, rtol=1e-6)
    assert np.isfinite(lr).sum() == 15


def test_mtf_sigma_gives_gain_0_3_at_lr_nyquist() -> None:
    assert mtf_sigma(3) == pytest.approx(3 * math.sqrt(-2 * math.log(0.3)) / math.pi)
    assert mtf_sigma(3) == pytest.approx(1.48, abs=0.01)
    assert mtf_margin(3) % 3 == 0 and mtf_margin(3) >= 4 * mtf_sigma(3)


def test_mtf_response_at_lr_nyquist_is_about_0_3() -> None:
    factor, n_lr = 4, 32
    x = np.arange(n_lr * factor) + 0.5
    # A cosine at the LR Nyquist frequency whose peaks sit on the LR pixel centres.
    wave = np.cos(math.pi * (x - factor / 2) / factor)
    hr = np.tile(wave, (n_lr * factor, 1)).astype(np.float64)
    lr = mtf_degrade(hr, factor)
    interior = lr[8:-8, 8:-8]
    signs = np.where(np.arange(n_lr) % 2 == 0, 1.0, -1.0)[8:-8]
    amplitude = float(np.mean(interior * signs[None, :]))
    assert amplitude == pytest.approx(0.3, abs=0.02)
    # The block mean is much sharper than the sensor: its gain is sinc-like, well above 0.3.
    assert float(np.mean(block_mean(hr, factor)[8:-8, 8:-8] * signs[None, :])) > 0.6


def test_radiance_aggregation_conserves_emitted_energy() -> None:
    hr = np.array([[290.0, 310.0], [290.0, 310.0]], dtype=np.float32)
    assert degrade(hr, 2, aggregate="kelvin")[0, 0] == pytest.approx(300.0, abs=1e-4)
    expected = ((290.0**4 + 310.0**4) / 2) ** 0.25
    assert degrade(hr, 2, aggregate="radiance")[0, 0] == pytest.approx(expected, abs=1e-3)
    assert expected == pytest.approx(300.50, abs=0.01)


def test_bad_factor_is_refused() -> None:
    with pytest.raises(ValueError, match="3x3 blocks"):
        block_mean(np.zeros((4, 4)), 3)
    with pytest.raises(ValueError, match="positive integer"):
        block_mean(np.zeros((4, 4)), 0)
    with pytest.raises(ValueError, match="unknown degradation"):
        degrade(np.zeros((4, 4)), 2, method="cubic")


def test_guidance_indices_are_recomputed_from_averaged_reflectances() -> None:
    red = np.array([[0.1, 0.1], [0.1, 0.1]])
    nir = np.array([[0.5, 0.1], [0.1, 0.1]])
    mean_of_ndvi = float(np.mean((nir - red) / (nir + red)))
    stack = np.stack([red, nir, (nir - red) / (nir + red), np.full((2, 2), 7.0)])
    out = degrade_guidance(stack, 2, ["red", "nir", "ndvi", "dem"])
    assert out[0, 0, 0] == pytest.approx(0.1) and out[1, 0, 0] == pytest.approx(0.2)
    assert out[2, 0, 0] == pytest.approx((0.2 - 0.1) / (0.2 + 0.1), rel=1e-6)
    assert out[2, 0, 0] != pytest.approx(mean_of_ndvi, rel=1e-3)
    assert out[3, 0, 0] == pytest.approx(7.0)
    # without the bands it needs, an index band is simply averaged
    alone = degrade_guidance(stack[2:], 2, ["ndvi", "dem"])
    assert alone[0, 0, 0] == pytest.approx(mean_of_ndvi, rel=1e-6)
