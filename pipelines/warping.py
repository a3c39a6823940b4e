"""Resampling rasters onto a target grid strip by strip, with ``rasterio.warp``.

``ingest`` and ``guidance`` both build fine grids from sources on other grids. They stream the
target in strips of whole GeoTIFF blocks and let GDAL's warper read only the source pixels each
strip needs, so memory grows with the scene's width, not its area.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import MaskFlags, Resampling
from rasterio.transform import array_bounds
from rasterio.warp import reproject
from rasterio.windows import Window

from pipelines.geotiff import BLOCK, read_stored
from pipelines.grids import Grid, footprint_in, ordered_bounds

_PAD = 4  # source pixels read around a strip's footprint: the widest kernel used (cubic) and edges
_KERNEL_REACH = 4  # a kernel's reach in output pixels (lanczos: 3), GDAL widening it by the downsampling ratio
_MASKED_CHUNK_BYTES = 64 * 2**20  # about the source bytes a masked warp holds at a time, per band
# grid rows warped beyond a chunk's (and a strip's) own, then dropped: GDAL reads the source pixels
# a region's edge touches by its own rounding, so where a grid edge lay on a pixel edge a pixel of
# no area was read for one warp and not the other, and mode classes changed (review F10)
_EDGE_ROWS = 2
# resamplings that pick or count whole source pixels, where that pixel of no area changed values;
# not the interpolations, whose kernel GDAL scales by the region's clipped source window (review R4)
_PIXEL_PICKING = (Resampling.nearest, Resampling.mode, Resampling.average)


def warp_bands(
    src: rasterio.DatasetReader,
    bands: int | Sequence[int],
    grid: Grid,
    *,
    src_nodata: float | None,
    resampling: Resampling = Resampling.bilinear,
    dtype: type[np.floating] = np.float32,
) -> np.ndarray:
    """Band(s) of ``src`` resampled onto ``grid`` as ``dtype`` (float32 by default), NaN where
    there is no data; float64 keeps float64 values beyond float32's range that a scale applied
    afterwards brings into it (in float32 they became inf).

    One band gives a (rows, cols) array, a sequence of bands a (bands, rows, cols) array. Each
    band is warped on its own: in one call GDAL takes a pixel as nodata only where every band
    is, so a hole in one band of a multi-band source became data (QA).
    """
    indexes = [bands] if isinstance(bands, int) else list(bands)
    out = np.full((len(indexes), grid.height, grid.width), np.nan, dtype=dtype)
    if _mask_beside_nodata(src, indexes[0]):
        _warp_masked(src, indexes, grid, out, src_nodata, resampling)
        return out[0] if isinstance(bands, int) else out
    for index, layer in zip(indexes, out):
        reproject(rasterio.band(src, index), layer, src_nodata=src_nodata, dst_transform=grid.transform,
                  dst_crs=grid.crs, dst_nodata=np.nan, resampling=resampling)
    return out[0] if isinstance(bands, int) else out


def _mask_beside_nodata(src: rasterio.DatasetReader, band: int) -> bool:
    """Whether ``src`` has a mask of its own (per-dataset: internal or ``.msk``; or an alpha
    band) beside a declared nodata, on a geotransform: GDAL's warper then takes the nodata value
    alone and drops the mask, so masked pixels came through as data."""
    flags = src.mask_flag_enums[band - 1]
    own_mask = MaskFlags.per_dataset in flags or MaskFlags.alpha in flags
    return own_mask and src.nodatavals[band - 1] is not None and not src.gcps[0]


def _warp_masked(src: rasterio.DatasetReader, indexes: list[int], grid: Grid, out: np.ndarray,
                 src_nodata: float | None, resampling: Resampling, budget: int = _MASKED_CHUNK_BYTES) -> None:
    """Warp the source pixels under ``grid`` into ``out`` from memory, NaN where the file's mask
    says nodata or a pixel holds the declared (or the given) nodata (:func:`read_stored`).

    Memory stays bounded: one band at a time, in float32 where that is exact, and ``grid`` in
    row chunks whose source pixels take about ``budget`` bytes. Each chunk reads its footprint
    plus a margin wider than any kernel, clipped to the whole strip's window, so every output
    pixel sees the same source pixels as when the strip was warped at once (strip edges
    included), where :func:`_chunkable`; elsewhere each band's strip is warped whole.
    """
    per_pixel = max(_bytes_per_pixel(np.dtype(src.dtypes[i - 1])) for i in indexes)
    for chunk in source_chunks(src, grid, _PAD, per_pixel, resampling, budget):
        for index, layer in zip(indexes, out[:, chunk.top:chunk.top + chunk.height]):
            warp_chunk(_masked_values(src, index, chunk.window, src_nodata), chunk, layer, src.crs, grid.crs,
                       resampling)


class SourceChunk(NamedTuple):
    """Grid rows ``top:top + height``, warped with ``edge`` rows more above and below (whose
    values are dropped) from the source pixels in ``window``; the window's and the warped rows'
    transforms are in one frame (:func:`_frame_origin`)."""

    top: int
    height: int
    edge: int
    window: Window
    src_transform: Affine
    dst_transform: Affine


def warp_chunk(values: np.ndarray, chunk: SourceChunk, out: np.ndarray, src_crs: CRS | None,
               dst_crs: CRS | None, resampling: Resampling) -> None:
    """``values`` (the source pixels in ``chunk.window``, NaN where nodata) warped onto the
    chunk's rows, written into ``out`` (those rows only)."""
    rows = np.full((chunk.height + 2 * chunk.edge, out.shape[-1]), np.nan, np.float32)
    reproject(values, rows, src_transform=chunk.src_transform, src_crs=src_crs, src_nodata=np.nan,
              dst_transform=chunk.dst_transform, dst_crs=dst_crs, dst_nodata=np.nan, resampling=resampling)
    out[:] = rows[chunk.edge:chunk.edge + chunk.height]


