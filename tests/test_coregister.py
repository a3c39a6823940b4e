"""The LST-guidance offset estimate: exact on real Landsat texture, honest when it cannot tell."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from groklst_cli.app import run
from pipelines.coregister import estimate_shift

LANDSAT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "landsat-muenster"
RATIO, MARGIN = 2, 6  # 30 m LST, 15 m guidance, 90 m searched each way
ROWS, COLS, TOP, LEFT = 200, 250, 100, 100  # the LST crop placed against the guidance


@pytest.fixture(scope="module")
def landsat(tmp_path_factory) -> tuple[np.ndarray, np.ndarray]:
    """A real 30 m ST date (K) and Sentinel-2 guidance (B11 + land-cover fractions) on the
    15 m grid nesting in it, built by ``groklst guidance`` as a user would."""
    dates = sorted(LANDSAT.glob("*_ST_B10.TIF")) if LANDSAT.is_dir() else []
    if not dates:
        pytest.skip(f"no Landsat clip in {LANDSAT}")
    out = tmp_path_factory.mktemp("coregister") / "g15.tif"
    assert run(["-q", "guidance", str(dates[12]), f"swir1={LANDSAT / 'S2_B11_20m.tif'}",
                "--categorical", f"landcover={LANDSAT / 'S2_landcover_rf_10m.tif'}", "--scale", "2",
                "-o", str(out)]) == 0
    with rasterio.open(dates[12]) as src:
        lst = src.read(1).astype(np.float64)
        lst[lst == src.nodata] = np.nan
    with rasterio.open(out) as src:
        guidance = src.read().astype(np.float64)
    return lst + 273.15, guidance


def framed(guidance: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """The guidance around the LST crop, as if the LST were misplaced by (rows, cols) guidance
    pixels: the true offset the estimate must find."""
    top, left = TOP * RATIO - MARGIN - rows, LEFT * RATIO - MARGIN - cols
    return guidance[:, top:top + ROWS * RATIO + 2 * MARGIN, left:left + COLS * RATIO + 2 * MARGIN]


def test_real_offsets_are_found_exactly(landsat) -> None:
    lst, guidance = landsat
    crop = lst[TOP:TOP + ROWS, LEFT:LEFT + COLS]
    for rows, cols in ((0, 0), (2, -3), (-4, 1), (5, 5), (-1, 0)):
        found = estimate_shift(crop, framed(guidance, rows, cols), RATIO, MARGIN)
        assert (found.rows, found.cols) == (rows, cols) and found.reliable
        assert found.needed == ((rows, cols) != (0, 0))
        assert found.r2 > 0.3 and (found.r2 > found.r2_as_delivered or (rows, cols) == (0, 0))


def test_an_offset_at_the_search_edge_is_not_trusted(landsat) -> None:
    lst, guidance = landsat
    crop = lst[TOP:TOP + ROWS, LEFT:LEFT + COLS]
    found = estimate_shift(crop, framed(guidance, MARGIN, 0), RATIO, MARGIN)
    assert (found.rows, found.cols) == (MARGIN, 0) and not found.reliable and not found.needed


def test_one_weakly_related_band_is_not_trusted(landsat) -> None:
    """Sentinel-2 B11 alone explains 2-5 % of this LST's variance: too little to place it."""
    lst, guidance = landsat
    crop = lst[TOP:TOP + ROWS, LEFT:LEFT + COLS]
    found = estimate_shift(crop, framed(guidance, 2, -3)[:1], RATIO, MARGIN)
    assert found.r2 < 0.1 and not found.reliable and not found.needed


def test_unrelated_or_empty_guidance_is_not_trusted() -> None:
    rng = np.random.default_rng(0)
    lst = rng.normal(300, 3, (60, 60))
    noise = rng.normal(0, 1, (3, 60 * 3 + 18, 60 * 3 + 18))
    assert not estimate_shift(lst, noise, 3, 9).reliable
    empty = estimate_shift(lst, np.full_like(noise, np.nan), 3, 9)
    assert not empty.reliable and not empty.needed and np.isnan(empty.r2)
    with pytest.raises(ValueError, match="does not frame"):
        estimate_shift(lst, noise[:, 1:], 3, 9)
