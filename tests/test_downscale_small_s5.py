"""Small downscale fixes (s5 f14): --overlap's default fits a small --tile given alone (64 was
refused as more than half of ``--tile 96``), and a --dask-scheduler worker refuses what the
headers tell before aligning the guidance, as the local loop does (it aligned first)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import rasterio

import pipelines.scenes as scenes
from groklst_cli.app import run
from pipelines.checkpoint import load_checkpoint
from pipelines.downscale import DownscaleOptions
from pipelines.infer import ModelSource
from pipelines.scenes import SceneJob, run_job
from tests.conftest import write_canonical_scene
from tests.test_align_order_s5 import MISSING
from tests.test_downscale_learned import save_checkpoint


def _pixels(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    """A 64 x 64 LST at 30 m with its guidance at 10 m: 192 x 192 output px, several 96 px tiles."""
    return write_canonical_scene(tmp_path, "a", shape=(64, 64), ratio=3)[0]


def test_a_small_tile_alone_overlaps_by_half_of_it(scene: Path, tmp_path: Path, capsys) -> None:
    alone, half = tmp_path / "alone.tif", tmp_path / "half.tif"
    assert run(["-q", "downscale", str(scene), "--model", "bicubic", "--tile", "96", "-o", str(alone)]) == 0
    assert run(["-q", "downscale", str(scene), "--model", "bicubic", "--tile", "96", "--overlap", "48",
                "-o", str(half)]) == 0
    np.testing.assert_array_equal(_pixels(alone), _pixels(half))


def test_an_overlap_given_is_still_checked_against_the_tile(scene: Path, tmp_path: Path, capsys) -> None:
    assert run(["-q", "downscale", str(scene), "--model", "bicubic", "--tile", "96", "--overlap", "64",
                "-o", str(tmp_path / "x.tif")]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "error: --overlap 64 at x3 is 63 output px (21 LR px) with --tile 96 at x3 (32 LR px): the overlap is "
        "more than half the tile, so tiles would mostly recompute their neighbours (hint: pass --overlap 48 or "
        "less, or a larger --tile)")
    assert not (tmp_path / "x.tif").exists()


def test_the_default_overlap_of_a_large_tile_stays_64(scene: Path, tmp_path: Path) -> None:
    alone, given = tmp_path / "alone.tif", tmp_path / "given.tif"
    assert run(["-q", "downscale", str(scene), "--model", "bicubic", "--tile", "192", "-o", str(alone)]) == 0
    assert run(["-q", "downscale", str(scene), "--model", "bicubic", "--tile", "192", "--overlap", "64",
                "-o", str(given)]) == 0
    np.testing.assert_array_equal(_pixels(alone), _pixels(given))


@pytest.fixture
def aligns(monkeypatch) -> list[Path]:
    """The LSTs a scene aligned the guidance of (the worker's slow warp), failing the scene."""
    calls: list[Path] = []

    @contextmanager
    def recorded(lst, guidance, out, scale=None):
        calls.append(Path(lst))
        raise AssertionError("aligned before the header checks")
        yield  # a context manager, as aligned_guidance

    monkeypatch.setattr(scenes, "aligned_guidance", recorded)
    return calls


@pytest.mark.parametrize("stoppable", [False, True], ids=["local", "dask-worker"])
def test_a_worker_refuses_a_checkpoint_of_other_bands_before_aligning(tmp_path: Path, aligns,
                                                                      stoppable: bool) -> None:
    """run_job as a --dask-scheduler worker runs it (``stopped`` given, the output staged) and as
    the local loop does: the header's error, and nothing aligned or written."""
    lst, guidance = write_canonical_scene(tmp_path, "a", bands=("red", "nir"), ratio=2)
    ckpt = save_checkpoint(tmp_path / "ck.pt", scale=2)
    source = ModelSource(checkpoint=load_checkpoint(ckpt), checkpoint_path=ckpt, device="cpu")
    out = tmp_path / "out" / "x.tif"
    report = run_job(SceneJob(lst, out, guidance, align=True), source, DownscaleOptions(),
                     stopped=(lambda: False) if stoppable else None)
    assert (report.status, report.error) == ("error", f"{guidance}: {MISSING}")
    assert aligns == [] and [p.name for p in (tmp_path / "out").rglob("*")] == []


def test_a_worker_still_aligns_a_matching_checkpoint(tmp_path: Path, aligns) -> None:
    lst, guidance = write_canonical_scene(tmp_path, "a", bands=("red", "nir"), ratio=2)
    ckpt = save_checkpoint(tmp_path / "ck.pt", scale=2, bands=["red", "nir"])
    source = ModelSource(checkpoint=load_checkpoint(ckpt), checkpoint_path=ckpt, device="cpu")
    report = run_job(SceneJob(lst, tmp_path / "x.tif", guidance, align=True), source, DownscaleOptions(),
                     stopped=lambda: False)
    assert report.status == "failed" and aligns == [lst]  # the recorder's failure, after the checks