def source_chunks(src: rasterio.DatasetReader, grid: Grid, pad: int, per_pixel: int, resampling: Resampling,
                  budget: int = _MASKED_CHUNK_BYTES) -> Iterator[SourceChunk]:
    """``grid`` in row chunks, each with the source window it reads, so that a warp from memory
    holds about ``budget`` bytes (``per_pixel`` bytes a source pixel) rather than the whole
    strip's source pixels, which grow with the source's resolution.

    A chunk's window is its footprint plus a margin wider than any kernel, clipped to the whole
    strip's window (``pad`` around its footprint): every output pixel sees the same source pixels
    as when the strip is warped at once. Only where :func:`_chunkable`; elsewhere one chunk.
    Chunkable grids warped by the resamplings that pick whole source pixels are warped in a frame
    at the source's origin, where a chunk's transforms carry no rounding of their own
    (:func:`_frame_origin`), with edge rows (:data:`_EDGE_ROWS`); the interpolations stay in map
    coordinates, as the same source without a mask is warped.
    """
    strip = source_window(src, grid, pad)
    if strip is None:
        return
    ratio = max(1.0, strip.width / grid.width, strip.height / grid.height)
    margin = pad + math.ceil(_KERNEL_REACH * ratio)
    chunkable = _chunkable(src, grid)
    rows = _chunk_rows(per_pixel, strip, grid, margin, budget) if chunkable else grid.height
    # Only the pixel-picking resamplings move to the shifted frame: GDAL's interpolating kernels
    # (cubic, lanczos) near the source's edge change with the frame, and in map coordinates a
    # masked source then warps as the same source without a mask does (review R4 of 9eaf213).
    picking = chunkable and resampling in _PIXEL_PICKING
    edge = _EDGE_ROWS if picking else 0
    x0, y0 = _frame_origin(src) if picking else (0.0, 0.0)
    dst_frame = Affine.translation(-x0, -y0) @ grid.transform
    src_frame = Affine.translation(-x0, -y0) @ src.transform
    for top in range(0, grid.height, rows):
        height = min(rows, grid.height - top)
        window = _clipped_window(src, grid_rows(grid, top - edge, height + 2 * edge), margin, strip)
        if window is not None:
            yield SourceChunk(top, height, edge, window,
                              src_frame @ Affine.translation(window.col_off, window.row_off),
                              dst_frame @ Affine.translation(0, top - edge))


def _frame_origin(src: rasterio.DatasetReader) -> tuple[float, float]:
    """Where a chunkable warp puts (0, 0): half a pixel beyond the source's origin (a source
    transform at exactly (0, 0) is taken as none, and the warp came out all nodata). In map
    coordinates (5.76e6 m) a chunk's origin is rounded to ~1e-9 m, 1e-10 of a 9 m pixel: GDAL
    snaps a pixel edge within 1e-10 px of a grid edge onto it, so where the two coincide the
    chunks and the one-pass warp snapped differently, and fractions differed by ~1e-10 (review
    F10). Near the origin the rounding is ~1e-13 px, and every warp snaps alike."""
    t = src.transform
    return t.c - 0.5 * t.a, t.f - 0.5 * t.e


def _chunk_rows(per_pixel: int, strip: Window, grid: Grid, margin: int, budget: int) -> int:
    """Grid rows per chunk: as many as keep the source pixels of one band (``per_pixel`` bytes
    each: as stored, masks and float copies, :func:`_bytes_per_pixel`) near ``budget`` bytes;
    at least one."""
    per_row = strip.width * per_pixel
    source_rows = budget // max(1, per_row) - 2 * margin
    return max(1, int(source_rows * grid.height / strip.height))


