"""The last paths named as pathlib folds them (``./ds/`` -> ``ds``, ``./runs//r1/`` -> ``runs/r1``):
files inside a dataset, ``prepare --guidance``/``--dem`` and its warnings, a checkpoint's folder in
its hints; and info.json, which records every file path absolute (the shared guidance was absolute,
the scenes relative to where prepare ran)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from affine import Affine

from groklst_cli.app import run
from pipelines.checkpoint import load_checkpoint
from pipelines.dataset import open_prepared
from pipelines.errors import InputError
from pipelines.geotiff import write_raster
from pipelines.sample_scene import generate_scene, write_scene
from tests.conftest import UTM
from tests.test_shared_guidance import X0, Y0, _date

PREPARE = ["--scales", "2", "--patch", "24", "--stride", "12", "--split-block", "24"]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working folder with one generated scene under ``scenes/``, prepared into ``ds``."""
    root = tmp_path_factory.mktemp("typed5")
    lst, _ = write_scene(generate_scene((48, 48), seed=1), root / "scenes", name="s1")
    assert run(["-q", "prepare", str(lst), "-o", str(root / "ds"), *PREPARE]) == 0
    return root


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    [line] = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    return line


def _copy(root: Path, name: str) -> Path:
    """A copy of the dataset ``ds`` as ``name``, to damage."""
    import shutil

    return Path(shutil.copytree(root / "ds", root / name))


def test_a_damaged_file_in_a_dataset_is_named_under_the_dataset_as_typed(root: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(root)
    (_copy(root, "bad_info") / "info.json").write_text("{not json")
    assert run(["prepare", "--info", "./bad_info/"]) == 2
    assert _error(capsys).startswith("error: ./bad_info/info.json: not valid JSON")
    (_copy(root, "bad_stats") / "stats.json").write_text("[]")
    assert run(["prepare", "--info", "./bad_stats/"]) == 2
    assert _error(capsys).startswith("error: ./bad_stats/stats.json: not a JSON object: the dataset is damaged")


def test_open_prepared_names_a_typed_dataset_s_files_as_typed(root: Path, monkeypatch) -> None:
    monkeypatch.chdir(root)
    chunks = _copy(root, "no_chunks") / "data.zarr" / "hr_lst"
    for chunk in [p for p in chunks.rglob("*") if p.is_file() and not p.name.startswith((".z", "zarr"))][:2]:
        chunk.unlink()
    with pytest.raises(InputError) as typed:
        open_prepared("./no_chunks//")
    assert str(typed.value).startswith("./no_chunks//data.zarr/hr_lst: 2 of ")
    with pytest.raises(InputError) as folded:  # a Path is named as pathlib names it, as before
        open_prepared(Path("./no_chunks//"))
    assert str(folded.value).startswith("no_chunks/data.zarr/hr_lst: 2 of ")


def test_prepare_names_guidance_and_dem_as_typed(root: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(root)
    (root / "dem").mkdir()
    (root / "dem" / "x.tif").write_text("not a raster")
    assert run(["prepare", "scenes/s1_lst.tif", "--guidance", "./gone.tif", "-o", "o", *PREPARE]) == 2
    assert _error(capsys) == "error: ./gone.tif: file not found (hint: check the path)"
    assert run(["prepare", "scenes/s1_lst.tif", "--guidance", "./dem//x.tif", "--align", "-o", "o", *PREPARE]) == 2
    assert _error(capsys).startswith("error: ./dem//x.tif: not a readable raster")
    (root / "prod").mkdir()
    assert run(["prepare", "./prod/", "--dem", "./dem//x.tif", "-o", "o", *PREPARE]) == 2
    assert _error(capsys).startswith("error: ./dem//x.tif: not a readable raster")


def test_prepare_warns_about_a_coarse_guidance_naming_it_as_typed(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    _date(tmp_path, "d1", 1)
    write_raster(tmp_path / "coarse.tif", np.random.default_rng(4).uniform(0.05, 0.4, (2, 12, 14)), crs=UTM,
                 transform=Affine(60.0, 0, X0 - 15, 0, -60.0, Y0 + 15), descriptions=["red", "nir"])
    assert run(["prepare", "./d1_lst.tif", "--guidance", ".//coarse.tif", "--align", "-o", "ds",
                "--scales", "2", "--patch", "8", "--stride", "8", "--split", "1:0:0"]) == 0
    coarser = [line for line in capsys.readouterr().err.splitlines() if "coarser than the LST" in line]
    assert coarser == ["warning: .//coarse.tif is coarser than the LST (pixel-size ratio 0.50): interpolated onto "
                       "the LST grid, it holds no detail finer than its own pixels"]


def test_info_json_records_every_file_path_absolute(root: Path, monkeypatch) -> None:
    monkeypatch.chdir(root)
    assert run(["-q", "prepare", "./scenes//s1_lst.tif", "--guidance", "scenes/s1_guidance.tif", "-o", "shared",
                *PREPARE]) == 0
    info = json.loads((root / "shared" / "info.json").read_text())
    [scene] = info["scenes"].values()
    lst, guidance = str((root / "scenes" / "s1_lst.tif").resolve()), str((root / "scenes" / "s1_guidance.tif").resolve())
    assert (scene["lst"], scene["guidance"]) == (lst, guidance)
    assert info["settings"]["shared_guidance"] == {"path": guidance, "aligned": False}


def test_a_checkpoint_folder_s_hints_name_it_as_typed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "r1").mkdir(parents=True)
    (tmp_path / "runs" / "r1" / "best.pt").write_bytes(b"")
    with pytest.raises(InputError) as folder:
        load_checkpoint("./runs//r1/")
    assert str(folder.value) == "./runs//r1/: is a folder, not a checkpoint file (hint: e.g. ./runs//r1/best.pt)"
    with pytest.raises(InputError) as missing:
        load_checkpoint("./runs//r1/bst.pt")
    assert str(missing.value) == ("./runs//r1/bst.pt: checkpoint file not found "
                                  "(hint: check the path; ./runs//r1 holds best.pt)")
