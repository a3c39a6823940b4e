"""The split window's band difference repaired at edges (pipelines.edge_difference)."""

import warnings

import numpy as np

from pipelines.edge_difference import HALO_PX, _row_nanmedian, repair_edge_differences


def _bands(rows: int = 40, cols: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """B2 with texture, and B3 0.8 K below it."""
    t2 = 290.0 + 5.0 * np.random.default_rng(seed).standard_normal((rows, cols))
    return t2, t2 - 0.8


def test_a_spike_in_the_difference_takes_its_neighbours_value():
    t2, t3 = _bands()
    t3[10, 12] += 6.0  # a B3 interpolated wrongly at an edge
    repaired, replaced = repair_edge_differences(t2, t3)
    assert np.argwhere(replaced).tolist() == [[10, 12]]
    np.testing.assert_allclose(t2 - repaired, 0.8, atol=1e-9)


def test_a_real_step_in_the_difference_along_a_field_edge_is_kept():
    """Different surfaces have different band differences: a 2 K step along a straight edge is
    the surface, not an interpolation, and survives; so does noise well under the threshold."""
    t2, t3 = _bands()
    t3[:, 15:] -= 2.0
    t3 += 0.1 * np.random.default_rng(1).standard_normal(t3.shape)
    repaired, replaced = repair_edge_differences(t2, t3)
    assert not replaced.any()
    np.testing.assert_array_equal(repaired, t3)


def test_nodata_is_left_out_of_the_median_and_stays_nodata():
    t2, t3 = _bands()
    t3[:, :8] = np.nan
    t3[5, 8] -= 3.0  # next to the nodata: its window holds 3 valid columns of 5
    t3[5, 9] += 0.2  # within the threshold: kept as it is
    repaired, replaced = repair_edge_differences(t2, t3)
    assert np.argwhere(replaced).tolist() == [[5, 8]]
    assert np.isnan(repaired[:, :8]).all()
    np.testing.assert_allclose(t2[5, 8] - repaired[5, 8], 0.8, atol=1e-9)
    assert repaired[5, 9] == t3[5, 9]


def test_strips_read_with_a_halo_give_the_whole_images_values():
    t2, t3 = _bands(60, 50, seed=2)
    t3 += np.where(np.random.default_rng(3).random(t3.shape) < 0.1, 3.0, 0.0)  # scattered edge errors
    t3[20:26, 30:] = np.nan
    whole, whole_replaced = repair_edge_differences(t2, t3)
    padded = [np.pad(a, HALO_PX, constant_values=np.nan) for a in (t2, t3)]  # beyond the image: NaN
    for top in range(0, 60, 7):
        bottom = min(top + 7, 60)
        rows = slice(top, bottom + 2 * HALO_PX)
        strip, replaced = repair_edge_differences(padded[0][rows], padded[1][rows])
        inner = (slice(HALO_PX, HALO_PX + bottom - top), slice(HALO_PX, HALO_PX + 50))
        np.testing.assert_array_equal(strip[inner], whole[top:bottom])
        np.testing.assert_array_equal(replaced[inner], whole_replaced[top:bottom])
    assert whole_replaced.sum() > 100


def test_the_row_median_equals_numpys_nanmedian():
    rng = np.random.default_rng(4)
    windows = rng.standard_normal((300, 25))
    windows[rng.random(windows.shape) < np.linspace(0, 1, 300)[:, None]] = np.nan
    windows[-1] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's all-NaN slice warning
        expected = np.nanmedian(windows, axis=1)
    np.testing.assert_allclose(_row_nanmedian(windows), expected, rtol=0, atol=1e-12)
    assert np.isnan(_row_nanmedian(windows)[-1])
