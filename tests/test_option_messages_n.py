"""Option refusals are one line that says what was typed and what to pass, before any note
(QA audit of the options; fixer N)."""

from __future__ import annotations

from pathlib import Path

import pytest

from groklst_cli.app import run
from tests.conftest import write_canonical_scene


def _files(root: Path) -> set[Path]:
    return set(root.rglob("*"))


def _refused(argv: list[str], capsys, root: Path) -> str:
    """The one stderr line of a refused command (exit 2), which wrote nothing under ``root``."""
    before = _files(root)
    assert run(argv) == 2, argv
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, lines
    assert captured.out == ""
    assert _files(root) == before
    return lines[0]


@pytest.fixture
def scene(tmp_path: Path, monkeypatch) -> Path:
    """A small scene, with the current folder inside ``tmp_path`` (so that an output written
    into it unasked is seen)."""
    monkeypatch.chdir(tmp_path)
    lst, _ = write_canonical_scene(tmp_path, "a", shape=(24, 24))
    return lst


@pytest.mark.parametrize("argv, message", [
    (["downscale", "{lst}", "--model", "bicubic", "-o", ""],
     "-o: is empty (hint: name the file, e.g. DIR/scene_10m.tif, or give --out-dir DIR)"),
    (["downscale", "{lst}", "--model", "bicubic", "-o", "o.tif", "--quicklook", ""],
     "--quicklook: is empty (hint: name the PNG, e.g. DIR/look.png)"),
    (["mask", "{lst}", "{lst}", "-o", ""], "-o: is empty (hint: name the file, e.g. DIR/masked_lst.tif)"),
    (["downscale", "{lst}", "--model", "bicubic", "--out-dir", ""],
     "--out-dir: is empty (hint: name a folder, e.g. --out-dir out, or drop --out-dir to write into the "
     "current folder)"),
    (["ingest", "{lst}", "--out-dir", ""],
     "--out-dir: is empty (hint: name a folder, e.g. --out-dir scenes (. for the current folder))"),
    (["train", "{lst}", "-o", "run", "--config", ""],
     "--config: is empty (hint: name a TOML or YAML file, or drop --config)"),
])
def test_an_empty_name_is_refused(scene: Path, capsys, argv: list[str], message: str) -> None:
    """QA: ``-o ''`` was refused as "is a folder" after a note; ``--out-dir ''`` wrote into the
    current folder and ``--config ''`` was read as the current folder."""
    argv = [a.format(lst=scene) for a in argv]
    assert _refused(argv, capsys, scene.parent) == f"error: {message}"


@pytest.mark.parametrize("argv, hint", [
    (["downscale", "{lst}", "--model", "bicubic", "-o", "{folder}"],
     "name the file, e.g. DIR/scene_10m.tif, or give --out-dir DIR"),
    (["mask", "{lst}", "{lst}", "-o", "{folder}", "--overwrite"], "name the file, e.g. DIR/masked_lst.tif"),
    (["guidance", "{lst}", "--scale", "3", "-o", "{folder}"], "name the file, e.g. DIR/X_guidance.tif"),
])
def test_a_folder_as_the_file_to_write_gets_the_commands_own_hint(
        scene: Path, capsys, argv: list[str], hint: str) -> None:
    """QA: ``mask -o FOLDER`` hinted ``--out-dir``, which mask does not have."""
    folder = scene.parent / "fine"
    folder.mkdir()
    argv = [a.format(lst=scene, folder=folder) for a in argv]
    line = _refused(argv, capsys, scene.parent)
    assert line == f"error: {folder}: is a folder; an output file never replaces a folder (hint: {hint})"
