"""``groklst evaluate`` on a dataset with more guidance bands than the checkpoint was trained on:
the checkpoint's bands are picked by name, as ``downscale`` picks them (QA: evaluate refused
such a dataset while downscale ran on a guidance raster holding the same bands)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from groklst_cli.app import run
from pipelines.geotiff import write_raster
from pipelines.sample_scene import BAND_NAMES, generate_scene, write_scene

TINY = {"base_dim": 8, "num_stages": 2, "dmlp_hidden": 8, "recon_lr_blocks": 1}
# The checkpoint's bands, in another order than the sample scenes'. No index: prepare recomputes an
# index from the averaged red and NIR where a scene has them, so it would differ between the datasets.
KEPT = ["nir", "dem", "green"]


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """The same three sample scenes prepared twice at x2, split by scene: ``exact`` with the
    guidance bands KEPT only, ``wide`` with all ten; and the checkpoint of a short run on ``exact``."""
    root = tmp_path_factory.mktemp("evaluate_bands")
    (root / "exact").mkdir()
    for seed in (3, 4, 5):
        scene = generate_scene((32, 32), seed=seed)
        lst, _ = write_scene(scene, root / "wide", name=f"s{seed}")
        shutil.copy(lst, root / "exact" / lst.name)
        write_raster(root / "exact" / f"s{seed}_guidance.tif", scene.guidance[[BAND_NAMES.index(b) for b in KEPT]],
                     crs=scene.crs, transform=scene.guidance_transform, descriptions=KEPT)
    for name in ("exact", "wide"):
        scenes = sorted(str(p) for p in (root / name).glob("*_lst.tif"))
        assert run(["-q", "prepare", *scenes, "-o", str(root / f"ds_{name}"), "--scales", "2", "--patch", "16",
                    "--stride", "8", "--split", "1:1:1", "--split-by", "scene"]) == 0
    assert run(["-q", "train", str(root / "ds_exact"), "-o", str(root / "run"), "--model", "mocolsk-lite",
                "--scale", "2", "--iters", "4", "--batch-size", "2", "--crop", "12", "--val-every", "4",
                "--device", "cpu", "--model-kwargs", json.dumps(TINY)]) == 0
    return root / "ds_exact", root / "ds_wide", root / "run" / "best.pt"


def _rows(dataset: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> list[dict]:
    assert run(["evaluate", str(dataset), "-c", str(checkpoint), "--json", "--baselines", "bicubic,tsharp"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["warnings"] == [] and "warning" not in captured.err
    return report["rows"]


def test_extra_guidance_bands_are_left_out_and_the_scores_are_unchanged(
        datasets: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    exact, wide, checkpoint = datasets
    rows = _rows(exact, checkpoint, capsys)
    assert [row["model"] for row in rows] == ["mocolsk-lite (best.pt)", "bicubic", "tsharp"]
    assert all(row["images"] > 0 and row["pixels"] > 0 and row["rmse"] > 0 for row in rows)
    assert _rows(wide, checkpoint, capsys) == rows  # every row: the network, the interpolator, the sharpener
