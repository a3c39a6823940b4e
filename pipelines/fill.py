"""Filling nodata before a network sees the data (networks cannot take NaN)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def fill_nearest(array: np.ndarray) -> np.ndarray | None:
    """Replace NaN in a 2-D array by the nearest valid value; ``None`` if nothing is valid.

    Nearest-neighbour filling keeps filled values inside the range of their surroundings, so
    the few filled pixels that reach a network's receptive field look like plausible data.
    The filled pixels themselves are masked out of every output.
    """
    invalid = np.isnan(array)
    if not invalid.any():
        return array
    if invalid.all():
        return None
    idx = ndimage.distance_transform_edt(invalid, return_distances=False, return_indices=True)
    return array[tuple(idx)]


def fill_bands(stack: np.ndarray) -> np.ndarray | None:
    """:func:`fill_nearest` for each band of a (K, H, W) stack; ``None`` if a band is all nodata."""
    out = np.empty_like(stack)
    for k, band in enumerate(stack):
        filled = fill_nearest(band)
        if filled is None:
            return None
        out[k] = filled
    return out
