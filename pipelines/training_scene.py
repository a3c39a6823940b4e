"""One canonical scene as ``groklst prepare`` sees it: its HR grid, its LST in Kelvin, its nodata.

:func:`open_scene` checks ``NAME_lst.tif`` against ``NAME_guidance.tif`` beside it (same CRS,
north-up, square pixels, guidance nesting in the HR grid, overlap), fixes the HR grid (the LST
grid at the HR resolution, anchored at the LST origin, restricted to the whole HR pixels the
guidance covers) and scans the LST values by the rule ``downscale`` reads with. The dask passes
here (:func:`nodata_cells`, :func:`ndmvi_minima`) read the scene chunk by chunk, so their memory
does not grow with the scene.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import dask.array as da
import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from pipelines.errors import InputError, not_found_error, shell_word
from pipelines.geotiff import band_scaling, guidance_names, open_raster, read_failure, read_stored
from pipelines.grids import (
    ALIGNMENT_TOLERANCE, Grid, as_integer, check_crs, check_north_up, crs_labels, nesting_factor,
)
from pipelines.lst_values import (
    LstDecoding,
    check_plausible,
    check_single_band,
    decode,
    decode_values,
    linear,
    resolve_units,
    scan,
    to_kelvin_masked,
)
from pipelines.raster_names import gdal_name, paired_guidance, raster_stem, scene_name
from pipelines.units import Units, tagged_units

LST_SUFFIX = "_lst"
GUIDANCE_SUFFIX = "_guidance"
_SCAN_CHUNK = 1024  # HR pixels per side of a dask chunk in the nodata scan (about)


@dataclass(frozen=True)
class Region:
    """Whole HR pixels covered by both rasters, in the scene's HR grid."""

    row0: int
    col0: int
    rows: int
    cols: int


@dataclass(frozen=True)
class LstReading:
    """How one scene's stored LST values become Kelvin: the rule ``downscale`` reads with.

    (:mod:`pipelines.lst_values`: declared fill values, scale and offset, the scene's unit, and
    implausible values as nodata when the user asked for it.)
    """

    decoding: LstDecoding
    units: Units
    scale: float
    offset: float
    units_from: str = "option"  # what said the unit: "option" (--units), "tag" (the file's unit tag), "values"

    def read(self, src: rasterio.DatasetReader, window: Window, path: Path) -> np.ndarray:
        """The LST in ``window`` in Kelvin (float32, NaN nodata)."""
        return to_kelvin_masked(decode(src, window, self.decoding, path), self.units, self.decoding)

    def kelvin(self, stored: np.ndarray) -> np.ndarray:
        """Stored values (NaN for the file's nodata) in Kelvin, like :meth:`read`."""
        values = decode_values(stored, self.decoding, self.scale, self.offset)
        return to_kelvin_masked(values, self.units, self.decoding)


@dataclass(frozen=True)
class Scene:
    """One canonical scene and how its rasters map onto its HR grid."""

    name: str
    lst_path: Path
    guidance_path: Path
    crs: CRS
    hr_transform: Affine  # the LST grid at HR resolution, anchored at the LST origin
    lst_factor: int  # LST pixels per HR pixel along each axis
    guidance_factor: int  # guidance pixels per HR pixel along each axis
    guidance_offset: tuple[int, int]  # guidance (row, col) of HR pixel (0, 0)
    region: Region
    bands: tuple[str, ...]
    crs_wkt: str
    lst_reading: LstReading
    shown: str  # how the user named the scene (the LST path, or the product folders it came from)

    @property
    def hr_resolution(self) -> float:
        return self.hr_transform.a


