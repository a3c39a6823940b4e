"""``groklst compare`` QA fixes: ``written`` is the share of the reference's valid pixels a
candidate covers (a crop or a shifted candidate is flagged, not scored silently on its corner),
an empty raster is named as the candidate or the reference, and CC stays within [-1, 1] and
reads ``n/a`` in the table where --json says null."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from groklst_cli.app import run
from pipelines.compare import compare
from pipelines.errors import GroklstWarning
from pipelines.metrics import correlation, image_metrics

UTM = CRS.from_epsg(32632)
X0, Y0 = 400_000.0, 5_760_000.0


def raster(path: Path, values: np.ndarray, origin: tuple[float, float] = (X0, Y0)) -> Path:
    """A 30 m float32 raster in Celsius with Landsat's -9999 fill where ``values`` is NaN."""
    with rasterio.open(path, "w", driver="GTiff", width=values.shape[1], height=values.shape[0], count=1,
                       dtype="float32", crs=UTM, transform=Affine(30.0, 0, origin[0], 0, -30.0, origin[1]),
                       nodata=-9999.0) as dst:
        dst.write(np.where(np.isnan(values), -9999.0, values).astype("float32"), 1)
    return path


@pytest.fixture()
def scene(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    """A 40x50 reference with 20 nodata pixels (1,980 valid) and a 10x20 crop of it on the same grid."""
    lst = 30.0 + 4.0 * np.random.default_rng(3).standard_normal((40, 50))
    lst[0:2, 0:10] = np.nan
    reference = raster(tmp_path / "ref.tif", lst)
    crop = raster(tmp_path / "crop.tif", lst[5:15, 10:30], origin=(X0 + 10 * 30, Y0 - 5 * 30))
    return reference, crop, lst


def test_a_crop_writes_its_share_of_the_reference_and_is_flagged(scene: tuple[Path, Path, np.ndarray]) -> None:
    reference, crop, _ = scene
    with pytest.warns(GroklstWarning) as caught:
        result = compare(reference, [crop])
    assert result.pixels == 200 and result.grid == "20x10 px at 30 m"
    assert result.rows[0]["written"] == 200 / 1980  # was 1.0: the share of the overlap only
    assert result.rows[0]["rmse"] == 0.0
    assert [str(w.message) for w in caught] == [
        f"scored on 200 of the reference's 1,980 valid pixels (10.1 %), those every candidate covers: "
        f"{crop} covers 10.1 % of them; check the candidates' footprint and georeferencing, or compare "
        "them one by one"]


def test_a_full_candidate_beside_a_crop_writes_all_and_only_the_crop_is_named(
        scene: tuple[Path, Path, np.ndarray], tmp_path: Path) -> None:
    reference, crop, lst = scene
    full = raster(tmp_path / "full.tif", lst + 0.5)
    shrunk = r"scored on 200 of .* 1,980 .*: \S*crop.tif covers 10.1 % of them;"
    with pytest.warns(GroklstWarning, match=shrunk) as caught:
        result = compare(reference, [full, crop])
    assert str(full) not in str(caught[0].message)
    assert [row["written"] for row in result.rows] == [1.0, 200 / 1980]
    assert result.pixels == 200 and result.rows[0]["bias"] == pytest.approx(0.5, abs=1e-5)


def test_a_shifted_candidate_is_flagged(scene: tuple[Path, Path, np.ndarray], tmp_path: Path) -> None:
    """Georeferenced 300 m too far east: 40 of 50 columns overlap, less its own 20 nodata pixels that
    land there: 1,580 of the reference's 1,980 valid pixels."""
    reference, _, lst = scene
    moved = raster(tmp_path / "moved.tif", lst, origin=(X0 + 300, Y0))
    with pytest.warns(GroklstWarning, match=r"moved.tif covers 79.8 % of them"):
        result = compare(reference, [moved])
    assert result.rows[0]["written"] == 1580 / 1980 and result.pixels == 1580


def test_a_trimmed_edge_shows_in_written_but_is_not_warned(scene: tuple[Path, Path, np.ndarray],
                                                            tmp_path: Path) -> None:
    """A degraded input's trimmed edge (here the last column: 40 of 1,980 valid pixels, 98.0 %
    covered) is not a crop: ``written`` shows it, no warning cries wolf on every Wald comparison."""
    import warnings

    reference, _, lst = scene
    trimmed = raster(tmp_path / "trimmed.tif", lst[:, :49])
    with warnings.catch_warnings():
        warnings.simplefilter("error", GroklstWarning)
        result = compare(reference, [trimmed])
    assert result.rows[0]["written"] == 1940 / 1980 and result.pixels == 1940


def test_cli_warns_on_stderr_and_in_json(scene: tuple[Path, Path, np.ndarray], capsys) -> None:
    reference, crop, _ = scene
    assert run(["compare", "--json", str(reference), str(crop)]) == 0
    out, err = capsys.readouterr()
    document = json.loads(out)
    assert document["rows"][0]["written"] == 200 / 1980
    assert len(document["warnings"]) == 1 and "crop.tif covers 10.1 % of them" in document["warnings"][0]
    assert "warning: scored on 200 of the reference's 1,980 valid pixels (10.1 %)" in err


def test_an_empty_candidate_or_reference_is_named_as_such(scene: tuple[Path, Path, np.ndarray],
                                                          tmp_path: Path, capsys) -> None:
    reference, _, lst = scene
    empty = raster(tmp_path / "empty.tif", np.full_like(lst, np.nan))
    assert run(["compare", str(reference), str(empty)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {empty}: the candidate has no valid pixel (all nodata) where it overlaps the reference "
        "(hint: check its nodata value (gdal_edit.py -a_nodata) and that it covers the reference's area)")
    assert run(["compare", str(empty), str(reference)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {empty}: the reference has no valid pixel (all nodata) (hint: check --nodata (and "
        "--mask-implausible) against its values, e.g. with gdalinfo -stats)")


def test_table_says_n_a_for_a_constant_candidate_and_cc_is_at_most_1(
        scene: tuple[Path, Path, np.ndarray], tmp_path: Path, capsys) -> None:
    reference, _, lst = scene
    constant = raster(tmp_path / "constant.tif", np.where(np.isnan(lst), np.nan, 30.0))
    plus = raster(tmp_path / "plus.tif", lst + 0.5)
    assert run(["compare", str(reference), str(constant), str(plus)]) == 0
    table = capsys.readouterr().out
    constant_row = next(line for line in table.splitlines() if "constant.tif" in line)
    assert "n/a" in constant_row and "nan" not in table
    assert run(["compare", "--json", str(reference), str(plus)]) == 0
    cc = json.loads(capsys.readouterr().out)["rows"][0]["cc"]
    assert 0.9999999 < cc <= 1.0


def test_cc_is_clamped_where_round_off_passes_1() -> None:
    """Seed 1's reference + 0.5 gives 1.0000000000000002 unclamped (cov / spread in float64)."""
    reference = 300 + 5 * np.random.default_rng(1).standard_normal(1000)
    candidate = reference + 0.5
    d_c, d_r = candidate - candidate.mean(), reference - reference.mean()
    cov, spread = float(np.mean(d_c * d_r)), float(np.sqrt(np.mean(d_c**2))) * float(np.sqrt(np.mean(d_r**2)))
    assert cov / spread > 1.0
    assert image_metrics(candidate, reference)["cc"] == 1.0
    assert correlation(-1.5, 1.0) == -1.0 and np.isnan(correlation(0.0, 0.0))


def test_a_reference_without_a_whole_coarse_pixel_is_refused(tmp_path: Path, capsys) -> None:
    """QA R6: a 10 m reference with a hole in every 30 m block against a 30 m candidate divided by zero."""
    fine = np.full((30, 30), 25.0)
    fine[::3, ::3] = np.nan
    with rasterio.open(tmp_path / "ref.tif", "w", driver="GTiff", width=30, height=30, count=1, dtype="float32",
                       crs=UTM, transform=Affine(10.0, 0, X0, 0, -10.0, Y0), nodata=-9999.0) as dst:
        dst.write(np.where(np.isnan(fine), -9999.0, fine).astype("float32"), 1)
    candidate = raster(tmp_path / "cand.tif", np.full((10, 10), 26.0))
    assert run(["compare", str(tmp_path / "ref.tif"), str(candidate)]) == 2
    assert "the reference has no valid pixel at the coarsest raster's pixel size" in capsys.readouterr().err


def test_candidates_with_no_common_pixel_are_refused(scene: tuple[Path, Path, np.ndarray], tmp_path: Path,
                                                      capsys) -> None:
    """QA B3: two candidates covering opposite halves scored 0 pixels, all metrics null, exit 0."""
    reference, _, lst = scene
    left, right = lst.copy(), lst.copy()
    left[:, 25:] = np.nan
    right[:, :25] = np.nan
    a, b = raster(tmp_path / "left.tif", left), raster(tmp_path / "right.tif", right)
    assert run(["compare", str(reference), str(a), str(b), "--json"]) == 2
    line = json.loads(capsys.readouterr().out)
    assert line["status"] == "error"
    assert "no pixel has a value in the reference and every candidate at once" in line["error"]
    assert f"{a} 49.5 %, {b} 50.5 %" in line["error"]
