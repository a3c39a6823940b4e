"""Tile layouts on the LR pixel grid and the smooth blending weights that hide their seams.

Tiles all have the same size (so they batch), start on LR pixels, and overlap. Each tile's
prediction is weighted by a separable window: on sides shared with a neighbour it stays at a
small floor over the outer quarter of the overlap (where the network saw padding instead of
context), then rises as a raised cosine to 1; on sides at the scene edge it stays 1.
Predictions are normalised by the summed weights.
"""

from __future__ import annotations

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


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of equal tiles of size ``min(tile, length)`` covering ``[0, length)``."""
    if length <= tile:
        return [0]
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must be in [0, tile), got {overlap} for tile {tile}")
    step = tile - overlap
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)
    return starts


def tile_grid(rows: int, cols: int, tile: int, overlap: int) -> list[list[Tile]]:
    """Tiles covering an LR window of ``rows x cols``, as a list of tile rows."""
    ys, xs = tile_starts(rows, tile, overlap), tile_starts(cols, tile, overlap)
    th, tw = min(tile, rows), min(tile, cols)
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
