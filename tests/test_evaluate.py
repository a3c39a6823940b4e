"""``groklst evaluate`` end to end: sample scenes -> prepare -> train -> evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from groklst_cli.app import run
from pipelines.checkpoint import Checkpoint, load_checkpoint, state_dict_of
from pipelines.dataset import open_prepared
from pipelines.metrics import METRICS, MetricAverage
from pipelines.sample_scene import generate_scene, write_scene

TINY = {"base_dim": 8, "num_stages": 2, "dmlp_hidden": 8, "recon_lr_blocks": 1}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Four generated scenes prepared at x2 (split by scene 2:1:1) and a short training run.

    60 iterations at lr 5e-4 of a tiny mocolsk-lite are enough for the guidance to pay off
    on the held-out test scene (about 2.1 K RMSE against 2.3 K for bicubic).
    """
    root = tmp_path_factory.mktemp("evaluate")
    scenes = []
    for seed in (3, 4, 5, 6):
        lst, _ = write_scene(generate_scene((64, 64), seed=seed), root / "scenes", name=f"s{seed}")
        scenes.append(str(lst))
    dataset = root / "ds"
    assert run(["-q", "prepare", *scenes, "-o", str(dataset), "--scales", "2", "--patch", "32",
                "--stride", "16", "--split", "2:1:1", "--split-by", "scene",
                "--degrade", "area", "--aggregate", "kelvin"]) == 0  # the pairs the model's margin was sized on
    assert run(["-q", "train", str(dataset), "-o", str(root / "run"), "--model", "mocolsk-lite",
                "--scale", "2", "--iters", "60", "--batch-size", "4", "--crop", "24", "--lr", "5e-4",
                "--val-every", "60", "--device", "cpu", "--model-kwargs", json.dumps(TINY)]) == 0
    return dataset, root / "run" / "best.pt"


def _bicubic_reference(dataset: Path, split: str) -> dict[str, float]:
    """Bicubic metrics computed directly from the dataset's arrays."""
    ds = open_prepared(dataset)
    average = MetricAverage()
    for index in ds.indices(split):
        lr, _, hr = ds.read(index, 2)
        filled = np.where(np.isfinite(lr), lr, ds.stats.lst_mean).astype(np.float32)
        up = F.interpolate(torch.from_numpy(filled)[None, None], scale_factor=2, mode="bicubic",
                           align_corners=False)[0, 0].numpy()
        average.add(up, hr)
    return average.result()


