"""The refusal hint for integer LST: which known encodings would make the values typical."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.errors import InputError
from pipelines.lst_values import LstDecoding, LstScan, check_plausible
from pipelines.units import Units


def integer_scene(kelvin_low: float, kelvin_high: float, factor: float, offset: float) -> LstScan:
    """A scan of integers that ``factor * dn + offset`` turns into kelvin_low..kelvin_high K."""
    kelvin = np.linspace(kelvin_low, kelvin_high, 1000)
    dn = np.round((kelvin - offset) / factor)
    return LstScan(dn.size, float(dn.min()), float(dn.max()), dn, integer_storage=True)


def hint(found: LstScan) -> str:
    with pytest.raises(InputError) as refused:
        check_plausible(found, Units.kelvin, LstDecoding(), "lst.tif")
    return str(refused.value)


@pytest.mark.parametrize(
    "factor, offset, named",
    [
        (0.02, 0.0, "--scale-factor 0.02 --offset 0.0 (MODIS, VIIRS and ECOSTRESS LST: 280..320 K)"),
        (0.1, 0.0, "--scale-factor 0.1 --offset 0.0 (tenths: 280..320 K)"),
        (0.00341802, 149.0,
         "--scale-factor 0.00341802 --offset 149.0 (Landsat Collection-2 ST: 280..320 K)"),
    ],
)
def test_the_hint_names_the_encoding_that_gives_typical_temperatures(
        factor: float, offset: float, named: str) -> None:
    message = hint(integer_scene(280, 320, factor, offset))
    assert "unscaled digital numbers: pass " + named + " or your product's factors" in message
    assert message.count("--scale-factor") == 1  # no other encoding fits these values


def test_an_ambiguous_scene_gets_every_encoding_that_fits() -> None:
    # Hundredths of a kelvin at 290-300 K read as a cold 250-252 K under Landsat's factors.
    message = hint(integer_scene(290, 300, 0.01, 0.0))
    assert "Landsat Collection-2 ST: 248" in message and "(hundredths: 290..300 K)" in message


def test_integers_no_known_encoding_explains_still_get_landsat_factors_as_an_example() -> None:
    found = LstScan(3, 2_000_000.0, 3_000_000.0, np.array([2e6, 2.5e6, 3e6]), integer_storage=True)
    assert ("pass --scale-factor 0.00341802 --offset 149.0 for Landsat Collection-2 ST or your "
            "product's factors") in hint(found)
