"""From stored LST values to Kelvin, and the plausibility rule every LST read obeys.

A stored value becomes a temperature in three steps: values equal to the file's nodata or to
a declared ``--nodata`` (compared in the band's data type: a float32 band holds -999.9 as
-999.9000244..., and ``--nodata -999.9`` means it) are nodata; ``value * scale_factor + offset`` (the user's, else the
file's own scale/offset metadata); Celsius to Kelvin. Before any work the whole LST is scanned
(in strips, cheap: it is the coarse raster) and the scene is refused unless every valid value
is a plausible land-surface temperature: 150-400 K, or -120..120 degC. The refusal says what
was found and what to pass (``--nodata``, ``--scale-factor/--offset``, ``--units``; for a raster
those options do not read, such as compare's candidates, what to declare in the file), because a
scene read wrongly otherwise becomes a GeoTIFF of nonsense with exit status 0. An integer band
holding its data type's extreme (uint16 65535; int16 -32768 or 32767) undeclared as nodata is
refused too, even where that value reads as a plausible temperature (Landsat C2 ST's 65535 is
373 K): no product stores a measurement there, it is a fill or a saturation flag
(``--mask-implausible`` masks temperatures, so it leaves such a value to ``--nodata``). A
refusal names an integer band's values read with no scale or offset as stored values, not as
temperatures. downscale records how it read its LST in the output's ``lst_*`` tags
(:func:`reading_tags`), so the quicklook reads that LST the same way (:func:`reading_from_tags`).
"""

from __future__ import annotations

import math
import os
import re
import shlex
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from numpy.typing import DTypeLike
from rasterio.enums import ColorInterp
from rasterio.windows import Window

from pipelines.errors import EmptySceneError, GroklstWarning, InputError, printable_path, unmistakable_path
from pipelines.geotiff import read_stored, refuse_complex, warn_lossy
from pipelines.percent import percent
from pipelines.units import KELVIN_OFFSET, Units, detect_units, tagged_fahrenheit, tagged_units, unit_tag

PLAUSIBLE_KELVIN = (150.0, 400.0)
PLAUSIBLE_CELSIUS = (-120.0, 120.0)
# A scene's median beyond these is no land surface's (single pixels have been measured from about
# 175 K, -98 degC on the Antarctic plateau, to 354 K, 81 degC in deserts): wrong factors or unit
PLAUSIBLE_MEDIAN_KELVIN = (180.0, 350.0)
# Integer LST encodings met in the wild: (scale factor, offset, whose, the units they give). A
# hint names the ones that would turn a refused scene's values into typical temperatures.
KNOWN_ENCODINGS = (
    (0.00341802, 149.0, "Landsat Collection-2 ST", (Units.kelvin,)),
    (0.02, 0.0, "MODIS, VIIRS and ECOSTRESS LST", (Units.kelvin,)),
    (0.01, 0.0, "hundredths", (Units.kelvin, Units.celsius)),
    (0.1, 0.0, "tenths", (Units.kelvin, Units.celsius)),
)
TYPICAL_MARGIN = 60.0  # a typical scene's median lies this far inside the plausible range (210..340 K)
FILL_SHARE = 0.01  # an extreme stored value this common is taken for a fill before any encoding reads
# the scene with it (tenths of K with a fill of 0 also read as hundredths of degC, a quarter of it 0 degC)
_SAMPLE = 200_000  # values kept (evenly spaced) to detect units and name a fill value
_STRIP_ROWS = 512


@dataclass(frozen=True)
class LstDecoding:
    """How stored LST values become temperatures (the options a user can declare)."""

    nodata: tuple[float, ...] = ()  # extra fill values, in stored units (the file's also count)
    scale_factor: float | None = None  # None: the file's own scale metadata (or 1)
    offset: float | None = None  # None: the file's own offset metadata (or 0)
    mask_implausible: bool = False  # implausible values become nodata instead of a refusal

    def __post_init__(self) -> None:
        for option, value in (("--scale-factor", self.scale_factor), ("--offset", self.offset)):
            if value is not None and not math.isfinite(value):
                raise InputError(option, f"must be a finite number, got {value}")
        if self.scale_factor is not None and self.scale_factor == 0:
            raise InputError("--scale-factor", "must not be 0")


# Keeps an alpha band as the LST's mask, inside the TIFF (GDAL before 3.9 writes a .msk beside it)
ALPHA_AS_MASK = "gdal_translate -b {data} -mask {alpha} --config GDAL_TIFF_INTERNAL_MASK YES IN.tif LST.tif"


def check_single_band(src: rasterio.DatasetReader, path: str | os.PathLike[str]) -> None:
    """Refuse an LST raster with more than one band: which one is the LST would be a guess. One
    data band with a GDAL alpha band (QGIS "Save as", gdalwarp -dstalpha) is named so, with the
    command that keeps the alpha as the LST's mask: ``gdal_translate -b 1`` alone drops it, and
    GDAL honours a float alpha as no mask at all, so its nodata would read as temperatures.
    A complex band is refused too (:func:`~pipelines.geotiff.refuse_complex`), and a lossy
    compression warned of (:func:`~pipelines.geotiff.warn_lossy`)."""
    if src.count == 1:
        refuse_complex(src, path, "LST")
        warn_lossy(src, path, "values may be off by kelvins")
        return
    alpha = [i for i, c in enumerate(src.colorinterp, start=1) if c == ColorInterp.alpha]
    if len(alpha) == 1 and src.count == 2:
        data = 3 - alpha[0]
        raise InputError(path, f"band {alpha[0]} is an alpha band (a mask, not LST) beside LST band {data}",
                         "keep the alpha as the LST's mask: " + ALPHA_AS_MASK.format(data=data, alpha=alpha[0]))
    described = _lst_described_bands(src.descriptions)
    if len(described) == 1:
        band = described[0]
        raise InputError(path, f"has {src.count} bands, expected 1 LST band (band {band} is described "
                         f"{src.descriptions[band - 1]!r})", "give that band alone: gdal_translate -b "
                         f"{band} {shlex.quote(os.fspath(path))} LST.tif")
    raise InputError(path, f"has {src.count} bands, expected 1 LST band",
                     "give a single-band LST raster, e.g. gdal_translate -b N IN.tif LST.tif")


