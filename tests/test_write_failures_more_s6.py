"""Write failures that named the wrong cause or claimed a file that was gone (review of aa517cb):
a --cog copy over the file-size limit, a quick look whose output folder vanished, a train
checkpoint over the file-size limit."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-c", "from groklst_cli.app import main; main()"]
TOO_LARGE = "writing failed (File too large) (hint: the file system or a ulimit caps the file size)"


def _limit(kib: int):
    """A preexec_fn capping the size of the files the child writes (``ulimit -f KIB``)."""
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (kib * 1024, kib * 1024))
    return apply


def _run(cwd: Path, *args: str, kib: int | None = None, code: str | None = None) -> subprocess.CompletedProcess:
    command = CLI if code is None else [sys.executable, "-c", code]
    return subprocess.run([*command, "-q", *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          preexec_fn=None if kib is None else _limit(kib))


def _error_line(proc: subprocess.CompletedProcess) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """s/: an LST and guidance pair of 200 px (the 600 px guidance fits 900 kB, its COG not)."""
    root = tmp_path_factory.mktemp("scene")
    subprocess.run([*CLI, "-q", "sample-scene", "s", "--size", "200"], cwd=root, check=True,
                   capture_output=True, timeout=300)
    return root / "s"


def test_a_cog_over_the_size_limit_says_file_too_large(scene: Path, tmp_path: Path) -> None:
    """GDAL removed the failed COG copy and raised libtiff's 'Seek error at scanline 0' only."""
    proc = _run(tmp_path, "downscale", str(scene / "heihe_demo_lst.tif"), "-g", str(scene / "heihe_demo_guidance.tif"),
                "--model", "bicubic", "-o", "o.tif", "--cog", kib=900)
    line = _error_line(proc)
    assert line.startswith(f"error: o.tif: {TOO_LARGE}"), line
    assert "TIFF" not in line and "scanline" not in line
    assert sorted(p.name for p in tmp_path.iterdir()) == []


_REMOVE_WHILE_DRAWING = """
import os, shutil, sys
from pipelines import quicklook
save = quicklook._save_png
def removing(fig, tmp, png_path):
    shutil.rmtree(os.path.dirname(png_path))
    return save(fig, tmp, png_path)
quicklook._save_png = removing
from groklst_cli.app import main
sys.argv[0] = "groklst"
main()
"""


def test_a_quicklook_whose_folder_vanished_does_not_claim_the_geotiff_kept(scene: Path, tmp_path: Path) -> None:
    """'the GeoTIFF u/o.tif was written and kept' was said of one removed with its folder."""
    (tmp_path / "u").mkdir()
    proc = _run(tmp_path, "downscale", str(scene / "heihe_demo_lst.tif"), "-g", str(scene / "heihe_demo_guidance.tif"),
                "--model", "bicubic", "-o", "u/o.tif", "--quicklook", "u/q.png", code=_REMOVE_WHILE_DRAWING)
    assert proc.returncode != 0, proc.stderr
    line = next(line for line in proc.stderr.splitlines() if line.startswith("error: u/q.png"))
    assert line.endswith("; the GeoTIFF u/o.tif was removed with its folder: run the scene again "
                         f"(scene {scene / 'heihe_demo_lst.tif'})"), line
    assert "kept" not in line and not (tmp_path / "u").exists()


def test_train_checkpoint_over_the_size_limit_says_file_too_large(scene: Path, tmp_path: Path) -> None:
    """torch.save's RuntimeError ('unexpected pos 90496 vs 90384') was an internal error, exit 1."""
    subprocess.run([*CLI, "-q", "prepare", str(scene / "heihe_demo_lst.tif"), "-o", "ds", "--patch", "64"],
                   cwd=tmp_path, check=True, capture_output=True, timeout=300)
    proc = _run(tmp_path, "train", "ds", "-o", "run", "--model", "mocolsk-lite", "--iters", "2", "--batch-size", "1",
                "--crop", "48", "--val-every", "1", "--device", "cpu", kib=100)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and errors == [f"error: run/last.pt: {TOO_LARGE}"], proc.stderr
    assert not (tmp_path / "run" / "last.pt").exists()
    assert not list((tmp_path / "run").glob(".*.partial*")) if (tmp_path / "run").exists() else True


def test_train_state_over_the_size_limit_says_file_too_large(scene: Path, tmp_path: Path) -> None:
    """last.pt (7.8 MB) fits a 12 MB limit, state.pt (23.6 MB: the optimiser's moments too) does not:
    its torch.save went unhandled, an internal error (review of 1431f8e)."""
    subprocess.run([*CLI, "-q", "prepare", str(scene / "heihe_demo_lst.tif"), "-o", "ds", "--patch", "64"],
                   cwd=tmp_path, check=True, capture_output=True, timeout=300)
    proc = _run(tmp_path, "train", "ds", "-o", "run", "--model", "mocolsk-lite", "--iters", "2", "--batch-size", "1",
                "--crop", "48", "--val-every", "1", "--device", "cpu", kib=12_000)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and errors == [f"error: run/state.pt: {TOO_LARGE}"], proc.stderr
    assert not (tmp_path / "run" / "last.pt").exists()  # the save is all or none
