"""Set raster pixels to nodata where a mask flags them (clouds, shadows), nothing else changed.

LST products carry their cloud mask beside the temperature: Landsat Collection-2 in the bits
of ``QA_PIXEL`` (1 dilated cloud, 2 cirrus, 3 cloud, 4 cloud shadow), others as a 0/1 layer
or class codes (Sentinel-2's scene classification). A cloud left in the LST reads as a cold
surface, one left in the guidance as a bright one, and a downscaler sharpens either like any
other. :func:`mask_raster` writes a copy with the flagged pixels set to nodata, everything
else untouched: same data type, scale/offset, grid and tags, so every command reads the copy
as it read the original. The copy keeps the archive layout too: a COG stays a COG (its tiles and
overview factors kept), a file with overviews gets them again at the same factors (of the masked
pixels); tags that describe overviews are not copied, the layout step tags the copy's own.
"""

from __future__ import annotations

import math
import os
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.enums import MaskFlags
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from pipelines.cog import OVERVIEW_TAGS, kept_layout
from pipelines.errors import EmptySceneError, InputError, unmistakable_path
from pipelines.geotiff import (
    BLOCK,
    copy_metadata,
    copy_profile,
    geotiff_output,
    open_raster,
    read_stored,
    refuse_complex,
    streaming_gdal_env,
    warn_lossy,
)
from pipelines.grids import (
    ALIGNMENT_TOLERANCE, Grid, as_integer, check_north_up, check_related, crs_labels, nesting_factor, offset_words,
)
from pipelines.raster_names import display_name, gdal_name, source_tag


@dataclass(frozen=True)
class MaskRule:
    """Which mask values flag a pixel: any of ``bits`` set, or equal to one of ``values``;
    with neither, any value but 0. The mask's own nodata always flags (state unknown)."""

    bits: tuple[int, ...] = ()
    values: tuple[float, ...] = ()

    def describe(self) -> str:
        """The rule in words, e.g. ``bits 3,4 set`` (messages, the ``mask_rule`` tag)."""
        parts = []
        if self.bits:
            parts.append(f"bit{'s' if len(self.bits) > 1 else ''} {','.join(map(str, self.bits))} set")
        if self.values:
            parts.append(f"value{'s' if len(self.values) > 1 else ''} {','.join(map(_shortest, self.values))}")
        return " or ".join(parts) if parts else "a value other than 0"

    def check(self, dtype: np.dtype, path: str | os.PathLike[str]) -> None:
        """Refuse bits a mask of ``dtype`` cannot hold (or bits of a floating-point mask), and
        values it cannot store: such a rule would silently flag nothing."""
        if dtype.kind not in "iu":
            if self.bits:
                raise InputError(path, f"is stored as {dtype.name}: bit flags need an integer mask",
                                 "give the QA raster itself, or flag by --values")
            odd = [v for v in self.values if _overflows(v, dtype)]  # ±inf itself: a float holds it
            if odd:
                raise InputError("--values", f"{', '.join(repr(v) for v in odd)} cannot occur in {path}'s "
                                             f"{dtype.name} pixels",
                                 f"give values within ±{str(np.finfo(dtype).max)} (the {dtype.name} range)")
            _check_representable(self.values, dtype, path)
            return
        width = dtype.itemsize * 8
        outside = [b for b in self.bits if not 0 <= b < width]
        if outside:
            raise InputError("--bits", f"bit(s) {outside} do not exist in a {width}-bit mask ({path})",
                             f"give bit numbers 0..{width - 1}, bit 0 the lowest")
        info = np.iinfo(dtype)
        odd = [v for v in self.values if not (float(v).is_integer() and info.min <= v <= info.max)]
        if odd:
            raise InputError("--values", f"{', '.join(map(_shortest, odd))} cannot occur in {path}'s "
                                         f"{dtype.name} pixels", f"give integers in {info.min}..{info.max}")

    def flags(self, mask: np.ma.MaskedArray) -> np.ndarray:
        """Boolean array: True where the stored ``mask`` (masked at its nodata) flags the pixel."""
        unknown = np.ma.getmaskarray(mask)
        stored = np.ma.getdata(mask)
        if stored.dtype.kind == "f":
            unknown = unknown | np.isnan(stored)
        if not (self.bits or self.values):
            return unknown | (stored != 0)
        flagged = unknown.copy()
        if self.bits:
            kind = np.uint64 if stored.dtype.kind == "u" else np.int64  # bits as stored, sign included
            word = np.array(sum(1 << b for b in self.bits), dtype=np.uint64).astype(kind)
            flagged |= (stored.astype(kind) & word) != 0
        if self.values:  # matched as the mask stores them: --values -999.9 is a float32 band's -999.9000244
            flagged |= np.isin(stored, _stored_values(self.values, stored.dtype))
        return flagged


def _stored_values(values: tuple[float, ...], dtype: np.dtype) -> np.ndarray:
    """``values`` as a mask of ``dtype`` stores them; a float64 mask also by each value's float32
    rounding (:func:`_widened_float32`): GDAL's float32 -999.9 converted to Float64 holds
    -999.9000244140625, which ``--values -999.9`` missed."""
    stored = list(values)
    if dtype == np.float64:
        stored += [w for w in map(_widened_float32, values) if w is not None]
    return np.asarray(stored, dtype=np.float64).astype(dtype)


