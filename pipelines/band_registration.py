"""Registering one band of an image onto another by a sub-pixel translation.

SDGSAT-1's TIS bands are delivered misregistered against each other by up to about a pixel.
The split window amplifies the B2 - B3 difference (by about 1.7 with the default
coefficients), so a third of a pixel turns every thermal edge into a band of wrong LST on
either side. The offset is measured on a few crops of the scene, to a few hundredths of a
pixel, and taken only when the crops agree; the band is then resampled onto its reference by
a cubic spline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipelines.fill import fill_nearest

MIN_SHIFT_PX = 0.05  # below this the band is left as delivered (resampling would cost more than it gains)
MAX_SHIFT_PX = 3.0  # a larger "offset" means the bands do not show the same scene: not measurable
MAX_SPREAD_PX = 0.2  # every crop must lie this close to the median offset for it to be trusted
MIN_VALID = 0.95  # share of valid pixels a crop needs to be measured on
MIN_CROP_PX = 20  # rows and columns a crop needs to be measured on
MAX_STEPS = 20  # Gauss-Newton steps before a crop is given up as not settling
STEP_DONE_PX = 1e-3  # the refinement has settled when a step moves the offset less than this
EDGE_PX = 5  # crop border left out of the fit: a shifted crop repeats its edge there
MIN_CORRELATION = 0.9  # the bands must agree this well once registered: else the crop is noise (open water)
HALO_PX = 12  # pixels read around a window before resampling: the spline's reach, to < 1e-4 of the contrast
MIN_REACH = 0.9  # a moved pixel may draw at most a tenth of its value from beyond the data (fill, edges)


@dataclass(frozen=True)
class BandShift:
    """The translation (rows down, columns right, in pixels) that moves a band onto its reference,
    in :func:`scipy.ndimage.shift`'s sense: ``moved[p] = band[p - (rows, cols)]``."""

    rows: float
    cols: float
    spread: float  # the largest distance of one crop's offset from the median, pixels
    crops: int  # crops the offset was measured on

    @property
    def reliable(self) -> bool:
        """Measured on at least one crop, every crop agreeing, and no larger than a band offset can be."""
        return self.crops > 0 and self.spread <= MAX_SPREAD_PX and not self.too_far

    @property
    def too_far(self) -> bool:
        """Further than a band offset can be (a few hundredths of slack for the measurement)."""
        return math.hypot(self.rows, self.cols) > MAX_SHIFT_PX + 0.05

    @property
    def needed(self) -> bool:
        """A reliable offset large enough to be worth resampling for."""
        return self.reliable and math.hypot(self.rows, self.cols) >= MIN_SHIFT_PX

    def describe(self, band: str, onto: str, res: float, unit: str = "m") -> str:
        """The outcome as one line (tags, warnings); ``res`` is the pixel size in ``unit``."""
        if not self.crops:
            return (f"{band} not measurable against {onto} (no crop of {MIN_CROP_PX} x {MIN_CROP_PX} pixels "
                    f"with {MIN_VALID:.0%} valid and enough texture), kept as delivered")
        east, south = self.cols * res, self.rows * res
        where = " and ".join(p for p in (
            f"{abs(east):.1f} {unit} {'east' if east > 0 else 'west'}" if round(east, 1) else "",
            f"{abs(south):.1f} {unit} {'south' if south > 0 else 'north'}" if round(south, 1) else "") if p)
        where = where or f"0.0 {unit}"
        agree = f"{self.crops} crop{'s' if self.crops > 1 else ''}"
        if self.crops > 1:
            agree += f" within {self.spread:.2f} px"
        if self.needed:
            return f"{band} moved {where} onto {onto} ({agree})"
        if self.reliable:
            return f"{band} aligned with {onto} as delivered (offset {where}, {agree})"
        if self.too_far:
            return (f"{band} not measurable against {onto} (offset {where}, beyond the {MAX_SHIFT_PX:g} px a "
                    "band offset can be), kept as delivered")
        return (f"{band} not measurable against {onto} (offset {where}, crops {self.spread:.2f} px apart), "
                "kept as delivered")


