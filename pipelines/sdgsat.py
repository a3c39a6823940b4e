"""Reading SDGSAT-1 TIS and MII product folders: files, metadata, calibration, radiometry.

File patterns live in one place, :data:`PATTERNS` (a :class:`ProductPatterns`). A delivery is
one folder per scene, e.g. ``KX10_MII_20220815_E100.4_N38.9_202200112233_L4A/``, holding

- ``<scene>.meta.xml``: satellite, sensor, solar angles, imaging times;
- ``<scene>.calib.xml`` (GB2312/GBK): ``RADIANCE_GAIN_BAND_n`` / ``RADIANCE_BIAS_BAND_n``;
- imagery: TIS as one 3-band ``<scene>.tiff`` (30 m); MII as ``<scene>_A.tif`` and
  ``<scene>_B.tif`` (7 bands each, cameras A and B, to be mosaicked, never stacked).

The challenge-data variant delivers TIS as one GeoTIFF per band, named
``SDGSAT1_TIS_<date>_L1A_EPSG326xx_..._B1.tif`` (the band token may also read ``B01``, ``band1``);
its folder is a TIS product whatever its name, its date is the files' and its bands are read as
one stack (:mod:`pipelines.tis_image`).

Imagery is uint16 DN with 0 as fill. Radiance L = gain * DN + bias (W m-2 sr-1 um-1).

Adapting to a ground-station variant that names files differently: build a modified copy of
the patterns and pass it on, e.g.::

    from dataclasses import replace
    from pipelines.sdgsat import PATTERNS, read_product
    mine = replace(PATTERNS, tis_images=("*_TIS.tif",), calib="*_calibration.xml")
    product = read_product(folder, mine)

(``pipelines.ingest.ingest_product`` takes the same ``patterns`` argument.) Patterns are
shell globs matched inside the product folder whatever the case of the file names (a copy made
through Windows may read ``.TIFF``), except ``folder``, ``gain_tag`` and ``bias_tag`` which are
regular expressions (``folder`` is matched whatever the case too). Metadata tags are found by name anywhere in the XML, trying each candidate
name in turn, so reordered or nested variants still parse.

Each of ``mii_images`` names one camera's file: MII imagery is two mosaic halves, so a product
missing one of them is refused (naming the missing file) rather than silently ingested with
part of the scene dropped. Each image glob must match one file (a browse image or a stray copy
beside the product's own is refused, naming the files), and a folder-name date that is not
its meta.xml's acquisition date is refused (a day either way allowed, so a TIS and an MII
product are paired by their meta.xml times, :func:`check_simultaneous`). Radiance gains must be
positive and finite, biases finite, for the bands read (of TIS, those the LST method reads: B2
and B3 for the split window, B2 alone otherwise; B1 never). Gains are read from the product's own sensor section of calib.xml (a file with
only other sensors' sections is another product's and refused; one with no sensor section is
read whole); several ``VERSION`` blocks with different gains of a band read are refused, since
which applies is not documented. A GBK calib.xml that declares no encoding (or UTF-8 wrongly) is read as GB18030.
A folder name or meta.xml ``SensorID`` naming GIU, or naming different sensors, is refused.
"""

from __future__ import annotations

import fnmatch
import math
import re
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import numpy as np

from pipelines.errors import GroklstWarning, InputError

SENSORS = ("TIS", "MII")
TIS_BANDS = (1, 2, 3)
MII_BANDS = (1, 2, 3, 4, 5, 6, 7)  # an MII image's bands: a calib.xml tag of another (BAND_8) is not looked at
SPLIT_WINDOW_BANDS = (2, 3)  # the TIS bands a split-window LST reads (a single-channel one, B2 alone)
ALL_SENSORS = ("TIS", "MII", "GIU")  # SDGSAT-1's imagers; GIU (glimmer) is not read

# How far apart the meta.xml times of one acquisition's TIS and MII products may be. The two
# image one scene in one pass (offset by only 1-2 TIS pixels, sdgsat1-products.md), so their
# times differ by the seconds a scene takes, or between cameras and time tags (meta.xml has
# start/centre/end times per camera); the next pass over a place is an orbit (~95 min) or more later.
SIMULTANEOUS = timedelta(minutes=10)


@dataclass(frozen=True)
class ProductPatterns:
    """Every file-name pattern and XML tag name used to read a product (see module docstring)."""

    folder: str = (r"^KX10_(?P<sensor>TIS|MII|GIU)_(?P<date>\d{8})_(?P<lon>[EW][0-9.]+)_"
                   r"(?P<lat>[NS][0-9.]+)_(?P<id>\d{12})_(?P<level>L1A|L4A|L4B)$")
    tis_images: tuple[str, ...] = ("*.tiff",)
    tis_band_images: tuple[str, ...] = ("SDGSAT1_TIS_*.tif", "SDGSAT1_TIS_*.tiff")
    # The band token is the last B<n>/band<n>; ``rest`` is what follows it before .tif/.tiff (any case):
    # empty for the product's own image, "_thumb" or " copy" for a browse image or a stray copy.
    tis_band_name: str = (r"^(?i:SDGSAT1_TIS_)(?P<date>\d{8})_.*(?<![A-Za-z0-9])(?:[Bb]|[Bb]and|BAND)_?0*(?P<band>[1-9])"
                          r"(?![0-9])(?P<rest>[^.]*)\.(?i:tiff?)$")
    mii_images: tuple[str, ...] = ("*_A.tif", "*_B.tif")
    meta: str = "*.meta.xml"
    calib: str = "*.calib.xml"
    gain_tag: str = r"^RADIANCE_GAIN_BAND_?(\d+)$"
    bias_tag: str = r"^RADIANCE_BIAS_BAND_?(\d+)$"
    sensor_tags: tuple[str, ...] = ("SensorID", "Sensor")
    solar_zenith_tags: tuple[str, ...] = ("SolarZenith", "SunZenith", "SolarZenithAngle")
    solar_elevation_tags: tuple[str, ...] = ("SolarElevation", "SunElevation")
    time_tags: tuple[str, ...] = ("CenterTime", "StartTime", "ImagingTime")


PATTERNS = ProductPatterns()