def _widened_float32(value: float) -> float | None:
    """``value``'s float32 rounding as float64, where it differs from ``value`` and ``value`` is that
    rounding written with fewer digits (-999.9 or -999.9000244 for -999.9000244140625); else None.
    So a float64 value that only rounds to the same float32 (16777217, -999.90001) is matched as
    itself alone, and a pixel holding that float32 rounding stays clear."""
    with np.errstate(over="ignore"):
        widened = float(np.float32(value))
    if not math.isfinite(widened) or widened == value:
        return None
    digits = next(d for d in range(1, 18) if float(f"{value:.{d}g}") == value)  # as typed, e.g. 4 for -999.9
    return widened if float(f"{widened:.{digits}g}") == value else None


def _check_representable(values: tuple[float, ...], dtype: np.dtype, path: str | os.PathLike[str]) -> None:
    """Refuse a value a float mask of ``dtype`` holds only as another number (:func:`_unrepresentable`):
    1e-50 is 0 in float32, so it flagged every clear (0) pixel."""
    for value in values:
        if _unrepresentable(value, dtype):
            stored = dtype.type(value)
            raise InputError("--values", f"{value!r} is no {dtype.name} number: {path}'s pixels would match it as "
                                         f"{stored}", f"give a value the mask can hold, as it stores it: --values "
                                                      f"{stored} if that is meant, else check the mask's values "
                                                      "(gdalinfo -stats)")


def _unrepresentable(value: float, dtype: np.dtype) -> bool:
    """Whether a ``dtype`` float holds ``value`` only as another number. A value that rounds to its
    nearest ``dtype`` number (within half a unit in the last place: -999.9, -999.9000244 and
    -999.900024414062 all give float32's -999.9000244) is taken as stored; one that underflows
    (1e-46 is float32's 0), overflows or loses digits in the subnormal range is not."""
    with np.errstate(over="ignore"):
        stored = dtype.type(value)
    if not math.isfinite(value) or float(stored) == value:
        return False
    close = abs(float(stored) - value) <= abs(value) * float(np.finfo(dtype).eps)
    return not (math.isfinite(float(stored)) and stored != 0 and close)


@dataclass
class MaskReport:
    """What :func:`mask_raster` did (also the ``--json`` object); counts are pixels, not band values."""

    input: str
    mask: str
    output: str
    rule: str
    pixels: int = 0  # all pixels of the raster
    valid_before: int = 0  # pixels with a value (in some band)
    masked: int = 0  # of those, the ones the mask flagged (now nodata)

    @property
    def valid_after(self) -> int:
        return self.valid_before - self.masked


def mask_raster(path: str | os.PathLike[str], mask_path: str | os.PathLike[str],
                out_path: str | os.PathLike[str], rule: MaskRule, *, fill: float | None = None,
                overwrite: bool = False) -> MaskReport:
    """Write ``out_path``: the raster with every pixel ``rule`` flags in the mask set to nodata
    in all its bands (an LST, or guidance such as a Sentinel-2 reflectance band).

    The mask may be on the raster's grid or on one that nests in it: an integer factor coarser
    (Sentinel-2's 20 m scene classification over its 10 m bands) or finer (a pixel is flagged
    when any mask pixel inside it is). The fill is the raster's own nodata value, else
    ``fill``, else NaN for floating-point data. The copy keeps the layout of ``path``
    (:func:`pipelines.cog.kept_layout`). Raises :class:`InputError` for a mask that does
    not nest in or cover the raster, and :class:`EmptySceneError` when no valid pixel would be
    left (nothing is written then).
    """
    report = MaskReport(display_name(path), display_name(mask_path), str(out_path), rule.describe())
    with streaming_gdal_env(), open_raster(path) as src, open_raster(mask_path) as mask:
        if src.crs is not None and mask.crs is not None and src.crs != mask.crs:  # before any is measured across
            check_related(mask_path, mask.crs, path, src.crs, mask.bounds)
        if mask.count != 1:
            raise InputError(mask_path, f"has {mask.count} bands, expected 1 mask band",
                             "pick the band: gdal_translate -b N MASK.tif mask.tif")
        refuse_complex(mask, mask_path, "mask")
        warn_lossy(mask, mask_path, "flags may be off")
        refuse_complex(src, path, "LST or guidance")
        # the copy is written losslessly, so a JPEG's error would pass on as exact values unwarned
        warn_lossy(src, path, "values may be off (the masked copy keeps them as read)")
        nesting = _nesting(src, mask, path, mask_path, rule)
        dtype = np.dtype(src.dtypes[0])
        rule.check(np.dtype(mask.dtypes[0]), mask_path)
        nodata = _fill_value(src, dtype, fill, path)
        clash = None if src.nodata is not None or np.isnan(nodata) else _FillClash(nodata, dtype)
        profile = copy_profile(src, nodata=nodata)
        bands = list(range(1, src.count + 1))
        if clash is not None:  # before the output exists: the refusal came after the whole write pass
            _refuse_fill_clash(src, mask, nesting, rule, clash, path, mask_path)
        with geotiff_output(out_path, overwrite=overwrite, inputs=[path, mask_path],
                            finish=kept_layout(src)) as tmp:
            with rasterio.open(tmp, "w", **profile) as dst:
                copy_metadata(_WithoutOverviewTags(src), dst)
                dst.update_tags(mask_source=source_tag(Path(mask_path)), mask_rule=rule.describe())
                for window in _row_blocks(src):
                    values = read_stored(src, bands, window, path)
                    band_valid = _band_valid(values)
                    valid = band_valid.any(axis=0)  # a pixel with a value in some band
                    flagged = nesting.flags(mask, rule, window, mask_path) & valid
                    report.valid_before += int(valid.sum())
                    report.masked += int(flagged.sum())
                    stored = np.ma.getdata(values).copy()
                    stored[:, flagged] = np.asarray(nodata).astype(dtype)
                    stored[~band_valid] = np.asarray(nodata).astype(dtype)  # masked in the input (its own
                    # mask, internal or .msk, which the copy does not carry): nodata in the copy too
                    dst.write(stored, window=window)
                dst.update_tags(masked_pixels=str(report.masked))
            if report.valid_before == 0:
                raise EmptySceneError(path, "has no valid pixel to mask; nothing written")
            if report.valid_after == 0:
                raise EmptySceneError(path, f"the mask flags every valid pixel ({rule.describe()} "
                                            f"in {display_name(mask_path)}); nothing written",
                                      _clear_nodata_fix(mask, mask_path, rule) or None)
        report.pixels = src.width * src.height
    return report


