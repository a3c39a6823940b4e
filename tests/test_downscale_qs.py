"""QA B3 on ``downscale``: --save-checkpoint naming the --quicklook PNG is refused before any work;
--skip-existing takes an existing PNG beside a finished output for part of the scene (and says a
missing one was not drawn and how to draw it); --fit on an all-nodata LST is ``empty``, exit 3,
as without --fit; an empty stdin loads no model."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np

from groklst_cli.app import run
from tests.conftest import write_canonical_scene
from tests.test_fit_small_fixes import NETWORK, scene

BICUBIC = ["--model", "bicubic"]


def json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


def test_save_checkpoint_naming_the_quicklook_is_refused_before_the_fit(tmp_path: Path, capsys, monkeypatch) -> None:
    lst_path = scene(tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "y").mkdir()
    assert run(["downscale", str(lst_path), "--fit", "--fit-candidates", "tsharp,mocolsk-lite", *NETWORK,
                "--save-checkpoint", "y/same.png", "-o", "y/o.tif", "--quicklook", "./y/same.png", "--json"]) == 2
    captured = capsys.readouterr()
    message = ("y/same.png: is also the --save-checkpoint file; one would overwrite the other "
               "(hint: give the PNG another name)")
    assert captured.err.strip() == f"error: {message}"
    assert json_lines(captured.out) == [{"input": str(lst_path), "output": "y/o.tif", "status": "error",
                                         "error": message, "warnings": []}]
    assert sorted(p.name for p in (tmp_path / "y").iterdir()) == []


def written_scene(tmp_path: Path, capsys) -> tuple[Path, Path, Path]:
    lst_path, _ = write_canonical_scene(tmp_path)
    out, png = tmp_path / "q" / "s1.tif", tmp_path / "q" / "s1.png"
    assert run(["-q", "downscale", str(lst_path), *BICUBIC, "-o", str(out), "--quicklook", str(png)]) == 0
    capsys.readouterr()
    assert out.is_file() and png.is_file()
    return lst_path, out, png


def test_skip_existing_skips_a_scene_whose_output_and_quicklook_exist(tmp_path: Path, capsys) -> None:
    lst_path, out, png = written_scene(tmp_path, capsys)
    before = png.stat().st_mtime_ns, out.stat().st_mtime_ns
    assert run(["downscale", str(lst_path), *BICUBIC, "-o", str(out), "--quicklook", str(png),
                "--skip-existing", "--json"]) == 0
    captured = capsys.readouterr()
    [line] = json_lines(captured.out)
    assert (line["status"], line["output"], line["warnings"], line["quicklook"]) == (
        "skipped", str(out), [], str(png))
    assert f"skipped {lst_path}: {out} exists" in captured.err
    assert "warning" not in captured.err and "quicklook:" not in captured.err
    assert (png.stat().st_mtime_ns, out.stat().st_mtime_ns) == before


def test_skip_existing_says_how_to_draw_a_missing_quicklook(tmp_path: Path, capsys) -> None:
    lst_path, out, png = written_scene(tmp_path, capsys)
    png.unlink()
    assert run(["downscale", str(lst_path), *BICUBIC, "-o", str(out), "--quicklook", str(png),
                "--skip-existing", "--json"]) == 0
    captured = capsys.readouterr()
    said = f"{png}: not drawn, as the scene was skipped (--skip-existing); groklst quicklook {out} -o {png} draws it"
    [line] = json_lines(captured.out)
    assert (line["status"], line["warnings"]) == ("skipped", [said])
    assert f"warning: {said}\n" in captured.err
    assert not png.exists()


def test_skip_existing_never_replaces_a_quicklook_without_its_output(tmp_path: Path, capsys) -> None:
    lst_path, _ = write_canonical_scene(tmp_path)
    out, png = tmp_path / "o.tif", tmp_path / "o.png"
    png.write_bytes(b"someone's picture")
    assert run(["downscale", str(lst_path), *BICUBIC, "-o", str(out), "--quicklook", str(png),
                "--skip-existing"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {png}: exists but the output does not; --skip-existing never replaces it "
        "(hint: remove it, or name another --quicklook file)")
    assert png.read_bytes() == b"someone's picture" and not out.exists()


def test_fit_skip_existing_with_checkpoint_and_quicklook(tmp_path: Path, capsys) -> None:
    lst_path = scene(tmp_path)
    out, ckpt, png = tmp_path / "o.tif", tmp_path / "ck.pt", tmp_path / "o.png"
    command = ["downscale", str(lst_path), "--fit", "--model", "mocolsk-lite", *NETWORK, "-o", str(out),
               "--save-checkpoint", str(ckpt), "--quicklook", str(png), "--json"]
    assert run(["-q", *command]) == 0
    capsys.readouterr()
    assert out.is_file() and ckpt.is_file() and png.is_file()
    assert run([*command, "--skip-existing"]) == 0
    [line] = json_lines(capsys.readouterr().out)
    assert (line["status"], line["warnings"]) == ("skipped", [])
    assert line["save_checkpoint"] == {"path": str(ckpt), "saved": False, "exists": True}
    png.unlink()
    assert run([*command, "--skip-existing"]) == 0
    [line] = json_lines(capsys.readouterr().out)
    assert (line["status"], line["warnings"]) == ("skipped", [
        f"{png}: not drawn, as the scene was skipped (--skip-existing); groklst quicklook {out} -o {png} draws it"])


def test_fit_on_an_all_nodata_lst_is_empty_exit_3(tmp_path: Path, capsys) -> None:
    lst_path, _ = write_canonical_scene(tmp_path, lst=np.full((32, 32), np.nan, dtype=np.float32))
    out = tmp_path / "new" / "o.tif"
    assert run(["downscale", str(lst_path), "--fit", "--fit-candidates", "tsharp", "--fit-psf", "0",
                "-o", str(out), "--json"]) == 3
    captured = capsys.readouterr()
    [line] = json_lines(captured.out)
    error = f"{lst_path}: the LST has no valid pixel (all nodata)"
    assert (line["status"], line["error"], line["output"]) == ("empty", error, str(out))
    assert captured.err.strip().splitlines()[-1] == f"warning: {error}; nothing written"
    assert not (tmp_path / "new").exists()
    assert run(["-q", "downscale", str(lst_path), *BICUBIC, "-o", str(out), "--json"]) == 3  # as without --fit
    assert json_lines(capsys.readouterr().out)[0]["status"] == "empty"


def test_an_empty_stdin_loads_no_model(tmp_path: Path, capsys, monkeypatch) -> None:
    import pipelines.checkpoint

    def not_loaded(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(pipelines.checkpoint, "load_checkpoint", not_loaded)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert run(["downscale", "-", "--out-dir", str(tmp_path / "o"), "--json"]) == 0
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "warning: no input paths on stdin: nothing to do\n")
    assert not (tmp_path / "o").exists()
