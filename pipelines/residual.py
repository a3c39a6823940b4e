"""Residual correction: make a fine LST aggregate back to the coarse LST it was sharpened from.

TsHARP and DMS apply a relation learnt between guidance and LST to the fine guidance, then add
the coarse residual ``lr - block_mean(hr)`` back so the fine map reproduces the observation.
Two ways of spreading the residual over an LR pixel's ``s x s`` fine pixels:

- ``block``: the residual is constant over the LR pixel (exact, but shows the LR grid);
- ``smooth``: the residual is upsampled with a cubic spline a few times (each pass adds the
  spline of what is still missing), then the small remainder is added block-constant so the
  result is exact. Edges of LR pixels do not show where the residual field is smooth.

``space="radiance"`` does the same on ``T^4`` (emitted energy, Stefan-Boltzmann), which is
what a coarser thermal sensor integrates; ``"kelvin"`` matches an area-mean degradation.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from pipelines.degrade import block_mean
from pipelines.fill import fill_nearest

RESIDUAL_MODES = ("smooth", "block", "none")
SMOOTH_PASSES = 3


def upsample_smooth(values: np.ndarray, scale: int) -> np.ndarray:
    """Cubic-spline upsampling by ``scale`` with pixel-area alignment.

    NaN (blocks with no residual: LR nodata, or no valid fine pixel) takes the nearest valid
    value first. Read as 0 instead, a residual of a few kelvin next to an LR hole made the
    spline ring across the neighbouring blocks; the nearest value continues the field there.
    """
    filled = fill_nearest(values)
    if filled is None:
        return np.zeros((values.shape[0] * scale, values.shape[1] * scale))
    return ndimage.zoom(filled, scale, order=3, mode="nearest", grid_mode=True)


def block_residual(hr: np.ndarray, lr: np.ndarray, scale: int) -> np.ndarray:
    """``lr - block_mean(hr)`` over the valid fine pixels of each block; NaN where undefined."""
    return lr.astype(np.float64) - block_mean(hr, scale, propagate_nodata=False)


def _spread(hr: np.ndarray, lr: np.ndarray, scale: int, mode: str) -> np.ndarray:
    out = hr.astype(np.float64)
    if mode == "smooth":
        for _ in range(SMOOTH_PASSES):
            out = out + upsample_smooth(block_residual(out, lr, scale), scale)
    remainder = np.nan_to_num(block_residual(out, lr, scale))
    out = out + _repeat(remainder, scale)
    return np.where(_repeat(np.isfinite(lr), scale), out, hr)


def _repeat(values: np.ndarray, scale: int) -> np.ndarray:
    return np.repeat(np.repeat(values, scale, axis=0), scale, axis=1)


def correct_residual(hr: np.ndarray, lr: np.ndarray, scale: int, *, mode: str = "smooth",
                     space: str = "kelvin") -> np.ndarray:
    """``hr`` (h*s, w*s) corrected so each block's mean (in ``space``) equals ``lr`` (h, w).

    NaN stays NaN in ``hr``; blocks whose LR value is NaN are left uncorrected.
    """
    if mode not in RESIDUAL_MODES:
        raise ValueError(f"unknown residual mode {mode!r}; use one of {RESIDUAL_MODES}")
    if space not in ("kelvin", "radiance"):
        raise ValueError(f"unknown space {space!r}; use kelvin or radiance")
    rows, cols = lr.shape
    if hr.shape != (rows * scale, cols * scale):
        raise ValueError(f"hr shape {hr.shape} is not lr shape {lr.shape} x {scale}")
    if mode == "none":
        return hr.astype(np.float32)
    if space == "kelvin":
        out = _spread(hr, lr, scale, mode)
    else:
        fourth = _spread(hr.astype(np.float64) ** 4, lr.astype(np.float64) ** 4, scale, mode)
        out = np.sign(fourth) * np.abs(fourth) ** 0.25
    return np.where(np.isfinite(hr), out, np.nan).astype(np.float32)
