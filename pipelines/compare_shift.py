"""How far each ``groklst compare`` candidate's content is shifted against the reference.

A candidate whose grid nests but whose content is moved (written a fine pixel or half a coarse
pixel off, PixelIsPoint read as PixelIsArea, a wrong geotransform from another tool) still covers
the reference and is scored, its RMSE mixing geometry error into accuracy. The offset is measured
as band registration measures SDGSAT-1's TIS bands (:func:`pipelines.band_registration.measure_shift`:
a whole-pixel correlation search within 3 px refined by Gauss-Newton with a gain and a bias, on five
crops placed as :func:`pipelines.coregister.crops` places them, trusted when the crops agree) on the
pixel size the two share (the coarse grid when they differ). An offset past that search (4 or 8 px
on the same grid) is found coarse to fine: measured on crops four times as large averaged over 4x4
blocks (up to about 12 px), then refined on the usual crops with the candidate's moved by that
estimate. Scattered masked pixels are filled from their neighbours, and where a crop still lacks
data in either raster (a masked half) crops are taken where both have it; a fine offset found by
neither pass is measured again on the coarse grid. Only crops are read, at most ``4 * CROP_PX``
pixels a side, so memory does not grow with the scene.

``None`` (``shift: null`` in ``--json``) means no crop could be measured (under 20 px, too little
data where both rasters have it, no texture): the placement is unchecked, not found aligned.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from scipy import ndimage

from pipelines.band_registration import MIN_CROP_PX, MIN_VALID, BandShift, measure_shift
from pipelines.coregister import crops

CROP_PX = 128  # pixels a side of each crop, on the grid the offset is measured on (0.1 s a candidate)
SHIFT_TO_WARN_PX = 0.5  # a reliable offset this large (pixels of that grid) is warned about
COARSE = 4  # block size of the coarse-to-fine pass: offsets up to about 3 x 4 = 12 pixels are found
BLOCK_MIN_VALID = 4  # valid pixels a COARSE x COARSE block needs for its mean
TILES = 5  # where a crop lacks data, others are sought on a TILES x TILES grid over the span
GAP_SIGMA_PX = 1.0  # masked pixels are filled from valid ones within about this distance
GAP_MIN_WEIGHT = 0.5  # ... when at least this (Gaussian-weighted) share of their surroundings is valid
GAP_PASSES = 2  # a second pass fills pixels whose neighbours the first filled (clusters of masked pixels)

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
        """The offset as ``--json`` reports it: pixels to 3 decimals, map units to as many as a
        thousandth of a pixel needs (3 for metres, 7 for a 0.0003 degree pixel, which 3 decimals
        would report as 0)."""
        # + 0.0: a tiny negative offset rounds to -0.0, which reads as a direction
        offsets = {key: round(value, digits) + 0.0 for key, value, digits in
                   (("x_px", self.x_px, 3), ("y_px", self.y_px, 3),
                    ("x", self.x, _decimals(self.res[0], 3, 3)), ("y", self.y, _decimals(self.res[1], 3, 3)))}
        return {**offsets, "pixel_size": f"{self.res[0]:g}x{self.res[1]:g}", "reliable": self.reliable}

    def warning(self, candidate: str, unit: str) -> str:
        """One line naming ``candidate``, its offset and what to do."""
        return (f"{candidate}'s content lies {_words(self.x_px, self.x, self.res[0], 'east', 'west', unit)} and "
                f"{_words(self.y_px, self.y, self.res[1], 'north', 'south', unit)} of the reference's (pixels of "
                f"{self.res[0]:g}x{self.res[1]:g} {unit}): its scores mix that misplacement into accuracy; "
                "check its geotransform (PixelIsPoint/Area, origin) or place it with groklst coregister")


def _decimals(res: float, px_decimals: int, least: int) -> int:
    """Decimals that show a length in map units as precisely as ``px_decimals`` decimals of a
    ``res`` pixel, and at least ``least``: metres keep their usual form, degrees get the digits."""
    return max(least, px_decimals - math.floor(math.log10(res)))


def _words(px: float, length: float, res: float, positive: str, negative: str, unit: str) -> str:
    """``1.98 px (59.4 m) east`` for a signed offset, the length to a tenth of a pixel at least
    (``0.00059 deg`` on a 0.0003 degree pixel, not ``0.0 deg``)."""
    return (f"{abs(px):.2f} px ({abs(length):.{_decimals(res, 1, 1)}f} {unit}) "
            f"{positive if round(px, 2) >= 0 else negative}")


def content_shift(read: CropReader, span: tuple[int, int, int, int], fine: tuple[int, int] | None,
                  coarse_res: tuple[float, float]) -> ContentShift | None:
    """The candidate's offset over ``span`` (coarse pixels: top, left, rows, cols, which the candidate
    and the reference both cover), measured at ``fine`` pixels per coarse pixel (x, y) when both have
    that pixel size, else (or when the fine offset is not reliable) on the coarse grid; at each pixel
    size first within the search around zero, then coarse-to-fine. None when no crop could be
    measured (too few valid pixels, too small, no texture)."""
    scales = [s for s in (fine, (1, 1)) if s is not None]
    found = None
    for scale in dict.fromkeys(scales):
        res = (coarse_res[0] / scale[0], coarse_res[1] / scale[1])
        for measure in (_measured, _coarse_to_fine):
            shift = measure(read, span, scale, res)
            if shift is not None:
                found = shift
                if found.reliable:
                    return found
    return found


def _measured(read: CropReader, span: tuple[int, int, int, int], scale: tuple[int, int],
              res: tuple[float, float]) -> ContentShift | None:
    """The band-registration offset on crops of the span at ``scale`` where both rasters have data
    (small gaps filled); None when no crop was measured."""
    shift = measure_shift(_usable_pairs(read, scale, span))
    return _content(shift, (0, 0), shift.reliable, res) if shift.crops else None


def _coarse_to_fine(read: CropReader, span: tuple[int, int, int, int], scale: tuple[int, int],
                    res: tuple[float, float]) -> ContentShift | None:
    """The offset found on crops ``COARSE`` times as large, block-averaged by ``COARSE`` (so up to
    about ``COARSE * MAX_SHIFT_PX`` pixels), then refined at ``scale`` on the usual crops with the
    candidate's moved by it: that whole-pixel estimate plus the remainder measured there, reliable
    as the remainder is; None when either level measured no crop."""
    rough = measure_shift([(_blocks(read(0, scale, box)), _blocks(read(1, scale, box)))
                           for box in _boxes(span, scale, CROP_PX * COARSE)])
    if not rough.crops:
        return None
    seed = (round(rough.rows * COARSE), round(rough.cols * COARSE))
    rest = measure_shift(_usable_pairs(read, scale, span, seed))
    return _content(rest, seed, rest.reliable, res) if rest.crops else None


def _usable_pairs(read: CropReader, scale: tuple[int, int], span: tuple[int, int, int, int],
                  seed: tuple[int, int] = (0, 0)) -> list[tuple[np.ndarray, np.ndarray]]:
    """(reference, candidate) crops, gaps filled, the candidate's ``seed`` pixels (rows, cols) up and
    left of the reference's so that what remains to measure is the offset less ``seed``: on the
    five crop places, and where some lack data in either raster (a cloud mask, a half-covered
    scene), as many more from a TILES x TILES grid over the span as both have data on."""
    (dy, dx), (sx, sy) = seed, scale
    top, left, rows, cols = span
    inner = (top * sy + abs(dy), left * sx + abs(dx), rows * sy - 2 * abs(dy), cols * sx - 2 * abs(dx))
    if min(inner[2:]) < MIN_CROP_PX:
        return []
    wanted = _boxes(inner, (1, 1), CROP_PX)
    usable: list[tuple[np.ndarray, np.ndarray]] = []
    for t, c, h, w in wanted + _tiles(inner):
        pair = (_fill_gaps(read(0, scale, (t, c, h, w))), _fill_gaps(read(1, scale, (t - dy, c - dx, h, w))))
        if min(np.isfinite(a).mean() for a in pair) >= MIN_VALID:
            usable.append(pair)
        if len(usable) == len(wanted):
            break
    return usable


def _boxes(span: tuple[int, int, int, int], scale: tuple[int, int], size: int) -> list[tuple[int, int, int, int]]:
    """The five crops (top, left, rows, cols at ``scale``) of at most ``size`` a side over the span."""
    top, left, rows, cols = span
    sx, sy = scale
    return [(top * sy + r, left * sx + c, h, w) for r, c, h, w in crops(rows * sy, cols * sx, size)]


def _tiles(span: tuple[int, int, int, int]) -> list[tuple[int, int, int, int]]:
    """CROP_PX crops on an even TILES x TILES grid over the span (top, left, rows, cols), edge to edge."""
    top, left, rows, cols = span
    h, w = min(CROP_PX, rows), min(CROP_PX, cols)
    tops = np.linspace(top, top + rows - h, TILES).round().astype(int)
    lefts = np.linspace(left, left + cols - w, TILES).round().astype(int)
    return list(dict.fromkeys((int(t), int(c), h, w) for t in tops for c in lefts))


def _fill_gaps(values: np.ndarray) -> np.ndarray:
    """``values`` with NaN pixels that are mostly surrounded by data (scattered masked pixels) set to
    the Gaussian-weighted mean of their valid neighbours, in GAP_PASSES passes, symmetric so that no
    offset is introduced; larger gaps stay NaN."""
    for _ in range(GAP_PASSES):
        valid = np.isfinite(values)
        if valid.all() or not valid.any():
            return values
        weight = ndimage.gaussian_filter(valid.astype(np.float64), GAP_SIGMA_PX, mode="nearest")
        total = ndimage.gaussian_filter(np.where(valid, values, 0.0), GAP_SIGMA_PX, mode="nearest")
        fill = ~valid & (weight >= GAP_MIN_WEIGHT)
        values = np.where(fill, total / np.where(fill, weight, 1.0), values)
    return values


def _blocks(values: np.ndarray) -> np.ndarray:
    """``values`` averaged over blocks for the coarse pass, gaps filled."""
    return _fill_gaps(_block_mean(values))


def _block_mean(values: np.ndarray) -> np.ndarray:
    """Means of ``COARSE`` x ``COARSE`` blocks over their valid pixels; NaN for a block with fewer
    than BLOCK_MIN_VALID of them (a masked pixel does not void its block)."""
    rows, cols = values.shape[0] // COARSE, values.shape[1] // COARSE
    blocks = values[:rows * COARSE, :cols * COARSE].reshape(rows, COARSE, cols, COARSE)
    count = np.isfinite(blocks).sum(axis=(1, 3))
    total = np.nansum(blocks, axis=(1, 3))
    return np.where(count >= BLOCK_MIN_VALID, total / np.maximum(count, 1), np.nan)


def _content(shift: BandShift, seed: tuple[int, int], reliable: bool, res: tuple[float, float]) -> ContentShift:
    """The content's offset from the move that registers it (``seed`` plus ``shift``, rows and cols):
    moving by (rows down, cols right) registers content lying (cols west, rows south), i.e.
    ``-cols`` east and ``rows`` north."""
    return ContentShift(-(seed[1] + shift.cols) + 0.0, seed[0] + shift.rows + 0.0, res, reliable)
