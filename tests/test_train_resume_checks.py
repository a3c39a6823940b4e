"""`groklst train`: a resume keeps the run's number of processes, and a new run's dataset and
settings are refused before its run directory is.

Every refusal asserts the exit status, the one error line, and that the run directory is byte
for byte as it was.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import pipelines.train_dist as train_dist
from groklst_cli.app import run
from pipelines.dataset import open_prepared
from pipelines.errors import InputError
from pipelines.run_layout import CONFIG_FILE, STATE
from pipelines.train import fit
from pipelines.train_dist import DistContext
from tests.test_faults_downscale import snapshot
from tests.test_faults_train import copy_of, saved_run, train  # noqa: F401 - saved_run: a fixture
from tests.test_train import FakeSource, _free_port, config, dataset  # noqa: F401 - dataset: a fixture


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, lines
    return lines[0]


def recorded_processes(out: Path, count: int | None) -> None:
    """Make the run's config.json say it was started with ``count`` processes (None: not recorded)."""
    record = json.loads((out / CONFIG_FILE).read_text())
    record.pop("world_size")
    (out / CONFIG_FILE).write_text(json.dumps(record if count is None else {**record, "world_size": count}))


# ------------------------------------------------------------------ the number of processes


def test_the_run_records_its_number_of_processes(saved_run: Path) -> None:
    assert json.loads((saved_run / CONFIG_FILE).read_text())["world_size"] == 1
    assert torch.load(saved_run / STATE, map_location="cpu", weights_only=True)["world_size"] == 1


def test_resume_with_more_processes_is_refused(dataset: Path, saved_run: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    out = copy_of(saved_run, tmp_path)
    before = snapshot(out)
    monkeypatch.setattr(train_dist, "init_distributed", lambda device="auto": DistContext(world_size=2))
    assert run(["-q", "train", str(dataset), "-o", str(out), "--resume"]) == 2
    assert error_line(capsys) == (f"error: torchrun --nproc-per-node: the run in {out} was started with "
                                  "1 process, not 2: another count trains on another data order "
                                  "(hint: resume it without torchrun: 1 process in all)")
    assert snapshot(out) == before


def test_resume_with_fewer_processes_is_refused_before_the_batch(dataset: Path, saved_run: Path, tmp_path: Path,
                                                                 capsys) -> None:
    """The batch check's hint would change the batch size, which a resume keeps: the count comes first."""
    out = copy_of(saved_run, tmp_path)
    recorded_processes(out, 16)
    before = snapshot(out)
    assert run(["-q", "train", str(dataset), "-o", str(out), "--resume"]) == 2
    assert error_line(capsys) == (f"error: torchrun --nproc-per-node: the run in {out} was started with "
                                  "16 processes, not 1: another count trains on another data order "
                                  "(hint: resume it with torchrun --nproc-per-node 16: 16 processes in all)")
    assert snapshot(out) == before


def test_a_run_recorded_before_its_process_count_resumes(dataset: Path, saved_run: Path, tmp_path: Path) -> None:
    out = copy_of(saved_run, tmp_path)
    recorded_processes(out, None)
    before = snapshot(out)
    assert run(["-q", "train", str(dataset), "-o", str(out), "--resume"]) == 0
    assert snapshot(out) == before  # finished: nothing to train, nothing rewritten


def test_fit_refuses_a_state_saved_with_another_process_count(tmp_path: Path) -> None:
    """The library's resume checks the count the state was saved with, for callers of fit."""
    source = FakeSource()
    fit(source, config(iters=2, restart_every=2), tmp_path)  # one schedule for both: the count is what differs
    state = torch.load(tmp_path / STATE, map_location="cpu", weights_only=True)
    torch.save({**state, "world_size": 4}, tmp_path / STATE)
    with pytest.raises(InputError) as refused:
        fit(source, config(iters=4, restart_every=2), tmp_path, resume=True)
    assert str(refused.value) == (f"{tmp_path / STATE}: the run was trained with 4 process(es), not 1: another "
                                  "count trains on another data order (hint: resume it with 4 process(es) in all)")
    del state["world_size"]  # a state saved before the count was: resumed as before
    torch.save(state, tmp_path / STATE)
    assert fit(source, config(iters=4, restart_every=2), tmp_path, resume=True).iteration == 4


def test_torchrun_resume_of_a_single_process_run_is_refused(dataset: Path, saved_run: Path,
                                                            tmp_path: Path) -> None:
    """Two gloo ranks: the count comes from the launch, and each rank refuses alike."""
    out = copy_of(saved_run, tmp_path)
    before = snapshot(out)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                "--master-port", str(_free_port()), "-m", "groklst_cli", "-q"]
    done = subprocess.run(launcher + ["train", str(dataset), "-o", str(out), "--resume"],
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=240)
    assert done.returncode != 0
    errors = {line for line in done.stderr.splitlines() if line.startswith("error:")}
    assert errors == {f"error: torchrun --nproc-per-node: the run in {out} was started with 1 process, not 2: "
                      "another count trains on another data order (hint: resume it without torchrun: "
                      "1 process in all)"}, done.stderr[-3000:]
    assert snapshot(out) == before