# TIS Planck constants at band centres 9.35, 10.73, 11.72 um (sdgsat1-products.md).
TIS_K1 = (1666.74, 837.39, 538.63)  # W m-2 sr-1 um-1
TIS_K2 = (1538.80, 1340.89, 1227.63)  # K
TIS_WAVELENGTH_UM = (9.35, 10.73, 11.72)

# Approximate exo-atmospheric solar irradiance (W m-2 um-1) for MII B1..B7 (centres 401, 439,
# 495, 553, 657, 776, 854 nm), read off a standard solar spectrum (Thuillier 2003) at the band
# centres and rounded; the SDGSAT-1 band-integrated values are not published. Reflectances
# computed with it are approximate TOA reflectances (a few per cent).
MII_ESUN = (1720.0, 1880.0, 1990.0, 1840.0, 1540.0, 1180.0, 970.0)


@dataclass(frozen=True)
class Calibration:
    """Radiance gain and bias per band (1-based band numbers as in calib.xml)."""

    gains: dict[int, float]
    biases: dict[int, float]

    def radiance(self, dn: np.ndarray, band: int) -> np.ndarray:
        """Radiance of 1-based ``band`` from DN; fill (DN 0) becomes NaN."""
        dn = np.asarray(dn)
        out = self.gains[band] * dn.astype(np.float64) + self.biases[band]
        out[dn == 0] = np.nan
        return out

    def dn(self, radiance: np.ndarray, band: int) -> np.ndarray:
        """The inverse of :meth:`radiance`: uint16 DN, NaN -> 0 (fill), valid DN kept >= 1."""
        raw = np.rint((np.asarray(radiance, dtype=np.float64) - self.biases[band]) / self.gains[band])
        out = np.clip(np.nan_to_num(raw, nan=0.0), 1, 65535)
        out[~np.isfinite(raw)] = 0
        return out.astype(np.uint16)


@dataclass(frozen=True)
class UnreadZone:
    """A meta.xml time whose zone groklst does not read (``CST``): its tag and text, that zone as
    written, and the time as written, without a zone (None when the text writes no valid time)."""

    tag: str
    text: str
    zone: str
    clock: datetime | None


@dataclass(frozen=True)
class Product:
    """One product folder: its sensor, image files, calibration and acquisition geometry."""

    folder: Path
    sensor: str
    images: tuple[Path, ...]
    calibration: Calibration
    solar_zenith: float | None
    acquired: date | None
    meta: Path | None = None  # the meta.xml read, None when the folder has none
    calib: Path | None = None  # the calib.xml read
    recorded: date | None = None  # the meta.xml's time: a datetime when it gives the time of day
    tis_bands: tuple[int, ...] = ()  # the TIS band of each of ``images`` when delivered one per band
    unread_zone: UnreadZone | None = None  # the meta.xml time when its zone is not read (``recorded`` is its date)

    @property
    def imaged_on(self) -> date | None:
        """The acquisition date to compute with (Earth-Sun distance): the meta.xml's, which
        the folder name may miss by a day (:func:`_acquired`), else :attr:`acquired`."""
        return _day(self.recorded) or self.acquired

    @property
    def tis_per_band(self) -> bool:
        """Whether the imagery is TIS delivered one image per band (challenge data)."""
        return self.sensor == "TIS" and (bool(self.tis_bands) or len(self.images) > 1)

    @property
    def files(self) -> tuple[Path, ...]:
        """Every file of the product that is read (an output must never replace one)."""
        return tuple(p for p in (*self.images, self.meta, self.calib) if p is not None)