def guidance_for(lst_path: Path) -> tuple[str, Path]:
    """Scene name and guidance path for ``NAME_lst.tif``."""
    name, guidance = scene_name(lst_path.stem), paired_guidance(lst_path)
    if name is None or guidance is None:
        raise InputError(lst_path, "not a canonical LST file (expected NAME_lst.tif)",
                         "pass --guidance G.tif --align, or rename it NAME_lst.tif with a NAME_guidance.tif beside "
                         f"it (groklst guidance makes one); {INGEST_HINT}")
    if not guidance.exists() and gdal_name(guidance) is None:  # inside an archive: opening tells
        raise not_found_error(guidance, "guidance file not found beside the LST",
                              f"make it with groklst guidance {shell_word(lst_path)} BAND=SRC.tif -o "
                              f"{shell_word(guidance)} (or pass --guidance G.tif --align); {INGEST_HINT}")
    return name, guidance


INGEST_HINT = "for SDGSAT-1 products run groklst ingest first"  # their LST and guidance come from the products


def undescribed_bands(src: rasterio.DatasetReader) -> list[str]:
    """The bands of ``src`` without a description, by the ``bN`` names they would get. Read from
    ``src.descriptions`` (None where there is none), not from the names: a band really described
    "b1" is named, and a fallback name cannot be told from it."""
    return [f"b{i}" for i, desc in enumerate(src.descriptions, start=1) if not (desc and desc.strip())]


def _check_georeferenced(src: rasterio.DatasetReader, path: Path) -> None:
    grid = Grid.of(src)
    check_north_up(path, grid)
    check_crs(path, grid)


def _resolution(src: rasterio.DatasetReader, path: Path) -> float:
    t = src.transform
    if src.height * abs(t.a + t.e) > ALIGNMENT_TOLERANCE * t.a:  # rows are placed at t.a apart
        raise InputError(path, f"pixels are not square ({t.a:.10g} x {-t.e:.10g})")
    return float(t.a)


