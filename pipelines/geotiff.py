"""groklst's GeoTIFF convention and the raster reads every command shares.

Convention for every raster groklst writes: float32, 512x512 internal tiles, DEFLATE with the
floating-point predictor, nodata NaN, CRS and transform of the source grid, one description
per band and a unit tag.
"""

from __future__ import annotations

import errno
import glob
import logging
import math
import os
import re
import shlex
import shutil
import stat
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
from rasterio._err import CPLE_BaseError  # what GDAL raises directly, e.g. from a copy
from rasterio.enums import ColorInterp, MaskFlags
from rasterio.errors import NotGeoreferencedWarning, RasterioError, RasterioIOError
from rasterio.windows import Window

from pipelines.atomic import atomic_output, refuse_input_as_output
from pipelines.errors import (GroklstWarning, InputError, environment_error, environment_hint, first_time,
                             not_found_error, special_file_error, unmistakable_path)
from pipelines.file_headers import TIFF_HEADERS, refuse_foreign_file
from pipelines.raster_names import gdal_name

BLOCK = 512
# GDAL compresses and writes blocks on one thread, whatever GDAL_NUM_THREADS says: with worker
# threads a failed write (a full disk, a file-size limit) went unreported and a damaged file
# looked complete (measured with GDAL 3.10: exit 0, blocks that no longer decode).
WRITE_THREADS = "1"
STREAMING_CACHE_MB = 256  # GDAL block cache while streaming a scene, unless GDAL_CACHEMAX is set


# Extensions of other formats: a GeoTIFF under such a name would mislead every tool that opens it.
OTHER_FORMATS = frozenset({".png", ".jpg", ".jpeg", ".jp2", ".gif", ".bmp", ".webp", ".nc", ".h5",
                           ".hdf", ".he5", ".vrt", ".img", ".asc", ".zarr", ".npy", ".csv", ".json", ".pt"})


def check_geotiff_name(path: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str]] = ()) -> None:
    """Refuse an output name whose extension says another format (``-o out.png``), and a name
    where a file other than a TIFF already lies (``-o notes.txt --overwrite`` would replace a
    file groklst never makes); an empty file (``mktemp``) or a symbolic link (replaced itself,
    never written through) may be replaced."""
    suffix = Path(path).suffix.lower()
    if suffix in OTHER_FORMATS:
        picture = suffix in (".png", ".jpg", ".jpeg")
        raise InputError(path, f"groklst writes GeoTIFF, not {suffix}",
                         "name the output .tif" + ("; --quicklook PNG adds a picture" if picture else ""))
    refuse_input_as_output(path, inputs)  # an input there is not "a file that is no TIFF"
    refuse_foreign_file(path, "TIFF", TIFF_HEADERS)


def creation_profile(
    *, width: int, height: int, count: int, crs: Any, transform: Any
) -> dict[str, Any]:
    """Rasterio profile for a raster that follows the project convention."""
    return {
        "driver": "GTiff",
        "dtype": "float32",
        "nodata": float("nan"),
        "width": width,
        "height": height,
        "count": count,
        "crs": crs,
        "transform": transform,
        "compress": "deflate",
        "predictor": 3,
        "BIGTIFF": "IF_SAFER",
        "tiled": True,
        "blockxsize": BLOCK,
        "blockysize": BLOCK,
        "num_threads": WRITE_THREADS,
    }


def copy_profile(src: rasterio.DatasetReader, **changes: Any) -> dict[str, Any]:
    """Profile for a copy of ``src`` that keeps its data type, bands, nodata and grid (``changes``
    override any of them), tiled and losslessly compressed as the project's outputs are."""
    profile = src.profile.copy()
    for key in ("blockxsize", "blockysize", "tiled", "compress", "predictor", "interleave", "photometric"):
        profile.pop(key, None)
    floating = np.dtype(src.dtypes[0]).kind == "f"
    profile.update(driver="GTiff", tiled=True, blockxsize=BLOCK, blockysize=BLOCK, compress="deflate",
                   predictor=3 if floating else 2, BIGTIFF="IF_SAFER", **changes)
    return profile


def copy_metadata(src: rasterio.DatasetReader, dst: rasterio.io.DatasetWriter) -> None:
    """Copy tags (AREA_OR_POINT included), band descriptions, units, band tags and scale/offset.

    Band statistics (GDAL's ``STATISTICS_*``, also those of an ``.aux.xml`` beside ``src``) are
    left out: they describe ``src``'s pixels, and readers (QGIS, gdalinfo, rasterio's
    ``statistics``) take them as ``dst``'s without recomputing."""
    dst.update_tags(**src.tags())
    for band, (description, unit) in enumerate(zip(src.descriptions, src.units), start=1):
        dst.update_tags(band, **{key: value for key, value in src.tags(band).items()
                                 if not key.startswith("STATISTICS_")})
        if description:
            dst.set_band_description(band, description)
        if unit:
            dst.set_band_unit(band, unit)
    dst.scales, dst.offsets = src.scales, src.offsets


def streaming_gdal_env() -> rasterio.Env:
    """GDAL settings for streaming a scene through tiles or strips, unless the user set them.

    The block cache is capped at STREAMING_CACHE_MB: GDAL's default of 5% of RAM fills with
    every block a streaming run touches, so peak memory would grow with the scene. Blocks are
    decoded on every core (``GDAL_NUM_THREADS``): reading the guidance is the tile reader's
    main cost, and a read spans several blocks (2 cores: a 3999^2 10-band scene's tiles read
    in 2.0 s instead of 2.7 s). Writing stays on one thread (WRITE_THREADS). A user's own
    ``GDAL_CACHEMAX`` / ``GDAL_NUM_THREADS`` are respected.
    """
    options: dict[str, object] = {}
    if "GDAL_CACHEMAX" not in os.environ:
        options["GDAL_CACHEMAX"] = STREAMING_CACHE_MB * 2**20  # rasterio passes bytes
    if "GDAL_NUM_THREADS" not in os.environ:
        options["GDAL_NUM_THREADS"] = "ALL_CPUS"  # GDAL counts the CPUs this process may use
    return rasterio.Env(**options)