def _nesting(src: rasterio.DatasetReader, mask: rasterio.DatasetReader, path: str | os.PathLike[str],
             mask_path: str | os.PathLike[str], rule: MaskRule) -> MaskNesting:
    """:meth:`MaskNesting.of`, its refusal of a 0/1 mask with nodata 0 saying first that such a mask flags
    every pixel and how to drop the tag (:func:`_clear_nodata_fix`): its warp route flags every pixel too."""
    try:
        return MaskNesting.of(src, mask, path, mask_path, rule)
    except InputError as error:
        clear = _clear_nodata_fix(mask, mask_path, rule)
        if not clear:
            raise
        raise InputError(error.path, f"{error.problem}; also, {clear} first", error.hint) from None


def _row_blocks(src: rasterio.DatasetReader) -> Iterator[Window]:
    """``src`` in windows of ``BLOCK`` whole rows, top to bottom: the unit every pass reads."""
    for top in range(0, src.height, BLOCK):
        yield Window(0, top, src.width, min(BLOCK, src.height - top))


def _band_valid(values: np.ma.MaskedArray) -> np.ndarray:
    """Boolean (bands, rows, cols): where a band has a value (not masked, not NaN)."""
    band_valid = ~np.ma.getmaskarray(values)
    if values.dtype.kind == "f":
        band_valid &= ~np.isnan(np.ma.getdata(values))
    return band_valid


def _refuse_fill_clash(src: rasterio.DatasetReader, mask: rasterio.DatasetReader, nesting: MaskNesting,
                       rule: MaskRule, clash: _FillClash, path: str | os.PathLike[str],
                       mask_path: str | os.PathLike[str]) -> None:
    """Refuse, before anything is written, a ``--fill`` value that unflagged valid pixels hold.

    A first pass reads the raster alone and stops at the first valid pixel holding the value;
    most fills are held by none, and then nothing more is read. Only then does a second pass,
    with the mask, count the unflagged ones and gather the range and free values for the hint."""
    bands = list(range(1, src.count + 1))
    if not any(_holds(read_stored(src, bands, window, path), clash.value) for window in _row_blocks(src)):
        return
    for window in _row_blocks(src):
        values = read_stored(src, bands, window, path)
        band_valid = _band_valid(values)
        flagged = nesting.flags(mask, rule, window, mask_path) & band_valid.any(axis=0)
        clash.add(np.ma.getdata(values), band_valid, flagged)
    clash.check(path)


def _holds(values: np.ma.MaskedArray, value: float) -> bool:
    """Whether some valid pixel of ``values`` (in some band) holds ``value`` (:func:`_reads_as_nodata`)."""
    return bool((_reads_as_nodata(np.ma.getdata(values), value) & _band_valid(values)).any())


def _reads_as_nodata(stored: np.ndarray, value: float) -> np.ndarray:
    """Where GDAL reads ``stored`` as the nodata ``value``: for floats its ARE_REAL_EQUAL, within two
    float32 epsilons of the sum, in float64 bands too (GDAL 3.6 and 3.10, measured). A float64 raster's
    -999.9000244140625, a float32 -999.9 widened, became nodata under ``--fill -999.9`` unrefused."""
    if stored.dtype.kind != "f":
        return stored == value
    fill = stored.dtype.type(value)
    with np.errstate(over="ignore", invalid="ignore"):
        return (stored == fill) | (np.abs(stored - fill) < np.finfo(np.float32).eps * np.abs(stored + fill) * 2)


class _WithoutOverviewTags:
    """``src`` as :func:`copy_metadata` reads it, less the dataset tags that describe its
    overviews (:data:`pipelines.cog.OVERVIEW_TAGS`): the copy is written without overviews and
    gets them, tagged anew, only from its layout step (:func:`pipelines.cog.kept_layout`), so
    the input's ``overview_resampling=nearest`` no longer sits on a copy that has none."""

    def __init__(self, src: rasterio.DatasetReader) -> None:
        self._src = src

    def __getattr__(self, name: str) -> object:
        return getattr(self._src, name)

    def tags(self, bidx: int = 0, ns: str | None = None) -> dict[str, str]:
        """``src``'s tags, the overview ones left out of the dataset's (``bidx`` 0)."""
        tags = self._src.tags(bidx, ns)
        return tags if bidx else {k: v for k, v in tags.items() if k not in OVERVIEW_TAGS}


