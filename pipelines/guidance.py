"""Guidance on the LST's own grid, from rasters in any CRS, resolution and origin.

The fine grid nests in the LST grid: it covers the LST footprint in whole LST pixels, each split
into ``scale x scale`` fine pixels (``scale`` given, or derived from a fine pixel size). Every
source is resampled onto it with ``rasterio.warp``:

- continuous bands by area average where the source is finer than the fine grid, by bilinear
  (or cubic) interpolation where it is not;
- a categorical map either as one band per class holding the fraction of each fine pixel that
  the class covers (area-weighted, over the map's valid pixels, so the fractions sum to 1), or as
  one band of the most frequent class;
- optional indices (NDVI, NDWI, NDMVI; :mod:`pipelines.indices`) from bands named red, green and
  nir, computed on the fine grid.

Nodata in a source is NaN in the output. A band's scale/offset metadata (Sentinel-2 L2A digital
numbers: 0.0001, -0.1) is applied after resampling, so the output holds values, with no
scale/offset of its own. The grid is the LST's as GDAL reads it: a PixelIsPoint LST (Landsat
Collection 2) is shifted by half a pixel to area semantics, like everywhere in groklst. Bands
carry descriptions (``downscale`` matches bands by name), units where known (the source band's,
``1`` for indices, ``fraction`` / ``class`` for class maps; none for a source band without one,
which may hold digital numbers), and their source (the file's absolute path, with the scaling
applied) and resampling as band tags. The output is streamed in strips of one 512-row
block row (memory grows with the scene's width, not its height) and renamed into place only
when complete; a class map finer than the grid is warped in row chunks of a byte budget within
a strip, so its resolution does not multiply the memory either (where the chunks give the
one-pass values: a north-up map in the grid's CRS that covers the strip).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.warp import transform as transform_points
from rasterio.windows import Window

from pipelines import indices
from pipelines.atomic import check_writable
from pipelines.cog import layout
from pipelines.errors import GroklstWarning, InputError
from pipelines.geotiff import (
    BLOCK, FLOAT32_MAX, apply_scaling, band_names, band_scaling, streaming_gdal_env, check_geotiff_name,
    creation_profile, geotiff_output, open_raster, read_stored, refuse_alpha, refuse_complex, refuse_unusable,
    scaling_text, unreadable, warn_lossy,
)
from pipelines.grids import (
    NO_GUIDANCE, Grid, check_crs, check_geotransform, check_north_up, check_related, footprint_in, footprints_disjoint,
    ordered_bounds, turns_between,
)
from pipelines.lst_values import check_single_band
from pipelines.percent import percent
from pipelines.raster_names import display_name, source_tag, subdataset
from pipelines.warping import (
    _MASKED_CHUNK_BYTES, SourceChunk, _bytes_per_pixel, grid_bounds, grid_rows, source_chunks, source_window,
    warp_bands, warp_chunk,
)

INDEX_BANDS = {"ndvi": ("red", "nir"), "ndwi": ("green", "nir"), "ndmvi": ("red", "nir")}
INDEX_UNIT = "1"  # indices are dimensionless: the unit ingest and the dataset give them
SourceName = Callable[[Path], str]  # how a band's row names its source file: display_name, source_tag
CLASS_MODES = ("fractions", "mode")
REFINE_METHODS = {"bilinear": Resampling.bilinear, "cubic": Resampling.cubic}
MAX_CLASSES = 32  # more distinct values than this is a continuous raster, not a class map
_SCAN_CHUNK_BYTES = _MASKED_CHUNK_BYTES  # about the source bytes listing a map's classes holds at a time
_PAD = 2  # source pixels read around a strip's footprint (interpolation kernels, edges)
_CHECK_CHUNK_BYTES = _MASKED_CHUNK_BYTES  # about the source bytes the value check holds at a time
_CLASS_CHUNK_BYTES = _MASKED_CHUNK_BYTES  # about the source bytes a class map's warp holds at a time
_FLOAT32_TINY = float(np.finfo(np.float32).tiny)  # below it (but not 0), float32 loses digits
ProgressCallback = Callable[[int, int, str], None]  # (done, total, what)


class GuidanceWarning(GroklstWarning):
    """Something the user should know about the guidance built (e.g. a source covers part of it)."""


@dataclass(frozen=True)
class SourceSpec:
    """One source raster and what to call its bands (empty: descriptions, else the file name)."""

    path: Path
    names: tuple[str, ...] = ()
    categorical: bool = False


def parse_source(spec: str, *, categorical: bool = False) -> SourceSpec:
    """``PATH``, ``NAME=PATH`` or ``NAME1,NAME2,...=PATH`` (one name per band) -> a source.

    Band names hold no ``/``, so a URL's query (``/vsicurl/https://host/a.tif?sig=...``) is a PATH.
    """
    if "=" in spec and "/" not in spec.split("=", 1)[0] and not Path(spec).exists():
        names_text, path = spec.split("=", 1)
        names = tuple(n.strip().lower() for n in names_text.split(","))
        if not all(names) or not path:
            raise InputError(spec, "cannot read the source", "write PATH, NAME=PATH or NAME1,NAME2=PATH")
        return SourceSpec(Path(path), names, categorical)
    return SourceSpec(Path(spec), (), categorical)


# downscale's MAX_OUTPUT_PIXELS: its output is on this grid (kept here so that guidance needs no torch)
MAX_GUIDANCE_PIXELS = 2_000_000_000  # a larger guidance needs --force


@dataclass(frozen=True)
class GuidanceOptions:
    """The fine grid (``scale`` or ``res``, one of them) and how sources are resampled."""

    scale: int | None = None
    res: float | None = None  # fine pixel size in the LST's CRS units
    refine: str = "bilinear"  # continuous sources not finer than the fine grid
    classes: str = "fractions"  # categorical sources: per-class fractions or the mode
    class_values: tuple[int, ...] = ()  # the classes to write (default: those found)
    indices: tuple[str, ...] = ()
    cog: bool = False
    overviews: bool = False
    overwrite: bool = False
    strip_rows: int | None = None  # guidance rows per strip (default: one 512-row block row)
    max_pixels: int | None = MAX_GUIDANCE_PIXELS  # None: no limit (--force)
    refuse_empty: bool = True  # a source with no data over the LST footprint is an error (not for --align)


@dataclass
class GuidanceReport:
    """What was built (also the JSON printed by ``groklst guidance --json``)."""

    output: str
    scale: int
    width: int
    height: int
    res: float
    res_units: str
    bands: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def grid(self) -> str:
        return f"{self.width}x{self.height} px at {self.res:g} {self.res_units} (LST/{self.scale})"


def fine_grid(lst: Grid, lst_path: str | os.PathLike[str], *, scale: int | None,
              res: float | None) -> tuple[Grid, int]:
    """The grid splitting every LST pixel into ``scale x scale`` pixels, and that scale (1: the
    LST's own grid, as ``groklst prepare`` takes guidance for an LST that is its HR truth)."""
    check_north_up(lst_path, lst)
    check_crs(lst_path, lst)
    if (scale is None) == (res is None):
        raise InputError("--scale", "give either --scale or --res", "e.g. --scale 3 for 30 m -> 10 m")
    if res is not None:
        scale = _scale_of_res(lst, res)
    elif scale < 1:
        raise InputError("--scale", f"must be an integer >= 1, got {scale}")
    transform = lst.transform @ Affine.scale(1.0 / scale)
    return Grid(lst.crs, transform, lst.width * scale, lst.height * scale), scale


def check_grid_size(grid: Grid, limit: int | None, option: str) -> None:
    """Refuse a fine grid above ``limit`` pixels before anything is read: a mistyped ``option``
    (--scale 100000) would otherwise run for hours."""
    if limit is not None and grid.width * grid.height > limit:
        raise InputError(option, f"the guidance grid would be {grid.width} x {grid.height} px, above the "
                         f"{limit / 1e9:g} Gpx limit", f"pass a smaller {option}, or --force to write it anyway")


# A grid no --force writes (4 TB of float32 per band): --res 1e-300 is refused here, its size not
# printed with 300 digits, and --res 1e-308 (a scale of inf) before round() fails on it.
ABSURD_GRID_PX = 1e12


def _scale_of_res(lst: Grid, res: float) -> int:
    """The scale that gives ``res`` x ``res`` pixels. Every LST pixel is split into scale x scale
    pixels, so ``res`` must split both of its sides into the same whole number: on non-square
    LST pixels no ``res`` does (30 x 40 m by 10 would be 3 x 4), and rather than write pixels of
    another size than asked, this points to --scale, whose pixels keep the LST's proportions."""
    if res <= 0:
        raise InputError("--res", f"must be positive, got {res:g}")
    (rx, ry), units = lst.res, lst.res_units
    if abs(ry / rx - 1) > 1e-3:  # more than rounding noise (the tolerance below)
        raise InputError("--res", f"the LST's pixels are {rx:g} x {ry:g} {units} (not square) and each is split "
                         "into N x N pixels: no --res gives square pixels here",
                         f"use --scale, e.g. --scale 3 for {rx / 3:g} x {ry / 3:g} {units} pixels")
    if rx / res > math.sqrt(ABSURD_GRID_PX / (lst.width * lst.height)):  # inf too: round() would fail
        raise InputError("--res", f"{res:g} {units} would make the guidance grid more than {ABSURD_GRID_PX:g} px "
                         f"(the LST's pixels are {rx:g} {units})", f"e.g. --res {rx / 3:g} for x3")
    scale = round(rx / res)
    if scale < 1 or abs(rx / res - scale) > 1e-3 * scale:
        raise InputError("--res", f"{res:g} does not split the LST's {rx:g} {units} pixels "
                         "into a whole number of pixels", f"e.g. --res {rx / 3:g} for x3")
    return scale


def _source_res(src: rasterio.DatasetReader, grid: Grid) -> float:
    """The source's pixel size in the grid's CRS units (along x; for a rotated source, the
    length of a pixel's row edge at its centre, as its bounds are then a box around it).
    A source across the antimeridian is measured across it, not around the globe."""
    t = src.transform
    if t.b == 0 and t.d == 0:
        left, _, right, _ = footprint_in(src.crs, src.bounds, grid.crs, grid_bounds(grid))
        return (right - left) / src.width
    col, row = src.width / 2, src.height / 2
    xs, ys = zip(t @ (col, row), t @ (col + 1, row))
    (x0, x1), (y0, y1) = transform_points(src.crs, grid.crs, xs, ys)
    return math.hypot(x1 + turns_between(x1, x0, grid.crs) - x0, y1 - y0)


def _default_names(src: rasterio.DatasetReader, path: Path) -> list[str]:
    """Band descriptions, else the file name, or a subdataset's variable (``NETCDF:"g.nc":nir``
    -> ``nir``: all variables of one file would share its name); ``NAME_bN`` for several bands."""
    parts = subdataset(path)
    stem = ((parts[1] or Path(parts[0]).stem) if parts else path.stem).lower()
    names = band_names(src)
    if src.count == 1:
        return [stem if names[0] == "b1" else names[0]]
    return [f"{stem}_b{i}" if n == f"b{i}" else n for i, n in enumerate(names, start=1)]


def _check_georeferenced(src: rasterio.DatasetReader, path: str | os.PathLike[str]) -> None:
    """Refuse a raster that cannot be warped: one with no geotransform (placed only by GCPs or
    RPCs: named so, as downscale does, rather than as lacking a CRS, which a GCP file also does)
    or with no CRS (of its own: a geotransform beside GCPs that carry the CRS is named so too)."""
    grid = Grid.of(src)
    check_geotransform(path, grid)
    check_crs(path, grid)


def _open_source(spec: SourceSpec, grid: Grid, stack: ExitStack,
                 lst_path: str | os.PathLike[str]) -> rasterio.DatasetReader:
    """The source ``spec`` names, opened on ``stack``, refused where it cannot be warped onto
    ``grid`` (the fine grid of ``lst_path``), does not overlap it or holds complex values; a
    lossy (JPEG) one is warned of."""
    src = stack.enter_context(open_raster(spec.path))
    _check_georeferenced(src, spec.path)
    check_related(spec.path, src.crs, lst_path, grid.crs, src.bounds)
    refuse_alpha(src, spec.path)
    refuse_complex(src, spec.path, "guidance")
    warn_lossy(src, spec.path)
    box = grid_bounds(grid)
    if footprints_disjoint(footprint_in(src.crs, src.bounds, grid.crs, box), box):
        raise InputError(spec.path, "does not overlap the LST footprint",
                         "check that the source and the LST show the same place")
    return src


class _Continuous:
    """A source's bands, averaged (source finer than the grid) or interpolated (not finer)."""

    def __init__(self, spec: SourceSpec, src: rasterio.DatasetReader, grid: Grid, refine: str) -> None:
        self.src = src
        self.names = list(spec.names) or _default_names(src, spec.path)
        if len(self.names) != src.count:
            raise InputError(spec.path, f"{len(self.names)} band names given for {src.count} bands",
                             "give one name per band: NAME1,NAME2=PATH")
        finer = _source_res(src, grid) < grid.res[0] * (1 - 1e-6)
        self.resampling = Resampling.average if finer else REFINE_METHODS[refine]
        float_data = np.issubdtype(np.dtype(src.dtypes[0]), np.floating)
        self.nodata = src.nodata if src.nodata is not None or not float_data else np.nan
        self.units = [u or "" for u in src.units]
        self.path = spec.path
        self.scaling = band_scaling(src, range(1, src.count + 1), spec.path)

    def strip(self, grid: Grid) -> np.ndarray:
        """The bands on ``grid`` as values: stored numbers are resampled (nodata judged on them),
        then scaled (a linear map commutes with every resampling used). The source pixels under
        the strip are checked first (:meth:`_check_source`); a band holding values float32
        cannot (1e39 with scale 1e-38) is warped and scaled in float64, then narrowed: in
        float32 they became inf before the scale could bring them into range."""
        wide = self._check_source(grid)
        out = np.empty((self.src.count, grid.height, grid.width), dtype=np.float32)
        for dtype in (np.float32, np.float64):
            bands = [b for b in range(1, self.src.count + 1) if (b in wide) == (dtype is np.float64)]
            if bands:
                out[[b - 1 for b in bands]] = self._warp(bands, grid, dtype)
        return out

    def _warp(self, bands: list[int], grid: Grid, dtype: type[np.floating]) -> np.ndarray:
        """``bands`` on ``grid`` as ``dtype``, scaled."""
        try:
            warped = warp_bands(self.src, bands, grid, src_nodata=self.nodata, resampling=self.resampling,
                                dtype=dtype)
        except RasterioError as exc:  # a damaged block: GDAL's warp names the read that failed
            raise unreadable(self.path, exc) from exc
        return apply_scaling(warped, [self.scaling[b - 1] for b in bands])

    def _check_source(self, grid: Grid) -> set[int]:
        """Refuse +-inf (and values beyond float32's range once scaled) in the source pixels under
        ``grid``, naming the source file and band: warped, they became inf in the output,
        refused later by ``downscale`` under the built file's name, far from their cause.

        This reads those pixels once more (GDAL's block cache usually still holds them), in
        bounded memory as the masked warp: one band at a time, in row chunks of about
        ``_CHECK_CHUNK_BYTES`` (the whole window of every band took most of the peak, growing
        with the source's resolution). Every band of a chunk is checked before the next chunk:
        a pixel-interleaved file decodes a block for all bands, which the cache then still holds
        (band by band over the whole window decoded each block once per band when the window's
        blocks outgrew the cache). Bands that cannot hold such values are not read.

        Returns the bands whose valid stored values there float32 cannot hold (float64 beyond its
        range or below its normal numbers), which their scale brings into range."""
        window = source_window(self.src, grid, _PAD)
        bands = [band for band, scaling in enumerate(self.scaling, start=1)
                 if _may_be_unusable(np.dtype(self.src.dtypes[band - 1]), scaling)]
        wide: set[int] = set()
        if window is None or not bands:
            return wide
        for part in _row_chunks(window, _chunk_height(self.src, bands, window.width, _CHECK_CHUNK_BYTES)):
            for band in bands:
                data = read_stored(self.src, band, part, self.path)
                refuse_unusable(self.src, data, band, part, self.path, [self.scaling[band - 1]])
                if band not in wide and _beyond_float32(data):
                    wide.add(band)
        return wide

    def describe(self, named: SourceName = display_name) -> list[dict[str, str]]:
        """One row per band; ``named`` names the source file (short in messages, absolute in tags)."""
        return [{"name": n, "source": f"{named(self.path)} band {i}{scaling_text(scale, offset)}",
                 "resampling": self.resampling.name, "unit": u}
                for i, (n, u, (scale, offset)) in enumerate(zip(self.names, self.units, self.scaling), start=1)]


def _may_be_unusable(stored: np.dtype, scaling: tuple[float, float]) -> bool:
    """Whether a band stored as ``stored`` and scaled by ``scaling`` (scale, offset) can hold
    +-inf or values beyond float32's range: floats can; integers (no inf, at most ~1.8e19) only
    when a scale or offset is set (:func:`refuse_band_values` looks at nothing else)."""
    return stored.kind == "f" or scaling != (1.0, 0.0)


def _beyond_float32(data: np.ma.MaskedArray) -> bool:
    """Whether valid stored ``data`` holds a value float32 cannot: beyond its range (inf there)
    or, not 0, below its smallest normal number (0 or fewer digits there)."""
    if data.dtype.itemsize <= 4 or data.dtype.kind != "f":
        return False
    magnitude = np.abs(np.ma.getdata(data))[~np.ma.getmaskarray(data)]
    return bool(((magnitude > FLOAT32_MAX) | ((magnitude > 0) & (magnitude < _FLOAT32_TINY))).any())


def _chunk_height(src: rasterio.DatasetReader, bands: list[int], width: int, budget: int) -> int:
    """Source rows per chunk of the check: as many as keep one band's pixels ``width`` wide near
    ``budget`` bytes (as warping sizes them, :func:`_bytes_per_pixel`), whole block rows of the
    file when at least one fits (no block decoded for two chunks); at least one row."""
    per_pixel = max(_bytes_per_pixel(np.dtype(src.dtypes[band - 1])) for band in bands)
    rows = max(1, budget // max(1, width * per_pixel))
    block = src.block_shapes[bands[0] - 1][0]
    return rows - rows % block if rows >= block else rows


def _row_chunks(window: Window, rows: int) -> list[Window]:
    """``window`` cut into row chunks at the multiples of ``rows`` (block boundaries, when
    ``rows`` is whole blocks), in file order."""
    bottom = window.row_off + window.height
    tops = [window.row_off, *range((window.row_off // rows + 1) * rows, bottom, rows)]
    return [Window(window.col_off, top, window.width, end - top) for top, end in zip(tops, [*tops[1:], bottom])]


class _Categorical:
    """A class map as per-class area fractions or as the most frequent class."""

    def __init__(self, spec: SourceSpec, src: rasterio.DatasetReader, grid: Grid, mode: str,
                 values: Sequence[int]) -> None:
        if src.count != 1:
            raise InputError(spec.path, f"has {src.count} bands; a categorical map has one")
        if len(spec.names) > 1:
            raise InputError(spec.path, "a categorical map takes one name", "write NAME=PATH")
        self.src, self.path, self.mode = src, spec.path, mode
        self.name = spec.names[0] if spec.names else _default_names(src, spec.path)[0]
        self.values = list(values) or self._classes_found(grid)
        coarser = _source_res(src, grid) > grid.res[0] * (1 + 1e-6)
        self.mode_resampling = Resampling.nearest if coarser else Resampling.mode
        # fractions: each class's indicator, area-averaged, is its covered fraction
        self.resampling = Resampling.average if mode == "fractions" else self.mode_resampling
        self.names = ([f"{self.name}_{v}" for v in self.values] if mode == "fractions" else [self.name])

    def _classes_found(self, grid: Grid) -> list[int]:
        """The classes the map holds inside ``grid``'s footprint, read in row chunks of about
        ``_SCAN_CHUNK_BYTES`` (:func:`_chunk_height`): a fixed 512 rows grew with the map's width,
        60000 px for a 0.5 m map as wide as a 30 km scene."""
        window = source_window(self.src, grid, pad=0)
        found: set[float] = set()
        if window is not None:
            for part in _row_chunks(window, _chunk_height(self.src, [1], window.width, _SCAN_CHUNK_BYTES)):
                data = read_stored(self.src, 1, part, self.path)
                refuse_unusable(self.src, data, 1, part, self.path, [(1.0, 0.0)])  # +-inf: no class
                found.update(np.unique(data.compressed()).tolist())
                if len(found) > MAX_CLASSES:
                    raise InputError(self.path, f"more than {MAX_CLASSES} distinct values: not a class map",
                                     "give it as a continuous source, or list the classes with --class-values")
        classes = sorted(found)
        if any(v != int(v) for v in classes if np.isfinite(v)):
            raise InputError(self.path, "holds non-integer values: not a class map",
                             "give it as a continuous source")
        if not classes:
            raise InputError(self.path, "has no valid pixels inside the LST footprint")
        return [int(v) for v in classes if np.isfinite(v)]

    def strip(self, grid: Grid) -> np.ndarray:
        """The class fractions (or the mode) on ``grid``, warped in row chunks of the source
        (:func:`source_chunks`): the whole strip's window at the map's resolution grew with it
        (a 1 m map for a 10 m grid held 100 times the strip's pixels, several times over)."""
        out = np.full((len(self.names), grid.height, grid.width), np.nan, dtype=np.float32)
        per_pixel = np.dtype(self.src.dtypes[0]).itemsize + 7  # mask, nodata hits, float32 layer, indicator
        for chunk in source_chunks(self.src, grid, _PAD, per_pixel, self.resampling, _CLASS_CHUNK_BYTES):
            self._warp_chunk(out[:, chunk.top:chunk.top + chunk.height], chunk, grid.crs)
        return out

    def _warp_chunk(self, out: np.ndarray, chunk: SourceChunk, crs: CRS | None) -> None:
        """The class map's pixels in ``chunk``'s window warped into ``out`` (its rows, in ``crs``)."""
        window = chunk.window
        data = read_stored(self.src, 1, window, self.path)
        # +-inf is no class, and matched none: its pixels counted as data with every fraction 0
        refuse_unusable(self.src, data, 1, window, self.path, [(1.0, 0.0)])
        classes = np.ma.getdata(data)
        invalid = np.ma.getmaskarray(data)
        # the classes' indicators for fractions, made one at a time: memory of one indicator
        layers = ((classes == v) for v in self.values) if self.mode == "fractions" else [classes]
        for band, layer in zip(out, layers):
            source = layer.astype(np.float32)
            source[invalid] = np.nan
            warp_chunk(source, chunk, band, self.src.crs, crs, self.resampling)

    def describe(self, named: SourceName = display_name) -> list[dict[str, str]]:
        """One row per band; ``named`` names the source file (short in messages, absolute in tags)."""
        how = "average of class indicators" if self.mode == "fractions" else self.mode_resampling.name
        unit = "fraction" if self.mode == "fractions" else "class"
        return [{"name": n, "source": named(self.path), "resampling": how, "unit": unit} for n in self.names]


def _check_indices(wanted: Sequence[str], names: Sequence[str]) -> None:
    for index in wanted:
        if index not in INDEX_BANDS:
            raise InputError("--index", f"unknown index {index!r}", f"use {', '.join(INDEX_BANDS)}")
        missing = [b for b in INDEX_BANDS[index] if b not in names]
        if missing:
            raise InputError("--index", f"{index} needs bands named {' and '.join(INDEX_BANDS[index])}; "
                             f"missing {', '.join(missing)} (have {', '.join(names)})",
                             "name source bands with NAME=PATH, e.g. red=B04.tif")


def repeated_name(names: Sequence[str]) -> list[int]:
    """0-based positions of every band called like the first name ``names`` repeat (empty when
    all differ). Any lookup by name takes one of them and silently ignores the others, so
    every command refuses such a set of bands."""
    positions: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        positions.setdefault(name, []).append(i)
    return min((p for p in positions.values() if len(p) > 1), key=lambda p: p[1], default=[])


DISTINCT_BANDS_HINT = ("give each band its own name: name them in file order with --guidance-bands, or set "
                       "distinct band descriptions")


def check_distinct_bands(path: str | os.PathLike[str], names: Sequence[str], hint: str,
                         what: str = "band name") -> None:
    """Refuse bands ``names`` (of the file or dataset ``path``) of which two share a name:
    ``g.tif: band name 'dem' appears twice (bands 1 and 11)``."""
    where = repeated_name(names)
    if where:
        times = "twice" if len(where) == 2 else f"{len(where)} times"
        numbers = [str(i + 1) for i in where]
        raise InputError(path, f"{what} {names[where[0]]!r} appears {times} "
                               f"(bands {', '.join(numbers[:-1])} and {numbers[-1]})", hint)


def _check_unique(names: Sequence[str], sources: Sequence[str]) -> None:
    """Refuse a band name given twice, naming where both bands come from (``sources``, one per name)."""
    where = repeated_name(names)
    if where:
        first, second = sources[where[0]], sources[where[1]]
        origin = f"both from {first}" if first == second else f"from {first} and {second}"
        raise InputError(names[where[0]], f"two guidance bands have this name ({origin})",
                         "name the sources' bands with NAME=PATH")


class _Stack:
    """All output bands of the guidance, strip by strip."""

    def __init__(self, producers: list[_Continuous | _Categorical], wanted_indices: Sequence[str]) -> None:
        self.producers = producers
        self.source_names = [n for p in producers for n in p.names]
        _check_indices(wanted_indices, self.source_names)
        self.indices = list(wanted_indices)
        self.names = self.source_names + self.indices
        _check_unique(self.names, [display_name(p.path) for p in producers for _ in p.names]
                      + ["--index"] * len(self.indices))
        self.minima: tuple[float, float] | None = None

    def sources(self, grid: Grid) -> dict[str, np.ndarray]:
        bands = np.concatenate([p.strip(grid) for p in self.producers])
        return dict(zip(self.source_names, bands))

    def find_ndmvi_minima(self, strips: Sequence[Grid]) -> None:
        """Scene minima of red and NIR, which NDMVI subtracts (a first pass over the strips)."""
        red_min, nir_min = indices.scene_minima(
            (bands["red"], bands["nir"]) for bands in map(self.sources, strips))
        if not (math.isfinite(red_min) and math.isfinite(nir_min)):
            raise InputError("--index", "ndmvi: no valid red and nir pixels inside the LST footprint")
        self.minima = (red_min, nir_min)

    def strip(self, grid: Grid) -> np.ndarray:
        bands = self.sources(grid)
        for index in self.indices:
            a, b = (bands[n] for n in INDEX_BANDS[index])
            if index == "ndvi":
                bands[index] = indices.ndvi(a, b)
            elif index == "ndwi":
                bands[index] = indices.ndwi(a, b)
            else:
                bands[index] = indices.ndmvi(a, b, *self.minima)
        return np.stack([bands[n] for n in self.names]).astype(np.float32)

    def describe(self, named: SourceName = display_name) -> list[dict[str, str]]:
        """One row per output band (name, source, resampling, unit); ``named`` names source files."""
        rows = [row for p in self.producers for row in p.describe(named)]
        return rows + [{"name": i, "source": f"{'/'.join(INDEX_BANDS[i])} on the fine grid",
                        "resampling": "computed", "unit": INDEX_UNIT} for i in self.indices]


def _producers(specs: Sequence[SourceSpec], grid: Grid, options: GuidanceOptions,
               stack: ExitStack, lst_path: str | os.PathLike[str]) -> list[_Continuous | _Categorical]:
    if not specs:
        raise InputError(None, "no guidance sources given", "name one or more rasters")
    if options.refine not in REFINE_METHODS:
        raise InputError("--refine", f"unknown method {options.refine!r}", f"use {', '.join(REFINE_METHODS)}")
    if options.classes not in CLASS_MODES:
        raise InputError("--classes", f"unknown mode {options.classes!r}", f"use {', '.join(CLASS_MODES)}")
    producers: list[_Continuous | _Categorical] = []
    for spec in specs:
        src = _open_source(spec, grid, stack, lst_path)
        if spec.categorical:
            producers.append(_Categorical(spec, src, grid, options.classes, options.class_values))
        else:
            producers.append(_Continuous(spec, src, grid, options.refine))
    return producers


class _Coverage:
    """Counts each source's valid output pixels, to refuse empty sources and warn about partial ones."""

    def __init__(self, producers: Sequence[_Continuous | _Categorical]) -> None:
        self.first_band, offset = [], 0
        for p in producers:
            self.first_band.append(offset)
            offset += len(p.names)
        self.producers = producers
        self.valid = [0] * len(producers)
        self.total = 0
        self.present: list[set[int]] = [set() for _ in producers]  # classes with a fraction > 0 somewhere

    def add(self, strip: np.ndarray) -> None:
        self.total += strip[0].size
        for i, band in enumerate(self.first_band):
            self.valid[i] += int(np.isfinite(strip[band]).sum())
        for p, first, present in zip(self.producers, self.first_band, self.present):
            if _fractions(p):
                present.update(v for j, v in enumerate(p.values) if np.nanmax(strip[first + j], initial=0) > 0)

    def _absent_classes(self) -> list[str]:
        """One note per class map whose listed classes never occur over the LST footprint."""
        notes = []
        for p, present in zip(self.producers, self.present):
            absent = [v for v in p.values if v not in present] if _fractions(p) else []
            if absent:
                notes.append(_absent_note(p, absent))
        return notes

    def check(self, refuse_empty: bool = True) -> list[str]:
        """The notes on partly covered sources; a source with no data over the footprint is
        refused, or (``refuse_empty`` False) left to the caller, who knows where the LST has data."""
        notes = []
        for p, valid in zip(self.producers, self.valid):
            if valid == 0 and refuse_empty:
                raise InputError(p.path, "has no valid pixels inside the LST footprint")
            if valid == 0:
                continue
            if valid < self.total:
                notes.append(f"{display_name(p.path)} has data on {percent(valid / self.total)}% of the LST "
                             "footprint (outside its extent or in its nodata holes); where its "
                             "bands are nodata, downscale writes NaN and prepare counts nodata")
        return notes + self._absent_classes()


def _fractions(producer: _Continuous | _Categorical) -> bool:
    """Whether ``producer`` writes one fraction band per class."""
    return isinstance(producer, _Categorical) and producer.mode == "fractions"


def _absent_note(producer: _Categorical, absent: Sequence[int]) -> str:
    """The warning for classes of a map that never occur: their bands are all 0, written anyway
    so that every scene of an archive gets the same bands (what --class-values is for)."""
    many = len(absent) > 1
    bands = ", ".join(f"{producer.name}_{v}" for v in absent)
    return (f"class{'es' if many else ''} {', '.join(map(str, absent))} never occur{'' if many else 's'} in "
            f"{display_name(producer.path)} over the LST footprint: band{'s' if many else ''} {bands} "
            f"{'are' if many else 'is'} 0 wherever the map has data (written anyway, so that every scene gets the same "
            "bands; leave the class out of --class-values if unwanted)")


def build_guidance(
    lst_path: str | os.PathLike[str],
    sources: Sequence[SourceSpec],
    out_path: str | os.PathLike[str],
    options: GuidanceOptions,
    *,
    on_progress: ProgressCallback | None = None,
) -> GuidanceReport:
    """Resample ``sources`` onto the fine grid of ``lst_path`` and write them to ``out_path``.

    Partial coverage by a source is reported as a :class:`GuidanceWarning` (and in the report).
    """
    report_progress = on_progress or (lambda done, total, what: None)
    inputs = [lst_path, *(spec.path for spec in sources)]
    check_geotiff_name(out_path, inputs)
    check_writable(out_path, options.overwrite, inputs=inputs)
    with streaming_gdal_env(), ExitStack() as stack:
        lst = stack.enter_context(open_raster(lst_path))
        check_single_band(lst, lst_path)
        grid, scale = fine_grid(Grid.of(lst), lst_path, scale=options.scale, res=options.res)
        check_grid_size(grid, options.max_pixels, "--scale" if options.res is None else "--res")
        bands = _Stack(_producers(sources, grid, options, stack, lst_path), options.indices)
        rows = options.strip_rows or BLOCK
        tops = range(0, grid.height, rows)
        strips = [grid_rows(grid, top, min(rows, grid.height - top)) for top in tops]
        first_pass = "ndmvi" in bands.indices
        total = len(strips) * (2 if first_pass else 1)
        if first_pass:
            report_progress(0, total, "NDMVI minima")
            bands.find_ndmvi_minima(strips)
        done = total - len(strips)
        report = GuidanceReport(str(out_path), scale, grid.width, grid.height, grid.res[0],
                                grid.res_units, bands.describe())
        coverage = _Coverage(bands.producers)
        profile = creation_profile(width=grid.width, height=grid.height, count=len(bands.names),
                                   crs=grid.crs, transform=grid.transform)
        with geotiff_output(out_path, options.overwrite, inputs=inputs,
                            finish=layout(cog=options.cog, overviews=options.overviews,
                                          class_bands=[band["unit"] == "class" for band in report.bands])) as tmp:
            with rasterio.open(tmp, "w", **profile) as dst:
                for n, (top, strip_grid) in enumerate(zip(tops, strips)):
                    report_progress(done + n, total, "guidance")
                    data = bands.strip(strip_grid)
                    coverage.add(data)
                    dst.write(data, window=Window(0, top, grid.width, strip_grid.height))
                report.warnings = coverage.check(options.refuse_empty)
                _describe(dst, report, bands.describe(source_tag), source_tag(lst_path))
        report_progress(total, total, "guidance")
    for note in report.warnings:
        warnings.warn(note, GuidanceWarning, stacklevel=2)
    return report


def _describe(dst: rasterio.io.DatasetWriter, report: GuidanceReport, tagged: Sequence[dict[str, str]],
              lst_tag: str) -> None:
    """Band descriptions, units (where known) and tags; ``tagged`` rows and ``lst_tag`` name the
    files by their absolute paths (:func:`source_tag`), as other outputs' tags do: two dates'
    ``ST_B10.TIF`` must not look alike."""
    for i, band in enumerate(tagged, start=1):
        dst.set_band_description(i, band["name"])
        if band["unit"]:
            dst.set_band_unit(i, band["unit"])
        dst.update_tags(i, source=band["source"], resampling=band["resampling"])
    dst.update_tags(generator="groklst guidance", lst_source=lst_tag, scale=str(report.scale),
                    grid=report.grid)


def pixel_size_ratio(lst_path: str | os.PathLike[str], guidance_path: str | os.PathLike[str]) -> float:
    """The LST's pixel size over the guidance's, in the LST's CRS (3 for 10 m guidance of a 30 m LST)."""
    with open_raster(lst_path) as lst, open_raster(guidance_path) as guidance:
        _check_georeferenced(lst, lst_path)
        _check_georeferenced(guidance, guidance_path)
        check_related(guidance_path, guidance.crs, lst_path, lst.crs, guidance.bounds)
        grid = Grid.of(lst)
        return grid.res[0] / _source_res(guidance, grid)


def align_scale(lst_path: str | os.PathLike[str], guidance_path: str | os.PathLike[str]) -> int:
    """The scale a guidance raster suggests for an LST: their pixel-size ratio, rounded (>= 2)."""
    ratio = pixel_size_ratio(lst_path, guidance_path)
    if round(ratio) >= 2:
        return round(ratio)
    hint = f"pass a guidance with pixels at most half the LST's, or {NO_GUIDANCE}"
    if ratio > 1:
        raise InputError(guidance_path, f"is only {ratio:.2f}x finer than the LST; --align needs at least "
                         "2x (a ratio of 1.5 or more, rounded to the scale)", hint)
    raise InputError(guidance_path, f"is not finer than the LST (pixel-size ratio {ratio:.2f})", hint)


def align_guidance(lst_path: str | os.PathLike[str], guidance_path: str | os.PathLike[str],
                   out_path: str | os.PathLike[str], scale: int) -> GuidanceReport:
    """One guidance raster resampled onto the LST's fine grid at ``scale``, band names kept.

    Unnamed bands stay ``b1..bN``, so ``downscale`` still takes them in order. A guidance with
    no data over the LST footprint is written all nodata, not refused: the downscale refuses it
    as it refuses one unaligned (exit 2, the hint, ``lst_covered_fraction`` 0.0), knowing where
    the LST has data.
    """
    with open_raster(guidance_path) as src:
        names = tuple(band_names(src))
    return build_guidance(lst_path, [SourceSpec(Path(guidance_path), names)], out_path,
                          GuidanceOptions(scale=scale, overwrite=True, max_pixels=None,  # downscale's --force rules
                                           refuse_empty=False))