# ------------------------------------------- a new run: the dataset first, then its folder


def not_a_dataset(tmp_path: Path) -> Path:
    folder = tmp_path / "scenes"
    folder.mkdir()
    return folder


def used_folder(kind: str, saved_run: Path, tmp_path: Path) -> Path:
    """A run directory that a new run may not use: a saved run, a folder of the user's, a file."""
    if kind == "saved run":
        return copy_of(saved_run, tmp_path)
    out = tmp_path / "run"
    if kind == "a file":
        out.write_text("notes")
    else:
        out.mkdir()
        (out / "notes.txt").write_text("lr sweep")
    return out


def contents(out: Path) -> dict[str, bytes] | bytes:
    return snapshot(out) if out.is_dir() else out.read_bytes()


# what is wrong with the dataset or the settings -> the line that names it
DATASET_PROBLEMS = {
    "missing dataset": (lambda ds, tmp: tmp / "nowhere", [],
                        "{ds}: not a groklst prepared dataset (hint: create one with groklst prepare)"),
    "not a dataset": (lambda ds, tmp: not_a_dataset(tmp), [],
                      "{ds}: not a groklst prepared dataset (missing data.zarr, stats.json, info.json, splits) "
                      "(hint: create one with groklst prepare)"),
    "scale": (lambda ds, tmp: ds, ["--scale", "4"],
              "--scale: the dataset has scales [2], not x4 (hint: prepare it with that scale in --scales)"),
    "crop": (lambda ds, tmp: ds, ["--crop", "48"],
             "--crop: crop 48 px is larger than the 24 px patches (hint: use a multiple of 2 up to 24)"),
    "crop multiple": (lambda ds, tmp: ds, ["--crop", "13"],
                      "--crop: crop 13 must be a multiple of the scale 2 (hint: e.g. crop 12)"),
    "model": (lambda ds, tmp: ds, ["--model", "rsag"],
              "--model: rsag works at x4, x8, x16 only, not x2 (hint: train a model that works at x2 "
              "(groklst models lists each one's scales))"),
    "batch": (lambda ds, tmp: ds, ["--batch-size", "999"],
              "--batch-size: a batch of 999 is more than the {patches} training patches "
              "(hint: use --batch-size {patches} or less, or prepare more patches)"),
}


@pytest.mark.parametrize("problem", list(DATASET_PROBLEMS))
@pytest.mark.parametrize("folder", ["saved run", "other files", "a file"])
def test_a_dataset_problem_is_named_before_the_run_directory(problem: str, folder: str, dataset: Path,
                                                             saved_run: Path, tmp_path: Path, capsys) -> None:
    """QA: "run directory is not empty" came first, so the dataset was only refused on the rerun."""
    where, extra, expected = DATASET_PROBLEMS[problem]
    ds = where(dataset, tmp_path)
    out = used_folder(folder, saved_run, tmp_path)
    before = contents(out)
    assert train(ds, out, *extra) == 2
    patches = len(open_prepared(dataset).indices("train"))
    assert error_line(capsys) == "error: " + expected.format(ds=ds, patches=patches)
    assert contents(out) == before


def test_the_run_directory_is_named_once_the_dataset_is_right(dataset: Path, saved_run: Path, tmp_path: Path,
                                                             capsys) -> None:
    out = copy_of(saved_run, tmp_path)
    before = snapshot(out)
    assert train(dataset, out) == 2
    assert error_line(capsys) == (f"error: {out}: run directory is not empty: it holds a finished run (2 of 2 "
                                  "iterations; best.pt and last.pt are there) (hint: choose another -o for a new "
                                  "run, also one with more --iters, or pass --overwrite to replace it)")
    assert snapshot(out) == before



@pytest.mark.parametrize("resume", [True, False])
def test_a_damaged_config_is_named_not_called_another_folder(dataset: Path, saved_run: Path, tmp_path: Path,
                                                             capsys, resume: bool) -> None:
    """QA: a run whose config.json was cut short was 'not a groklst run directory' (--resume) or
    'not empty and not a run' (a new start): the file at fault was never named."""
    out = copy_of(saved_run, tmp_path)
    config_file = out / CONFIG_FILE
    config_file.write_text(config_file.read_text()[:40])
    before = snapshot(out)
    assert train(dataset, out, *(["--resume"] if resume else [])) == 2
    line = error_line(capsys)
    assert line.startswith(f"error: {config_file}: damaged: not readable JSON ("), line
    assert line.endswith("(hint: restore config.json from a copy, or start the run again in a new folder)")
    assert snapshot(out) == before
