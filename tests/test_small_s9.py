"""Small library, CLI and benchmark defects (s9 f5): one error type for DownscaleOptions, one
compared size on both streams of ``groklst compare``, interpolation names in any case, a
benchmark's nonsense overlap refused, and a checkpoint loaded from one path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from scipy import ndimage

from benchmarks.downscale_speed import parse_args
from groklst_cli.app import run
from pipelines.downscale import DownscaleOptions
from pipelines.errors import InputError
from pipelines.infer import DEFAULT_CHECKPOINT, DEFAULT_MODEL, ModelSource
from tests.test_compare import X0, Y0, raster

ROOT = Path(__file__).resolve().parents[1]


def test_a_spread_without_conserve_is_an_input_error_like_the_other_fields() -> None:
    """It raised ValueError while an unknown spread or unit raised InputError (not a ValueError)."""
    with pytest.raises(InputError) as info:
        DownscaleOptions(conserve_spread="smooth")
    assert not isinstance(info.value, ValueError)
    assert info.value.path == "DownscaleOptions.conserve_spread"
    assert info.value.problem.startswith("conserve_spread='smooth' needs conserve=True")
    assert info.value.hint == "pass conserve=True too, or leave conserve_spread at 'block'"
    assert DownscaleOptions(conserve=True, conserve_spread="smooth").conserve_spread == "smooth"


def test_compare_names_one_compared_size_on_stdout_and_stderr(tmp_path: Path) -> None:
    """A candidate 1 px east covers 159 of the reference's 160 columns: both streams say 159x160."""
    truth = 300.0 + 40.0 * ndimage.gaussian_filter(np.random.default_rng(0).standard_normal((160, 160)), 3.0)
    reference = raster(tmp_path / "truth.tif", truth)
    east = raster(tmp_path / "east.tif", truth, origin=(X0 + 30.0, Y0))
    proc = subprocess.run([sys.executable, "-m", "groklst_cli", "compare", str(reference), str(east)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "on 25,440 common pixels (159x160 px at 30 m; Kelvin)" in proc.stdout
    assert f"reference {reference} in kelvin; compared at 159x160 px at 30 m" in proc.stderr
    assert "160x160" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("typed", ["Bicubic", "BILINEAR", "bicubic"])
def test_an_interpolation_is_named_in_any_case_and_kept_as_registered(typed: str) -> None:
    """"Bicubic" was refused as unknown; it now runs as the registered 'bicubic' (tags, lookups)."""
    source = ModelSource(interpolation=typed)
    assert source.interpolation == typed.lower()
    assert source.name == typed.lower() and source.tags()["model"] == typed.lower()


def test_a_network_named_in_upper_case_is_told_to_be_a_network() -> None:
    with pytest.raises(InputError) as info:
        ModelSource(interpolation="MOCOLSK")
    assert info.value.problem == "'MOCOLSK' is a network, not an interpolation: it runs from trained weights"


@pytest.mark.parametrize(("argv", "error"), [
    (["--overlap", "-1"], "argument --overlap: -1 must be 0 or more"),
    (["--overlap", "x"], "argument --overlap: 'x' is not a whole number"),
    (["--tile", "0"], "argument --tile: 0 must be at least 1"),
    (["--batch-size", "0"], "argument --batch-size: 0 must be at least 1"),
    (["--tile", "100", "--overlap", "64"],
     "--overlap 64 is more than half --tile 100: pass --overlap 50 or less, or a larger --tile"),
])
def test_the_speed_benchmark_refuses_nonsense_sizes_in_one_line(argv: list[str], error: str,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """--overlap -1 was passed on to every run of every size and path."""
    with pytest.raises(SystemExit) as info:
        parse_args(argv)
    assert info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(f": error: {error}")  # prog: argv[0]
    assert parse_args(["--overlap", "0"]).overlap == 0


def test_a_checkpoint_loads_from_one_path() -> None:
    """ModelSource.from_checkpoint(path) is ModelSource(checkpoint=load_checkpoint(p), checkpoint_path=p)."""
    source = ModelSource.from_checkpoint(DEFAULT_CHECKPOINT, device="cpu")
    assert source.name == DEFAULT_MODEL and source.scale == 3
    assert source.checkpoint_path == str(DEFAULT_CHECKPOINT) and source.device_name == "cpu"
    assert source.tags()["checkpoint"].endswith("mocolsk-lite-x3-sdgsat.pt")
    assert len(source.tags()["checkpoint_sha256"]) == 64


def test_a_missing_checkpoint_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        ModelSource.from_checkpoint(tmp_path / "nope.pt")
    assert info.value.path == str(tmp_path / "nope.pt") and info.value.problem == "checkpoint file not found"


def test_a_multiband_lst_refusal_names_the_band_described_lst(tmp_path: Path, capsys) -> None:
    """QA: a 3-band file with band 2 described ``LST_K`` was told ``gdal_translate -b N``."""
    path = tmp_path / "multi.tif"
    with rasterio.open(path, "w", driver="GTiff", dtype="float32", crs="EPSG:32633", height=20, width=20,
                       count=3, transform=Affine(30, 0, 5e5, 0, -30, 44e5)) as dst:
        dst.write(np.full((3, 20, 20), 300, "f4"))
        for band, name in enumerate(("qa", "LST_K", "emissivity"), start=1):
            dst.set_band_description(band, name)
    assert run(["downscale", str(path), "--model", "bicubic", "--scale", "3", "-o", str(tmp_path / "o.tif")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {path}: has 3 bands, expected 1 LST band (band 2 is described 'LST_K') "
        f"(hint: give that band alone: gdal_translate -b 2 {path} LST.tif)")


@pytest.mark.parametrize("descriptions, named", [
    (("LST_K", "emissivity"), [1]),
    (("Land Surface Temperature (Celsius)", "qa"), [1]),
    (("temperature_K", "LST_QA"), []),  # review R4: the QA band was named as the temperature
    (("LST uncertainty", "surface temperature error"), []),
    (("lst", "LST"), [1, 2]),  # two: the refusal names neither
])
def test_only_a_band_described_as_the_temperature_alone_is_named(descriptions, named) -> None:
    from pipelines.lst_values import _lst_described_bands

    assert _lst_described_bands(descriptions) == named
