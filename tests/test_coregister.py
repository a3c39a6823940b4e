"""The LST-guidance offset estimate: exact on real Landsat texture, honest when it cannot tell."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from groklst_cli.app import run
from pipelines.coregister import CROP_LR, crops, estimate_shift

LANDSAT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "landsat-muenster"
RATIO, MARGIN = 2, 6  # 30 m LST, 15 m guidance, 90 m searched each way


@pytest.fixture(scope="module")
def landsat_files(tmp_path_factory) -> tuple[Path, Path]:
    """A real 30 m ST date (degC) and Sentinel-2 guidance (B11 + land-cover fractions) on the
    15 m grid nesting in it, built by ``groklst guidance`` as a user would."""
    dates = sorted(LANDSAT.glob("*_ST_B10.TIF")) if LANDSAT.is_dir() else []
    if not dates:
        pytest.skip(f"no Landsat clip in {LANDSAT}")
    out = tmp_path_factory.mktemp("coregister") / "g15.tif"
    assert run(["-q", "guidance", str(dates[12]), f"swir1={LANDSAT / 'S2_B11_20m.tif'}",
                "--categorical", f"landcover={LANDSAT / 'S2_landcover_rf_10m.tif'}", "--scale", "2",
                "-o", str(out)]) == 0
    return dates[12], out


@pytest.fixture(scope="module")
def landsat(landsat_files) -> tuple[np.ndarray, np.ndarray]:
    """The same as arrays: LST in K (NaN nodata), guidance bands."""
    with rasterio.open(landsat_files[0]) as src:
        lst = src.read(1).astype(np.float64)
        lst[lst == src.nodata] = np.nan
    with rasterio.open(landsat_files[1]) as src:
        guidance = src.read().astype(np.float64)
    return lst + 273.15, guidance


def pairs_for(lst: np.ndarray, guidance: np.ndarray, rows: int, cols: int, margin: int = MARGIN,
              size: int = CROP_LR) -> list[tuple[np.ndarray, np.ndarray]]:
    """(LST crop, framed guidance) for the five crops, as if the LST were misplaced by (rows,
    cols) guidance pixels: the true offset the estimate must find. NaN beyond the guidance."""
    out = []
    for top, left, h, w in crops(*lst.shape, size=size):
        frame = np.full((guidance.shape[0], h * RATIO + 2 * margin, w * RATIO + 2 * margin), np.nan)
        g0, c0 = top * RATIO - margin - rows, left * RATIO - margin - cols
        r_lo, c_lo = max(0, g0), max(0, c0)
        r_hi, c_hi = min(guidance.shape[1], g0 + frame.shape[1]), min(guidance.shape[2], c0 + frame.shape[2])
        frame[:, r_lo - g0:r_hi - g0, c_lo - c0:c_hi - c0] = guidance[:, r_lo:r_hi, c_lo:c_hi]
        out.append((lst[top:top + h, left:left + w], frame))
    return out


def test_real_offsets_are_found_exactly(landsat) -> None:
    """Single crops were off by 30 m in up to 3 of 5 crops on these dates; the mean is exact."""
    lst, guidance = landsat
    for rows, cols in ((0, 0), (1, 2), (-2, 1), (0, -1)):
        found = estimate_shift(pairs_for(lst, guidance, rows, cols), RATIO, MARGIN)
        assert (found.rows, found.cols) == (rows, cols) and found.reliable
        assert found.needed == ((rows, cols) != (0, 0))
        assert found.r2 > 0.3 and found.r2 - found.r2_as_delivered >= (0.01 if found.needed else 0)


def test_an_offset_at_the_search_edge_is_not_trusted(landsat) -> None:
    lst, guidance = landsat
    found = estimate_shift(pairs_for(lst, guidance, MARGIN, 0), RATIO, MARGIN)
    assert (found.rows, found.cols) == (MARGIN, 0) and not found.reliable and not found.needed


def test_one_weakly_related_band_is_not_trusted(landsat) -> None:
    """Sentinel-2 B11 alone explains a few % of this LST's variance: too little to place it."""
    lst, guidance = landsat
    found = estimate_shift(pairs_for(lst, guidance[:1], 1, 2), RATIO, MARGIN)
    assert found.r2 < 0.1 and not found.reliable and not found.needed


def test_unrelated_or_empty_guidance_is_not_trusted() -> None:
    rng = np.random.default_rng(0)
    lst = rng.normal(300, 3, (60, 60))
    noise = rng.normal(0, 1, (3, 60 * 3 + 18, 60 * 3 + 18))
    assert not estimate_shift([(lst, noise)], 3, 9).reliable
    empty = estimate_shift([(lst, np.full_like(noise, np.nan))], 3, 9)
    assert not empty.reliable and not empty.needed and np.isnan(empty.r2)
    with pytest.raises(ValueError, match="does not frame"):
        estimate_shift([(lst, noise[:, 1:])], 3, 9)


