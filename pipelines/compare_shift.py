"""How far each ``groklst compare`` candidate's content is shifted against the reference.

A candidate whose grid nests but whose content is moved (written a fine pixel or half a coarse
pixel off, PixelIsPoint read as PixelIsArea, a wrong geotransform from another tool) still covers
the reference and is scored, its RMSE mixing geometry error into accuracy. The offset is measured
as band registration measures SDGSAT-1's TIS bands (:func:`pipelines.band_registration.measure_shift`:
a whole-pixel correlation search refined by Gauss-Newton with a gain and a bias, on five crops
placed as :func:`pipelines.coregister.crops` places them, trusted when the crops agree) on the
pixel size the two share (the coarse grid when they differ); a fine offset beyond the search
(a whole coarse pixel at 4x) is measured again on the coarse grid. Only the crops are read, at
most ``CROP_PX`` pixels a side, so memory does not grow with the scene.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pipelines.band_registration import BandShift, measure_shift
from pipelines.coregister import crops

CROP_PX = 128  # pixels a side of each crop, on the grid the offset is measured on (0.1 s a candidate)
SHIFT_TO_WARN_PX = 0.5  # a reliable offset this large (pixels of that grid) is warned about

# Reads ``(rows, cols)`` measurement pixels from ``(top, left)`` at ``scale`` measurement pixels per
# coarse pixel (x, y) for raster 0 (the reference) or the candidate: Kelvin, NaN nodata.
CropReader = Callable[[int, tuple[int, int], tuple[int, int, int, int]], np.ndarray]


@dataclass(frozen=True)
class ContentShift:
    """Where a candidate's content lies against the reference's: ``x_px`` east and ``y_px`` north
    in pixels of ``res`` (x, y map units); ``reliable`` as :class:`BandShift` says."""

    x_px: float
    y_px: float
    res: tuple[float, float]
    reliable: bool

    @property
    def x(self) -> float:
        """East, in map units."""
        return self.x_px * self.res[0]

    @property
    def y(self) -> float:
        """North, in map units."""
        return self.y_px * self.res[1]

    @property
    def flagged(self) -> bool:
        """Reliable and at least SHIFT_TO_WARN_PX pixels as reported (two decimals, so that a
        half-pixel offset measured as 0.498 px, shown as 0.50, is flagged): worth a warning."""
        return self.reliable and round(math.hypot(self.x_px, self.y_px), 2) >= SHIFT_TO_WARN_PX

    def as_json(self) -> dict[str, float | bool]:
        """The offset as ``--json`` reports it."""
        return {"x_px": round(self.x_px, 3), "y_px": round(self.y_px, 3), "x": round(self.x, 3),
                "y": round(self.y, 3), "pixel_size": f"{self.res[0]:g}x{self.res[1]:g}", "reliable": self.reliable}

    def warning(self, candidate: str, unit: str) -> str:
        """One line naming ``candidate``, its offset and what to do."""
        return (f"{candidate}'s content lies {_words(self.x_px, self.x, 'east', 'west', unit)} and "
                f"{_words(self.y_px, self.y, 'north', 'south', unit)} of the reference's (pixels of "
                f"{self.res[0]:g}x{self.res[1]:g} {unit}): its scores mix that misplacement into accuracy; "
                "check its geotransform (PixelIsPoint/Area, origin) or place it with groklst coregister")


def _words(px: float, length: float, positive: str, negative: str, unit: str) -> str:
    """``1.98 px (59.4 m) east`` for a signed offset."""
    return f"{abs(px):.2f} px ({abs(length):.1f} {unit}) {positive if px >= 0 else negative}"


def content_shift(read: CropReader, span: tuple[int, int, int, int], fine: tuple[int, int] | None,
                  coarse_res: tuple[float, float]) -> ContentShift | None:
    """The candidate's offset over ``span`` (coarse pixels: top, left, rows, cols, which the candidate
    and the reference both cover), measured at ``fine`` pixels per coarse pixel (x, y) when both have
    that pixel size, else (or when the fine offset is not reliable) on the coarse grid; None when no
    crop could be measured (too few valid pixels, too small, no texture)."""
    scales = [s for s in (fine, (1, 1)) if s is not None]
    found = None
    for scale in dict.fromkeys(scales):
        shift = _measured(read, span, scale)
        if shift is not None:
            found = _content(shift, scale, coarse_res)
            if found.reliable:
                return found
    return found


def _measured(read: CropReader, span: tuple[int, int, int, int], scale: tuple[int, int]) -> BandShift | None:
    """The band-registration offset of the candidate (moving) onto the reference on crops of the
    span at ``scale``; None when no crop was measured."""
    top, left, rows, cols = span
    sx, sy = scale
    boxes = [(top * sy + r, left * sx + c, h, w) for r, c, h, w in crops(rows * sy, cols * sx, CROP_PX)]
    shift = measure_shift([(read(0, scale, box), read(1, scale, box)) for box in boxes])
    return shift if shift.crops else None


def _content(shift: BandShift, scale: tuple[int, int], coarse_res: tuple[float, float]) -> ContentShift:
    """The content's offset from the move that registers it: moving by (rows down, cols right)
    registers content lying (cols west, rows south), i.e. ``-cols`` east and ``rows`` north."""
    res = (coarse_res[0] / scale[0], coarse_res[1] / scale[1])
    return ContentShift(-shift.cols + 0.0, shift.rows + 0.0, res, shift.reliable)