def read_xml(path: Path) -> ET.Element:
    """Parse an XML file whatever its declared encoding (GB2312/GBK included). A file that
    declares none, or UTF-8 wrongly, and is not UTF-8 is read as GB18030 (a superset of GB2312
    and GBK): calib.xml is GBK-encoded, and not every delivery declares it."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(path, f"cannot read ({exc.strerror})") from exc
    declared = re.match(rb"\s*<\?xml[^>]*encoding=[\"']([A-Za-z0-9_\-]+)[\"']", raw)
    encoding = declared.group(1).decode("ascii").lower() if declared else "utf-8"
    if encoding in ("gb2312", "gbk", "gb18030", "cp936"):
        encoding = "gb18030"  # superset of GB2312 and GBK
    text = _decoded(path, raw, encoding)
    try:
        return ET.fromstring(re.sub(r"^\s*<\?xml[^>]*\?>", "", text))
    except ET.ParseError as exc:
        raise InputError(path, f"not readable XML ({exc})", "is the file complete?") from exc


def _decoded(path: Path, raw: bytes, encoding: str) -> str:
    """``raw`` as text in ``encoding``, else (UTF-8 failing) in GB18030; refused naming the
    encoding problem, or the truncation when the bytes stop inside a character."""
    try:
        return raw.decode(encoding)
    except LookupError as exc:
        raise InputError(path, f"declares the encoding {encoding!r}, which is not known",
                         "save it as UTF-8 or GBK, with that encoding in its <?xml?> declaration") from exc
    except UnicodeDecodeError as exc:
        first = exc
    if encoding in ("utf-8", "utf8"):
        try:
            return raw.decode("gb18030")
        except UnicodeDecodeError as exc:
            first = exc
    if first.end >= len(raw):
        raise InputError(path, f"not readable XML: it ends inside a {first.encoding} character",
                         "is the file complete? take it from the original delivery")
    tried = f"{encoding} or gb18030" if encoding in ("utf-8", "utf8") else encoding
    raise InputError(path, f"not readable XML: byte {first.object[first.start]:#04x} at offset {first.start} "
                           f"is not {tried} text", "save it as UTF-8 or GBK, with that encoding in its "
                           "<?xml?> declaration, or take it from the original delivery")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def find_text(root: ET.Element, names: tuple[str, ...]) -> str | None:
    """Text of the first element whose (namespace-free) tag is one of ``names``, case-insensitive."""
    wanted = [n.lower() for n in names]
    for name in wanted:
        for element in root.iter():
            if _local(element.tag).lower() == name and element.text and element.text.strip():
                return element.text.strip()
    return None


def parse_calibration(path: Path, sensor: str, patterns: ProductPatterns = PATTERNS,
                      read: tuple[int, ...] | None = None) -> Calibration:
    """Gains and biases for ``sensor`` from a calib.xml, found by tag name under the sensor's
    section (``RADIOMETRIC_CALIBRATION/<sensor>/VERSION``), or anywhere in a file that has no
    sensor section at all. A file with other sensors' sections but not this one is refused:
    it is another product's calibration, and its gains would calibrate this scene. Only the
    bands ``read`` (default: all) are taken: another band's gain and bias are not looked at, so a
    missing, NaN or negative one is no refusal (TIS B1, which no LST method reads, and B3 for a
    single-channel LST)."""
    root = read_xml(path)
    scope = _sensor_sections(path, root, sensor, patterns)
    _check_one_version(path, sensor, scope, patterns, read)
    found: dict[str, dict[int, list[float]]] = {"gain": {}, "bias": {}}
    any_gain = False  # a gain tag of any band: a file without one is no calib.xml of the product
    for element in (e for section in scope for e in section.iter()):
        for kind, pattern in (("gain", patterns.gain_tag), ("bias", patterns.bias_tag)):
            match = re.match(pattern, _local(element.tag), flags=re.IGNORECASE)
            band = int(match.group(1)) if match else None
            if match and (read is None or band in read):
                _check_not_empty(path, element)
            if match and element.text and element.text.strip():
                any_gain = any_gain or kind == "gain"
                if read is not None and band not in read:
                    continue
                value = _coefficient(path, _local(element.tag), element.text.strip(), kind, kind == "gain")
                found[kind].setdefault(band, []).append(value)
    if not any_gain:
        raise InputError(path, f"no {sensor} RADIANCE_GAIN_BAND_n tags", "is this the calib.xml of the product?")
    for kind, values in found.items():
        several = [band for band, v in values.items() if len(set(v)) > 1]
        if several:
            raise InputError(
                path, f"several {kind}s for band {several[0]} (detector-row calibration variant)",
                "convert the product to a single gain/bias per band, or adapt ProductPatterns.gain_tag",
            )
    unbiased = sorted(set(found["gain"]) - set(found["bias"]))
    if unbiased:  # a zero bias would move the LST by kelvins without a word (QA: 2-3 K)
        raise InputError(path, f"no {sensor} RADIANCE_BIAS_BAND_{unbiased[0]} for the gain of band "
                               f"{unbiased[0]}", "is the calib.xml damaged? take it from the original delivery, or "
                               "adapt pipelines.sdgsat.PATTERNS.bias_tag for a variant that names it differently")
    gains = {band: v[0] for band, v in found["gain"].items() if v[0] > 0.0}
    biases = {band: found["bias"][band][0] for band in gains}
    return Calibration(gains, biases)


def _check_not_empty(path: Path, element: ET.Element) -> None:
    """Refuse a gain or bias tag of a band read that is there but holds no value
    (``<RADIANCE_BIAS_BAND_5></RADIANCE_BIAS_BAND_5>``): it was reported as a missing tag,
    sending the user to look for a tag that is in the file."""
    if not (element.text or "").strip():
        raise InputError(path, f"{_local(element.tag)} is empty: the tag is there but holds no value",
                         "is the calib.xml damaged? take it from the original delivery")


def _sensor_sections(path: Path, root: ET.Element, sensor: str, patterns: ProductPatterns) -> list[ET.Element]:
    """The elements of ``root`` named after ``sensor`` that hold gains or biases (its calibration
    sections), or ``[root]`` when the file has no such section; refused when it has only other
    sensors'. An element named after a sensor without coefficients (a header naming the
    companion product, ``<MII>KX10_MII_...</MII>``) is no section."""
    sections: dict[str, list[ET.Element]] = {}
    for element in root.iter():
        name = _local(element.tag).upper()
        if name in ALL_SENSORS and any(_is_coefficient(e, patterns) for e in element.iter()):
            sections.setdefault(name, []).append(element)
    if sensor in sections:
        return sections[sensor]
    if sections:
        raise InputError(path, f"no {sensor} section in the calibration (found {', '.join(sorted(sections))})",
                         f"this calib.xml belongs to another product: copy the {sensor} product's own "
                         "calib.xml from the original delivery")
    return [root]


def _check_one_version(path: Path, sensor: str, scope: list[ET.Element], patterns: ProductPatterns,
                       read: tuple[int, ...] | None = None) -> None:
    """Refuse a sensor section holding several ``VERSION`` blocks whose gains or biases of the
    bands ``read`` (default: all) differ: gains change between calibration versions, and which
    one applies to a product is not documented, so none is picked (or averaged) for the user.
    A band no one reads (TIS B1) may differ: it calibrates nothing."""
    elements = [e for section in scope for e in section.iter() if _local(e.tag).upper() == "VERSION"]
    # (position among the VERSION elements, block, coefficients); a version string is no block
    blocks = [(n, v, c) for n, v in enumerate(elements, start=1)
              if (c := _version_coefficients(v, patterns, read))]
    if len(blocks) < 2 or all(c == blocks[0][2] for _, _, c in blocks):
        return
    names = ", ".join(_version_label(v, n, patterns) for n, v, _ in blocks)
    raise InputError(path, f"{len(blocks)} {sensor} calibration VERSION blocks with different gains or biases ({names}); "
                     "which one applies to this product is not documented",
                     "in a copy of the product folder keep only the VERSION block for this product's "
                     "date (ask the data provider if unsure), and ingest that copy")


def _version_coefficients(version: ET.Element, patterns: ProductPatterns,
                          read: tuple[int, ...] | None = None) -> dict[str, float | str]:
    """The gains and biases of the bands ``read`` (default: all) in one VERSION block by tag name
    (upper case), as numbers where they are (``0.22253`` and ``0.222530`` are one gain), else as
    written (refused when read)."""
    return {_local(e.tag).upper(): _number_or_text((e.text or "").strip())
            for e in version.iter()
            if (band := _coefficient_band(e, patterns)) is not None and (read is None or band in read)}


def _number_or_text(text: str) -> float | str:
    """``text`` as a number; NaN (which equals no number, itself included) and what is no number
    as written, so that two blocks writing one text compare equal (refused when read)."""
    try:
        value = float(text)
    except ValueError:
        return text
    return text if math.isnan(value) else value


def _coefficient_band(element: ET.Element, patterns: ProductPatterns) -> int | None:
    """The band of a radiance gain or bias tag (``RADIANCE_GAIN_BAND_2``: 2); None for any other."""
    for pattern in (patterns.gain_tag, patterns.bias_tag):
        if match := re.match(pattern, _local(element.tag), re.IGNORECASE):
            return int(match.group(1))
    return None


def _is_coefficient(element: ET.Element, patterns: ProductPatterns) -> bool:
    """Whether ``element`` is a radiance gain or bias tag."""
    return _coefficient_band(element, patterns) is not None


def _version_label(version: ET.Element, number: int, patterns: ProductPatterns) -> str:
    """How to name a VERSION block to the user: its attributes, else the text of its first
    child that is not a coefficient (``<说明>定标版本 V1.0</说明>``), else its position."""
    if version.attrib:
        return f"VERSION {' '.join(f'{k}={v!r}' for k, v in version.attrib.items())}"
    notes = [e.text.strip() for e in version if e.text and e.text.strip() and not _is_coefficient(e, patterns)]
    return f"VERSION #{number} {notes[0]!r}" if notes else f"VERSION #{number}"


def _coefficient(path: Path, tag: str, text: str, kind: str, positive: bool) -> float:
    """A calibration value, refused unless finite (and, where ``positive``, above zero): a zero
    gain would silently make every radiance equal the bias."""
    try:
        value = float(text)
    except ValueError as exc:
        raise InputError(path, f"{tag} is not a number: {text!r}") from exc
    if not math.isfinite(value) or (positive and value <= 0.0):
        need = "a positive finite number" if positive else "a finite number"
        raise InputError(path, f"{tag} is {text}; a radiance {kind} must be {need}",
                         "is the calib.xml damaged? take it from the original delivery")
    return value


def folder_match(name: str, patterns: ProductPatterns = PATTERNS) -> re.Match[str] | None:
    """``patterns.folder`` matched against a folder ``name`` whatever its case, as the files
    inside are (:func:`files_matching`): a copy through a case-folding file system keeps its
    scene name and date."""
    return re.match(patterns.folder, name, re.IGNORECASE)


def _sensor_of(folder: Path, meta_file: Path | None, meta: ET.Element | None,
               patterns: ProductPatterns) -> str | None:
    """The product's sensor: the one its folder name and meta.xml declare, else the one its
    image files suggest. A product declared another sensor's (GIU, whose ``_A``/``_B`` files
    look like MII's) is refused, and so are a folder name and a meta.xml that disagree."""
    match = folder_match(folder.name, patterns)
    named = match.group("sensor").upper() if match else None
    text = find_text(meta, patterns.sensor_tags) if meta is not None else None
    recorded = re.search(rf"(?<![A-Z])({'|'.join(ALL_SENSORS)})(?![A-Z])", text.upper()) if text else None
    filed = recorded.group(1) if recorded else None
    if named and filed and named != filed:
        raise InputError(meta_file, f"SensorID says {filed}, the folder name {named}: not one product",
                         "is this the product's own meta.xml? copy the complete product folder")
    declared = named or filed
    looks = _looks(folder, patterns)
    if declared is not None and declared not in SENSORS:
        what = f"an {looks}" if looks == "MII" else (f"a {looks}" if looks else "a TIS or MII")
        raise InputError(folder, f"not {what} product ({declared})",
                         "groklst ingest reads SDGSAT-1 TIS and MII products: give the scene's KX10_TIS_*/KX10_MII_* folders")
    return declared or looks


