"""The thermal sensor's point-spread function, estimated from the LR scene alone.

A thermal product is often blurrier than its pixel grid: Landsat 8/9's 30 m ST is resampled
from the 100 m TIRS band, so its "fine" LST varies much less below 100 m than the 30 m
reflectance guidance does. A sharpener that writes the guidance's detail at full strength then
adds detail the sensor cannot see (measured on the Muenster dates: TsHARP at 120 m -> 30 m was
three times worse than bicubic without this, and better than it with it).

The PSF is modelled as an isotropic Gaussian of ``sigma`` fine pixels. It is identifiable from
the LR scene: the LR pixels are explained best by the guidance blurred with the sensor's own
PSF before area-averaging. :func:`estimate_psf` fits LST ~ linear(block mean of the blurred
guidance) for a grid of ``sigma`` and keeps the one with the lowest cross-validated error over
spatial blocks of LR pixels. No fine truth is used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipelines.degrade import block_mean
from pipelines.fill import fill_bands

# Candidate sigmas as fractions of the scale (a PSF wider than 1.5 LR pixels is not a
# downscaling problem any more).
SIGMA_FRACTIONS = (0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 1.0, 1.25, 1.5)
CV_FOLDS = 5
CV_BLOCK = 8  # LR pixels per side of a cross-validation block
TRUNCATE = 3.0


def blur(stack: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of each band of ``(..., H, W)`` (NaN filled by the nearest valid value)."""
    if sigma <= 0:
        return stack
    values = stack.astype(np.float32)
    lead = values.shape[:-2]
    flat = values.reshape(-1, *values.shape[-2:])
    if np.isnan(flat).any():
        filled = fill_bands(flat)
        flat = flat if filled is None else filled
    out = np.stack([ndimage.gaussian_filter(band, sigma, mode="nearest", truncate=TRUNCATE)
                    for band in flat])
    return out.reshape(*lead, *values.shape[-2:]).astype(np.float32)


@dataclass
class PsfEstimate:
    """The chosen sigma (fine pixels) and the cross-validated LR RMSE of every sigma tried."""

    sigma: float
    curve: dict[float, float]
    seconds: float = 0.0

    def summary(self) -> dict[str, object]:
        return {"sigma_px": self.sigma, "estimated": bool(self.curve),
                "seconds": round(self.seconds, 2),
                "cv_rmse": {f"{k:g}": round(v, 4) for k, v in self.curve.items()}}


def _cv_rmse(features: np.ndarray, target: np.ndarray, folds: np.ndarray) -> float:
    """Pooled out-of-fold RMSE of ordinary least squares (with intercept)."""
    design = np.column_stack([features, np.ones(len(target))])
    squared = 0.0
    for fold in np.unique(folds):
        train, test = folds != fold, folds == fold
        coef, *_ = np.linalg.lstsq(design[train], target[train], rcond=None)
        squared += float(((design[test] @ coef - target[test]) ** 2).sum())
    return float(np.sqrt(squared / len(target)))


def estimate_psf(lr: np.ndarray, guidance: np.ndarray, scale: int, seed: int = 0) -> PsfEstimate:
    """Sigma (fine pixels) of the Gaussian PSF that best explains ``lr`` from ``guidance``.

    ``lr`` (h, w) Kelvin, ``guidance`` (K, h*s, w*s); NaN is nodata. Folds are spatial blocks
    of ``CV_BLOCK`` LR pixels assigned to ``CV_FOLDS`` folds by a seeded permutation.
    """
    z = _standardise(guidance)
    mask = np.isfinite(lr) & np.isfinite(block_mean(z, scale)).all(axis=0)
    rows, cols = np.nonzero(mask)
    if rows.size < 4 * CV_FOLDS * (z.shape[0] + 1):
        return PsfEstimate(0.0, {})
    blocks = (rows // CV_BLOCK) * (lr.shape[1] // CV_BLOCK + 1) + cols // CV_BLOCK
    ids, inverse = np.unique(blocks, return_inverse=True)
    order = np.random.default_rng([seed, 7]).permutation(len(ids))
    folds = order[inverse] % min(CV_FOLDS, len(ids))
    target = lr[mask].astype(np.float64)
    curve: dict[float, float] = {}
    for fraction in SIGMA_FRACTIONS:
        sigma = fraction * scale
        means = block_mean(blur(z, sigma), scale)
        curve[sigma] = _cv_rmse(means[:, rows, cols].T.astype(np.float64), target, folds)
    best = min(curve, key=curve.__getitem__)
    return PsfEstimate(float(best), curve)


def _standardise(guidance: np.ndarray) -> np.ndarray:
    flat = guidance.reshape(guidance.shape[0], -1).astype(np.float64)
    mean = np.nanmean(flat, axis=1)
    std = np.nanstd(flat, axis=1)
    std = np.where(std > 1e-6, std, 1.0)
    return ((guidance - mean[:, None, None]) / std[:, None, None]).astype(np.float32)
