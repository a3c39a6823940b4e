"""Energy conservation: make each LR cell's downscaled pixels aggregate back to the LR value.

Thermal-sharpening users expect the fine LST to reproduce the coarse observation when
aggregated in radiance space (T^4, Stefan-Boltzmann), as pyDMS's residual correction does.
Here each s x s block is scaled in T^4 so that mean(T^4)^(1/4) equals its LR pixel exactly:
``T' = T * (T_lr^4 / mean(T^4))^(1/4)``. Relative contrasts inside a block are kept.

That block-wise factor shows the LR grid where the correction varies between neighbours. The
``smooth`` spread (:func:`spread_smooth`) first spreads each tile's residual with a spline,
so most of the correction is smooth and the exact block factor afterwards is close to 1.
"""

from __future__ import annotations

import warnings

import numpy as np

CONSERVE_SPREADS = ("block", "smooth")


def conserve_blocks(hr: np.ndarray, lr: np.ndarray, scale: int) -> np.ndarray:
    """Correct ``hr`` (rows*scale, cols*scale), Kelvin, so each block matches ``lr`` (rows, cols).

    Blocks whose LR value is NaN, or that have no valid HR pixel, are left as they are.
    """
    rows, cols = lr.shape
    if hr.shape != (rows * scale, cols * scale):
        raise ValueError(f"hr shape {hr.shape} is not lr shape {lr.shape} x {scale}")
    hr64 = hr.astype(np.float64)
    blocks = hr64.reshape(rows, scale, cols, scale)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks: factor 1 below
        mean_rad = np.nanmean(blocks**4, axis=(1, 3))
    factor = (lr.astype(np.float64) ** 4 / mean_rad) ** 0.25
    factor = np.where(np.isfinite(factor), factor, 1.0)
    corrected = blocks * factor[:, None, :, None]
    return corrected.reshape(hr.shape).astype(np.float32)


def spread_smooth(hr: np.ndarray, lr: np.ndarray, scale: int) -> np.ndarray:
    """``hr`` (NaN where invalid) with its residual to ``lr`` spread smoothly in T^4.

    For one tile before blending: its overlap halo gives the spline the neighbouring LR
    pixels, so the blended mosaic carries no seam. NaN stays NaN. scipy loads only here.
    """
    from pipelines.residual import correct_residual

    return correct_residual(hr, lr, scale, mode="smooth", space="radiance")
