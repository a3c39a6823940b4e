"""``groklst compare``: the paper's metrics on rasters against a reference, streamed strip by
strip, on one common grid and one common set of pixels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

import pipelines.compare as compare_module
from groklst_cli.app import run
from pipelines.compare import compare
from pipelines.metrics import METRICS, image_metrics
from pipelines.units import Units

UTM = CRS.from_epsg(32632)
X0, Y0 = 400_000.0, 5_760_000.0


def raster(path: Path, values: np.ndarray, res: float | tuple[float, float] = 30.0,
           origin: tuple[float, float] = (X0, Y0), crs: CRS = UTM, nodata: float | None = None,
           dtype: str = "float32") -> Path:
    """A one-band raster as users have them (``nodata`` replaces NaN in the stored values; ``res``
    one size for square pixels, or x and y)."""
    data = values if nodata is None else np.where(np.isnan(values), nodata, values)
    x_res, y_res = (res, res) if isinstance(res, float) else res
    with rasterio.open(path, "w", driver="GTiff", width=values.shape[1], height=values.shape[0], count=1,
                       dtype=dtype, crs=crs, transform=Affine(x_res, 0, origin[0], 0, -y_res, origin[1]),
                       nodata=nodata) as dst:
        dst.write(data.astype(dtype), 1)
    return path


def stored(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1, masked=True).astype(np.float64).filled(np.nan)


def truth_and_candidates(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    truth = 300.0 + 4.0 * rng.standard_normal((45, 38))
    good = truth + 0.3 * rng.standard_normal(truth.shape)
    poor = truth + 1.0 + 0.8 * rng.standard_normal(truth.shape)
    truth[3:6, 4:9] = np.nan
    good[20:24, 30:33] = np.nan
    return truth, good, poor


def test_streamed_metrics_equal_the_papers_on_the_common_pixels(tmp_path: Path, monkeypatch) -> None:
    truth, good, poor = truth_and_candidates(np.random.default_rng(0))
    # The reference in Celsius with Landsat's -9999 fill; candidates in Kelvin, NaN nodata.
    reference = raster(tmp_path / "truth.tif", truth - 273.15, nodata=-9999.0)
    paths = [raster(tmp_path / "good.tif", good), raster(tmp_path / "poor.tif", poor)]
    monkeypatch.setattr(compare_module, "STRIP_PIXELS", 100)  # many strips of 2 rows
    result = compare(reference, paths)
    truth = stored(reference) + 273.15  # what the files hold (float32), in Kelvin
    good, poor = stored(paths[0]), stored(paths[1])
    common = np.isfinite(truth) & np.isfinite(good) & np.isfinite(poor)
    assert result.reference_units is Units.celsius and result.pixels == common.sum()
    assert result.grid == "38x45 px at 30 m"
    for row, values in zip(result.rows, (good, poor)):
        expected = image_metrics(np.where(common, values, np.nan), np.where(common, truth, np.nan))
        for name in METRICS:
            assert row[name] == pytest.approx(expected[name], rel=1e-9, abs=1e-12), name
    assert result.rows[0]["written"] == pytest.approx((np.isfinite(truth) & np.isfinite(good)).sum() / np.isfinite(truth).sum())
    assert result.rows[1]["written"] == 1.0
    assert result.rows[1]["bias"] == pytest.approx(1.0, abs=0.2)


def test_a_finer_raster_is_averaged_onto_the_coarsest_grid(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    truth = 290.0 + 5.0 * rng.standard_normal((12, 10))
    pattern = np.array([[1.5, -1.0, 0.0], [-0.5, 0.5, 0.0], [0.0, -0.5, 0.0]])  # zero block mean
    fine = np.kron(truth, np.ones((3, 3))) + np.tile(pattern, truth.shape)
    # The fine candidate starts one coarse pixel west and north and is one coarse pixel wider.
    wider = np.full((39, 36), 295.0)
    wider[3:, 3:33] = fine
    reference = raster(tmp_path / "truth.tif", truth)
    candidate = raster(tmp_path / "fine.tif", wider, res=10.0, origin=(X0 - 30, Y0 + 30))
    row = compare(reference, [candidate]).rows[0]
    assert row["rmse"] < 1e-9 and row["written"] == 1.0 and row["cc"] == pytest.approx(1.0)
    # The other way round: a finer reference is averaged onto the candidate's grid.
    flipped = compare(candidate, [reference])
    assert flipped.grid == "10x12 px at 30 m" and flipped.rows[0]["rmse"] < 1e-9


def test_a_non_square_lst_scores_its_own_downscaled_output(tmp_path: Path) -> None:
    """QA: compare refused a 30x40 m LST ("pixels are not square") that downscale takes, so its
    10x13.33 m output could not be scored. Blocks of a --fit output average to the LST exactly."""
    rng = np.random.default_rng(8)
    lst = 300.0 + 3.0 * rng.standard_normal((24, 20))
    lst[5:8, 4:6] = np.nan
    reference = raster(tmp_path / "lst.tif", lst, res=(30.0, 40.0), nodata=-9999.0)
    guidance = tmp_path / "guidance.tif"
    with rasterio.open(guidance, "w", driver="GTiff", width=60, height=72, count=2, dtype="float32", crs=UTM,
                       transform=Affine(10.0, 0, X0, 0, -40 / 3, Y0)) as dst:
        dst.write(rng.standard_normal((2, 72, 60)).astype("float32"))
    fitted = tmp_path / "fit.tif"
    assert run(["-q", "downscale", str(reference), "--guidance", str(guidance), "--fit", "--model", "tsharp",
                "--seed", "3", "-o", str(fitted)]) == 0
    result = compare(reference, [fitted])
    assert result.grid == "20x24 px at 30x40 m" and result.pixels == np.isfinite(lst).sum() == 474
    assert result.rows[0]["rmse"] < 1e-4 and result.rows[0]["written"] == 1.0
    flipped = compare(fitted, [reference])  # the finer reference is averaged per axis too
    assert flipped.grid == "20x24 px at 30x40 m" and flipped.rows[0]["rmse"] < 1e-4


@pytest.mark.parametrize("aggregate, power", [("kelvin", 1), ("radiance", 4)])
def test_each_axis_is_averaged_by_its_own_factor(tmp_path: Path, monkeypatch, aggregate: str, power: int) -> None:
    """A 10x15 m candidate on a 30 m reference: blocks of 3 columns and 2 rows, as numpy averages them."""
    rng = np.random.default_rng(9)
    truth = 295.0 + 4.0 * rng.standard_normal((12, 10))
    fine = np.kron(truth, np.ones((2, 3))) + 2.0 * rng.standard_normal((24, 30))
    fine[7, 13] = np.nan  # nodata: its block (row 3, column 4) is nodata
    # One coarse pixel more to the west and to the north (3 columns, 2 rows), outside the footprint.
    wider = np.full((26, 33), 290.0)
    wider[2:, 3:] = fine
    reference = raster(tmp_path / "truth.tif", truth)
    candidate = raster(tmp_path / "fine.tif", wider, res=(10.0, 15.0), origin=(X0 - 30, Y0 + 30), nodata=-9999.0)
    monkeypatch.setattr(compare_module, "STRIP_PIXELS", 30)  # strips of 1 coarse row (6 fine pixels each)
    result = compare(reference, [candidate], aggregate=aggregate)
    stored_fine = stored(candidate)[2:, 3:]
    blocks = (stored_fine**power).reshape(12, 2, 10, 3).mean(axis=(1, 3)) ** (1 / power)
    assert np.isnan(blocks[3, 4]) and np.isfinite(blocks).sum() == 119
    assert result.grid == "10x12 px at 30 m" and result.pixels == 119
    expected = image_metrics(blocks, np.where(np.isfinite(blocks), stored(reference), np.nan))
    for name in METRICS:
        assert result.rows[0][name] == pytest.approx(expected[name], rel=1e-9, abs=1e-12), name
    assert 0.7 < result.rows[0]["rmse"] < 0.95  # the noise of 6 pixels' mean: 2 / sqrt(6) = 0.82


@pytest.mark.parametrize("reference_res, res, origin, problem, hint", [
    ((30.0, 10.0), (10.0, 30.0), (X0, Y0), "pixels of 10x30 m are coarser in y than the coarsest in x (30x10 m): "
                                           "no raster is coarsest in both x and y", "gdalwarp -r average -te "),
    ((30.0, 40.0), (10.0, 15.0), (X0, Y0), "pixel size 10x15 m does not divide the coarsest raster's 30x40 m",
     "gdalwarp -r average -te "),
    ((30.0, 40.0), (10.0, 20.0), (X0, Y0 + 10), "grid does not nest in the coarsest raster's (offset of 0.50 "
                                                "pixel in y)", "gdalwarp -r bilinear -te "),
])
def test_non_square_grids_that_do_not_nest_are_refused_in_one_line(
        tmp_path: Path, capsys, reference_res: tuple[float, float], res: tuple[float, float],
        origin: tuple[float, float], problem: str, hint: str) -> None:
    reference = raster(tmp_path / "truth.tif", 300.0 + np.arange(120.0).reshape(12, 10) / 10, res=reference_res)
    other = raster(tmp_path / "c.tif", np.full((24, 30), 300.0), res=res, origin=origin)
    assert run(["compare", str(reference), str(other)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {other}: {problem} (hint: "), lines
    assert hint in lines[0]


@pytest.mark.parametrize("case, problem", [
    ("crs", "differs from"),
    ("half_pixel", "grid does not nest"),
    ("pixel_size", "pixel size 20 m does not divide the coarsest raster's 30 m"),
    ("apart", "no whole coarse pixel in common"),
    ("digital_numbers", "are not all plausible land-surface temperatures"),
])
def test_rasters_that_cannot_be_compared_are_refused_in_one_line(tmp_path: Path, capsys, case: str,
                                                                 problem: str) -> None:
    truth = 300.0 + np.arange(120.0).reshape(12, 10) / 10
    reference = raster(tmp_path / "truth.tif", truth)
    other = {
        "crs": lambda: raster(tmp_path / "c.tif", truth, crs=CRS.from_epsg(32633)),
        "half_pixel": lambda: raster(tmp_path / "c.tif", truth, origin=(X0 + 15, Y0)),
        "pixel_size": lambda: raster(tmp_path / "c.tif", np.full((18, 15), 300.0), res=20.0),
        "apart": lambda: raster(tmp_path / "c.tif", truth, origin=(X0 + 3000, Y0)),
        "digital_numbers": lambda: raster(tmp_path / "c.tif", truth * 100),
    }[case]()
    assert run(["compare", str(reference), str(other)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and problem in lines[0], lines


def test_json_rows_and_the_reference_options(tmp_path: Path, capsys) -> None:
    truth, good, _ = truth_and_candidates(np.random.default_rng(2))
    stored = np.where(np.isnan(truth), 0, np.round((truth - 149.0) / 0.00341802))
    reference = raster(tmp_path / "landsat_st.tif", stored, dtype="uint16")  # Landsat C2 ST digital numbers
    candidate = raster(tmp_path / "good.tif", good)
    assert run(["-q", "compare", str(reference), str(candidate)]) == 2  # digital numbers: refused
    assert "--scale-factor" in capsys.readouterr().err
    assert run(["-q", "compare", str(reference), str(candidate), "--scale-factor", "0.00341802",
                "--offset", "149", "--nodata", "0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["reference"] == str(reference) and out["reference_units"] == "kelvin"
    assert out["grid"] == "38x45 px at 30 m" and out["pixels"] == (np.isfinite(truth) & np.isfinite(good)).sum()
    assert [r["candidate"] for r in out["rows"]] == [str(candidate)]
    assert 0.25 < out["rows"][0]["rmse"] < 0.35 and set(METRICS) <= set(out["rows"][0])


def test_radiance_aggregation_matches_prepares(tmp_path: Path, capsys) -> None:
    from pipelines.degrade import degrade

    fine = 300.0 + 15.0 * np.random.default_rng(3).standard_normal((24, 30))  # strong sub-pixel contrast
    coarse = degrade(fine, 3, aggregate="radiance")  # what a coarser thermal sensor sees
    reference = raster(tmp_path / "coarse.tif", coarse.astype(np.float64))
    candidate = raster(tmp_path / "fine.tif", fine, res=10.0)
    base = ["-q", "compare", str(reference), str(candidate), "--json"]
    assert run([*base, "--aggregate", "radiance"]) == 0
    radiance = json.loads(capsys.readouterr().out)
    assert run(base) == 0
    kelvin = json.loads(capsys.readouterr().out)
    assert radiance["aggregate"] == "radiance" and kelvin["aggregate"] == "kelvin"
    assert radiance["rows"][0]["rmse"] < 1e-4  # float32 storage
    assert kelvin["rows"][0]["bias"] < -0.1  # the mean temperature is below the radiance one
    assert run([*base, "--aggregate", "photons"]) == 2
    assert "unknown aggregation 'photons'" in capsys.readouterr().err


def test_json_has_null_for_a_metric_that_cannot_be_computed(tmp_path: Path, capsys) -> None:
    """A constant candidate has no correlation: the JSON says null, not NaN (which jq and
    most JSON parsers refuse)."""
    truth = raster(tmp_path / "truth.tif", np.linspace(290, 300, 400).reshape(20, 20))
    flat = raster(tmp_path / "flat.tif", np.full((20, 20), 295.0))
    capsys.readouterr()
    assert run(["-q", "compare", str(truth), str(flat), "--json"]) == 0
    text = capsys.readouterr().out
    assert "NaN" not in text
    row = json.loads(text)["rows"][0]
    expected_rmse = np.sqrt(np.mean((np.linspace(290, 300, 400) - 295) ** 2))
    assert row["cc"] is None and row["rmse"] == pytest.approx(expected_rmse, rel=1e-5)


@pytest.mark.parametrize("name, cell, absent", [
    ("run:fire:[red]good.tif", "run:fire:[red]good.tif", "🔥"),  # user text, not rich markup: no emoji, no style
    ("go\nod\x1b[2J.tif", "go\\nod\\x1b[2J.tif", "\x1b"),  # QA: a newline split the row over two lines
])
def test_the_table_prints_candidate_paths_as_typed_with_control_characters_escaped(
        tmp_path: Path, capsys, monkeypatch, name: str, cell: str, absent: str) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")  # the path on one line of its cell
    truth, good, _ = truth_and_candidates(np.random.default_rng(3))
    raster(tmp_path / "truth.tif", truth)
    raster(tmp_path / name, good)
    assert run(["-q", "compare", "truth.tif", name]) == 0
    table = capsys.readouterr().out
    assert f"│ {cell} │" in table and absent not in table


def test_strips_are_read_under_the_capped_gdal_block_cache(tmp_path: Path, monkeypatch) -> None:
    """QA: GDAL's default cache (5% of RAM) kept every block read, so compare's peak grew with the
    scene's height (577 MB at 4000 rows against 317 MB at 1000)."""
    from rasterio.env import get_gdal_config

    from pipelines.geotiff import STREAMING_CACHE_MB

    monkeypatch.delenv("GDAL_CACHEMAX", raising=False)
    truth, good, _ = truth_and_candidates(np.random.default_rng(4))
    monkeypatch.setattr(compare_module, "STRIP_PIXELS", 400)  # several strips
    cache = []
    compare(raster(tmp_path / "truth.tif", truth), [raster(tmp_path / "good.tif", good)],
            on_progress=lambda done, total: cache.append(get_gdal_config("GDAL_CACHEMAX")))
    assert len(cache) > 1 and set(cache) == {STREAMING_CACHE_MB * 2**20}


