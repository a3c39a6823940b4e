"""Follow-ups (s5 f10): train, evaluate and downscale -c name a dataset's files and a checkpoint
folder as typed (``./ds/stats.json``, ``./runs//r1/``), not as pathlib folds them; prepare from
product folders reads a single-channel LST without TIS B3; an LST without its guidance is told
how to make one (groklst guidance, or --guidance --align), not only to ingest; prepare names a
scene's LST as typed in its too-small warning."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from groklst_cli.app import run
from pipelines.errors import GroklstWarning
from pipelines.fixtures import FixtureSettings, write_product_fixture
from pipelines.infer import DEFAULT_CHECKPOINT
from pipelines.prepare import PrepareOptions, prepare, scene_inputs
from pipelines.sample_scene import generate_scene, write_scene

PREPARE = ["--scales", "3", "--patch", "24", "--stride", "12", "--split-block", "24"]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working folder: a scene under ``scenes/``, its dataset ``ds``, and a copy ``bad`` whose
    stats.json is damaged; ``runs/r1`` holds a best.pt."""
    root = tmp_path_factory.mktemp("followups")
    lst, _ = write_scene(generate_scene((48, 48), seed=1), root / "scenes", name="s1")
    assert run(["-q", "prepare", str(lst), "-o", str(root / "ds"), *PREPARE]) == 0
    (Path(shutil.copytree(root / "ds", root / "bad")) / "stats.json").write_text("[]")
    (root / "runs" / "r1").mkdir(parents=True)
    (root / "runs" / "r1" / "best.pt").write_bytes(b"")
    return root


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    [line] = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    return line


DAMAGED = "./bad/stats.json: not a JSON object: the dataset is damaged (hint: create it again with groklst prepare)"
FOLDER = "./runs//r1/: is a folder, not a checkpoint file (hint: e.g. ./runs//r1/best.pt)"


def test_train_names_a_damaged_file_under_the_dataset_as_typed(root: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(root)
    assert run(["train", "./bad/", "-o", "r"]) == 2
    assert _error(capsys) == f"error: {DAMAGED}"  # before: bad/stats.json


def test_evaluate_names_the_dataset_s_files_and_the_checkpoint_folder_as_typed(root: Path, monkeypatch,
                                                                               capsys) -> None:
    monkeypatch.chdir(root)
    assert run(["evaluate", "./bad/", "-c", str(DEFAULT_CHECKPOINT)]) == 2
    assert _error(capsys) == f"error: {DAMAGED}"
    assert run(["evaluate", "./ds", "-c", "./runs//r1/"]) == 2
    assert _error(capsys) == f"error: {FOLDER}"  # before: e.g. runs/r1/best.pt
    assert run(["evaluate", "./ds", "-c", "./runs//r1/bst.pt"]) == 2
    assert _error(capsys) == ("error: ./runs//r1/bst.pt: checkpoint file not found "
                              "(hint: check the path; ./runs//r1 holds best.pt)")


def test_downscale_names_a_checkpoint_as_typed(root: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(root)
    assert run(["downscale", "scenes/s1_lst.tif", "-c", "./runs//r1/", "-o", "out.tif"]) == 2
    assert _error(capsys) == f"error: {FOLDER}"  # before: runs/r1: ... e.g. runs/r1/best.pt
    assert run(["downscale", "scenes/s1_lst.tif", "-c", "", "-o", "out.tif"]) == 2
    assert _error(capsys) == ("error: -c: is empty (hint: name a checkpoint file, e.g. -c runs/r1/best.pt, "
                              "or drop -c for the default model)")  # before: .: is a folder
    assert not (root / "out.tif").exists()


def test_prepare_reads_a_single_channel_lst_from_per_band_products_without_b3(tmp_path: Path, capsys) -> None:
    write_product_fixture(generate_scene((48, 48), seed=7), tmp_path / "p", FixtureSettings(tis_per_band=True))
    next((tmp_path / "p").glob("SDGSAT1_TIS_*/*_B3.tif")).unlink()
    products = sorted(str(p) for p in (tmp_path / "p").iterdir())
    assert run(["prepare", *products, "-o", str(tmp_path / "ds"), "--lst-method", "single-channel",
                "--scales", "2", "--patch", "24", "--stride", "12", "--split-block", "24"]) == 0  # before: refused
    info = json.loads((tmp_path / "ds" / "info.json").read_text())
    [scene] = info["scenes"].values()
    assert scene["ingest"] is not None and info["total"] > 0
    capsys.readouterr()
    assert run(["prepare", *products, "-o", str(tmp_path / "split"), *PREPARE]) == 2  # the split window needs B3
    assert "TIS band 3 image not found" in _error(capsys)


@pytest.mark.parametrize(("name", "expected"), [
    ("landsat_lst.tif", "error: landsat_guidance.tif: guidance file not found beside the LST (hint: make it with "
     "groklst guidance landsat_lst.tif BAND=SRC.tif -o landsat_guidance.tif (or pass --guidance G.tif --align); "
     "for SDGSAT-1 products run groklst ingest first)"),
    ("landsat.tif", "error: landsat.tif: not a canonical LST file (expected NAME_lst.tif) (hint: pass --guidance "
     "G.tif --align, or rename it NAME_lst.tif with a NAME_guidance.tif beside it (groklst guidance makes one); "
     "for SDGSAT-1 products run groklst ingest first)"),
])
def test_an_lst_without_its_guidance_is_told_how_to_make_one(root: Path, monkeypatch, capsys, name: str,
                                                              expected: str) -> None:
    monkeypatch.chdir(root)
    shutil.copy(root / "scenes" / "s1_lst.tif", root / name)
    assert run(["prepare", name, "-o", "o", *PREPARE]) == 2
    assert _error(capsys) == expected
    assert not (root / "o").exists()


def test_prepare_names_a_scene_too_small_for_the_patch_as_typed(root: Path, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(root)
    write_scene(generate_scene((16, 16), seed=2), root / "scenes", name="small", overwrite=True)
    typed = ["./scenes//small_lst.tif", "./scenes//s1_lst.tif"]
    paths, shown, ingests = scene_inputs(typed, tmp_path)
    assert paths == typed and shown == {} and ingests == {}
    with pytest.warns(GroklstWarning) as caught:
        info = prepare(paths, tmp_path / "ds", PrepareOptions(scales=(3,), patch=24, stride=12, split_block=24))
    smaller = [str(w.message) for w in caught if "smaller than" in str(w.message)]
    assert smaller == ["./scenes//small_lst.tif: the scene is smaller than the 24 px patch (16 x 16 HR pixels of "
                       "30 m); no patch is taken from it"]  # before: scenes/small_lst.tif
    recorded = {scene["lst"] for scene in info["scenes"].values()}  # info.json: absolute, as before
    assert recorded == {str((root / "scenes" / f"{n}_lst.tif").resolve()) for n in ("small", "s1")}
