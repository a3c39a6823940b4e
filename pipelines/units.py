"""Temperature units: Kelvin inside groklst, Celsius inputs detected or declared."""

from __future__ import annotations

import unicodedata
from enum import Enum

import numpy as np

KELVIN_OFFSET = 273.15
# Land surface temperatures on Earth span roughly 180-350 K (-93..77 degC). A median below
# this threshold cannot be Kelvin; one above it cannot be Celsius.
_CELSIUS_MAX_MEDIAN = 120.0


class Units(str, Enum):
    kelvin = "kelvin"
    celsius = "celsius"
    auto = "auto"


class OutputUnits(str, Enum):
    """The units an output can be written in (``auto`` describes inputs only)."""

    kelvin = "kelvin"
    celsius = "celsius"

    @property
    def units(self) -> Units:
        return Units(self.value)


def detect_units(values: np.ndarray) -> Units:
    """Kelvin or Celsius from the value range of valid (finite) samples."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return Units.kelvin
    return Units.celsius if float(np.median(finite)) < _CELSIUS_MAX_MEDIAN else Units.kelvin


def to_kelvin(values: np.ndarray, units: Units) -> np.ndarray:
    return values + np.float32(KELVIN_OFFSET) if units is Units.celsius else values


def from_kelvin(values: np.ndarray, units: Units) -> np.ndarray:
    return values - np.float32(KELVIN_OFFSET) if units is Units.celsius else values


def _unit_words(letter: str, *names: str) -> frozenset[str]:
    """A unit's spellings in a unit tag (as :func:`_tag_words` writes it): its letter or names,
    alone or after ``deg``, ``degree`` or ``degrees``, joined or not (``degc``, ``deg c``,
    ``degrees celsius``)."""
    words = (letter, *names)
    prefixed = {f"{degree}{space}{word}" for degree in ("deg", "degree", "degrees") for space in ("", " ")
                for word in words}
    return frozenset(words) | prefixed


# Words a unit tag (a band's unit, a ``units`` tag: GDAL, CF/rioxarray, UDUNITS, UCUM ``Cel``)
# says a unit with; "celcius" is a common misspelling that can mean nothing else
_CELSIUS_WORDS = _unit_words("c", "celsius", "cel", "celcius")
_KELVIN_WORDS = _unit_words("k", "kelvin", "kelvins")
_FAHRENHEIT_WORDS = _unit_words("f", "fahrenheit")
# Typed for the degree sign: the masculine ordinal (which NFKC would make an "o") and the ring above
_DEGREE_LOOKALIKES = ("º", "˚")


def _tag_words(tag: str | None) -> str:
    """A unit tag in plain lower-case words, "_", "-" and the degree sign read as spaces and
    "deg": ``°C``, ``℃``, ``deg_C`` and ``degC`` alike (NFKC makes ``℃``/``℉`` ``°C``/``°F``
    and the Kelvin sign K)."""
    text = tag or ""
    for lookalike in _DEGREE_LOOKALIKES:
        text = text.replace(lookalike, "°")
    text = unicodedata.normalize("NFKC", text).lower().replace("°", " deg ")
    return " ".join(text.replace("_", " ").replace("-", " ").split())


def tagged_fahrenheit(tag: str | None) -> bool:
    """Whether a unit tag names degrees Fahrenheit, which groklst does not read: such values
    (32..140 for land surfaces) would pass for Celsius."""
    return _tag_words(tag) in _FAHRENHEIT_WORDS


def tagged_units(tag: str | None) -> Units:
    """The unit a unit tag (``degC``, ``deg_C``, ``degrees Celsius``, ``K``, ``kelvin``...)
    names; ``auto`` for no tag or one that names no temperature unit (``1``, ``W m-2``)."""
    words = _tag_words(tag)
    if words in _CELSIUS_WORDS:
        return Units.celsius
    if words in _KELVIN_WORDS:
        return Units.kelvin
    return Units.auto


def unit_tag(units: Units) -> str:
    """The band unit string written into GeoTIFFs."""
    return "degC" if units is Units.celsius else "K"
