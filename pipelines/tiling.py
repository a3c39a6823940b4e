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

Sizes are asked for in output pixels (``--tile``, ``--overlap``) and used in whole LR pixels
(:class:`TileSizes`); every check of them runs on the sizes used (:func:`check_tile_sizes`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pipelines.errors import InputError

# Weight of the outer quarter of a tile's overlap, where padding artefacts of the tile's own
# edge live. So small that float64 sums drop it exactly wherever another tile gives a real
# weight (1e-150 is far below 2**-53 of any real weight, and its square stays a normal number):
# edge pixels only fill what no other tile reaches (a neighbour's nodata), they never bias it.
# A floor of 1e-3 left 1-6 mK of edge artefacts in tiled bicubic (QA).
WEIGHT_FLOOR = 1e-150
# Output px used. A forward pass costs a fixed ~9 ms per tile on top of its pixels (shipped model,
# 2 CPU cores, idle; far more on a busy machine), so small tiles pay mostly overhead. Sample scene
# (384x384 px), time against the default tiling's: --tile 24 --overlap 12 11-19x, 12/6 45-55x,
# 6/3 240x (bicubic 6x, 35x, 70x); QA's --tile 8 took 648 s for 0.03 Mpx.
MIN_TILE = 24
# Output px used. Seams of several K at 0, 0.45 K at --overlap 8 (6 px used at x3), 11 mK at
# --overlap 16 (15 px used); learned models and bicubic alike (README, Tiles).
MIN_OVERLAP = 15
DEFAULT_OVERLAP = 64  # output px; half of a smaller tile (:func:`default_overlap`)


def default_overlap(tile: int) -> int:
    """The overlap of tiles of ``tile`` output px when none is given: :data:`DEFAULT_OVERLAP`, or
    half the tile when that is smaller (a larger overlap is refused as more than half the tile).
    The CLI's ``--overlap`` default and :class:`pipelines.downscale.DownscaleOptions` both use it."""
    return min(DEFAULT_OVERLAP, tile // 2)


@dataclass(frozen=True)
class Tile:
    """One tile: LR offsets/sizes relative to the LR window, which sides have neighbours, and
    the LR rows and columns from its start that it owns (up to the next tile's start; None: all
    of them), so that counts over overlapping tiles take each pixel once."""

    row: int
    col: int
    rows: int
    cols: int
    top: bool
    bottom: bool
    left: bool
    right: bool
    own_rows: int | None = None
    own_cols: int | None = None

    def owned(self) -> tuple[int, int]:
        """LR (rows, cols) from the tile's start that no other tile owns."""
        return (self.rows if self.own_rows is None else self.own_rows,
                self.cols if self.own_cols is None else self.own_cols)


@dataclass(frozen=True)
class TileSizes:
    """The tile and overlap a scene at ``scale`` is run with, in LR px, from those asked for in
    output px: whole LR pixels, a tile of at least one and an overlap smaller than the tile."""

    tile: int
    overlap: int
    scale: int

    @classmethod
    def of(cls, tile: int, overlap: int, scale: int) -> TileSizes:
        """``--tile``/``--overlap`` (output px) as used at ``scale``."""
        tile_lr = max(1, tile // scale)
        return cls(tile_lr, min(overlap // scale, max(0, tile_lr - 1)), scale)


def as_used(option: str, given: int, lr: int, scale: int) -> str:
    """``--tile 10 at x3 is 9 output px (3 LR px)``; ``--tile 9 at x3 (3 LR px)`` when unrounded."""
    used = lr * scale
    rounded = "" if used == given else f" is {used} output px"
    return f"{option} {given} at x{scale}{rounded} ({lr} LR px)"


def smallest_given(used_px: int, scale: int) -> int:
    """The smallest ``--tile``/``--overlap`` that is at least ``used_px`` output px once rounded."""
    return math.ceil(used_px / scale) * scale


def check_tile_sizes(tile: int, overlap: int, scale: int) -> TileSizes:
    """The sizes used at ``scale``; refused when the tiles are so small that the run would take
    tens to hundreds of times longer (:data:`MIN_TILE`), or the overlap is more than half the
    tile (tiles would mostly recompute their neighbours), or a size is negative (a tile under 1)."""
    if tile < 1:  # the CLI's options refuse these; a library caller's may not
        raise InputError(None, f"--tile {tile} is not a size", f"pass --tile {smallest_given(MIN_TILE, scale)} "
                         "or more; the default 768 is fastest")
    if overlap < 0:
        raise InputError(None, f"--overlap {overlap} is negative", "pass --overlap 0 or more, or leave it out "
                         f"for the default ({DEFAULT_OVERLAP}, or half the tile)")
    used = TileSizes.of(tile, overlap, scale)
    given_tile = as_used("--tile", tile, used.tile, scale)
    if used.tile * scale < MIN_TILE:
        raise InputError(None, f"{given_tile}: tiles under {MIN_TILE} output px cost mostly per-tile overhead "
                         "(measured on the sample scene: 12 px tiles took 50x the default's time, 6 px 240x, "
                         "with the shipped model; bicubic 35x and 70x)",
                         f"pass --tile {smallest_given(MIN_TILE, scale)} or more; the default 768 is fastest")
    if 2 * used.overlap > used.tile:
        raise InputError(None, f"{as_used('--overlap', overlap, used.overlap, scale)} with {given_tile}: the "
                         "overlap is more than half the tile, so tiles would mostly recompute their neighbours",
                         f"pass --overlap {used.tile // 2 * scale} or less, or a larger --tile")
    return used


def seam_warning(tile: int, overlap: int, scale: int) -> str | None:
    """Why the overlap used at ``scale`` leaves seams, when it is under :data:`MIN_OVERLAP`."""
    sizes = TileSizes.of(tile, overlap, scale)
    if sizes.overlap * scale >= MIN_OVERLAP:
        return None
    needed = smallest_given(MIN_OVERLAP, scale)
    fits = 2 * (needed // scale) <= sizes.tile  # else that overlap is refused as over half the tile
    return (f"{as_used('--overlap', overlap, sizes.overlap, scale)} leaves visible seams at tile borders (several "
            f"K were measured at 0, for learned models and bicubic alike); pass --overlap {needed} or more"
            + ("" if fits else f" with --tile {2 * needed} or more"))


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
    """Tiles covering an LR window of ``rows x cols``, as a list of tile rows; each owns the
    pixels from its start to the next tile's (the last: to its end), so they partition it."""
    (th, ys), (tw, xs) = tile_starts(rows, tile, overlap), tile_starts(cols, tile, overlap)
    own_ys, own_xs = _owned(ys, th), _owned(xs, tw)
    return [
        [
            Tile(y, x, th, tw, i > 0, i < len(ys) - 1, j > 0, j < len(xs) - 1, own_y, own_x)
            for j, (x, own_x) in enumerate(zip(xs, own_xs))
        ]
        for i, (y, own_y) in enumerate(zip(ys, own_ys))
    ]


def _owned(starts: list[int], size: int) -> list[int]:
    """Pixels each tile of ``size`` at ``starts`` owns: up to the next start, the last its whole size."""
    return [following - start for start, following in zip(starts, starts[1:])] + [size]


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
