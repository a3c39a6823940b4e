"""``downscale`` on SDGSAT-1 product folders the planning refuses (QA s7 K1): a missing calib.xml
is the scene's error line with every key, the output named, and its stderr line names the scene,
as a truncated TIFF's does; a folder that is not there is 'file not found', not 'is a file'."""

from __future__ import annotations

import json
from pathlib import Path

from groklst_cli.app import run
from tests.test_downscale_products_dj import SCENE, SCENE_KEYS, folders  # noqa: F401 - the fixture


def test_a_missing_calib_xml_is_the_scene_line_with_every_key(tmp_path: Path, folders, capsys) -> None:
    tis = Path(folders[0])
    calib = tis / f"{tis.name}.calib.xml"
    calib.unlink()
    out_dir = tmp_path / "out"
    assert run(["-q", "downscale", *folders, "--out-dir", str(out_dir), "--json"]) == 2
    captured = capsys.readouterr()
    line = json.loads(captured.out)
    assert list(line) == SCENE_KEYS
    error = f"{calib}: calib.xml not found (hint: the radiance gains and biases are in it: copy the complete product folder)"
    assert {key: line[key] for key in SCENE_KEYS if key != "seconds"} == {
        "input": ", ".join(folders), "output": str(out_dir / f"{SCENE}_lst_downscaled.tif"), "status": "error",
        "megapixels": 0.0, "error": error, "grid": None, "units": None, "tiles": 0, "tiles_skipped": 0,
        "valid_fraction": None, "hole_margin": None, "warnings": []}
    assert isinstance(line["seconds"], float) and 0 <= line["seconds"] < 60
    assert captured.err == f"error: {error} (scene {', '.join(folders)})\n"
    assert not out_dir.exists()  # nothing made for a refused scene


def test_a_product_folder_that_is_not_there_is_not_found(tmp_path: Path, folders, capsys) -> None:
    typo = str(tmp_path / "typo_TIS")
    assert run(["-q", "downscale", typo, folders[1], "--out-dir", str(tmp_path / "out"), "--json"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"input": None, "output": None, "status": "error",
                                        "error": f"{typo}: file not found (hint: check the path)", "warnings": []}
    assert captured.err == f"error: {typo}: file not found (hint: check the path)\n"
