"""Two defects a README walkthrough found: an error about an ``--align``ed guidance named the
hidden aligned copy instead of the user's guidance file, and tables written to a pipe were cut
to 80 columns (names truncated, a row split over two lines)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from affine import Affine

from groklst_cli.app import run
from pipelines.geotiff import write_raster
from tests.conftest import PAPER_BANDS, UTM, write_canonical_scene

X0, Y0 = 500_000.0, 5_760_000.0
MISSING = ("missing guidance band(s) dem, deepblue, blue, green, red, vre, nir, ndmvi, ndvi, ndwi "
           "(has b1) (hint: band names must be those the model was trained with; if the bands are "
           "these, name them in file order with --guidance-bands)")


@pytest.fixture
def scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A 24 x 24 px LST at 30 m in the current folder (guidance files are named as typed)."""
    monkeypatch.chdir(tmp_path)
    lst, _ = write_canonical_scene(tmp_path, "s", shape=(24, 24), bands=("red", "nir"))
    return lst


def _offset_guidance(name: str, data: np.ndarray, bands: list[str]) -> str:
    """Guidance at 10 m, 5 m off the LST grid (so it needs --align), in the current folder."""
    write_raster(Path(name), data, crs=UTM, transform=Affine(10, 0, X0 - 5, 0, -10, Y0 + 5), descriptions=bands)
    return name


def _errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


def test_align_missing_bands_name_the_guidance_as_typed(scene: Path, capsys) -> None:
    guidance = _offset_guidance("one.tif", np.random.default_rng(1).uniform(0.05, 0.4, (1, 76, 76)), ["b1"])
    capsys.readouterr()
    assert run(["downscale", "s_lst.tif", "-g", guidance, "--align", "-o", "o.tif"]) == 2
    err = capsys.readouterr().err
    assert _errors(err) == [f"error: one.tif: {MISSING} (scene s_lst.tif)"]
    assert run(["downscale", "--json", "s_lst.tif", "-g", guidance, "--align", "-o", "o.tif"]) == 2
    line = json.loads(capsys.readouterr().out)
    assert line["error"] == f"one.tif: {MISSING}"
    assert not [p for p in scene.parent.iterdir() if p.name.startswith(".")]


def test_align_guidance_far_from_training_data_names_the_guidance(scene: Path, capsys) -> None:
    data = np.random.default_rng(1).uniform(1e6, 2e6, (len(PAPER_BANDS), 76, 76))
    guidance = _offset_guidance("crazy.tif", data, list(PAPER_BANDS))
    capsys.readouterr()
    assert run(["downscale", "s_lst.tif", "-g", guidance, "--align", "-o", "o.tif"]) == 2
    (line,) = _errors(capsys.readouterr().err)
    assert line.startswith("error: crazy.tif: guidance band 'dem' has values ")
    assert line.endswith(" standard deviations from the model's training data (mean 1574, std 190.8) (hint: the "
                         "file may be damaged, or the band is in other units or another order than the model was "
                         "trained with (name bands with --guidance-bands)) (scene s_lst.tif)")


def test_align_fit_names_the_guidance(scene: Path, capsys) -> None:
    data = np.random.default_rng(1).uniform(0.05, 0.4, (2, 76, 76))
    data[1] = np.nan
    guidance = _offset_guidance("deadnir.tif", data, ["red", "nir"])
    capsys.readouterr()
    assert run(["downscale", "--json", "s_lst.tif", "-g", guidance, "--align", "--fit", "--model", "tsharp",
                "-o", "o.tif"]) == 2
    captured = capsys.readouterr()
    problem = ("deadnir.tif: guidance band 2 ('nir') has no valid pixel over the LST "
               "(hint: drop the band from the guidance, or fix it)")
    assert json.loads(captured.out)["error"] == problem
    assert _errors(captured.err) == [f"error: {problem} (scene s_lst.tif)"]


def test_align_on_a_dask_cluster_names_the_guidance(scene: Path, capsys) -> None:
    distributed = pytest.importorskip("dask.distributed")
    guidance = _offset_guidance("one.tif", np.random.default_rng(1).uniform(0.05, 0.4, (1, 76, 76)), ["b1"])
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        capsys.readouterr()
        assert run(["-q", "downscale", "--json", "s_lst.tif", "-g", guidance, "--align", "-o", "o.tif",
                    "--dask-scheduler", cluster.scheduler_address]) == 2
    assert json.loads(capsys.readouterr().out)["error"] == f"one.tif: {MISSING}"
