"""``groklst downscale`` option checks found by QA: --precision/--compile refused for a --fit
without a network as for an interpolator (--plain and fp32 accepted for both), --align with
--scale refused without a circular hint, a --quicklook naming an input named as the clashing
output, and a skipped scene's --json line naming its existing --quicklook PNG as typed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from groklst_cli.app import run

LST = "s/heihe_demo_lst.tif"


@pytest.fixture(scope="module")
def scene_dir(tmp_path_factory) -> Path:
    """A 96 px sample scene in ``s/`` (LST and guidance beside it)."""
    root = tmp_path_factory.mktemp("h16")
    assert run(["-q", "sample-scene", str(root / "s"), "--size", "96"]) == 0
    return root


@pytest.fixture
def here(scene_dir: Path, tmp_path: Path, monkeypatch) -> Path:
    """A fresh working folder holding the sample scene as ``s/``."""
    shutil.copytree(scene_dir / "s", tmp_path / "s")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize(("args", "line"), [
    (["-m", "tsharp", "--precision", "bf16", "--compile"],
     "error: --compile: does not apply to --fit --model tsharp, which fits no network "
     "(hint: drop it, or fit a network such as mocolsk-lite; groklst models lists them)"),
    (["-m", "dms", "--precision", "fp16"],
     "error: --precision: does not apply to --fit --model dms, which fits no network "
     "(hint: drop it, or fit a network such as mocolsk-lite; groklst models lists them)"),
    (["--fit-candidates", "bicubic,gwr", "--precision", "bf16"],
     "error: --precision: does not apply to --fit-candidates bicubic,gwr, which fits no network "
     "(hint: drop it, or fit a network such as mocolsk-lite; groklst models lists them)"),
])
def test_network_options_are_refused_for_a_fit_without_a_network(here: Path, capsys, args: list[str],
                                                                  line: str) -> None:
    """QA: they were accepted and ignored without a word (no warning, no precision tag)."""
    assert run(["downscale", LST, "--fit", *args, "-o", "ts.tif", "--json"]) == 2
    captured = capsys.readouterr()
    assert _lines(captured.err) == [line]
    record = json.loads(captured.out)
    assert (record["status"], record["error"]) == ("error", line.removeprefix("error: "))
    assert not (here / "ts.tif").exists()


def test_plain_and_fp32_are_accepted_where_no_network_runs(here: Path, capsys) -> None:
    """--plain and --precision fp32 name the exact fp32 eager path an interpolator or a classic
    sharpener runs anyway: accepted for both, as bf16 is refused for both."""
    assert run(["-q", "downscale", LST, "-m", "bicubic", "--plain", "--precision", "fp32", "-o", "b.tif"]) == 0
    assert run(["-q", "downscale", LST, "--fit", "-m", "tsharp", "--plain", "--precision", "fp32",
                "-o", "t.tif"]) == 0
    assert (here / "b.tif").is_file() and (here / "t.tif").is_file()
    capsys.readouterr()
    assert run(["downscale", LST, "-m", "bicubic", "--precision", "bf16", "-o", "b2.tif"]) == 2
    assert _lines(capsys.readouterr().err) == [
        "error: --precision: does not apply to --model bicubic, a non-learned interpolator that runs no network "
        "(hint: drop it, or pass --checkpoint CKPT or --fit to run a network)"]


def test_align_with_scale_is_refused_without_a_circular_hint(here: Path, capsys) -> None:
    """QA: the hint said to pass --guidance, which --scale then refused."""
    assert run(["downscale", LST, "-m", "bicubic", "--scale", "3", "--align", "-o", "b3.tif"]) == 2
    assert _lines(capsys.readouterr().err) == [
        "error: --align: aligns a --guidance raster onto the LST grid, and --scale reads no guidance "
        "(hint: drop --align to interpolate the LST alone, or drop --scale and pass --guidance G.tif)"]
    assert not (here / "b3.tif").exists()


def test_a_quicklook_naming_an_input_is_said_to_be_the_clash(here: Path, capsys) -> None:
    """QA: "the output is one of the inputs (hint: write the output under another name)" read as -o."""
    before = (here / LST).read_bytes()
    assert run(["downscale", LST, "-m", "bicubic", "--quicklook", LST, "-o", "out.tif"]) == 2
    assert _lines(capsys.readouterr().err) == [
        f"error: --quicklook: names the input {LST}; it would be overwritten (hint: give the PNG another name)"]
    assert (here / LST).read_bytes() == before and not (here / "out.tif").exists()


def _json_line(capsys, *extra: str) -> dict:
    assert run(["-q", "downscale", LST, "-m", "bicubic", "-o", "out.tif", "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_skipped_json_line_names_the_existing_quicklook_as_typed(here: Path, capsys) -> None:
    """QA: a skipped line had no quicklook key with the PNG there, as a run without --quicklook."""
    drawn = _json_line(capsys, "--quicklook", "./q.png")
    assert (drawn["status"], drawn["quicklook"]) == ("ok", "./q.png")
    skipped = _json_line(capsys, "--quicklook", "./q.png", "--skip-existing")
    assert (skipped["status"], skipped["quicklook"]) == ("skipped", "./q.png")
    (here / "q.png").unlink()
    missing = _json_line(capsys, "--quicklook", "./q.png", "--skip-existing")
    assert (missing["status"], missing["quicklook"]) == ("skipped", None)
    without = _json_line(capsys, "--skip-existing")
    assert without["status"] == "skipped" and "quicklook" not in without
