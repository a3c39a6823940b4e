"""F12: a seeded ``downscale --fit`` network is the same bit for bit whatever the machine's load.

QA saw the Münster example's network move between days (0.827 K, then 0.848 K) and suspected the
load. On one machine the fit repeats exactly, quiet or with every core busy: torch's thread
count is fixed at start (or by --threads) and nothing in the fit is timed (no --fit-seconds).
What does change the weights is the thread count and the CPU's instruction set (the rounding of
oneDNN/MKL kernels), which a few hundred optimiser steps amplify: see the README.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from groklst_cli.app import run
from tests.test_fit import QUICK, nonlinear_scene, read, write_pair

NETWORK_ONLY = ["--fit", "--model", "mocolsk-lite", "--fit-psf", "0", "--fit-residual", "none",
                "--fit-iters", "8", *QUICK]


@contextmanager
def busy_cores() -> Iterator[None]:
    """One spinning process per core for the time of the block (always stopped; each also stops
    itself once its parent is gone, so a pytest killed by SIGKILL leaves none spinning)."""
    spin = f"import os\nwhile os.getppid() == {os.getpid()}: pass"
    spinners = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(os.cpu_count() or 1)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def test_a_seeded_network_fit_is_the_same_under_load(tmp_path: Path) -> None:
    fine, guidance = nonlinear_scene(32, 2)
    lst_path, _ = write_pair(tmp_path, fine, guidance, 2, ["g1", "g2"])
    quiet, loaded = tmp_path / "quiet.tif", tmp_path / "loaded.tif"
    assert run(["downscale", str(lst_path), *NETWORK_ONLY, "-o", str(quiet)]) == 0
    with busy_cores():
        assert run(["downscale", str(lst_path), *NETWORK_ONLY, "-o", str(loaded)]) == 0
    first = read(quiet)
    assert np.isfinite(first).all() and first.std() > 0
    np.testing.assert_array_equal(read(loaded), first)
