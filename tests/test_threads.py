"""``groklst --threads N``: every thread pool a run uses is capped while the command runs and
restored after it (several groklst processes side by side must not oversubscribe the cores)."""

from __future__ import annotations

import os
from pathlib import Path

import dask
import numpy as np
import torch
from threadpoolctl import threadpool_info

from groklst_cli.app import run
from pipelines.threads import joblib_jobs, thread_limit
from tests.conftest import write_canonical_scene


def test_thread_limit_caps_every_pool_and_restores_them(monkeypatch) -> None:
    monkeypatch.delenv("GDAL_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    with thread_limit(1):
        assert torch.get_num_threads() == 1 and os.environ["GDAL_NUM_THREADS"] == "1"
        assert dask.config.get("num_workers") == 1 and joblib_jobs() == 1
        assert {pool["num_threads"] for pool in threadpool_info()} == {1}
    assert torch.get_num_threads() == before and "GDAL_NUM_THREADS" not in os.environ
    assert joblib_jobs() == -1 and dask.config.get("num_workers", None) is None
    monkeypatch.setenv("GDAL_NUM_THREADS", "ALL_CPUS")  # the user's own setting comes back
    with thread_limit(2):
        assert os.environ["GDAL_NUM_THREADS"] == "2"
    assert os.environ["GDAL_NUM_THREADS"] == "ALL_CPUS"


def test_threads_option_limits_the_command_and_nothing_after_it(tmp_path: Path, monkeypatch, capsys) -> None:
    import groklst_cli.commands.downscale as command

    lst, _ = write_canonical_scene(tmp_path, shape=(12, 16), lst=300.0 + np.arange(192.0).reshape(12, 16) / 50,
                                   bands=("red", "nir"))
    seen, jobs = [], command._jobs

    def recording(*args, **kwargs):
        seen.append((torch.get_num_threads(), os.environ.get("GDAL_NUM_THREADS"), joblib_jobs()))
        return jobs(*args, **kwargs)

    monkeypatch.setattr(command, "_jobs", recording)
    monkeypatch.delenv("GDAL_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    out = tmp_path / "out.tif"
    assert run(["-q", "--threads", "1", "downscale", str(lst), "--model", "bicubic", "-o", str(out)]) == 0
    monkeypatch.setenv("GROKLST_THREADS", "1")
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(out), "--overwrite"]) == 0
    assert seen == [(1, "1", 1), (1, "1", 1)]
    assert torch.get_num_threads() == before and "GDAL_NUM_THREADS" not in os.environ
    assert run(["--threads", "0", "downscale", str(lst), "--model", "bicubic"]) == 2
    assert "--threads" in capsys.readouterr().err
