"""README walkthrough findings: a fitted checkpoint's card says what it is meant for, a missing
``evaluate -c`` checkpoint has a hint, and resuming a finished run says there is nothing to train."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from groklst_cli.app import run
from pipelines.checkpoint import Checkpoint
from pipelines.checkpoint_card import checkpoint_card, format_card
from pipelines.run_layout import BEST, LAST
from tests.test_faults_downscale import snapshot
from tests.test_faults_train import copy_of, saved_run  # noqa: F401 - saved_run: a fixture
from tests.test_fit_checkpoint_publish import command
from tests.test_fit_small_fixes import scene
from tests.test_train import dataset  # noqa: F401 - dataset: a fixture

# ---------------------------------------------------------------- 1. a fitted network's card


def test_a_fitted_checkpoint_card_says_the_scene_resolution_it_is_meant_for(tmp_path: Path, capsys) -> None:
    """The x2 fit on a 20 m LST with 10 m guidance trains on 40 m -> 20 m pairs, for 20 m -> 10 m."""
    lst_path, ckpt = scene(tmp_path), tmp_path / "ck.pt"
    assert run(command(lst_path, tmp_path / "fit.tif", ckpt)) == 0
    capsys.readouterr()
    assert run(["checkpoint-info", str(ckpt)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[4:7] == ["scale       x2", "resolution  trained on LST at 40 m -> output at 20 m",
                          f"meant for   LST at 20 m -> output at 10 m (the scene it was fitted on, {lst_path})"]
    assert run(["checkpoint-info", str(ckpt), "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["meant_for"] == {"lst_resolution": 20.0, "output_resolution": 10.0, "scene": str(lst_path)}
    assert (card["lr_resolution"], card["hr_resolution"]) == (40.0, 20.0)


def test_the_walkthrough_x4_fit_is_meant_for_120_m_to_30_m(tmp_path: Path) -> None:
    """The README's muenster-x4.pt: fitted on a 120 m LST, so its pairs were 480 m -> 120 m."""
    path = tmp_path / "muenster-x4.pt"
    Checkpoint.untrained("bicubic", 4, ["red"], hr_resolution=120.0, hr_resolution_units="m",
                         config={"fitted_on": "muenster_lst.tif"}).save(path)
    lines = format_card(checkpoint_card(path))
    assert lines[5:7] == ["resolution  trained on LST at 480 m -> output at 120 m",
                          "meant for   LST at 120 m -> output at 30 m (the scene it was fitted on, muenster_lst.tif)"]


def test_a_trained_checkpoint_card_has_no_meant_for_line(tmp_path: Path) -> None:
    path = tmp_path / "trained.pt"
    Checkpoint.untrained("bicubic", 3, ["red"], hr_resolution=10.0, hr_resolution_units="m").save(path)
    card = checkpoint_card(path)
    assert card["meant_for"] is None
    assert not any(line.startswith("meant for") for line in format_card(card))


# ---------------------------------------------------------------- 2. a missing checkpoint


def test_evaluate_with_a_missing_checkpoint_says_where_to_look(dataset: Path, saved_run: Path,  # noqa: F811
                                                               tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(["evaluate", str(dataset), "-c", "nope.pt"]) == 2
    assert capsys.readouterr().err == ("error: nope.pt: checkpoint file not found (hint: check the path; "
                                       f"a training run writes RUN/{BEST} and RUN/{LAST})\n")
    typo = saved_run / "bets.pt"  # the run's checkpoints are named, not its training state
    assert run(["evaluate", str(dataset), "-c", str(typo)]) == 2
    assert capsys.readouterr().err == (f"error: {typo}: checkpoint file not found (hint: check the path; "
                                       f"{saved_run} holds {BEST}, {LAST})\n")


# ---------------------------------------------------------------- 3. resuming a finished run


@pytest.mark.parametrize("as_json", [False, True])
def test_resuming_a_finished_run_says_there_is_nothing_to_train(dataset: Path, saved_run: Path,  # noqa: F811
                                                                 tmp_path: Path, capsys, as_json: bool) -> None:
    out = copy_of(saved_run, tmp_path)
    before = snapshot(out)
    assert run(["train", str(dataset), "-o", str(out), "--resume", *(["--json"] if as_json else [])]) == 0
    captured = capsys.readouterr()
    assert captured.err == "run already at 2 of 2 iterations: nothing to train\n"
    if as_json:
        line = json.loads(captured.out)
        assert (line["status"], line["iteration"], line["finished"]) == ("ok", 2, True)
    else:
        assert captured.out == f"{out / BEST}\n"
    assert snapshot(out) == before  # checkpoints, state, metrics and config byte for byte