def streamed(candidate: np.ndarray, reference: np.ndarray, strips: int = 7) -> dict[str, float]:
    """compare's running metrics, the pixels added in ``strips`` parts."""
    moments = compare_module.Moments()
    for part in np.array_split(np.arange(candidate.size), strips):
        moments.add(candidate[part], reference[part])
    return moments.metrics()


@pytest.mark.parametrize("pixels", [10_000, 320_772, 1_000_000])
@pytest.mark.parametrize("celsius", [37.0, 31.85, 36.9])  # 310.15 K, 305 K, 310.05 K as float32 Celsius
def test_a_constant_candidate_has_cc_nan_and_rsd_exactly_1(pixels: int, celsius: float) -> None:
    """QA: a constant candidate got CC 2e-8 (0.0000 in the table) and RSD 0.99999994: its variance
    from x^2/n - mean^2 was round-off, not 0 (pipelines.metrics: CC is 0/0 then)."""
    reference = np.random.default_rng(pixels).normal(311.0, 5.0, pixels)
    constant = np.full(pixels, float(np.float32(celsius)) + 273.15)  # as compare reads it, in Kelvin
    row = streamed(constant, reference)
    assert np.isnan(row["cc"]) and row["rsd"] == 1.0
    assert row["bias"] == pytest.approx(constant[0] - reference.mean(), abs=1e-9)
    flipped = streamed(reference, constant)  # a constant reference: no RSD either
    assert np.isnan(flipped["cc"]) and np.isnan(flipped["rsd"])


