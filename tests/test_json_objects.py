"""Every command's ``--json`` object, success or error, names its input, output and status, so a
pipeline can keep ``.status == "ok"`` lines of any command (QA: six commands' successes had no
status, train's and evaluate's errors named no input)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from groklst_cli.app import run
from pipelines.fixtures import write_product_fixture
from pipelines.sample_scene import generate_scene
from tests.conftest import prepare_generated_dataset, write_canonical_scene

TINY = {"base_dim": 8, "num_stages": 2, "dmlp_hidden": 8, "recon_lr_blocks": 1}
TRAIN = ["--model", "mocolsk-lite", "--scale", "2", "--iters", "2", "--batch-size", "2", "--crop", "12",
         "--val-every", "2", "--device", "cpu", "--model-kwargs", json.dumps(TINY)]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A canonical scene (scene_lst.tif, scene_guidance.tif), SDGSAT-1 product folders of a sample
    scene (in ``products``), a dataset ``ds`` prepared from two sample scenes (scenes/s1_lst.tif,
    scenes/s2_lst.tif) and a two-iteration run ``run`` on it."""
    folder = tmp_path_factory.mktemp("json")
    write_canonical_scene(folder)
    write_product_fixture(generate_scene((16, 20), seed=5), folder / "products")
    prepare_generated_dataset(folder, (2,))
    assert run(["-q", "train", str(folder / "ds"), "-o", str(folder / "run"), *TRAIN]) == 0
    return folder


def _line(argv: list[str], status: int, capsys: pytest.CaptureFixture[str]) -> dict:
    assert run(["-q", *argv, "--json"]) == status, capsys.readouterr().err
    [line] = capsys.readouterr().out.splitlines()
    return json.loads(line)


SUCCESSES = [  # argv (in the root folder), input, output, a key the object had before
    (["coregister", "scene_lst.tif", "scene_guidance.tif", "-o", "placed.tif"], "scene_lst.tif", "placed.tif",
     ("guidance", "scene_guidance.tif")),
    (["guidance", "scene_lst.tif", "scene_guidance.tif", "--scale", "3", "-o", "g.tif"], "scene_lst.tif", "g.tif",
     ("scale", 3)),
    (["compare", "scene_lst.tif", "scene_lst.tif"], "scene_lst.tif", None, ("reference", "scene_lst.tif")),
    (["prepare", "scenes/s1_lst.tif", "-o", "one", "--scales", "2", "--patch", "24", "--stride", "12"],
     "scenes/s1_lst.tif", "one", ("dataset", "one")),
    (["prepare", "scenes/s1_lst.tif", "scenes/s2_lst.tif", "-o", "two", "--scales", "2", "--patch", "24"],
     None, "two", ("dataset", "two")),  # several scenes: none named, as downscale names none
    (["prepare", "--info", "ds"], "ds", None, ("path", "ds")),
    (["train", "ds", "-o", "again", *TRAIN], "ds", "again", ("run", "again")),
    (["evaluate", "ds", "-c", "run/best.pt", "--baselines", "bicubic"], "ds", None, ("dataset", "ds")),
    # the output is the LST, what downscale takes next (QA: ingest's object had no output)
    (["ingest", "products", "--out-dir", "pair", "--name", "d"], "products", "pair/d_lst.tif",
     ("lst", "pair/d_lst.tif")),
    (["checkpoint-info", "run/best.pt"], "run/best.pt", None, ("path", "run/best.pt")),  # QA: no status
]


@pytest.mark.parametrize("argv, given, output, kept", SUCCESSES, ids=lambda v: v[0] if isinstance(v, list) else "")
def test_a_success_object_has_status_input_and_output(root: Path, monkeypatch, capsys, argv: list[str],
                                                      given: str | None, output: str | None,
                                                      kept: tuple[str, object]) -> None:
    monkeypatch.chdir(root)
    line = _line(argv, 0, capsys)
    assert (line["status"], line["input"], line["output"]) == ("ok", given, output)
    assert line[kept[0]] == kept[1] and isinstance(line["warnings"], list)


ERRORS = [  # argv, input, output: refused before any work
    (["train", "ds", "-o", "new", "--resume", "--overwrite"], "ds", "new"),
    (["evaluate", "ds", "-c", "run/best.pt", "--split", "all"], "ds", None),
    (["prepare", "scenes/s1_lst.tif", "-o", "new", "--scales", "x"], "scenes/s1_lst.tif", "new"),
    (["checkpoint-info", "missing.pt"], "missing.pt", None),
]


@pytest.mark.parametrize("argv, given, output", ERRORS, ids=lambda v: v[0] if isinstance(v, list) else "")
def test_an_error_line_names_the_one_dataset_and_output(root: Path, monkeypatch, capsys, argv: list[str],
                                                        given: str, output: str | None) -> None:
    """QA: ``train``'s and ``evaluate``'s error lines said "input": null, "output": null."""
    monkeypatch.chdir(root)
    line = _line(argv, 2, capsys)
    assert (line["status"], line["input"], line["output"]) == ("error", given, output)
