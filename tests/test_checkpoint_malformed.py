"""Checkpoints that lack a field, carry another format version or hold more than weights are
refused in one line, exit 2, by every command that loads them (QA: a checkpoint without its LST
statistics downscaled with mean 0 K, std 1 K, up to 17 K off, and checkpoint-info printed those
defaults as if read from the file)."""

from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path

import pytest
import torch

from groklst_cli.app import run
from pipelines.checkpoint import Checkpoint, load_checkpoint
from pipelines.errors import InputError
from pipelines.infer import DEFAULT_CHECKPOINT

GROKLST_HINT = "(hint: give a .pt file written by groklst train or downscale --save-checkpoint)"
SAFETY_HINT = ("(hint: use a checkpoint groklst wrote (groklst train, downscale --save-checkpoint); re-save a file "
               "you trust holding only tensors, numbers and text (e.g. a model's state dict))")


class Payload:
    """Unpickling this runs a shell command that creates ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def shipped() -> dict:
    return torch.load(DEFAULT_CHECKPOINT, map_location="cpu", weights_only=True)


def without(tmp_path: Path, *names: str) -> Path:
    """The shipped checkpoint saved without the fields ``names``."""
    data = {k: v for k, v in shipped().items() if k not in names}
    path = tmp_path / "partial.pt"
    torch.save(data, path)
    return path


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    """A small scene the shipped model downscales."""
    folder = tmp_path_factory.mktemp("sample")
    assert run(["-q", "sample-scene", str(folder), "--size", "24", "--seed", "5"]) == 0
    return folder / "heihe_demo_lst.tif"


def stderr_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


@pytest.mark.parametrize("names, missing", [
    (("lst_mean", "lst_std"), "lst_mean, lst_std"),
    (("lst_std",), "lst_std"),
    (("band_mean", "band_std"), "band_mean, band_std"),
    (("bands",), "bands"),
    (("scale",), "scale"),
    (("model",), "model"),
    (("model_kwargs",), "model_kwargs"),
    (("groklst_version",), "groklst_version"),
])
def test_checkpoint_info_refuses_a_missing_field(tmp_path: Path, capsys, names, missing) -> None:
    path = without(tmp_path, *names)
    assert run(["checkpoint-info", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [f"error: {path}: checkpoint is malformed: {missing} missing {GROKLST_HINT}"]


def test_downscale_refuses_a_checkpoint_without_lst_statistics(scene: Path, tmp_path: Path, capsys) -> None:
    path = without(tmp_path, "lst_mean", "lst_std")
    out = tmp_path / "out.tif"
    capsys.readouterr()
    assert run(["-q", "downscale", str(scene), "-c", str(path), "-o", str(out)]) == 2
    assert stderr_lines(capsys) == [
        f"error: {path}: checkpoint is malformed: lst_mean, lst_std missing {GROKLST_HINT}"]
    assert not out.exists()


def test_fields_added_later_to_the_format_may_be_missing(tmp_path: Path) -> None:
    ckpt = load_checkpoint(without(tmp_path, "band_min", "band_max", "hr_resolution_units"))
    assert ckpt.band_min == [] and ckpt.hr_resolution_units is None
    assert ckpt.lst_mean == pytest.approx(311.2837421371639) and ckpt.lst_std == pytest.approx(7.7790490593578525)


def test_unknown_field_is_named(tmp_path: Path) -> None:
    path = tmp_path / "extra.pt"
    torch.save({**shipped(), "lst_offset": 1.0}, path)
    with pytest.raises(InputError) as caught:
        load_checkpoint(path)
    assert str(caught.value) == f"{path}: checkpoint is malformed: unknown field(s) lst_offset {GROKLST_HINT}"


def test_another_format_version_is_named(tmp_path: Path, capsys) -> None:
    path = tmp_path / "v2.pt"
    torch.save({**shipped(), "format": "groklst-checkpoint/2"}, path)
    assert run(["checkpoint-info", str(path)]) == 2
    assert stderr_lines(capsys) == [
        f"error: {path}: unsupported checkpoint format groklst-checkpoint/2 (this groklst reads "
        "groklst-checkpoint/1) (hint: read it with the groklst version that wrote it, or upgrade groklst)"]


def test_a_bare_state_dict_has_no_format_tag(tmp_path: Path, capsys) -> None:
    path = tmp_path / "weights.pt"
    torch.save(shipped()["state_dict"], path)
    assert run(["checkpoint-info", str(path)]) == 2
    assert stderr_lines(capsys) == [f"error: {path}: not a groklst checkpoint (format tag missing) {GROKLST_HINT}"]


def test_a_checkpoint_holding_code_is_refused_unrun(scene: Path, tmp_path: Path, capsys) -> None:
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pt"
    torch.save({"format": "groklst-checkpoint/1", "x": Payload(marker)}, path)
    for cmd in (["checkpoint-info", str(path)],
                ["-q", "downscale", str(scene), "-c", str(path), "-o", str(tmp_path / "o.tif")]):
        assert run(cmd) == 2
        assert stderr_lines(capsys) == [
            f"error: {path}: holds objects other than weights and was not unpickled (refused for safety) {SAFETY_HINT}"]
    assert not marker.exists()


def test_a_plain_pickle_is_refused_in_one_line_without_torch_warnings(tmp_path: Path, capsys) -> None:
    marker = tmp_path / "PWNED"
    path = tmp_path / "plain.pt"
    path.write_bytes(pickle.dumps(Payload(marker), protocol=4))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert run(["checkpoint-info", str(path)]) == 2
    assert [str(w.message) for w in caught] == []
    assert stderr_lines(capsys) == [
        f"error: {path}: holds a pickle torch's safe loader cannot read, and was not unpickled (refused for safety) "
        f"{SAFETY_HINT}"]
    assert not marker.exists()


def test_checkpoints_built_in_memory_keep_their_defaults(tmp_path: Path) -> None:
    path = Checkpoint.untrained("bicubic", 3, ["red"]).save(tmp_path / "bicubic.pt")
    ckpt = load_checkpoint(path)
    assert (ckpt.lst_mean, ckpt.lst_std, ckpt.band_mean, ckpt.band_std) == (0.0, 1.0, [0.0], [1.0])
