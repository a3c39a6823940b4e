"""Reading a scene's tiles for the network, and reading ahead while the network runs.

A tile is the LR LST window and its guidance on the output grid, with the mask of output
pixels that get no value: those whose LR pixel or guidance (any band) is nodata and, with a
hole margin, those within that many output pixels of such a hole (judged on a halo read
around the tile, so a hole just beyond the tile's edge counts too). Nodata is then filled
from the nearest valid pixel, because networks cannot take NaN. A scene without a guidance
raster (interpolation onto the refined LST grid) has tiles with zero guidance bands.

Tiles cover the output footprint grown by up to :data:`FOOTPRINT_CONTEXT_LR` LR pixels of real
LST on each side where the LST raster reaches beyond the guidance (the guidance is extended
from its nearest pixel there): what lies outside the footprint is context, never output.

:func:`read_ahead` reads the next tiles in a thread with its own file handles (GDAL handles
are not shared between threads; GDAL releases the GIL while it decodes), so reading overlaps
the forward passes.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window
from scipy import ndimage

from pipelines.fill import fill_bands, fill_nearest
from pipelines.geotiff import open_raster, read_values
from pipelines.grids import PairedGrids
from pipelines.lst_values import LstDecoding, check_single_band, decode, to_kelvin_masked
from pipelines.normalize import HasStats
from pipelines.plausibility import check_guidance_range
from pipelines.tiling import Tile
from pipelines.units import Units

TileData = tuple[np.ndarray, np.ndarray, np.ndarray]  # lr filled, guidance filled, invalid mask

# A learned model's output next to a hole (LST or guidance nodata) depends on data it cannot
# see (measured with the shipped model, README "Nodata"): within 3 LR pixels it may change by
# several K, beyond that by < 0.2 K. These pixels are nodata unless --hole-margin says otherwise.
AUTO_HOLE_MARGIN_LR = 3

# LR pixels of LST context read beyond the output footprint (where the guidance ends inside the
# LST raster). Two are bicubic's support, so an interpolator's edge pixels equal those of a run
# on the whole LST (without: up to 4.2 K off). With guidance cropped 24 LR px inside the LST,
# RMSE in the outer LR pixel of output: the shipped model on a generated 192 px scene 0.867 K
# without context, 0.639 K with it (0.641 K with the real guidance there); a model trained on
# the Landsat archive on a real date (x4) 0.406 K -> 0.319 K (0.315 K); README "Grid".
FOOTPRINT_CONTEXT_LR = 2

Margins = tuple[int, int, int, int]  # LR pixels (top, left, bottom, right)


def resolve_hole_margin(margin: int | None, scale: int, network: bool) -> int:
    """Output pixels masked around nodata holes: the given margin, or 3 LR pixels for a network
    (``ModelSource.needs_hole_margin``) and none for interpolators and fitted sharpeners."""
    if margin is not None:
        return margin
    return AUTO_HOLE_MARGIN_LR * scale if network else 0


@dataclass(frozen=True)
class SceneSources:
    """A scene's open rasters and where they came from."""

    lst: rasterio.DatasetReader
    guidance: rasterio.DatasetReader | None  # None: no guidance (the LST grid refined)
    lst_path: Path
    guidance_path: Path | None

    @classmethod
    def open(cls, stack: ExitStack, lst_path: Path, guidance_path: Path | None) -> SceneSources:
        """Open the rasters (closed with ``stack``); the LST must have one band."""
        lst = stack.enter_context(open_raster(lst_path))
        guidance = None if guidance_path is None else stack.enter_context(open_raster(guidance_path))
        check_single_band(lst, lst_path)
        return cls(lst, guidance, lst_path, guidance_path)


