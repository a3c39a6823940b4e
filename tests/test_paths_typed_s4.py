"""``prepare``, ``train`` and ``evaluate`` name their paths exactly as typed (``./ds/``,
``runs//r``), in --json lines, result lines, info lines, warnings and errors, as the other
commands do since 53f9d68: pathlib folded them (``./ds/`` -> ``ds``, ``runs//r`` -> ``runs/r``),
so scripts joining the lines to the names they passed (``jq -r .dataset``) found no match."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from groklst_cli.app import run
from pipelines.run_layout import STATE
from pipelines.sample_scene import generate_scene, write_scene
from tests.test_faults_prepare import SMALL, kelvin_field, scene_with_lst

TINY = {"base_dim": 8, "num_stages": 2, "dmlp_hidden": 8, "recon_lr_blocks": 1}
PREPARE = ["--scales", "2", "--patch", "24", "--stride", "12", "--split-block", "24"]
TRAIN = ["--model", "mocolsk-lite", "--scale", "2", "--iters", "2", "--batch-size", "1", "--crop", "12",
         "--val-every", "2", "--device", "cpu", "--model-kwargs", json.dumps(TINY)]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working folder with two generated scenes under ``scenes/``, prepared into ``ds`` and
    trained into ``runs/r`` (two iterations of a tiny model)."""
    root = tmp_path_factory.mktemp("typed")
    scenes = [str(write_scene(generate_scene((48, 48), seed=seed), root / "scenes", name=f"s{seed}")[0])
              for seed in (1, 2)]
    assert run(["-q", "prepare", *scenes, "-o", str(root / "ds"), *PREPARE]) == 0
    assert run(["-q", "train", str(root / "ds"), "-o", str(root / "runs" / "r"), *TRAIN]) == 0
    return root


def _json(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out)


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    [line] = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    return line


def test_prepare_names_the_scene_and_dataset_as_typed(root: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(root)
    assert run(["prepare", "./scenes//s1_lst.tif", "-o", "./new/", "--json", *PREPARE]) == 0
    captured = capsys.readouterr()
    line = json.loads(captured.out)
    assert (line["input"], line["output"], line["dataset"]) == ("./scenes//s1_lst.tif", "./new/", "./new/")
    assert captured.err.splitlines()[-1].startswith("./new/: ")
    assert run(["-q", "prepare", "./scenes/s2_lst.tif", "-o", "./other//", *PREPARE]) == 0
    assert capsys.readouterr().out == "./other//\n"


def test_prepare_info_names_the_dataset_as_typed(root: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(root)
    assert run(["prepare", "--info", "./ds/", "--json"]) == 0
    line = _json(capsys)
    assert (line["input"], line["path"]) == ("./ds/", "./ds/")


def test_prepare_celsius_warning_names_the_scene_as_typed(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    scene_with_lst(tmp_path / "d", kelvin_field() - 273.15)
    assert run(["prepare", "./d//scene_lst.tif", "-o", "out", *SMALL]) == 0
    warning = [line for line in capsys.readouterr().err.splitlines() if "degrees Celsius" in line]
    assert warning == ["warning: ./d//scene_lst.tif: LST looks like degrees Celsius; converted to Kelvin "
                       "(--units celsius says so and silences this)"]


def test_train_names_the_run_and_its_checkpoints_as_typed(root: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(root)
    assert run(["-q", "train", "./ds/", "-o", "./t//", "--json", *TRAIN]) == 0
    line = _json(capsys)
    assert (line["input"], line["output"], line["run"]) == ("./ds/", "./t//", "./t//")
    assert (line["best_checkpoint"], line["last_checkpoint"]) == ("./t//best.pt", "./t//last.pt")


def test_train_errors_name_the_run_as_typed(root: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(root)
    assert run(["-q", "train", "./ds/", "-o", "runs//r", *TRAIN]) == 2
    assert _error(capsys).startswith("error: runs//r: run directory is not empty: it holds a finished run")
    assert run(["-q", "train", "./ds/", "-o", "runs//r/", "--resume", "--iters", "3"]) == 2
    assert "the run in runs//r/ was started with iters=2, not 3" in _error(capsys)


def test_a_damaged_state_is_named_under_the_run_as_typed(root: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(root)
    assert run(["-q", "train", "./ds/", "-o", "./d//", *TRAIN, "--iters", "4", "--max-seconds", "1e-9"]) == 0
    capsys.readouterr()
    (root / "d" / STATE).write_bytes(b"not a state")
    assert run(["-q", "train", "./ds/", "-o", "./d//", "--resume"]) == 2
    assert _error(capsys).startswith("error: ./d//state.pt: cannot read the training state")


def test_evaluate_names_the_dataset_and_checkpoint_as_typed(root: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(root)
    assert run(["-q", "evaluate", "./ds/", "-c", "runs//r/last.pt", "--json", "--baselines", ""]) == 0
    line = _json(capsys)
    assert (line["input"], line["dataset"]) == ("./ds/", "./ds/")
    assert [row["model"] for row in line["rows"]] == ["mocolsk-lite (last.pt)"]