def _lst_described_bands(descriptions: Sequence[str | None]) -> list[int]:
    """1-based bands whose description is a land-surface temperature and nothing else (``lst``,
    ``LST_K``, ``land surface temperature (Celsius)``; not ``LST_QA``, ``LST uncertainty``): the
    band a multi-band file's refusal can name."""
    wanted = ({"lst"}, {"surface", "temperature"}, {"land", "surface", "temperature"})
    found = []
    for band, description in enumerate(descriptions, start=1):
        words = set(re.split(r"[^a-z]+", (description or "").lower())) - _UNIT_WORDS
        if words in wanted:
            found.append(band)
    return found


_UNIT_WORDS = {"", "k", "kelvin", "c", "degc", "celsius", "deg", "in"}  # beside a name: no other meaning


def plausible_range(units: Units) -> tuple[float, float]:
    """The range of plausible LST values in ``units``."""
    return PLAUSIBLE_CELSIUS if units is Units.celsius else PLAUSIBLE_KELVIN


def implausible_kelvin(values: np.ndarray) -> tuple[int, float, float] | None:
    """For Kelvin ``values`` (NaN = nodata): (count outside PLAUSIBLE_KELVIN, finite min, max),
    or None when every finite value is plausible."""
    lo, hi = PLAUSIBLE_KELVIN
    finite = values[np.isfinite(values)]
    outside = int(np.count_nonzero((finite < lo) | (finite > hi)))
    return (outside, float(finite.min()), float(finite.max())) if outside else None


def linear(src: rasterio.DatasetReader, decoding: LstDecoding, band: int = 1, *,
           path: str | os.PathLike[str] | None = None, remedy: Remedy | None = None) -> tuple[float, float]:
    """The (scale, offset) that turn ``band``'s stored values into temperatures: the declared
    ones, else the file's metadata. Each declared part overrides the file's, so only a part that
    is used is refused as :func:`~pipelines.geotiff.band_scaling` refuses it (a scale of 0, a
    non-finite one, naming ``path``, by default the dataset's name), with ``remedy``'s hint (by
    default the LST options', which override the metadata): ``--scale-factor 1`` on a file
    declaring scale NaN was refused for the scale it replaced, and told only of gdal_edit.py."""
    file_scale = float(src.scales[band - 1]) if src.scales else 1.0
    file_offset = float(src.offsets[band - 1]) if src.offsets else 0.0
    scale = float(decoding.scale_factor) if decoding.scale_factor is not None else file_scale
    offset = float(decoding.offset) if decoding.offset is not None else file_offset
    if scale == 0 or not (math.isfinite(scale) and math.isfinite(offset)):  # the file's part: the user's are checked
        named = src.name if path is None else path
        raise InputError(named, f"band {band} declares scale {file_scale:g} and offset {file_offset:g}, which give "
                                "no values", (remedy or Remedy()).file_scaling(named))
    return scale, offset


def reading_tags(decoding: LstDecoding, scale: float, offset: float, units: Units) -> dict[str, str]:
    """The tags that record how downscale read its LST (the scale and offset it applied, the
    fill values declared besides the file's, the unit resolved), so a later reader of that LST
    (the quicklook) reads it the same way (:func:`reading_from_tags`)."""
    return {"lst_scale_factor": repr(float(scale)), "lst_offset": repr(float(offset)),
            "lst_nodata": ",".join(repr(float(v)) for v in decoding.nodata) or "none",
            "lst_units": units.value, "lst_mask_implausible": str(decoding.mask_implausible).lower()}


def reading_from_tags(tags: dict[str, str], output_path: str | os.PathLike[str]) -> tuple[LstDecoding, Units]:
    """The decoding and unit :func:`reading_tags` recorded in an output's ``tags``; what is not
    recorded (an output written before these tags) is left to the file's metadata and its values
    (``Units.auto``)."""
    scale = _tag_numbers(tags, "lst_scale_factor", output_path)
    offset = _tag_numbers(tags, "lst_offset", output_path)
    units = tags.get("lst_units", Units.auto.value)
    return (LstDecoding(nodata=_tag_numbers(tags, "lst_nodata", output_path) or (),
                        scale_factor=scale[0] if scale else None, offset=offset[0] if offset else None,
                        mask_implausible=tags.get("lst_mask_implausible") == "true"),
            Units(units) if units in (Units.kelvin.value, Units.celsius.value) else Units.auto)


def _tag_numbers(tags: dict[str, str], name: str, output_path: str | os.PathLike[str]) -> tuple[float, ...] | None:
    """The comma-separated numbers of tag ``name``; None where it is absent or ``none``."""
    text = tags.get(name, "none")
    if text == "none":
        return None
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise InputError(output_path, f"its {name} tag, {text!r}, is not a number",
                         f"pass --{name[4:].replace('_', '-')} to say how to read the input LST") from None


def reading_precision(band_dtype: DTypeLike) -> np.dtype:
    """The float type to read a band in: its own for a float band (so declared fill values
    compare as the band stores them), float64 for integers (exact)."""
    band = np.dtype(band_dtype)
    return band if band.kind == "f" else np.dtype(np.float64)


