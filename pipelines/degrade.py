"""Wald-protocol degradation: fine rasters to coarse ones, pure functions on numpy arrays.

Every function takes an array whose last two axes are (rows, cols) and an integer factor ``s``;
the coarse pixel ``(i, j)`` covers the fine pixels ``[i*s, (i+1)*s) x [j*s, (j+1)*s)``, so the
coarse grid nests exactly in the fine one. NaN is nodata throughout, and so is a masked pixel
of a numpy masked array (rasterio's ``read(masked=True)``; :func:`nan_filled`). By default a coarse pixel
is nodata as soon as any of its fine pixels is (``propagate_nodata=True``); otherwise it is
computed from the valid fine pixels and is nodata only when none is valid.

- :func:`block_mean` - exact area average (the mean of each s x s block equals its coarse
  pixel). Used for LST in Kelvin and for guidance reflectances.
- :func:`mtf_degrade` - Gaussian low-pass matched to the sensor MTF (gain 0.3 at the coarse
  Nyquist frequency) centred on each coarse pixel, then decimation. Closer to a real sensor
  than the block mean, which is sharper and flatters downscaling scores.
- :func:`degrade_guidance` - block mean of a guidance stack with NDVI, NDWI and NDMVI
  recomputed from the averaged reflectances.
- :func:`degrade` - either of the two on LST (by default ``area``), aggregated in Kelvin (the
  default) or in emitted radiance
  (``mean(T^4) ** 0.25``, Stefan-Boltzmann, broadband): 290 K and 310 K average to 300.00 K
  in Kelvin but 300.50 K in radiance, which is closer to what a coarser thermal sensor sees.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from pipelines import indices as spectral
from pipelines.lst_values import PLAUSIBLE_KELVIN

MTF_GAIN_AT_NYQUIST = 0.3
_KERNEL_TRUNCATE = 4.0  # Gaussian support, in standard deviations


def _check_factor(shape: tuple[int, ...], factor: int) -> tuple[int, int]:
    if int(factor) != factor or factor < 1:
        raise ValueError(f"degradation factor must be a positive integer, got {factor}")
    rows, cols = shape[-2:]
    if rows % factor or cols % factor:
        raise ValueError(f"a {rows}x{cols} raster cannot be split into {factor}x{factor} blocks")
    return rows // factor, cols // factor


def nan_filled(values: np.ndarray) -> np.ndarray:
    """``values`` as float64 with NaN where nodata: a masked array's masked pixels too, which
    ``np.asarray`` would turn into its fill value (-9999 K averaged in as a temperature)."""
    if isinstance(values, np.ma.MaskedArray):
        return values.astype(np.float64).filled(np.nan)
    return np.asarray(values, dtype=np.float64)


def _blocks(values: np.ndarray, factor: int) -> np.ndarray:
    """View ``(..., R, C)`` as ``(..., R/s, C/s, s*s)``: one row of fine pixels per block."""
    rows, cols = _check_factor(values.shape, factor)
    lead = values.shape[:-2]
    blocks = values.reshape(*lead, rows, factor, cols, factor)
    blocks = np.moveaxis(blocks, -3, -2)
    return blocks.reshape(*lead, rows, cols, factor * factor)


def _mean_of_blocks(values: np.ndarray, factor: int, propagate_nodata: bool) -> np.ndarray:
    blocks = _blocks(nan_filled(values), factor)
    valid = np.isfinite(blocks)
    count = valid.sum(axis=-1)
    total = np.where(valid, blocks, 0.0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
    nodata = count < factor * factor if propagate_nodata else count == 0
    return np.where(nodata, np.nan, mean)


def block_mean(values: np.ndarray, factor: int, *, propagate_nodata: bool = True) -> np.ndarray:
    """Exact s x s block mean of the last two axes (float64 sums, float32 result)."""
    return _mean_of_blocks(values, factor, propagate_nodata).astype(np.float32)


def mtf_sigma(factor: int, gain: float = MTF_GAIN_AT_NYQUIST) -> float:
    """Gaussian standard deviation (fine pixels) whose MTF equals ``gain`` at the coarse Nyquist.

    A Gaussian of standard deviation sigma has MTF ``exp(-2 pi^2 sigma^2 f^2)``; at the coarse
    Nyquist ``f = 1 / (2 s)`` this gives ``sigma = s * sqrt(-2 ln gain) / pi`` (about 1.48 fine
    pixels for s = 3).
    """
    return factor * math.sqrt(-2.0 * math.log(gain)) / math.pi


def mtf_margin(factor: int, gain: float = MTF_GAIN_AT_NYQUIST) -> int:
    """Fine pixels of context (a multiple of ``factor``) that the MTF kernel reaches beyond a block."""
    reach = _KERNEL_TRUNCATE * mtf_sigma(factor, gain)
    return int(math.ceil(reach / factor)) * factor


def _gaussian_rows(length: int, factor: int, sigma: float) -> np.ndarray:
    """Matrix ``(length/s, length)``: Gaussian weights of each fine pixel for each coarse pixel.

    The Gaussian is centred on the centre of the coarse pixel (fine coordinate ``(j + 0.5) s``)
    and truncated at four standard deviations plus half a pixel; rows are not normalised here, so missing context
    at the raster edge is handled by the normalised convolution in :func:`mtf_degrade`.
    """
    centres = (np.arange(length // factor) + 0.5) * factor
    fine = np.arange(length) + 0.5
    distance = fine[None, :] - centres[:, None]
    weights = np.exp(-0.5 * (distance / sigma) ** 2)
    weights[np.abs(distance) > _KERNEL_TRUNCATE * sigma + 0.5] = 0.0
    return weights


def mtf_degrade(
    values: np.ndarray,
    factor: int,
    *,
    propagate_nodata: bool = True,
    gain: float = MTF_GAIN_AT_NYQUIST,
) -> np.ndarray:
    """MTF-matched Gaussian low-pass, then decimation by ``factor`` (last two axes).

    Nodata and the raster edge are handled by normalised convolution: the kernel weights of
    the valid fine pixels are renormalised to sum to one. Nodata propagates as for
    :func:`block_mean` (any nodata fine pixel inside the coarse pixel's own block).
    """
    rows, cols = _check_factor(values.shape, factor)
    data = nan_filled(values)
    valid = np.isfinite(data)
    sigma = mtf_sigma(factor, gain)
    ky = _gaussian_rows(data.shape[-2], factor, sigma)
    kx = _gaussian_rows(data.shape[-1], factor, sigma)
    numerator = ky @ np.where(valid, data, 0.0) @ kx.T
    weight = ky @ valid.astype(np.float64) @ kx.T
    with np.errstate(invalid="ignore", divide="ignore"):
        low = numerator / weight
    count = _blocks(valid, factor).sum(axis=-1)
    nodata = count < factor * factor if propagate_nodata else count == 0
    return np.where(nodata | (weight <= 0), np.nan, low).astype(np.float32)


DEGRADERS = {"area": block_mean, "mtf": mtf_degrade}


def degrade(
    values: np.ndarray,
    factor: int,
    *,
    method: str = "area",
    aggregate: str = "kelvin",
    propagate_nodata: bool = True,
) -> np.ndarray:
    """Degrade LST by ``factor`` with ``method`` ``area`` or ``mtf``.

    The defaults, ``method="area"`` and ``aggregate="kelvin"``, are the exact block mean of the
    temperatures, kept so that a call without them gives what it always gave. They are not the
    sensor-like Wald pairs ``groklst prepare`` makes by default (``--degrade mtf --aggregate
    radiance``, :class:`pipelines.prepare.PrepareOptions`): pass ``method="mtf",
    aggregate="radiance"`` for those; a block mean is sharper than a sensor and flatters scores.

    ``aggregate="radiance"`` applies the method to ``T^4`` and converts back, so the coarse
    pixel conserves emitted energy instead of mean temperature; it needs Kelvin (a ValueError
    otherwise: -10 degC to the fourth power counts as +10 degC).
    """
    if method not in DEGRADERS:
        raise ValueError(f"unknown degradation {method!r}; use one of {sorted(DEGRADERS)}")
    if aggregate not in ("kelvin", "radiance"):
        raise ValueError(f"unknown aggregation {aggregate!r}; use kelvin or radiance")
    low_pass = DEGRADERS[method]
    if aggregate == "kelvin":
        return low_pass(values, factor, propagate_nodata=propagate_nodata)
    fourth = _kelvin(nan_filled(values)) ** 4
    coarse = low_pass(fourth, factor, propagate_nodata=propagate_nodata).astype(np.float64)
    return (coarse**0.25).astype(np.float32)


def _kelvin(values: np.ndarray) -> np.ndarray:
    """``values``, refused unless they can be Kelvin (none below the plausible LST range): the
    fourth power of Celsius makes -10 and +10 degC the same radiance."""
    finite = values[np.isfinite(values)]
    lowest = PLAUSIBLE_KELVIN[0]
    if finite.size and finite.min() < lowest:
        raise ValueError(f"radiance aggregation needs LST in Kelvin, but the values go down to {finite.min():g}, "
                         f"below {lowest:g} K (Celsius?); convert them to Kelvin first, or aggregate='kelvin'")
    return values


def degrade_guidance(
    guidance: np.ndarray,
    factor: int,
    bands: Sequence[str],
    ndmvi_minima: tuple[float, float] | None = None,
) -> np.ndarray:
    """Area-average a guidance stack ``(K, R, C)`` and recompute its spectral indices.

    An index is not linear in its bands, so the mean of 10 m NDVI values is not the NDVI of
    the 30 m pixel: NDVI, NDWI and NDMVI (with the scene's (red, NIR) minima on the coarse
    grid) are recomputed from the averaged reflectances (:mod:`pipelines.indices`), which is
    what a coarser sensor would see. An index whose bands are absent, or an NDMVI without
    minima, stays the block mean.
    """
    averaged = block_mean(guidance, factor)
    where = {name: i for i, name in enumerate(bands)}
    out = averaged.copy()

    def band(name: str) -> np.ndarray:
        return averaged[where[name]]

    if {"ndvi", "red", "nir"} <= where.keys():
        out[where["ndvi"]] = spectral.ndvi(band("red"), band("nir"))
    if {"ndwi", "green", "nir"} <= where.keys():
        out[where["ndwi"]] = spectral.ndwi(band("green"), band("nir"))
    if {"ndmvi", "red", "nir"} <= where.keys() and ndmvi_minima is not None:
        out[where["ndmvi"]] = spectral.ndmvi(
            band("red"), band("nir"), red_min=ndmvi_minima[0], nir_min=ndmvi_minima[1]
        )
    return out