def _looks(folder: Path, patterns: ProductPatterns) -> str | None:
    """The sensor ``folder``'s image file names suggest (MII's ``_A``/``_B`` first), else None."""
    if has_files(folder, patterns.mii_images):
        return "MII"
    return "TIS" if has_files(folder, (*patterns.tis_images, *patterns.tis_band_images)) else None


def sensor_by_names(folder: Path, patterns: ProductPatterns = PATTERNS) -> str | None:
    """The sensor of a product folder by names alone, nothing read: its folder name's, else the
    one its image files suggest (as :func:`read_product` tells a folder whose name says none);
    for leaving a product unread that is not used (a TIS product beside ``--lst``)."""
    match = folder_match(folder.name, patterns)
    return match.group("sensor").upper() if match else _looks(folder, patterns)


def files_matching(folder: Path, glob: str) -> list[Path]:
    """The files (not folders) of ``folder`` that ``glob`` matches whatever the case of their
    names, sorted: a delivery copied through Windows may read ``.TIF`` or ``.TIFF``."""
    if not folder.is_dir():
        return []
    wanted = glob.casefold()
    return sorted(path for path in folder.iterdir() if fnmatch.fnmatchcase(path.name.casefold(), wanted)
                  and path.is_file())


def has_files(folder: Path, globs: tuple[str, ...]) -> bool:
    """Whether ``folder`` holds a file (not a folder: a product folder's name matches
    ``SDGSAT1_TIS_*`` too) that one of ``globs`` matches."""
    return any(files_matching(folder, glob) for glob in globs)


def _parse_date(text: str | None) -> date | None:
    """A date written as one (``2022-08-15``, ``20220815``, then a time or nothing), else None:
    a time tag in seconds (``1234051012.5``) is not taken for a date."""
    digits = re.match(r"((?:19|20)\d{2})-?(\d{2})-?(\d{2})(?:[ T_]|$)", text or "")
    if not digits:
        return None
    try:
        return date(*(int(g) for g in digits.groups()))
    except ValueError:
        return None


def _meta_time(meta: ET.Element | None, patterns: ProductPatterns) -> tuple[str, str] | None:
    """The first of ``patterns.time_tags`` the meta.xml has that gives a time of day (:func:`_clock`),
    else the first that gives a date (:func:`_parse_time`), else the first it has at all, with its
    text: a garbled ``CenterTime`` (``2022-08-15 25:99:00``) was read as its date alone, and the
    TIS-MII same-pass check compared days only, while ``StartTime`` said when."""
    given = [(tag, text) for tag in (patterns.time_tags if meta is not None else ())
             if (text := find_text(meta, (tag,)))]
    timed = (pair for pair in given if _clock(pair[1]) is not None)
    dated = (pair for pair in given if _parse_time(pair[1]) is not None)
    return next(timed, None) or next(dated, None) or (given[0] if given else None)