def decode_values(stored: np.ndarray, decoding: LstDecoding, scale: float, offset: float) -> np.ndarray:
    """Stored values (NaN where the file says nodata) as temperatures in the declared unit.

    The arithmetic of :func:`decode`, for values read some other way (e.g. dask blocks).
    Declared fill values are rounded to ``stored``'s precision before they are compared.
    """
    values = np.where(np.isnan(stored), np.nan, stored)  # a float copy; +-inf is kept (see :func:`decode`)
    if decoding.nodata:
        with np.errstate(over="ignore"):  # a fill beyond float32 is inf: matches nothing finite
            fills = np.asarray(decoding.nodata, dtype=np.float64).astype(values.dtype)
        values[np.isin(values, fills)] = np.nan
    values = values.astype(np.float64, copy=False)
    if (scale, offset) != (1.0, 0.0):
        with np.errstate(over="ignore"):  # inf: :func:`scan` refuses a scale that overflows
            values = values * scale + offset
    return values


def decode(src: rasterio.DatasetReader, window: Window, decoding: LstDecoding,
           path: str | os.PathLike[str], *, band: int = 1) -> np.ndarray:
    """Stored values in ``window`` as temperatures in the declared (not yet Kelvin) unit, NaN nodata.

    +-inf stays infinite, not nodata: no file declares it as a fill, so the plausibility scan
    refuses it as it refuses 3.4e38 (and ``--mask-implausible`` makes it nodata)."""
    stored = read_floats(src, window, path, band)
    return decode_values(stored, decoding, *linear(src, decoding, band, path=path))


def read_floats(src: rasterio.DatasetReader, window: Window, path: str | os.PathLike[str],
                band: int) -> np.ndarray:
    """``band``'s stored values in ``window`` as floats (:func:`reading_precision`), NaN where
    the file says nodata: what :func:`decode_values` turns into temperatures."""
    data = read_stored(src, band, window, path)
    with np.errstate(invalid="ignore", over="ignore"):
        return np.ma.filled(data.astype(reading_precision(src.dtypes[band - 1])), np.nan)


def type_extremes(dtype: DTypeLike) -> tuple[int, ...]:
    """The stored values of an integer ``dtype`` that no product measures: an unsigned type's
    largest, a signed type's smallest and largest (fills and saturation flags); none for floats."""
    kind = np.dtype(dtype)
    if kind.kind == "u":
        return (int(np.iinfo(kind).max),)
    if kind.kind == "i":
        return int(np.iinfo(kind).min), int(np.iinfo(kind).max)
    return ()


def to_kelvin_masked(values: np.ndarray, units: Units, decoding: LstDecoding) -> np.ndarray:
    """Temperatures in ``units`` -> float32 Kelvin; implausible ones NaN if the user asked so."""
    if decoding.mask_implausible:
        lo, hi = plausible_range(units)
        with np.errstate(invalid="ignore"):
            values = np.where((values >= lo) & (values <= hi), values, np.nan)
    kelvin = values + KELVIN_OFFSET if units is Units.celsius else values
    return kelvin.astype(np.float32)


@dataclass
class LstScan:
    """What a pass over the LST found: enough to choose the unit and judge plausibility."""

    valid: int
    low: float
    high: float
    sample: np.ndarray  # evenly spaced valid values
    dtype: np.dtype  # the band's data type: a fill value is named as the band stores it
    scale: float = 1.0  # stored * scale + offset gave ``sample``: a fill is named in stored units
    offset: float = 0.0
    unit_tag: str = ""  # the band's unit tag as the file says it (see :func:`band_unit_tag`)
    path: str = ""  # the file, for the warning when that tag contradicts the values
    extremes: tuple[tuple[int, int], ...] = ()  # (stored value, valid pixels holding it) of type_extremes
    scale_given: bool = False  # ``scale`` is the user's --scale-factor, not the file's metadata

    @property
    def integer_storage(self) -> bool:
        return self.dtype.kind in "iu"

    @property
    def unscaled_integers(self) -> bool:
        """Whether the values are an integer band's stored numbers, read with no scale or offset:
        counts whose unit nothing declares, named so in a refusal rather than as K or degC."""
        return self.integer_storage and (self.scale, self.offset) == (1.0, 0.0)

    def stored_text(self, value: float) -> str:
        """``value`` (from ``sample``) in stored units, the shortest text that ``--nodata``
        reads back to the very value the band stores (float32 -999.9, not -999.9000244140625)."""
        return stored_number((value - self.offset) / self.scale, self.dtype)


def stored_number(value: float, dtype: DTypeLike) -> str:
    """``value`` as stored in a band of ``dtype``, in the shortest text that reads back to that very
    value: an integer type's nearest integer, a float type's shortest round-trip decimal (float32
    -999.9, not -999.9000244140625), so a hint's number pasted into ``--nodata``, ``--values`` or
    ``gdal_edit.py -a_nodata`` matches the stored pixels."""
    kind = np.dtype(dtype)
    if kind.kind in "iu":
        return str(round(value))
    return str(kind.type(value))