def _covered(offset: int, factor: int, length: int) -> tuple[int, int]:
    """HR index range whose ``factor`` guidance pixels ``hr*factor + offset`` lie in ``[0, length)``."""
    return -((offset) // factor), (length - offset) // factor


def open_scene(
    lst_path: Path,
    *,
    hr_resolution: float | None = None,
    units: Units = Units.auto,
    decoding: LstDecoding = LstDecoding(),
    shown: str | None = None,
    guidance_path: Path | None = None,
    band_names: Sequence[str] | None = None,
) -> Scene:
    """Check one scene's rasters against each other, fix its HR grid and check its LST values.

    ``hr_resolution`` is the HR pixel size in CRS units (default: the LST's); ``units`` and
    ``decoding`` say how the stored LST values read (as ``downscale`` reads them). ``shown`` is
    how messages name the scene (default: the LST path). The guidance is ``guidance_path``
    (one raster shared by several scenes: the scene is then named after the LST file), else
    ``NAME_guidance.tif`` beside ``NAME_lst.tif``. ``band_names`` name its bands in file order
    (``--guidance-bands``) instead of the band descriptions.
    """
    if guidance_path is None:
        name, guidance_path = guidance_for(lst_path)
    else:
        stem = raster_stem(lst_path)
        name = scene_name(stem) or stem
    with open_raster(lst_path) as lst, open_raster(guidance_path) as guide:
        check_single_band(lst, lst_path)
        bands = tuple(guidance_names(guide, guidance_path, band_names)[0])
        unnamed = [] if band_names is not None else undescribed_bands(guide)
        if unnamed:
            raise InputError(
                guidance_path,
                f"guidance band(s) {unnamed} have no description",
                "name them with --guidance-bands, or set band descriptions (groklst ingest writes them)",
            )
        for src, path in ((lst, lst_path), (guide, guidance_path)):
            _check_georeferenced(src, path)
        if lst.crs != guide.crs:
            raise InputError(guidance_path, "CRS {} differs from the LST's ({})".format(*crs_labels(guide.crs, lst.crs)))
        lst_res, guide_res = _resolution(lst, lst_path), _resolution(guide, guidance_path)
        hr = lst_res if hr_resolution is None else float(hr_resolution)
        lst_factor = nesting_factor(hr, lst_res, lst.width,
                                    f"--hr-res {hr:g} is not a multiple of the LST's {lst_res:.10g}", lst_path)
        guidance_factor = nesting_factor(
            hr, guide_res, guide.width,
            f"grids do not nest: HR pixel {hr:.10g} is not a multiple of the guidance's {guide_res:.10g}",
            guidance_path,
        )
        if lst_factor < 1 or guidance_factor < 1:
            raise InputError(guidance_path, f"HR resolution {hr:g} is finer than the input rasters")
        lt, gt = lst.transform, guide.transform
        nest = "grids do not nest: the guidance pixels do not line up with the LST pixels"
        row_off = as_integer((gt.f - lt.f) / guide_res, nest, guidance_path)
        col_off = as_integer((lt.c - gt.c) / guide_res, nest, guidance_path)
        r_lo, r_hi = _covered(row_off, guidance_factor, guide.height)
        c_lo, c_hi = _covered(col_off, guidance_factor, guide.width)
        r_lo, c_lo = max(r_lo, 0), max(c_lo, 0)
        r_hi, c_hi = min(r_hi, lst.height // lst_factor), min(c_hi, lst.width // lst_factor)
        if r_hi <= r_lo or c_hi <= c_lo:
            raise InputError(
                guidance_path,
                "no overlap between the LST and the guidance",
                "check that both rasters show the same place",
            )
        region = Region(r_lo, c_lo, r_hi - r_lo, c_hi - c_lo)
        reading = _lst_reading(lst, lst_path, region, lst_factor, units, decoding)
        crs = lst.crs
    return Scene(
        name=name,
        lst_path=lst_path,
        guidance_path=guidance_path,
        crs=crs,
        hr_transform=Affine(hr, 0.0, lt.c, 0.0, -hr, lt.f),
        lst_factor=lst_factor,
        guidance_factor=guidance_factor,
        guidance_offset=(row_off, col_off),
        region=region,
        bands=bands,
        crs_wkt=crs.to_wkt(),
        lst_reading=reading,
        shown=shown or str(lst_path),
    )


def _lst_reading(src: rasterio.DatasetReader, path: Path, region: Region, lst_factor: int,
                 units: Units, decoding: LstDecoding) -> LstReading:
    """Scan the LST pixels under the region and fix its unit; refuse implausible values.

    The same rule as ``downscale`` (:mod:`pipelines.lst_values`): unscaled digital numbers,
    undeclared fill values or a damaged file are refused with a hint, never training data.
    """
    window = Window(region.col0 * lst_factor, region.row0 * lst_factor,
                    region.cols * lst_factor, region.rows * lst_factor)
    found = scan(src, window, decoding, path)
    resolved = resolve_units(found, units)
    check_plausible(found, resolved, decoding, path)
    said_by = ("option" if units is not Units.auto
               else "tag" if tagged_units(found.unit_tag) is resolved else "values")
    return LstReading(decoding, resolved, *linear(src, decoding), units_from=said_by)


def _lazy(path: Path) -> da.Array:
    """The raster as a dask array ``(bands, rows, cols)`` of stored values with nodata as NaN:
    where the file's mask says so or a band holds its declared nodata (:func:`read_stored`;
    rioxarray's ``masked=True`` took the nodata value alone and dropped an internal or .msk mask)."""
    with open_raster(path) as src:
        shape, dtype = (src.count, src.height, src.width), np.result_type(src.dtypes[0], np.float32)
    chunks = ((shape[0],), _chunk_sizes(shape[1]), _chunk_sizes(shape[2]))
    return da.map_blocks(_read_block, path, dtype, chunks=chunks, dtype=dtype, meta=np.empty((0, 0, 0), dtype))


def _chunk_sizes(length: int) -> tuple[int, ...]:
    """``length`` pixels in chunks of :data:`_SCAN_CHUNK` (the last one shorter)."""
    return tuple(min(_SCAN_CHUNK, length - start) for start in range(0, length, _SCAN_CHUNK))


def _read_block(path: Path, dtype: np.dtype, block_info: dict | None = None) -> np.ndarray:
    """One dask block of :func:`_lazy`: the stored values in its window, NaN at nodata."""
    (_, _), (row0, row1), (col0, col1) = block_info[None]["array-location"]
    with open_raster(path) as src:
        data = read_stored(src, list(range(1, src.count + 1)), Window(col0, row0, col1 - col0, row1 - row0), path)
    return np.ma.filled(data.astype(dtype), np.nan)


def _lazy_values(path: Path) -> da.Array:
    """:func:`_lazy` with each band's scale/offset metadata applied: the raster's values."""
    with open_raster(path) as src:
        scaling = band_scaling(src, range(1, src.count + 1), path)
    scale, offset = (np.asarray(v)[:, None, None] for v in zip(*scaling))
    return _lazy(path) * scale + offset


def _hr_invalid(arr: da.Array, row0: int, col0: int, rows: int, cols: int, factor: int) -> da.Array:
    """HR mask of pixels with any nodata among their ``factor x factor`` source pixels, any band."""
    window = arr[:, row0 : row0 + rows * factor, col0 : col0 + cols * factor]
    invalid = da.isnan(window).any(axis=0)
    if factor == 1:
        return invalid
    step = factor * max(1, _SCAN_CHUNK // factor)
    invalid = invalid.rechunk((step, step))
    return da.coarsen(np.any, invalid, {0: factor, 1: factor})


def nodata_cells(scene: Scene, unit: int) -> np.ndarray:
    """Nodata counts (LST or any guidance band) per ``unit x unit`` HR cell of the region."""
    reg = scene.region
    rows, cols = reg.rows // unit * unit, reg.cols // unit * unit
    if rows == 0 or cols == 0:
        return np.zeros((0, 0), dtype=np.int64)
    f_l, f_g = scene.lst_factor, scene.guidance_factor
    g_row, g_col = scene.guidance_offset
    lst_kelvin = _lazy(scene.lst_path).map_blocks(scene.lst_reading.kelvin, dtype=np.float32)
    lst_bad = _hr_invalid(lst_kelvin, reg.row0 * f_l, reg.col0 * f_l, rows, cols, f_l)
    guide_bad = _hr_invalid(
        _lazy(scene.guidance_path), reg.row0 * f_g + g_row, reg.col0 * f_g + g_col, rows, cols, f_g
    )
    bad = (lst_bad | guide_bad).astype(np.int32)
    step = unit * max(1, _SCAN_CHUNK // unit)
    cells = da.coarsen(np.sum, bad.rechunk((step, step)), {0: unit, 1: unit})
    try:
        return np.asarray(cells.compute(scheduler="threads"), dtype=np.int64)
    except rasterio.errors.RasterioError as exc:
        raise InputError(scene.lst_path, f"cannot read the scene ({read_failure(scene.lst_path, exc)})") from exc


def ndmvi_minima(scene: Scene) -> tuple[float, float] | None:
    """Scene minima of red and NIR on the HR grid (for NDMVI), from a dask pass over the region."""
    if scene.guidance_factor == 1 or not {"ndmvi", "red", "nir"} <= set(scene.bands):
        return None
    reg, f_g = scene.region, scene.guidance_factor
    g_row, g_col = scene.guidance_offset
    arr = _lazy_values(scene.guidance_path)
    r0, c0 = reg.row0 * f_g + g_row, reg.col0 * f_g + g_col
    step = f_g * max(1, _SCAN_CHUNK // f_g)
    minima = []
    for name in ("red", "nir"):
        fine = arr[scene.bands.index(name), r0 : r0 + reg.rows * f_g, c0 : c0 + reg.cols * f_g]
        coarse = da.coarsen(np.mean, fine.rechunk((step, step)), {0: f_g, 1: f_g})
        minima.append(da.nanmin(coarse))
    red_min, nir_min = da.compute(*minima, scheduler="threads")
    return float(red_min), float(nir_min)