@contextmanager
def georeferencing_checked_later() -> Iterator[None]:
    """Silence rasterio's NotGeoreferencedWarning while a raster is opened: groklst checks the
    georeferencing itself, with a hint, where it matters."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        yield


def check_raster(path: str | os.PathLike[str]) -> None:
    """Refuse ``path`` as :func:`open_raster` would (missing, a folder, unreadable), reading only
    its header: for inputs checked before a run may be skipped."""
    with open_raster(path):
        pass


def open_raster(path: str | os.PathLike[str]) -> rasterio.DatasetReader:
    """Open a raster for reading, turning missing or unreadable files into an :class:`InputError`.

    ``path`` is a local file or a GDAL dataset name (:mod:`pipelines.raster_names`).
    """
    p = Path(path)
    name = gdal_name(p)
    if name is None and not p.exists():
        raise not_found_error(p)
    special = special_file_error(p) if name is None else None
    if special is not None:
        raise special
    if name is None and p.is_dir():
        raise InputError(p, "is a directory, expected a GeoTIFF",
                         "SDGSAT-1 product folders are given alone: one scene's TIS and MII folders")
    try:
        with georeferencing_checked_later():
            src = rasterio.open(name or p)
    except UnicodeError as exc:
        raise environment_error(exc, p) from exc
    except RasterioIOError as exc:
        raise _unreadable(exc, name or p, remote=name is not None) from exc
    if src.count == 0 and src.subdatasets:
        _refuse_container(src, p)
    return src


# What the C library says on EMFILE (this process's limit); ENFILE's (the system's) starts alike.
_TOO_MANY_OPEN = os.strerror(errno.EMFILE)


def _unreadable(exc: RasterioIOError, path: str | Path, *, remote: bool) -> InputError:
    """The error for a raster GDAL could not open: the open-file limit is said as such (QA: a
    compare of 150 candidates under ``ulimit -n 40`` called the 31st "not a readable raster ...
    is it a GeoTIFF?")."""
    reason = _first_line(exc)
    if _TOO_MANY_OPEN in reason:
        return InputError(path, f"cannot be opened: too many files open at once ({reason})",
                          "raise the limit with ulimit -n, or give fewer files per run, e.g. fewer compare candidates")
    hint = "check the name, the archive and any credentials GDAL needs" if remote else "is it a GeoTIFF?"
    return InputError(path, f"not a readable raster ({reason})", hint)


def _refuse_container(src: rasterio.DatasetReader, path: Path) -> None:
    """A netCDF/HDF5 file of several variables opens as a container with no band of its own."""
    names = src.subdatasets
    src.close()
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    variable = names[0].rsplit(":", 1)[-1].strip("/").replace("/", "_")
    raise InputError(path, f"holds {len(names)} subdatasets ({shown}), not one raster",
                     f"give one by its name, e.g. {shlex.quote(names[0])}, or extract it: gdal_translate "
                     f"{shlex.quote(names[0])} {shlex.quote(f'{path.stem}_{variable}.tif')}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def read_window(
    src: rasterio.DatasetReader,
    bands: int | Sequence[int],
    window: Window,
    path: str | os.PathLike[str],
    *,
    dtype: Any = np.float32,
) -> np.ndarray:
    """Read ``bands`` in ``window`` as floats, NaN where the file says nodata or a value is not finite.

    A block that cannot be decoded (a damaged or truncated file) is an :class:`InputError`
    naming the file, not an internal error.
    """
    return _as_floats(read_stored(src, bands, window, path), dtype)


def _as_floats(data: np.ma.MaskedArray, dtype: Any) -> np.ndarray:
    """Stored values as ``dtype``, NaN where masked or not finite."""
    with np.errstate(invalid="ignore", over="ignore"):  # damaged values: judged by the caller
        values = np.ma.filled(data.astype(dtype), np.nan)
    values[~np.isfinite(values)] = np.nan
    return values


FLOAT32_MAX = float(np.finfo(np.float32).max)


def refuse_unusable(src: rasterio.DatasetReader, data: np.ma.MaskedArray, bands: int | Sequence[int],
                    window: Window, path: str | os.PathLike[str], scaling: Sequence[tuple[float, float]]) -> None:
    """Refuse, band by band, the valid stored values ``data`` of ``bands`` in ``window`` that are
    +-inf or that their (scale, offset) in ``scaling`` puts beyond float32's range
    (:func:`refuse_band_values`). Judged on the block already read: no second pass over the file
    (only a refusal reads every band of ``window`` again, for its hint: :func:`_file_facts`)."""
    listed = [bands] if isinstance(bands, int) else list(bands)
    stored = np.ma.getdata(data).reshape(len(listed), *data.shape[-2:])
    valid = ~np.ma.getmaskarray(data).reshape(stored.shape)
    for band, values, ok, (scale, offset) in zip(listed, stored, valid, scaling):
        description = src.descriptions[band - 1]
        refuse_band_values(path, f"band {band}{f' ({description})' if description else ''}", values, ok,
                           scale, offset, window, facts=lambda: _file_facts(src, window, path))


def refuse_band_values(path: str | os.PathLike[str], band: str, stored: np.ndarray, valid: np.ndarray | None = None,
                       scale: float = 1.0, offset: float = 0.0, window: Window | None = None,
                       hint: str | None = None, quantity: str = "reflectance, elevation or index",
                       facts: Callable[[], FileFacts] | None = None) -> None:
    """Refuse +-inf among the ``valid`` (default: all) ``stored`` values of one ``band`` of ``path``,
    and values that ``stored * scale + offset`` puts beyond float32's range.

    NaN is the usual float nodata, but no file means nodata by infinity unless it declares it
    (then it is masked, not ``valid``): a damaged file or a bad index computation (0/0 is NaN,
    1/0 inf) would otherwise become holes in the output with exit status 0. A value beyond
    float32's range (groklst computes in float32) is no plausible reflectance, elevation or
    index either: it would become inf, then a hole, the same way. ``window`` says where
    ``stored`` lies in the file (None: the whole variable); ``hint`` replaces the GDAL commands
    given to fix a raster (a file of another format); ``facts`` gives, only when refusing, what
    those commands must know of the whole file (default: this band is all there is);
    ``quantity`` is what the band holds, for the refusal's wording (an LST: "surface temperature").
    """
    valid = np.ones(stored.shape, bool) if valid is None else valid
    known = facts or (lambda: FileFacts(scaling=((scale, offset),)))
    infinite = _infinite(stored, valid)
    if infinite.any():
        signs = sorted({"+inf" if v > 0 else "-inf" for v in stored[infinite].tolist()})  # "+inf" first
        raise _refusal(path, band, f"infinite values ({'/'.join(signs)})", infinite, window,
                       "infinity is no value and no nodata", hint or _infinite_hint(stored[infinite], known()))
    beyond = _beyond(stored, valid, scale, offset)
    if beyond.any():
        first = stored[beyond][0].item()
        scaled = f" once scaled{scaling_text(scale, offset)}" if (scale, offset) != (1.0, 0.0) else ""
        raise _refusal(path, band, f"values beyond float32's range{scaled}, e.g. {first:g}", beyond, window,
                       f"no {quantity} is that large",
                       hint or _beyond_hint(stored[beyond], scaled, known()))


def _infinite(stored: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Where the ``valid`` ``stored`` values are +-inf (only floats can be)."""
    return np.isinf(stored) & valid if stored.dtype.kind == "f" else np.zeros(stored.shape, bool)


def _beyond(stored: np.ndarray, valid: np.ndarray, scale: float, offset: float) -> np.ndarray:
    """Where the ``valid`` finite ``stored`` values, scaled, lie beyond float32's range."""
    if (scale, offset) == (1.0, 0.0) and (stored.dtype.kind != "f" or stored.dtype.itemsize <= 4):
        return np.zeros(stored.shape, bool)  # float32 or integers: nothing beyond float32's range
    with np.errstate(over="ignore", invalid="ignore"):
        return valid & np.isfinite(stored) & (np.abs(stored.astype(np.float64) * scale + offset) > FLOAT32_MAX)


def _refusal(path: str | os.PathLike[str], band: str, what: str, found: np.ndarray, window: Window | None,
             why: str, hint: str) -> InputError:
    """``BAND holds WHAT: N pixels in rows .., columns .. (the part read so far), the first at row R,
    column C; WHY``: where the ``found`` pixels of one band are, in file rows and columns."""
    r0, c0 = (0, 0) if window is None else (int(window.row_off), int(window.col_off))
    row, col = (int(i[0]) for i in np.nonzero(found))
    count = int(found.sum())
    part = "" if window is None else (f" in rows {r0}..{r0 + int(window.height) - 1}, columns "
                                      f"{c0}..{c0 + int(window.width) - 1} (the part read so far)")
    return InputError(path, f"{band} holds {what}: {count} pixel{'s' if count > 1 else ''}{part}, the first at row "
                            f"{r0 + row}, column {c0 + col}; {why}", hint)


@dataclass(frozen=True)
class FileFacts:
    """What a hint must know of a whole raster to fix its unusable values without damaging it:
    a GeoTIFF holds one nodata for all its bands, and gdal_calc.py drops scale/offset and units."""

    nodata: float | None = None  # the file's declared nodata
    unusable: frozenset[float] = frozenset()  # every band's +-inf and beyond-range stored values in the part read
    scaling: tuple[tuple[float, float], ...] = ()  # every band's (scale, offset)
    calc_type: str = ""  # gdal_calc.py's --type for a file with integer bands, whose NaN would be written as 0
    units: tuple[str, ...] = ()  # every band's unit, '' where none
    beyond_bands: tuple[int, ...] = ()  # the bands holding finite values beyond float32's range in the part read
    float64: bool = False  # a band is float64: only there can an unscaled finite value lie beyond float32's range
    whole_bands: tuple[int, ...] = ()  # bands scaled (not 1) whose every valid pixel read is beyond: wrong scale
    masked: bool = False  # an internal/.msk mask or alpha marks nodata: gdal_calc.py and -unscale would drop it
    int8: bool = False  # a band is Int8, which GDAL 3.6 and older read as unsigned bytes (-1 as 255)
    values: int = 0  # width x height x bands: a Float64 copy of the file takes 8 bytes each, uncompressed

    def rewrite(self) -> str:
        """The command(s) making NaN (nodata) of exactly the values groklst refuses, in every band
        and also in parts not read yet, and what they lose: a file whose nodata is a mask (or
        alpha) first gets it written as NaN in a Float64 copy (:meth:`_unmask`), which gdal_calc.py keeps."""
        route = (self._route("FILE", typed=True) if not self.masked
                 else f"{self._unmask()}, then {self._route('MASKED.tif', typed=False)}")
        return route + self._scratch() + (f" ({INT8_NOTE})" if self.int8 else "")

    def _float64_files(self) -> list[str]:
        """The files the route writes as Float64: MASKED.tif (a mask), UNSCALED.tif (scalings that
        differ, a value beyond), and FIXED.tif where its source is one of those or --type is Float64."""
        unscaled = len(set(self.scaling)) > 1 and bool(self.beyond_bands)
        scratch = ["MASKED.tif"] * self.masked + ["UNSCALED.tif"] * unscaled
        return scratch + ["FIXED.tif"] * bool(scratch or self.calc_type == "Float64")

    def _scratch(self) -> str:
        """How much free space the route's Float64 files need and where they go, from the file's
        size: a 10-band 10980 x 10980 tile takes 9.6 GB per copy, and the masked route writes up
        to three, which a small disk ran out of half way without a word; '' where none is Float64."""
        files = self._float64_files()
        if not files or not self.values:
            return ""
        each = self.values * 8
        names = ", ".join(files[:-1]) + f" and {files[-1]}" if len(files) > 1 else files[0]
        spare = [f for f in files if f != "FIXED.tif"]
        tidy = f"; delete {' and '.join(spare)} once FIXED.tif is written" if spare else ""
        per = f"{_size_words(each)} each: " if len(files) > 1 else ""
        return (f" (disk: this writes {names} as uncompressed Float64 into the folder it is run in, "
                f"{per}{_size_words(each * len(files))} free space needed there{tidy})")

    def _unmask(self) -> str:
        """The gdalwarp command (GDAL 3.6: the same grid, nearest neighbour, stored values, scale/offset,
        units and band names kept) writing NaN where the file's mask marks nodata, as Float64, which
        holds NaN and every stored value; -srcnodata None, without which gdalwarp honours a declared
        nodata and drops the mask. It copies the declared nodata's pixels as data (-dstnodata N
        instead shifted Int32/UInt32 ones off N to N-1 or N+1, valid values), so gdal_edit.py declares it again."""
        warp = ("gdalwarp -ot Float64 -srcnodata None -dstnodata nan FILE MASKED.tif (it makes NaN the pixels "
                "FILE's mask marks nodata: gdal_calc.py would drop the mask, and they would read as data)")
        if self.nodata is None or math.isnan(self.nodata):
            return warp
        return (f"{warp}, then gdal_edit.py -a_nodata {self.nodata!r} MASKED.tif (it declares FILE's nodata "
                f"{self.nodata!r} again, whose pixels gdalwarp copied as data)")

    def _route(self, source: str, *, typed: bool) -> str:
        """The rewrite of ``source`` (``typed``: as FILE's bands' data type, which may not hold NaN).
        gdal_calc.py --allBands applies one expression to every band: bands of one scaling share
        its float32 limit, but with scalings that differ a finite stored value may be valid in one
        band and beyond in another, so then the scaling is applied first (gdal_translate -unscale),
        or only +-inf (unusable in any band) are rewritten where no finite value beyond was found."""
        if len(set(self.scaling)) <= 1:
            scaling = self.scaling[0] if self.scaling else (1.0, 0.0)
            return self._calc(source, _nan_calc(scaling, self.float64), self.scaling, typed)
        if not self.beyond_bands:
            return self._calc(source, "where(isinf(A), nan, A)", self.scaling, typed)
        return (f"gdal_translate -unscale -ot Float64 -a_nodata nan {source} UNSCALED.tif (it applies each band's "
                "scale/offset; -a_nodata nan makes the nodata pixels NaN, which no valid pixel unscales to), "
                f"then {self._calc('UNSCALED.tif', _nan_calc((1.0, 0.0), True), (), False)}")

    def _calc(self, source: str, calc: str, scaling: Sequence[tuple[float, float]], typed: bool) -> str:
        """The gdal_calc.py command writing ``calc``'s NaN in ``source`` as nodata, and what it loses;
        ``typed``: ``source`` has FILE's data types (not Float64), so an integer file needs --type."""
        typed_option = f" --type={self.calc_type}" if self.calc_type and typed else ""
        return (f'gdal_calc.py -A {source} --allBands=A --calc="{calc}"{typed_option} --outfile=FIXED.tif '
                f"({_calc_keeps(scaling, self.units)})")


def _file_facts(src: rasterio.DatasetReader, window: Window, path: str | os.PathLike[str]) -> FileFacts:
    """``src``'s declared nodata and scaling, and the unusable values every band holds in
    ``window``: a refusal names one band, and a hint that declared its value nodata undid the
    last one when another band held another (+inf, then -inf, then +inf again)."""
    bands = list(range(1, src.count + 1))
    scaling = tuple(_declared_scaling(src, band) for band in bands)
    unusable: set[float] = set()
    beyond_bands: list[int] = []
    whole_bands: list[int] = []
    for band, (scale, offset) in zip(bands, scaling):  # one at a time: bands may differ in data type (a VRT)
        data = read_stored(src, [band], window, path)
        values = np.ma.getdata(data).reshape(data.shape[-2:])
        ok = ~np.ma.getmaskarray(data).reshape(values.shape)
        beyond = _beyond(values, ok, scale, offset)
        refused = _infinite(values, ok) | beyond
        unusable.update(values[refused].tolist())
        beyond_bands += [band] if beyond.any() else []
        whole_bands += [band] if beyond.any() and scale != 1.0 and not (ok & ~refused).any() else []
    declared = [v for v in src.nodatavals if v is not None]
    kinds = [np.dtype(t) for t in src.dtypes]
    wide = any(t.itemsize >= (8 if t.kind == "f" else 4) for t in kinds)  # float64, or integers float32 rounds
    calc_type = "" if all(t.kind == "f" for t in kinds) else ("Float64" if wide else "Float32")
    units = tuple(unit or "" for unit in src.units)
    masks = {MaskFlags.per_dataset, MaskFlags.alpha}
    masked = any(masks & set(flags) for flags in src.mask_flag_enums)
    return FileFacts(declared[0] if declared else None, frozenset(unusable), scaling, calc_type, units,
                     tuple(beyond_bands), any(t.kind == "f" and t.itemsize >= 8 for t in kinds), tuple(whole_bands),
                     masked, any(t == np.int8 for t in kinds), src.width * src.height * src.count)


def _size_words(size: int) -> str:
    """``size`` bytes in decimal units for a hint: ``9.6 GB``, ``1.2 MB``."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size / 1e3:.1f} kB"


def _declared_scaling(src: rasterio.DatasetReader, band: int) -> tuple[float, float]:
    """``band``'s (scale, offset) as declared, (1, 0) where none gives values (:func:`band_scaling`
    refuses those when the band is read)."""
    scale = float(src.scales[band - 1]) if src.scales else 1.0
    offset = float(src.offsets[band - 1]) if src.offsets else 0.0
    return (scale, offset) if scale != 0 and math.isfinite(scale) and math.isfinite(offset) else (1.0, 0.0)


INT8_NOTE = ("run them with GDAL 3.7 or later: GDAL 3.6 and older read FILE's Int8 bands as unsigned bytes, "
             "so -1 becomes the valid value 255 and its nodata is missed")

# No --NoDataValue=nan in these hints: gdal_calc.py (GDAL 3.6) blends its output nodata in as
# nodata * 0, which with NaN makes every pixel NaN. Its default nodata is the output type's
# largest value (3.4028235e+38 for Float32, 1.797e+308 for Float64, as on the unscale route),
# written where the file held its own nodata: those pixels stay nodata.
_CALC_KEEPS = ("gdal_calc.py keeps only grid, projection and nodata: give the band names again "
               "(--guidance-bands, or NAME1,NAME2=FILE to groklst guidance)")


def _calc_keeps(scaling: Sequence[tuple[float, float]], units: Sequence[str]) -> str:
    """What the gdal_calc.py rewrite loses, and the gdal_edit.py command that restores a scaled
    file's scale/offset (one value per band, or one for all: without them the stored numbers read
    as values, and the next run refused them) and its bands' units where all bands share one
    (GDAL 3.6's gdal_edit.py -units sets every band alike: different units are named as lost)."""
    options, dropped = [], []
    if any(pair != (1.0, 0.0) for pair in scaling):
        scales, offsets = ([pair[i] for pair in scaling] for i in (0, 1))
        options.append(f"-scale {_numbers(scales)} -offset {_numbers(offsets)}")
        dropped.append("scale/offset")
    shared = set(units) if any(units) else set()
    if len(shared) == 1:
        options.append(f"-units {shlex.quote(units[0])}")
        dropped.append(f"units ({units[0]})")
    restore = f": restore them with gdal_edit.py {' '.join(options)} FIXED.tif" if options else ""
    text = f"{_CALC_KEEPS}; it drops {' and '.join(dropped)} too{restore}" if dropped else _CALC_KEEPS
    return text + (f"; {_lost_units(units)}" if len(shared) > 1 else "")


def _lost_units(units: Sequence[str]) -> str:
    """Which bands' ``units`` (they differ) the rewrite loses for good: no GDAL 3.6 tool sets one band's unit."""
    named = ", ".join(f"band {band} {unit}" for band, unit in enumerate(units, start=1) if unit)
    return f"the bands' units are lost too ({named}): GDAL 3.6's gdal_edit.py -units sets one unit for every band"


def _numbers(values: Sequence[float]) -> str:
    """``values`` for a gdal_edit.py option: one when all are equal (it then sets every band)."""
    return repr(values[0]) if len(set(values)) == 1 else " ".join(map(repr, values))


def _not_declarable(values: Sequence[float], facts: FileFacts) -> str:
    """Why ``gdal_edit.py -a_nodata`` cannot fix the ``values`` found ('' where it can): it
    replaces the file's one nodata for all bands, so the file's own fill pixels (Sentinel-2's 0)
    would read as data, and a second value would undo the first."""
    found = sorted(set(values) | facts.unusable)
    if len(found) > 1:
        shown = " and ".join(f"{v:+g}" for v in found) if len(found) <= 3 else f"{len(found)} such values"
        return f"the file holds {shown}, and a GeoTIFF declares one nodata"
    if facts.nodata is not None and not math.isnan(facts.nodata):
        return (f"a GeoTIFF declares one nodata, and declaring them would make the file's own "
                f"({facts.nodata!r}) read as data")
    return ""


def _infinite_hint(values: np.ndarray, facts: FileFacts) -> str:
    """How to make the infinite ``values`` nodata: declare the one sign present (the file keeps
    all its metadata) where that damages nothing (:func:`_not_declarable`), else rewrite them as
    NaN (gdal_calc.py: band names, scale/offset and units are lost, so downscale then takes the
    bands in order), with any value beyond float32's range another band holds (:meth:`FileFacts.rewrite`)."""
    rewrite = facts.rewrite() + ("" if facts.whole_bands else _scale_fix(facts))
    distinct = sorted(set(values.tolist()))
    why_not = _not_declarable(distinct, facts)
    if why_not:
        return _scale_first(facts, f"set them to nodata ({why_not}): {rewrite}", "the infinite values stay unusable")
    sign = "inf" if distinct[0] > 0 else "-inf"
    return _scale_first(facts, f"declare them nodata: gdal_edit.py -a_nodata {sign} FILE, or set them to nodata: "
                               f"{rewrite}", "the infinite values stay unusable")


def _beyond_hint(values: np.ndarray, scaled: str, facts: FileFacts) -> str:
    """How to make values beyond float32's range nodata (a fill value: declare it, where that
    damages nothing: :func:`_not_declarable`), or fix a wrong scale."""
    distinct = np.unique(values)
    why_not = _not_declarable(distinct.tolist(), facts)
    if len(distinct) == 1 and not why_not:
        value = repr(distinct[0].item())  # exact: a float32 value printed as float32 reads back larger
        fix = f"if {value} is a fill value, declare it nodata: gdal_edit.py -a_nodata {value} FILE"
    else:
        fix = f"set them to nodata{f' ({why_not})' if why_not else ''}: {facts.rewrite()}"
    if facts.whole_bands:
        return _scale_first(facts, fix, "if those values are truly unusable instead")
    return fix + (_scale_fix(facts) or (f", or fix the band's scale/offset metadata ({_scale_command(facts)})"
                                        if scaled else ""))


def _scale_fix(facts: FileFacts) -> str:
    """For a file whose bands' scalings differ: which bands hold values beyond float32's range,
    and the gdal_edit.py command (one value per band) that fixes their scale/offset if that is
    what is wrong ('' where there are none, or one scaling: the hint then has no per-band part)."""
    if len(set(facts.scaling)) <= 1 or not facts.beyond_bands:
        return ""
    return f"; or, if {_bands(facts.beyond_bands)}'s scale/offset metadata is wrong, fix it: {_scale_command(facts)}"


def _scale_first(facts: FileFacts, fix: str, otherwise: str) -> str:
    """The hint ``fix`` led by the scale/offset fix where every valid pixel of a scaled band (in
    the part read) lies beyond float32's range: a wrong scale (1e40 on a good DEM) is then far
    likelier than unusable data, and the rewrite would leave that band no data at all (downscale
    then refuses it). ``otherwise`` introduces ``fix``, for what the scale fix leaves to do."""
    if not facts.whole_bands:
        return fix
    its, it = ("their", "them") if len(facts.whole_bands) > 1 else ("its", "it")
    return (f"every valid pixel of {_bands(facts.whole_bands)} in the part read is beyond float32's range once "
            f"scaled, so {its} scale/offset metadata is likely wrong, and setting them to nodata would leave {it} "
            f"no data: fix it first: {_scale_command(facts)}, then run groklst again; {otherwise}: {fix}")


def _bands(bands: Sequence[int]) -> str:
    """``band 3`` or ``bands 3, 7``."""
    return f"band{'s' if len(bands) > 1 else ''} {', '.join(map(str, bands))}"


def _scale_command(facts: FileFacts) -> str:
    """The gdal_edit.py command fixing the scale/offset: one value per band, placeholders (S3, O3)
    for the bands holding values beyond float32's range, where the bands' scalings differ; else
    one placeholder pair for all (gdal_edit.py then sets every band)."""
    if len(set(facts.scaling)) <= 1:
        return "gdal_edit.py -scale S -offset O FILE"
    scales, offsets = ([repr(pair[i]) for pair in facts.scaling] for i in (0, 1))
    for band in facts.beyond_bands:
        scales[band - 1], offsets[band - 1] = f"S{band}", f"O{band}"
    return f"gdal_edit.py -scale {' '.join(scales)} -offset {' '.join(offsets)} FILE"


def _nan_calc(scaling: tuple[float, float], float64: bool) -> str:
    """gdal_calc.py's --calc making NaN of exactly what groklst refuses in bands of one ``scaling``:
    +-inf, and values it puts beyond float32's range, compared in float64 as :func:`_beyond` does
    (abs(inf) is beyond too), whatever part they lie in: a threshold at the least value found
    missed larger ones not read yet and, with another band's scaling, deleted valid pixels.
    NaN and values within range are kept; unscaled, only a ``float64`` band has finite ones beyond."""
    scale, offset = scaling
    if scaling == (1.0, 0.0) and not float64:
        return "where(isinf(A), nan, A)"
    value = "float64(A)" + (f" * {scale!r}" if scale != 1.0 else "") + (f" + {offset!r}" if offset else "")
    return f"where(abs({value}) > {FLOAT32_MAX!r}, nan, A)"  # float64: int16 abs(-32768) < 0


def scaling_text(scale: float, offset: float) -> str:
    """How stored values are scaled, `` (stored * S + O)``, for tags and messages ('' when not)."""
    if (scale, offset) == (1.0, 0.0):
        return ""
    return f" (stored * {scale:g} {'-' if offset < 0 else '+'} {abs(offset):g})"


def band_scaling(src: rasterio.DatasetReader, bands: Iterable[int],
                 path: str | os.PathLike[str]) -> list[tuple[float, float]]:
    """Each band's (scale, offset) from the file's metadata: its values are ``stored * scale +
    offset`` ((1, 0) where none is declared; Sentinel-2 L2A DNs: 0.0001, -0.1)."""
    scaling = []
    for band in bands:
        scale = float(src.scales[band - 1]) if src.scales else 1.0
        offset = float(src.offsets[band - 1]) if src.offsets else 0.0
        if scale == 0 or not (math.isfinite(scale) and math.isfinite(offset)):
            raise InputError(path, f"band {band} declares scale {scale:g} and offset {offset:g}, which "
                             "give no values", "fix the metadata, e.g. gdal_edit.py -scale 1 -offset 0 "
                             f"{shlex.quote(unmistakable_path(path))}")
        scaling.append((scale, offset))
    return scaling


def apply_scaling(values: np.ndarray, scaling: Sequence[tuple[float, float]]) -> np.ndarray:
    """``values`` (one band, or bands first) with each band's (scale, offset) applied in place.

    The arithmetic is float64, so a float32 band is rounded once; NaN (nodata) stays NaN.
    """
    for band, (scale, offset) in zip(values[None] if values.ndim == 2 else values, scaling):
        if (scale, offset) != (1.0, 0.0):
            band[...] = band.astype(np.float64) * scale + offset
    return values


def read_values(
    src: rasterio.DatasetReader,
    bands: int | Sequence[int],
    window: Window,
    path: str | os.PathLike[str],
    *,
    dtype: Any = np.float32,
) -> np.ndarray:
    """:func:`read_window` with each band's scale/offset metadata applied: a guidance band's
    values, whatever way they are stored (nodata is judged on the stored values first; a stored
    +-inf, or a value beyond float32's range once scaled, is refused: :func:`refuse_unusable`).
    A float64 band is scaled before it is narrowed, so a value that only the scale brings
    into float32's range is kept."""
    scaling = band_scaling(src, [bands] if isinstance(bands, int) else bands, path)
    data = read_stored(src, bands, window, path)
    refuse_unusable(src, data, bands, window, path, scaling)
    wide = data.dtype.kind == "f" and data.dtype.itemsize > np.dtype(dtype).itemsize
    values = apply_scaling(_as_floats(data, np.float64 if wide else dtype), scaling)
    return values.astype(dtype, copy=False)


def bands_without_data(src: rasterio.DatasetReader, bands: Sequence[int], window: Window,
                       path: str | os.PathLike[str]) -> list[int]:
    """Those of ``bands`` that have no valid value in ``window`` (read strip by strip, stopping
    once every band has shown one): why a scene came out empty, named."""
    left = list(bands)
    for top in range(int(window.row_off), int(window.row_off + window.height), BLOCK):
        rows = Window(window.col_off, top, window.width, min(BLOCK, int(window.row_off + window.height) - top))
        left = [b for b in left if not np.isfinite(read_window(src, b, rows, path)).any()]
        if not left:
            break
    return left


def read_stored(
    src: rasterio.DatasetReader, bands: int | Sequence[int], window: Window, path: str | os.PathLike[str],
) -> np.ma.MaskedArray:
    """``bands`` in ``window`` as stored (the file's data type), masked where the file says nodata
    (:func:`mask_declared_nodata`); an undecodable block is an :class:`InputError` naming the file."""
    try:
        data = src.read(bands, window=window, masked=True)
    except RasterioError as exc:
        raise unreadable(path, exc) from exc
    return mask_declared_nodata(src, data, bands)


def mask_declared_nodata(src: rasterio.DatasetReader, data: np.ma.MaskedArray,
                         bands: int | Sequence[int]) -> np.ma.MaskedArray:
    """``data`` (``bands`` as read with ``masked=True``) also masked where a band holds its
    declared nodata value (NaN nodata: NaN): a pixel is nodata when the file's mask says so OR
    it holds that value. GDAL's mask band is the per-dataset mask (internal, ``.msk``) or the
    alpha band when the file has one, and then ignores the nodata value: a fill pixel outside
    the mask counted as data (a Landsat fill 0 became 149 K)."""
    listed = [bands] if isinstance(bands, int) else list(bands)
    layers = np.ma.getdata(data).reshape(len(listed), *data.shape[-2:])
    hits = np.zeros(layers.shape, bool)
    for band, layer, hit in zip(listed, layers, hits):
        fill = stored_fill(src.nodatavals[band - 1], layer.dtype)
        if fill is not None and MaskFlags.nodata not in src.mask_flag_enums[band - 1]:
            hit[...] = np.isnan(layer) if np.isnan(fill) else layer == fill
    if hits.any():
        data.mask = np.ma.getmaskarray(data) | hits.reshape(data.shape)
    return data


def stored_fill(nodata: float | None, dtype: np.dtype) -> float | None:
    """The declared ``nodata`` as a ``dtype`` value (a float type's nearest, as GDAL matches
    pixels), None when there is none or ``dtype`` cannot hold it: a fraction, NaN or a value out
    of range for an integer type, a finite value beyond a float type's range (GDAL's nodata mask
    then masks nothing, and GDAL refuses to write such a nodata)."""
    if nodata is None or (np.isnan(nodata) and dtype.kind != "f"):
        return None
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return nodata if float(nodata).is_integer() and info.min <= nodata <= info.max else None
    with np.errstate(over="ignore"):
        fill = float(dtype.type(nodata))
    return fill if np.isfinite(fill) or not np.isfinite(nodata) else None


def unreadable(path: str | os.PathLike[str], exc: BaseException) -> InputError:
    """A failed read of ``path`` as one line naming it, with GDAL's reasons (which band and
    block, and libtiff's or the codec's cause) instead of rasterio's "Read failed. See
    previous exception for details.", which names an exception the user never sees."""
    return InputError(path, f"cannot be read ({read_failure(path, exc)})", "the file may be damaged or truncated")


def read_failure(path: str | os.PathLike[str], exc: BaseException) -> str:
    """The messages of the exceptions behind ``exc`` (its own when none is), first lines, each
    once and not repeating a longer one before it, ``path``'s name that GDAL puts in front
    removed: e.g. ``band 1: IReadBlock failed at X offset 0, Y offset 0:
    TIFFReadEncodedTile() failed.; ZIPDecode:Decoding error at scanline 0``."""
    names = (f"{os.fspath(path)}, ", f"{Path(path).name}, ")
    kept: list[str] = []
    for line in _causes(exc) or [_first_line(exc)]:
        line = next((line[len(n):] for n in names if line.startswith(n)), line)
        if not any(line in earlier for earlier in kept):
            kept.append(line)
    return "; ".join(kept)


def _causes(exc: BaseException, depth: int = 8) -> list[str]:
    """First lines of the exceptions behind ``exc`` (``__cause__``, else ``__context__``)."""
    lines: list[str] = []
    current = exc.__cause__ or exc.__context__
    while current is not None and len(lines) < depth:
        lines.append(_first_line(current))
        current = current.__cause__ or current.__context__
    return lines


def write_failed(
    path: str | os.PathLike[str], exc: BaseException, tmp: str | os.PathLike[str] | None = None
) -> InputError:
    """A GDAL write failure as one line naming ``path``: the cause when the disk is full, else
    GDAL's messages (the temporary name ``tmp`` in them replaced by ``path``)."""
    full = _size_limit_reached(path, tmp) or _disk_full(path)
    if full is not None:
        return full
    details = " ; ".join(_messages(exc))
    if tmp is not None:
        details = details.replace(str(tmp), str(path)).replace(Path(tmp).name, Path(path).name)
    return InputError(path, f"writing failed ({details})", _write_hint(details))


def _size_limit_reached(path: str | os.PathLike[str], tmp: str | os.PathLike[str] | None) -> InputError | None:
    """"File too large" for ``path`` when its temporary file ``tmp`` (or what GDAL writes beside
    it, a COG's ``tmp.cog``) has reached the file-size limit (``ulimit -f``), else None. The
    write then failed with EFBIG (Python ignores SIGXFSZ), but GDAL passes on only libtiff's
    "Write error at scanline 0"."""
    if tmp is None or not _at_size_limit(_written_files(Path(tmp))):
        return None
    return InputError(path, f"writing failed ({os.strerror(errno.EFBIG)})", environment_hint(errno.EFBIG))


def _written_files(tmp: Path) -> list[Path]:
    """The temporary file ``tmp`` and those GDAL writes beside it (``tmp.cog``, ``tmp.ovr``)."""
    return [tmp, *tmp.parent.glob(f"{glob.escape(tmp.name)}.*")]


def _at_size_limit(files: Iterable[Path]) -> bool:
    """Whether one of ``files`` is as large as the soft file-size limit allows (a write that
    went over it stopped there)."""
    limit = _file_size_limit()
    if limit is None:
        return False
    for file in files:
        with suppress(OSError):
            info = file.stat()
            if stat.S_ISREG(info.st_mode) and info.st_size >= limit:
                return True
    return False


def _file_size_limit() -> int | None:
    """The soft file-size limit in bytes (``ulimit -f``), None if there is none (or no such
    limit on this platform)."""
    try:
        import resource  # POSIX only
    except ImportError:
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    return None if soft == resource.RLIM_INFINITY else soft


def _disk_full(path: str | os.PathLike[str]) -> InputError | None:
    """"No space left" for ``path`` when its folder's disk is (nearly) full, the likely cause of a
    failed or truncated write; None otherwise."""
    try:
        free = shutil.disk_usage(Path(path).parent).free
    except OSError:
        return None
    if free >= 64 * 2**20:
        return None
    return InputError(path, f"writing failed: no space left on the device ({free / 2**20:.0f} MiB free)",
                      "free some space or write to another disk")


def _messages(exc: BaseException) -> list[str]:
    """First lines of ``exc`` and the exceptions behind it, each once."""
    seen: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(seen) < 3:
        line = _first_line(current)
        if line not in seen:
            seen.append(line)
        current = current.__cause__ or current.__context__
    return seen


_WRITE_HINTS = (
    (("permission denied", "not permitted"), "check the permissions of the output folder"),
    (("read-only",), "write to a writable folder"),
    (("no space",), "free some space or write to another disk"),
    (("too large",), "the file system or a ulimit caps the file size"),
)


def _write_hint(details: str) -> str:
    text = details.lower()
    for needles, hint in _WRITE_HINTS:
        if any(n in text for n in needles):
            return hint
    return "check free space, quotas and file-size limits of the output folder"


def _is_write_error(exc: RasterioError, tmp: Path) -> bool:
    """Whether a GDAL error is about writing ``tmp`` (not about reading an input, nor writing
    another output: with a file-size limit, only the file that reached it failed; QA: ingest
    named the LST when its guidance went over the limit)."""
    text = " ".join(_messages(exc))
    if tmp.name in text:
        return True
    if "write" not in text.lower():
        return False
    return _at_size_limit(_written_files(tmp)) or not _at_size_limit(tmp.parent.glob(".*.partial*"))


def check_complete(tmp: str | os.PathLike[str], path: str | os.PathLike[str], *,
                   decode: bool = True) -> None:
    """Refuse a written GeoTIFF that is truncated or damaged.

    GDAL writes cached blocks, then the directory and metadata, when the dataset is closed, and
    rasterio does not raise when that fails (a full disk, a file-size limit): every write call
    succeeded, yet the file is cut short. The file is read back: every block's offset and size,
    at every overview level, must lie inside the file, reading the directory and metadata must
    not make GDAL report an I/O error (a cut-off metadata tag is only a warning to GDAL, and the
    band names and units would be lost), and, with ``decode``, every full-resolution block must
    decode (a block inside the file can still be damaged: GDAL's threaded writes once left such
    blocks without an error; about 0.2 s for a 3999^2 float32 band).
    """
    size = Path(tmp).stat().st_size
    hint = "check free space, quotas and file-size limits of the output folder"
    try:
        with _gdal_messages() as messages:
            with rasterio.open(tmp) as src:
                levels: list[int | None] = [None, *range(len(src.overviews(1)))]
                src.tags(), src.descriptions, src.units, [src.tags(b) for b in src.indexes]
            inside = True
            for level in levels:
                options = {} if level is None else {"overview_level": level}
                with rasterio.open(tmp, **options) as src:
                    inside = inside and _blocks_inside(src, size)
            if inside and decode:
                with rasterio.open(tmp) as src:
                    _decode_every_block(src)
    except RasterioError as exc:
        raise _size_limit_reached(path, tmp) or _disk_full(path) or InputError(
            path, "writing failed: the written file cannot be read back, it is truncated or damaged", hint) from exc
    damaged = [m for m in messages if "error" in m.lower()]
    if not inside or damaged:
        raise _size_limit_reached(path, tmp) or _disk_full(path) or InputError(
            path, f"writing failed: the file is truncated at {size} bytes", hint)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _gdal_messages() -> Iterator[list[str]]:
    """The warnings and errors GDAL reports during the block (rasterio logs them as ``rasterio.*``)."""
    handler, logger = _Collect(), logging.getLogger("rasterio")
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


def _decode_every_block(src: rasterio.DatasetReader, blocks_per_read: int = 8) -> None:
    """Read every pixel, a row of whole blocks (at most ``blocks_per_read`` wide) at a time, so
    each block is decoded once and memory stays a few block rows of all bands."""
    rows, cols = src.block_shapes[0]
    for top in range(0, src.height, rows):
        for left in range(0, src.width, cols * blocks_per_read):
            src.read(window=Window(left, top, min(cols * blocks_per_read, src.width - left),
                                   min(rows, src.height - top)))


def _blocks_inside(src: rasterio.DatasetReader, size: int) -> bool:
    interleaved = src.count == 1 or src.tags(ns="IMAGE_STRUCTURE").get("INTERLEAVE") == "PIXEL"
    for band in [1] if interleaved else range(1, src.count + 1):
        rows, cols = src.block_shapes[band - 1]
        for y in range(math.ceil(src.height / rows)):
            for x in range(math.ceil(src.width / cols)):
                offset = src.get_tag_item(f"BLOCK_OFFSET_{x}_{y}", "TIFF", bidx=band)
                length = src.get_tag_item(f"BLOCK_SIZE_{x}_{y}", "TIFF", bidx=band)
                if offset is None or length is None or int(offset) + int(length) > size:
                    return False
    return True


@contextmanager
def geotiff_output(
    path: str | os.PathLike[str],
    overwrite: bool = False,
    *,
    inputs: Iterable[str | os.PathLike[str]] = (),
    finish: Callable[[Path], None] | None = None,
) -> Iterator[Path]:
    """:func:`pipelines.atomic.atomic_output` for a GeoTIFF: a GDAL write failure becomes one
    line naming ``path``, and the file is published only when it is complete.

    ``finish`` rewrites the complete temporary file in place (overviews, a COG); the result is
    checked again.
    """
    inputs = tuple(inputs)  # read twice: here and by atomic_output
    check_geotiff_name(path, inputs)

    def complete(tmp: Path) -> None:
        check_complete(tmp, path, decode=finish is None)  # finish reads every pixel anyway
        if finish is not None:
            try:
                finish(tmp)
            except (RasterioError, CPLE_BaseError) as exc:
                raise write_failed(path, exc, tmp) from exc
            check_complete(tmp, path)

    with atomic_output(path, overwrite, inputs=inputs, check=complete) as tmp:
        try:
            yield tmp
        except RasterioError as exc:
            if not _is_write_error(exc, tmp):
                raise
            raise write_failed(path, exc, tmp) from exc


def write_raster(
    path: str | os.PathLike[str],
    data: np.ndarray,
    *,
    crs: Any,
    transform: Any,
    descriptions: Sequence[str],
    units: str | Sequence[str] | None = None,
    tags: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a (bands, rows, cols) or (rows, cols) array atomically with the project convention."""
    arr = np.asarray(data, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[None]
    count, height, width = arr.shape
    if len(descriptions) != count:
        raise ValueError(f"{count} bands but {len(descriptions)} descriptions")
    unit_list = [units] * count if isinstance(units, str) or units is None else list(units)
    profile = creation_profile(width=width, height=height, count=count, crs=crs, transform=transform)
    with geotiff_output(path, overwrite=overwrite) as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(arr)
            for band, (desc, unit) in enumerate(zip(descriptions, unit_list), start=1):
                dst.set_band_description(band, desc)
                if unit:
                    dst.set_band_unit(band, unit)
            if tags:
                dst.update_tags(**{k: str(v) for k, v in tags.items()})
    return Path(path)


def band_names(src: rasterio.DatasetReader) -> list[str]:
    """Band names from the band descriptions, ``b1..bN`` where a description is missing."""
    return [
        (desc.strip().lower() if desc and desc.strip() else f"b{i}")
        for i, desc in enumerate(src.descriptions, start=1)
    ]


def band_key(name: str) -> str:
    """A band name as compared across files: case, spaces, ``_`` and ``-`` ignored, so
    ``Deep Blue``, ``deep_blue`` and ``deepblue`` are one band."""
    return re.sub(r"[\s_\-]+", "", name.lower())


FILLED_DEM_PREFIX = "constant "  # how ingest's dem_source tag marks a dem band it filled (no DEM given)


def filled_dem(src: rasterio.DatasetReader) -> bool:
    """Whether a guidance's dem band is ingest's constant fill, which tells a model nothing."""
    return src.tags().get("dem_source", "").startswith(FILLED_DEM_PREFIX)


def refuse_alpha(src: rasterio.DatasetReader, path: str | os.PathLike[str]) -> None:
    """Refuse a guidance file with a GDAL alpha band: it masks the other bands, yet it was also
    taken as a guidance feature (named or counted by position like the data bands, shifting
    what a model sees); dropping it silently would shift ``--guidance-bands`` as silently.
    ``gdal_translate -mask`` keeps it as the data bands' mask, which groklst honours."""
    alpha = [i for i, c in enumerate(src.colorinterp, start=1) if c == ColorInterp.alpha]
    if alpha:
        keep = " ".join(f"-b {i}" for i in range(1, src.count + 1) if i not in alpha)
        raise InputError(path, f"band {alpha[0]} is an alpha band (a mask, not guidance)",
                         f"keep the data bands with the alpha as their mask: gdal_translate {keep} "
                         f"-mask {alpha[0]} FILE DATA.tif")


# GDAL's names of the complex data types, by rasterio's; rasterio reads CInt32 as complex64 too
COMPLEX_TYPES = {"complex_int16": "CInt16", "complex64": "CFloat32", "complex128": "CFloat64"}


def refuse_complex(src: rasterio.DatasetReader, path: str | os.PathLike[str], holds: str) -> None:
    """Refuse a raster with a complex band (``holds``: what its values should be, ``LST``):
    reading it as floats drops the imaginary part with numpy ComplexWarnings, and a real-valued
    product is what groklst reads. The hint keeps the real part, where the values may be."""
    kinds = [t for t in src.dtypes if str(t).startswith("complex")]
    if kinds:
        raise InputError(path, f"complex data type {_complex_name(src, kinds[0])} holds no {holds} values",
                         f"give real {holds} values; if the real part holds them, keep it: gdal_translate "
                         f"-ot Float32 {shlex.quote(str(path))} REAL.tif")


def _complex_name(src: rasterio.DatasetReader, kind: str) -> str:
    """GDAL's name of the complex type rasterio reads as ``kind``: complex64 is CInt32 or CFloat32,
    told apart by the type a VRT of ``src`` declares (headers only, no pixel is read)."""
    if kind != "complex64":
        return COMPLEX_TYPES.get(kind, kind)
    try:
        with rasterio.MemoryFile(ext=".vrt") as vrt:
            rasterio.shutil.copy(src, vrt.name, driver="VRT")
            declared = re.search(r'dataType="(C\w+)"', vrt.read().decode(errors="replace"))
    except (RasterioError, CPLE_BaseError):
        declared = None
    return declared.group(1) if declared else "CInt32 or CFloat32"


# Compression codecs of a GeoTIFF that change the values (LERC's max error is not in the file)
LOSSY_COMPRESSION = frozenset({"JPEG"})


def warn_lossy(src: rasterio.DatasetReader, path: str | os.PathLike[str], off: str = "values may be off") -> None:
    """Warn that ``src`` is compressed with a lossy codec (JPEG): ``off`` (its values may be off,
    an LST's by kelvins) and, with a declared nodata, fill pixels may read as data (QA: 5 of 12
    read 280-284 K), which nothing downstream can tell from real values. Once per file in a run
    (:func:`pipelines.errors.first_time`)."""
    codec = src.tags(ns="IMAGE_STRUCTURE").get("COMPRESSION", "").upper()
    if codec not in LOSSY_COMPRESSION or not first_time(f"lossy {src.name}"):
        return
    fill = ", and nodata pixels may read as data" if any(v is not None for v in src.nodatavals) else ""
    warnings.warn(f"{unmistakable_path(path)}: {codec} compression is lossy: {off}{fill}; give a losslessly "
                  "compressed copy of the original (COMPRESS=DEFLATE, LZW or ZSTD)", GroklstWarning, stacklevel=3)


def guidance_names(
    src: rasterio.DatasetReader, path: str | os.PathLike[str], declared: Sequence[str] | None
) -> tuple[list[str], bool]:
    """The guidance bands' names and whether they are named at all.

    ``declared`` (``--guidance-bands``) names the file's bands in order and wins over the
    file's band descriptions. A GDAL alpha band is refused (:func:`refuse_alpha`), so is a
    complex band (:func:`refuse_complex`); a lossy compression is warned of (:func:`warn_lossy`).
    """
    refuse_alpha(src, path)
    refuse_complex(src, path, "guidance")
    warn_lossy(src, path)
    if declared is not None:
        if len(declared) != src.count:
            raise InputError(path, f"has {src.count} bands but --guidance-bands names {len(declared)}",
                             "name every band of the file, in order")
        return [n.strip().lower() for n in declared], True
    return band_names(src), any(d and d.strip() for d in src.descriptions)
