"""Checkpoints whose fields are of the wrong kind, and files that are no PyTorch checkpoint at
all, are refused in one line naming the field or what the file is, exit 2, with no output
written (QA: lst_mean saved as text crashed with an internal error, a bool lst_mean downscaled
as 1 K, a float scale loaded, and a plain pickle was called 'damaged or truncated: Invalid
magic number')."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from groklst_cli.app import run
from pipelines.infer import DEFAULT_CHECKPOINT
from tests.test_checkpoint_malformed import GROKLST_HINT as HINT
from tests.test_checkpoint_malformed import scene, shipped  # noqa: F401 - scene: a fixture
from tests.test_checkpoint_malformed import stderr_lines as error_lines


def changed(tmp_path: Path, **fields) -> Path:
    """The shipped checkpoint saved with ``fields`` replaced."""
    path = tmp_path / "bad.pt"
    torch.save({**shipped(), **fields}, path)
    return path


BANDS = "dem, deepblue, blue, green, red, vre, nir, ndmvi, ndvi, ndwi"
MALFORMED = [
    ({"lst_mean": "300"}, "lst_mean is a str ('300'), expected a number"),
    ({"lst_mean": True}, "lst_mean is a bool (True), expected a number"),
    ({"lst_std": torch.tensor(7.0)}, "lst_std is a Tensor (tensor(7.)), expected a number"),
    ({"band_mean": [0.1] * 9}, f"band_mean has 9 values for 10 bands ({BANDS})"),
    ({"band_std": ["1"] * 10}, "band_std[0] is a str ('1'), expected a number"),
    ({"bands": "red"}, "bands is a str ('red'), expected a list of band names"),
    ({"bands": list(range(10))}, "bands[0] is an int (0), expected a band name (text)"),
    ({"scale": 3.0}, "scale is a float (3.0), expected an integer >= 2"),
    ({"scale": "3"}, "scale is a str ('3'), expected an integer >= 2"),
    ({"scale": 0}, "scale is an int (0), expected an integer >= 2"),
    ({"model": 3}, "model is an int (3), expected a model name (text)"),
    ({"model_kwargs": []}, "model_kwargs is a list, expected a dict with text keys"),
    ({"config": []}, "config is a list, expected a dict with text keys"),
    ({"hr_resolution": "10"}, "hr_resolution is a str ('10'), expected a pixel size > 0 or None"),
    ({"hr_resolution": -10.0}, "hr_resolution is a float (-10.0), expected a pixel size > 0 or None"),
    ({"groklst_version": 1}, "groklst_version is an int (1), expected a version (text)"),
    ({"band_min": ["a"] * 10, "band_max": [1.0] * 10}, "band_min[0] is a str ('a'), expected a number"),
    ({"band_min": [0.0] * 10}, "band_min and band_max are not both given"),
    ({"state_dict": []}, "state_dict is a list, expected a dict of tensors"),
]


@pytest.mark.parametrize("fields, problem", MALFORMED)
def test_checkpoint_info_names_the_malformed_field(tmp_path: Path, capsys, fields, problem) -> None:
    path = changed(tmp_path, **fields)
    assert run(["checkpoint-info", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [f"error: {path}: checkpoint is malformed: {problem} {HINT}"]


@pytest.mark.parametrize("fields, problem", [MALFORMED[0], MALFORMED[1], MALFORMED[7]])
def test_downscale_refuses_a_malformed_checkpoint_and_writes_nothing(
        scene: Path, tmp_path: Path, capsys, fields, problem) -> None:
    path = changed(tmp_path, **fields)
    out = tmp_path / "out.tif"
    capsys.readouterr()
    assert run(["-q", "downscale", str(scene), "--checkpoint", str(path), "-o", str(out)]) == 2
    assert error_lines(capsys) == [f"error: {path}: checkpoint is malformed: {problem} {HINT}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.pt"]


def test_nan_guidance_range_of_an_all_nan_band_still_loads(tmp_path: Path, capsys) -> None:
    """downscale --fit records NaN bounds for an all-NaN band (they clip nothing)."""
    path = changed(tmp_path, band_min=[float("nan")] + [0.0] * 9, band_max=[float("nan")] + [1.0] * 9)
    assert run(["checkpoint-info", str(path)]) == 0
    assert "model       mocolsk-lite" in capsys.readouterr().out


def plain_pickle(path: Path) -> None:
    with open(path, "wb") as fh:
        pickle.dump({"lst_mean": 300.0, "weights": [1.0, 2.0]}, fh, protocol=2)


def numpy_npy(path: Path) -> None:
    with open(path, "wb") as fh:
        np.save(fh, np.zeros(3))


def numpy_npz(path: Path) -> None:
    with open(path, "wb") as fh:
        np.savez(fh, a=np.zeros(3))


def other_zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "hello")


FOREIGN = [
    (plain_pickle, "a plain pickle, e.g. from pickle.dump, not torch.save"),
    (numpy_npy, "a NumPy .npy file"),
    (numpy_npz, "a zip archive without torch's data.pkl, e.g. a NumPy .npz file"),
    (other_zip, "a zip archive without torch's data.pkl, e.g. a NumPy .npz file"),
]


@pytest.mark.parametrize("write, kind", FOREIGN)
def test_a_file_not_written_by_torch_is_named_as_such(
        scene: Path, tmp_path: Path, capsys, write, kind) -> None:
    path = tmp_path / "model.pt"
    write(path)
    out = tmp_path / "out.tif"
    expected = [f"error: {path}: not a PyTorch checkpoint ({kind}) {HINT}"]
    capsys.readouterr()
    for cmd in (["checkpoint-info", str(path)],
                ["-q", "downscale", str(scene), "--checkpoint", str(path), "-o", str(out)]):
        assert run(cmd) == 2
        assert error_lines(capsys) == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]


def test_a_truncated_checkpoint_is_still_called_damaged(tmp_path: Path, capsys) -> None:
    path = tmp_path / "cut.pt"
    path.write_bytes(DEFAULT_CHECKPOINT.read_bytes()[:3000])
    assert run(["checkpoint-info", str(path)]) == 2
    assert error_lines(capsys) == [
        f"error: {path}: not a readable groklst checkpoint (damaged or truncated: PytorchStreamReader failed "
        f"reading zip archive: failed finding central directory) {HINT}"]


def test_a_model_this_groklst_lacks_is_named_without_quotes_and_with_a_hint(tmp_path: Path, capsys) -> None:
    """The registry's KeyError printed as "'unknown model ...'" (quoted), with no hint."""
    path = changed(tmp_path, model="mocolsk-from-the-future")
    assert run(["checkpoint-info", str(path)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: {path}: checkpoint is for an unknown model 'mocolsk-from-the-future'; "
                           "known models: ")
    assert line.endswith("(hint: a checkpoint names the model it was trained as, and this groklst has no such "
                         "model: it may come from a newer groklst (`groklst models` lists this one's))")
