"""Removing the stripes of SDGSAT-1 TIS B2 with B3 as the picture of the scene.

TIS B2 is delivered striped: each detector has its own small offset, so every line one
detector draws along the ground track is a little too warm or too cool. In L4 products
(north-up map projection) these lines run along the ground track, some degrees off north, so
they are neither rows nor columns. The split window amplifies a B2 error about 2.7 times
(``1 + c1 + 2 c2 (t2 - t3)`` with the default coefficients), so 0.3 K of stripes in B2 become
0.8 K stripes in LST.

B3 is not striped and sees nearly the same scene: B2 - gain * B3, with its slow part removed
by a running median along each row, leaves the stripes, noise and residue at edges; pixels
around a step of that difference (land and water differ in emissivity; the step grows with the
stripes found, so strong stripes are not taken for steps) are left out. A B3 that was
misregistered by 10-20 m and then registered, or is a little blurrier than B2, leaves residue
of 0.5-1 K RMS wherever B3 has structure across the row; along field edges that run one way
through the image it looks like stripes. Detector stripes are everywhere, residue only near
B3's edges: the crops' pixels are ranked by B3's :func:`structure`, and from the first tenth
whose difference is twice as loud as the smoothest tenth's on, pixels are left out (none on a
well-registered product).
Everything here works on brightness temperatures (K) and in the pixel coordinates of the
image (rows, columns from its top left), so that a window read anywhere in it, a strip or a
crop, finds its place. Three steps, so that a scene streamed in strips of rows is never held
whole:

1. :func:`measure_direction` finds the stripe direction on a few crops: the angle at which one
   value per eighth-of-a-pixel bin across the stripes explains the most of the difference
   (the same in two halves of the rows, so noise does not count), coarse to fine, then on all
   crops together (their distance sets the precision), and where the bins' edges best fall
   (on the detector lines' edges, for hard steps).
2. :class:`StripeProfile` takes the image strip by strip, in order: per block of
   :data:`BLOCK_ROWS` image rows the median of the difference in each across-stripe bin,
   then the median over blocks. Stripes repeat all along the track: the profiles of the
   image's top and bottom halves, and of its even and odd blocks, must agree (the halves'
   covariance is the stripe variance: noise cancels) before it is used.
3. :func:`destripe` subtracts the profile from B2, strip by strip. B2's mean is kept (an
   offset common to all detectors is calibration, not striping). An image whose stripes were
   not found, not confirmed or weaker than :data:`MIN_RMS_K` is returned as it came (the same
   array): nothing is changed that is not known to be striped.

Strips give the same result as the whole image, bit for bit: the high-pass works row by row
and blocks are counted from the image's first row, whatever the strips are. Measured with
``benchmarks/tis_destripe.py``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

BINS_PER_PX = 8  # across-stripe bins per pixel: a detector's edge blurs only the bin it falls in
SEGMENT_PX = 8  # the high-pass takes the median of each run of this many pixels along a row ...
ROW_WINDOW_PX = 128  # ... then the running median of those over this many pixels, interpolated back
EDGE_K = 0.2  # a level change this large over 2 x EDGE_RUNS runs is an edge (the level's noise: a few 0.01 K) ...
EDGE_SHARE = 1.0  # ... or this share of the stripe RMS, if larger: strong stripes move the level themselves
EDGE_RUNS = 2  # ... and the runs that far either side of it are left out
BLOCK_ROWS = 64  # image rows per block median (memory: 4 bytes x BINS_PER_PX x width per block)
MIN_BLOCK_SAMPLES = 5  # pixels a bin needs in a block for the block's median there
FULL_BLOCK_SHARE = 0.5  # blocks filling fewer bins than this share of the fullest one's are not compared
MIN_BIN_SAMPLES = 16  # pixels a bin needs in the image to be corrected (fewer: the profile is noise)
MAX_ANGLE_DEG = 30.0  # stripes searched within this of north (SDGSAT-1's ground track: about 10 deg)
COARSE_ROWS = 64  # the coarse search bins rows in bands this tall, so a 0.45 deg grid cannot miss
COARSE_BINS_PER_PX = 2  # ... in half-pixel bins (enough to see stripes, 4 times fewer bins to count)
MIN_RMS_K = 0.05  # weaker stripes are left alone (a quarter of the TIS NETD, 0.2 K; 0.13 K in LST)
MAX_SPREAD_DEG = 0.5  # every crop's angle must lie this close to their median
MIN_AGREEMENT = 0.5  # correlation the groups' profiles need: the profile's noise is then below the stripes'
MIN_VALID = 0.5  # share of valid pixels a crop needs
MIN_CROP_PX = 32  # rows and columns a crop needs
CLIP_SIGMA = 4.0  # edge residue is clipped at this many robust sigmas before the direction search
HALF_ROWS = 32  # the direction search compares alternate bands of this many rows
PEAK_SHARE = 0.25  # the angle is the centroid of the power's top quarter (of its range) around the best
JOINT_REFINE = 5  # the joint search samples its peak this much finer (hard steps need 0.02 px over the image)
CHUNK_PX = 1 << 15  # pixels per piece of the direction search's arithmetic (a piece stays in cache)
PHASES = 8  # bin edges tried per bin: hard steps between detector lines cost least on a bin edge
STRUCTURE_PX = 2  # B3's structure at a pixel: its range over this many pixels either side along the row
STRUCTURE_CLASSES = 10  # the crops' pixels are ranked by that structure into this many classes of equal size ...
RESIDUE_RATIO = 2.0  # ... and from the first class whose difference has this many times the smoothest class's
#                      mean square on, pixels are left out: a B3 misregistered or blurred against B2 leaves
#                      its residue where B3 has structure, detector stripes are everywhere


@dataclass(frozen=True)
class StripeDirection:
    """Where the stripes run: ``angle_deg`` clockwise from north (the image's up), so that
    positive angles lean east going north; ``gain`` scales B3 onto B2 before the difference."""

    angle_deg: float
    gain: float = 1.0
    rms_k: float = math.nan  # median over the crops of the stripe RMS found there, K
    spread_deg: float = 0.0  # the largest distance of one crop's angle from the median
    crops: int = 0  # crops measured
    given: bool = False  # the direction was given, not measured
    phase_px: float = 0.0  # bin edges lie here modulo a bin, across the stripes: on the detector lines' edges
    max_structure_k: float = math.inf  # pixels where B3's structure exceeds this are left out (K)

    @property
    def edge_k(self) -> float:
        """The level change that marks an edge: :data:`EDGE_K`, more for strong stripes."""
        return max(EDGE_K, EDGE_SHARE * self.rms_k) if math.isfinite(self.rms_k) else EDGE_K

    @property
    def found(self) -> bool:
        """Given, or stripes strong enough on the crops, every crop agreeing on their direction."""
        return self.given or (self.crops > 0 and self.rms_k >= MIN_RMS_K and self.spread_deg <= MAX_SPREAD_DEG)

    def where(self) -> str:
        """The direction in words, e.g. ``8.3 deg east of north``."""
        if round(self.angle_deg, 1) == 0:
            return "north-south"
        return f"{abs(self.angle_deg):.1f} deg {'east' if self.angle_deg > 0 else 'west'} of north"


@dataclass(frozen=True, eq=False)
class Destriping:
    """What :class:`StripeProfile` found on an image, and the profile :func:`destripe` subtracts."""

    direction: StripeDirection
    rms_k: float  # RMS of the stripe profile: the covariance of the halves' profiles, K (NaN: not measured)
    agreement: float  # the lesser correlation: top against bottom half, even against odd blocks
    blocks: int  # blocks of BLOCK_ROWS rows with data
    profile: np.ndarray | None = None  # K subtracted in each across-stripe bin (0 where too few pixels)
    origin: float = 0.0  # across-stripe coordinate of bin 0's start

    @property
    def applied(self) -> bool:
        """Stripes found, their profile agreeing along the track and not negligible."""
        return (self.direction.found and self.profile is not None and self.agreement >= MIN_AGREEMENT
                and self.rms_k >= MIN_RMS_K)

    def describe(self, band: str = "TIS B2") -> str:
        """The outcome as one line (tags, warnings)."""
        d = self.direction
        if not d.found:
            if not d.crops:
                return (f"{band} not destriped: no crop of {MIN_CROP_PX} x {MIN_CROP_PX} pixels with "
                        f"{MIN_VALID:.0%} valid to look for stripes on")
            if d.rms_k < MIN_RMS_K:
                return f"{band} not destriped: no stripes found ({d.rms_k:.2f} K RMS on {_crops(d.crops)})"
            return (f"{band} not destriped: stripes of {d.rms_k:.2f} K RMS on {_crops(d.crops)} "
                    f"disagree on their direction ({d.spread_deg:.1f} deg apart)")
        seen = "direction given" if d.given else f"{_crops(d.crops)} within {d.spread_deg:.2f} deg"
        if math.isfinite(d.max_structure_k):
            seen += f", pixels by B3 edges over {d.max_structure_k:.1f} K left out"
        halves = f"halves and alternate blocks agree r={self.agreement:.2f}"
        if self.applied:
            return f"{band} destriped: stripes of {self.rms_k:.2f} K RMS along {d.where()} removed ({seen}, {halves})"
        if self.blocks < 2 or math.isnan(self.agreement):
            return (f"{band} not destriped: stripes along {d.where()} ({seen}) not confirmed, the image has "
                    f"too few full blocks of {BLOCK_ROWS} rows to compare (at least {2 * BLOCK_ROWS} rows)")
        return (f"{band} not destriped: stripes along {d.where()} ({seen}) not confirmed on the image "
                f"({self.rms_k:.2f} K RMS, {halves})")


def _crops(n: int) -> str:
    return f"{n} crop{'s' if n != 1 else ''}"


def difference(b2: np.ndarray, b3: np.ndarray, gain: float, max_structure_k: float = math.inf,
               edge_k: float = EDGE_K) -> np.ndarray:
    """``b2 - gain * b3`` without what varies slower than :data:`ROW_WINDOW_PX` along each row:
    the stripes, noise and edge residue. NaN where either band is, around a step of the
    difference (``edge_k``) and where B3's :func:`structure` exceeds ``max_structure_k``."""
    d = _highpass(np.asarray(b2, dtype=np.float64) - gain * np.asarray(b3, dtype=np.float64), edge_k=edge_k)
    if math.isfinite(max_structure_k):
        d[structure(b3) > max_structure_k] = np.nan
    return d


def structure(b3: np.ndarray) -> np.ndarray:
    """B3's range (K) over :data:`STRUCTURE_PX` pixels either side of each pixel along its row:
    large near scene edges that cross the row, where a misregistered or blurred B3 leaves
    residue. Along rows only, so that strips give what the whole image gives. Infinite within
    :data:`STRUCTURE_PX` of nodata or of the row's ends: unknown there, and a registered B3 is
    extrapolated at its edges, which run along whole columns."""
    values = np.asarray(b3, dtype=np.float64)
    size = (1, 2 * STRUCTURE_PX + 1)
    filled = _fill_rows(values)
    out = ndimage.maximum_filter(filled, size, mode="nearest") - ndimage.minimum_filter(filled, size, mode="nearest")
    out[ndimage.maximum_filter(np.isnan(values), size, mode="constant", cval=True)] = math.inf
    return out


def _structure_cut(d: np.ndarray, s: np.ndarray) -> float:
    """The largest B3 structure whose pixels' difference is still about as quiet as the
    smoothest pixels': the pixels ranked by ``s`` into :data:`STRUCTURE_CLASSES` classes, the
    upper edge of the last class before the first one whose mean square of ``d`` reaches
    :data:`RESIDUE_RATIO` times the smoothest class's (infinite when none does: no residue)."""
    if not s.size:
        return math.inf
    edges = np.quantile(s, np.linspace(0.0, 1.0, STRUCTURE_CLASSES + 1))
    ranks = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, STRUCTURE_CLASSES - 1)
    power = np.bincount(ranks, d * d, STRUCTURE_CLASSES) / np.maximum(np.bincount(ranks, minlength=STRUCTURE_CLASSES), 1)
    loud = np.nonzero(power >= RESIDUE_RATIO * power[0])[0]
    return float(edges[loud[0]]) if loud.size else math.inf


