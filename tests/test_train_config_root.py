"""A config file's [train] table beside top-level settings, and the messages of a stopped or
damaged run (QA: top-level keys were dropped silently; a truncated state.pt said only its
exception's type; a Ctrl-C did not say where --resume restarts)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch

from pipelines.errors import GroklstWarning, InputError
from pipelines.run_layout import RUN_RECORD_KEYS, STATE
from pipelines.train import fit
from pipelines.train_config import read_config_file
from tests.test_faults_train import saved_run  # noqa: F401 - a fixture
from tests.test_train import FakeSource, config, dataset  # noqa: F401 - dataset: a fixture

TRAIN_TABLE = '[train]\nmodel = "mocolsk-lite"\nscale = 2\n'


def test_top_level_settings_beside_a_train_table_are_refused_naming_them(tmp_path: Path) -> None:
    toml = tmp_path / "train.toml"
    toml.write_text("iters = 2\nvall_every = 1\n" + TRAIN_TABLE)
    with pytest.raises(InputError) as caught:
        read_config_file(toml)
    assert str(caught.value) == (f"{toml}: settings outside [train]: iters, vall_every "
                                 "(hint: put them inside the [train] table, or drop the [train] header)")


def test_another_table_beside_the_train_table_is_refused(tmp_path: Path) -> None:
    toml = tmp_path / "train.toml"
    toml.write_text(TRAIN_TABLE + "[model_kwargs]\nnum_stages = 1\n")  # meant as [train.model_kwargs]
    with pytest.raises(InputError, match=r"settings outside \[train\]: model_kwargs \(hint"):
        read_config_file(toml)


def test_yaml_settings_beside_train_are_refused_with_a_yaml_hint(tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    yaml_file = tmp_path / "train.yaml"
    yaml_file.write_text("iters: 2\ntrain:\n  scale: 2\n")
    with pytest.raises(InputError) as caught:
        read_config_file(yaml_file)
    assert str(caught.value) == (f"{yaml_file}: settings outside [train]: iters (hint: indent them under "
                                 "train:, or drop the train: line and unindent its settings)")


def test_a_runs_own_config_json_still_configures_a_new_run(saved_run: Path) -> None:
    """Review: a run's config.json (its train table beside the run's record: format, dataset,
    bands, ...) was refused as 'settings outside [train]' with a TOML hint."""
    recorded = json.loads((saved_run / "config.json").read_text())
    assert set(recorded) - {"train"} <= set(RUN_RECORD_KEYS)
    settings = read_config_file(saved_run / "config.json")
    # its default schedule (stretch_last_cycle true) is left for the new run to derive from its iters
    assert recorded["train"]["stretch_last_cycle"] is True
    derived = {"restart_every", "stretch_last_cycle"}
    assert settings == {**{k: v for k, v in recorded["train"].items() if k not in derived},
                        "device": recorded["requested_device"]} and settings["iters"] == 2


def test_a_runs_config_json_asks_for_the_device_the_run_asked_for(saved_run: Path, tmp_path: Path) -> None:
    """Review: a run that asked for auto and got cpu (or cuda:0) pinned the new run to it."""
    recorded = json.loads((saved_run / "config.json").read_text())
    recorded["train"]["device"], recorded["requested_device"] = "cuda:0", "auto"
    (tmp_path / "config.json").write_text(json.dumps(recorded))
    assert read_config_file(tmp_path / "config.json")["device"] == "auto"


def test_settings_added_beside_a_runs_record_are_still_refused(saved_run: Path, tmp_path: Path) -> None:
    """Review: a run's config.json with iters and lr added at the top level trained without them."""
    recorded = json.loads((saved_run / "config.json").read_text())
    (tmp_path / "e.json").write_text(json.dumps({**recorded, "iters": 6, "lr": 0.5}))
    with pytest.raises(InputError, match=r"settings outside \[train\]: iters, lr \(hint"):
        read_config_file(tmp_path / "e.json")


def test_json_settings_beside_train_get_a_json_hint(tmp_path: Path) -> None:
    path = tmp_path / "train.json"
    path.write_text(json.dumps({"iters": 2, "train": {"scale": 2}}))
    with pytest.raises(InputError) as caught:
        read_config_file(path)
    assert str(caught.value) == (f"{path}: settings outside [train]: iters (hint: put them inside the "
                                 '"train" object, or drop it and keep its settings at the top level)')


def test_a_train_table_alone_and_a_root_alone_still_read(tmp_path: Path) -> None:
    table, root = tmp_path / "table.toml", tmp_path / "root.toml"
    table.write_text(TRAIN_TABLE + "iters = 2\n[train.model_kwargs]\nnum_stages = 1\n")
    root.write_text('model = "mocolsk-lite"\nscale = 2\niters = 2\nmodel_kwargs = {num_stages = 1}\n')
    expected = {"model": "mocolsk-lite", "scale": 2, "iters": 2, "model_kwargs": {"num_stages": 1}}
    assert read_config_file(table) == expected
    assert read_config_file(root) == expected


def test_a_truncated_state_names_the_cause_and_what_to_do(tmp_path: Path) -> None:
    fit(FakeSource(), config(iters=2), tmp_path)
    state = (tmp_path / STATE).read_bytes()
    (tmp_path / STATE).write_bytes(state[: len(state) // 2])
    with pytest.raises(InputError) as caught:
        fit(FakeSource(), config(iters=4), tmp_path, resume=True)
    assert str(caught.value) == (
        f"{tmp_path / STATE}: cannot read the training state: truncated or damaged (PytorchStreamReader "
        "failed reading zip archive: failed finding central directory) (hint: --resume cannot continue "
        "from last.pt (it holds no optimiser state): rerun with --overwrite to start again, or restore "
        "state.pt from a copy)")


def interrupt_at(iteration: int):  # noqa: ANN201 - an on_step hook
    """An ``on_step`` hook that raises KeyboardInterrupt (a Ctrl-C) after ``iteration`` steps."""
    def hook(done: int, loss: float) -> None:
        if done == iteration:
            raise KeyboardInterrupt
    return hook


def stopped_warnings(run_dir: Path, resume: bool, iteration: int, **settings: object) -> list[str]:
    """The GroklstWarnings of a run in ``run_dir`` stopped by a Ctrl-C after ``iteration`` steps."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(KeyboardInterrupt):
            fit(FakeSource(), config(**settings), run_dir, resume=resume, on_step=interrupt_at(iteration))
    return [str(w.message) for w in caught if issubclass(w.category, GroklstWarning)]


def test_a_ctrl_c_says_from_which_iteration_resume_restarts(tmp_path: Path) -> None:
    said = stopped_warnings(tmp_path, False, 5, iters=8, val_every=2)
    assert said == ["stopped after 5 iteration(s): --resume restarts from iteration 4, the last save"]
    assert torch.load(tmp_path / STATE, weights_only=True)["iteration"] == 4  # what it said
    said = stopped_warnings(tmp_path, True, 5, iters=8, val_every=4)  # resumed at 4, no save since
    assert said == ["stopped after 5 iteration(s): --resume restarts from iteration 4, the last save"]


def test_a_ctrl_c_before_the_first_save_says_there_is_nothing_to_resume(tmp_path: Path) -> None:
    said = stopped_warnings(tmp_path, False, 1, iters=8, val_every=4)
    assert said == ["stopped after 1 iteration(s), before the run's first save: --resume cannot continue "
                    "it; start it again with the same command"]
    assert not (tmp_path / STATE).exists()
