"""Sub-pixel registration of one band onto another (pipelines.band_registration)."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.band_registration import BandShift, measure_shift, shift_band


def _field(shape: tuple[int, int], rows: float = 0.0, cols: float = 0.0, seed: int = 0) -> np.ndarray:
    """A smooth random field sampled at pixel centres moved by (rows, cols): a sum of Gaussian
    blobs evaluated analytically, so the moved copy is exact, not resampled."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    y, x = y + rows, x + cols
    out = np.zeros(shape)
    for cy, cx, width, height in zip(rng.uniform(0, shape[0], 60), rng.uniform(0, shape[1], 60),
                                     rng.uniform(2.0, 6.0, 60), rng.normal(0, 5.0, 60)):
        out += height * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * width**2))
    return 290.0 + out


@pytest.mark.parametrize("rows, cols", [(0.3, -0.45), (-0.8, 0.1), (1.6, -2.2)])
def test_an_offset_is_measured_to_a_hundredth_of_a_pixel_despite_gain_and_bias(rows, cols):
    """The moving band sees the ground (rows, cols) further on, with another gain and bias (as
    TIS B3 against B2); the shift that moves it back is (rows, cols)."""
    reference = _field((96, 96))
    moving = 0.8 * _field((96, 96), rows, cols) - 40.0
    found = measure_shift([(reference, moving)])
    assert found.rows == pytest.approx(rows, abs=0.01) and found.cols == pytest.approx(cols, abs=0.01)
    assert found.needed
    moved = shift_band(moving, found)
    inner = (slice(8, -8),) * 2
    np.testing.assert_allclose(((moved - moving.mean()) / 0.8)[inner], (reference - reference.mean())[inner],
                               atol=0.05 * np.ptp(reference))


def test_aligned_bands_are_left_alone_and_disagreeing_crops_are_not_trusted():
    reference = _field((64, 64))
    aligned = measure_shift([(reference, reference + 1.0)] * 3)
    assert aligned.reliable and not aligned.needed and aligned.crops == 3
    assert aligned.describe("B3", "B2", 30.0) == "B3 aligned with B2 as delivered (offset 0.0 m, 3 crops within 0.00 px)"
    mixed = measure_shift([(reference, _field((64, 64), 0.0, 0.0)), (reference, _field((64, 64), 0.0, -0.6)),
                           (reference, _field((64, 64), 0.0, 0.6))])
    assert mixed.spread == pytest.approx(0.6, abs=0.02) and not mixed.reliable and not mixed.needed
    assert "not measurable" in mixed.describe("B3", "B2", 30.0)


def test_crops_without_enough_data_are_skipped_and_none_left_is_not_measurable():
    reference = _field((64, 64))
    holed = reference.copy()
    holed[:, :10] = np.nan  # 16 % nodata
    moving = _field((64, 64), 0.0, 0.5)
    found = measure_shift([(holed, moving), (reference, moving)])
    assert found.crops == 1 and found.cols == pytest.approx(0.5, abs=0.01)
    nothing = measure_shift([(holed, moving)])
    assert nothing.crops == 0 and not nothing.reliable
    assert nothing.describe("TIS B3", "B2", 30.0).startswith(
        "TIS B3 not measurable against B2 (no crop of 20 x 20 pixels with 95% valid and enough texture)")


def test_the_description_names_the_move_in_metres_and_directions():
    shift = BandShift(rows=-0.667, cols=-0.333, spread=0.012, crops=5)
    assert shift.describe("TIS B3", "B2", 30.0) == "TIS B3 moved 10.0 m west and 20.0 m north onto B2 (5 crops within 0.01 px)"
    assert BandShift(0.5, 0.0, 0.0, 1).describe("B3", "B2", 30.0) == "B3 moved 15.0 m south onto B2 (1 crop)"


def test_a_moved_band_is_nodata_where_it_draws_on_fill_or_beyond_the_edge():
    values = _field((20, 20))
    values[8:10, 8:10] = np.nan
    moved = shift_band(values, BandShift(0.0, -0.5, 0.0, 1))  # each pixel draws on p and p + 1 (columns)
    assert np.isnan(moved[:, -1]).all() and np.isfinite(moved[:, :-1][~np.isnan(values[:, :-1])]).sum() > 0
    assert np.isnan(moved[8:10, 7:10]).all() and np.isfinite(moved[8:10, 6]).all() and np.isfinite(moved[8:10, 10]).all()
    np.testing.assert_array_equal(np.isnan(moved[:8]), np.broadcast_to(np.arange(20) == 19, (8, 20)))
    whole = shift_band(values, BandShift(0.0, -1.0, 0.0, 1))  # a whole pixel: an exact copy
    np.testing.assert_allclose(whole[:, :-1], values[:, 1:], atol=1e-9)


def test_a_featureless_crop_has_no_vote():
    """Open water: the bands are noise around a constant, whose 'offset' means nothing."""
    rng = np.random.default_rng(1)
    flat = 290.0 + 0.05 * rng.standard_normal((64, 64))
    textured = _field((64, 64))
    moving = _field((64, 64), 0.4, -0.3)
    found = measure_shift([(flat, flat + 0.05 * rng.standard_normal((64, 64))), (textured, moving)])
    assert found.crops == 1 and found.rows == pytest.approx(0.4, abs=0.01) and found.cols == pytest.approx(-0.3, abs=0.01)
    assert measure_shift([(flat, np.full((64, 64), 290.0))]).crops == 0


def test_an_offset_at_the_limit_is_taken_and_one_beyond_it_is_named():
    assert BandShift(0.0, -3.0001, 0.0, 5).needed
    far = BandShift(0.0, -3.6, 0.0, 5)
    assert not far.reliable
    assert far.describe("B3", "B2", 30.0) == ("B3 not measurable against B2 (offset 108.0 m west, beyond the 3 px "
                                              "a band offset can be), kept as delivered")
