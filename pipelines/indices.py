"""Spectral indices of the GrokLST guidance, computed from SDGSAT-1 MII reflectances.

Band mapping (MII centres, nm): B4 green 553, B5 red 657, B7 NIR 854. Every index is a
normalised difference; where its denominator vanishes (both terms zero, or fill) the index is
0 rather than NaN or inf, so that guidance stays finite for the networks. NaN inputs stay NaN.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

_EPS = 1e-12


def _normalised_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(a - b) / (a + b) as float32, 0 where |a + b| is (numerically) zero."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    total = a + b
    ok = np.abs(total) > _EPS
    out = np.divide(a - b, total, out=np.zeros_like(total), where=ok)
    out[np.isnan(total)] = np.nan
    return out.astype(np.float32)


def ndvi(red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """NDVI = (NIR - Red) / (NIR + Red); MII B7 and B5.

    Source: Rouse et al. (1974), "Monitoring vegetation systems in the Great Plains with ERTS".
    """
    return _normalised_difference(nir, red)


def ndwi(green: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """NDWI = (Green - NIR) / (Green + NIR); MII B4 and B7 (open-water form).

    Source: McFeeters (1996), Int. J. Remote Sensing 17(7), doi:10.1080/01431169608948714.
    """
    return _normalised_difference(green, nir)


def ndmvi(
    red: np.ndarray,
    nir: np.ndarray,
    red_min: float | None = None,
    nir_min: float | None = None,
) -> np.ndarray:
    """NDMVI = [(NIR - NIRmin) - (Red - Redmin)] / [(NIR - NIRmin) + (Red - Redmin)].

    Normalized Difference Mountain Vegetation Index: subtracting the scene minima removes the
    additive path-radiance/shadow term that depresses NDVI on shaded mountain slopes.
    Source: Wu & Xu (2011), J. Geo-Information Science 13(5), doi:10.3724/SP.J.1047.2011.00656.
    The exact form is taken from sdgsat1-products.md, where it is marked unverified; the minima
    default to the finite minima of the given arrays (per scene) and can be overridden, e.g.
    to share one pair of minima across the tiles of a mosaic.
    """
    red = np.asarray(red, dtype=np.float64)
    nir = np.asarray(nir, dtype=np.float64)
    red_min = float(np.nanmin(red)) if red_min is None else float(red_min)
    nir_min = float(np.nanmin(nir)) if nir_min is None else float(nir_min)
    return _normalised_difference(nir - nir_min, red - red_min)


def scene_minima(strips: Iterable[tuple[np.ndarray, np.ndarray]]) -> tuple[float, float]:
    """Finite minima of (red, NIR) over the strips of a scene, for :func:`ndmvi`; inf where none.

    Lets a streamed scene share one pair of minima across strips, as one array would.
    """
    red_min = nir_min = float("inf")
    for red, nir in strips:
        if np.isfinite(red).any():
            red_min = min(red_min, float(np.nanmin(red)))
        if np.isfinite(nir).any():
            nir_min = min(nir_min, float(np.nanmin(nir)))
    return red_min, nir_min
