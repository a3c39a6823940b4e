"""Inputs and outputs at the file system's edges: named pipes, symlink loops, full disks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.errors import special_file_error
from tests.conftest import write_canonical_scene

PIPE_HINT = "give a regular file"


@pytest.fixture
def scene(tmp_path: Path) -> tuple[Path, Path]:
    return write_canonical_scene(tmp_path, shape=(8, 8))


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo_lst.tif"
    os.mkfifo(path)
    return path


def _groklst(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the CLI in its own process: opening a named pipe blocks where no signal reaches, so
    the timeout keeps a regression from hanging the suite."""
    return subprocess.run([sys.executable, "-m", "groklst_cli", "--threads", "1", "-q", *map(str, args)],
                          capture_output=True, text=True, timeout=60)


def _refused_as_pipe(proc: subprocess.CompletedProcess[str], fifo: Path) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [f"error: {fifo}: is a named pipe, not a file (hint: {PIPE_HINT}; save a stream to a "
                     "file first (groklst reads an input more than once, and waits forever on a pipe nobody writes to), "
                     "or read a compressed file through /vsigzip/)"]


def test_special_file_error_names_a_pipe_and_leaves_other_paths_to_their_callers(tmp_path, fifo) -> None:
    regular = tmp_path / "a.tif"
    regular.write_bytes(b"x")
    link = tmp_path / "link.tif"
    link.symlink_to(regular)
    error = special_file_error(fifo)
    assert error is not None and (error.path, error.problem) == (str(fifo), "is a named pipe, not a file")
    for fine in (regular, link, tmp_path, tmp_path / "missing.tif", "/vsicurl/https://host/a.tif"):
        assert special_file_error(fine) is None
    assert special_file_error("/dev/null").problem == "is a character device, not a file"


def test_downscale_refuses_a_pipe_as_the_lst(scene, fifo, tmp_path) -> None:
    _refused_as_pipe(_groklst("downscale", "--model", "bicubic", fifo, "-g", scene[1], "-o", tmp_path / "o.tif"),
                     fifo)


def test_downscale_refuses_a_pipe_as_the_guidance_and_the_checkpoint(scene, fifo, tmp_path) -> None:
    guided = _groklst("downscale", "--model", "bicubic", scene[0], "-g", fifo, "-o", tmp_path / "o.tif")
    assert guided.returncode == 2
    assert f"{fifo}: is a named pipe, not a file (hint: {PIPE_HINT}" in guided.stderr
    _refused_as_pipe(_groklst("downscale", scene[0], "-g", scene[1], "-c", fifo, "-o", tmp_path / "o.tif"), fifo)
    assert not (tmp_path / "o.tif").exists()


def test_mask_refuses_a_pipe_on_either_side(scene, fifo, tmp_path) -> None:
    """compare reads a pipe into memory (tests/test_compare_pipes.py); mask, like the rest, refuses one."""
    _refused_as_pipe(_groklst("mask", fifo, scene[0], "-o", tmp_path / "m.tif"), fifo)
    _refused_as_pipe(_groklst("mask", scene[0], fifo, "-o", tmp_path / "m.tif"), fifo)
    assert not (tmp_path / "m.tif").exists()


def test_an_output_or_input_under_a_looping_symlink_is_a_one_line_input_error(scene, tmp_path, monkeypatch) -> None:
    from groklst_cli.app import run

    monkeypatch.chdir(tmp_path)
    Path("loop").symlink_to("loop")
    lst, guidance = scene
    for args in (["downscale", "--model", "bicubic", str(lst), "-o", "loop/x.tif"],
                 ["guidance", str(lst), str(guidance), "--scale", "3", "-o", "loop/g.tif"],
                 ["downscale", "--model", "bicubic", "loop/x.tif", "-o", "y.tif"]):
        assert run(["-q", *args]) == 2, args
    from pipelines.atomic import resolved
    from pipelines.errors import InputError

    with pytest.raises(InputError) as refused:
        resolved("loop/x.tif")
    assert str(refused.value) == (f"loop/x.tif: cannot be reached: {tmp_path / 'loop'} is a symbolic link that "
                                  "loops (to loop) (hint: fix or remove the link, or choose another folder)")


def test_overwrite_never_replaces_a_file_that_is_no_tiff(scene, tmp_path, capsys) -> None:
    """QA fuzz: ``-o keep.txt --overwrite`` replaced a user's text file with a GeoTIFF. A file
    that is no TIFF is no output of groklst's: refused, left byte-identical; an empty file
    (``mktemp``) and an earlier GeoTIFF output are replaced as before."""
    from groklst_cli.app import run

    lst, guidance = scene
    notes = tmp_path / "notes.txt"
    notes.write_text("field notes\n")
    for command in (["downscale", lst, "--model", "bicubic"], ["guidance", lst, guidance]):
        capsys.readouterr()
        assert run(["-q", *map(str, command), "-o", str(notes), "--overwrite"]) == 2
        assert f"{notes}: exists and is not a TIFF" in capsys.readouterr().err
        assert notes.read_text() == "field notes\n"
    empty = tmp_path / "tmp.Xy12ab"
    empty.touch()
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(empty), "--overwrite"]) == 0
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(empty), "--overwrite"]) == 0
    assert empty.read_bytes()[:4] in (b"II*\0", b"II+\0")
