"""``groklst compare`` measures each candidate's content offset against the reference and warns
when a nesting candidate is misplaced by half a pixel or more (its RMSE would mix geometry in)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
from scipy import ndimage

from groklst_cli.app import run
from pipelines.compare import compare
from pipelines.compare_shift import ContentShift
from pipelines.errors import GroklstWarning
from tests.test_compare import X0, Y0, raster

LANDSAT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "landsat-muenster"


def scene(rows: int, cols: int, seed: int = 0) -> np.ndarray:
    """A textured LST field (Kelvin): smoothed noise, as real scenes are correlated over pixels."""
    noise = np.random.default_rng(seed).standard_normal((rows, cols))
    return 300.0 + 40.0 * ndimage.gaussian_filter(noise, 3.0)


def coarse(values: np.ndarray, factor: int) -> np.ndarray:
    """Block means of ``factor`` x ``factor`` pixels."""
    rows, cols = values.shape[0] // factor, values.shape[1] // factor
    return values[:rows * factor, :cols * factor].reshape(rows, factor, cols, factor).mean(axis=(1, 3))


def test_shifted_candidates_are_flagged_with_their_offset_and_an_aligned_one_is_not(tmp_path: Path) -> None:
    truth = scene(300, 330)
    reference = raster(tmp_path / "truth.tif", truth, res=10.0)
    # Same data under a transform 2 fine pixels east: the content lies 20 m east of the truth's.
    east = raster(tmp_path / "east.tif", truth, res=10.0, origin=(X0 + 20.0, Y0))
    # Data rolled 2 rows down on the truth's transform: the content lies 20 m south.
    south = raster(tmp_path / "south.tif", np.roll(truth, 2, axis=0), res=10.0)
    aligned = raster(tmp_path / "aligned.tif", truth + 0.3 * np.random.default_rng(1).standard_normal(truth.shape),
                     res=10.0)
    lr = raster(tmp_path / "lr.tif", coarse(truth, 3), res=30.0)  # makes the common grid 30 m
    with pytest.warns(GroklstWarning) as caught:
        result = compare(reference, [east, south, aligned, lr])
    shifts = {Path(row["candidate"]).name: row["shift"] for row in result.rows}
    assert shifts["east.tif"]["x_px"] == pytest.approx(2.0, abs=0.3)
    assert shifts["east.tif"]["y_px"] == pytest.approx(0.0, abs=0.3)
    assert shifts["east.tif"]["x"] == pytest.approx(20.0, abs=3.0) and shifts["east.tif"]["pixel_size"] == "10x10"
    assert shifts["south.tif"]["y_px"] == pytest.approx(-2.0, abs=0.3)
    assert shifts["south.tif"]["x_px"] == pytest.approx(0.0, abs=0.3)
    assert shifts["aligned.tif"]["reliable"] and abs(shifts["aligned.tif"]["x_px"]) < 0.1
    assert shifts["lr.tif"]["pixel_size"] == "30x30" and abs(shifts["lr.tif"]["y_px"]) < 0.1
    flagged = [str(w.message) for w in caught if "content lies" in str(w.message)]
    assert len(flagged) == 2
    assert str(east) in flagged[0] and "2.0" in flagged[0] and "east" in flagged[0] and "coregister" in flagged[0]
    assert str(south) in flagged[1] and "south" in flagged[1]


def test_a_fine_offset_past_the_search_is_measured_coarse_to_fine_at_the_fine_size(tmp_path: Path) -> None:
    truth = scene(300, 300, seed=2)
    reference = raster(tmp_path / "truth.tif", truth, res=10.0)
    # 4 fine pixels west is beyond the fine search (3 px): found on 4x4 block means, refined at 10 m.
    west = raster(tmp_path / "west.tif", np.roll(truth, -4, axis=1), res=10.0)
    lr = raster(tmp_path / "lr.tif", coarse(truth, 3), res=30.0)
    with pytest.warns(GroklstWarning, match="west.tif's content lies 4.0"):
        result = compare(reference, [west, lr])
    shift = result.rows[0]["shift"]
    assert shift["pixel_size"] == "10x10" and shift["x"] == pytest.approx(-40.0, abs=3.0)


def test_json_says_null_where_no_offset_can_be_measured(tmp_path: Path, capsys) -> None:
    truth = scene(15, 15, seed=3)  # under the 20 px a crop needs
    reference = raster(tmp_path / "truth.tif", truth)
    candidate = raster(tmp_path / "cand.tif", np.roll(truth, 2, axis=1))
    assert run(["compare", str(reference), str(candidate), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows"][0]["shift"] is None and report["warnings"] == []


@pytest.mark.skipif(not LANDSAT.is_dir(), reason="needs ../shared/data/landsat-muenster")
def test_the_muenster_bicubic_output_is_not_flagged(tmp_path: Path, capsys) -> None:
    truth = next(LANDSAT.glob("LC08_*20240813*_ST_B10.TIF"))
    with rasterio.open(truth) as src:
        values = src.read(1).astype(np.float64)
        values[values == src.nodata] = np.nan
        transform = src.transform
    lr = raster(tmp_path / "lst_120m.tif", coarse(values + 273.15, 4), res=120.0, origin=(transform.c, transform.f))
    bicubic = tmp_path / "bicubic.tif"
    assert run(["downscale", str(lr), "--model", "bicubic", "--scale", "4", "-o", str(bicubic)]) == 0
    capsys.readouterr()
    assert run(["compare", str(truth), str(bicubic), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    shift = report["rows"][0]["shift"]
    assert shift["reliable"] and np.hypot(shift["x_px"], shift["y_px"]) < 0.1
    assert not any("content lies" in w for w in report["warnings"])


def test_shifts_past_the_fine_search_on_the_same_grid_are_found_coarse_to_fine(tmp_path: Path) -> None:
    truth = scene(300, 330, seed=4)
    reference = raster(tmp_path / "truth.tif", truth)
    east = raster(tmp_path / "east4.tif", np.roll(truth, 4, axis=1))  # content 4 px (120 m) east
    north = raster(tmp_path / "north8.tif", np.roll(truth, -8, axis=0))  # content 8 px (240 m) north
    with pytest.warns(GroklstWarning) as caught:
        result = compare(reference, [east, north])
    shifts = [row["shift"] for row in result.rows]
    assert shifts[0]["x_px"] == pytest.approx(4.0, abs=0.3) and shifts[0]["y_px"] == pytest.approx(0.0, abs=0.3)
    assert shifts[1]["y_px"] == pytest.approx(8.0, abs=0.3) and shifts[1]["x_px"] == pytest.approx(0.0, abs=0.3)
    assert shifts[1]["y"] == pytest.approx(240.0, abs=9.0) and shifts[1]["pixel_size"] == "30x30"
    flagged = [str(w.message) for w in caught if "content lies" in str(w.message)]
    assert len(flagged) == 2
    assert "east4.tif's content lies 4.0" in flagged[0] and "east and" in flagged[0]
    assert "north8.tif's content lies 0.0" in flagged[1] and "8.0" in flagged[1] and "north of" in flagged[1]


def test_a_candidate_with_scattered_masked_pixels_is_measured(tmp_path: Path) -> None:
    truth = scene(300, 330, seed=5)
    rng = np.random.default_rng(6)
    reference = raster(tmp_path / "truth.tif", truth)
    shifted = np.roll(truth, 1, axis=1)
    shifted[rng.random(truth.shape) < 0.3] = np.nan  # 30 % of the pixels masked (clouds, QA bits)
    noisy = truth + 0.5 * rng.standard_normal(truth.shape)
    noisy[rng.random(truth.shape) < 0.3] = np.nan
    with pytest.warns(GroklstWarning) as caught:
        result = compare(reference, [raster(tmp_path / "shifted.tif", shifted), raster(tmp_path / "noisy.tif", noisy)])
    moved, aligned = (row["shift"] for row in result.rows)
    assert moved["reliable"] and moved["x_px"] == pytest.approx(1.0, abs=0.1)
    assert aligned["reliable"] and np.hypot(aligned["x_px"], aligned["y_px"]) < 0.1
    flagged = [str(w.message) for w in caught if "content lies" in str(w.message)]
    assert len(flagged) == 1 and "shifted.tif's content lies 1.0" in flagged[0]


def test_tiny_offsets_read_as_positive_zero() -> None:
    tiny = ContentShift(-0.0004, -0.0001, (1.0, 1.0), True)
    line = tiny.warning("c.tif", "m")
    assert "lies 0.00 px (0.0 m) east and 0.00 px (0.0 m) north of" in line
    assert [math.copysign(1.0, tiny.as_json()[k]) for k in ("x_px", "y_px", "x", "y")] == [1.0] * 4
