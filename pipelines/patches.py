"""Patch grid, nodata filtering and leakage-free train/val/test splits.

Patches are squares of ``patch`` HR pixels laid out every ``stride`` pixels; only whole patches
are kept. Splits never leak: two patches that share a pixel always land in the same split.

Spatial-block split: the map is cut into square blocks on a grid anchored at the first patch
of the first scene (one grid in map coordinates for all scenes, so scenes of the same place on
different dates share blocks); the blocks are shuffled with the seed and dealt to the splits
in proportion to the number of patches centred in them. A patch inside blocks of a single
split joins that split; a patch that straddles blocks of different splits is dropped (and
counted). Two overlapping patches in different splits would need their shared pixels to lie in
a block of both splits, which cannot happen. Context read around a patch (the MTF kernel's)
must also stay out of other splits' blocks: :meth:`BlockSplit.foreign` says which pixels of a
grid touch one.

Scene split: whole scenes are dealt to the splits (for scenes that do not overlap in space).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from pipelines.errors import InputError

SPLITS = ("train", "val", "test")


def parse_ratios(text: str) -> tuple[float, float, float]:
    """``"6:1:3"`` -> ``(0.6, 0.1, 0.3)``; an :class:`InputError` for anything else."""
    parts = text.split(":")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 3 or any(v < 0 or not math.isfinite(v) for v in values) or sum(values) <= 0:
        raise InputError("--split", f"{text!r} is not TRAIN:VAL:TEST", "e.g. --split 6:1:3")
    if values[0] == 0:
        raise InputError("--split", "the train share must be positive", "e.g. --split 6:1:3")
    total = sum(values)
    return (values[0] / total, values[1] / total, values[2] / total)


def patch_starts(length: int, patch: int, stride: int) -> list[int]:
    """Offsets of the whole patches along one axis of ``length`` pixels."""
    if length < patch:
        return []
    return list(range(0, length - patch + 1, stride))


def patch_grid(rows: int, cols: int, patch: int, stride: int) -> list[tuple[int, int]]:
    """``(row_off, col_off)`` of every whole patch, row-major."""
    return [(r, c) for r in patch_starts(rows, patch, stride) for c in patch_starts(cols, patch, stride)]


def count_unit(patch: int, stride: int) -> int:
    """Side of the cells in which nodata is counted: every patch is a whole number of them."""
    return math.gcd(patch, stride)


def patch_nodata_fractions(
    cell_counts: np.ndarray, unit: int, offsets: Sequence[tuple[int, int]], patch: int
) -> np.ndarray:
    """Fraction of nodata pixels in each patch, from nodata counts per ``unit x unit`` cell.

    Counting per cell (a small array even for a huge scene) and summing cells with a 2-D
    cumulative sum keeps this cheap for any number of overlapping patches.
    """
    table = np.zeros((cell_counts.shape[0] + 1, cell_counts.shape[1] + 1), dtype=np.int64)
    table[1:, 1:] = np.cumsum(np.cumsum(cell_counts.astype(np.int64), axis=0), axis=1)
    n = patch // unit
    fractions = np.empty(len(offsets), dtype=np.float64)
    for k, (row, col) in enumerate(offsets):
        r0, c0 = row // unit, col // unit
        total = table[r0 + n, c0 + n] - table[r0, c0 + n] - table[r0 + n, c0] + table[r0, c0]
        fractions[k] = total / float(patch * patch)
    return fractions


def deal(
    items: Sequence[Hashable],
    ratios: Sequence[float],
    seed: int,
    weights: Mapping[Hashable, float] | None = None,
) -> dict[Hashable, str]:
    """Shuffle ``items`` with ``seed`` and deal them to train/val/test in proportion to weight.

    Items are laid end to end (each as long as its weight, 1 by default) in shuffled order; an
    item goes to the split whose share of the total length contains its midpoint. ``items``
    are sorted first, so the result depends on the set of items and the seed only.
    """
    ordered = sorted(items, key=repr)
    random.Random(seed).shuffle(ordered)
    lengths = [1.0 if weights is None else float(weights.get(item, 0.0)) for item in ordered]
    total = sum(lengths)
    bounds = np.cumsum(ratios) * total
    result: dict[Hashable, str] = {}
    position = 0.0
    for item, length in zip(ordered, lengths):
        split = int(np.searchsorted(bounds, position + length / 2, side="right"))
        result[item] = SPLITS[min(split, len(SPLITS) - 1)]
        position += length
    _fill_empty_splits(result, dict(zip(ordered, lengths)), ratios)
    return result


def _fill_empty_splits(
    result: dict[Hashable, str], lengths: Mapping[Hashable, float], ratios: Sequence[float]
) -> None:
    """Give each split with a positive share at least one weighted item, when there are enough.

    With few, heavy items a small share (val at 10 %) can fall inside one item's length and get
    nothing; it then takes the lightest weighted item of the split that has the most of them.
    """
    weighted = [item for item in result if lengths[item] > 0]
    wanted = [name for name, share in zip(SPLITS, ratios) if share > 0]
    if len(weighted) < len(wanted):
        return
    for name in wanted:
        if any(result[item] == name for item in weighted):
            continue
        donor = max(wanted, key=lambda n: sum(result[i] == n for i in weighted))
        lightest = min((i for i in weighted if result[i] == donor), key=lambda i: lengths[i])
        result[lightest] = name


@dataclass(frozen=True)
class Footprint:
    """Where a patch lies on the map: CRS key and bounds in CRS units."""

    crs: str
    left: float
    bottom: float
    right: float
    top: float


def _cell_span(low: np.ndarray, high: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
    """First and last block index along one axis of spans ``[low, high]`` (arrays or scalars).

    A tiny inset keeps a span that ends exactly on a block edge out of the next block.
    """
    inset = 1e-6 * size
    return np.floor((low + inset) / size).astype(np.int64), np.floor((high - inset) / size).astype(np.int64)


def _cells(low: float, high: float, size: float) -> range:
    first, last = _cell_span(np.float64(low), np.float64(high), size)
    return range(int(first), int(last) + 1)


def blocks_of(
    footprint: Footprint, block_size: float, anchor: tuple[float, float]
) -> list[tuple[str, int, int]]:
    """The blocks (``block_size`` CRS units square, corner at ``anchor`` = (x, y)) a footprint touches."""
    x0, y0 = anchor
    return [
        (footprint.crs, bx, by)
        for bx in _cells(footprint.left - x0, footprint.right - x0, block_size)
        for by in _cells(footprint.bottom - y0, footprint.top - y0, block_size)
    ]


def _centre_block(f: Footprint, block_size: float, anchor: tuple[float, float]) -> tuple[str, int, int]:
    x, y = (f.left + f.right) / 2 - anchor[0], (f.bottom + f.top) / 2 - anchor[1]
    return f.crs, math.floor(x / block_size), math.floor(y / block_size)


@dataclass(frozen=True)
class BlockSplit:
    """The spatial blocks (``size`` CRS units square, grid corner at ``anchor`` = (x, y)) and the
    split each block touched by a patch was dealt to; blocks no patch touches have none."""

    anchor: tuple[float, float]
    size: float
    splits: Mapping[tuple[str, int, int], str]

    def split_of(self, footprint: Footprint) -> str | None:
        """The split of a patch (``None``: it straddles blocks of different splits)."""
        splits = {self.splits[b] for b in blocks_of(footprint, self.size, self.anchor)}
        return splits.pop() if len(splits) == 1 else None

    def foreign(self, crs: str, x_edges: np.ndarray, y_edges: np.ndarray, split: str) -> np.ndarray:
        """Which pixels of a grid touch a block dealt to a split other than ``split``.

        The grid is given by its pixel edges: ``x_edges`` west to east (columns + 1), ``y_edges``
        north to south (rows + 1). A pixel counts as touching a block as a patch does (same inset),
        so a patch's own pixels never touch a foreign block; blocks of no split are not foreign.
        """
        x0, y0 = self.anchor
        col_first, col_last = _cell_span(x_edges[:-1] - x0, x_edges[1:] - x0, self.size)
        row_first, row_last = _cell_span(y_edges[1:] - y0, y_edges[:-1] - y0, self.size)
        bx = np.arange(col_first.min(), col_last.max() + 1)
        by = np.arange(row_first.min(), row_last.max() + 1)
        bad = np.array([[self.splits.get((crs, int(x), int(y)), split) != split for x in bx] for y in by])
        # Foreign blocks in each pixel's span of blocks, by a 2-D cumulative sum over the blocks.
        table = np.zeros((len(by) + 1, len(bx) + 1), dtype=np.int64)
        table[1:, 1:] = np.cumsum(np.cumsum(bad, axis=0), axis=1)
        r0, r1 = row_first - by[0], row_last - by[0] + 1
        c0, c1 = col_first - bx[0], col_last - bx[0] + 1
        count = (table[np.ix_(r1, c1)] - table[np.ix_(r0, c1)]
                 - table[np.ix_(r1, c0)] + table[np.ix_(r0, c0)])
        return count > 0


def deal_blocks(
    footprints: Sequence[Footprint], block_size: float, ratios: Sequence[float], seed: int
) -> BlockSplit:
    """Deal the blocks the patches touch to the splits (grid anchored at the first patch)."""
    anchor = (footprints[0].left, footprints[0].top)
    touched = {b for f in footprints for b in blocks_of(f, block_size, anchor)}
    # Weight a block by the patches centred in it, so the splits get patches in proportion.
    centred = Counter(_centre_block(f, block_size, anchor) for f in footprints)
    return BlockSplit(anchor, block_size, deal(touched, ratios, seed, centred))


def split_by_blocks(
    footprints: Sequence[Footprint], block_size: float, ratios: Sequence[float], seed: int
) -> list[str | None]:
    """Split of each patch (``None`` = dropped: it straddles blocks of different splits)."""
    blocks = deal_blocks(footprints, block_size, ratios, seed)
    return [blocks.split_of(f) for f in footprints]


def split_by_scene(scenes: Sequence[str], ratios: Sequence[float], seed: int) -> list[str]:
    """Split of each patch when whole scenes go to one split."""
    assignment = deal(set(scenes), ratios, seed)
    return [assignment[s] for s in scenes]
