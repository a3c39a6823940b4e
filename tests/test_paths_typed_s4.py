"""``prepare``, ``train`` and ``evaluate`` name their paths exactly as typed (``./ds/``,
``runs//r``), in --json lines, result lines, info lines, warnings and errors, as the other
commands do since 53f9d68: pathlib folded them (``./ds/`` -> ``ds``, ``runs//r`` -> ``runs/r``),
so scripts joining the lines to the names they passed (``jq -r .dataset``) found no match."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from groklst_cli.app import run
from pipelines.dataset import open_prepared
from pipelines.errors import InputError, TypedPath, unmistakable_path
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


# --- F13: the commonest errors named the folded path; an empty path; a literal ~ ---


def test_prepare_refuses_an_existing_dataset_naming_it_as_typed(root: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(root)
    assert run(["prepare", "scenes/s1_lst.tif", "-o", "./ds/", "--json", *PREPARE]) == 2
    assert _json(capsys)["error"] == "./ds/: output already exists (hint: pass --overwrite to replace it)"


def test_train_refuses_run_folders_naming_them_as_typed(root: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(root)
    (root / "runs" / "empty").mkdir()
    (root / "runs" / "other").mkdir()
    (root / "runs" / "other" / "notes.txt").write_text("mine")
    (root / "runs" / "afile").write_text("mine")
    assert run(["train", "./ds/", "-o", "./runs/empty/", "--resume", "--json"]) == 2
    assert _json(capsys)["error"].startswith("./runs/empty/: nothing to resume: not a groklst run directory")
    assert run(["-q", "train", "./ds/", "-o", "./runs//gone/", "--resume"]) == 2
    assert _error(capsys).startswith("error: ./runs//gone/: nothing to resume: the run directory does not exist")
    assert run(["-q", "train", "./ds/", "-o", "./runs//other/", *TRAIN]) == 2
    assert _error(capsys).startswith("error: ./runs//other/: is not empty and is not a groklst run directory")
    assert run(["-q", "train", "./ds/", "-o", "./runs//afile", *TRAIN]) == 2
    assert _error(capsys).startswith("error: ./runs//afile: exists and is not a folder")


def test_a_damaged_run_config_is_named_under_the_run_as_typed(tmp_path: Path, root: Path, monkeypatch,
                                                              capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "config.json").write_text("{not json")
    assert run(["-q", "train", str(root / "ds"), "-o", "./r//", "--resume"]) == 2
    assert _error(capsys).startswith("error: ./r//config.json: damaged: not readable JSON")


def test_a_typed_run_folder_starting_with_a_dash_is_not_read_as_an_option(root: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(root)
    (root / "-x").mkdir()
    (root / "-x" / "notes.txt").write_text("mine")
    assert run(["-q", "train", "./ds/", "-o", "-x", *TRAIN]) == 2
    assert _error(capsys).startswith("error: ./-x: is not empty and is not a groklst run directory")
    assert run(["-q", "train", "./ds/", "-o", "-x/", "--resume"]) == 2
    assert _error(capsys).startswith("error: ./-x/: nothing to resume")


def test_typed_paths_starting_with_a_dash_are_prefixed_options_are_not() -> None:
    assert unmistakable_path(TypedPath("-r")) == "./-r"
    assert unmistakable_path(Path("-r")) == "./-r"
    assert unmistakable_path("--scales") == "--scales"
    assert str(InputError(TypedPath("-r/"), "is odd")) == "./-r/: is odd"
    assert str(InputError("-o", "is empty")) == "-o: is empty"


def test_evaluate_errors_name_the_checkpoint_and_dataset_as_typed(root: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(root)
    assert run(["evaluate", "./ds/", "-c", "./runs//r/nope.pt", "--json"]) == 2
    assert _json(capsys)["error"].startswith("./runs//r/nope.pt: checkpoint file not found")
    assert run(["-q", "evaluate", "./none//", "-c", "runs/r/last.pt"]) == 2
    assert _error(capsys).startswith("error: ./none//: not a groklst prepared dataset")
    assert run(["-q", "evaluate", "./ds/", "-c", "-x.pt"]) == 2
    assert _error(capsys).startswith("error: ./-x.pt: checkpoint file not found")


@pytest.mark.parametrize("argv, named", [
    (["train", "./ds/", "-o", "", *TRAIN], "-o"),
    (["train", "", "-o", "fresh", *TRAIN], "DATASET"),
    (["prepare", "scenes/s1_lst.tif", "-o", "", *PREPARE], "-o"),
    (["prepare", "scenes/s1_lst.tif", "", "-o", "fresh", *PREPARE], "INPUTS"),
    (["prepare", "--info", ""], "--info"),
    (["prepare", "--from-groklst", "", "-o", "fresh"], "--from-groklst"),
    (["prepare", "scenes/s1_lst.tif", "-g", "", "-o", "fresh", *PREPARE], "--guidance"),
    (["prepare", "scenes/s1_lst.tif", "--dem", "", "-o", "fresh", *PREPARE], "--dem"),
    (["evaluate", "", "-c", "runs/r/last.pt"], "DATASET"),
    (["evaluate", "./ds/", "-c", ""], "-c"),
])
def test_an_empty_path_is_refused_not_read_as_the_current_folder(root: Path, monkeypatch, capsys,
                                                                 argv: list[str], named: str) -> None:
    """An unset $RUN_DIR gave ``train -o ""``, which trained into the current folder (exit 0)."""
    monkeypatch.chdir(root)
    before = sorted(p.name for p in root.iterdir())
    assert run(["-q", *argv]) == 2
    assert _error(capsys).startswith(f"error: {named}: is empty (hint: ")
    assert sorted(p.name for p in root.iterdir()) == before


def test_a_dataset_in_a_folder_literally_named_tilde(root: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    """``-o '~/ds'`` (quoted: no shell expanded it) is ./~/ds; xarray expanded the ~ of the Zarr
    store itself, writing it into the home folder, and prepare failed with an internal error."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    scenes = [str(root / "scenes" / f"s{seed}_lst.tif") for seed in (1, 2)]
    assert run(["-q", "prepare", *scenes, "-o", "~/ds", *PREPARE]) == 0
    assert capsys.readouterr().out == "~/ds\n"
    assert list(home.iterdir()) == []
    assert (tmp_path / "~" / "ds" / "data.zarr").is_dir()
    assert run(["prepare", "--info", "~/ds", "--json"]) == 0
    assert _json(capsys)["patches"] == {"train": 4, "val": 2, "test": 2}
    assert len(open_prepared(Path("~/ds")).indices("train")) == 4
