"""``evaluate`` and training's validation score what ``downscale`` writes on data with holes.

QA: evaluate filled LR nodata with the mean temperature and scored the HR pixels under it,
which ``downscale`` writes as NaN (filling from the nearest pixel, with a hole margin for
networks), so its table measured values no user gets.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import Affine

from groklst_cli.app import run
from pipelines.checkpoint import load_checkpoint
from pipelines.dataset import PreparedDataset, open_prepared
from pipelines.evaluate import PatchInputs, checkpoint_predictor
from pipelines.geotiff import write_raster
from pipelines.sample_scene import generate_scene, write_scene

TINY = {"base_dim": 8, "num_stages": 2, "dmlp_hidden": 8, "recon_lr_blocks": 1}
SCALE = 2
MARGIN = 3 * SCALE  # downscale's default for networks: 3 LR pixels


def _cut_holes(lst: Path, guidance: Path, seed: int) -> None:
    """Three 4x4 px NaN holes in the LST and one 6x6 px hole in a guidance band."""
    rng = np.random.default_rng(seed)
    with rasterio.open(lst, "r+") as f:
        values = f.read(1)
        for _ in range(3):
            r, c = rng.integers(0, values.shape[0] - 4, 2)
            values[r:r + 4, c:c + 4] = np.nan
        f.write(values, 1)
    with rasterio.open(guidance, "r+") as f:
        band = f.read(2)
        r, c = rng.integers(0, band.shape[0] - 6, 2)
        band[r:r + 6, c:c + 6] = np.nan
        f.write(band, 2)


@pytest.fixture(scope="module")
def holed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Four generated scenes with holes, prepared at x2 with up to 10 % nodata, and a short run."""
    root = tmp_path_factory.mktemp("evaluate_holes")
    scenes = []
    for seed in (3, 4, 5, 6):
        lst, guidance = write_scene(generate_scene((64, 64), seed=seed), root / "scenes", name=f"s{seed}")
        _cut_holes(lst, guidance, seed)
        scenes.append(str(lst))
    dataset = root / "ds"
    assert run(["-q", "prepare", *scenes, "-o", str(dataset), "--scales", str(SCALE), "--patch", "32",
                "--stride", "16", "--split", "2:1:1", "--split-by", "scene", "--max-nodata", "0.1"]) == 0
    assert run(["-q", "train", str(dataset), "-o", str(root / "run"), "--model", "mocolsk-lite",
                "--scale", str(SCALE), "--iters", "10", "--batch-size", "4", "--crop", "24",
                "--val-every", "10", "--device", "cpu", "--model-kwargs", json.dumps(TINY)]) == 0
    return dataset, root / "run"


def _holes(lr: np.ndarray, guidance: np.ndarray) -> np.ndarray:
    """HR pixels whose LR pixel or guidance (any band) is nodata."""
    return np.kron(np.isnan(lr), np.ones((SCALE, SCALE), bool)) | np.isnan(guidance).any(axis=0)


def _grown(mask: np.ndarray, margin: int) -> np.ndarray:
    """``mask`` and every pixel at most ``margin`` px away along rows and columns (chessboard)."""
    padded = np.pad(mask, margin)
    out = np.zeros_like(mask)
    rows, cols = mask.shape
    for dr in range(2 * margin + 1):
        for dc in range(2 * margin + 1):
            out |= padded[dr:dr + rows, dc:dc + cols]
    return out


def _scored(ds: PreparedDataset, split: str, margin: int) -> tuple[int, int]:
    """Pixels a row with ``margin`` is scored on, counted from the arrays, and how many valid
    HR pixels lie under LR nodata."""
    scored = under_lr_nodata = 0
    for index in ds.indices(split):
        lr, guidance, hr = ds.read(index, SCALE)
        scored += int((np.isfinite(hr) & ~_grown(_holes(lr, guidance), margin)).sum())
        under_lr_nodata += int((np.isfinite(hr) & np.kron(np.isnan(lr), np.ones((SCALE, SCALE), bool))).sum())
    return scored, under_lr_nodata


def test_no_scored_pixel_lies_under_nodata(holed: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    dataset, run_dir = holed
    assert run(["-q", "evaluate", str(dataset), "-c", str(run_dir / "best.pt"), "--json",
                "--baselines", "bicubic,tsharp"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    ds = open_prepared(dataset)
    network, under_lr_nodata = _scored(ds, "test", MARGIN)
    baselines, _ = _scored(ds, "test", 0)
    assert under_lr_nodata > 0  # the fixture has valid HR pixels that downscale writes as NaN
    assert [row["pixels"] for row in rows] == [network, baselines, baselines]
    assert network < baselines


def test_training_validates_on_what_downscale_writes(holed: tuple[Path, Path]) -> None:
    dataset, run_dir = holed
    line = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    assert line["val_pixels"] == _scored(open_prepared(dataset), "val", MARGIN)[0]


def _write_patch(folder: Path, lr: np.ndarray, guidance: np.ndarray, bands: list[str]) -> Path:
    """The patch as a scene: LR LST at 60 m and its guidance at 30 m on the same origin."""
    crs = "EPSG:32650"
    lst = write_raster(folder / "p_lst.tif", lr, crs=crs, transform=Affine(60, 0, 500000, 0, -60, 4000000),
                       descriptions=["lst"], units="K")
    write_raster(folder / "p_guidance.tif", guidance, crs=crs, transform=Affine(30, 0, 500000, 0, -30, 4000000),
                 descriptions=bands)
    return lst


def _patch_with_holes(ds: PreparedDataset) -> tuple[np.ndarray, np.ndarray]:
    """LR and guidance of the first test patch with nodata in both."""
    for index in ds.indices("test"):
        lr, guidance, _ = ds.read(index, SCALE)
        if np.isnan(lr).any() and np.isnan(guidance).any():
            return lr, guidance
    raise AssertionError("no test patch has holes in both the LR LST and the guidance")


@pytest.mark.parametrize("margin", [None, 0])
def test_evaluate_predicts_what_downscale_writes(holed: tuple[Path, Path], tmp_path: Path,
                                                 margin: int | None) -> None:
    """On a test patch with LR and guidance holes, next to them too (``--hole-margin 0``)."""
    dataset, run_dir = holed
    ckpt_path = run_dir / "best.pt"
    ds = open_prepared(dataset)
    predict = checkpoint_predictor(load_checkpoint(ckpt_path), ckpt_path, ds, SCALE, torch.device("cpu"))
    lr, guidance = _patch_with_holes(ds)
    out = tmp_path / "out.tif"
    margin_option = [] if margin is None else ["--hole-margin", str(margin)]
    assert run(["-q", "downscale", str(_write_patch(tmp_path, lr, guidance, ds.bands)), "-c", str(ckpt_path),
                "-o", str(out), "--device", "cpu", *margin_option]) == 0
    with rasterio.open(out) as f:
        written = f.read(1)
    used = MARGIN if margin is None else margin
    patch = PatchInputs.of(lr, guidance, SCALE)
    ours = patch.written(predict(patch.lr, patch.guidance), used)
    holes = _holes(lr, guidance)
    assert np.array_equal(np.isnan(written), _grown(holes, used))
    assert np.array_equal(np.isnan(ours), np.isnan(written))
    assert np.abs(ours - written)[~np.isnan(written)].max() < 1e-4
    if margin == 0:  # next to holes the fill matters: the training mean's fill differs there
        near = _grown(holes, SCALE) & ~holes
        assert np.abs(predict(lr, guidance) - written)[near].max() > 0.01
