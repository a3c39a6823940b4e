"""Repairing the split window's band difference where a resampled band cannot be trusted.

A TIS band moved onto the other by a fraction of a pixel (:mod:`pipelines.band_registration`)
is interpolated, and the thermal bands are undersampled: at a sharp edge the spline cannot
know what the moved footprint saw, and a few kelvin of error in B3 there becomes 1.4-1.7 times
as much in the split window's LST (single pixels 20-40 K off on ideally sampled scenes). The
B2 - B3 difference, which the split window multiplies, is mostly the atmosphere's and varies
slowly; the surface's emissivities shift it by well under a kelvin between neighbours. So where
a pixel's difference departs from the median of its neighbourhood by more than
:data:`MAX_DEPARTURE_K`, the median is taken instead. Measured on generated products
(``benchmarks/tis_band_registration.py``): the LST RMSE after registration falls by a half to
two thirds and the largest error from 25-40 K to 5-8 K, with real differences of up to 2 K
between fields kept.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage

NEIGHBOURHOOD_PX = 5  # the median's window: 150 m of TIS, wider than an edge's reach
HALO_PX = NEIGHBOURHOOD_PX // 2  # pixels a caller reads around a strip so that strips join exactly
MAX_DEPARTURE_K = 0.5  # a difference this far from its neighbours' is an interpolation at an edge


def repair_edge_differences(t2: np.ndarray, t3: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(t3, replaced)``: B3 brightness temperatures whose difference from ``t2`` is the
    median of its :data:`NEIGHBOURHOOD_PX` square wherever the pixel's own departs from it by
    more than :data:`MAX_DEPARTURE_K`, and the mask of those pixels.

    NaN (nodata, and anything beyond the arrays) is left out of the medians, so a strip read
    with :data:`HALO_PX` pixels around it gives the same values as the whole image.
    """
    difference = np.asarray(t2, dtype=np.float64) - t3
    median = _nan_median(difference)
    with np.errstate(invalid="ignore"):
        replaced = np.abs(difference - median) > MAX_DEPARTURE_K
    return np.where(replaced, t2 - median, t3), replaced


def _nan_median(values: np.ndarray) -> np.ndarray:
    """The median of each pixel's window over its valid pixels (NaN where none is)."""
    invalid = np.isnan(values)
    median = ndimage.median_filter(np.where(invalid, 0.0, values), size=NEIGHBOURHOOD_PX, mode="nearest")
    near = ndimage.binary_dilation(invalid, np.ones((NEIGHBOURHOOD_PX,) * 2, bool))
    near[:HALO_PX] = near[-HALO_PX:] = True
    near[:, :HALO_PX] = near[:, -HALO_PX:] = True
    rows, cols = np.nonzero(near)
    padded = np.pad(values, HALO_PX, constant_values=np.nan)
    windows = sliding_window_view(padded, (NEIGHBOURHOOD_PX,) * 2)[rows, cols].reshape(rows.size, -1)
    median[rows, cols] = _row_nanmedian(windows)
    return median


def _row_nanmedian(windows: np.ndarray) -> np.ndarray:
    """``np.nanmedian(windows, axis=1)`` without its all-NaN warning, by sorting (NaN sorts last)."""
    ordered = np.sort(windows, axis=1)
    count = np.isfinite(ordered).sum(axis=1)
    low = np.take_along_axis(ordered, np.maximum(count - 1, 0)[:, None] // 2, axis=1)[:, 0]
    high = np.take_along_axis(ordered, (count // 2)[:, None], axis=1)[:, 0]  # == low for odd counts
    return np.where(count > 0, (low + high) / 2.0, np.nan)
