"""``-`` among the rasters of compare, mask or guidance is no file (downscale reads paths from
stdin as ``-``): refused naming what to do instead, not as ``./-: file not found``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from groklst_cli.app import run


@pytest.fixture()
def scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small generated scene's LST in ``tmp_path``, the working folder."""
    monkeypatch.chdir(tmp_path)
    assert run(["-q", "sample-scene", str(tmp_path), "--size", "24"]) == 0
    return tmp_path / "heihe_demo_lst.tif"


def test_compare_says_to_pipe_through_dev_stdin(scene: Path, capsys) -> None:  # noqa: ANN001
    assert run(["compare", str(scene), "-"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: ./-: is no file: groklst compare reads no raster from '-' "
        "(hint: pipe the raster in as /dev/stdin: ... | groklst compare ... /dev/stdin)")


def test_mask_says_to_save_the_raster_and_writes_nothing(scene: Path, capsys) -> None:  # noqa: ANN001
    out = scene.parent / "masked.tif"
    assert run(["mask", str(scene), "-", "-o", str(out)]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: ./-: is no file: groklst mask reads no raster from '-' "
        "(hint: save the raster to a file and name it)")
    assert not out.exists()


def test_a_file_named_dash_is_still_read(scene: Path, capsys) -> None:  # noqa: ANN001
    shutil.copy(scene, scene.parent / "-")
    assert run(["compare", str(scene), "-", "--json"]) == 0
    assert '"rmse": 0.0' in capsys.readouterr().out
