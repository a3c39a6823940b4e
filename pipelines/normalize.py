"""Z-score normalisation of LST and guidance with statistics from the training split.

Works on NumPy arrays and torch tensors alike. ``stats`` is anything with ``lst_mean``,
``lst_std``, ``band_mean`` and ``band_std`` attributes: a prepared dataset's ``NormStats`` or a
:class:`~pipelines.checkpoint.Checkpoint`. Guidance bands are on axis -3 (``(..., K, H, W)``).
"""

from __future__ import annotations

from typing import Protocol, TypeVar

import numpy as np
import torch

Array = TypeVar("Array", np.ndarray, torch.Tensor)


class HasStats(Protocol):
    lst_mean: float
    lst_std: float
    band_mean: list[float]
    band_std: list[float]


def band_vector(values: list[float], like: Array) -> Array:
    """``values`` shaped ``(K, 1, 1)`` in the type, dtype and device of ``like``."""
    if isinstance(like, torch.Tensor):
        return torch.as_tensor(values, dtype=like.dtype, device=like.device).view(-1, 1, 1)
    return np.asarray(values, dtype=like.dtype).reshape(-1, 1, 1)


def normalize_lst(lst: Array, stats: HasStats) -> Array:
    """Kelvin -> z-score."""
    return (lst - stats.lst_mean) / stats.lst_std


def denormalize_lst(lst: Array, stats: HasStats) -> Array:
    """z-score -> Kelvin."""
    return lst * stats.lst_std + stats.lst_mean


def normalize_guidance(guidance: Array, stats: HasStats) -> Array:
    """Each band (axis -3) to its own z-score."""
    if guidance.shape[-3] != len(stats.band_mean):
        raise ValueError(
            f"guidance has {guidance.shape[-3]} bands, the statistics {len(stats.band_mean)}"
        )
    return (guidance - band_vector(stats.band_mean, guidance)) / band_vector(
        stats.band_std, guidance
    )


def fill_nodata(values: Array, fill: float = 0.0) -> Array:
    """Replace NaN/inf by ``fill`` (0 is the training mean once normalised) for the network."""
    if isinstance(values, torch.Tensor):
        return torch.where(torch.isfinite(values), values, torch.full_like(values, fill))
    return np.where(np.isfinite(values), values, np.asarray(fill, dtype=values.dtype))


def network_inputs(lr: Array, guidance: Array, stats: HasStats) -> tuple[Array, Array]:
    """Normalised, NaN-filled LR LST and guidance, ready for a model's ``forward``."""
    return (
        fill_nodata(normalize_lst(lr, stats)),
        fill_nodata(normalize_guidance(guidance, stats)),
    )
