"""Shares in messages never read as a false 0 or 100 %, up to a pixel in 1e10 (review R7: one
nodata pixel of a 10 m Landsat footprint, 4.4e8 pixels, read as "100.000000 %")."""

from __future__ import annotations

import pytest

from pipelines.percent import percent, percent_pair


@pytest.mark.parametrize("pixels", [1e6, 4.4e8, 1e10])
def test_one_pixel_short_is_neither_100_nor_0(pixels: float) -> None:
    share, rest = percent_pair(1 - 1 / pixels)
    assert float(share) < 100.0 and float(rest) > 0.0
    assert share.startswith("99.99") and float(percent(1 / pixels)) > 0.0


def test_exact_shares_keep_one_decimal() -> None:
    assert percent_pair(0.25) == ("25.0", "75.0") and percent(1.0) == "100.0" and percent(0.0) == "0.0"