@dataclass(frozen=True)
class MaskNesting:
    """How a mask's grid nests in a raster's: ``factor`` mask pixels per raster pixel along an
    axis when the mask is ``finer``, else raster pixels per mask pixel (1: the same grid); the
    raster's origin from the mask's, in pixels of the finer of the two grids."""

    factor: int
    finer: bool
    row_off: int
    col_off: int

    @classmethod
    def of(cls, src: rasterio.DatasetReader, mask: rasterio.DatasetReader,
           path: str | os.PathLike[str], mask_path: str | os.PathLike[str], rule: MaskRule) -> MaskNesting:
        """The nesting, or an InputError when the grids do not nest or the mask does not cover
        (``rule``, what the mask flags by, picks the warp its hint gives)."""
        check_north_up(path, Grid.of(src))
        check_north_up(mask_path, Grid.of(mask))
        for reader, named in ((src, path), (mask, mask_path)):
            if reader.crs is None and (src.crs, mask.crs) != (None, None):
                raise InputError(named, "has no CRS, so it cannot be matched with the other raster",
                                 "assign one, e.g. gdal_edit.py -a_srs EPSG:XXXX (the CRS of the other)")
        if mask.crs != src.crs:
            mask_crs, src_crs = crs_labels(mask.crs, src.crs)
            raise InputError(mask_path, f"CRS {mask_crs} differs from that of {display_name(path)} ({src_crs})",
                             _onto_grid_hint(src, mask, mask_path, rule, sizes_nest=False, raster_path=path,
                                             uncovered=True))  # reprojected, its corners leave parts unreached
        st, mt = src.transform, mask.transform
        finer = mt.a < st.a
        (fine, fine_src), coarse = ((mt, mask), st) if finer else ((st, src), mt)
        units = Grid.of(src).res_units
        what = (f"does not nest in the grid of {display_name(path)} (pixel size {mt.a:.10g} x {-mt.e:.10g} "
                f"{units} against {st.a:.10g} x {-st.e:.10g} {units}: one must be a whole multiple of the other, the "
                "same in x and y)")
        reaches = _footprint_holds(mask.bounds, src.bounds)
        ratio_hint = _onto_grid_hint(src, mask, mask_path, rule, sizes_nest=False, uncovered=not reaches)
        factor = nesting_factor(coarse.a, fine.a, fine_src.width, what, mask_path, ratio_hint)
        if nesting_factor(-coarse.e, -fine.e, fine_src.height, what, mask_path, ratio_hint) != factor:
            raise InputError(mask_path, what, ratio_hint)
        offset_hint = _onto_grid_hint(src, mask, mask_path, rule, sizes_nest=True, uncovered=not reaches)
        col_off = _whole_pixels((st.c - mt.c) / fine.a, "x", path, mask_path, offset_hint)
        row_off = _whole_pixels((st.f - mt.f) / fine.e, "y", path, mask_path, offset_hint)
        nesting = cls(factor, finer, row_off, col_off)
        (r0, c0), (r1, c1) = nesting.mask_span(0, src.height, src.width)
        if r0 < 0 or c0 < 0 or r1 > mask.height or c1 > mask.width:
            raise InputError(mask_path, f"does not cover the whole of {display_name(path)}",
                             _onto_grid_hint(src, mask, mask_path, rule, sizes_nest=True, uncovered=True))
        return nesting

    def mask_span(self, top: int, rows: int, cols: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """(first row, first col) and (end row, end col) of the mask pixels under raster rows
        ``top .. top + rows`` and columns ``0 .. cols``."""
        k, r, c = self.factor, self.row_off, self.col_off
        if self.finer:
            return (top * k + r, c), ((top + rows) * k + r, cols * k + c)
        return ((top + r) // k, c // k), ((top + rows - 1 + r) // k + 1, (cols - 1 + c) // k + 1)

    def flags(self, mask: rasterio.DatasetReader, rule: MaskRule, window: Window,
              mask_path: str | os.PathLike[str]) -> np.ndarray:
        """Boolean (rows, cols): the raster pixels of ``window`` (whole rows) the mask flags."""
        top, rows, cols = int(window.row_off), int(window.height), int(window.width)
        (r0, c0), (r1, c1) = self.mask_span(top, rows, cols)
        flagged = rule.flags(read_stored(mask, 1, Window(c0, r0, c1 - c0, r1 - r0), mask_path))
        k = self.factor
        if self.finer:
            return flagged.reshape(rows, k, cols, k).any(axis=(1, 3))
        row_idx = (top + np.arange(rows) + self.row_off) // k - r0
        col_idx = (np.arange(cols) + self.col_off) // k - c0
        return flagged[np.ix_(row_idx, col_idx)]


def _whole_pixels(offset: float, axis: str, path: str | os.PathLike[str], mask_path: str | os.PathLike[str],
                  hint: str) -> int:
    """The origins' ``offset`` along ``axis`` in pixels of the finer grid, or an InputError saying
    by how much it misses a pixel edge (in the words of ``groklst compare``)."""
    return as_integer(offset, f"does not nest in the grid of {display_name(path)} ({offset_words(offset, axis)}; "
                              "the pixel sizes do nest)", mask_path, hint)


def _onto_grid_hint(src: rasterio.DatasetReader, mask: rasterio.DatasetReader, mask_path: str | os.PathLike[str],
                    rule: MaskRule, *, sizes_nest: bool, raster_path: str | os.PathLike[str] | None = None,
                    uncovered: bool = False) -> str:
    """The gdalwarp command putting the mask on the raster's footprint without losing a flag; with
    ``raster_path`` (a mask in another CRS) it is warped into the raster's CRS too (``-t_srs``).

    A 0/1 mask (no ``--bits`` or ``--values``) is warped with ``-r max``, at the raster's pixel
    size (or the finer one where the sizes nest): a pixel is flagged when any mask pixel in it is,
    as for a finer mask that nests (``-r near`` kept one mask pixel of each and dropped the rest's
    flags). Class codes and QA bit fields must not be maxed (class 5 over cloud class 3 reads 5)
    or averaged: they keep ``-r near``, at a pixel size that divides the raster's and is no
    coarser than the mask's, so every mask pixel keeps at least one pixel and groklst's own rule
    flags the raster pixels over it. Reprojected (``raster_path``), that size is no coarser than half the
    mask's: a mask pixel turned against the new grid then still holds a new pixel's centre, where at
    its own size ``-r near`` skipped some (11 of 1183 flags between UTM zones 33 and 32). An
    ``uncovered`` mask (one that does not cover the raster) or one with a mask band of its own gets
    ``-dstnodata`` under ``-r near`` (:func:`_unknown_fill`): where the mask declares no nodata, gdalwarp
    fills what it does not reach or skips with 0, clear; one with a mask band and a nodata gets that nodata
    and ``-srcnodata None`` (:func:`_mask_band_source`). A 0/1 mask that is uncovered, declares a
    nodata or has a mask band, or whose flags can be negative, is rewritten first (:func:`_strict_flags`)."""
    plain = not (rule.bits or rule.values)
    (rx, ry), (mx, my) = (src.transform.a, -src.transform.e), _mask_res(src, mask)
    if raster_path is not None and not plain:
        mx, my = mx / 2, my / 2
    if sizes_nest:
        res = (min(rx, mx), min(ry, my))
    elif plain:
        res = (rx, ry)
    else:
        res = (rx / math.ceil(rx / mx - ALIGNMENT_TOLERANCE), ry / math.ceil(ry / my - ALIGNMENT_TOLERANCE))
    why = ("max: a pixel is flagged when any mask pixel in it is" if plain else
           f"near, at a pixel size no coarser than {'half ' if raster_path else ''}the mask's: class codes and QA "
           "bits must not be maxed or averaged, and -r near onto coarser pixels drops flags")
    first, target = ("", "") if raster_path is None else target_crs(src.crs, raster_path)
    filled = plain and (uncovered or mask.nodata is not None or _own_mask(mask))
    rewrite, source = _strict_flags(src, mask, mask_path, filled) if plain else ("", "")
    if rewrite:
        why += _strict_flags_why(mask, filled)
    fill = _unknown_fill(mask, rule) if (uncovered or _own_mask(mask)) and not plain else None
    if fill is not None:
        target += f"{_mask_band_source(mask)}-dstnodata {fill} "
        invalid = " or marks invalid" if _own_mask(mask) else ""
        why += (f"; -dstnodata {fill}: the part the mask does not reach{invalid} is unknown, which groklst flags, not "
                "0, clear")
        if _band_and_nodata(mask):
            why += ("; -srcnodata None: gdalwarp otherwise ignores a mask band beside a nodata and "
                    f"copies its invalid pixels as stored; its nodata pixels are copied as {fill}, unknown too")
    left, bottom, right, top = (f"{v:.10g}" for v in src.bounds)
    return (f"use the mask delivered with the data, or {rewrite}{first}warp {'that' if rewrite else 'it'} "
            f"onto the raster's grid: gdalwarp {target}-r {'max' if plain else 'near'} -te {left} {bottom} {right} "
            f"{top} -tr {res[0]:.10g} {res[1]:.10g} {source or _shell_name(mask_path)} mask_on_grid.tif ({why})")


def _clear_nodata_fix(mask: rasterio.DatasetReader, mask_path: str | os.PathLike[str], rule: MaskRule) -> str:
    """For a 0/1 mask (no ``--bits`` or ``--values``) that declares nodata 0, its one clear value: every
    pixel is then unknown and flagged (GDAL's rule, which groklst keeps), almost surely a wrong tag. The
    words saying so and the command dropping the tag (a copy for a GDAL name, which gdal_edit.py cannot
    change); '' for any other mask. Without them the user got only the long rewrite route, which
    flags every pixel too."""
    if rule.bits or rule.values or mask.nodata != 0:
        return ""
    name = _shell_name(mask_path)
    fix = (f"gdal_edit.py -unsetnodata {name}" if gdal_name(mask_path) is None
           else f"gdal_translate -a_nodata none {name} mask_clear.tif, then give mask_clear.tif")
    return (f"{display_name(mask_path)} declares nodata 0, the value that means clear in a 0/1 mask, so every "
            f"pixel is unknown and flagged: if its 0s mean clear, drop that nodata tag ({fix})")


def _strict_flags(src: rasterio.DatasetReader, mask: rasterio.DatasetReader, mask_path: str | os.PathLike[str],
                  filled: bool) -> tuple[str, str]:
    """The words and commands that turn a 0/1 mask into a file ``-r max`` warps without losing a flag,
    and the file they write; ("", "") for an unsigned mask without nodata or mask band that covers
    the raster (not ``filled``), which ``-r max`` warps as it is.

    gdalwarp's ``-r max`` (GDAL 3.6) skips nodata and pixels its mask band marks invalid, and reads
    only the mask pixels a raster pixel overlaps: a pixel part unknown (or beyond the mask) and part
    0 read 0, clear. So a mask with nodata, a mask band (internal, ``.msk``) or one that does not
    reach every raster pixel is first copied on its own grid over the raster's footprint
    (:func:`_filled_on_own_grid`) with every such pixel a valid 1, and no nodata declared. ``-r max``
    keeps the largest value, so a negative flag (an int16 -32768) beside 0s read 0: a signed or
    float mask is then rewritten as strict 0/1 Byte (gdal_calc.py, ``--overwrite``: it otherwise
    writes into a mask_known.tif of an earlier try; its nodata 255 no pixel holds), and so is a copy
    holding a nodata 0 as stored (its 0s flagged too)."""
    signed = np.dtype(mask.dtypes[0]).kind != "u"
    zero = _zero_nodata_copied(mask)
    if not (filled or signed):
        return "", ""
    words, source = [], _shell_name(mask_path)
    if filled:
        held = ("invalid pixels and what it does not reach as 1, its nodata as stored" if _band_and_nodata(mask)
                else "nodata, invalid pixels and what it does not reach as 1")
        words.append(f"copy it on its own grid with its {held} ({_filled_on_own_grid(src, mask, source)})")
        source = "mask_filled.tif"
    if signed or zero:
        calc, also = ("(A!=0)|(A==0)", " and its nodata 0") if zero else ("A!=0", "")
        words.append(f"rewrite {'that' if filled else 'it'} as 0/1, every non-zero value{also} as 1 (gdal_calc.py -A "
                     f'{source} --calc="{calc}" --type=Byte --NoDataValue=255 --overwrite --outfile=mask_known.tif)')
        source = "mask_known.tif"
    return ", ".join(words) + ", then ", source


def _filled_on_own_grid(src: rasterio.DatasetReader, mask: rasterio.DatasetReader, mask_name: str) -> str:
    """The gdalwarp command copying the mask (``-r near`` onto its own pixels: values unchanged) over
    the raster's footprint widened to the mask's pixel edges, into mask_filled.tif: ``INIT_DEST=1``
    with ``-dstnodata None`` leaves every pixel gdalwarp does not write (nodata, invalid in the mask
    band, beyond the mask) a valid 1, which ``-r max`` then counts as a flag. A mask with a mask band and a
    nodata is read with ``-srcnodata None`` (:func:`_mask_band_source`): its nodata pixels are copied as
    stored, a flag unless 0 (:func:`_zero_nodata_copied`)."""
    t = mask.transform
    bounds = src.bounds
    if mask.crs is not None and src.crs is not None and mask.crs != src.crs:
        bounds = transform_bounds(src.crs, mask.crs, *bounds, densify_pts=21)
    left, bottom, right, top = bounds
    tol = ALIGNMENT_TOLERANCE
    c0, c1 = math.floor((left - t.c) / t.a + tol), math.ceil((right - t.c) / t.a - tol)
    r0, r1 = math.floor((t.f - top) / -t.e + tol), math.ceil((t.f - bottom) / -t.e - tol)
    edges = (t.c + c0 * t.a, t.f + r1 * t.e, t.c + c1 * t.a, t.f + r0 * t.e)
    extent = " ".join(f"{v:.10g}" for v in edges)
    return (f"gdalwarp -overwrite -r near -te {extent} -tr {t.a:.10g} {-t.e:.10g} {_mask_band_source(mask)}"
            f"-dstnodata None -wo INIT_DEST=1 {mask_name} mask_filled.tif")


def _own_mask(mask: rasterio.DatasetReader) -> bool:
    """Whether ``mask`` has a mask band of its own (internal or ``.msk``), which groklst reads as
    unknown (flagged) but gdal_calc.py ignores and gdalwarp skips."""
    return MaskFlags.per_dataset in mask.mask_flag_enums[0]


def _band_and_nodata(mask: rasterio.DatasetReader) -> bool:
    """Whether ``mask`` has a mask band of its own and declares a nodata: groklst flags both, but GDAL
    3.6's gdalwarp then skips only the nodata and copies what the mask band marks invalid as stored."""
    return _own_mask(mask) and mask.nodata is not None


def _mask_band_source(mask: rasterio.DatasetReader) -> str:
    """``-srcnodata None`` for a mask with a mask band and a nodata (:func:`_band_and_nodata`), so that
    gdalwarp skips what the mask band marks invalid (its nodata pixels are then copied as stored); else ""."""
    return "-srcnodata None " if _band_and_nodata(mask) else ""


def _zero_nodata_copied(mask: rasterio.DatasetReader) -> bool:
    """Whether the copy on the mask's own grid holds its nodata 0 as stored (``-srcnodata None``,
    :func:`_mask_band_source`): 0 reads as clear, so the 0/1 rewrite must flag it."""
    return _band_and_nodata(mask) and mask.nodata == 0


def _strict_flags_why(mask: rasterio.DatasetReader, filled: bool) -> str:
    """Why the hint rewrites ``mask`` first (:func:`_strict_flags`), in the hint's words."""
    reasons = []
    if filled:
        reasons.append("-r max skips what is unknown or beyond the mask, so a pixel part unknown and part 0 read 0, "
                       "clear")
    if _band_and_nodata(mask):
        reasons.append("gdalwarp ignores a mask band beside a nodata unless -srcnodata None, so its invalid pixels "
                       "read as stored")
    if np.dtype(mask.dtypes[0]).kind != "u":
        reasons.append("-r max keeps the largest value, so a negative flag beside 0s read 0, clear")
    if _zero_nodata_copied(mask):
        reasons.append("the nodata 0, copied as stored, reads as clear")
    return f"; rewritten first: {'; '.join(reasons)}"


def _shortest(value: float, dtype: np.dtype = np.dtype(np.float64)) -> str:
    """``value`` as ``dtype`` stores it, in the fewest digits that read back as that number
    (``-999.90001``, not ``:g``'s ``-999.9``; ``300``, not ``300.0``): messages and commands."""
    text = str(np.dtype(dtype).type(value))
    return text[:-2] if text.endswith(".0") else text


def _footprint_holds(outer: rasterio.coords.BoundingBox, inner: rasterio.coords.BoundingBox) -> bool:
    """Whether the footprint ``outer`` holds ``inner`` (same CRS)."""
    return (outer.left <= inner.left and outer.bottom <= inner.bottom
            and outer.right >= inner.right and outer.top >= inner.top)


def _unknown_fill(mask: rasterio.DatasetReader, rule: MaskRule) -> str | None:
    """The ``-dstnodata`` that leaves the raster's pixels a warped mask does not reach unknown
    (flagged), or None where the mask declares a nodata and no mask band (gdalwarp fills with it).
    With both it is that nodata: under ``-srcnodata None`` (:func:`_mask_band_source`) the nodata
    pixels are copied as stored, and so still read as nodata. Else it is a value the rule flags
    anyway (NaN for a float mask, all bits set or the first of ``--values`` for an integer one), so
    a mask pixel that holds it is flagged as before, now as unknown."""
    dtype = np.dtype(mask.dtypes[0])
    if _band_and_nodata(mask):
        return "nan" if math.isnan(mask.nodata) else _shortest(mask.nodata, dtype)
    if mask.nodata is not None:
        return None
    if dtype.kind == "f":
        return "nan"
    if rule.values and not rule.bits:
        return str(int(rule.values[0]))  # an integer mask holds only integers (MaskRule.check)
    info = np.iinfo(dtype)
    return str(-1 if info.min < 0 else info.max)  # every bit set: flagged by any --bits, and non-zero


def _mask_res(src: rasterio.DatasetReader, mask: rasterio.DatasetReader) -> tuple[float, float]:
    """The mask's pixel size in x and y in the raster's CRS units: its own where the CRSs agree, else
    that of its footprint reprojected (a 10 m mask in another UTM zone, or in degrees)."""
    if mask.crs == src.crs or mask.crs is None or src.crs is None:
        return mask.transform.a, -mask.transform.e
    left, bottom, right, top = transform_bounds(mask.crs, src.crs, *mask.bounds, densify_pts=21)
    return (right - left) / mask.width, (top - bottom) / mask.height


def target_crs(crs: CRS, raster_path: str | os.PathLike[str], whose: str = "raster") -> tuple[str, str]:
    """What comes before a gdalwarp command that reprojects onto ``crs`` (the CRS of the raster at
    ``raster_path``), and its ``-t_srs`` option: ``EPSG:32632`` where that code is the CRS itself,
    else a WKT file that gdalsrsinfo writes from the raster (an EPSG code only close to it would
    leave the warped mask in a CRS mask still refuses as different); ``whose`` names the raster
    in the words and the file (``reference``: compare's)."""
    code = crs.to_epsg()
    if code is not None and CRS.from_epsg(code) == crs:
        return "", f"-t_srs EPSG:{code} "
    return f"write the {whose}'s CRS (gdalsrsinfo -o wkt {_shell_name(raster_path)} > {whose}_crs.wkt) and ", \
        f"-t_srs {whose}_crs.wkt "


def _shell_name(path: str | os.PathLike[str]) -> str:
    """``path`` as a shell command takes it: quoted, a GDAL name as GDAL reads it, a file name
    starting with '-' as ``./-x.tif`` so that a tool does not take it for an option."""
    return shlex.quote(gdal_name(path) or unmistakable_path(Path(path)))


@dataclass
class _FillClash:
    """Counts, in a pass over the data before any is written, the unflagged valid pixels that already hold
    the ``--fill`` value (in some band) and the range of the valid values: in the copy such
    pixels would read as nodata though they are measurements (README: "a value it never holds")."""

    value: float
    dtype: np.dtype
    pixels: int = 0
    low: float = math.inf
    high: float = -math.inf
    held: np.ndarray | None = field(default=None, init=False)  # 8/16-bit: values unflagged valid pixels hold
    near: float | None = None  # a value GDAL reads as the fill that is not it (300.0001 for 300)
    exact: bool = False  # some such pixel holds the fill itself

    def __post_init__(self) -> None:
        if self.dtype.kind in "iu" and self.dtype.itemsize <= 2:
            self.held = np.zeros(1 << (8 * self.dtype.itemsize), dtype=bool)

    def add(self, stored: np.ndarray, band_valid: np.ndarray, flagged: np.ndarray) -> None:
        """Count a block: ``stored`` (bands, rows, cols), ``band_valid`` where a band has a value,
        ``flagged`` (rows, cols) the pixels the mask sets to nodata anyway."""
        reads = _reads_as_nodata(stored, self.value) & band_valid & ~flagged[None]
        self.pixels += int(reads.any(axis=0).sum())
        self._note_held(stored[reads])
        present = stored[band_valid]
        if present.size:
            self.low = min(self.low, float(present.min()))
            self.high = max(self.high, float(present.max()))
        if self.held is not None:
            kept = stored[band_valid & ~flagged[None]].astype(np.int64) - int(np.iinfo(self.dtype).min)
            self.held[kept] = True

    def _note_held(self, read: np.ndarray) -> None:
        """Note whether the ``read`` values (those GDAL reads as the fill) hold the fill itself and
        one that is not it, so the refusal names a 300.0001 it counts under ``--fill 300``."""
        fill = read.dtype.type(self.value)
        self.exact = self.exact or bool((read == fill).any())
        other = read[read != fill]
        if self.near is None and other.size:
            self.near = float(other[0])

    def _held_words(self) -> str:
        """`` (held as 300.0001, which GDAL reads as 300)`` where some pixel holds a value not the fill."""
        if self.near is None:
            return ""
        return (f" ({'some ' if self.exact else ''}held as {_shortest(self.near, self.dtype)}, which GDAL reads as "
                f"{_shortest(self.value)})")

    def check(self, path: str | os.PathLike[str]) -> None:
        """Refuse a fill value that real (unflagged) pixels hold, with a value that is free."""
        if self.pixels:
            raise InputError("--fill", f"{_shortest(self.value)} occurs in {self.pixels:,} valid pixel(s) of {path}"
                                       f"{self._held_words()} that the mask does not flag: they would become nodata "
                                       "too",
                             _free_fill_hint(self.dtype, self.low, self.high, self.held))


def _free_fill_hint(dtype: np.dtype, low: float, high: float, held: np.ndarray | None = None) -> str:
    """What to pass instead: a value outside the data's range ``low..high``, the type's extreme
    where it is free (the usual fill: 0 for unsigned data, the minimum for signed); where the data
    reach both extremes, the free value nearest to one (by ``held``, for 8- and 16-bit types)."""
    span = f"{_shortest(low, dtype)}..{_shortest(high, dtype)}"  # 300.0001, not 300: a --fill 300 hint
    if dtype.kind == "f":
        return f"leave out --fill (masked pixels get NaN), or give a value outside the data's range {span}"
    info = np.iinfo(dtype)
    free = info.min if info.min < low else info.max if info.max > high else None
    if free is not None:
        return f"give a value outside the data's range {span}, e.g. --fill {free} ({dtype.name}'s extreme)"
    if held is None:  # 32 or 64 bits: which values are free is not counted
        return f"the data reach both of {dtype.name}'s extremes ({span}): give a value no pixel holds"
    unheld = np.flatnonzero(~held) + int(info.min)
    if not unheld.size:
        return (f"the data use every {dtype.name} value ({span}): convert it to a wider type first, "
                "e.g. gdal_translate -ot Int32 IN.tif wide.tif")
    nearest = int(unheld[0]) if unheld[0] - info.min <= info.max - unheld[-1] else int(unheld[-1])
    return (f"the data span all of {dtype.name}'s range ({span}) but leave {unheld.size:,} values free: give one "
            f"of them, e.g. --fill {nearest}")


def _fill_value(src: rasterio.DatasetReader, dtype: np.dtype, fill: float | None,
                path: str | os.PathLike[str]) -> float:
    """The value masked pixels get: the raster's nodata, else ``fill``, else NaN (floats only)."""
    own = src.nodata
    if own is not None:
        if fill is not None and not (fill == own or (np.isnan(fill) and np.isnan(own))):
            raise InputError("--fill", f"{fill:g} differs from the nodata value {own:g} that {path} declares",
                             "leave out --fill: masked pixels get the raster's own nodata value")
        return float(own)
    if fill is None:
        if dtype.kind == "f":
            return float("nan")
        raise InputError(path, f"declares no nodata value and stores {dtype.name}: masked pixels need one",
                         "pass --fill V, a value the raster never holds (e.g. 0 for Landsat ST digital numbers)")
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if not (float(fill).is_integer() and info.min <= fill <= info.max):
            raise InputError("--fill", f"{fill:g} cannot be stored in {path}'s {dtype.name} pixels",
                             f"give an integer in {info.min}..{info.max}")
    elif _overflows(fill, dtype):  # GDAL refuses such a nodata: it was an internal error
        raise InputError("--fill", f"{fill!r} cannot be stored in {path}'s {dtype.name} pixels",
                         f"give a value within ±{str(np.finfo(dtype).max)} (the {dtype.name} range), or nan")
    elif _unrepresentable(fill, dtype):  # 1e-46 was float32's 0.0, a valid degC value, as nodata
        raise InputError("--fill", f"{fill!r} is no {dtype.name} number: {path}'s masked pixels would get "
                                   f"{dtype.type(fill)}", "leave out --fill (masked pixels get NaN), or give a value "
                                   f"{dtype.name} holds (its smallest normal is {np.finfo(dtype).smallest_normal!s})")
    return float(fill)


def _overflows(value: float, dtype: np.dtype) -> bool:
    """Whether the finite ``value`` becomes ±inf as a ``dtype`` float: beyond its largest value
    once rounded (float32's lowest, -3.4028235e+38 as typed, is within: it rounds to it)."""
    with np.errstate(over="ignore"):
        return math.isfinite(value) and not np.isfinite(dtype.type(value))