def _day(moment: date | None) -> date | None:
    """The calendar date of a date or datetime (a datetime is a date, but never equals one)."""
    return moment.date() if isinstance(moment, datetime) else moment


# A zone suffix: ``Z``/``UTC``/``GMT``, or an offset with an optional UTC/GMT prefix written
# ``+08:00``, ``+8:00``, ``+08``, ``+8`` (hours[:minutes], ``+08:00:00`` too) or ``+0800``, ``+800`` (HHMM, HMM).
_ZONE = re.compile(r"(?:(?:UTC|GMT)\s*)?(?P<sign>[+-])(?:(?P<hours>\d{1,2})(?::(?P<minutes>\d{2})(?::00)?)?"
                   r"|(?P<hhmm>\d{3,4}))|Z|UTC|GMT", re.IGNORECASE)
# A date and time of day; the seconds' fraction written ``.750`` or, ISO 8601's other way, ``,750``.
_CLOCK = re.compile(r"(?:19|20)\d{2}-?\d{2}-?\d{2}[ T_](\d{2}):?(\d{2}):?(\d{2})([.,]\d+)?(?P<zone>.*)", re.IGNORECASE)
MAX_ZONE_OFFSET = timedelta(hours=14)  # the farthest any time zone is from UTC (Kiribati, +14:00)


def _zone(text: str | None) -> timezone | None:
    """The zone a time's suffix gives (``Z``, ``UTC``, ``+08:00``, ``+0800``, ``+800``, ``-0530``,
    ``-05``, ``+8``, ``UTC+8``, ``GMT+08:00``), else None (also for an offset no zone has)."""
    match = _ZONE.fullmatch((text or "").strip())
    if not match:
        return None
    if match.group("sign") is None:
        return timezone.utc
    hhmm = match.group("hhmm")
    hours, minutes = (hhmm[:-2], hhmm[-2:]) if hhmm else (match.group("hours"), match.group("minutes") or "0")
    offset = timedelta(hours=int(hours), minutes=int(minutes))
    if int(minutes) >= 60 or offset > MAX_ZONE_OFFSET:
        return None
    return timezone(-offset if match.group("sign") == "-" else offset)


def _unread_zone(text: str | None) -> str | None:
    """What follows the time of day in a meta.xml time when it is not a zone :func:`_zone` reads
    (``CST``, ``+2500``), else None: such a time is compared as written only with a time that
    ends in the same text (:func:`check_simultaneous`), else by its date alone."""
    clock = _CLOCK.match((text or "").strip())
    zone = clock.group("zone").strip() if clock else ""
    return zone if zone and _zone(zone) is None else None


def _clock(text: str | None) -> datetime | None:
    """The date and time of day a meta.xml time writes, without its zone (``2022-08-15
    03:12:05.750``, ``T`` between, ``,750`` too); None when it writes no valid one."""
    day = _parse_date(text)
    clock = _CLOCK.match((text or "").strip())
    if day is None or clock is None:
        return None
    hour, minute, second = (int(g) for g in clock.groups()[:3])
    micro = round(float((clock.group(4) or "0").replace(",", ".")) * 1e6)
    try:
        return datetime.combine(day, time(hour, minute, second, min(micro, 999999)))
    except ValueError:
        return None


def _parse_time(text: str | None) -> date | None:
    """A date and time of day as a meta.xml writes them (:func:`_clock`) as a datetime,
    zone-aware when a suffix gives the zone (``Z``, ``+08:00``: one product may write UTC and the
    other local time); a date alone, a time that is not one, or a time whose suffix is no zone
    read (:func:`_unread_zone`: never guessed), as a date; else None."""
    moment = _clock(text)
    if moment is None or _unread_zone(text) is not None:
        return _parse_date(text)
    zone = _CLOCK.match(text.strip()).group("zone").strip()
    return moment.replace(tzinfo=_zone(zone)) if zone else moment


# Set while products are read to be paired (:func:`zones_warned_when_paired`): a zone not read
# is then warned about by :func:`check_simultaneous`, which knows both times, not by the reading.
_WARNED_WHEN_PAIRED: ContextVar[bool] = ContextVar("zones_warned_when_paired", default=False)


@contextmanager
def zones_warned_when_paired() -> Iterator[None]:
    """Within it, a meta.xml zone groklst does not read is warned about once, when the TIS and MII
    products are paired (how their times are compared depends on both), not as each is read."""
    token = _WARNED_WHEN_PAIRED.set(True)
    try:
        yield
    finally:
        _WARNED_WHEN_PAIRED.reset(token)


def _unread_warning(meta: Path | None, unread: UnreadZone) -> str:
    """The warning for a meta.xml time whose zone is not read, paired with a time that does not
    end in the same text: only the dates are compared."""
    return (f"{meta}: {unread.tag} {unread.text!r} ends in {unread.zone!r}, not a time zone groklst reads "
            "(Z, UTC, +08:00, +0800, +800): its time of day is not used, so the TIS and MII products "
            "are paired by date alone; write the zone as +HH:MM to have their times compared")


def _recorded(meta_file: Path | None, meta: ET.Element | None,
              patterns: ProductPatterns) -> tuple[date | None, UnreadZone | None]:
    """The meta.xml's time (:func:`_parse_time`), and the time as written where its zone is not
    read; outside :func:`zones_warned_when_paired` that zone is warned about here, naming the file
    and the text (the product is read alone: its pairing is unknown)."""
    tag, text = _meta_time(meta, patterns) or ("", None)
    zone = _unread_zone(text)
    unread = None if zone is None else UnreadZone(tag, text.strip(), zone, _clock(text))
    if unread is not None and not _WARNED_WHEN_PAIRED.get():
        warnings.warn(_unread_warning(meta_file, unread), GroklstWarning, stacklevel=4)
    recorded = _parse_time(text)
    if recorded is None and meta_file is not None:
        found = f"{tag} {text.strip()!r} is no date or time" if text else \
            f"no {', '.join(patterns.time_tags)} tag"
        warnings.warn(f"{meta_file}: {found}: whether the TIS and MII products are one acquisition "
                      "is not checked", GroklstWarning, stacklevel=4)
    return recorded, unread


