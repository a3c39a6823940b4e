"""QA's reporting defects in ``groklst evaluate`` and ``compare`` (session 6).

The metric values were right; what the reports said of them was not: evaluate averaged CC and
RSD over fewer patches than its ``images`` column said, without a sign; it printed an undefined
metric as ``nan`` where compare (and the README) print ``n/a``; neither --json named the
metrics' unit (compare's ``reference_units: celsius`` sat beside metrics in Kelvin); and a
refused reference was told "about 0.03% outside" and "the value 200 fills 0.0% of the scene"
of the same 100 pixels.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from groklst_cli.app import run
from pipelines.evaluate import EvaluationRow
from pipelines.metrics import MetricAverage

PRETRAINED = Path(__file__).resolve().parents[1] / "models" / "pretrained" / "mocolsk-lite-x3-sdgsat.pt"
UNITS = {"rmse": "K", "mae": "K", "bias": "K", "cc": "1", "rsd": "1"}


def _raster(path: Path, values: np.ndarray) -> Path:
    """A one-band float32 GeoTIFF in UTM at 30 m."""
    with rasterio.open(path, "w", driver="GTiff", width=values.shape[1], height=values.shape[0], count=1,
                       dtype="float32", crs=CRS.from_epsg(32647),
                       transform=Affine(30.0, 0, 500000.0, 0, -30.0, 4300000.0)) as dst:
        dst.write(values.astype("float32"), 1)
    return path


@pytest.fixture(scope="module")
def half_constant(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """QA's reproducer: a 96 px sample scene whose left half is a constant 300 K, prepared at
    x3 into 8 patches of 48 px (stride 24), 3 of which lie wholly in the constant half."""
    root = tmp_path_factory.mktemp("half_constant")
    assert run(["-q", "sample-scene", str(root / "demo"), "--name", "zz", "--size", "96", "--seed", "7"]) == 0
    (root / "m").mkdir()
    (root / "m" / "zz_guidance.tif").write_bytes((root / "demo" / "zz_guidance.tif").read_bytes())
    with rasterio.open(root / "demo" / "zz_lst.tif") as src:
        lst, profile = src.read(1), src.profile
    lst[:, :48] = 300
    with rasterio.open(root / "m" / "zz_lst.tif", "w", **profile) as dst:
        dst.write(lst, 1)
    assert run(["-q", "prepare", str(root / "m" / "zz_lst.tif"), "-o", str(root / "ds"), "--scales", "3",
                "--patch", "48", "--stride", "24", "--split-block", "48", "--split", "1:0:0"]) == 0
    return root / "ds"


def test_evaluate_says_over_how_many_patches_cc_and_rsd_are_averaged(half_constant: Path, capsys) -> None:
    args = ["-q", "evaluate", str(half_constant), "-c", str(PRETRAINED), "--split", "train",
            "--baselines", "bicubic"]
    capsys.readouterr()
    assert run([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["metric_units"] == UNITS
    for row in report["rows"]:
        assert (row["images"], row["cc_images"], row["rsd_images"]) == (8, 5, 5)
        assert list(row)[-4:] == ["images", "cc_images", "rsd_images", "pixels"]
    assert run(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == ("averaged over fewer patches (undefined on a constant truth, CC also on a constant "
                         "prediction): CC 5, RSD 5 of 8")


def test_rows_averaged_over_different_patches_are_each_named() -> None:
    from groklst_cli.commands.evaluate import _fewer_note

    ramp, flat = np.arange(16.0).reshape(4, 4) + 290, np.full((4, 4), 295.0)
    network, baseline = MetricAverage(), MetricAverage()
    for truth in (ramp, ramp + 1):
        network.add(truth * 1.01, truth)
        baseline.add(flat if truth[0, 0] == 290 else truth, truth)  # a constant prediction: no CC
    rows = [EvaluationRow.of("net", network), EvaluationRow.of("flat", baseline)]
    assert [r.to_json()["cc_images"] for r in rows] == [2, 1]
    assert [r.to_json()["rsd_images"] for r in rows] == [2, 2]
    assert _fewer_note(rows) == ("averaged over fewer patches (undefined on a constant truth, CC also on a "
                                 "constant prediction): net: all of 2; flat: CC 1 of 2")
    assert _fewer_note(rows[:1]) is None


def test_evaluate_prints_an_undefined_metric_as_n_a_like_compare(capsys) -> None:
    from groklst_cli.commands.evaluate import _table
    from groklst_cli.console import table_console

    metrics = {"rmse": 1.5, "mae": 1.0, "bias": 0.0, "cc": float("nan"), "rsd": float("nan"),
               "images": 3, "pixels": 300}
    table_console().print(_table([EvaluationRow("flat", metrics, {"cc": 0, "rsd": 0})], "test", 2))
    lines = capsys.readouterr().out.splitlines()
    assert "│ flat  │ 1.5000 │ 1.0000 │ 0.0000 │ n/a │ n/a │      3 │    300 │" in lines
    assert not any("nan" in line for line in lines)
    assert lines[-1].endswith("CC 0, RSD 0 of 3")


def test_compare_json_names_the_metrics_units_apart_from_the_references(tmp_path: Path, capsys) -> None:
    celsius = np.linspace(20, 30, 400).reshape(20, 20)
    truth = _raster(tmp_path / "truth.tif", celsius)
    cand = _raster(tmp_path / "cand.tif", celsius + 273.15 + 0.5)
    capsys.readouterr()
    assert run(["-q", "compare", str(truth), str(cand), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["reference_units"] == "celsius" and report["metric_units"] == UNITS
    assert report["rows"][0]["bias"] == pytest.approx(0.5, abs=1e-3)


def test_a_fill_value_share_is_written_as_the_outside_share_is(tmp_path: Path, capsys) -> None:
    """QA: 100 px at 200 °C in a ~320k px Celsius scene: both shares read 0.03 %, not 0.0 %."""
    values = np.linspace(20, 40, 566 * 566).reshape(566, 566)
    values.reshape(-1)[::3203][:100] = 200.0  # a view: 100 pixels
    truth = _raster(tmp_path / "truth.tif", values)
    cand = _raster(tmp_path / "cand.tif", np.full((566, 566), 300.0))
    capsys.readouterr()
    assert run(["-q", "compare", str(truth), str(cand)]) != 0
    err = capsys.readouterr().err
    outside = re.search(r"about ([0-9.]+)% outside", err)
    fills = re.search(r"the value 200 fills ([0-9.]+)% of the scene", err)
    assert outside and fills, err
    assert fills.group(1) == outside.group(1) == "0.03"
