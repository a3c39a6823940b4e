"""Temperature units: Kelvin inside groklst, Celsius inputs detected or declared."""

from __future__ import annotations

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


# Words a unit tag (a band's unit, a ``units`` tag: GDAL, CF/rioxarray, UDUNITS) says a unit with,
# lower-cased, with "_", "-" and "°" read as spaces and "deg"
_CELSIUS_WORDS = frozenset({"degc", "deg c", "c", "cel", "celsius", "deg celsius", "degree c", "degrees c",
                            "degree celsius", "degrees celsius"})
_KELVIN_WORDS = frozenset({"k", "kelvin", "kelvins", "degk", "deg k", "degree k", "degrees k",
                           "degree kelvin", "degrees kelvin"})


_FAHRENHEIT_WORDS = frozenset({"degf", "deg f", "f", "fahrenheit", "deg fahrenheit", "degree f", "degrees f",
                               "degree fahrenheit", "degrees fahrenheit"})


def _tag_words(tag: str | None) -> str:
    """A unit tag in plain lower-case words: ``°C``, ``deg_C`` and ``degC`` alike."""
    text = (tag or "").lower().replace("°", " deg ").replace("º", " deg ")
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