def test_a_nearly_constant_candidate_keeps_its_correlation_to_the_last_digits() -> None:
    """A real spread of +-0.01 K is no round-off: CC and RSD as a float64 two-pass gives them
    (raw sums of squares were 1e-10 off; the strips' unshifted means 1e-11)."""
    rng = np.random.default_rng(7)
    reference = rng.normal(311.0, 5.0, 10_000)
    candidate = (310.15 + 0.002 * (reference - 311.0) + rng.uniform(-0.01, 0.01, reference.size))
    candidate = candidate.astype(np.float32).astype(np.float64)
    dc, dr = candidate - candidate.mean(), reference - reference.mean()
    cc = np.mean(dc * dr) / np.sqrt(np.mean(dc**2) * np.mean(dr**2))
    sigma_c, sigma_r = candidate.std(ddof=1), reference.std(ddof=1)
    row = streamed(candidate, reference)
    assert 0.5 < cc < 0.9 and row["cc"] == pytest.approx(cc, rel=1e-13)
    assert row["rsd"] == pytest.approx(abs(sigma_c - sigma_r) / sigma_r, rel=1e-13)


def test_an_undeclared_fill_is_declared_by_option_for_the_reference_and_in_the_file_for_a_candidate(
        tmp_path: Path, capsys) -> None:
    """QA: a candidate holding -9999 with no nodata was told to pass --nodata -9999.0, which reads
    the reference only: a candidate's fill is declared in its file (README: the default rule)."""
    truth, good, _ = truth_and_candidates(np.random.default_rng(5))
    filled = raster(tmp_path / "filled.tif", np.where(np.isnan(truth), -9999.0, truth))  # no nodata
    candidate = raster(tmp_path / "good.tif", np.where(np.isnan(good), -9999.0, good))
    reference = raster(tmp_path / "truth.tif", truth)
    assert run(["-q", "compare", str(reference), str(candidate)]) == 2
    told = capsys.readouterr().err
    assert told.startswith(f"error: {candidate}: LST values -9999..") and "--nodata" not in told
    assert told.rstrip().endswith(f"looks like a fill value: declare it as the file's nodata: "
                                  f"gdal_edit.py -a_nodata -9999.0 {candidate})")
    with rasterio.open(candidate, "r+") as dst:  # what gdal_edit.py -a_nodata does
        dst.nodata = -9999.0
    assert run(["-q", "compare", str(reference), str(candidate)]) == 0
    capsys.readouterr()
    assert run(["-q", "compare", str(filled), str(candidate)]) == 2  # the reference's fill: by option
    assert capsys.readouterr().err.rstrip().endswith("looks like a fill value: pass --nodata -9999.0)")
    assert run(["-q", "compare", str(filled), str(candidate), "--nodata", "-9999"]) == 0


