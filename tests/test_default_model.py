"""The shipped default model: what its card promises, checked at native scale.

Scene seed 9 is neither a training scene of ``scripts/train_default_model.sh`` (seeds
101-108) nor the demo scene (seed 0). The generator's 10 m truth is the reference.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from groklst_cli.app import run
from pipelines.checkpoint import load_checkpoint
from pipelines.infer import DEFAULT_CHECKPOINT
from pipelines.metrics import MetricAverage
from pipelines.sample_scene import generate_scene, write_scene
from tests.test_downscale_learned import tile_border_mask

SDGSAT_BANDS = ["dem", "deepblue", "blue", "green", "red", "vre", "nir", "ndmvi", "ndvi", "ndwi"]


def test_checkpoint_is_small_and_describes_the_sdgsat_case() -> None:
    assert DEFAULT_CHECKPOINT.stat().st_size < 5 * 2**20
    ckpt = load_checkpoint(DEFAULT_CHECKPOINT)
    assert (ckpt.model, ckpt.scale, ckpt.bands) == ("mocolsk-lite", 3, SDGSAT_BANDS)
    assert ckpt.hr_resolution == pytest.approx(10.0) and ckpt.hr_resolution_units == "m"
    assert ckpt.output_resolution() == (pytest.approx(10.0), "m")
    assert 250 < ckpt.lst_mean < 350 and all(s > 0 for s in ckpt.band_std)


def _rmse(path: Path, truth: np.ndarray) -> float:
    with rasterio.open(path) as src:
        predicted = src.read(1)
    average = MetricAverage()
    average.add(predicted, truth)
    return average.result()["rmse"]


def test_default_model_beats_bicubic_against_the_fine_truth(tmp_path: Path) -> None:
    scene = generate_scene((60, 60), seed=9)
    lst, _ = write_scene(scene, tmp_path, name="held_out")
    assert run(["-q", "downscale", str(lst), "-o", str(tmp_path / "model.tif")]) == 0
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(tmp_path / "bicubic.tif")]) == 0
    with rasterio.open(tmp_path / "model.tif") as src:
        assert src.tags()["model"] == "mocolsk-lite"
    model, bicubic = _rmse(tmp_path / "model.tif", scene.lst_fine), _rmse(tmp_path / "bicubic.tif", scene.lst_fine)
    assert model < 0.7 * bicubic, (model, bicubic)


def test_tiles_leave_no_seams_with_the_trained_model(tmp_path: Path) -> None:
    """Tiled (90 px tiles, 30 px overlap) against one pass over a 180 x 180 px output."""
    lst, _ = write_scene(generate_scene((60, 60), seed=9), tmp_path, name="seams")
    one, tiled = tmp_path / "one.tif", tmp_path / "tiled.tif"
    assert run(["-q", "downscale", str(lst), "-o", str(one), "--tile", "180"]) == 0
    assert run(["-q", "downscale", str(lst), "-o", str(tiled), "--tile", "90", "--overlap", "30"]) == 0
    with rasterio.open(one) as a_src, rasterio.open(tiled) as b_src:
        a, b = a_src.read(1), b_src.read(1)
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    diff = np.abs(a - b)
    near = tile_border_mask(a.shape, scale=3, tile=90, overlap=30, margin=15)
    interior, border = np.nanmean(diff[~near]), np.nanmean(diff[near])
    p99 = np.nanpercentile(diff, 99)
    print(f"default model, tiled vs one pass: interior {interior * 1e3:.2f} mK, near borders "
          f"{border * 1e3:.2f} mK, 99th percentile {p99 * 1e3:.0f} mK, max {np.nanmax(diff) * 1e3:.0f} mK")
    # Measured 2026-11-24: interior 1.3 mK, near borders 9.9 mK, p99 81 mK, max 180 mK. The
    # MCWG pyramid pooling (its 1x1 bin is a tile-wide mean) sees the whole tile, so no pixel
    # is bit-identical; more overlap does not remove it.
    assert interior < 0.01 and border < 0.02 and p99 < 0.1 and np.nanmax(diff) < 0.3
