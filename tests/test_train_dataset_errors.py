"""``groklst train``'s refusals of a dataset name the dataset's path as the user gave it, not
"dataset": a script training on several datasets learns which one failed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.test_faults_train import error_lines, train
from tests.test_train import dataset  # noqa: F401 - dataset: a fixture


def _copy(dataset: Path, where: Path) -> Path:
    """A copy of the prepared ``dataset`` to spoil, under a name of its own."""
    return Path(shutil.copytree(dataset, where / "ds-spoiled"))


def _rewrite_json(path: Path, change) -> None:
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


def _refused(dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """The one error line of a train run on ``dataset``, which must refuse it (and write nothing)."""
    out = tmp_path / "run"
    assert train(dataset, out) == 2
    assert not out.exists()
    [line] = error_lines(capsys)
    return line


def test_an_empty_train_split_names_the_dataset(dataset: Path, tmp_path: Path, capsys) -> None:
    spoiled = _copy(dataset, tmp_path)
    (spoiled / "splits" / "train.txt").write_text("")
    assert _refused(spoiled, tmp_path, capsys) == (
        f"error: {spoiled}: the train split is empty (hint: prepare more scenes or change --split)")


def test_a_constant_lst_names_the_dataset(dataset: Path, tmp_path: Path, capsys) -> None:
    spoiled = _copy(dataset, tmp_path)
    _rewrite_json(spoiled / "stats.json", lambda stats: {**stats, "lst_mean": 300.0, "lst_std": 0.0})
    assert _refused(spoiled, tmp_path, capsys) == (
        f"error: {spoiled}: the train split's LST has mean 300.0 and std 0.0: nothing to learn from "
        "(hint: prepare the dataset from scenes with varied LST)")


def _second_band_named_as_first(attrs: dict) -> dict:
    return {**attrs, "bands": [attrs["bands"][0], attrs["bands"][0], *attrs["bands"][2:]]}


def test_two_guidance_bands_of_one_name_name_the_dataset(dataset: Path, tmp_path: Path, capsys) -> None:
    """A dataset prepared before prepare refused two bands of one name."""
    spoiled = _copy(dataset, tmp_path)
    store = spoiled / "data.zarr"
    _rewrite_json(store / ".zattrs", _second_band_named_as_first)
    _rewrite_json(store / ".zmetadata", lambda meta: {**meta, "metadata": {
        **meta["metadata"], ".zattrs": _second_band_named_as_first(meta["metadata"][".zattrs"])}})
    first = json.loads((store / ".zattrs").read_text())["bands"][0]
    assert _refused(spoiled, tmp_path, capsys) == (
        f"error: {spoiled}: guidance band name '{first}' appears twice (bands 1 and 2) (hint: prepare the "
        "dataset again from guidance whose bands have distinct names (name them in file order with "
        "prepare --guidance-bands))")


def test_a_relative_dataset_path_is_named_as_typed(dataset: Path, tmp_path: Path, capsys,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    spoiled = _copy(dataset, tmp_path)
    (spoiled / "splits" / "train.txt").write_text("")
    monkeypatch.chdir(tmp_path)
    assert train(Path("ds-spoiled"), Path("run")) == 2
    assert error_lines(capsys) == [
        "error: ds-spoiled: the train split is empty (hint: prepare more scenes or change --split)"]
