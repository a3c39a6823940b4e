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


LONG = "LC08_L2SP_196024_20240813_20240822_02_T1_ST_B10_downscaled_by_mocolsk_lite_x3.tif"


def test_compare_to_a_pipe_prints_names_whole_and_rows_on_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    """Rich cut a table to 80 columns when stdout was no terminal: ``fine/LC08_L2SP_1960…``."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "60")  # a terminal's width, not a pipe's
    reference, _ = write_canonical_scene(tmp_path, "ref", shape=(8, 8))
    Path("fine").mkdir()
    Path("fine", LONG).write_bytes(reference.read_bytes())
    capsys.readouterr()
    assert run(["-q", "compare", "ref_lst.tif", f"fine/{LONG}"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"│ fine/{LONG} │ 0.0000 │ 0.0000 │ 0.0000 │ 1.0000 │ 0.0000 │ 100.0 % │" in lines
    assert lines[0] == "against the reference on 64 common pixels (8x8 px at 30 m; Kelvin)"


def test_evaluate_table_to_a_pipe_keeps_each_row_on_one_line(capsys) -> None:
    from groklst_cli.commands.evaluate import _table
    from groklst_cli.console import table_console
    from pipelines.evaluate import EvaluationRow

    metrics = {"rmse": 1.23456, "mae": 0.98765, "bias": -0.1, "cc": 0.95, "rsd": 0.01, "images": 12,
               "pixels": 3072}
    table_console().print(_table([EvaluationRow(f"runs/{LONG[:-4]}/best.pt", metrics)], "test", 3))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "x3 on the test split (Kelvin; per-image mean over valid pixels)"
    assert (f"│ runs/{LONG[:-4]}/best.pt │ 1.2346 │ 0.9877 │ -0.1000 │ 0.9500 │ 0.0100 │     12 │   3072 │"
            in lines)


def test_models_to_a_pipe_puts_each_description_on_its_row(capsys) -> None:
    assert run(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("│ mocolsk      │ guided       │ any      │ 25,430,841 │  18,579.8 │ MoCoLSK-Net, "
                               "the GrokLST paper model (4 stages, base 32; GPU-class cost) ") for line in lines)


def test_prepare_info_to_a_pipe_keeps_long_names_whole(tmp_path: Path, capsys) -> None:
    band = "swir_1610nm_surface_reflectance_from_sentinel2_msi_level2a_band11_resampled_to_10m"
    lst_path, _ = write_canonical_scene(tmp_path, bands=("red", band))
    out = tmp_path / f"dataset_{LONG[:-4]}"
    assert run(["-q", "prepare", str(lst_path), "--out", str(out), "--scales", "2", "--patch", "8",
                "--stride", "8", "--split", "1:0:0"]) == 0
    capsys.readouterr()
    assert run(["prepare", "--info", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{out}  (30 m HR, 8 px patches)"
    assert "│ train │      16 │ 16 x 4x4 │" in lines
    assert f"│ {band} │ 0.5061 │ 0.09893 │" in lines


def test_a_table_on_a_terminal_still_fits_it(monkeypatch) -> None:
    import io
    import sys

    from groklst_cli.console import UNBOUNDED_WIDTH, table_console

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setenv("COLUMNS", "72")
    monkeypatch.setattr(sys, "stdout", Terminal())
    assert table_console().width == 72
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert table_console().width == UNBOUNDED_WIDTH
