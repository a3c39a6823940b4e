"""Saturated MII pixels: found on each camera's own grid, before any resampling.

SDGSAT-1's MII B4 (green) and B5 (red) saturate often over bright ground (roofs, sand, cloud).
A saturated DN is the most the detector could count, not a measurement: the reflectance there is
a lower bound, so NDVI is too high where red saturates and NDWI too low where green does. A
band is taken as saturated at a given DN (``--mii-saturation-dn``), or, by default, where its
histogram piles up at its largest DN: clipping puts many pixels on that one value, while a
natural histogram thins out towards its top. Detection reads each camera's band once, block by
block (memory stays one block), and counts its DN in a histogram.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import rasterio

MIN_PILE_UP_PX = 25  # pixels the largest DN needs to hold to be a pile-up
PILE_UP_RATIO = 20.0  # ... and this many times the mean count of the DNs just below it
BELOW_DN = 32  # how many DNs below the largest are compared
POLICIES = ("keep", "nodata")


@dataclass(frozen=True)
class SaturationOptions:
    """What ingest does about saturated MII pixels: ``policy`` ``keep`` (values as delivered,
    reported) or ``nodata``; ``level_dn`` the DN at and above which every band is saturated
    (``None``: found per camera and band from the histogram)."""

    policy: str = "keep"
    level_dn: int | None = None


def dn_histogram(src: rasterio.DatasetReader, band: int) -> np.ndarray:
    """Counts of every DN (0 = fill excluded) of an integer ``band``, read block by block."""
    counts = np.zeros(65536, dtype=np.int64)
    for _, window in src.block_windows(band):
        dn = src.read(band, window=window).ravel()
        counts += np.bincount(dn[dn > 0].astype(np.int64), minlength=65536)[:65536]
    return counts


def pile_up_level(counts: np.ndarray) -> int | None:
    """The largest DN when the histogram piles up there (see module docstring), else ``None``."""
    filled = np.flatnonzero(counts)
    if filled.size == 0:
        return None
    top = int(filled[-1])
    below = counts[max(1, top - BELOW_DN):top]
    typical = float(below.mean()) if below.size else 0.0
    if counts[top] >= MIN_PILE_UP_PX and counts[top] >= PILE_UP_RATIO * max(typical, 1.0):
        return top
    return None


def saturation_level(src: rasterio.DatasetReader, band: int, options: SaturationOptions) -> int | None:
    """The DN at and above which ``band`` of ``src`` is saturated, or ``None`` when it is not."""
    if options.level_dn is not None:
        return options.level_dn
    if np.dtype(src.dtypes[band - 1]) not in (np.uint8, np.uint16):
        return None  # only counted DN pile up; products deliver uint16
    return pile_up_level(dn_histogram(src, band))
