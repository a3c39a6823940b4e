"""Place an LST raster on its guidance: measure their offset and write the LST with its grid moved.

Thermal products are often georeferenced less well than the optical guidance beside them
(SDGSAT-1's TIS against its MII, ECOSTRESS, airborne thermal). :func:`coregister_scene`
measures the offset on the scene (:func:`pipelines.coregister.estimate_shift`, on five
crops) and writes a copy of the LST whose geotransform is moved onto the guidance by whole
guidance pixels: the stored values are copied bit for bit (nothing is resampled) and the pair
still nests, so ``downscale`` takes the copy with the same guidance. The LST options the copy was
read with go into it: a given scale and offset and the unit into its metadata, and pixels only
the options make nodata (``--nodata``, ``--mask-implausible``) become its nodata, so it reads as
the same temperatures with no options. A GDAL mask of the LST's own (internal or ``.msk``) is
written as the copy's internal mask: GDAL carries no mask into a new file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import MaskFlags
from rasterio.windows import Window

from pipelines.atomic import check_writable
from pipelines.coregister import MAX_SHIFT_LR, ShiftEstimate, crops, estimate_shift
from pipelines.errors import InputError
from pipelines.geotiff import (
    BLOCK,
    check_geotiff_name,
    copy_metadata,
    copy_profile,
    geotiff_output,
    open_raster,
    read_stored,
    read_values,
    stored_fill,
    streaming_gdal_env,
)
from pipelines.grids import Grid, pair_grids, resolution_units
from pipelines.lst_values import (
    LstDecoding,
    band_unit_tag,
    check_plausible,
    check_single_band,
    decode,
    linear,
    resolve_units,
    scan,
    stored_number,
    to_kelvin_masked,
    type_extremes,
)
from pipelines.raster_names import display_name, source_tag
from pipelines.scenes import guidance_misses_lst
from pipelines.units import Units, tagged_units, unit_tag


@dataclass
class PlacementReport:
    """What :func:`coregister_scene` found and wrote (also the ``--json`` object)."""

    input: str
    guidance: str
    output: str
    placement: str  # one line, also the output's ``coregistration`` tag
    moved: bool
    east: float  # how far the LST grid moved, in CRS units (negative: west)
    south: float
    unit: str
    r2: float
    r2_as_delivered: float
    uncertain: bool  # another placement a whole LST pixel or more away fits as well (see placement)
    at_search_edge: bool = False  # the best offset lies at the edge of the search: a wider --max-shift may find it


def coregister_scene(lst_path: str | os.PathLike[str], guidance_path: str | os.PathLike[str],
                     out_path: str | os.PathLike[str], *, units: Units = Units.auto,
                     decoding: LstDecoding = LstDecoding(), max_shift_lr: int = MAX_SHIFT_LR,
                     overwrite: bool = False) -> PlacementReport:
    """Measure how far the LST is off its guidance (which must nest in the LST grid) and write
    the LST to ``out_path`` with its grid moved onto the guidance when the offset is reliable
    (unchanged otherwise). The LST is read by the rule ``downscale`` reads with. The output is
    checked first: a name that may not be written is refused before the measurement."""
    check_geotiff_name(out_path)
    check_writable(out_path, overwrite, inputs=[lst_path, guidance_path])
    with streaming_gdal_env(), open_raster(lst_path) as lst, open_raster(guidance_path) as guidance:
        check_single_band(lst, lst_path)
        grids = pair_grids(Grid.of(lst), Grid.of(guidance), scale=None, lst_path=lst_path,
                           guidance_path=guidance_path, offers_align=False)  # coregister has no --align
        missed = guidance_misses_lst(Path(lst_path), Path(guidance_path), None, decoding)
        if missed is not None:  # the crops would hold no pair to measure on: no placement to report
            raise missed
        found = scan(lst, grids.lr_window, decoding, lst_path)
        used = resolve_units(found, units)
        check_plausible(found, used, decoding, lst_path)
        estimate = _measure(lst, guidance, grids.lr_window, grids.guidance_window, grids.ratio,
                            max_shift_lr * grids.ratio, used, decoding, lst_path, guidance_path)
        res, unit = guidance.res[0], resolution_units(guidance.crs)
        line = estimate.describe(res, unit, f"the guidance {display_name(guidance_path)}")
        moved = estimate.needed
        ratio = grids.ratio
        transform = lst.transform @ Affine.translation(estimate.cols / ratio, estimate.rows / ratio) if moved \
            else lst.transform
        fill = _copy_nodata(lst, decoding)
        own_mask = MaskFlags.per_dataset in lst.mask_flag_enums[0]
        with geotiff_output(out_path, overwrite=overwrite, inputs=[lst_path, guidance_path]) as tmp, \
                rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):  # the mask travels with the file's rename
            with rasterio.open(tmp, "w", **copy_profile(lst, transform=transform, nodata=fill)) as dst:
                copy_metadata(lst, dst)
                _record_reading(lst, dst, decoding, used, lst_path)
                dst.update_tags(coregistration=line, coregistration_guidance=source_tag(Path(guidance_path)))
                for top in range(0, lst.height, BLOCK):
                    window = Window(0, top, lst.width, min(BLOCK, lst.height - top))
                    stored, dropped = _stored_copy(lst, window, decoding, used, lst_path, fill)
                    dst.write(stored, 1, window=window)
                    if own_mask:
                        dst.write_mask(_copy_mask(lst, window, dropped), window=window)
    return PlacementReport(
        display_name(lst_path), display_name(guidance_path), str(out_path), line, moved,
        estimate.cols * res if moved else 0.0, estimate.rows * res if moved else 0.0, unit,
        estimate.r2, estimate.r2_as_delivered, estimate.uncertain, estimate.at_edge,
    )


def _masks_more(decoding: LstDecoding) -> bool:
    """Whether the LST options make nodata of pixels the file itself calls valid."""
    return bool(decoding.nodata) or decoding.mask_implausible


def _copy_nodata(lst: rasterio.DatasetReader, decoding: LstDecoding) -> float | None:
    """The copy's nodata: the file's; where it has none and the options mask pixels, the first
    declared fill value the data type holds (-9999 is no uint16: writing it failed), else NaN
    (floats) or the data type's extreme, so the copy says by itself which pixels are nodata
    (``downscale`` needs no ``--nodata``). The extreme is free: the scan refused valid pixels
    holding it (:func:`pipelines.lst_values.check_plausible`), and :func:`_stored_copy` checks
    the pixels outside the scanned footprint."""
    if lst.nodata is not None or not _masks_more(decoding):
        return lst.nodata
    dtype = np.dtype(lst.dtypes[0])
    held = (stored_fill(value, dtype) for value in decoding.nodata)
    declared = next((fill for fill in held if fill is not None), None)
    if declared is not None:
        return declared
    return float("nan") if dtype.kind == "f" else float(type_extremes(dtype)[0])


def _record_reading(lst: rasterio.DatasetReader, dst: rasterio.io.DatasetWriter, decoding: LstDecoding,
                    units: Units, lst_path: str | os.PathLike[str]) -> None:
    """Write into the copy's metadata the scale, offset and unit its stored values were read
    with (the options given, else the file's), so the copy reads as the same temperatures with
    no options: a ``--scale-factor`` given here is not needed again."""
    if decoding.scale_factor is not None or decoding.offset is not None:
        scale, offset = linear(lst, decoding, path=lst_path)
        dst.scales, dst.offsets = (scale,), (offset,)
    if tagged_units(band_unit_tag(lst)) is not units:
        dst.set_band_unit(1, unit_tag(units))
        _retag_units(lst, dst, unit_tag(units))


def _retag_units(lst: rasterio.DatasetReader, dst: rasterio.io.DatasetWriter, unit: str) -> None:
    """Give the ``units`` tags copied from the LST (the dataset's or the band's, any case, as
    rioxarray writes them) the copy's unit: a stale ``units=K`` beside band unit degC is what
    a reader of that tag takes."""
    for band in (0, 1):  # 0: the dataset's tags
        stale = {key: unit for key in lst.tags(band) if key.lower() == "units"}
        if stale:
            dst.update_tags(band, **stale)


def _stored_copy(lst: rasterio.DatasetReader, window: Window, decoding: LstDecoding, units: Units,
                 lst_path: str | os.PathLike[str], fill: float | None) -> tuple[np.ndarray, np.ndarray]:
    """The stored values in ``window``, bit for bit, except the pixels only the LST options
    make nodata (declared fill values, ``--mask-implausible``; not those the file calls nodata),
    which become ``fill``; and where those are. A valid pixel already holding ``fill`` is
    refused: it would turn nodata in the copy."""
    read = read_stored(lst, 1, window, lst_path)
    stored, nodata = np.ma.getdata(read).copy(), np.ma.getmaskarray(read)
    dropped = np.zeros(stored.shape, bool)
    if _masks_more(decoding):
        kelvin = to_kelvin_masked(decode(lst, window, decoding, lst_path), units, decoding)
        dropped = np.isnan(kelvin) & ~nodata
        if lst.nodata is None and np.any(~nodata & ~dropped & (stored == fill)):
            raise InputError(lst_path, f"valid pixels hold {stored_number(fill, stored.dtype)}, the value its "
                                       "coregistered copy needs as nodata for the pixels the LST options drop",
                             f"add --nodata V, a {stored.dtype.name} value no valid pixel holds: it becomes the "
                             "copy's nodata")
        stored[dropped] = fill
    return stored, dropped


def _copy_mask(lst: rasterio.DatasetReader, window: Window, dropped: np.ndarray) -> np.ndarray:
    """The copy's mask in ``window``: the file's own (internal or ``.msk``; GDAL does not
    carry it into a new file, so masked pixels read as data), also clearing the pixels the
    LST options made nodata (GDAL reads a mask instead of the nodata value)."""
    mask = lst.read_masks(1, window=window)
    mask[dropped] = 0
    return mask


def _measure(lst: rasterio.DatasetReader, guidance: rasterio.DatasetReader, lr_window: Window,
             guidance_window: Window, ratio: int, margin: int, units: Units, decoding: LstDecoding,
             lst_path: str | os.PathLike[str], guidance_path: str | os.PathLike[str]) -> ShiftEstimate:
    """The offset, measured on five crops of the common footprint."""
    pairs = []
    for top, left, h, w in crops(int(lr_window.height), int(lr_window.width)):
        window = Window(lr_window.col_off + left, lr_window.row_off + top, w, h)
        kelvin = to_kelvin_masked(decode(lst, window, decoding, lst_path), units, decoding).astype(np.float64)
        frame = Window(guidance_window.col_off + left * ratio - margin, guidance_window.row_off + top * ratio - margin,
                       w * ratio + 2 * margin, h * ratio + 2 * margin)
        pairs.append((kelvin, _read_framed(guidance, frame, guidance_path)))
    return estimate_shift(pairs, ratio, margin)


def _read_framed(src: rasterio.DatasetReader, frame: Window, path: str | os.PathLike[str]) -> np.ndarray:
    """Every band of ``src`` in ``frame`` as float64, NaN where the frame reaches past the raster."""
    out = np.full((src.count, int(frame.height), int(frame.width)), np.nan)
    r0, c0 = max(0, int(frame.row_off)), max(0, int(frame.col_off))
    r1 = min(src.height, int(frame.row_off + frame.height))
    c1 = min(src.width, int(frame.col_off + frame.width))
    if r1 > r0 and c1 > c0:
        bands = list(range(1, src.count + 1))
        out[:, r0 - int(frame.row_off):r1 - int(frame.row_off), c0 - int(frame.col_off):c1 - int(frame.col_off)] = \
            read_values(src, bands, Window(c0, r0, c1 - c0, r1 - r0), path, dtype=np.float64)
    return out