def _read_guidance(
    src: rasterio.DatasetReader, bands: list[int], window: Window, factor: int,
    path: str | os.PathLike[str],
) -> np.ndarray:
    """``bands`` in ``window`` as values (their scale/offset applied), averaged over ``factor`` blocks."""
    data = read_values(src, bands, window, path)
    if factor > 1:
        k, h, w = data.shape
        blocks = data.reshape(k, h // factor, factor, w // factor, factor)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks stay NaN
            data = np.nanmean(blocks, axis=(2, 4)).astype(np.float32)
    return data


def _read_guidance_padded(
    src: rasterio.DatasetReader, bands: list[int], window: Window, factor: int,
    path: str | os.PathLike[str],
) -> np.ndarray:
    """:func:`_read_guidance` for a window that may reach beyond the raster: NaN there."""
    r0, c0, h, w = int(window.row_off), int(window.col_off), int(window.height), int(window.width)
    r1, c1 = max(r0, 0), max(c0, 0)
    r2, c2 = min(r0 + h, src.height), min(c0 + w, src.width)
    if (r1, c1, r2, c2) == (r0, c0, r0 + h, c0 + w):
        return _read_guidance(src, bands, window, factor, path)
    # Reach beyond the raster only in whole output pixels, so the block average stays aligned.
    r1, c1 = r0 + -(-(r1 - r0) // factor) * factor, c0 + -(-(c1 - c0) // factor) * factor
    r2, c2 = r0 + (r2 - r0) // factor * factor, c0 + (c2 - c0) // factor * factor
    out = np.full((len(bands), h // factor, w // factor), np.nan, np.float32)
    if r2 > r1 and c2 > c1:
        inside = _read_guidance(src, bands, Window(c1, r1, c2 - c1, r2 - r1), factor, path)
        out[:, (r1 - r0) // factor:(r2 - r0) // factor, (c1 - c0) // factor:(c2 - c0) // factor] = inside
    return out


class PixelCount:
    """A count of pixels that readers on several threads add to (a reader and its
    :meth:`TileReader.reopened` copies share one), under a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0

    def add(self, pixels: int) -> None:
        """Add ``pixels`` to the total."""
        with self._lock:
            self.total += pixels


def footprint_context(lst: rasterio.DatasetReader, grids: PairedGrids,
                      width: int = FOOTPRINT_CONTEXT_LR) -> Margins:
    """LR pixels of ``lst`` beyond the output footprint on each side, up to ``width``."""
    w = grids.lr_window
    return (min(width, int(w.row_off)), min(width, int(w.col_off)),
            min(width, lst.height - int(w.row_off + w.height)),
            min(width, lst.width - int(w.col_off + w.width)))


class TileReader:
    """Reads tiles of one scene: LR windows in Kelvin, guidance, masks, fills.

    Tile offsets are LR pixels in the tiled window, :attr:`shape`: the output footprint grown
    by :attr:`context` (:func:`footprint_context`); :meth:`output_origin` places a tile's
    prediction on the output grid. ``stats`` are a learned model's normalisation statistics
    (guidance far outside them is refused); ``None`` for interpolators. ``replaced`` maps positions in ``names`` of bands
    that carry no information (a constant fill) to the value given instead where they have data.
    :attr:`without_guidance` counts the output pixels read so far that have LST data but no
    guidance (any band nodata) inside the footprint, each once (the part of a tile it owns):
    the output's NaN that is the guidance's fault, before any hole margin.
    """

    def __init__(self, sources: SceneSources, grids: PairedGrids, bands: list[int],
                 names: list[str], units: Units, decoding: LstDecoding, hole_margin: int,
                 stats: HasStats | None, replaced: dict[int, float] | None = None,
                 without_guidance: PixelCount | None = None):
        self.sources, self.grids, self.bands, self.names = sources, grids, bands, names
        self.units, self.decoding, self.hole_margin, self.stats = units, decoding, hole_margin, stats
        self.replaced = replaced or {}
        self.without_guidance = PixelCount() if without_guidance is None else without_guidance
        self.context = footprint_context(sources.lst, grids)

    @property
    def shape(self) -> tuple[int, int]:
        """LR rows and columns of the tiled window (the footprint and its context)."""
        (top, left, bottom, right), w = self.context, self.grids.lr_window
        return int(w.height) + top + bottom, int(w.width) + left + right

    def output_origin(self, tile: Tile) -> tuple[int, int]:
        """Output pixel (row, col) of a tile's first prediction pixel (negative in the context)."""
        s, (top, left, _, _) = self.grids.scale, self.context
        return (tile.row - top) * s, (tile.col - left) * s

    def reopened(self, stack: ExitStack) -> TileReader:
        """The same reader on its own file handles (for another thread)."""
        src = self.sources
        return TileReader(SceneSources.open(stack, src.lst_path, src.guidance_path), self.grids,
                          self.bands, self.names, self.units, self.decoding, self.hole_margin,
                          self.stats, self.replaced, self.without_guidance)

    def lr_window(self, tile: Tile) -> Window:
        w, (top, left, _, _) = self.grids.lr_window, self.context
        return Window(w.col_off - left + tile.col, w.row_off - top + tile.row, tile.cols, tile.rows)

    def guidance_window(self, tile: Tile) -> Window:
        w, r, (top, left, _, _) = self.grids.guidance_window, self.grids.ratio, self.context
        return Window(w.col_off + (tile.col - left) * r, w.row_off + (tile.row - top) * r,
                      tile.cols * r, tile.rows * r)

    def read_lr(self, window: Window) -> np.ndarray:
        """LR LST in ``window`` in Kelvin, NaN nodata."""
        values = decode(self.sources.lst, window, self.decoding, self.sources.lst_path)
        return to_kelvin_masked(values, self.units, self.decoding)

    def read_tile(self, tile: Tile) -> TileData | None:
        """(lr filled, guidance filled, invalid output mask), or None for an all-nodata tile.

        Invalid output pixels are those whose LR pixel or guidance (any band) is nodata, and,
        with a hole margin, those within that many output pixels of such a hole. The margin is
        judged on a halo read around the tile (clipped to the tiled window), so a hole just
        beyond the tile's edge counts too; nodata in the context beyond the footprint does not.
        Output pixels with LST data and no guidance in the part of the tile it owns are added to
        :attr:`without_guidance`, also for a tile that is then skipped.
        """
        s, m = self.grids.scale, self.hole_margin
        halo = self._halo(tile, -(-m // s))  # LR pixels on each side: (top, left, bottom, right)
        top, left, bottom, right = halo
        grown = Tile(tile.row - top, tile.col - left, tile.rows + top + bottom,
                     tile.cols + left + right, tile.top, tile.bottom, tile.left, tile.right)
        lr = self.read_lr(self.lr_window(grown))
        guid = self._read_guidance(grown)
        invalid = np.repeat(np.repeat(np.isnan(lr), s, axis=0), s, axis=1)
        footprint = self._in_footprint(grown)
        if guid.shape[0]:
            guid_hole = np.isnan(guid).any(axis=0)
            self._count_without_guidance(tile, (top, left), ~invalid & guid_hole & footprint)
            invalid |= guid_hole
        invalid &= footprint
        if m and invalid.any():
            invalid = ndimage.maximum_filter(invalid, size=2 * m + 1, mode="constant", cval=False)
        lr_in = (slice(top, top + tile.rows), slice(left, left + tile.cols))
        out_in = (slice(top * s, (top + tile.rows) * s), slice(left * s, (left + tile.cols) * s))
        lr, guid, invalid = lr[lr_in], guid[(slice(None), *out_in)], invalid[out_in]
        lr_filled = fill_nearest(lr)
        if lr_filled is None:
            return None
        if not guid.shape[0]:
            return lr_filled, guid, invalid
        if self.stats is not None:
            check_guidance_range(guid, self.names, self.stats.band_mean, self.stats.band_std,
                                 self.sources.guidance_path)
        guid_filled = fill_bands(guid)
        if guid_filled is None:
            return None
        return lr_filled, guid_filled, invalid

    def _count_without_guidance(self, tile: Tile, halo: tuple[int, int], missing: np.ndarray) -> None:
        """Add the pixels of ``missing`` (output pixels of ``tile`` grown by ``halo`` LR pixels
        above and left) that lie in the part of the tile it owns to :attr:`without_guidance`."""
        s, (top, left), (rows, cols) = self.grids.scale, halo, tile.owned()
        owned = missing[top * s:(top + rows) * s, left * s:(left + cols) * s]
        self.without_guidance.add(int(np.count_nonzero(owned)))

    def _read_guidance(self, tile: Tile) -> np.ndarray:
        """The tile's guidance (K, rows*s, cols*s); no bands when the scene has no guidance."""
        src, s = self.sources, self.grids.scale
        if src.guidance is None:
            return np.empty((0, tile.rows * s, tile.cols * s), np.float32)
        guid = _read_guidance_padded(src.guidance, self.bands, self.guidance_window(tile),
                                     self.grids.guidance_factor, src.guidance_path)
        for band, value in self.replaced.items():
            guid[band][np.isfinite(guid[band])] = value
        return guid

    def _in_footprint(self, tile: Tile) -> np.ndarray:
        """Output pixels of ``tile`` inside the output footprint (not in its context)."""
        s, (top, left, bottom, right) = self.grids.scale, self.context
        height, width = self.shape
        rows = np.arange(tile.row, tile.row + tile.rows)
        cols = np.arange(tile.col, tile.col + tile.cols)
        inside_rows = np.repeat((rows >= top) & (rows < height - bottom), s)
        inside_cols = np.repeat((cols >= left) & (cols < width - right), s)
        return np.outer(inside_rows, inside_cols)

    def _halo(self, tile: Tile, width: int) -> Margins:
        """LR pixels (top, left, bottom, right) by which ``tile`` can grow, up to ``width``."""
        height, cols = self.shape
        return (min(width, tile.row), min(width, tile.col),
                min(width, height - tile.row - tile.rows),
                min(width, cols - tile.col - tile.cols))


def read_ahead(reader: TileReader, tiles: Iterable[Tile], lookahead: int) -> Iterator[tuple[Tile, TileData | None]]:
    """``(tile, reader.read_tile(tile))`` in order, read up to ``lookahead`` tiles ahead in a thread."""
    with ExitStack() as stack:
        own = reader.reopened(stack)
        pool = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="groklst-read"))
        stack.callback(pool.shutdown, cancel_futures=True)
        queue: deque[tuple[Tile, Future[TileData | None]]] = deque()
        pending = iter(tiles)
        for tile in pending:
            queue.append((tile, pool.submit(own.read_tile, tile)))
            if len(queue) >= lookahead:
                break
        while queue:
            tile, future = queue.popleft()
            following = next(pending, None)
            if following is not None:
                queue.append((following, pool.submit(own.read_tile, following)))
            yield tile, future.result()