def _shown(moment: date) -> str:
    """A meta.xml time for a message, as written: seconds' fraction without trailing zeros
    (``03:12:05.75``, not ``.750000``), and its zone when it has one (``Z`` for UTC)."""
    if not isinstance(moment, datetime):
        return moment.isoformat()
    fraction = f".{moment.microsecond:06d}".rstrip("0") if moment.microsecond else ""
    offset = moment.utcoffset()
    zone = "" if offset is None else "Z" if not offset else moment.strftime("%z")
    if len(zone) == 5:  # +0800 -> +08:00
        zone = f"{zone[:3]}:{zone[3:]}"
    return f"{moment:%Y-%m-%d %H:%M:%S}{fraction}{zone}"


def _apart(first: datetime, second: datetime) -> timedelta:
    """How far apart two meta.xml times are: in UTC when both give their zone, else as written
    (a zone on one alone cannot tell what the other's clock is)."""
    if (first.tzinfo is None) != (second.tzinfo is None):
        first, second = first.replace(tzinfo=None), second.replace(tzinfo=None)
    return abs(first - second)


def _one_unread_zone(tis: Product, mii: Product) -> bool:
    """Whether both meta.xml times end in the same zone text groklst does not read (``CST``, in
    any case) and write a time of day: the same text is taken for the same zone."""
    a, b = tis.unread_zone, mii.unread_zone
    return (a is not None and b is not None and a.clock is not None and b.clock is not None
            and a.zone.casefold() == b.zone.casefold())


def _compared(tis: Product, mii: Product) -> tuple[tuple[date, str], tuple[date, str]]:
    """The two meta.xml times to compare and their zone text for a message: as written where
    both end in one zone not read (:func:`_one_unread_zone`), else as read (a date alone for a
    zone not read); within :func:`zones_warned_when_paired` the zone not read is warned about."""
    paired_warned = _WARNED_WHEN_PAIRED.get()
    if _one_unread_zone(tis, mii):
        a, b = tis.unread_zone, mii.unread_zone
        if paired_warned:
            warnings.warn(f"{tis.meta}: {a.tag} {a.text!r} and the MII product's {mii.meta} {b.tag} {b.text!r} "
                          f"end in {a.zone!r}, not a time zone groklst reads (Z, UTC, +08:00, +0800, +800): "
                          "their times are compared as written, taken to be in one zone; write the zone as "
                          "+HH:MM to have it read", GroklstWarning, stacklevel=4)
        return (a.clock, f" {a.zone}"), (b.clock, f" {b.zone}")
    for product in (tis, mii):
        if paired_warned and product.unread_zone is not None:
            warnings.warn(_unread_warning(product.meta, product.unread_zone), GroklstWarning, stacklevel=4)
    return (tis.recorded, ""), (mii.recorded, "")


def check_simultaneous(tis: Product, mii: Product) -> None:
    """Refuse a TIS and an MII product whose meta.xml times are not one acquisition's: more than
    :data:`SIMULTANEOUS` apart (in UTC where both give a zone, as written where both end in one
    zone text groklst does not read), or on different dates where one gives no time of day or a
    zone not read. The folder names may agree while the metadata do not (:func:`_acquired`
    allows a name a day either way), and a thermal image must not be sharpened with another
    pass's bands."""
    if tis.recorded is None or mii.recorded is None:
        return
    (first, first_zone), (second, second_zone) = _compared(tis, mii)
    if isinstance(first, datetime) and isinstance(second, datetime):
        if _apart(first, second) <= SIMULTANEOUS:
            return
    elif _day(first) == _day(second):
        return
    raise InputError(tis.meta, f"records {_shown(first)}{first_zone}, the MII product's {mii.meta} "
                     f"{_shown(second)}{second_zone}: TIS and MII image simultaneously, so these are not one "
                     f"acquisition (at most {SIMULTANEOUS.seconds // 60} min apart)",
                     "give the TIS and MII products of one acquisition, each with its own meta.xml")


def _acquired(folder: Path, meta_file: Path | None, meta: ET.Element | None,
              patterns: ProductPatterns, images: tuple[Path, ...] = ()) -> date | None:
    """The acquisition date, from the folder name (else the names of per-band TIS ``images``)
    else the meta.xml; refused when both are there and differ by more than a day (a meta.xml of
    another scene, or a renamed folder: the Earth-Sun distance and the TIS-MII pairing would
    follow the wrong date). A day either way
    is allowed: whether a name's date is UTC or local time is not documented, and TIS often
    images at night, near midnight UTC in East Asia."""
    match = folder_match(folder.name, patterns)
    named, source = (_parse_date(match.group("date")) if match else None), "the folder name"
    filed = _band_files_date(images, patterns)
    if filed is not None:
        if named and abs((named - filed[1]).days) > 1:
            raise InputError(filed[0], f"named for {filed[1].isoformat()}, the folder for {named.isoformat()}: "
                             "not one scene", "keep one acquisition's band images in its product folder")
        if named is None:
            named, source = filed[1], "the band images' names"
    tag, text = _meta_time(meta, patterns) or ("", None)
    recorded = _parse_date(text)
    if named and recorded and abs((named - recorded).days) > 1 and meta_file is not None:
        raise InputError(meta_file, f"{tag} {recorded.isoformat()} is not the date in {source} "
                                    f"({named.isoformat()}, one day either way allowed)",
                         "is this the product's own meta.xml? copy the complete product folder")
    return named or recorded


def _solar_zenith(meta: ET.Element | None, patterns: ProductPatterns) -> float | None:
    if meta is None:
        return None
    zenith = find_text(meta, patterns.solar_zenith_tags)
    if zenith is not None:
        return float(zenith)
    elevation = find_text(meta, patterns.solar_elevation_tags)
    return None if elevation is None else 90.0 - float(elevation)


def _calib_file(folder: Path, patterns: ProductPatterns) -> Path:
    """The product's calib.xml; missing, it is named as expected, with a hint to adapt
    PATTERNS only when other XML files suggest a delivery that names it differently."""
    hits = _matches(folder, patterns.calib, "calib.xml files")
    if hits:
        return hits[0]
    metas = set(files_matching(folder, patterns.meta))
    others = sorted(p.name for p in files_matching(folder, "*.xml") if p not in metas)
    hint = (f"if {others[0]} is the calibration, adapt pipelines.sdgsat.PATTERNS.calib" if others
            else "the radiance gains and biases are in it: copy the complete product folder")
    raise InputError(expected_file(folder, patterns.calib), "calib.xml not found", hint)


