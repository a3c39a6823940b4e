"""QA fixDL: downscale's edges. An empty stdin list refuses options naming missing files (exit 2,
without loading a model); a skipped scene's --json line says whether its --quicklook PNG is there;
--conserve-spread smooth conserves without guidance and on a dask cluster."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

import pipelines.checkpoint
from groklst_cli.app import run
from pipelines.infer import DEFAULT_CHECKPOINT
from tests.test_downscale import make_scene, read


def _empty_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))


def _model_never_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a checkpoint's weights fails the test: an empty list loads no model."""
    def load(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(pipelines.checkpoint, "load_checkpoint", load)


@pytest.mark.parametrize("option, name, said", [
    ("--checkpoint", "missing.pt", "checkpoint file not found"),
    ("--checkpoint", "notes.pt", "not a readable groklst checkpoint (not a PyTorch file)"),
    ("--guidance", "missing_guidance.tif", "file not found (hint: check the path)"),
])
def test_an_empty_list_refuses_an_option_naming_no_usable_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        option: str, name: str, said: str) -> None:
    """QA: ``printf '' | groklst downscale - --checkpoint /nonexistent.pt`` exited 0."""
    (tmp_path / "notes.pt").write_text("not a checkpoint")
    _empty_stdin(monkeypatch)
    capsys.readouterr()
    assert run(["downscale", "-", option, str(tmp_path / name), "--out-dir", str(tmp_path / "out")]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "warning: no input paths on stdin: nothing to do"
    assert len(lines) == 2 and lines[1].startswith(f"error: {tmp_path / name}: {said}")
    assert not (tmp_path / "out").exists()


def test_an_empty_list_with_a_good_checkpoint_exits_0_without_loading_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    if not DEFAULT_CHECKPOINT.is_file():
        pytest.skip("the shipped checkpoint is not installed")
    _model_never_loaded(monkeypatch)
    _empty_stdin(monkeypatch)
    capsys.readouterr()
    assert run(["downscale", "-", "--checkpoint", str(DEFAULT_CHECKPOINT), "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "warning: no input paths on stdin: nothing to do\n"


@pytest.mark.parametrize("options", [["--fit"], ["--fit", "--json"], ["--fit", "--quicklook", "q.png"],
                                     ["--model", "bicubic", "--quicklook", "q.png"]])
def test_an_empty_list_is_nothing_to_do_with_fit_or_quicklook(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        options: list[str]) -> None:
    """An empty list is exit 0 with --fit (it was "fits one scene at a time but 0 inputs", exit 2,
    or an IndexError) and with --quicklook ("applies to a single input"), as without them."""
    _empty_stdin(monkeypatch)
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert run(["downscale", "-", *options]) == 0
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "warning: no input paths on stdin: nothing to do\n")
    assert list(tmp_path.iterdir()) == []


def test_an_empty_list_still_checks_the_quicklook_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _empty_stdin(monkeypatch)
    capsys.readouterr()
    assert run(["downscale", "-", "--fit", "--quicklook", str(tmp_path / "q.jpg")]) == 2
    assert "the quick look is a PNG, not .jpg" in capsys.readouterr().err


BICUBIC = ["--model", "bicubic"]


def test_a_skipped_scene_without_its_quicklook_says_null_in_its_json_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """QA: the missing PNG was only a warning beside the skip record; the line now says it too."""
    lst, _ = make_scene(tmp_path)
    out, png = tmp_path / "o.tif", tmp_path / "o.png"
    command = ["downscale", str(lst), *BICUBIC, "-o", str(out), "--quicklook", str(png), "--json"]
    assert run(["-q", *command]) == 0
    capsys.readouterr()
    assert run(["-q", *command, "--skip-existing"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert (line["status"], line["warnings"], line["quicklook"]) == ("skipped", [], str(png))  # the PNG there
    png.unlink()
    assert run(["-q", *command, "--skip-existing"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert (line["status"], line["quicklook"]) == ("skipped", None)
    assert line["warnings"] == [f"{png}: not drawn, as the scene was skipped (--skip-existing); "
                                f"groklst quicklook {out} -o {png} draws it"]
    assert not png.exists()


ROWS, COLS, SCALE = 40, 50, 3


@pytest.mark.parametrize("spread", ["block", "smooth"])
@pytest.mark.parametrize("on_dask", [False, True])
def test_conserve_spread_without_guidance_aggregates_exactly(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], spread: str, on_dask: bool) -> None:
    """--conserve-spread with --scale (no guidance), locally and on a cluster: the output aggregates
    in T^4 to the input (measured: 1.5e-5 K worst) and carries the tags."""
    lst, guidance = make_scene(tmp_path)
    guidance.unlink()
    out_dir = tmp_path / "out"
    command = ["-q", "downscale", str(lst), *BICUBIC, "--scale", str(SCALE), "--conserve-spread", spread,
               "--tile", "60", "--overlap", "18", "--out-dir", str(out_dir), "--json"]
    if on_dask:
        distributed = pytest.importorskip("dask.distributed")
        with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                      dashboard_address=None) as cluster:
            capsys.readouterr()
            status = run([*command, "--dask-scheduler", cluster.scheduler_address])
    else:
        capsys.readouterr()
        status = run(command)
    line = json.loads(capsys.readouterr().out)
    assert status == 0 and line["status"] == "ok" and "refined x3" in line["grid"]
    hr, _, tags = read(out_dir / "scene_lst_downscaled.tif")
    with rasterio.open(lst) as src:
        lr = src.read(1).astype(np.float64)
    blocks = hr.astype(np.float64).reshape(ROWS, SCALE, COLS, SCALE)
    valid = np.isfinite(lr) & np.isfinite(blocks).all(axis=(1, 3))
    assert valid.sum() > 0.9 * lr.size
    np.testing.assert_allclose(np.mean(blocks**4, axis=(1, 3))[valid] ** 0.25, lr[valid], atol=1e-3)
    assert (tags["conserve"], tags["conserve_spread"], tags["guidance_source"]) == ("true", spread, "none")