def misplaced_copy(lst_path: Path, folder: Path, east: float, north: float) -> Path:
    """The LST with its georeferencing off by (east, north) CRS units, values untouched."""
    out = folder / f"misplaced_{east:g}_{north:g}.tif"
    with rasterio.open(lst_path) as src:
        profile = {**src.profile, "transform": Affine.translation(east, north) @ src.transform}
        with rasterio.open(out, "w", **profile) as dst:
            dst.write(src.read())
            dst.update_tags(**src.tags())
    return out


def test_coregister_moves_a_misplaced_real_lst_back(landsat_files, tmp_path: Path, capsys) -> None:
    lst_path, guidance_path = landsat_files
    misplaced = misplaced_copy(lst_path, tmp_path, 45.0, -30.0)
    out = tmp_path / "placed.tif"
    capsys.readouterr()
    assert run(["-q", "coregister", str(misplaced), str(guidance_path), "-o", str(out), "--json"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["moved"] and (line["east"], line["south"], line["unit"]) == (-45.0, -30.0, "m")
    assert line["placement"].startswith("LST moved 45 m west and 30 m north onto the guidance")
    with rasterio.open(out) as placed, rasterio.open(lst_path) as orig:
        assert placed.transform == orig.transform and placed.crs == orig.crs
        np.testing.assert_array_equal(placed.read(1), orig.read(1))  # values bit for bit
        assert placed.nodata == orig.nodata and placed.tags()["AREA_OR_POINT"] == "Point"
        assert placed.tags()["coregistration"] == line["placement"]
    # the data as delivered stay where they are
    assert run(["-q", "coregister", str(lst_path), str(guidance_path), "-o", str(tmp_path / "same.tif")]) == 0
    with rasterio.open(tmp_path / "same.tif") as same, rasterio.open(lst_path) as orig:
        assert same.transform == orig.transform and same.tags()["coregistration"].startswith("aligned as delivered")


def test_coregister_keeps_the_grid_when_the_offset_cannot_be_measured(landsat_files, tmp_path: Path,
                                                                      capsys) -> None:
    """Sentinel-2 B11 alone says too little about this LST: the copy keeps its grid, with a warning."""
    lst_path, guidance_path = landsat_files
    b11 = tmp_path / "b11.tif"
    with rasterio.open(guidance_path) as src:
        with rasterio.open(b11, "w", **{**src.profile, "count": 1}) as dst:
            dst.write(src.read(1), 1)
    misplaced = misplaced_copy(lst_path, tmp_path, 45.0, -30.0)
    out = tmp_path / "kept.tif"
    capsys.readouterr()
    assert run(["coregister", str(misplaced), str(b11), "-o", str(out)]) == 0
    assert "b11.tif not measurable, kept as delivered" in capsys.readouterr().err
    with rasterio.open(out) as kept, rasterio.open(misplaced) as src:
        assert kept.transform == src.transform and kept.tags()["coregistration"].startswith("not measurable")
    # guidance with no data under the LST: the wrong guidance, refused (it said "not measurable",
    # exit 0, and a guidance nodata over part of the LST sent users to --max-shift): nothing written
    empty = tmp_path / "empty.tif"
    with rasterio.open(guidance_path) as src:
        with rasterio.open(empty, "w", **{**src.profile, "count": 1, "nodata": None}) as dst:
            dst.write(np.full((src.height, src.width), np.nan, np.float32), 1)
    capsys.readouterr()
    assert run(["-q", "coregister", str(misplaced), str(empty), "-o", str(tmp_path / "e.tif"), "--json"]) == 2
    line = json.loads(capsys.readouterr().out)
    assert line["status"] == "error" and not (tmp_path / "e.tif").exists()
    assert line["error"].startswith(f"{misplaced}: none of the LST's ") and f"the guidance {empty} is nodata" in line["error"]


def test_coregister_refuses_guidance_that_does_not_nest(landsat_files, tmp_path: Path, capsys) -> None:
    lst_path, _ = landsat_files
    s2 = LANDSAT / "S2_B11_20m.tif"  # 20 m, 15 m off the Landsat grid
    out = tmp_path / "out.tif"
    capsys.readouterr()
    assert run(["-q", "coregister", str(lst_path), str(s2), "-o", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "groklst guidance" in lines[0] and not out.exists()


def test_a_cloudy_centre_does_not_hide_the_offset(landsat_files, tmp_path: Path, capsys) -> None:
    """Nodata (a masked cloud) over the whole central crop: the offset is measured where the
    scene has data (a quadrant), not reported as unmeasurable."""
    lst_path, guidance_path = landsat_files
    misplaced = misplaced_copy(lst_path, tmp_path, -30.0, 15.0)
    with rasterio.open(misplaced, "r+") as dst:
        values = dst.read(1)
        rows, cols = values.shape
        values[rows // 2 - 140:rows // 2 + 140, cols // 2 - 140:cols // 2 + 140] = dst.nodata
        dst.write(values, 1)
    out = tmp_path / "placed.tif"
    capsys.readouterr()
    assert run(["-q", "coregister", str(misplaced), str(guidance_path), "-o", str(out), "--json"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["moved"] and (line["east"], line["south"]) == (30.0, 15.0)
    with rasterio.open(out) as placed, rasterio.open(lst_path) as orig:
        assert placed.transform == orig.transform


def test_a_placement_a_whole_lst_pixel_away_that_fits_as_well_is_reported() -> None:
    """QA: real Landsat moved 30 m was reported 'aligned as delivered' (exit 0) where both
    placements fit alike (R² 0.394 each): such a tie is now said, not passed over."""
    from pipelines.coregister import ShiftEstimate, _rival

    surface = np.full((7, 7), 0.40)  # offsets -3..3 guidance pixels, ratio 2 (15 m guidance, 30 m LST)
    surface[3, 3] = 0.500  # as delivered: the best
    surface[2, 3] = 0.4999  # half an LST pixel north: always close, not a rival
    surface[1, 3] = 0.498  # a whole LST pixel north: within 0.005, a rival
    assert _rival(surface, 3, 3, ratio=2, m=3) == (-2, 0, 0.498)
    surface[1, 3] = 0.49
    assert _rival(surface, 3, 3, ratio=2, m=3) is None
    tie = ShiftEstimate(0, 0, 0.5, 0.5, 6, True, (-2, 0, 0.498))
    assert tie.uncertain and not tie.needed
    assert tie.describe(15.0, "m", "the guidance g.tif") == (
        "aligned as delivered (R² 0.50), but 30 m north of that fits as well (R² 0.50): the placement is "
        "uncertain by that much")
    moved = ShiftEstimate(2, 0, 0.51, 0.48, 6, True, (4, 0, 0.508))
    assert moved.describe(15.0, "m", "the guidance g.tif") == (
        "LST moved 30 m south onto the guidance g.tif (R² 0.51 against 0.48 as delivered), but 30 m south of "
        "that fits as well (R² 0.51): the placement is uncertain by that much")


def test_an_uncertain_placement_is_a_warning(monkeypatch, capsys) -> None:
    """QA: a placement another one a whole LST pixel away fits as well was only an info line (hidden
    by -q, absent from --json's warnings); it is a warning now, and the output is still written."""
    import pipelines.coregister_scene
    from pipelines.coregister_scene import PlacementReport

    placement = ("aligned as delivered (R² 0.39), but 30 m north of that fits as well (R² 0.39): "
                 "the placement is uncertain by that much")
    report = PlacementReport("a.tif", "g.tif", "o.tif", placement, False, 0.0, 0.0, "m", 0.394, 0.394, True)
    monkeypatch.setattr(pipelines.coregister_scene, "coregister_scene", lambda *args, **kwargs: report)
    assert run(["-q", "coregister", "a.tif", "g.tif", "-o", "o.tif", "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err == f"warning: a.tif: {placement} -> o.tif\n"
    line = json.loads(captured.out)
    assert (line["status"], line["uncertain"], line["warnings"]) == ("ok", True, [f"a.tif: {placement} -> o.tif"])


def test_a_search_wider_than_the_scene_leaks_no_numpy_warning(tmp_path: Path, capsys, recwarn) -> None:
    """QA: --max-shift 20 on a 24 px sample scene printed numpy's "Mean of empty slice" (two raw
    lines) for the shifts no crop could score."""
    assert run(["-q", "sample-scene", str(tmp_path), "--size", "24"]) == 0
    capsys.readouterr()
    lst, guidance = tmp_path / "heihe_demo_lst.tif", tmp_path / "heihe_demo_guidance.tif"
    assert run(["coregister", str(lst), str(guidance), "-o", str(tmp_path / "c.tif"), "--max-shift", "20"]) == 0
    err = capsys.readouterr().err
    assert "RuntimeWarning" not in err and "empty slice" not in err, err
    assert not [w for w in recwarn if "empty slice" in str(w.message)]
    assert "aligned as delivered" in err