def measure_shift(pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> BandShift:
    """The offset of ``moving`` against ``reference`` from ``(reference, moving)`` crops (2-D,
    same shape, NaN nodata), as the median over the crops that could be measured."""
    found = [_crop_shift(reference, moving) for reference, moving in pairs]
    found = [f for f in found if f is not None]
    if not found:
        return BandShift(0.0, 0.0, 0.0, 0)
    offsets = np.array(found)
    rows, cols = np.median(offsets, axis=0)
    spread = float(np.max(np.hypot(offsets[:, 0] - rows, offsets[:, 1] - cols)))
    return BandShift(float(rows), float(cols), spread, len(found))


def _crop_shift(reference: np.ndarray, moving: np.ndarray) -> np.ndarray | None:
    """One crop's offset (rows, cols); ``None`` when either band has too few valid pixels there,
    the refinement does not settle, or the registered bands still disagree (a featureless crop
    whose offset is noise).

    The best whole-pixel offset seeds a Gauss-Newton (Lucas-Kanade) refinement of the offset
    together with a gain and a bias, since the bands differ in calibration and emissivity. Each
    step differentiates the cubic-spline shift itself, the resampling :func:`shift_band` undoes
    the offset with. (Phase correlation with sub-pixel refinement locked onto the wrong
    sub-pixel offsets on aliased thermal images: 0.1-0.15 px off, against 0.02-0.05 px here.)
    """
    if min(reference.shape) < MIN_CROP_PX:  # first: an empty crop (a strip's blocks) has no valid share
        return None
    if min(np.isfinite(reference).mean(), np.isfinite(moving).mean()) < MIN_VALID:
        return None
    reference, moving = (fill_nearest(np.asarray(a, dtype=np.float64)) for a in (reference, moving))
    shift = _whole_pixel_offset(reference, moving)
    for _ in range(MAX_STEPS):
        step = _refinement(reference, moving, shift)
        shift = shift + step
        if np.abs(shift).max() > MAX_SHIFT_PX + 1:
            return None
        if np.abs(step).max() < STEP_DONE_PX:
            return shift if _agreement(reference, moving, shift) >= MIN_CORRELATION else None
    return None


def _agreement(reference: np.ndarray, moving: np.ndarray, shift: np.ndarray) -> float:
    """Correlation of the bands once ``moving`` is moved by ``shift`` (0 for a constant crop)."""
    inner = (slice(EDGE_PX, -EDGE_PX),) * 2
    moved = ndimage.shift(moving, shift, order=3, mode="nearest")[inner].ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.corrcoef(reference[inner].ravel(), moved)[0, 1]
    return float(r) if np.isfinite(r) else 0.0


def _whole_pixel_offset(reference: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """The whole-pixel offset within ±MAX_SHIFT_PX under which the bands correlate best."""
    m = int(MAX_SHIFT_PX)
    rows, cols = reference.shape
    inner = reference[m:rows - m, m:cols - m].ravel()
    best, best_r = np.zeros(2), -np.inf
    for dy in range(-m, m + 1):
        for dx in range(-m, m + 1):
            seen = moving[m - dy:rows - m - dy, m - dx:cols - m - dx].ravel()
            with np.errstate(invalid="ignore", divide="ignore"):
                r = np.corrcoef(inner, seen)[0, 1]
            if r > best_r:
                best, best_r = np.array([dy, dx], dtype=np.float64), r
    return best


def _refinement(reference: np.ndarray, moving: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """One Gauss-Newton step of ``reference ~ gain * moved(moving) + bias`` in the offset, on the
    crop without its border."""
    def moved(delta: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
        return ndimage.shift(moving, shift + delta, order=3, mode="nearest")

    h = 0.05  # px: the spline shift is differentiated over ±h
    current = moved()
    d_rows = (moved((h, 0.0)) - moved((-h, 0.0))) / (2 * h)
    d_cols = (moved((0.0, h)) - moved((0.0, -h))) / (2 * h)
    inner = (slice(EDGE_PX, -EDGE_PX),) * 2
    design = np.stack([a[inner].ravel() for a in (d_rows, d_cols, current, np.ones_like(current))], axis=1)
    coef = np.linalg.lstsq(design, reference[inner].ravel(), rcond=None)[0]
    gain = coef[2]
    return coef[:2] / gain if gain else np.zeros(2)


def shift_band(values: np.ndarray, shift: BandShift) -> np.ndarray:
    """``values`` (2-D, NaN nodata) moved by ``shift`` with a cubic spline; NaN wherever the
    moved pixel draws on nodata or on pixels outside the array.

    Nodata is filled from its neighbours before the spline so that it does not ring into valid
    pixels; callers pass :data:`HALO_PX` pixels more on every side than they keep.
    """
    valid = np.isfinite(values)
    filled = fill_nearest(np.asarray(values, dtype=np.float64))
    if filled is None:
        return np.full(values.shape, np.nan)
    moved = ndimage.shift(filled, (shift.rows, shift.cols), order=3, mode="nearest")
    reach = ndimage.shift(valid.astype(np.float64), (shift.rows, shift.cols), order=1, mode="constant", cval=0.0)
    moved[reach < MIN_REACH] = np.nan
    return moved
