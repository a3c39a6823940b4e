"""The thermal sensor's point-spread function, estimated from the LR scene alone.

A thermal product is often blurrier than its pixel grid: Landsat 8/9's 30 m ST is resampled
from the 100 m TIRS band, so its "fine" LST varies much less below 100 m than the 30 m
reflectance guidance does. A sharpener that writes the guidance's detail at full strength then
adds detail the sensor cannot see (measured on the Muenster dates: TsHARP at 120 m -> 30 m was
three times worse than bicubic without this, and better than it with it).

The PSF is isotropic, of one of two shapes (:class:`~pipelines.psf_shape.Psf`): a Gaussian, or
a Moffat profile ``(1 + r^2 / alpha^2)^-beta``, whose heavier tail is what real optics,
detectors and resampling give (the Gaussian is its limit for large ``beta``). The shape
matters: the LR pixels see mostly the PSF's spread (its second moment), the fine detail mostly
its core. On the 16 Muenster dates the Moffat shape explained the LR pixels better than every
Gaussian on every date, and the Gaussian that explained them best was about 0.5 px too wide for
the fine detail (tsharp 0.3189 K against the 30 m truth, 0.3111 K with the Moffat chosen the
same way; through ``--fit`` on 8 dates 0.312 against 0.322 K).

The PSF is identifiable from the LR scene: the LR pixels are explained best by the guidance
blurred with the sensor's own PSF before area-averaging. :func:`estimate_psf` fits
LST ~ linear(block mean of the blurred guidance) for a grid of shapes and widths and keeps the
one with the lowest cross-validated error over spatial blocks of LR pixels. No fine truth is used.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy import fft, ndimage, signal

from pipelines.degrade import block_mean
from pipelines.fill import fill_bands
from pipelines.psf_shape import Psf

# Candidate widths as fractions of the scale, in steps of 1/8 (a PSF wider than 1.5 LR pixels
# is not a downscaling problem any more). Wider was tried (to 3 LR pixels): at Landsat's native
# 30 m the LR score kept falling to the widest, but at 120 m -> 30 m against the truth, B11
# guidance, the wider picks (4 of 8 dates) were 0.3-3 mK worse for tsharp and gwr. The steps matter: on the Muenster dates the chosen
# Moffat widths fell between the quarter-scale steps of an earlier grid (3.5 and 4.5 px at x4),
# and the finer grid took gwr from 0.3106 to 0.3094 K against the 30 m truth (0.3009 to 0.3000
# on the other 8 dates); beta 2.5 gave 0.1-0.3 mK of that.
SIGMA_FRACTIONS = tuple(i / 8 for i in range(13))
MOFFAT_BETAS = (2.0, 2.5, 3.0)  # the tails tried beside the Gaussian (smaller beta: heavier tail)
CV_FOLDS = 5
CV_BLOCK = 8  # LR pixels per side of a cross-validation block
TRUNCATE = 3.0  # Gaussian kernels end at 3 sigma
MOFFAT_RADIUS = 4.0  # Moffat kernels end at 4 alpha (94 % of a beta-2 PSF's energy, 99.6 % at beta 3)
SUPERSAMPLE = 5  # Moffat kernels are averaged over 5 x 5 points per pixel (narrow cores)
RCOND = 1e-5  # relative singular-value cut of the cross-validated least squares (float32 inputs)


def moffat_kernel(alpha: float, beta: float) -> np.ndarray:
    """The normalised Moffat kernel, each pixel the mean over ``SUPERSAMPLE^2`` points in it."""
    radius = max(1, math.ceil(MOFFAT_RADIUS * alpha))
    sub = (np.arange(SUPERSAMPLE) + 0.5) / SUPERSAMPLE - 0.5
    axis = (np.arange(-radius, radius + 1)[:, None] + sub[None, :]).ravel()
    r2 = axis[:, None] ** 2 + axis[None, :] ** 2
    fine = (1.0 + r2 / alpha**2) ** -beta
    size = 2 * radius + 1
    kernel = fine.reshape(size, SUPERSAMPLE, size, SUPERSAMPLE).mean(axis=(1, 3))
    return kernel / kernel.sum()


def gaussian_kernel(sigma: float) -> np.ndarray:
    """The normalised 2-D kernel that ``ndimage.gaussian_filter(sigma, truncate=TRUNCATE)`` applies."""
    radius = int(TRUNCATE * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    line = np.exp(-0.5 * (x / sigma) ** 2)
    line /= line.sum()
    return np.outer(line, line)


def kernel(psf: Psf) -> np.ndarray:
    """``psf`` as a normalised odd-sized 2-D kernel (``[[1]]`` for none)."""
    if psf.width <= 0:
        return np.ones((1, 1))
    return gaussian_kernel(psf.width) if psf.beta is None else moffat_kernel(psf.width, psf.beta)


def _filled(stack: np.ndarray) -> np.ndarray:
    """``(N, H, W)`` float32 with NaN replaced by the nearest valid value."""
    if np.isnan(stack).any():
        filled = fill_bands(stack)
        return stack if filled is None else filled
    return stack


def blur(stack: np.ndarray, psf: Psf) -> np.ndarray:
    """``psf`` applied to each band of ``(..., H, W)`` (NaN filled by the nearest valid value,
    edges extended by the nearest pixel)."""
    if psf.width <= 0:
        return stack
    values = stack.astype(np.float32)
    lead = values.shape[:-2]
    flat = _filled(values.reshape(-1, *values.shape[-2:]))
    if psf.beta is None:
        out = np.stack([ndimage.gaussian_filter(band, psf.width, mode="nearest", truncate=TRUNCATE)
                        for band in flat])
    else:
        weights = moffat_kernel(psf.width, psf.beta)
        r = weights.shape[0] // 2
        padded = np.pad(flat, ((0, 0), (r, r), (r, r)), mode="edge")
        out = signal.fftconvolve(padded, weights[None].astype(np.float32), mode="valid", axes=(1, 2))
    return out.reshape(*lead, *values.shape[-2:]).astype(np.float32)


def candidate_psfs(scale: int) -> list[Psf]:
    """What :func:`estimate_psf` tries: none, then every Gaussian and Moffat width."""
    widths = [f * scale for f in SIGMA_FRACTIONS if f > 0]
    return [Psf(0.0), *(Psf(w) for w in widths),
            *(Psf(w, beta) for beta in MOFFAT_BETAS for w in widths)]


@dataclass
class PsfEstimate:
    """The chosen PSF (fine pixels) and the cross-validated LR RMSE of every PSF tried."""

    psf: Psf
    curve: dict[str, float]
    seconds: float = 0.0
    widest: float = 0.0  # the widest width tried, fine pixels (0: not estimated)

    @property
    def at_widest(self) -> bool:
        """Whether the estimate chose the widest width it tried: the sensor's blur may be wider
        still (on Landsat's native 30 m ST it is, by the LR scene's own score)."""
        return self.widest > 0 and self.psf.width >= self.widest

    def summary(self) -> dict[str, object]:
        return {**self.psf.summary(), "estimated": bool(self.curve), "at_widest": self.at_widest,
                "seconds": round(self.seconds, 2),
                "cv_rmse": {k: round(v, 4) for k, v in self.curve.items()}}


def _cv_rmse(features: np.ndarray, target: np.ndarray, folds: np.ndarray) -> float:
    """Pooled out-of-fold RMSE of ordinary least squares (with intercept).

    Solved from each fold's Gram matrix of ``[features, 1, target]``: one pass over the data
    instead of a least-squares solve per fold (the PSF estimate scores 49 PSFs x 5 folds), with
    each fold's squared error read off the same matrices. Directions of the design below
    ``RCOND`` of its largest singular value (eigenvalues of its Gram matrix below ``RCOND**2``)
    are dropped: bands that sum to a constant (class fractions) are collinear with the
    intercept up to float32 rounding, and fitting that rounding moved the scores by 1e-4 K,
    enough to change the chosen PSF on 8 of 16 Landsat dates between two ways of computing the
    same block means.
    """
    centred = target - target.mean()  # the intercept absorbs it; less cancellation below
    augmented = np.column_stack([features, np.ones(len(target)), centred])
    grams = [augmented[folds == fold].T @ augmented[folds == fold] for fold in np.unique(folds)]
    total = np.sum(grams, axis=0)
    squared = 0.0
    for test in grams:
        train = total - test
        coef = _truncated_solve(train[:-1, :-1], train[:-1, -1])
        squared += test[-1, -1] - 2.0 * coef @ test[:-1, -1] + coef @ test[:-1, :-1] @ coef
    return float(np.sqrt(max(squared, 0.0) / len(target)))


def _truncated_solve(gram: np.ndarray, moment: np.ndarray) -> np.ndarray:
    """The minimum-norm least-squares coefficients from the normal equations, without the
    directions whose eigenvalue is below ``RCOND**2`` of the largest (as ``lstsq(rcond=RCOND)``)."""
    values, vectors = np.linalg.eigh(gram)
    keep = values > RCOND**2 * values.max()
    kept = vectors[:, keep]
    return kept @ ((kept.T @ moment) / values[keep])


def estimate_psf(lr: np.ndarray, guidance: np.ndarray, scale: int, seed: int = 0) -> PsfEstimate:
    """The PSF (fine pixels) of :func:`candidate_psfs` that best explains ``lr`` from ``guidance``.

    ``lr`` (h, w) Kelvin, ``guidance`` (K, h*s, w*s); NaN is nodata. Folds are spatial blocks
    of ``CV_BLOCK`` LR pixels assigned to ``CV_FOLDS`` folds by a seeded permutation.
    """
    z = _standardise(guidance)
    mask = np.isfinite(lr) & np.isfinite(block_mean(z, scale)).all(axis=0)
    rows, cols = np.nonzero(mask)
    if rows.size < 4 * CV_FOLDS * (z.shape[0] + 1):
        return PsfEstimate(Psf(0.0), {})
    blocks = (rows // CV_BLOCK) * (lr.shape[1] // CV_BLOCK + 1) + cols // CV_BLOCK
    ids, inverse = np.unique(blocks, return_inverse=True)
    order = np.random.default_rng([seed, 7]).permutation(len(ids))
    folds = order[inverse] % min(CV_FOLDS, len(ids))
    target = lr[mask].astype(np.float64)
    scores: dict[Psf, float] = {}
    psfs = candidate_psfs(scale)
    for psf, means in zip(psfs, _blurred_block_means(z, scale, psfs)):
        scores[psf] = _cv_rmse(means[:, rows, cols].T.astype(np.float64), target, folds)
    best = min(scores, key=scores.__getitem__)
    return PsfEstimate(best, {psf.spec: score for psf, score in scores.items()},
                       widest=max(psf.width for psf in psfs))


def _blurred_block_means(z: np.ndarray, scale: int, psfs: list[Psf]) -> Iterator[np.ndarray]:
    """``block_mean(blur(z, psf), scale)`` for every ``psf``, from one FFT of each band.

    The block mean is the blurred band convolved with the ``scale x scale`` box and read at
    every block's last pixel, so only every ``scale``-th pixel of that convolution is needed.
    It is computed polyphase: the bands, edge-extended by the widest kernel's radius (as
    :func:`blur` extends them by its own), are split once into ``scale^2`` phase images
    (every ``scale``-th pixel from each offset) and transformed; each kernel (PSF convolved
    with the box, shifted to the first block's last pixel) is split the same way, and the
    sum of the phase-wise products of spectra is inverted at the LR size. The same values as
    :func:`blur` then ``block_mean`` to float32 rounding (NaN filled, not propagated), with
    ``scale^2`` times smaller inverse FFTs than a full-size convolution.
    """
    bands = _filled(z.astype(np.float32))
    kernels = [kernel(psf) for psf in psfs]
    pad = max(k.shape[0] // 2 for k in kernels)
    padded = np.pad(bands, ((0, 0), (pad, pad), (pad, pad)), mode="edge")
    shape = tuple(fft.next_fast_len(-(-n // scale), real=True) for n in padded.shape[1:])
    phases = np.zeros((len(bands), scale, scale, *shape), np.float32)
    for i in range(scale):
        for j in range(scale):
            part = padded[:, i::scale, j::scale]
            phases[:, i, j, : part.shape[1], : part.shape[2]] = part
    del padded
    spectra = fft.rfft2(phases.reshape(len(bands), scale**2, *shape), workers=-1)
    del phases
    rows, cols = z.shape[1] // scale, z.shape[2] // scale
    box = np.full((scale, scale), 1.0 / scale**2)
    for weights in kernels:
        first = pad + weights.shape[0] // 2 + scale - 1  # the first block's last pixel
        taps = _kernel_phases(signal.convolve2d(weights, box), first, scale, shape)
        response = fft.rfft2(taps, workers=-1)
        total = spectra[:, 0] * response[0]
        for phase in range(1, scale**2):  # faster than einsum here
            total += spectra[:, phase] * response[phase]
        yield fft.irfft2(total, s=shape, workers=-1)[:, :rows, :cols]


def _kernel_phases(weights: np.ndarray, first: int, scale: int,
                   shape: tuple[int, ...]) -> np.ndarray:
    """``(scale^2, *shape)`` phases ``h_p`` of ``weights`` such that the circular convolution
    of size ``scale * shape`` read at ``first + scale * b`` is ``sum_p phase_p(x) (*) h_p``.

    Kernel tap ``u`` meets band pixel ``scale * a + p`` at output ``u + scale * a + p``, which
    is ``first + scale * b`` for phase ``p = (first - u) mod scale`` and
    ``b - a = (u - first + p) / scale``.
    """
    index = []
    for size, n in zip(weights.shape, shape):
        u = np.arange(size)
        phase = (first - u) % scale
        index.append((phase, (u - first + phase) // scale % n))
    (p1, b1), (p2, b2) = index
    phases = np.zeros((scale, scale, *shape), np.float32)
    phases[p1[:, None], p2[None, :], b1[:, None], b2[None, :]] = weights
    return phases.reshape(scale**2, *shape)


def _standardise(guidance: np.ndarray) -> np.ndarray:
    flat = guidance.reshape(guidance.shape[0], -1).astype(np.float64)
    mean = np.nanmean(flat, axis=1)
    std = np.nanstd(flat, axis=1)
    std = np.where(std > 1e-6, std, 1.0)
    return ((guidance - mean[:, None, None]) / std[:, None, None]).astype(np.float32)
