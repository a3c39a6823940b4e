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


def unit_tag(units: Units) -> str:
    """The band unit string written into GeoTIFFs."""
    return "degC" if units is Units.celsius else "K"