def _chunkable(src: rasterio.DatasetReader, grid: Grid) -> bool:
    """Whether ``grid`` can be warped in row chunks with the same values as at once: the source
    is north-up in the grid's CRS and the grid lies within it. Elsewhere (a source edge inside
    the grid, a rotated or reprojected source) GDAL sizes its kernels from the footprint of the
    region warped, and chunks changed bilinear and cubic values by up to a third of the range
    (review R4)."""
    t = src.transform
    if src.crs != grid.crs or t.b != 0 or t.d != 0 or t.e >= 0:
        return False
    left, bottom, right, top = grid_bounds(grid)
    s_left, s_bottom, s_right, s_top = src.bounds
    return s_left <= left and right <= s_right and s_bottom <= bottom and top <= s_top


def _bytes_per_pixel(stored: np.dtype) -> int:
    """Bytes one source pixel of one band takes while warped from memory: the stored value, the
    read's mask and the declared-nodata hits, and the float values."""
    return stored.itemsize + 2 + _float_for(stored).itemsize


def _float_for(stored: np.dtype) -> np.dtype:
    """float32 where it holds every ``stored`` value exactly (8/16-bit integers, float32), else
    float64: the warp then sees the very same numbers in half the memory."""
    exact = stored.kind in "iu" and stored.itemsize <= 2 or stored == np.float32
    return np.dtype(np.float32 if exact else np.float64)


def _clipped_window(src: rasterio.DatasetReader, chunk: Grid, margin: int, strip: Window) -> Window | None:
    """The source pixels under ``chunk`` plus ``margin``, within the whole strip's window."""
    window = source_window(src, chunk, margin)
    if window is None:
        return None
    col0, row0 = max(window.col_off, strip.col_off), max(window.row_off, strip.row_off)
    col1 = min(window.col_off + window.width, strip.col_off + strip.width)
    row1 = min(window.row_off + window.height, strip.row_off + strip.height)
    if col1 <= col0 or row1 <= row0:
        return None
    return Window(col0, row0, col1 - col0, row1 - row0)


def _masked_values(src: rasterio.DatasetReader, index: int, window: Window, src_nodata: float | None) -> np.ndarray:
    """Band ``index`` in ``window`` as floats, NaN where masked or holding ``src_nodata``."""
    data = read_stored(src, index, window, src.name)
    values = np.ma.getdata(data).astype(_float_for(data.dtype))
    values[np.ma.getmaskarray(data)] = np.nan
    if src_nodata is not None and not np.isnan(src_nodata):
        values[values == np.float64(src_nodata)] = np.nan  # compared as float64, as the value is declared
    return values


def grid_bounds(grid: Grid) -> tuple[float, float, float, float]:
    """``grid``'s box (left, bottom, right, top)."""
    return array_bounds(grid.height, grid.width, grid.transform)


def source_window(src: rasterio.DatasetReader, grid: Grid, pad: int) -> Window | None:
    """The source pixels under ``grid`` (plus ``pad`` around them), or None when there are none.

    The corners of the grid's box are mapped to source pixel coordinates, so the window is
    right for north-up, south-up and rotated sources alike, and taken in the source's own
    longitudes (a grid across the antimeridian, a source in 0..360).
    """
    left, bottom, right, top = footprint_in(grid.crs, grid_bounds(grid), src.crs, ordered_bounds(src.bounds))
    to_pixel = ~src.transform
    cols, rows = zip(*(to_pixel @ (x, y) for x in (left, right) for y in (bottom, top)))
    col0 = max(0, math.floor(min(cols)) - pad)
    row0 = max(0, math.floor(min(rows)) - pad)
    col1 = min(src.width, math.ceil(max(cols)) + pad)
    row1 = min(src.height, math.ceil(max(rows)) + pad)
    if col1 <= col0 or row1 <= row0:
        return None
    return Window(col0, row0, col1 - col0, row1 - row0)


def strip_height(ratio: int, strip_rows: int | None) -> int:
    """Coarse rows per strip: by default the fewest whose ``ratio``-times finer rows are whole
    512-row blocks."""
    if strip_rows is not None:
        return max(1, strip_rows)
    return math.lcm(BLOCK, ratio) // ratio


def grid_rows(grid: Grid, top: int, height: int) -> Grid:
    """The sub-grid of ``height`` rows starting at row ``top``."""
    return Grid(grid.crs, grid.transform @ Affine.translation(0, top), grid.width, height)
