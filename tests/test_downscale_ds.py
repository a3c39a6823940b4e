"""QA fixDS: downscale says a scene's unreadable input before loading the model, takes -s for
--scale, and a missing variadic argument is named as --help names it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import rasterio

import pipelines.checkpoint
from groklst_cli.app import run
from tests.conftest import write_canonical_scene


def _model_never_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a checkpoint fails the test: the input's error must come first."""
    def load(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(pipelines.checkpoint, "load_checkpoint", load)


def test_a_mistyped_lst_path_is_said_before_the_model_loads(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """QA: the ``model ...`` line was printed and the model loaded before the file-not-found error."""
    _model_never_loaded(monkeypatch)
    typo = tmp_path / "scene_lst.tf"
    assert run(["downscale", str(typo), "-o", str(tmp_path / "out" / "x.tif")]) == 2
    assert capsys.readouterr().err == f"error: {typo}: file not found (hint: check the path)\n"
    assert not (tmp_path / "out").exists()


def test_a_missing_guidance_is_the_scenes_error_and_the_others_go_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    lst, guidance = write_canonical_scene(tmp_path, "good")
    lonely, _ = write_canonical_scene(tmp_path, "lonely")
    (tmp_path / "lonely_guidance.tif").unlink()
    status = run(["downscale", str(lonely), str(lst), "--model", "bicubic", "--out-dir", str(tmp_path / "o"),
                  "--json"])
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert status == 2
    assert [(line["input"], line["status"]) for line in lines] == [(str(lonely), "error"), (str(lst), "ok")]
    assert lines[0]["error"] == f"{tmp_path / 'lonely_guidance.tif'}: file not found (hint: check the path)"
    assert (tmp_path / "o" / "good_lst_downscaled.tif").is_file()
    assert not (tmp_path / "o" / "lonely_lst_downscaled.tif").exists()


def test_only_unreadable_inputs_load_no_model(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Every scene refused by its input: no ``model ...`` line, the scene's error line, exit 2."""
    _model_never_loaded(monkeypatch)
    lst, _ = write_canonical_scene(tmp_path, "a")
    (tmp_path / "a_guidance.tif").unlink()
    assert run(["downscale", str(lst), "-o", str(tmp_path / "x.tif")]) == 2
    assert capsys.readouterr().err == (f"error: {tmp_path / 'a_guidance.tif'}: file not found "
                                       f"(hint: check the path) (scene {lst})\n")


def test_s_is_scale(tmp_path: Path) -> None:
    """``-s`` is --scale, as for guidance and models."""
    lst, _ = write_canonical_scene(tmp_path, "s", shape=(8, 10))
    out = tmp_path / "s.tif"
    assert run(["-q", "downscale", str(lst), "-m", "bicubic", "-s", "4", "-o", str(out)]) == 0
    with rasterio.open(out) as src:
        assert (src.height, src.width) == (32, 40)


@pytest.mark.parametrize(("args", "line"), [
    (["compare", "ref.tif"], "error: Missing argument 'candidates...'. (hint: groklst compare --help)\n"),
    (["compare"], "error: Missing argument 'reference'. (hint: groklst compare --help)\n"),
])
def test_a_missing_argument_is_named_as_the_help_names_it(
        args: list[str], line: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(args) == 2
    assert capsys.readouterr().err == line


def test_the_early_check_stops_at_the_first_scene_that_opens(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """An archive is not opened twice before its first output: the check before the model loads
    opens scenes up to the first good one, the run opens the rest in their turn."""
    from pipelines.tile_reader import SceneSources

    events: list[str] = []
    real_open, real_load = SceneSources.open, pipelines.checkpoint.load_checkpoint

    def opened(stack, lst, guidance=None, *args, **kwargs):  # noqa: ANN001, ANN202 - a spy
        events.append(Path(lst).name)
        return real_open(stack, lst, guidance, *args, **kwargs)

    def loaded(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - a spy
        events.append("model")
        return real_load(*args, **kwargs)

    monkeypatch.setattr(SceneSources, "open", staticmethod(opened))
    monkeypatch.setattr(pipelines.checkpoint, "load_checkpoint", loaded)
    good, _ = write_canonical_scene(tmp_path, "good")
    later, _ = write_canonical_scene(tmp_path, "later")
    missing = tmp_path / "missing_lst.tif"
    status = run(["-q", "downscale", str(missing), str(good), str(later), "--out-dir", str(tmp_path / "o"),
                  "--json"])
    assert status == 2
    assert events[:events.index("model")] == ["missing_lst.tif", "good_lst.tif"]
    assert "later_lst.tif" in events[events.index("model"):]  # opened by the run, in its turn
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [Path(line["input"]).name for line in lines] == ["missing_lst.tif", "good_lst.tif", "later_lst.tif"]
    assert "file not found" in lines[0]["error"]
