"""``groklst train`` stopped (Ctrl-C, SIGTERM) near the end of its run: a run whose last save is
renamed into place finished (exit 0, its checkpoint on stdout, no "outputs were removed"); any
other stop is interrupted (130/143) and says the command that resumes it, with --max-seconds
(review of 12081a0, s6 f1)."""

from __future__ import annotations

import json
import os
import shlex
import signal
from pathlib import Path

import pytest
import torch

import pipelines.train as train_module
import pipelines.train_dist as train_dist
from groklst_cli.app import run
from pipelines.run_layout import BEST, LAST, STATE
from tests.test_train import CLI_TRAIN, dataset  # noqa: F401 - dataset: a fixture

RUN = "r1"


def _signal_after(monkeypatch: pytest.MonkeyPatch, owner: object, name: str, signum: int,
                  at: int | None = None) -> None:
    """Patch ``owner.name`` to send ``signum`` to this process once the real one has returned
    (a ``_Run`` method: only when the run is at iteration ``at``, if given)."""
    real = getattr(owner, name)

    def then_signal(*args: object, **kwargs: object) -> object:
        value = real(*args, **kwargs)
        if at is None or getattr(args[0], "iteration", None) == at:
            os.kill(os.getpid(), signum)
        return value

    monkeypatch.setattr(owner, name, then_signal)


def _train(dataset: Path, iters: int, *extra: str) -> int:  # noqa: F811
    return run(["train", str(dataset), "-o", RUN, "--iters", str(iters), *CLI_TRAIN, *extra])


def _saved_iteration(tmp_path: Path) -> int:
    return torch.load(tmp_path / RUN / STATE, weights_only=True)["iteration"]


def _assert_finished(tmp_path: Path, capsys: pytest.CaptureFixture[str], iters: int) -> None:
    """Exit 0 was asserted; the checkpoint's path alone on stdout, no error, the run whole."""
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"{RUN}/{BEST}"], (out, err)
    assert "error" not in err and "removed" not in err and "--resume" not in err, err
    assert all((tmp_path / RUN / name).is_file() for name in (BEST, LAST, STATE))
    assert _saved_iteration(tmp_path) == iters


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_a_stop_during_the_last_save_leaves_a_finished_run(dataset: Path, tmp_path: Path,  # noqa: F811
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Item 1: SIGTERM while the last save was renamed into place printed its path, then 143."""
    _signal_after(monkeypatch, train_module._Run, "write_record", signal.SIGTERM)  # within the renames
    assert _train(dataset, 2) == 0
    _assert_finished(tmp_path, capsys, 2)


def test_a_stop_during_an_earlier_save_prints_no_checkpoint_and_says_how_to_resume(
        dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    """Item 1, the other side: a run stopped at its first save (of 4 iterations) is no model."""
    _signal_after(monkeypatch, train_module._Run, "write_record", signal.SIGTERM)
    assert _train(dataset, 4) == 143
    out, err = capsys.readouterr()
    assert out == ""
    assert f"groklst train {shlex.quote(str(dataset))} -o {RUN} --resume" in err
    assert "error: terminated (SIGTERM)" in err
    assert _saved_iteration(tmp_path) == 2


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_after_fit_returned_is_no_error(dataset: Path, tmp_path: Path,  # noqa: F811
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str], signum: int) -> None:
    """Item 2: 'error: interrupted; unfinished outputs were removed' (130/143) for a run kept whole."""
    _signal_after(monkeypatch, train_dist, "shutdown", signum)
    assert _train(dataset, 2) == 0
    _assert_finished(tmp_path, capsys, 2)


def test_a_stop_in_fit_after_its_last_save_is_a_finished_run(dataset: Path, tmp_path: Path,  # noqa: F811
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Item 3: reported as interrupted, with a resume from iteration 2 of 2 that does nothing."""
    _signal_after(monkeypatch, train_module._Run, "checkpoint", signal.SIGTERM, at=2)
    assert _train(dataset, 2, "--json") == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert (line["status"], line["iteration"], line["finished"], line["best_checkpoint"]) == ("ok", 2, True, f"{RUN}/{BEST}")
    assert _saved_iteration(tmp_path) == 2


def test_a_stop_in_fit_after_its_last_save_without_json(dataset: Path, tmp_path: Path,  # noqa: F811
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    _signal_after(monkeypatch, train_module._Run, "checkpoint", signal.SIGINT, at=2)
    assert _train(dataset, 2) == 0
    _assert_finished(tmp_path, capsys, 2)


@pytest.mark.parametrize("as_json", [True, False])
def test_the_resume_command_keeps_max_seconds(dataset: Path, tmp_path: Path,  # noqa: F811
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str], as_json: bool) -> None:
    """Item 4: --max-seconds was left out of the resume command, so the resumed run had no limit."""
    _signal_after(monkeypatch, train_module._Run, "checkpoint", signal.SIGTERM, at=2)
    assert _train(dataset, 4, "--max-seconds", "900", *(["--json"] if as_json else [])) == 143
    out, err = capsys.readouterr()
    command = f"groklst train {shlex.quote(str(dataset))} -o {RUN} --resume --max-seconds 900"
    if as_json:
        assert json.loads(out)["resume"] == command
    else:
        assert out == "" and command in err
    assert _saved_iteration(tmp_path) == 2
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    assert run(shlex.split(command)[1:]) == 0
    assert _saved_iteration(tmp_path) == 4