def scan(src: rasterio.DatasetReader, window: Window, decoding: LstDecoding,
         path: str | os.PathLike[str], *, band: int = 1, remedy: Remedy | None = None) -> LstScan:
    """Read the LST window (of ``band``) strip by strip and summarise its valid values; a scale
    that makes no temperatures of them is refused with ``remedy``'s hint (by default the LST
    options', which override the file's metadata)."""
    total = int(window.width) * int(window.height)
    step = max(1, total // _SAMPLE)
    valid, low, high, parts, seen = 0, np.inf, -np.inf, [], 0
    stored_low, stored_high, overflowed = np.inf, -np.inf, 0
    scale, offset = linear(src, decoding, band, path=path, remedy=remedy)
    extremes = dict.fromkeys(type_extremes(src.dtypes[band - 1]), 0)
    for top in range(0, int(window.height), _STRIP_ROWS):
        rows = min(_STRIP_ROWS, int(window.height) - top)
        stored = read_floats(src, Window(window.col_off, window.row_off + top, window.width, rows), path, band)
        strip = decode_values(stored, decoding, scale, offset)
        kept = ~np.isnan(strip)  # +-inf counts: a valid pixel, implausible
        for extreme in extremes:  # a declared --nodata already made it NaN
            extremes[extreme] += int(np.count_nonzero(kept & (stored == extreme)))
        measured = kept & np.isfinite(stored)
        overflowed += int(np.count_nonzero(measured & np.isinf(strip)))
        if measured.any():
            stored_low = min(stored_low, float(stored[measured].min()))
            stored_high = max(stored_high, float(stored[measured].max()))
        found = strip[kept]
        if found.size:
            valid += found.size
            low, high = min(low, float(found.min())), max(high, float(found.max()))
            parts.append(every_nth(found, (-seen) % step, step))
            seen += found.size
    sample = np.concatenate(parts) if parts else np.empty(0)
    _check_scaling(Scaling(scale, offset, decoding), (stored_low, stored_high), (low, high), overflowed, path,
                   remedy or Remedy())
    return LstScan(valid, low, high, sample, np.dtype(src.dtypes[band - 1]), scale, offset,
                   band_unit_tag(src, band), printable_path(path),
                   tuple((value, held) for value, held in extremes.items() if held),
                   decoding.scale_factor is not None)


# Distinct stored values read as temperatures closer than this (degrees) were scaled by no
# product's factor: --scale-factor 1e-308 read a scene as a flat 0 degC (3e-306) with exit 0.
MIN_SCALED_SPREAD = 1e-3


@dataclass(frozen=True)
class Scaling:
    """The scale and offset a scan applied, and whether the user declared them (``decoding``)."""

    scale: float
    offset: float
    decoding: LstDecoding

    def named(self) -> str:
        """The scaling as a refusal names it: the options given, else the file's metadata."""
        given = [f"{option} {value:g}" for option, value in (("--scale-factor", self.decoding.scale_factor),
                                                              ("--offset", self.decoding.offset)) if value is not None]
        return " ".join(given) or f"the file's scale {self.scale:g} and offset {self.offset:g}"


def _check_scaling(scaling: Scaling, stored: tuple[float, float], scaled: tuple[float, float], overflowed: int,
                   path: str | os.PathLike[str], remedy: Remedy) -> None:
    """Refuse a scale that makes no temperatures of finite stored values ``stored`` (low, high):
    one that overflows to infinity (which the range rule took for a fill value, hinting --nodata
    inf), or one that reads distinct stored values as temperatures less than
    :data:`MIN_SCALED_SPREAD` apart (which passed as a flat Celsius scene). The hint says how
    ``remedy`` declares another scaling: the file's own is corrected in it, or overridden by the
    LST options where they read it."""
    given = scaling.decoding.scale_factor is not None or scaling.decoding.offset is not None
    hint = remedy.product_encoding() if given else remedy.file_scaling(path)
    (stored_low, stored_high), (low, high) = stored, scaled
    if overflowed:
        raise InputError(path, f"its stored values {stored_low:.6g}..{stored_high:.6g} read with {scaling.named()} "
                               f"overflow to infinity ({overflowed:,} pixels): no temperatures", hint)
    # the spread from the stored values: 290.002 - 290.001 is 0.00099999 in floating point (review R3)
    if stored_high > stored_low and abs(scaling.scale) < 1 and (stored_high - stored_low) * abs(scaling.scale) \
            < MIN_SCALED_SPREAD:
        raise InputError(path, f"its distinct stored values {stored_low:.6g}..{stored_high:.6g} read with "
                               f"{scaling.named()} as {low:.4g}..{high:.4g}, less than {MIN_SCALED_SPREAD:g} degrees "
                               "apart: no scene's temperatures", hint)


def band_unit_tag(src: rasterio.DatasetReader, band: int = 1) -> str:
    """The unit ``band`` is tagged with: its GDAL unit, else a ``units`` tag of the band or the
    dataset (rioxarray writes a DataArray's ``units`` attribute so)."""
    return (src.units[band - 1] or _units_key(src.tags(band)) or _units_key(src.tags()) or "").strip()


def _units_key(tags: dict[str, str]) -> str | None:
    """The value of a ``units`` tag whatever its key's case (``UNITS=degF`` is as much a unit as
    ``units=degF``; GDAL metadata keys are case-insensitive too)."""
    return next((value for key, value in tags.items() if key.lower() == "units"), None)


def every_nth(values: np.ndarray, first: int, step: int) -> np.ndarray:
    """``values[first::step]`` as an array of its own: a view would keep all of ``values`` (a
    strip's every valid pixel) alive until the scan ends, memory growing with the scene."""
    return values[first::step].copy()


def resolve_units(found: LstScan, declared: Units, remedy: Remedy | None = None) -> Units:
    """The declared unit, or the one the values' range says (median below 120: Celsius), with
    a warning where the file's unit tag names the other unit (see :func:`units_from_values`)."""
    if declared is not Units.auto:
        return declared
    _check_fill_flipping_units(found, remedy or Remedy())
    _check_scaled_against_tag(found)
    return units_from_values(found.sample, found.unit_tag, found.path, remedy)


def undeclared_fill(found: LstScan) -> tuple[float, int, Units] | None:
    """(value, sampled pixels holding it, the others' unit) for the one repeated value of the
    sample without which every other value is a plausible temperature in one unit, with a land
    surface's median, while that value is none in that unit: a fill value the file does not
    declare (MODIS's 0 read with the right --scale-factor 0.02 is 0 K); else None."""
    values, counts = np.unique(found.sample, return_counts=True)
    if not values.size or counts.max() < 2:
        return None
    fill = float(values[int(np.argmax(counts))])
    rest = found.sample[found.sample != fill]
    if not rest.size:
        return None
    units = detect_units(rest)
    lo, hi = plausible_range(units)
    median = float(np.median(rest)) + (KELVIN_OFFSET if units is Units.celsius else 0.0)
    if lo <= fill <= hi or float(rest.min()) < lo or float(rest.max()) > hi \
            or not PLAUSIBLE_MEDIAN_KELVIN[0] <= median <= PLAUSIBLE_MEDIAN_KELVIN[1]:
        return None
    return fill, found.sample.size - rest.size, units


def _check_fill_flipping_units(found: LstScan, remedy: Remedy) -> None:
    """Refuse a scene whose undeclared fill value (:func:`undeclared_fill`) fills so much of it
    that the values' unit reads as the other one: the unit-tag refusal then blamed a right
    ``--scale-factor`` (MODIS 0.02 with 62 % fill 0 read as 0..320 "not Kelvin"), and without a
    tag the real temperatures were refused as implausible Celsius. A fill that leaves the unit
    alone is the range rule's to name (:func:`check_plausible`)."""
    fill = undeclared_fill(found)
    if fill is None or detect_units(found.sample) is fill[2]:
        return
    value, held, units = fill
    rest = found.sample[found.sample != value]
    reading = f" with --scale-factor {found.scale:g}" if found.scale_given else ""
    stored = found.stored_text(value)
    raise InputError(found.path, f"the stored value {stored} (read{reading} as {value:.6g}) fills "
                                 f"{percent(held / found.sample.size)}% of the scene and is not declared as nodata; "
                                 f"the other values read {float(rest.min()):.4g}..{float(rest.max()):.4g} "
                                 f"{unit_tag(units)}, plausible temperatures",
                     f"it looks like a fill value: {remedy.fill(stored)}")


def _check_scaled_against_tag(found: LstScan) -> None:
    """Refuse values scaled by the user's --scale-factor that are not in the unit the file's tag
    names: the factor is more likely wrong than the tag (``--scale-factor 1e-3`` on Kelvin read
    a scene as a flat 0.3 degC, with only the tag's warning). Declaring --units reads them so."""
    tagged = tagged_units(found.unit_tag)
    if not found.scale_given or found.scale == 1.0 or tagged is Units.auto or found.valid == 0:
        return  # no valid pixel: the scene is empty, said as such (exit 3), not a wrong factor
    detected = detect_units(found.sample)
    if detected is tagged:
        return
    name = "Kelvin" if tagged is Units.kelvin else "Celsius"
    scaling = f"--scale-factor {found.scale:g}" + (f" --offset {found.offset:g}" if found.offset else "")
    stored_low, stored_high = ((v - found.offset) / found.scale for v in (found.low, found.high))
    lo, hi = plausible_range(tagged)
    if lo <= min(stored_low, stored_high) and max(stored_low, stored_high) <= hi:  # review R3: 149.1..149.2
        hint = f"its stored values are {name} already: drop --scale-factor and --offset"
    else:
        hint = "check --scale-factor and --offset (e.g. 0.00341802 and 149.0 for Landsat C2 ST)"
        lo, hi = plausible_range(detected)
        if lo <= found.low and found.high <= hi:  # the tag may be the wrong one
            hint += f"; if the scaled values are {'Celsius' if detected is Units.celsius else 'Kelvin'}, " \
                    f"pass --units {detected.value}"
    raise InputError(found.path, f"with {scaling} its values read {found.low:.4g}..{found.high:.4g}, "
                                 f"not {name} as its unit tag ({found.unit_tag}) says", hint)


def units_from_values(values: np.ndarray, tag: str, path: str | os.PathLike[str],
                      remedy: Remedy | None = None) -> Units:
    """The unit ``values`` say (plausible Celsius and Kelvin LST do not overlap, so the values
    are the authority), warning where ``tag``, the file's unit tag, names the other one (a tool
    that converted the values but not the metadata): ``remedy`` says how to silence it."""
    units = detect_units(values)
    if tagged_fahrenheit(tag):  # 80 degF read as 80 degC would pass every plausibility check
        raise InputError(path, f"its unit tag says {tag}: groklst reads Kelvin or Celsius, and Fahrenheit "
                               "values would pass for Celsius", "convert the values (K = (F - 32) * 5/9 + "
                         f"273.15), or if the tag is wrong, {(remedy or Remedy()).declare_units(units)}")
    finite = values[np.isfinite(values)]
    if tagged_units(tag) not in (Units.auto, units) and finite.size:
        said = "Kelvin" if units is Units.kelvin else "Celsius"
        warnings.warn(GroklstWarning(
            f"{printable_path(path)}: its unit tag says {tag} but its values (median {float(np.median(finite)):.4g}) "
            f"are {said}; read as {said} ({(remedy or Remedy()).declare_units(units)})"), stacklevel=2)
    return units


@dataclass(frozen=True)
class Fit:
    """A known integer encoding under which the stored values read as typical temperatures."""

    factor: float
    offset: float
    whose: str
    values: str  # the temperatures it gives, e.g. "280..320 K"
    units: Units | None  # the unit to declare with it, None when it is the scene's own


def declared_nodata(nodata: float, dtype: DTypeLike) -> str:
    """A file's nodata value as a hint names it: ``NaN``, ``0`` (not ``0.0``), float32 ``-999.9``,
    float32's lowest ``-3.4028235e+38`` (not its 39 digits as an integer)."""
    if math.isnan(nodata):
        return "NaN"
    small_integer = float(nodata).is_integer() and abs(nodata) < 1e15
    return str(int(nodata)) if small_integer else stored_number(nodata, dtype)


@dataclass(frozen=True)
class Remedy:
    """How a refusal's hint says to read the values otherwise: with the LST options (``--nodata``,
    ``--scale-factor``/``--offset``, ``--units``, ``--mask-implausible``), or for a raster read
    by the default rule (compare's candidates, which those options do not reach) in the file's own
    metadata, with gdal_edit.py on ``file`` (its name as a shell word).

    ``nodata`` is the nodata value the file already declares, as text (:func:`declared_nodata`): a
    GeoTIFF holds one, so a second fill value is set to it (``groklst mask`` on the file itself, into
    ``masked``, a copy that keeps scale/offset and tags) rather than declared in its place, which
    would unmask the first. A declared NaN counts too: declaring the fill in its place leaves the
    file's NaN pixels to each reader's own rule, where the copy holds one nodata, NaN."""

    file: str | None = None
    nodata: str | None = None
    masked: str | None = None
    maskable: bool = False  # groklst mask can write the copy: a nodata declared, or float data (NaN)

    @classmethod
    def in_file(cls, path: str | os.PathLike[str], nodata: float | None = None,
                dtype: DTypeLike | None = None) -> Remedy:
        """The remedy for ``path``, whose band of ``dtype`` (None: not known) declares ``nodata``."""
        shown = Path(printable_path(path))
        copy = shown.with_name(f"{shown.stem}_masked{shown.suffix}")
        declared = None if nodata is None else declared_nodata(nodata, np.float64 if dtype is None else dtype)
        # ./-c.tif: a name starting with '-' would be read as an option by gdal_edit.py and groklst mask
        return cls(shlex.quote(unmistakable_path(shown)), declared, shlex.quote(unmistakable_path(copy)),
                   declared is not None or (dtype is not None and np.dtype(dtype).kind == "f"))

    @property
    def by_options(self) -> bool:
        return self.file is None

    def fill(self, stored: str) -> str:
        if self.by_options:
            return f"pass --nodata {stored}"
        if self.nodata is not None:
            return f"{self._declared()}, so set these pixels to it: {self._mask_command(stored)}"
        return f"declare it as the file's nodata: gdal_edit.py -a_nodata {stored} {self.file}"

    def encodings(self, fits: Sequence[Fit], fill: str | None = None) -> str:
        """Declaring any one of ``fits``, with ``fill`` (stored) as nodata if given."""
        if self.by_options:
            named = [f"--scale-factor {f.factor} --offset {f.offset}"
                     f"{f' --units {f.units.value}' if f.units else ''} ({f.whose}: {f.values})" for f in fits]
            return "pass " + (f"--nodata {fill} with " if fill is not None else "") + ", or ".join(named)
        if fill is not None and self.nodata is not None:
            return (f"{self._declared()}: set the fill value to it, {self._mask_command(fill)}, then declare the "
                    "encoding in the copy: " + ", or ".join(
                        f"gdal_edit.py -scale {f.factor} -offset {f.offset} {self.masked} ({f.whose}: {f.values})"
                        for f in fits))
        nodata = f"-a_nodata {fill} " if fill is not None else ""
        return "declare the encoding in the file: " + ", or ".join(  # the unit follows from the scaled values
            f"gdal_edit.py {nodata}-scale {f.factor} -offset {f.offset} {self.file} ({f.whose}: {f.values})"
            for f in fits)

    def _declared(self) -> str:
        """The file's nodata, and why a second one cannot be declared beside it."""
        return f"the file already declares nodata {self.nodata} (a GeoTIFF holds one)"

    def _mask_command(self, stored: str) -> str:
        """A copy of the file with the pixels storing ``stored`` set to its nodata."""
        return f"groklst mask {self.file} {self.file} --values {stored} -o {self.masked}"

    def declare_units(self, units: Units) -> str:
        if self.by_options:
            return f"pass --units {units.value} to declare it"
        return f"correct its unit tag: gdal_edit.py -units {unit_tag(units)} {self.file}"

    def product_encoding(self) -> str:
        if self.by_options:
            return "pass your product's --scale-factor and --offset"
        return f"declare your product's scale and offset in the file: gdal_edit.py -scale F -offset O {self.file}"

    def file_scaling(self, path: str | os.PathLike[str]) -> str:
        """Replacing the scale/offset metadata of ``path`` (the file's own, read for want of
        options): in the file, or where the options read it, for a run with them (they win)."""
        fix = Remedy.in_file(path).product_encoding()
        return f"{fix}, or override the file's for a run: {Remedy().product_encoding()}" if self.by_options else fix

    def mask(self, odd: Sequence[str] = ()) -> str:
        """Setting the implausible values (``odd``, stored, where they are few and known) to nodata."""
        if self.by_options:
            return "pass --mask-implausible to treat implausible values as nodata"
        if odd and self.maskable:
            return f"set its implausible values to nodata: {self._mask_command(','.join(odd))}"
        return "set its implausible values to the file's nodata"

    def anything(self, odd: Sequence[str] = ()) -> str:
        """Any other reading; ``odd`` as in :meth:`mask`."""
        if self.by_options:
            return ("declare fill values with --nodata, scaled integers with --scale-factor/--offset, or "
                    "pass --mask-implausible to treat implausible values as nodata")
        return (f"declare fill values and scaled integers in the file (gdal_edit.py -a_nodata V -scale F "
                f"-offset O {self.file}), or " + (self.mask(odd) if odd and self.maskable else
                                                  "set implausible values to its nodata"))

    def check_encoding(self, scaled: bool) -> str:
        if self.by_options:
            return ("check " + ("the --scale-factor/--offset given and " if scaled else "") +
                    "the unit (--units kelvin or celsius); the values may be stored in another encoding")
        return (f"check the file's scale and offset (gdal_edit.py -scale F -offset O {self.file}) and that "
                "its values are Kelvin or Celsius; they may be stored in another encoding")


def check_plausible(found: LstScan, units: Units, decoding: LstDecoding,
                    path: str | os.PathLike[str], *, remedy: Remedy = Remedy()) -> None:
    """Refuse a scene whose valid values are not all plausible temperatures in ``units``; the
    refusal's hint says what to do as ``remedy`` can (the LST options by default).

    With ``mask_implausible`` only a scene left with no plausible value is refused (as empty).
    """
    lo, hi = plausible_range(units)
    symbol = unit_tag(units)
    if found.valid == 0:
        raise EmptySceneError(path, "the LST has no valid pixel (all nodata)")
    _check_type_extremes(found, units, path, remedy)
    inside = (found.sample >= lo) & (found.sample <= hi)
    if found.low >= lo and found.high <= hi:
        _check_median(found, units, decoding, path, remedy)
        return
    share = 1.0 - float(inside.mean()) if found.sample.size else 1.0
    if decoding.mask_implausible:
        if inside.any():
            _check_median(found, units, decoding, path, remedy, found.sample[inside])
            return
        scaled = decoding.scale_factor is not None or decoding.offset is not None
        raise EmptySceneError(path, f"no LST value lies in the plausible {lo:g}..{hi:g} {symbol} "
                                    f"(found {_values_text(found, symbol)})",
                              _reading_hint(found, units, decoding, remedy) or remedy.check_encoding(scaled))
    outside = (f"about {percent(share)}% outside" if share > 0 else
               f"too few outside to appear among {found.sample.size:,} sampled pixels")
    problem = (f"{_values_text(found, symbol)} are not all plausible "
               f"land-surface temperatures ({lo:g}..{hi:g} {symbol}; {outside})")
    raise InputError(path, problem, _hint(found, units, decoding, lo, hi, remedy))


def _values_text(found: LstScan, symbol: str) -> str:
    """The scene's value range for a refusal: temperatures in ``symbol``, or an integer band's
    stored numbers where no scale or offset made temperatures of them (40683 is no Kelvin)."""
    if found.unscaled_integers:
        return f"stored values {found.low:.6g}..{found.high:.6g} (no scale/offset declared)"
    return f"LST values {found.low:.6g}..{found.high:.6g} {symbol}"


def _check_type_extremes(found: LstScan, units: Units, path: str | os.PathLike[str], remedy: Remedy) -> None:
    """Refuse an integer band holding its data type's extreme, undeclared as nodata, where that
    value reads as a plausible temperature (an implausible one is the range rule's: refused, or
    masked by ``--mask-implausible``): Landsat C2 ST's 65535 is 373 K, and interpolated as data
    it pulled neighbours up by 26 K. No product measures there (Landsat's valid range ends at
    61440): it is a fill or a saturation flag, and only the user can say it is nodata."""
    lo, hi = plausible_range(units)
    for value, held in found.extremes:
        reads = value * found.scale + found.offset
        if not lo <= reads <= hi:
            continue
        which = "smallest" if value < 0 else "largest"
        problem = (f"the stored value {value} (read as {reads:.6g} {unit_tag(units)}), the {which} its "
                   f"{found.dtype.name} data type holds, fills {held:,} of {found.valid:,} valid pixels "
                   f"({percent(held / found.valid)}%) and is not declared as nodata")
        raise InputError(path, problem, "no product stores a measurement at its data type's extreme: it looks "
                                        f"like a fill value or a saturation flag: {remedy.fill(str(value))}")


def _check_median(found: LstScan, units: Units, decoding: LstDecoding, path: str | os.PathLike[str],
                  remedy: Remedy, kept: np.ndarray | None = None) -> None:
    """Refuse a scene whose values are each plausible but whose median no land surface has:
    wrong factors (Landsat's on hundredths of a degree: 154..166 K) pass the per-pixel range."""
    values = found.sample if kept is None else kept
    if not values.size:
        return
    median = float(np.median(values))
    kelvin = median + KELVIN_OFFSET if units is Units.celsius else median
    lo, hi = PLAUSIBLE_MEDIAN_KELVIN
    if lo <= kelvin <= hi:
        return
    symbol = unit_tag(units)
    shown = [v - KELVIN_OFFSET if units is Units.celsius else v for v in (lo, hi)]
    scaled = decoding.scale_factor is not None or decoding.offset is not None
    said = (f"the median of its stored values, {median:.4g} (values {found.low:.4g}..{found.high:.4g}, no "
            "scale/offset declared)" if found.unscaled_integers else
            f"the LST's median, {median:.4g} {symbol} (values {found.low:.4g}..{found.high:.4g} {symbol})")
    raise InputError(path, f"{said}, is no land surface's (a scene's median lies within "
                           f"{shown[0]:.4g}..{shown[1]:.4g} {symbol})",
                     remedy.check_encoding(scaled))


def _hint(found: LstScan, units: Units, decoding: LstDecoding, lo: float, hi: float, remedy: Remedy) -> str:
    """What to do, judged from the values: a fill value, digital numbers, the other unit."""
    outside = found.sample[(found.sample < lo) | (found.sample > hi)]
    if outside.size:
        values, counts = np.unique(outside, return_counts=True)
        top = int(np.argmax(counts))
        if counts[top] >= 0.5 * outside.size and counts[top] > 1:
            return (f"the value {values[top]:.6g} fills {percent(counts[top] / found.sample.size)}% of the "
                    f"scene and looks like a fill value: {remedy.fill(found.stored_text(values[top]))}")
    odd = _few_stored(found, outside)
    return (_reading_hint(found, units, decoding, remedy, odd) or
            f"the file may be damaged, or stores other values: {remedy.anything(odd)}")


MAX_NAMED_ODD = 3  # implausible values a hint names to set to nodata (more: no list to paste)


def _few_stored(found: LstScan, outside: np.ndarray) -> tuple[str, ...]:
    """The distinct implausible values ``outside`` (from the sample) as stored, where there are
    at most :data:`MAX_NAMED_ODD` of them (a few damaged pixels), else none."""
    distinct = np.unique(outside)
    if distinct.size > MAX_NAMED_ODD:
        return ()
    return tuple(found.stored_text(float(v)) for v in distinct)


def _reading_hint(found: LstScan, units: Units, decoding: LstDecoding, remedy: Remedy,
                  odd: Sequence[str] = ()) -> str | None:
    """Another reading the values suggest (digital numbers, a known encoding, the other unit), or
    None; ``odd``: the implausible values to name (:func:`_few_stored`)."""
    median = float(np.median(found.sample)) if found.sample.size else float("nan")
    scaled = decoding.scale_factor is not None or decoding.offset is not None  # given as options
    if found.unscaled_integers and not scaled:  # a file's own scale/offset: the values are already scaled
        fits = _encodings_that_fit(found.low, found.high, median, units)
        filled = _fill_and_encodings(found, units, remedy, FILL_SHARE)
        if filled:  # a block of one extreme value: a fill, or (a frozen lake at 0 degC) a temperature
            return filled + (f"; or, if that value is a temperature, not a fill, {remedy.encodings(fits)}" if fits else "")
        if fits and _typical(median, units):  # the values read as they are, but some are not: either way
            return (f"if they are scaled integers, {remedy.encodings(fits)}; else the file may be "
                    f"damaged: {remedy.mask(odd)}")
        if fits:
            kind = "unscaled digital numbers" if median > 1000 else "scaled integers"
            return f"values like these look like {kind}: {remedy.encodings(fits)}"
        filled = _fill_and_encodings(found, units, remedy)
        if filled:
            return filled
        if median > 1000:
            return ("values like these look like unscaled digital numbers, but no known encoding turns them "
                    f"into typical temperatures: {remedy.product_encoding()}")
    other = Units.kelvin if units is Units.celsius else Units.celsius
    olo, ohi = plausible_range(other)
    if remedy.by_options and olo <= found.low and found.high <= ohi:  # else the unit is the values'
        return (f"they look like {'Kelvin' if other is Units.kelvin else 'degrees Celsius'}: "
                f"pass --units {other.value}")
    lo, hi = plausible_range(units)
    if not scaled and (found.scale, found.offset) != (1.0, 0.0) and not lo <= median <= hi:
        # the file's own metadata made most values implausible (a few damaged pixels are no scale's)
        return (f"the file's scale {found.scale:g} and offset {found.offset:g} may be wrong: "
                f"{remedy.file_scaling(found.path)}")
    return None


def _fill_and_encodings(found: LstScan, units: Units, remedy: Remedy, share: float = 0.0) -> str | None:
    """The hint for integers that a known encoding reads as typical temperatures once an
    undeclared fill value is left out: the smallest or largest stored value, met more than once
    and in at least ``share`` of the scene (raw Landsat digital numbers with their fill of 0 and
    no nodata in the file); else None."""
    for fill in (found.low, found.high):
        hits = int(np.count_nonzero(found.sample == fill))
        rest = found.sample[found.sample != fill]
        if hits < max(2, share * found.sample.size) or not rest.size:
            continue
        fits = _encodings_that_fit(float(rest.min()), float(rest.max()), float(np.median(rest)), units)
        if fits:
            return (f"the value {found.stored_text(fill)} fills {percent(hits / found.sample.size)}% of the scene and "
                    f"the rest look like unscaled digital numbers: {remedy.encodings(fits, found.stored_text(fill))}")
    return None


def _encodings_that_fit(stored_low: float, stored_high: float, median: float, units: Units) -> list[Fit]:
    """The known integer encodings, in either unit they are met in, under which stored values
    ``stored_low..stored_high`` (median ``median``) read as typical temperatures, each with the
    values it would give (a suggestion a user can check); those in the scene's unit first."""
    fits = []
    for unit in (units, Units.celsius if units is Units.kelvin else Units.kelvin):
        lo, hi = plausible_range(unit)
        for factor, offset, whose, given_in in KNOWN_ENCODINGS:
            low, high = stored_low * factor + offset, stored_high * factor + offset
            if unit in given_in and lo <= low and high <= hi and _typical(median * factor + offset, unit):
                fits.append(Fit(factor, offset, whose, f"{low:.4g}..{high:.4g} {unit_tag(unit)}",
                                None if unit is units else unit))
    return fits


def _typical(median: float, units: Units) -> bool:
    """Whether a scene's median lies where typical scenes' do (well inside the plausible range)."""
    lo, hi = plausible_range(units)
    return lo + TYPICAL_MARGIN <= median <= hi - TYPICAL_MARGIN

