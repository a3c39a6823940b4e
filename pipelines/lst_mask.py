"""Set LST pixels to nodata where a mask raster on the same grid flags them (clouds, shadows).

LST products carry their cloud mask beside the temperature: Landsat Collection-2 in the bits
of ``QA_PIXEL`` (1 dilated cloud, 2 cirrus, 3 cloud, 4 cloud shadow), others as a 0/1 layer
or class codes. A cloud left in the LST reads as a cold surface, which a downscaler sharpens
like any other. :func:`mask_lst` writes a copy of the LST with the flagged pixels set to its
nodata value, everything else untouched: same data type, scale/offset, grid and tags, so
every command reads the copy as it read the original.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

from pipelines.errors import EmptySceneError, InputError
from pipelines.geotiff import BLOCK, geotiff_output, open_raster, read_stored
from pipelines.grids import ALIGNMENT_TOLERANCE
from pipelines.lst_values import check_single_band
from pipelines.raster_names import display_name, source_tag


@dataclass(frozen=True)
class MaskRule:
    """Which mask values flag a pixel: any of ``bits`` set, or equal to one of ``values``;
    with neither, any value but 0. The mask's own nodata always flags (state unknown)."""

    bits: tuple[int, ...] = ()
    values: tuple[float, ...] = ()

    def describe(self) -> str:
        parts = []
        if self.bits:
            parts.append(f"bit{'s' if len(self.bits) > 1 else ''} {','.join(map(str, self.bits))} set")
        if self.values:
            parts.append(f"value{'s' if len(self.values) > 1 else ''} {','.join(f'{v:g}' for v in self.values)}")
        return " or ".join(parts) if parts else "a value other than 0"

    def check(self, dtype: np.dtype, path: str | os.PathLike[str]) -> None:
        """Refuse bits a mask of ``dtype`` cannot hold (or bits of a floating-point mask), and
        values it cannot store: such a rule would silently flag nothing."""
        if dtype.kind not in "iu":
            if self.bits:
                raise InputError(path, f"is stored as {dtype.name}: bit flags need an integer mask",
                                 "give the QA raster itself, or flag by --values")
            return
        width = dtype.itemsize * 8
        outside = [b for b in self.bits if not 0 <= b < width]
        if outside:
            raise InputError("--bits", f"bit(s) {outside} do not exist in a {width}-bit mask ({path})",
                             f"give bit numbers 0..{width - 1}, bit 0 the lowest")
        info = np.iinfo(dtype)
        odd = [v for v in self.values if not (float(v).is_integer() and info.min <= v <= info.max)]
        if odd:
            raise InputError("--values", f"{', '.join(f'{v:g}' for v in odd)} cannot occur in {path}'s "
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
            word = sum(1 << b for b in self.bits)
            flagged |= (stored.astype(np.int64) & word) != 0
        if self.values:
            flagged |= np.isin(stored, np.asarray(self.values, dtype=np.float64))
        return flagged


@dataclass
class MaskReport:
    """What :func:`mask_lst` did (also the ``--json`` object)."""

    input: str
    mask: str
    output: str
    rule: str
    pixels: int = 0  # all pixels of the LST
    valid_before: int = 0  # pixels with a value in the LST
    masked: int = 0  # of those, the ones the mask flagged (now nodata)

    @property
    def valid_after(self) -> int:
        return self.valid_before - self.masked


def mask_lst(lst_path: str | os.PathLike[str], mask_path: str | os.PathLike[str],
             out_path: str | os.PathLike[str], rule: MaskRule, *, fill: float | None = None,
             overwrite: bool = False) -> MaskReport:
    """Write ``out_path``: the LST with every pixel ``rule`` flags in the mask set to nodata.

    The fill is the LST's own nodata value, else ``fill``, else NaN for a floating-point LST.
    Raises :class:`InputError` for a mask on another grid, and :class:`EmptySceneError` when
    no valid pixel would be left (nothing is written then).
    """
    report = MaskReport(display_name(lst_path), display_name(mask_path), str(out_path), rule.describe())
    with open_raster(lst_path) as lst, open_raster(mask_path) as mask:
        check_single_band(lst, lst_path)
        if mask.count != 1:
            raise InputError(mask_path, f"has {mask.count} bands, expected 1 mask band",
                             "pick the band: gdal_translate -b N MASK.tif mask.tif")
        _check_same_grid(lst, mask, mask_path)
        dtype = np.dtype(lst.dtypes[0])
        rule.check(np.dtype(mask.dtypes[0]), mask_path)
        nodata = _fill_value(lst, dtype, fill, lst_path)
        profile = _output_profile(lst, dtype, nodata)
        with geotiff_output(out_path, overwrite=overwrite, inputs=[lst_path, mask_path]) as tmp:
            with rasterio.open(tmp, "w", **profile) as dst:
                _copy_metadata(lst, dst)
                dst.update_tags(mask_source=source_tag(Path(mask_path)), mask_rule=rule.describe())
                for top in range(0, lst.height, BLOCK):
                    window = Window(0, top, lst.width, min(BLOCK, lst.height - top))
                    values = read_stored(lst, 1, window, lst_path)
                    valid = ~np.ma.getmaskarray(values)
                    if dtype.kind == "f":
                        valid &= ~np.isnan(np.ma.getdata(values))
                    flagged = rule.flags(read_stored(mask, 1, window, mask_path)) & valid
                    report.valid_before += int(valid.sum())
                    report.masked += int(flagged.sum())
                    stored = np.ma.getdata(values).copy()
                    stored[flagged] = np.asarray(nodata).astype(dtype)
                    dst.write(stored, 1, window=window)
                dst.update_tags(masked_pixels=str(report.masked))
            if report.valid_after == 0:
                raise EmptySceneError(lst_path, f"the mask flags every valid pixel ({rule.describe()} "
                                                f"in {display_name(mask_path)}); nothing written")
        report.pixels = lst.width * lst.height
    return report


def _check_same_grid(lst: rasterio.DatasetReader, mask: rasterio.DatasetReader,
                     mask_path: str | os.PathLike[str]) -> None:
    """The mask must cover the LST pixel for pixel: same size, CRS and transform."""
    res = abs(lst.transform.a)
    same_transform = all(abs(a - b) <= ALIGNMENT_TOLERANCE * res
                         for a, b in zip(lst.transform[:6], mask.transform[:6]))
    if (mask.width, mask.height) != (lst.width, lst.height) or mask.crs != lst.crs or not same_transform:
        raise InputError(
            mask_path,
            f"is not on the LST's grid ({mask.width}x{mask.height} px at {abs(mask.transform.a):g}, "
            f"the LST {lst.width}x{lst.height} px at {res:g}, origins and CRS must match too)",
            "use the mask delivered with the LST, or warp it onto the LST grid with "
            "gdalwarp -r near (or -r max for a finer mask)",
        )


def _fill_value(lst: rasterio.DatasetReader, dtype: np.dtype, fill: float | None,
                path: str | os.PathLike[str]) -> float:
    """The value masked pixels get: the LST's nodata, else ``fill``, else NaN (floats only)."""
    own = lst.nodata
    if own is not None:
        if fill is not None and not (fill == own or (np.isnan(fill) and np.isnan(own))):
            raise InputError("--fill", f"{fill:g} differs from the nodata value {own:g} that {path} declares",
                             "leave out --fill: masked pixels get the LST's own nodata value")
        return float(own)
    if fill is None:
        if dtype.kind == "f":
            return float("nan")
        raise InputError(path, f"declares no nodata value and stores {dtype.name}: masked pixels need one",
                         "pass --fill V, a value the LST never holds (e.g. 0 for Landsat ST digital numbers)")
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if not (float(fill).is_integer() and info.min <= fill <= info.max):
            raise InputError("--fill", f"{fill:g} cannot be stored in {path}'s {dtype.name} pixels",
                             f"give an integer in {info.min}..{info.max}")
    return float(fill)


def _output_profile(lst: rasterio.DatasetReader, dtype: np.dtype, nodata: float) -> dict:
    """The LST's own layout (type, grid), with the project's tiling and lossless compression."""
    profile = lst.profile.copy()
    for key in ("blockxsize", "blockysize", "tiled", "compress", "predictor", "interleave", "photometric"):
        profile.pop(key, None)
    profile.update(driver="GTiff", nodata=nodata, tiled=True, blockxsize=BLOCK, blockysize=BLOCK,
                   compress="deflate", predictor=3 if dtype.kind == "f" else 2, BIGTIFF="IF_SAFER")
    return profile


def _copy_metadata(src: rasterio.DatasetReader, dst: rasterio.io.DatasetWriter) -> None:
    """Tags (AREA_OR_POINT included), band description, unit and scale/offset, as in the LST."""
    dst.update_tags(**src.tags())
    dst.update_tags(1, **src.tags(1))
    if src.descriptions[0]:
        dst.set_band_description(1, src.descriptions[0])
    if src.units and src.units[0]:
        dst.set_band_unit(1, src.units[0])
    dst.scales, dst.offsets = src.scales, src.offsets
