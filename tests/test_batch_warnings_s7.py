"""A batch's warnings each on the --json line of the scene they are about, once (QA s7): a JPEG
LST warned of by the command's header check before the scenes landed on another scene's line (a
refused scene said first; with --dask-scheduler, whichever scene finished first) and, on a
cluster, was said again by the worker ("given 1 more time"); with --align, a shared JPEG
guidance's warning was on the first scene's line only (the aligned copy is no longer JPEG)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio

import pipelines.scenes
from groklst_cli.app import run
from tests.conftest import write_canonical_scene
from tests.test_input_checks_s5 import LOSSLESS, LOSSY, _byte_lst, _copy

JPEG_LST = f"j_lst.tif: {LOSSY} by kelvins, and nodata pixels may read as data; {LOSSLESS}"
JPEG_GUIDANCE = f"gj.tif: {LOSSY}; {LOSSLESS}"
BICUBIC = ["--model", "bicubic", "--out-dir", "out", "--json"]


@pytest.fixture
def scenes(tmp_path: Path, monkeypatch) -> Path:
    """``j_lst.tif`` (JPEG) and ``b_lst.tif`` (lossless), each with its guidance beside it."""
    monkeypatch.chdir(tmp_path)
    lst, guidance = write_canonical_scene(tmp_path, "a", seed=1)
    write_canonical_scene(tmp_path, "b", seed=2)
    _byte_lst(lst, Path("j_lst.tif"), compress="JPEG")
    shutil.copy(guidance, "j_guidance.tif")
    return tmp_path


def _warnings_by_scene(out: str) -> dict[str, list[str]]:
    return {Path(line["input"]).name: line["warnings"] for line in map(json.loads, out.splitlines())}


def _warning_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning:")]


def test_a_jpeg_lst_is_on_its_own_line_after_a_refused_scene(scenes: Path, capsys) -> None:
    Path("bad_lst.tif").write_text("not a raster")
    assert run(["downscale", "bad_lst.tif", "j_lst.tif", *BICUBIC]) == 2
    captured = capsys.readouterr()
    assert _warnings_by_scene(captured.out) == {"bad_lst.tif": [], "j_lst.tif": [JPEG_LST]}
    assert _warning_lines(captured.err) == [f"warning: {JPEG_LST}"]


def test_a_jpeg_lst_on_a_dask_cluster_is_said_once_on_its_own_line(scenes: Path, capsys, monkeypatch) -> None:
    """The JPEG scene finishes last (two worker threads, it waits 2 s): the client's header
    check's warning went on the other scene's line, and the worker said it twice more."""
    distributed = pytest.importorskip("dask.distributed")
    downscale = pipelines.scenes.downscale_scene

    def jpeg_last(lst, *args, **kwargs):  # noqa: ANN001, ANN202
        if lst.name == "j_lst.tif":
            time.sleep(2)
        return downscale(lst, *args, **kwargs)

    monkeypatch.setattr(pipelines.scenes, "downscale_scene", jpeg_last)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        capsys.readouterr()
        assert run(["downscale", "j_lst.tif", "b_lst.tif", *BICUBIC,
                    "--dask-scheduler", cluster.scheduler_address]) == 0
    captured = capsys.readouterr()
    assert [Path(json.loads(line)["input"]).name for line in captured.out.splitlines()] == ["b_lst.tif", "j_lst.tif"]
    assert _warnings_by_scene(captured.out) == {"b_lst.tif": [], "j_lst.tif": [JPEG_LST]}
    assert _warning_lines(captured.err) == [f"warning: {JPEG_LST}"]


def test_a_shared_jpeg_guidance_under_align_is_on_every_scenes_line(scenes: Path, capsys) -> None:
    with rasterio.open("j_guidance.tif") as src:
        stored = np.rint(src.read() * 254 + 1).astype(np.uint8)
    _copy(Path("j_guidance.tif"), Path("gj.tif"), stored, dtype="uint8", nodata=None, compress="JPEG",
          interleave="band")
    assert run(["downscale", "a_lst.tif", "b_lst.tif", "-g", "gj.tif", "--align", *BICUBIC]) == 0
    captured = capsys.readouterr()
    assert _warnings_by_scene(captured.out) == {"a_lst.tif": [JPEG_GUIDANCE], "b_lst.tif": [JPEG_GUIDANCE]}
    assert _warning_lines(captured.err) == [f"warning: {JPEG_GUIDANCE}",
                                            f"warning: given 1 more time: {JPEG_GUIDANCE}"]
