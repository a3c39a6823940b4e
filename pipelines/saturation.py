"""Saturated MII pixels: found on each camera's own grid, before any resampling.

SDGSAT-1's MII B4 (green) and B5 (red) saturate often over bright ground (roofs, sand, cloud).
A saturated DN is the most the detector could count, not a measurement: the reflectance there is
a lower bound, so NDVI is too high where red saturates and NDWI too low where green does. A
band is taken as saturated at a given DN (``--mii-saturation-dn``), or, by default, where its
histogram piles up at (or a few pixels below) its largest DN: clipping puts many pixels on that
one value, while a natural histogram thins out towards its top. Detection reads each camera's
band once, block by block (memory stays one block), and counts its DN in a histogram.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pipelines.errors import InputError

if TYPE_CHECKING:
    import rasterio

MIN_PILE_UP_PX = 25  # pixels a DN needs to hold to be a pile-up
PILE_UP_RATIO = 20.0  # ... and this many times the mean count of the DNs just below it
BELOW_DN = 32  # how many DNs below it are compared
TOP_CANDIDATES = 8  # occupied DNs from the top that may hold it: resampling can overshoot a clip by a few pixels
TAIL_SHARE = 0.1  # ... as long as those above it hold under this share of its count
POLICIES = ("keep", "nodata")
BANDS = range(2, 8)  # the MII bands that make the guidance (B2 deep blue .. B7 NIR)
COUNTED_DTYPES = ("uint8", "uint16")  # DN that can pile up; products deliver uint16


@dataclass(frozen=True)
class SaturationOptions:
    """What ingest does about saturated MII pixels: ``policy`` ``keep`` (values as delivered,
    reported) or ``nodata``; ``levels`` the DN at and above which each listed band is saturated
    (``None``: found per camera and band from the histogram)."""

    policy: str = "keep"
    levels: dict[int, int] | None = None

    def check(self) -> None:
        """Refuse a policy groklst does not have, and levels for a band that is no MII guidance band
        or outside 1..65535, before a scene is read (or skipped)."""
        if self.policy not in POLICIES:
            raise InputError("--saturated", f"unknown policy {self.policy!r}", f"use one of {', '.join(POLICIES)}")
        if self.levels is not None and not all(b in BANDS and 1 <= dn <= 65535 for b, dn in self.levels.items()):
            raise InputError("--mii-saturation-dn", f"{self.given()} is not a DN of 1..65535 for bands B2..B7")

    def given(self) -> str:
        """The levels as ``--mii-saturation-dn`` takes them (one DN when every band shares it)."""
        values = set((self.levels or {}).values())
        if self.levels is not None and len(values) == 1 and set(self.levels) == set(BANDS):
            return str(values.pop())
        return ",".join(f"B{band}={dn}" for band, dn in sorted((self.levels or {}).items()))


def parse_levels(text: str) -> dict[int, int]:
    """``--mii-saturation-dn``: one DN for every guidance band (``4095``), or per band
    (``B4=4095,B5=4000``: only those bands)."""
    def dn(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = 0
        if not 1 <= number <= 65535:
            raise InputError("--mii-saturation-dn", f"{value!r} is not a DN of 1..65535", "e.g. 4095 or B4=4095,B5=4000")
        return number

    if "=" not in text:
        return dict.fromkeys(BANDS, dn(text.strip()))
    levels = {}
    for item in text.split(","):
        name, _, value = item.partition("=")
        band = name.strip().upper().removeprefix("B")
        if not band.isdigit() or int(band) not in BANDS:
            raise InputError("--mii-saturation-dn", f"{name.strip()!r} is not an MII guidance band",
                             "name B2..B7, e.g. B4=4095,B5=4000")
        if int(band) in levels:  # QA: B4=2100,B4=3000 kept the last one, silently
            raise InputError("--mii-saturation-dn", f"B{band} is given more than once", "give each band one DN")
        levels[int(band)] = dn(value.strip())
    return levels


def dn_histogram(src: rasterio.DatasetReader, band: int) -> np.ndarray:
    """Counts of every DN (0 = fill excluded) of an integer ``band``, read block by block."""
    counts = np.zeros(65536, dtype=np.int64)
    for _, window in src.block_windows(band):
        dn = src.read(band, window=window).ravel()
        counts += np.bincount(dn[dn > 0].astype(np.int64), minlength=65536)[:65536]
    return counts


def pile_up_level(counts: np.ndarray, ratio: float = PILE_UP_RATIO) -> int | None:
    """The DN the histogram piles up at near its top (see module docstring), else ``None``: one
    of the largest occupied DNs, holding ``ratio`` times the typical count of the DNs below it,
    with at most a thin tail of pixels above it."""
    above = 0
    for top in np.flatnonzero(counts)[::-1][:TOP_CANDIDATES]:
        below = counts[max(1, top - BELOW_DN):top]
        typical = float(below.mean()) if below.size else 0.0
        count = int(counts[top])
        if count >= MIN_PILE_UP_PX and count >= ratio * max(typical, 1.0) and above <= TAIL_SHARE * count:
            return int(top)
        above += count
    return None


def detectable(src: rasterio.DatasetReader, band: int) -> bool:
    """Whether ``band`` holds counted DN, whose histogram can pile up."""
    return src.dtypes[band - 1] in COUNTED_DTYPES


def saturation_level(src: rasterio.DatasetReader, band: int, options: SaturationOptions) -> int | None:
    """The DN at and above which ``band`` of ``src`` is saturated, or ``None`` when it is not
    (or cannot be told: see :func:`detectable`)."""
    if options.levels is not None:
        return options.levels.get(band)
    if not detectable(src, band):
        return None
    return pile_up_level(dn_histogram(src, band))