def test_a_candidate_in_digital_numbers_is_told_the_metadata_that_reads_it(tmp_path: Path, capsys) -> None:
    truth, good, _ = truth_and_candidates(np.random.default_rng(6))
    reference = raster(tmp_path / "truth.tif", truth)
    stored = np.where(np.isnan(good), 0, np.round((good - 149.0) / 0.00341802))
    candidate = raster(tmp_path / "landsat st.tif", stored, dtype="uint16")  # fill 0, undeclared
    assert run(["-q", "compare", str(reference), str(candidate)]) == 2
    told = capsys.readouterr().err
    assert "--scale-factor" not in told and "--nodata" not in told
    assert (f"declare the encoding in the file: gdal_edit.py -a_nodata 0 -scale 0.00341802 -offset 149.0 "
            f"'{candidate}' (Landsat Collection-2 ST: ") in told
    with rasterio.open(candidate, "r+") as dst:  # what that gdal_edit.py line does
        dst.nodata, dst.scales, dst.offsets = 0, (0.00341802,), (149.0,)
    as_floats = raster(tmp_path / "good.tif", good)
    assert run(["-q", "compare", str(reference), str(candidate), str(as_floats), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert rows[0]["rmse"] == pytest.approx(rows[1]["rmse"], abs=1e-3)  # the DNs' rounding apart