def test_json_rows_for_checkpoint_and_baselines(trained: tuple[Path, Path],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    dataset, ckpt = trained
    assert run(["-q", "evaluate", str(dataset), "--checkpoint", str(ckpt), "--json",
                "--baselines", "bicubic,bilinear"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["split"] == "test" and report["scale"] == 2
    rows = {row["model"]: row for row in report["rows"]}
    assert list(rows) == ["mocolsk-lite (best.pt)", "bicubic", "bilinear"]
    n_test = len(open_prepared(dataset).indices("test"))
    for row in rows.values():
        assert row["images"] == n_test and row["pixels"] > 0
        assert all(np.isfinite(row[m]) for m in METRICS)
        assert 0 < row["rmse"] < 20 and row["mae"] <= row["rmse"]
    assert rows["mocolsk-lite (best.pt)"]["rmse"] < 0.97 * rows["bicubic"]["rmse"]
    expected = _bicubic_reference(dataset, "test")
    for name in (*METRICS, "pixels"):
        assert rows["bicubic"][name] == pytest.approx(expected[name], rel=1e-5, abs=1e-6)


def test_table_on_stdout(trained: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    dataset, ckpt = trained
    assert run(["-q", "evaluate", str(dataset), "-c", str(ckpt), "--split", "val",
                "--baselines", "bicubic"]) == 0
    out = capsys.readouterr().out
    for word in ("RMSE", "MAE", "BIAS", "CC", "RSD", "mocolsk-lite", "bicubic", "val split"):
        assert word in out
    assert "bilinear" not in out


def test_the_table_escapes_control_characters_in_the_checkpoints_name(
        trained: tuple[Path, Path], tmp_path: Path, monkeypatch, capsys: pytest.CaptureFixture[str]) -> None:
    """QA: table cells printed values raw: a newline in the checkpoint's file name split its row."""
    monkeypatch.setenv("COLUMNS", "200")  # the name on one line of its cell
    dataset, ckpt = trained
    odd = tmp_path / "b\nest\x1b[2J.pt"
    odd.write_bytes(ckpt.read_bytes())
    assert run(["-q", "evaluate", str(dataset), "-c", str(odd), "--baselines", ""]) == 0
    out = capsys.readouterr().out
    assert "mocolsk-lite (b\\nest\\x1b[2J.pt)" in out and "\x1b" not in out


def _variant(ckpt_path: Path, tmp_path: Path, **changes: object) -> Path:
    ckpt = load_checkpoint(ckpt_path)
    fields = {**ckpt.to_dict(), **changes}
    fields.pop("format")
    if "scale" in changes:  # a model built for the other scale, with its own weights
        model = Checkpoint(**{**fields, "state_dict": {}}).build()
        fields["state_dict"] = state_dict_of(model)
    path = tmp_path / "variant.pt"
    Checkpoint(**fields).save(path)
    return path


def test_mismatched_checkpoints_are_refused(trained: tuple[Path, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    dataset, ckpt = trained
    bands = load_checkpoint(ckpt).bands
    wrong_scale = _variant(ckpt, tmp_path, scale=4)
    assert run(["-q", "evaluate", str(dataset), "-c", str(wrong_scale)]) == 2
    assert f"{wrong_scale}: checkpoint is for x4, the dataset has x2\n" in capsys.readouterr().err
    wrong_bands = _variant(ckpt, tmp_path, bands=[*bands[:-1], "swir9"])
    assert run(["-q", "evaluate", str(dataset), "-c", str(wrong_bands)]) == 2
    assert capsys.readouterr().err.startswith(  # as downscale words it: names joined, a hint
        f"error: {wrong_bands}: the dataset is missing guidance band(s) swir9 (has {', '.join(bands)}) (hint: ")
    assert run(["-q", "evaluate", str(dataset), "-c", str(ckpt), "--baselines", "lanczos,x"]) == 2
    assert "--baselines: unknown baseline(s) lanczos, x (hint: " in capsys.readouterr().err
    assert run(["-q", "evaluate", str(dataset), "-c", str(tmp_path / "missing.pt")]) == 2


def test_a_model_trained_at_another_resolution_is_scored_with_a_warning(
        trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dataset, ckpt = trained
    assert (load_checkpoint(ckpt).hr_resolution, load_checkpoint(ckpt).hr_resolution_units) == (30.0, "m")
    assert run(["evaluate", str(dataset), "-c", str(ckpt), "--json"]) == 0
    assert "trained to write" not in capsys.readouterr().err
    coarser = _variant(ckpt, tmp_path, hr_resolution=90.0)
    assert run(["evaluate", str(dataset), "-c", str(coarser), "--json"]) == 0
    err = capsys.readouterr().err
    assert "trained to write 90 m pixels, these are 30 m (3x finer) in the dataset's HR grid" in err


def test_every_row_is_scored_on_the_same_pixels(trained: tuple[Path, Path], monkeypatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A sharpener leaves nodata (e.g. beside LR gaps) where the network and bicubic fill in:
    every row is scored where all of them wrote a value."""
    import pipelines.sharpen

    def gappy(name: str, scale: int, bands: list[str]):
        def predict(lr: np.ndarray, guidance: np.ndarray) -> np.ndarray:
            out = np.repeat(np.repeat(lr, scale, axis=0), scale, axis=1)
            out[:5, :7] = np.nan  # 35 pixels of every patch left out
            return out
        return predict

    monkeypatch.setattr(pipelines.sharpen, "patch_predictor", gappy)
    dataset, ckpt = trained
    evaluate = ["-q", "evaluate", str(dataset), "-c", str(ckpt), "--json", "--baselines"]
    assert run([*evaluate, "bicubic"]) == 0
    alone = json.loads(capsys.readouterr().out)["rows"]
    assert run([*evaluate, "bicubic,tsharp"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [row["pixels"] for row in rows] == [alone[0]["pixels"] - 35 * alone[0]["images"]] * 3
    assert rows[0]["rmse"] != alone[0]["rmse"]  # the network's row is rescored on those pixels


def test_sharpener_baselines_are_fitted_on_each_patch(trained: tuple[Path, Path],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from pipelines.sharpen import patch_predictor

    dataset, ckpt = trained
    assert run(["-q", "evaluate", str(dataset), "-c", str(ckpt), "--json",
                "--baselines", "bicubic,tsharp,gwr,dms"]) == 0
    rows = {row["model"]: row for row in json.loads(capsys.readouterr().out)["rows"]}
    assert list(rows) == ["mocolsk-lite (best.pt)", "bicubic", "tsharp", "gwr", "dms"]
    ds = open_prepared(dataset)
    for name in ("tsharp", "gwr", "dms"):
        predict, average = patch_predictor(name, 2, ds.bands), MetricAverage()
        for index in ds.indices("test"):
            lr, guidance, hr = ds.read(index, 2)
            average.add(predict(lr, guidance), hr)
        expected = average.result()
        assert rows[name]["images"] == expected["images"] > 0
        assert rows[name]["rmse"] == pytest.approx(expected["rmse"], rel=1e-6)
    # The sample scenes' LST follows their guidance: the sharpeners beat bicubic on them.
    assert rows["tsharp"]["rmse"] < rows["bicubic"]["rmse"]
    assert rows["gwr"]["rmse"] < rows["bicubic"]["rmse"]
    assert rows["dms"]["rmse"] < rows["bicubic"]["rmse"]
