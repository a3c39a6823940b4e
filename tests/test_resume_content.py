"""`train --resume` compares the patches' content, not only the split lists and statistics.

QA: a dataset remade from scenes that are 40 K warmer outside the train patches kept
byte-identical stats.json and splits/, so a run resumed onto it although its val split (what
best.pt was chosen on) held other values.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine

from groklst_cli.app import run
from pipelines.dataset import open_prepared
from pipelines.dataset_identity import dataset_identity, identity_differences
from pipelines.run_layout import CONFIG_FILE
from tests.conftest import prepare_generated_dataset
from tests.test_faults_downscale import snapshot
from tests.test_faults_train import copy_of, error_lines, train
from tests.test_train import SCALE

PATCH = 24  # prepare_generated_dataset's patch size, whose settings remake() repeats
WARMER = 40.0


def patches_of(ds: Path, split: str) -> list[tuple[str, Affine]]:
    """Scene and HR transform of each patch of ``split``."""
    store = xr.open_zarr(ds / "data.zarr", consolidated=True)
    return [(str(scene), Affine(*transform)) for scene, kind, transform
            in zip(store["scene"].values, store["split"].values, store["transform"].values) if kind == split]


def warm_patches(scenes: Path, patches: list[tuple[str, Affine]]) -> None:
    """Add WARMER Kelvin to the LST pixels under ``patches`` (the HR grid is the LST's)."""
    for name in {scene for scene, _ in patches}:
        with rasterio.open(scenes / f"{name}_lst.tif", "r+") as lst:
            values = lst.read(1)
            for _, transform in (p for p in patches if p[0] == name):
                col, row = (round(v) for v in ~lst.transform @ (transform.c, transform.f))
                values[row:row + PATCH, col:col + PATCH] += WARMER
            lst.write(values, 1)


def remake(ds: Path, root: Path, split: str | None) -> Path:
    """``prepare`` again with ds's settings, from its scenes warmed under ``split``'s patches."""
    scenes = Path(shutil.copytree(ds.parent / "scenes", root / "scenes"))
    if split is not None:
        warm_patches(scenes, patches_of(ds, split))
    out = root / "ds"
    assert run(["-q", "prepare", *map(str, sorted(scenes.glob("*_lst.tif"))), "-o", str(out), "--scales",
                str(SCALE), "--patch", str(PATCH), "--stride", str(PATCH // 2), "--split-block", str(PATCH)]) == 0
    return out


@pytest.fixture(scope="module")
def dataset_a(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_generated_dataset(tmp_path_factory.mktemp("a"), (SCALE,))


@pytest.fixture(scope="module")
def warmer_val(dataset_a: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dataset_a remade from scenes 40 K warmer under its val patches."""
    return remake(dataset_a, tmp_path_factory.mktemp("warmer_val"), "val")


@pytest.fixture(scope="module")
def run_on_a(dataset_a: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished two-iteration run on dataset_a (copied by the tests that resume it)."""
    out = tmp_path_factory.mktemp("run") / "run"
    assert train(dataset_a, out) == 0
    return out


def test_the_warmer_dataset_differs_only_in_its_val_patch_values(dataset_a: Path, warmer_val: Path) -> None:
    for name in ("stats.json", "splits/train.txt", "splits/val.txt", "splits/test.txt"):
        assert (warmer_val / name).read_bytes() == (dataset_a / name).read_bytes(), name
    a, warm = open_prepared(dataset_a), open_prepared(warmer_val)
    val, train_index = a.indices("val")[0], a.indices("train")[0]
    np.testing.assert_allclose(warm.read(val, SCALE)[2], a.read(val, SCALE)[2] + WARMER, atol=1e-3)
    np.testing.assert_array_equal(warm.read(train_index, SCALE)[2], a.read(train_index, SCALE)[2])
    assert identity_differences(dataset_identity(a), warm) == ["val patch values"]


def test_a_dataset_made_again_from_the_same_scenes_has_the_same_identity(dataset_a: Path, tmp_path: Path) -> None:
    again = remake(dataset_a, tmp_path, None)
    assert dataset_identity(open_prepared(again)) == dataset_identity(open_prepared(dataset_a))


def test_resume_onto_other_val_patch_values_is_refused(dataset_a: Path, warmer_val: Path, run_on_a: Path,
                                                      tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = copy_of(run_on_a, tmp_path)
    before = snapshot(out)
    assert run(["-q", "train", str(warmer_val), "-o", str(out), "--resume"]) == 2
    lines = error_lines(capsys)
    assert lines == [f"error: {warmer_val}: is not the dataset the run in {out} trained on ({dataset_a.resolve()}); "
                     "it differs in: val patch values (hint: resume with the run's own dataset, or start a new "
                     "run (another -o, or --overwrite))"]
    assert snapshot(out) == before


def test_resume_onto_a_moved_copy_is_accepted(dataset_a: Path, run_on_a: Path, tmp_path: Path) -> None:
    out = copy_of(run_on_a, tmp_path)
    moved = Path(shutil.copytree(dataset_a, tmp_path / "moved"))
    before = json.loads((out / CONFIG_FILE).read_text())
    assert run(["-q", "train", str(moved), "-o", str(out), "--resume"]) == 0
    assert json.loads((out / CONFIG_FILE).read_text()) == {**before, "dataset": str(moved.resolve())}


def test_a_run_recorded_without_patch_values_resumes_as_before(dataset_a: Path, warmer_val: Path, run_on_a: Path,
                                                               tmp_path: Path) -> None:
    out = copy_of(run_on_a, tmp_path)
    record = json.loads((out / CONFIG_FILE).read_text())
    identity = record["dataset_identity"]
    assert set(identity) >= {"content_train", "content_val", "content_test"}
    for name in ("train", "val", "test"):
        del identity[f"content_{name}"]  # what a run started before they were recorded holds
    (out / CONFIG_FILE).write_text(json.dumps(record))
    moved = Path(shutil.copytree(dataset_a, tmp_path / "moved"))
    assert run(["-q", "train", str(moved), "-o", str(out), "--resume"]) == 0
    # Its identity has no values to compare: a dataset with other val values is not told apart.
    assert identity_differences(identity, open_prepared(warmer_val)) == []
