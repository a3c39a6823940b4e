"""How far a coarse thermal image is shifted against its fine guidance, found from the data.

SDGSAT-1's TIS and MII are delivered misregistered by 1-2 TIS pixels; guided downscaling then
draws the guidance's edges 30-60 m from where the heat is. The shift is found as the one under
which the guidance explains the LST best: for every candidate offset (whole guidance pixels,
within a few LR pixels) the guidance bands are block-averaged onto the LR grid and the LST is
regressed on them linearly, on five crops of the scene (its centre and the centres of its
quadrants); the offset with the highest mean R^2 wins, and is taken only when it beats the
delivered placement by MIN_GAIN. No sign or band is assumed (LST falls with NDVI and rises
with albedo, depending on the land). On real data (30 m Landsat ST against 15 m Sentinel-2
guidance, eight dates, known offsets of up to 34 m) single crops were off by 30 m in up to 3
of 5 crops; their mean surface returned every offset exactly. At 120 m against 30 m guidance
one guidance pixel was left north-south (README).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MIN_R2 = 0.1  # below this the guidance says too little about the LST to place it
MIN_GAIN = 0.005  # R^2 an offset must add over the delivered placement (real 1-px offsets: >= 0.011)
MAX_SAMPLES = 100_000  # LR pixels used in each regression (evenly spaced)
MAX_SHIFT_LR = 3  # LR pixels searched each way by default (SDGSAT-1's TIS-MII offsets: 1-2)
CROP_LR = 256  # LR pixels a side of each crop the offset is measured on

Crop = tuple[int, int, int, int]  # (top, left, rows, cols) in LR pixels


def crops(height: int, width: int, size: int = CROP_LR) -> list[Crop]:
    """The crops (at most ``size`` a side) the offset is measured on: centred on the scene and on
    its four quadrants (fewer when they coincide), so a cloudy or uniform part does not decide."""
    rows, cols = min(size, height), min(size, width)
    centres = [(height / 2, width / 2)] + [(height * fy, width * fx) for fy in (0.25, 0.75) for fx in (0.25, 0.75)]
    return list(dict.fromkeys((min(max(0, round(cy - rows / 2)), height - rows),
                               min(max(0, round(cx - cols / 2)), width - cols), rows, cols) for cy, cx in centres))


@dataclass(frozen=True)
class ShiftEstimate:
    """The LST's offset against the guidance, in guidance pixels (rows down, columns right):
    LST pixel (i, j) shows the ground under guidance rows ``i * ratio + rows ...``."""

    rows: int
    cols: int
    r2: float  # mean over the crops, of the LST on the guidance at that offset
    r2_as_delivered: float  # at offset (0, 0)
    max_shift: int  # the search reached this far each way
    reliable: bool  # an interior maximum with mean R^2 >= MIN_R2
    rival: tuple[int, int, float] | None = None  # (rows, cols, R^2): a placement a whole LR pixel or more
    # away that fits within MIN_GAIN as well, i.e. the data cannot tell the two apart

    @property
    def needed(self) -> bool:
        """A reliable, non-zero offset: the LST should be moved."""
        return self.reliable and (self.rows, self.cols) != (0, 0)

    def describe(self, res: float, unit: str, onto: str) -> str:
        """The outcome as one line (tags, messages); ``res`` is the guidance pixel size in
        ``unit``, ``onto`` names the guidance (``the MII``)."""
        offset = _in_words(self.cols * res, self.rows * res, unit)
        if self.needed:
            found = f"LST moved {offset} onto {onto} (R² {self.r2:.2f} against {self.r2_as_delivered:.2f} as delivered)"
        elif self.reliable:
            found = f"aligned as delivered (R² {self.r2:.2f})"
        elif self.at_edge:
            return (f"at the edge of the search, kept as delivered (best offset {offset}, R² {self.r2:.2f}, "
                    f"searched ±{self.max_shift * res:g} {unit}): the LST may be off by more than was searched")
        else:
            return (f"not measurable, kept as delivered (best offset {offset}, R² {self.r2:.2f}, "
                    f"searched ±{self.max_shift * res:g} {unit})")
        if self.rival is None:
            return found
        rows, cols, r2 = self.rival
        away = _in_words((cols - self.cols) * res, (rows - self.rows) * res, unit)
        return f"{found}, but {away} of that fits as well (R² {r2:.2f}): the placement is uncertain by that much"

    @property
    def at_edge(self) -> bool:
        """The guidance explains the LST (R^2 >= MIN_R2) best at the edge of the search: the true
        offset may lie beyond it, so a wider search (not a better guidance) is what helps."""
        edge = max(abs(self.rows), abs(self.cols)) == self.max_shift
        return not self.reliable and edge and self.r2 >= MIN_R2

    @property
    def uncertain(self) -> bool:
        """A placement was taken, but another a whole LR pixel or more away fits as well."""
        return self.reliable and self.rival is not None


def _in_words(east: float, south: float, unit: str) -> str:
    """``40 m west and 20 m north`` for a move of (-40, -20) east and south."""
    parts = [f"{abs(east):g} {unit} {'east' if east > 0 else 'west'}" if east else "",
             f"{abs(south):g} {unit} {'south' if south > 0 else 'north'}" if south else ""]
    return " and ".join(p for p in parts if p) or f"0 {unit}"


def estimate_shift(pairs: Sequence[tuple[np.ndarray, np.ndarray]], ratio: int, max_shift: int) -> ShiftEstimate:
    """Find the offset of the LST against the guidance from ``(lst, guidance)`` crops: ``lst``
    (H, W; NaN nodata) and ``guidance`` (K bands of (H * ratio + 2 * max_shift) x
    (W * ratio + 2 * max_shift) pixels: the crop's footprint on the guidance grid with
    ``max_shift`` pixels of margin on every side; NaN nodata). Crops that say nothing (too few
    valid pixels, a constant LST) are left out of the mean."""
    m = max_shift
    surfaces = [_r2_surface(lst, guidance, ratio, m) for lst, guidance in pairs]
    surfaces = [s for s in surfaces if not np.isnan(s).all()]
    if not surfaces:
        return ShiftEstimate(0, 0, float("nan"), float("nan"), m, False)
    with warnings.catch_warnings():  # shifts no crop could score stay NaN ("mean of empty slice")
        warnings.simplefilter("ignore", RuntimeWarning)
        surface = np.nanmean(np.stack(surfaces), axis=0)
    iy, ix = np.unravel_index(np.nanargmax(surface), surface.shape)
    best, delivered = float(surface[iy, ix]), float(surface[m, m])
    if best - delivered < MIN_GAIN:  # a tie: no evidence the delivered placement is off
        iy, ix, best = m, m, delivered
    interior = 0 < iy < 2 * m and 0 < ix < 2 * m
    return ShiftEstimate(int(iy - m), int(ix - m), best, delivered, m, bool(interior and best >= MIN_R2),
                         _rival(surface, iy, ix, ratio, m))


def _rival(surface: np.ndarray, iy: int, ix: int, ratio: int, m: int) -> tuple[int, int, float] | None:
    """The best placement a whole LR pixel (``ratio`` guidance pixels) or more from ``(iy, ix)``
    whose R^2 is within MIN_GAIN of it (offsets as ``(rows, cols)``), or None."""
    dy, dx = np.meshgrid(np.arange(surface.shape[0]) - iy, np.arange(surface.shape[1]) - ix, indexing="ij")
    far = np.where(np.maximum(abs(dy), abs(dx)) >= ratio, surface, np.nan)
    if np.isnan(far).all():
        return None
    ry, rx = np.unravel_index(np.nanargmax(far), far.shape)
    if far[ry, rx] < surface[iy, ix] - MIN_GAIN:
        return None
    return int(ry - m), int(rx - m), float(far[ry, rx])


def _r2_surface(lst: np.ndarray, guidance: np.ndarray, ratio: int, m: int) -> np.ndarray:
    """R^2 of ``lst`` on the guidance for every offset (rows, cols) in -m..m."""
    k, rows, cols = guidance.shape
    h, w = lst.shape
    if (rows, cols) != (h * ratio + 2 * m, w * ratio + 2 * m):
        raise ValueError(f"guidance of {rows}x{cols} does not frame a {h}x{w} LST at ratio {ratio} with margin {m}")
    phases = _phase_means(guidance, ratio)
    step = max(1, int(np.ceil(np.sqrt(h * w / MAX_SAMPLES))))  # every step-th row and column
    target = lst[::step, ::step].ravel()
    surface = np.full((2 * m + 1, 2 * m + 1), np.nan)
    for dy in range(-m, m + 1):
        py, qy = divmod(m + dy, ratio)[::-1]
        for dx in range(-m, m + 1):
            px, qx = divmod(m + dx, ratio)[::-1]
            features = phases[py][px][:, qy:qy + h:step, qx:qx + w:step].reshape(k, -1)
            surface[dy + m, dx + m] = _r2(target, features)
    return surface


def _phase_means(guidance: np.ndarray, ratio: int) -> list[list[np.ndarray]]:
    """``[py][px]``: the guidance block-averaged over ratio x ratio blocks starting at row py,
    column px (NaN where a block has nodata), so every offset is a slice of one of them."""
    k, rows, cols = guidance.shape
    out = []
    for py in range(ratio):
        row = []
        n_r = (rows - py) // ratio
        for px in range(ratio):
            n_c = (cols - px) // ratio
            block = guidance[:, py:py + n_r * ratio, px:px + n_c * ratio]
            row.append(block.reshape(k, n_r, ratio, n_c, ratio).mean(axis=(2, 4)))
        out.append(row)
    return out


def _r2(target: np.ndarray, features: np.ndarray) -> float:
    """R^2 of a least-squares fit of ``target`` (N; NaN nodata) on ``features`` (K, N) plus an
    intercept, by the normal equations (K is small, N large)."""
    ok = np.isfinite(target) & np.isfinite(features).all(axis=0)
    if ok.sum() < 10 * (features.shape[0] + 1):
        return float("nan")
    y = target[ok] - target[ok].mean()
    x = features[:, ok]
    x = x - x.mean(axis=1, keepdims=True)
    variance = float(y @ y)
    if variance == 0:
        return float("nan")
    gram, moment = x @ x.T, x @ y
    coef = np.linalg.lstsq(gram, moment, rcond=None)[0]  # a singular Gram (constant bands) is fine
    return float(coef @ moment) / variance
