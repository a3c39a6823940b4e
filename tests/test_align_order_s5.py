"""``downscale --align`` refuses what the files' headers tell (a checkpoint's bands, the output's
size, ``--fit``'s --guidance-bands) before aligning the guidance: aligning a large scene took
minutes and a copy on disk for the same error, which stays the same line and exit status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import pipelines.downscale
import pipelines.guidance
from groklst_cli.app import run
from tests.conftest import write_canonical_scene
from tests.test_downscale_learned import save_checkpoint

MISSING = ("missing guidance band(s) dem, deepblue, blue, green, vre, ndmvi, ndvi, ndwi (has red, nir) "
           "(hint: band names must be those the model was trained with; if the bands are these, name "
           "them in file order with --guidance-bands)")


@pytest.fixture
def aligns(monkeypatch) -> list[Path]:
    """The LSTs whose guidance was aligned (the slow warp), which then fails: a refusal made
    after aligning would name this error, not the header's."""
    calls: list[Path] = []

    def recorded(lst, guidance, out, scale):
        calls.append(Path(lst))
        raise AssertionError("aligned before the header checks")

    monkeypatch.setattr(pipelines.guidance, "align_guidance", recorded)
    return calls


def _scene(folder: Path, name: str) -> tuple[Path, Path]:
    """A 32 x 32 LST at 30 m and a red, nir guidance at 15 m."""
    return write_canonical_scene(folder, name, bands=("red", "nir"), ratio=2)


def _left(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*")] if folder.exists() else []


def test_a_checkpoint_of_other_bands_is_refused_before_aligning(tmp_path: Path, capsys, aligns) -> None:
    lst, guidance = _scene(tmp_path, "a")
    ckpt = save_checkpoint(tmp_path / "ck.pt", scale=2)
    out = tmp_path / "out"
    capsys.readouterr()
    assert run(["downscale", str(lst), "--guidance", str(guidance), "--align", "-c", str(ckpt),
                "-o", str(out / "x.tif"), "--json"]) == 2
    captured = capsys.readouterr()
    line = json.loads(captured.out)
    assert (line["status"], line["error"]) == ("error", f"{guidance}: {MISSING}")
    assert captured.err.splitlines()[-1] == f"error: {guidance}: {MISSING} (scene {lst})"
    assert aligns == [] and _left(out) == []


def test_every_scene_of_a_batch_is_refused_before_aligning(tmp_path: Path, capsys, aligns) -> None:
    first, guidance = _scene(tmp_path, "a")
    second, _ = _scene(tmp_path, "b")
    ckpt = save_checkpoint(tmp_path / "ck.pt", scale=2)
    out = tmp_path / "out"
    capsys.readouterr()
    assert run(["downscale", str(first), str(second), "--guidance", str(guidance), "--align", "-c", str(ckpt),
                "--out-dir", str(out), "--json"]) == 2
    lines = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert [(d["input"], d["status"], d["error"]) for d in lines] == [
        (str(first), "error", f"{guidance}: {MISSING}"), (str(second), "error", f"{guidance}: {MISSING}")]
    assert aligns == [] and _left(out) == []


def test_an_output_above_the_limit_is_refused_before_aligning(tmp_path: Path, capsys, aligns,
                                                             monkeypatch) -> None:
    lst, guidance = _scene(tmp_path, "a")
    monkeypatch.setattr(pipelines.downscale, "MAX_OUTPUT_PIXELS", 4000)  # the 64 x 64 px output is 4096
    capsys.readouterr()
    assert run(["downscale", str(lst), "--guidance", str(guidance), "--align", "--model", "bicubic",
                "-o", str(tmp_path / "x.tif"), "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["error"] == (
        f"{lst}: the output would be 64 x 64 px (0.0 Gpx, about 0 GiB of float32 before compression), above "
        "the 4e-06 Gpx limit (hint: check the guidance resolution or --scale, or pass --force to write it anyway)")
    assert aligns == []


def test_fit_guidance_bands_are_refused_before_aligning(tmp_path: Path, capsys, aligns) -> None:
    lst, guidance = _scene(tmp_path, "a")
    out = tmp_path / "out"
    capsys.readouterr()
    assert run(["downscale", str(lst), "--guidance", str(guidance), "--align", "--fit", "--model", "tsharp",
                "--guidance-bands", "red,nir,swir", "-o", str(out / "x.tif"), "--json"]) == 2
    line = json.loads(capsys.readouterr().out)
    assert (line["status"], line["error"]) == (
        "error", f"{guidance}: has 2 bands but --guidance-bands names 3 (hint: name every band of the file, in order)")
    assert aligns == [] and _left(out) == []


def test_a_matching_checkpoint_still_aligns(tmp_path: Path, capsys, aligns) -> None:
    lst, guidance = _scene(tmp_path, "a")
    ckpt = save_checkpoint(tmp_path / "ck.pt", scale=2, bands=["red", "nir"])
    assert run(["downscale", str(lst), "--guidance", str(guidance), "--align", "-c", str(ckpt),
                "-o", str(tmp_path / "x.tif"), "--json"]) == 1  # the recorder's failure, after the checks
    assert aligns == [lst]
