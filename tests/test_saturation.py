"""Saturated MII pixels found from each band's histogram (pipelines.saturation)."""

from __future__ import annotations

import numpy as np
import rasterio
from affine import Affine

from pipelines.saturation import SaturationOptions, dn_histogram, pile_up_level, saturation_level


def _counts(values: np.ndarray) -> np.ndarray:
    return np.bincount(values, minlength=65536)


def test_a_clipped_band_piles_up_at_its_largest_dn_and_a_natural_one_does_not():
    rng = np.random.default_rng(0)
    natural = np.clip(rng.normal(1500, 200, 200_000), 1, None).astype(np.int64)
    assert pile_up_level(_counts(natural)) is None  # a thinning tail: one or two pixels at the top
    clipped = np.minimum(natural, 1800)  # 6.7 % of the pixels on one DN
    assert pile_up_level(_counts(clipped)) == 1800
    few = np.minimum(natural, int(np.sort(natural)[-10]))  # 10 pixels on the top DN: too few to tell
    assert pile_up_level(_counts(few)) is None
    assert pile_up_level(np.zeros(65536, dtype=np.int64)) is None


def test_the_histogram_is_read_block_by_block_without_fill(tmp_path):
    data = np.arange(300 * 260, dtype=np.uint32).reshape(300, 260) % 4000
    data = data.astype(np.uint16)
    data[:10] = 0  # fill
    data[50:70, 100:200] = 4095
    path = tmp_path / "mii.tif"
    with rasterio.open(path, "w", driver="GTiff", width=260, height=300, count=1, dtype="uint16", nodata=0,
                       transform=Affine(10, 0, 500000, 0, -10, 4300000), tiled=True, blockxsize=128, blockysize=128) as dst:
        dst.write(data, 1)
    with rasterio.open(path) as src:
        counts = dn_histogram(src, 1)
        np.testing.assert_array_equal(counts, np.bincount(data[data > 0], minlength=65536))
        assert saturation_level(src, 1, SaturationOptions()) == 4095
        assert saturation_level(src, 1, SaturationOptions(levels={1: 3000})) == 3000
