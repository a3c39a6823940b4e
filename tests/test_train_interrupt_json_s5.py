"""``groklst train --json`` stopped by Ctrl-C or SIGTERM still writes one JSON line on stdout:
where the run stands and how to resume it (QA: a pipeline reading stdout got nothing, 130/143)."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import groklst_cli.commands.train as train_command
import pipelines.train as train_module
import pipelines.train_dist as train_dist
from groklst_cli.app import run
from pipelines.run_layout import STATE
from tests.test_train import CLI_TRAIN, dataset  # noqa: F401 - dataset: a fixture

LONG = ["--iters", "100000"]  # a run that is stopped long before its end
TYPED_RUN = "./runs/r1/"  # the run folder as typed: the line names it so
PROGRAM = [sys.executable, "-m", "groklst_cli"]  # the resume command starts so too


def _groklst(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([*PROGRAM, *args], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for(check, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _stopped(process: subprocess.Popen[str], signum: int) -> tuple[int, dict, str]:
    """Send ``signum``; the exit status, the one JSON line on stdout, and stderr."""
    process.send_signal(signum)
    out, err = process.communicate(timeout=120)
    lines = out.splitlines()
    assert len(lines) == 1, (out, err)
    return process.returncode, json.loads(lines[0]), err


# SIGINT ends the process as killed by it (a shell's $? 130), so a shell loop stops (s6)
@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, -signal.SIGINT), (signal.SIGTERM, 143)])
def test_a_stopped_run_says_where_it_stands_and_resumes_from_it(dataset: Path, tmp_path: Path,  # noqa: F811
                                                                signum: int, status: int) -> None:
    process = _groklst("train", str(dataset), "-o", TYPED_RUN, "--json", *LONG, *CLI_TRAIN, cwd=tmp_path)
    _wait_for(lambda: (tmp_path / "runs/r1" / STATE).is_file(), "the first save")
    code, line, err = _stopped(process, signum)
    assert code == status
    saved = torch.load(tmp_path / "runs/r1" / STATE, weights_only=True)["iteration"]
    name = signal.Signals(signum).name
    assert (line["status"], line["signal"], line["run"], line["output"]) == ("interrupted", name, TYPED_RUN, TYPED_RUN)
    assert line["input"] == str(dataset)
    assert line["saved_iteration"] == saved and saved % 2 == 0 and line["iteration"] >= saved
    assert (line["state"], line["last_checkpoint"]) == ("./runs/r1/state.pt", "./runs/r1/last.pt")
    assert line["resume"] == f"{shlex.join(PROGRAM)} train {shlex.quote(str(dataset))} -o ./runs/r1/ --resume"
    assert f"--resume restarts from iteration {saved}" in line["error"]
    # the state is kept (the line says how to resume), so nothing is said to be removed; fit's own
    # "stopped after N iteration(s)" warning comes only where the stop lands inside fit()
    assert err.splitlines()[-1] == {signal.SIGINT: "error: interrupted",
                                    signal.SIGTERM: "error: terminated (SIGTERM)"}[signum]
    # The reported command resumes the run from the reported state.
    resumed = subprocess.run([*shlex.split(line["resume"]),
                              "--max-seconds", "2", "--json"], cwd=tmp_path, text=True, capture_output=True)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["status"] == "ok" and summary["run"] == TYPED_RUN and summary["iteration"] > saved


def test_a_run_stopped_before_its_first_save_says_there_is_nothing_to_resume(dataset: Path,  # noqa: F811
                                                                            tmp_path: Path) -> None:
    process = _groklst("train", str(dataset), "-o", TYPED_RUN, "--json", *LONG, *CLI_TRAIN,
                       "--val-every", "100000", cwd=tmp_path)
    assert process.stderr is not None
    _wait_for(lambda: "training mocolsk-lite" in process.stderr.readline(), "the training to start")
    time.sleep(0.5)
    code, line, _ = _stopped(process, signal.SIGINT)
    assert code == -signal.SIGINT  # killed by it: a shell's 130
    assert (line["status"], line["signal"], line["run"]) == ("interrupted", "SIGINT", TYPED_RUN)
    assert (line["saved_iteration"], line["state"], line["last_checkpoint"], line["resume"]) == (None,) * 4
    assert "before the run's first save" in line["error"]
    assert not (tmp_path / "runs/r1").exists()  # nothing was saved: the folder it made is gone


def test_without_json_a_stopped_run_writes_no_json_line(dataset: Path, tmp_path: Path) -> None:  # noqa: F811
    process = _groklst("train", str(dataset), "-o", TYPED_RUN, *LONG, *CLI_TRAIN, cwd=tmp_path)
    _wait_for(lambda: (tmp_path / "runs/r1" / STATE).is_file(), "the first save")
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 143
    assert "{" not in out  # nothing, or the saved checkpoint's path when the stop waited for a save


# In-process, deterministic: the signal is sent by a patched step at a chosen point.
SHORT = ["--iters", "2", *CLI_TRAIN]


def _signalled_after(monkeypatch: pytest.MonkeyPatch, owner: object, name: str, signum: int) -> None:
    """Patch ``owner.name`` to send ``signum`` to this process once the real one has returned."""
    real = getattr(owner, name)

    def then_signal(*args: object, **kwargs: object) -> object:
        value = real(*args, **kwargs)
        os.kill(os.getpid(), signum)
        return value

    monkeypatch.setattr(owner, name, then_signal)


def _one_line(capsys: pytest.CaptureFixture[str]) -> dict:
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 1, out
    return json.loads(lines[0])


@pytest.mark.parametrize(("owner", "name", "signum", "status"), [
    (train_dist, "shutdown", signal.SIGINT, 0),  # fit() returned; the report not written yet
    (train_command, "_report", signal.SIGTERM, 0),  # the stop waits for the ok line, written
], ids=["in-shutdown", "in-report"])
def test_a_stop_after_the_run_saved_its_end_keeps_the_ok_line(dataset: Path, tmp_path: Path,  # noqa: F811
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str],
                                                               owner: object, name: str, signum: int,
                                                               status: int) -> None:
    """Review of ec9a1c9: a finished run was reported as stopped before its first save ("start
    it again", resume null), or with a second line after its ok line. The run finished: exit 0
    (s6 f1; it was 130/143, which a script read as "no model")."""
    _signalled_after(monkeypatch, owner, name, signum)
    monkeypatch.chdir(tmp_path)
    assert run(["train", str(dataset), "-o", TYPED_RUN, "--json", *SHORT]) == status
    line = _one_line(capsys)
    assert (line["status"], line["run"], line["iteration"], line["finished"]) == ("ok", TYPED_RUN, 2, True)
    assert (line["best_checkpoint"], line["last_checkpoint"]) == ("./runs/r1/best.pt", "./runs/r1/last.pt")
    assert torch.load(tmp_path / "runs/r1" / STATE, weights_only=True)["iteration"] == 2


def test_the_resume_command_of_a_dataset_named_like_an_option_can_be_pasted(
        dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    """``train -- -ds`` stopped after its first save: its resume command named ``-ds``, which
    the pasted command read as options (``No such option: -d``)."""
    (tmp_path / "-ds").symlink_to(dataset)
    monkeypatch.chdir(tmp_path)
    with monkeypatch.context() as patched:
        _signalled_after(patched, train_module._Run, "checkpoint", signal.SIGINT)
        assert run(["train", "--json", "-o", "r1", "--iters", "4", *CLI_TRAIN, "--", "-ds"]) == 130
    line = _one_line(capsys)
    assert (line["status"], line["saved_iteration"]) == ("interrupted", 2)
    assert line["resume"] == "groklst train ./-ds -o r1 --resume"
    assert run([*shlex.split(line["resume"])[1:], "--json"]) == 0
    summary = _one_line(capsys)
    assert (summary["status"], summary["iteration"], summary["finished"]) == ("ok", 4, True)
