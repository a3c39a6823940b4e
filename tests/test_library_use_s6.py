"""The library refuses what the CLI refuses, and reads masked arrays and Celsius safely (QA s6)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import numpy.ma as ma
import pytest

from pipelines.degrade import block_mean, degrade, mtf_degrade
from pipelines.downscale import DownscaleOptions, downscale_scene
from pipelines.errors import InputError
from pipelines.infer import ModelSource
from pipelines.metrics import MetricAverage, image_metrics

BICUBIC = ModelSource(interpolation="bicubic")


@pytest.mark.parametrize(("options", "named"), [
    ({"tile": 5}, "--tile 5 at x3 is 3 output px"),  # wrote values 12 K off the default tiling
    ({"tile": 12}, "--tile 12 at x3 (4 LR px): tiles under 24"),
    ({"tile": 0}, "--tile 0 is not a size"),
    ({"tile": 96, "overlap": 80}, "the overlap is more than half the tile"),
    ({"overlap": -3}, "--overlap -3 is negative"),
    ({"batch_size": 0}, "--batch-size: must be at least 1, got 0"),
    ({"batch_size": -1}, "--batch-size: must be at least 1, got -1"),
])
def test_downscale_options_are_checked_as_the_cli_checks_them(canonical_scene, tmp_path: Path, options, named):
    lst, _ = canonical_scene
    out = tmp_path / "out.tif"
    with pytest.raises(InputError, match="hint: pass") as info:
        downscale_scene(lst, out, BICUBIC, options=DownscaleOptions(**options))
    assert named in str(info.value)
    assert not out.exists()


def test_a_checked_small_tiling_still_runs(canonical_scene, tmp_path: Path):
    lst, _ = canonical_scene
    report = downscale_scene(lst, tmp_path / "t.tif", BICUBIC, options=DownscaleOptions(tile=96))
    assert report.status == "ok"


def test_radiance_aggregation_refuses_celsius():
    celsius = np.array([[-10.0, 10.0], [-10.0, 10.0]])
    with pytest.raises(ValueError, match=r"needs LST in Kelvin, but the values go down to -10, below 150 K"):
        degrade(celsius, 2, aggregate="radiance")
    kelvin = degrade(celsius + 273.15, 2, aggregate="radiance")
    assert kelvin[0, 0] == pytest.approx(273.15 + 0.548, abs=2e-3)


MASKED = ma.masked_values([[300.0, 301.0], [302.0, -9999.0]], -9999.0)


def test_metrics_treat_masked_pixels_as_nodata():
    ref = np.array([[300.0, 301.0], [302.0, 303.0]])
    average = MetricAverage()
    scores = average.add(MASKED, ref)
    assert scores["rmse"] == 0.0 and average.result()["pixels"] == 3
    assert image_metrics(ref, MASKED)["bias"] == 0.0


@pytest.mark.parametrize("low_pass", [block_mean, mtf_degrade])
def test_degradation_treats_masked_pixels_as_nodata(low_pass):
    assert np.isnan(low_pass(MASKED, 2)[0, 0])
    assert low_pass(MASKED, 2, propagate_nodata=False)[0, 0] == pytest.approx(301.0, abs=0.5)
    assert degrade(MASKED, 2, aggregate="radiance", propagate_nodata=False)[0, 0] == pytest.approx(301.0, abs=0.1)


def test_run_keeps_the_callers_excepthook(capsys):
    from groklst_cli.app import run

    def my_hook(kind, value, tb):  # pragma: no cover - only its identity is checked
        pass

    before = sys.excepthook
    sys.excepthook = my_hook
    try:
        assert run(["--version"]) == 0
        assert sys.excepthook is my_hook
    finally:
        sys.excepthook = before