def _matches(folder: Path, glob: str, what: str) -> list[Path]:
    """The file of ``folder`` that ``glob`` names (``what``: "TIS images", "calib.xml files"):
    several matching ones are refused unless one is named after the folder (the product's own,
    read with a warning naming the others: a browse image beside it); else a browse or a stray
    copy could be read, mosaicked in, or calibrate the scene."""
    hits = files_matching(folder, glob)
    if len(hits) <= 1:
        return hits
    owns = [p for p in hits if _named_after(p, folder, glob)]
    others = ", ".join(p.name for p in hits if p not in owns)
    if len(owns) > 1:
        raise InputError(folder, f"{', '.join(p.name for p in owns)} are named after the folder but for the case "
                         "of their names: either could be the product's own", "keep only the delivered one")
    if len(owns) == 1:
        warnings.warn(f"{folder}: also matching {glob}: {others}; only the product's own {owns[0].name} is read",
                      GroklstWarning, stacklevel=2)
        return owns
    raise InputError(folder, f"several {what} match {glob} ({others}) and none is named after the folder",
                     "keep only the product's own in the folder")


def _named_after(path: Path, folder: Path, glob: str) -> bool:
    """Whether ``path`` is the file ``glob`` names after ``folder`` (the product's own), whatever its case."""
    return path.name.casefold() == expected_file(folder, glob).name.casefold()


def _stem(name: str, pattern: str) -> str | None:
    """The part of file ``name`` that the single ``*`` of ``pattern`` matched, whatever the case
    (as :func:`files_matching` matches); None if it cannot tell."""
    head, star, tail = pattern.partition("*")
    if not star or any(c in head + tail for c in "*?[") or len(name) < len(head) + len(tail):
        return None
    folded = name.casefold()
    matched = folded.startswith(head.casefold()) and folded.endswith(tail.casefold())
    return name[len(head):len(name) - len(tail)] if matched else None


def expected_file(folder: Path, pattern: str, stem: str | None = None) -> Path:
    """The file ``pattern`` should have matched in ``folder``, its ``*`` filled with the scene
    name ``stem`` (default: the folder name), so that an error can name a missing file."""
    return folder / pattern.replace("*", stem or folder.name, 1)


def _mii_cameras(folder: Path, globs: tuple[str, ...]) -> tuple[Path, ...]:
    """The images of the MII cameras, one glob each; a product that has one camera's image
    but lacks another's is refused: the halves are mosaicked, one alone drops part of the scene."""
    found = {g: _matches(folder, g, "MII images") for g in globs}
    present = [(g, hits[0]) for g, hits in found.items() if hits]
    missing = [g for g, hits in found.items() if not hits]
    if present and missing:
        stem = _stem(present[0][1].name, present[0][0])
        raise InputError(expected_file(folder, missing[0], stem),
                         f"MII camera image not found: the product is {len(globs)} mosaic halves "
                         f"({', '.join(globs)}) and only {present[0][1].name} is there",
                         "copy the complete product folder")
    return tuple(p for hits in found.values() for p in hits)


def tis_band_files(folder: Path, patterns: ProductPatterns = PATTERNS,
                   needed: tuple[int, ...] = TIS_BANDS) -> dict[int, Path]:
    """The per-band TIS images of ``folder`` (challenge-data layout) by band, in band order, or
    ``{}`` when it has none. A band of ``needed`` missing is refused, naming the file expected: a
    split window needs B2 and B3 of one acquisition, a single-channel LST B2 alone. Where several
    images name one band, the one whose name ends at the band token is read and a warning names
    the others (a browse ``_B1_thumb.tif``, a ``_B1 copy.tif``); with none or several such, they
    are refused, since a stray copy must not be read."""
    named: dict[int, list[re.Match[str]]] = {}
    for glob in patterns.tis_band_images:
        for path in files_matching(folder, glob):
            match = re.match(patterns.tis_band_name, path.name)
            if match:
                named.setdefault(int(match.group("band")), []).append(match)
    if not named:
        return {}
    chosen = {band: _own_band_image(folder, band, matches) for band, matches in sorted(named.items())}
    missing = [band for band in needed if band not in chosen]
    if missing:
        present = named[min(chosen)][0]
        expected = folder / (present.string[:present.start("band")] + str(missing[0])
                             + present.string[present.end("band"):])
        raise InputError(expected, f"TIS band {missing[0]} image not found: the product is one image per band "
                         f"and only {', '.join(chosen[b].name for b in sorted(chosen))} are there",
                         "copy the complete product folder" + ("; --lst-method single-channel reads B2 alone"
                                                               if needed == SPLIT_WINDOW_BANDS else ""))
    return chosen


def _own_band_image(folder: Path, band: int, matches: list[re.Match[str]]) -> Path:
    """The one image of TIS ``band`` among those named for it (see :func:`tis_band_files`)."""
    if band not in (1, 2, 3):
        raise InputError(folder / matches[0].string, f"is named as TIS band {band}; TIS has bands 1-3",
                         "keep only the product's own band images in the folder")
    own = [m.string for m in matches if not m.group("rest")]
    if len(own) != 1:
        listed = ", ".join(m.string for m in matches)
        raise InputError(folder, f"several images of TIS band {band} ({listed}) and "
                         f"{'none' if not own else 'more than one'} ends at the band token",
                         "keep only the product's own band images in the folder")
    others = [m.string for m in matches if m.group("rest")]
    if others:
        warnings.warn(f"{folder}: also named for TIS band {band}: {', '.join(others)}; only {own[0]} is read",
                      GroklstWarning, stacklevel=3)
    return folder / own[0]


