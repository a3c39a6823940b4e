"""What the trainer reads: any data source with splits, patches and statistics.

Data order is a pure function of the seed and the sample position: epoch ``e`` visits the
training patches in the permutation drawn from ``(seed, e)``, and sample ``p`` (counted over
the whole run) gets its crop and flip from a generator seeded with ``(seed, p)``. A run can
therefore be resumed from its iteration count alone, and ``N`` distributed ranks that split
each global batch between them (like ``DistributedSampler``) see the same samples as one
process with an ``N`` times larger batch.
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

    HR keeps its NaN: the loss is computed on valid target pixels only.
    """
    lrs, guids, hrs = [], [], []
    for position in positions:
        lr, guidance, hr = source.read(sample_index(train, seed, position), scale)
        rng = np.random.default_rng([seed, 1, position])
        lr, guidance, hr = augment(lr, guidance, hr, scale, crop, rng)
        lr_n, guidance_n = network_inputs(lr, guidance, stats)
        lrs.append(lr_n[None])
        guids.append(guidance_n)
        hrs.append(hr[None])
    return (
        np.stack(lrs).astype(np.float32),
        np.stack(guids).astype(np.float32),
        np.stack(hrs).astype(np.float32),
    )
