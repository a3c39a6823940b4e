"""What the trainer reads: any data source with splits, patches and statistics.

Data order is a pure function of the seed and the sample position: epoch ``e`` visits the
training patches in the permutation drawn from ``(seed, e)``, and sample ``p`` (counted over
the whole run) gets its crop and flip from a generator seeded with ``(seed, p)``. A run can
therefore be resumed from its iteration count alone, and ``N`` distributed ranks that split
each global batch between them (like ``DistributedSampler``) see the same samples as one
process with an ``N`` times larger batch.

Each sample is read as ``downscale`` reads a tile and ``evaluate`` a patch: LR LST and guidance
nodata filled from the nearest valid pixel, and the HR pixels ``downscale`` writes no value for
(their LR pixel or guidance is nodata) turned into NaN targets, which the loss leaves out.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from pipelines.augment import augment
from pipelines.normalize import HasStats, network_inputs


class DataSource(Protocol):
    """The dataset protocol (implemented by :class:`pipelines.dataset.PreparedDataset`)."""

    bands: list[str]

    @property
    def stats(self) -> HasStats: ...

    def indices(self, split: str) -> list[int]: ...

    def read(self, index: int, scale: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


def sample_index(train: list[int], seed: int, position: int) -> int:
    """The patch used at global sample ``position`` (seeded permutation per epoch)."""
    epoch, offset = divmod(position, len(train))
    order = np.random.default_rng([seed, 0, epoch]).permutation(len(train))
    return train[int(order[offset])]


def batch_positions(iteration: int, batch_size: int, rank: int, world_size: int) -> list[int]:
    """Global sample positions of this rank's share of the batch at ``iteration`` (0-based)."""
    start = (iteration * world_size + rank) * batch_size
    return list(range(start, start + batch_size))


def as_downscale_reads(
    lr: np.ndarray, guidance: np.ndarray, hr: np.ndarray, scale: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A patch as ``downscale`` reads it (:class:`~pipelines.evaluate.PatchInputs`): LR and
    guidance filled from the nearest valid pixel, HR NaN where ``downscale`` writes nothing.

    So the network trains on the inputs it gets at inference and is not asked for pixels it is
    never used for. A patch ``downscale`` writes nothing of (all-nodata LR or guidance band)
    keeps its inputs (the mean fill of :func:`network_inputs`) and has no target left.
    """
    from pipelines.evaluate import PatchInputs  # evaluate imports this module: import when used

    patch = PatchInputs.of(lr, guidance, scale)
    if patch is None:
        return lr, guidance, np.full_like(hr, np.nan)
    if patch.holes.any():
        hr = np.where(patch.holes, np.nan, hr)
    return patch.lr, patch.guidance, hr


def load_batch(
    source: DataSource,
    train: list[int],
    positions: list[int],
    *,
    scale: int,
    crop: int,
    seed: int,
    stats: HasStats,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(lr (B,1,h,w), guidance (B,K,H,W))`` normalised without NaN, and HR ``(B,1,H,W)`` in K.

    Each crop is filled as ``downscale`` fills a tile of its size (:func:`as_downscale_reads`):
    on the crop, not the whole patch, since the fill's cost grows with the area. HR keeps its
    NaN and gets NaN under LR and guidance nodata: the loss is computed on valid targets only.
    """
    lrs, guids, hrs = [], [], []
    for position in positions:
        lr, guidance, hr = source.read(sample_index(train, seed, position), scale)
        rng = np.random.default_rng([seed, 1, position])
        lr, guidance, hr = as_downscale_reads(*augment(lr, guidance, hr, scale, crop, rng), scale)
        lr_n, guidance_n = network_inputs(lr, guidance, stats)
        lrs.append(lr_n[None])
        guids.append(guidance_n)
        hrs.append(hr[None])
    return (
        np.stack(lrs).astype(np.float32),
        np.stack(guids).astype(np.float32),
        np.stack(hrs).astype(np.float32),
    )