def _band_files_date(images: tuple[Path, ...], patterns: ProductPatterns) -> tuple[Path, date] | None:
    """The acquisition date per-band TIS ``images`` are named for (with the first of them), or
    None for other imagery; images named for different dates are refused."""
    matches = [(path, re.match(patterns.tis_band_name, path.name)) for path in images]
    if not matches or not all(match for _, match in matches):
        return None
    dated = [(path, _parse_date(match.group("date"))) for path, match in matches]
    for (path, day), (_, match) in zip(dated, matches):
        if day is None:
            raise InputError(path, f"{match.group('date')} in its name is not a date",
                             "take the band images, with their names, from the original delivery")
    first, day = dated[0]
    for path, other in dated[1:]:
        if other != day:
            raise InputError(path, f"named for {other}, {first.name} for {day}: not one acquisition",
                             "keep one acquisition's band images in its product folder")
    return first, day


def _tis_images(folder: Path, patterns: ProductPatterns,
                needed: tuple[int, ...]) -> tuple[tuple[Path, ...], tuple[int, ...]]:
    """The TIS imagery and the band of each image: one 3-band image (no bands), or one image per
    band (challenge data; the bands of ``needed`` required). Beside band images, a 3-band image named after the
    folder is refused (either could be the scene's) and any other one is left out with a warning
    (a browse image)."""
    by_band = tis_band_files(folder, patterns, needed)
    if not by_band:
        return tuple(p for g in patterns.tis_images for p in _matches(folder, g, "TIS images")), ()
    per_band = tuple(by_band.values())
    stacked = [p for g in patterns.tis_images for p in files_matching(folder, g)
               if not re.match(patterns.tis_band_name, p.name)]
    own = [p for p in stacked if any(_named_after(p, folder, g) for g in patterns.tis_images)]
    if own:
        raise InputError(folder, f"holds both a TIS image ({own[0].name}) and one image per band "
                         f"({per_band[0].name}, ...)", "keep only one delivery of the scene in the folder")
    if stacked:
        warnings.warn(f"{folder}: also holds {', '.join(p.name for p in stacked)}; only the band images "
                      f"{', '.join(p.name for p in per_band)} are read", GroklstWarning, stacklevel=3)
    return per_band, tuple(by_band)


def _check_meta(folder: Path, sensor: str, meta_files: list[Path], patterns: ProductPatterns) -> None:
    """Refuse an MII product without a meta.xml: its solar zenith is what gives reflectance."""
    if not meta_files and sensor == "MII":
        raise InputError(expected_file(folder, patterns.meta), "meta.xml not found",
                         "MII reflectance needs the solar zenith it holds: copy the complete product folder")


def read_product(folder: str | Path, patterns: ProductPatterns = PATTERNS,
                 tis_read: tuple[int, ...] = TIS_BANDS) -> Product:
    """Identify and read the metadata of one TIS or MII product folder; of a TIS product only
    the bands ``tis_read`` must have an image and a positive gain, and only theirs are calibrated
    (default all three; ingest passes those its LST method reads,
    :func:`pipelines.product_ingest.tis_bands_read`, which never include B1); of an MII product
    those of its seven bands (:data:`MII_BANDS`): a tag of a band it has not is not looked at."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "not a product folder" if folder.exists() else "folder not found")
    meta_files = _matches(folder, patterns.meta, "meta.xml files")
    meta = read_xml(meta_files[0]) if meta_files else None
    sensor = _sensor_of(folder, meta_files[0] if meta_files else None, meta, patterns)
    if sensor is None:
        raise InputError(folder, "not recognised as an SDGSAT-1 TIS or MII product",
                         "expected KX10_TIS_.../KX10_MII_... with *.tiff (or SDGSAT1_TIS_*_B1.tif per band) "
                         "or *_A.tif/*_B.tif")
    _check_meta(folder, sensor, meta_files, patterns)
    globs = (*patterns.tis_images, *patterns.tis_band_images) if sensor == "TIS" else patterns.mii_images
    images, tis_bands = (_tis_images(folder, patterns, tis_read) if sensor == "TIS"
                         else (_mii_cameras(folder, globs), ()))
    if not images:
        raise InputError(folder, f"no {sensor} imagery ({', '.join(globs)})",
                         "adapt pipelines.sdgsat.PATTERNS for this delivery")
    calib = _calib_file(folder, patterns)
    calibration = parse_calibration(calib, sensor, patterns, tis_read if sensor == "TIS" else MII_BANDS)
    try:
        zenith = _solar_zenith(meta, patterns)
    except ValueError as exc:
        raise InputError(meta_files[0], f"solar angle is not a number ({exc})") from exc
    meta_file = meta_files[0] if meta_files else None
    recorded, unread_zone = _recorded(meta_file, meta, patterns)
    return Product(folder, sensor, images, calibration, zenith, _acquired(folder, meta_file, meta, patterns, images),
                   meta_file, calib, recorded, tis_bands, unread_zone)


def earth_sun_distance(day: date | None) -> float:
    """Earth-Sun distance in AU (first-order eccentricity formula; 1.0 when the date is unknown)."""
    if day is None:
        return 1.0
    doy = day.timetuple().tm_yday
    return 1.0 - 0.01672 * math.cos(math.radians(0.9856 * (doy - 4)))


def reflectance_factor(band: int, solar_zenith: float, day: date | None) -> float:
    """Multiply MII radiance of 1-based ``band`` by this to get approximate TOA reflectance."""
    cos_sz = math.cos(math.radians(solar_zenith))
    if cos_sz <= 0.05:
        raise ValueError(f"solar zenith {solar_zenith:g} deg: the sun is too low for reflectance")
    return math.pi * earth_sun_distance(day) ** 2 / (MII_ESUN[band - 1] * cos_sz)


def brightness_temperature(radiance: np.ndarray, band: int) -> np.ndarray:
    """TIS brightness temperature (K) of 1-based ``band`` by Planck inversion: K2 / ln(K1 / L + 1)."""
    radiance = np.asarray(radiance, dtype=np.float64)
    out = np.full(radiance.shape, np.nan)
    ok = radiance > 0
    out[ok] = TIS_K2[band - 1] / np.log(TIS_K1[band - 1] / radiance[ok] + 1.0)
    return out


def planck_radiance(temperature: np.ndarray, band: int) -> np.ndarray:
    """The inverse of :func:`brightness_temperature`: TIS radiance for a brightness temperature."""
    temperature = np.asarray(temperature, dtype=np.float64)
    return TIS_K1[band - 1] / (np.exp(TIS_K2[band - 1] / temperature) - 1.0)

