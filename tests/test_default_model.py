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

SDGSAT_BANDS = ["dem", "deepblue", "blue", "green", "red", "vre", "nir", "ndmvi", "ndvi", "ndwi"]


def test_checkpoint_is_small_and_describes_the_sdgsat_case() -> None:
    assert DEFAULT_CHECKPOINT.stat().st_size < 5 * 2**20
    ckpt = load_checkpoint(DEFAULT_CHECKPOINT)
    assert (ckpt.model, ckpt.scale, ckpt.bands) == ("mocolsk-lite", 3, SDGSAT_BANDS)
    assert ckpt.hr_resolution == pytest.approx(10.0)
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