def _highpass(values: np.ndarray, drop_edges: bool = True, edge_k: float = EDGE_K) -> np.ndarray:
    """``values`` minus a running median along each row, each row on its own (NaN stays NaN and
    is bridged by :func:`_fill_rows`); with ``drop_edges``, NaN too around a step (an edge:
    land and water differ in B2 - B3).

    The running median is taken over the medians of runs of :data:`SEGMENT_PX` pixels
    (mirrored at the row's ends) and interpolated back linearly between the runs' centres: as
    accurate here as an exact running median of the same width, a tenth of its cost. A window
    of 128 rather than 31 pixels leaves a tenth rather than a fifth of white detector offsets
    in the slow part, where no high-pass can tell them from the scene. A running median of
    noisy runs spreads a step over a few runs, and a straight shore along the stripes would
    put that ramp into the profile: where the level changes by :data:`EDGE_K` or more within
    :data:`EDGE_RUNS` runs either side of a run, those runs' pixels are left out.
    """
    filled = _fill_rows(values)
    rows, cols = filled.shape
    runs = -(-cols // SEGMENT_PX)
    padded = np.pad(filled, ((0, 0), (0, runs * SEGMENT_PX - cols)), mode="edge")
    medians = np.median(padded.reshape(rows, runs, SEGMENT_PX), axis=2)
    level = ndimage.median_filter(medians, size=(1, max(1, ROW_WINDOW_PX // SEGMENT_PX)), mode="reflect")
    at = np.clip((np.arange(cols) - (SEGMENT_PX - 1) / 2) / SEGMENT_PX, 0, runs - 1)
    i = np.minimum(at.astype(np.int64), max(runs - 2, 0))
    w = at - i
    smooth = level[:, i] * (1 - w) + level[:, np.minimum(i + 1, runs - 1)] * w
    out = np.where(np.isnan(values), np.nan, filled - smooth)
    if drop_edges:
        reach = np.pad(level, ((0, 0), (EDGE_RUNS, EDGE_RUNS)), mode="edge")
        near = np.abs(reach[:, 2 * EDGE_RUNS:] - reach[:, :-2 * EDGE_RUNS]) >= edge_k  # a step within reach
        out[near[:, i] | near[:, np.minimum(i + 1, runs - 1)]] = np.nan
    return out


def _fill_rows(values: np.ndarray) -> np.ndarray:
    """NaN replaced, row by row, by the valid values mirrored about the nearest valid pixel (its
    own value where the mirror falls on NaN or off the row); 0 in rows without any. Mirrored,
    a swath's edge, which runs along the stripes, keeps its stripes in the running median's
    window instead of one pixel's value repeated."""
    invalid = np.isnan(values)
    if not invalid.any():
        return values
    width = values.shape[1]
    cols = np.arange(width)
    left = np.maximum.accumulate(np.where(invalid, -1, cols), axis=1)
    right = np.minimum.accumulate(np.where(invalid, width, cols)[:, ::-1], axis=1)[:, ::-1]
    take_right = (left < 0) | ((right < width) & (right - cols < cols - left))
    nearest = np.clip(np.where(take_right, right, left), 0, width - 1)
    mirror = 2 * nearest - cols
    rows = np.arange(values.shape[0])[:, None]
    inside = (mirror >= 0) & (mirror < width)
    usable = inside & ~invalid[rows, np.clip(mirror, 0, width - 1)]
    out = values[rows, np.where(usable, mirror, nearest)]
    return np.nan_to_num(out, nan=0.0)


def _across(rows: np.ndarray, cols: np.ndarray, angle_deg: float) -> np.ndarray:
    """Position across the stripes (pixels): constant along a line ``angle_deg`` clockwise from north."""
    t = math.radians(angle_deg)
    return cols * math.cos(t) + rows * math.sin(t)


# -- 1. direction, on crops ------------------------------------------------------------------

@dataclass(frozen=True)
class _Samples:
    """The valid pixels of crops' difference, with their image rows and columns, and the group
    each belongs to (groups are binned apart)."""

    values: np.ndarray
    rows: np.ndarray  # float, whole numbers
    cols: np.ndarray  # float, whole numbers
    half: np.ndarray  # int, 0 or 1: alternate bands of HALF_ROWS image rows
    groups: np.ndarray | None = None  # int; None: one group


def measure_direction(crops: Sequence[tuple[np.ndarray, np.ndarray, int, int]]) -> StripeDirection:
    """The stripes' direction from ``(b2, b3, top, left)`` crops (brightness temperatures, NaN
    nodata; ``top``, ``left``: the crop's first image row and column).

    Coarse: one angle for all crops on a grid of 0.45 deg, bins per band of :data:`COARSE_ROWS`
    rows. Fine: each crop on its own around it, for the spread. Joint: all crops' pixels in
    one set of bins around the median, so the crops' distance sets the precision (within
    0.002 deg on the five crops of a 2000-row scene, measured): an angle off by delta smears
    the profile of an image ``rows`` tall over ``rows * delta`` pixels. Then the bins' phase.
    """
    usable = [c for c in crops if _usable(c[0], c[1])]
    if not usable:
        return StripeDirection(0.0)
    gain = _gain([(b2, b3) for b2, b3, _, _ in usable])
    differences = [difference(b2, b3, gain) for b2, b3, _, _ in usable]
    structures = [structure(b3) for _, b3, _, _ in usable]
    valid = [np.isfinite(d) & np.isfinite(s) for d, s in zip(differences, structures)]
    cut = _structure_cut(np.concatenate([d[v] for d, v in zip(differences, valid)]),
                         np.concatenate([s[v] for s, v in zip(structures, valid)]))
    samples = [_samples(np.where(s > cut, np.nan, d), top, left)
               for d, s, (_, _, top, left) in zip(differences, structures, usable)]
    coarse_step = math.degrees(0.5 / COARSE_ROWS)
    coarse = _search(_coarse_bands(samples), 0.0, MAX_ANGLE_DEG, coarse_step, per_px=COARSE_BINS_PER_PX)[0]
    found = [_search(s, coarse, coarse_step, _step(s, 0.5)) for s in samples]
    angles = np.array([a for a, _ in found])
    centre = float(np.median(angles))
    spread = float(np.max(np.abs(angles - centre)))
    rms = math.sqrt(max(float(np.median([p for _, p in found])), 0.0))
    direction = StripeDirection(centre, gain, rms, spread, len(samples), max_structure_k=cut)
    if not direction.found:
        return direction
    joint = _Samples(*(np.concatenate([getattr(s, f) for s in samples]) for f in ("values", "rows", "cols", "half")))
    step = _step(joint, 0.25)
    angle = _search(joint, centre, max(spread, 8 * step), step, refine=JOINT_REFINE)[0]
    phases = np.arange(PHASES) / (PHASES * BINS_PER_PX)
    phase = float(phases[np.argmax([_stripe_power(joint, angle, p) for p in phases])])
    return StripeDirection(angle, gain, rms, spread, len(samples), phase_px=phase, max_structure_k=cut)


def _usable(b2: np.ndarray, b3: np.ndarray) -> bool:
    valid = np.isfinite(b2) & np.isfinite(b3)
    return min(b2.shape) >= MIN_CROP_PX and float(valid.mean()) >= MIN_VALID


def _gain(pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> float:
    """The slope of B2 on B3 in what varies faster than the row window, edges included (they
    carry the contrast), pooled over the crops (stripes in B2 do not bias it: they do not
    correlate with B3). 1 when B3 shows nothing."""
    xy = xx = 0.0
    for b2, b3 in pairs:
        y, x = (_highpass(np.asarray(b, dtype=np.float64), drop_edges=False) for b in (b2, b3))
        ok = np.isfinite(x) & np.isfinite(y)
        xy, xx = xy + float(np.sum(x[ok] * y[ok])), xx + float(np.sum(x[ok] ** 2))
    return xy / xx if xx > 0 else 1.0


def _samples(d: np.ndarray, top: int, left: int) -> _Samples:
    """A crop's high-passed difference ``d`` at its valid pixels, clipped at :data:`CLIP_SIGMA`
    robust sigmas so that edge residue does not outweigh the stripes."""
    rows, cols = np.nonzero(np.isfinite(d))
    values = d[rows, cols]
    sigma = 1.4826 * float(np.median(np.abs(values - np.median(values))))
    if sigma > 0:
        values = np.clip(values, -CLIP_SIGMA * sigma, CLIP_SIGMA * sigma)
    rows = rows + top
    return _Samples(values, rows.astype(np.float64), (cols + left).astype(np.float64), (rows // HALF_ROWS) % 2)


def _coarse_bands(samples: Sequence[_Samples]) -> _Samples:
    """All crops, cut into bands of :data:`COARSE_ROWS` rows, each band a group of its own."""
    groups, first = [], 0
    for s in samples:
        band = ((s.rows - s.rows.min()) // COARSE_ROWS).astype(np.int64)
        groups.append(first + band)
        first += int(band.max()) + 1
    return _Samples(*(np.concatenate([getattr(s, f) for s in samples]) for f in ("values", "rows", "cols", "half")),
                    np.concatenate(groups))


def _step(s: _Samples, px: float) -> float:
    """The angle step (deg) that moves the samples' farthest pixels ``px`` across the stripes."""
    span = math.hypot(float(np.ptp(s.rows)), float(np.ptp(s.cols)))
    return math.degrees(px / max(span, 1.0))


def _search(samples: _Samples, centre: float, half_width: float, step: float,
            refine: int = 1, per_px: int = BINS_PER_PX) -> tuple[float, float]:
    """The angle within ``centre ± half_width`` with the most stripe power on a grid of
    ``step``, and that power per pixel (K^2).

    The peak is placed at the centroid of its top (above :data:`PEAK_SHARE` of the power's
    range below the best): the tip of a sharp peak, the middle of a flat one, where pixel
    centres on a lattice cannot tell angles apart (stripes along a column, for one). With
    ``refine``, the top is sampled that many times finer before its centroid is taken;
    ``per_px``: bins a pixel.
    """
    def power_at(angles: np.ndarray) -> np.ndarray:
        return np.array([_stripe_power(samples, a, per_px=per_px) for a in angles]) / samples.values.size

    n = max(1, math.ceil(half_width / step))
    angles = centre + step * np.arange(-n, n + 1)
    power = power_at(angles)
    floor = power.max() - PEAK_SHARE * (power.max() - power.min())
    lo, hi = _top(power, floor)
    if refine > 1:
        angles = np.linspace(angles[lo] - step, angles[hi] + step, (hi - lo + 2) * refine + 1)
        power = power_at(angles)
        lo, hi = _top(power, floor)
    weights = power[lo:hi + 1] - floor
    angle = float(np.average(angles[lo:hi + 1], weights=weights)) if weights.sum() > 0 else float(angles[lo])
    return angle, float(power_at(np.array([angle]))[0])


def _top(power: np.ndarray, floor: float) -> tuple[int, int]:
    """The first and last index of the run of ``power`` above ``floor`` around its maximum."""
    lo = hi = int(np.argmax(power))
    while lo > 0 and power[lo - 1] > floor:
        lo -= 1
    while hi < len(power) - 1 and power[hi + 1] > floor:
        hi += 1
    return lo, hi


def _stripe_power(s: _Samples, angle_deg: float, phase_px: float = 0.0, per_px: int = BINS_PER_PX) -> float:
    """The stripe power (sum over pixels, K^2) that one value per across-stripe bin (``per_px``
    bins a pixel, edges at ``phase_px`` modulo a bin) explains, as the product of each bin's
    means over two halves of the rows (alternate bands of :data:`HALF_ROWS`): noise, and
    residue that lasts only a few rows, cancel."""
    t = math.radians(angle_deg)
    along_cols, along_rows = math.cos(t) * per_px, math.sin(t) * per_px
    corners = [c * along_cols + r * along_rows
               for c in (s.cols.min(), s.cols.max()) for r in (s.rows.min(), s.rows.max())]
    lowest = math.floor(min(corners) - 1 - phase_px * per_px)
    width = math.ceil(max(corners) + 1 - phase_px * per_px) - lowest + 1
    key = np.empty(s.values.size, dtype=np.int64)
    for start in range(0, s.values.size, CHUNK_PX):  # arithmetic in pieces that stay in cache
        part = slice(start, start + CHUNK_PX)
        u = s.cols[part] * along_cols
        u += s.rows[part] * along_rows
        u -= phase_px * per_px + lowest
        chunk = np.floor(u, out=u).astype(np.int64)
        if s.groups is not None:
            chunk += s.groups[part] * width
        chunk *= 2
        chunk += s.half[part]
        key[part] = chunk
    sums, counts = np.bincount(key, s.values), np.bincount(key)
    if sums.size % 2:
        sums, counts = np.append(sums, 0.0), np.append(counts, 0)
    n1, n2 = counts[0::2], counts[1::2]
    both = (n1 > 0) & (n2 > 0)
    means = sums[0::2][both] / n1[both] * sums[1::2][both] / n2[both]
    return float(np.sum(means * (n1[both] + n2[both])))


# -- 2. profile, strip by strip -----------------------------------------------------------------

class StripeProfile:
    """The stripe profile of an image of ``shape`` (rows, cols), gathered from strips of rows
    added in order; :meth:`result` gives the :class:`Destriping`. Nothing is gathered when the
    direction was not found."""

    def __init__(self, shape: tuple[int, int], direction: StripeDirection) -> None:
        self.shape, self.direction = shape, direction
        rows, cols = shape
        corners = _across(np.array([0, 0, rows - 1, rows - 1]), np.array([0, cols - 1, 0, cols - 1]),
                          direction.angle_deg)
        phase = direction.phase_px
        self.origin = phase + math.floor((float(corners.min()) - phase) * BINS_PER_PX) / BINS_PER_PX
        self.bins = int((corners.max() - self.origin) * BINS_PER_PX) + 1
        self._blocks: list[np.ndarray] = []  # each complete block's median per bin (NaN: too few pixels)
        self._samples = np.zeros(self.bins, dtype=np.int64)
        self._pending: list[tuple[int, int, np.ndarray]] = []  # (top, left, difference) of the open block
        self._next_row: int | None = None

    def add(self, b2: np.ndarray, b3: np.ndarray, top: int, left: int = 0) -> None:
        """Take a strip of brightness temperatures whose first pixel is image row ``top``,
        column ``left``; strips follow each other without gaps."""
        if not self.direction.found:
            return
        if self._next_row is not None and top != self._next_row:
            raise ValueError(f"strip at row {top} does not follow the last one (next row {self._next_row})")
        d = difference(b2, b3, self.direction.gain, self.direction.max_structure_k, self.direction.edge_k)
        row, end = top, top + d.shape[0]
        while row < end:
            block_end = min(end, (row // BLOCK_ROWS + 1) * BLOCK_ROWS)
            self._pending.append((row, left, d[row - top:block_end - top]))
            if block_end % BLOCK_ROWS == 0:
                self._close_block()
            row = block_end
        self._next_row = end

    def _close_block(self) -> None:
        """The open block's median per bin, kept; its pixels counted."""
        if not self._pending:
            return
        values, bins = [], []
        for top, left, d in self._pending:
            b = _bin(np.arange(top, top + d.shape[0])[:, None], np.arange(left, left + d.shape[1])[None, :],
                     self.direction.angle_deg, self.origin)
            ok = np.isfinite(d) & (b >= 0) & (b < self.bins)
            values.append(d[ok])
            bins.append(b[ok])
        self._pending = []
        values, bins = np.concatenate(values), np.concatenate(bins)
        if values.size:
            self._samples += np.bincount(bins, minlength=self.bins)
            self._blocks.append(_bin_medians(values, bins, self.bins))

    def result(self) -> Destriping:
        """The profile (median over blocks, less its pixel-weighted mean so B2's mean is kept)
        and how well it repeats along the track: the profiles of the image's top and bottom
        halves, and of its even and odd blocks, must both agree (the lesser correlation counts;
        the halves' covariance is the stripe variance: noise cancels)."""
        self._close_block()
        if len(self._blocks) < 2:
            return Destriping(self.direction, math.nan, math.nan, len(self._blocks))
        blocks = np.stack(self._blocks)
        enough = self._samples >= MIN_BIN_SAMPLES
        profile = _bridged(_median(blocks), enough)
        filled = np.isfinite(blocks).mean(axis=1)
        full = blocks[filled >= FULL_BLOCK_SHARE * filled.max()]  # a window's short first or last block fills few bins
        half = len(full) // 2
        rms_k, halves = _agreement(full[:half], full[half:], enough) if half else (math.nan, math.nan)
        alternate = _agreement(full[0::2], full[1::2], enough)[1] if half else math.nan
        if math.isnan(halves):
            return Destriping(self.direction, math.nan, math.nan, len(blocks))
        used = np.isfinite(profile)
        profile[used] -= np.average(profile[used], weights=self._samples[used])
        return Destriping(self.direction, rms_k, min(halves, alternate), len(blocks),
                          np.nan_to_num(profile, nan=0.0), self.origin)


def _median(blocks: np.ndarray) -> np.ndarray:
    """The median over blocks per bin (NaN in bins no block reached)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # bins no block reached
        return np.nanmedian(blocks, axis=0)


def _agreement(first: np.ndarray, second: np.ndarray, enough: np.ndarray) -> tuple[float, float]:
    """The RMS (K, from their covariance) and correlation of two groups of blocks' profiles,
    each bridged over its sparse bins as the profile is (near a lattice angle one block fills
    few fine bins); NaN when fewer than 3 bins have both."""
    a, b = (_bridged(_median(g), enough) for g in (first, second))
    both = np.isfinite(a) & np.isfinite(b)
    if both.sum() < 3:
        return math.nan, math.nan
    cov = np.cov(a[both], b[both])
    r = float(cov[0, 1] / math.sqrt(cov[0, 0] * cov[1, 1])) if cov[0, 0] * cov[1, 1] > 0 else 0.0
    return math.sqrt(max(float(cov[0, 1]), 0.0)), r


def _bridged(profile: np.ndarray, enough: np.ndarray) -> np.ndarray:
    """The profile with bins of too few pixels given their nearest well-sampled bin's value,
    up to half a pixel away (near a lattice angle most fine bins are sparse), NaN farther."""
    missing = ~(enough & np.isfinite(profile))
    if missing.all():
        return np.full(profile.shape, np.nan)
    distance, (nearest,) = ndimage.distance_transform_edt(missing, return_indices=True)
    out = profile[nearest]
    out[distance > BINS_PER_PX / 2] = np.nan
    return out


def _bin(rows: np.ndarray, cols: np.ndarray, angle_deg: float, origin: float) -> np.ndarray:
    """Across-stripe bin of image pixels (rows, cols)."""
    return np.floor((_across(rows, cols, angle_deg) - origin) * BINS_PER_PX).astype(np.int64)


def _bin_medians(values: np.ndarray, bins: np.ndarray, n: int) -> np.ndarray:
    """The median of ``values`` in each of ``n`` bins (float32; NaN with fewer than
    :data:`MIN_BLOCK_SAMPLES`), by one sort."""
    order = np.lexsort((values, bins))
    values = values[order]
    counts = np.bincount(bins, minlength=n)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    enough = counts >= MIN_BLOCK_SAMPLES
    lo, hi = starts[enough] + (counts[enough] - 1) // 2, starts[enough] + counts[enough] // 2
    out = np.full(n, np.nan, dtype=np.float32)
    out[enough] = (values[lo] + values[hi]) / 2
    return out


# -- 3. correction, strip by strip ---------------------------------------------------------------

def destripe(b2: np.ndarray, found: Destriping, top: int, left: int = 0) -> np.ndarray:
    """A strip of B2 brightness temperature (first pixel at image row ``top``, column ``left``)
    without its stripes; ``b2`` itself when none were found, so a clean image is unchanged."""
    if not found.applied or found.profile is None:
        return b2
    rows, cols = b2.shape
    b = _bin(np.arange(top, top + rows)[:, None], np.arange(left, left + cols)[None, :],
             found.direction.angle_deg, found.origin)
    inside = (b >= 0) & (b < found.profile.size)
    correction = np.where(inside, found.profile[np.clip(b, 0, found.profile.size - 1)], 0.0)
    return b2 - correction
