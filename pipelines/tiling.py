"""Tile layouts on the LR pixel grid and the smooth blending weights that hide their seams.

Tiles all have the same size (so they batch), start on LR pixels, and overlap by at least the
requested overlap. Along each axis the layout uses as few tiles as the requested size allows,
then shrinks them to the smallest equal size that still covers the axis with that overlap, and
spreads them evenly: a 333 px axis with 170 px tiles and 21 px overlap gets three 125 px tiles
(375 px of work) instead of three 170 px tiles (510 px). Each tile's
prediction is weighted by a separable window: on sides shared with a neighbour it stays at a
small floor over the outer quarter of the overlap (where the network saw padding instead of
context), then rises as a raised cosine to 1; on sides at the scene edge it stays 1.
Predictions are normalised by the summed weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

WEIGHT_FLOOR = 1e-3


@dataclass(frozen=True)
class Tile:
    """One tile: LR offsets/sizes relative to the LR window, and which sides have neighbours."""

    row: int
    col: int
    rows: int
    cols: int
    top: bool
    bottom: bool
    left: bool
    right: bool


def tile_starts(length: int, tile: int, overlap: int) -> tuple[int, list[int]]:
    """``(size, starts)`` of the fewest equal tiles of at most ``tile`` px that cover
    ``[0, length)`` with neighbours overlapping by at least ``overlap`` px."""
    if length <= tile:
        return length, [0]
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must be in [0, tile), got {overlap} for tile {tile}")
    count = 1 + math.ceil((length - tile) / (tile - overlap))
    size = math.ceil((length + (count - 1) * overlap) / count)
    gap = length - size  # spread the starts evenly over [0, gap]
    return size, [round(i * gap / (count - 1)) for i in range(count)]


def tile_grid(rows: int, cols: int, tile: int, overlap: int) -> list[list[Tile]]:
    """Tiles covering an LR window of ``rows x cols``, as a list of tile rows."""
    (th, ys), (tw, xs) = tile_starts(rows, tile, overlap), tile_starts(cols, tile, overlap)
    return [
        [
            Tile(y, x, th, tw, i > 0, i < len(ys) - 1, j > 0, j < len(xs) - 1)
            for j, x in enumerate(xs)
        ]
        for i, y in enumerate(ys)
    ]


def ramp(length: int, overlap: int, lead: bool, trail: bool) -> np.ndarray:
    """1-D weights over ``overlap`` px on each side that has a neighbour: floor, then a rise to 1."""
    w = np.ones(length, dtype=np.float64)
    n = min(overlap, length // 2)
    if n > 0:
        margin = n // 4
        rise = np.full(n, WEIGHT_FLOOR)
        width = n - 2 * margin
        rise[margin : n - margin] = np.sin(0.5 * np.pi * (np.arange(width) + 0.5) / width) ** 2
        rise[n - margin :] = 1.0
        rise = np.maximum(rise, WEIGHT_FLOOR)
        if lead:
            w[:n] = rise
        if trail:
            w[length - n :] = rise[::-1]
    return w


def blend_weights(tile: Tile, scale: int, overlap: int) -> np.ndarray:
    """2-D weights for a tile's output (``rows*scale x cols*scale``), ``overlap`` in LR px."""
    wy = ramp(tile.rows * scale, overlap * scale, tile.top, tile.bottom)
    wx = ramp(tile.cols * scale, overlap * scale, tile.left, tile.right)
    return np.outer(wy, wx)
