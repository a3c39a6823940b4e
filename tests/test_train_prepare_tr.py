"""QA fixTR: a new run onto a finished run says it is finished (``--resume`` has nothing left to
train there), and a ``prepare --json`` error line of several scenes' product folders names no input."""

from __future__ import annotations

import json
from pathlib import Path

from groklst_cli.app import run
from pipelines.fixtures import write_product_fixture
from pipelines.run_layout import CONFIG_FILE, STATE
from pipelines.sample_scene import generate_scene
from tests.test_faults_downscale import snapshot
from tests.test_faults_train import copy_of, error_lines, saved_run, train  # noqa: F401 - saved_run: a fixture
from tests.test_train import dataset  # noqa: F401 - dataset: a fixture

# ---------------------------------------------------------------- 1. a finished run


def test_a_finished_run_is_refused_as_finished(dataset: Path, saved_run: Path, tmp_path: Path,  # noqa: F811
                                               capsys) -> None:
    out = copy_of(saved_run, tmp_path)
    before = snapshot(out)
    assert train(dataset, out) == 2
    assert error_lines(capsys) == [
        f"error: {out}: run directory is not empty: it holds a finished run (2 of 2 iterations; best.pt and "
        "last.pt are there) (hint: choose another -o for a new run, also one with more --iters, or pass "
        "--overwrite to replace it)"]
    assert snapshot(out) == before


def test_a_finished_run_without_best_names_what_is_there(dataset: Path, saved_run: Path,  # noqa: F811
                                                         tmp_path: Path, capsys) -> None:
    out = copy_of(saved_run, tmp_path)
    (out / "best.pt").unlink()
    (out / "last.pt").unlink()
    assert train(dataset, out) == 2
    assert f"it holds a finished run (2 of 2 iterations; {STATE} is there)" in error_lines(capsys)[0]


def test_an_unfinished_run_keeps_the_resume_hint(dataset: Path, saved_run: Path, tmp_path: Path,  # noqa: F811
                                                 capsys) -> None:
    out = copy_of(saved_run, tmp_path)
    record = json.loads((out / CONFIG_FILE).read_text())
    record["train"]["iters"] = 4  # its state is at 2: stopped half-way
    (out / CONFIG_FILE).write_text(json.dumps(record))
    assert train(dataset, out) == 2
    assert error_lines(capsys) == [
        f"error: {out}: run directory is not empty: it holds a run with a saved training state "
        "(hint: pass --resume to continue it or --overwrite to restart it)"]


def test_overwrite_still_restarts_a_finished_run(dataset: Path, saved_run: Path, tmp_path: Path) -> None:  # noqa: F811
    out = copy_of(saved_run, tmp_path)
    assert train(dataset, out, "--overwrite") == 0
    assert (out / "last.pt").is_file()


# ---------------------------------------------------------------- 2. several scenes' product folders


def _scene_folder(root: Path, seed: int) -> Path:
    """A folder holding one scene's TIS and MII product folders."""
    write_product_fixture(generate_scene((24, 24), seed=seed), root)
    return root


def _prepare_json(capsys, *args: str) -> dict:
    assert run(["prepare", *args, "--scales", "2", "--patch", "8", "--json"]) == 2
    return json.loads(capsys.readouterr().out)


def test_an_error_among_several_scenes_names_no_input(tmp_path: Path, capsys) -> None:
    good, bad = _scene_folder(tmp_path / "a", 3), _scene_folder(tmp_path / "b", 4)
    for calib in bad.glob("*TIS*/*calib.xml"):  # the second scene's TIS product cannot be read
        calib.unlink()
    out = tmp_path / "ds"
    line = _prepare_json(capsys, str(good), str(bad), "-o", str(out))
    assert (line["input"], line["output"], line["status"]) == (None, str(out), "error")
    assert "TIS" in line["error"] and str(bad) in line["error"]


def test_one_scenes_product_folders_are_named_together(tmp_path: Path, capsys) -> None:
    tis, mii = write_product_fixture(generate_scene((24, 24), seed=3), tmp_path / "p")
    for calib in tis.glob("*calib.xml"):  # so that it fails, and the error line names the scene
        calib.unlink()
    out = tmp_path / "ds"
    line = _prepare_json(capsys, str(tis), str(mii), "-o", str(out))
    assert (line["input"], line["output"], line["status"]) == (f"{tis}, {mii}", str(out), "error")
