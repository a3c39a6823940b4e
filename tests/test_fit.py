"""groklst downscale --fit: Wald-protocol pairs, accuracy vs bicubic, any band count, Landsat
Celsius input, fallback, determinism and the checkpoint round trip (tiny fits of a few seconds)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window
from scipy.ndimage import gaussian_filter

from groklst_cli.app import run
from pipelines.checkpoint import load_checkpoint
from pipelines.fit_candidates import BicubicMember, BlendPredictor, NetworkMember
from pipelines.infer import Execution, TilePredictor
from pipelines.psf_shape import Psf
from pipelines.degrade import block_mean
from pipelines.geotiff import write_raster
from pipelines.scene_fit import WaldScene, read_scene

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
LANDSAT = SHARED / "data" / "landsat-muenster"
UTM = CRS.from_epsg(32633)
FINE_RES = 10.0
# Small fits: few iterations and (the default) no time limit, so results do not depend on the
# machine's load.
QUICK = ["--seed", "3"]


def write_pair(folder: Path, fine: np.ndarray, guidance: np.ndarray, scale: int,
               descriptions: list[str] | None = None, name: str = "scene") -> tuple[Path, Path]:
    """Coarse LST (block mean of ``fine``) and the fine guidance, on nested grids."""
    lst_path, guid_path = folder / f"{name}_lst.tif", folder / f"{name}_guidance.tif"
    write_raster(lst_path, block_mean(fine.astype(np.float32), scale), crs=UTM,
                 transform=Affine(FINE_RES * scale, 0, 500_000, 0, -FINE_RES * scale, 5_000_000),
                 descriptions=["lst"], units="K", overwrite=True)
    write_raster(guid_path, guidance, crs=UTM,
                 transform=Affine(FINE_RES, 0, 500_000, 0, -FINE_RES, 5_000_000),
                 descriptions=descriptions or [""] * guidance.shape[0], overwrite=True)
    return lst_path, guid_path


def nonlinear_scene(size: int, bands: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fine LST = 300 + 8 tanh(g1) + 4 g2^2 + a smooth field; guidance smooth random fields."""
    rng = np.random.default_rng(seed)
    guidance = np.stack([gaussian_filter(rng.normal(0, 1, (size, size)), 2) * 3
                         for _ in range(bands)]).astype(np.float32)
    field = gaussian_filter(rng.normal(0, 1, (size, size)), 12) * 20
    second = guidance[min(1, bands - 1)]
    return (300 + 8 * np.tanh(guidance[0]) + 4 * second**2 + field).astype(np.float32), guidance


def read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


def precision_tag(path: Path) -> str | None:
    with rasterio.open(path) as src:
        return src.tags().get("precision")


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.nanmean((a - b) ** 2)))


def fit_json(capsys) -> dict:
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(lines) == 1
    return json.loads(lines[0])


def test_wald_pairs_hold_out_spatial_blocks(tmp_path: Path) -> None:
    fine, guidance = nonlinear_scene(96, 2)
    lst_path, guid_path = write_pair(tmp_path, fine, guidance, 2)
    scene = read_scene(lst_path, guid_path)
    assert scene.scale == 2 and scene.lst.shape == (48, 48) and scene.guidance.shape == (2, 48, 48)
    np.testing.assert_allclose(scene.guidance, block_mean(guidance, 2), rtol=1e-6)
    np.testing.assert_array_equal(scene.native, guidance)
    source = WaldScene(scene, crop=12, degradation="area", seed=0)
    assert source.block == 4  # 2 degraded pixels: small blocks, so the scene holds many (144)
    train, val = source.indices("train"), source.indices("val")
    assert train and val and not set(train) & set(val)
    test = source.test_blocks >= 0
    assert source.test_block_count >= 2 and test.sum() == source.test_block_count * 16
    val_mask = np.zeros((48, 48), bool)
    for index in val:
        lr, guid, hr = source.read(index, 2)
        assert lr.shape == (6, 6) and guid.shape == (2, 12, 12) and hr.shape == (12, 12)
        assert np.isfinite(hr).sum() == 16  # the target is the 4 x 4 block, its context is input
        r, c = source._val[index - len(train)]
        val_mask[r : r + 4, c : c + 4] = True
    assert not (val_mask & test).any()  # validation (early stopping) and test blocks differ
    # Wald: LR = degraded HR; no training target holds a validation or test pixel.
    np.testing.assert_allclose(source.lr, block_mean(scene.lst, 2), rtol=1e-6)
    for index in train:
        r, c = source._train[index]
        lr, guid, hr = source.read(index, 2)
        np.testing.assert_allclose(lr, source.lr[r // 2 : r // 2 + 6, c // 2 : c // 2 + 6])
        held = (val_mask | test)[r : r + 12, c : c + 12]
        assert np.isnan(hr[held]).all()
        np.testing.assert_array_equal(hr[~held], scene.lst[r : r + 12, c : c + 12][~held])


def test_fit_beats_bicubic_on_nonlinear_scene(tmp_path: Path, capsys) -> None:
    fine, guidance = nonlinear_scene(256, 2)
    lst_path, guid_path = write_pair(tmp_path, fine, guidance, 4, ["ndvi", "albedo"])
    fitted, bicubic = tmp_path / "fit.tif", tmp_path / "bicubic.tif"
    assert run(["downscale", str(lst_path), "--fit", "--fit-iters", "120", *QUICK,
                "-o", str(fitted), "--json"]) == 0
    report = fit_json(capsys)["fit"]
    assert report["bands"] == ["ndvi", "albedo"] and report["scale"] == 4
    assert report["beats_bicubic"] is True
    # Every candidate is listed with its held-out metrics and time; the written one is named.
    names = [c["name"] for c in report["candidates"]]
    assert names == ["bicubic", "tsharp", "gwr", "dms", "mlp", "mocolsk-lite"]
    for candidate in report["candidates"]:
        assert set(candidate["held_out"]) == {"rmse", "mae", "bias", "cc"}
        assert candidate["seconds"] >= 0 and 0 <= candidate["weight"] <= 1
    assert report["selected"] in (*names, "blend")
    assert abs(sum(c["weight"] for c in report["candidates"]) - 1) < 1e-3
    network = report["candidates"][5]
    assert network["iterations"] <= 120 and network["stopped"] in ("iterations", "early stopping")
    assert report["candidates"][4]["steps"] == [300, 300] and report["candidates"][4]["stopped"] == "steps"
    assert report["psf"]["estimated"] and report["psf"]["shape"] == "none"  # generated: no blur
    assert report["held_out_blocks"] >= 8
    assert report["held_out_fitted"]["rmse"] < 0.8 * report["held_out_bicubic"]["rmse"]
    assert run(["downscale", str(lst_path), "--model", "bicubic", "-o", str(bicubic)]) == 0
    out = read(fitted)
    assert out.shape == fine.shape
    assert rmse(out, fine) < 0.8 * rmse(read(bicubic), fine)
    # LR-consistent by default: each 4 x 4 block aggregates (in Kelvin) to its LR pixel.
    np.testing.assert_allclose(block_mean(out, 4), read(lst_path), atol=2e-3)
    assert precision_tag(fitted) == ("fp32" if network["weight"] > 0 else None)  # a network blended in


@pytest.mark.parametrize("bands", [1, 2, 10])
def test_any_band_count_with_unnamed_bands(tmp_path: Path, capsys, bands: int) -> None:
    fine, guidance = nonlinear_scene(72, bands, seed=bands)
    lst_path, _ = write_pair(tmp_path, fine, guidance, 3)
    out = tmp_path / "out.tif"
    assert run(["downscale", str(lst_path), "--fit", "--fit-iters", "6", *QUICK, "--conserve",
                "-o", str(out), "--json"]) == 0
    line = fit_json(capsys)
    assert line["fit"]["bands"] == [f"b{i}" for i in range(1, bands + 1)]
    network = next(c for c in line["fit"]["candidates"] if c["name"] == "mocolsk-lite")
    assert network["iterations"] == 6 and line["fit"]["scale"] == 3
    assert line["seconds"] >= line["fit"]["fit_seconds"]  # the reported time includes the fit
    values = read(out)
    assert values.shape == (72, 72) and np.isfinite(values).all()
    # --conserve: every 3 x 3 block aggregates (in T^4) back to its LR pixel.
    radiance_mean = block_mean(values.astype(np.float64) ** 4, 3) ** 0.25
    np.testing.assert_allclose(radiance_mean, read(lst_path), atol=2e-3)


def test_same_seed_same_result_and_checkpoint_round_trip(tmp_path: Path, capsys) -> None:
    fine, guidance = nonlinear_scene(64, 2)
    lst_path, _ = write_pair(tmp_path, fine, guidance, 2, ["g1", "g2"])
    default_a, default_b = tmp_path / "default_a.tif", tmp_path / "default_b.tif"
    for out in (default_a, default_b):  # every candidate, bounded by iterations: repeatable
        assert run(["downscale", str(lst_path), "--fit", "--fit-iters", "10", *QUICK, "-o", str(out)]) == 0
    np.testing.assert_array_equal(read(default_a), read(default_b))
    ckpt = tmp_path / "scene.pt"
    first, second = tmp_path / "first.tif", tmp_path / "second.tif"
    # The network alone, without PSF or residual correction: exactly what its checkpoint does.
    args = ["--fit", "--model", "mocolsk-lite", "--fit-psf", "0", "--fit-residual", "none",
            "--fit-iters", "10", *QUICK]
    assert run(["downscale", str(lst_path), *args, "-o", str(first), "--save-checkpoint", str(ckpt)]) == 0
    assert run(["downscale", str(lst_path), *args, "-o", str(second)]) == 0
    np.testing.assert_array_equal(read(first), read(second))
    assert "saved the fitted mocolsk-lite network" in capsys.readouterr().err
    # Trained on the LST degraded by the scale, meant for the scene's output pixels.
    saved = load_checkpoint(ckpt)
    with rasterio.open(first) as src:
        assert saved.output_resolution() == (pytest.approx(src.res[0]), "m")
    # The saved checkpoint reproduces the fit on its scene and downscales another scene,
    # without a warning about the resolution it was trained at.
    again = tmp_path / "again.tif"
    assert run(["downscale", str(lst_path), "--checkpoint", str(ckpt), "-o", str(again)]) == 0
    assert "trained to write" not in capsys.readouterr().err
    np.testing.assert_allclose(read(again), read(first), atol=1e-4)
    other_fine, other_guidance = nonlinear_scene(80, 2, seed=9)
    # Bands stored in the other order: matched by name.
    other_lst, _ = write_pair(tmp_path, other_fine, other_guidance[::-1], 2, ["g2", "g1"], name="other")
    other_out = tmp_path / "other.tif"
    assert run(["downscale", str(other_lst), "--checkpoint", str(ckpt), "-o", str(other_out)]) == 0
    assert read(other_out).shape == (80, 80) and np.isfinite(read(other_out)).all()
    with rasterio.open(first) as src:
        assert src.tags()["checkpoint"] == str(ckpt.resolve()) and src.tags()["model"] == "mocolsk-lite"
        assert src.tags()["checkpoint_sha256"] and "downscale --fit" in src.tags()["fit"]
    with rasterio.open(second) as src:  # fitted but not saved: no file to name or hash
        assert src.tags()["checkpoint"] == "none (in memory, not saved)"
        assert "checkpoint_sha256" not in src.tags() and "downscale --fit" in src.tags()["fit"]
    # the network ran, so the outputs say at which precision (QA: a fit's output had no tag);
    # --precision runs the fitted network as it runs any other
    inexact = tmp_path / "bf16.tif"
    assert run(["downscale", str(lst_path), *args, "--precision", "bf16", "-o", str(inexact)]) == 0
    assert [precision_tag(path) for path in (first, second, again, inexact)] == ["fp32", "fp32", "fp32", "bf16"]
    difference = np.abs(read(inexact) - read(second))
    assert 0 < difference.max() < 0.5


def test_a_blend_runs_and_reports_the_precision_of_its_weighted_networks_only(tmp_path: Path) -> None:
    fine, guidance = nonlinear_scene(64, 2)
    lst_path, _ = write_pair(tmp_path, fine, guidance, 2, ["g1", "g2"])
    ckpt = tmp_path / "scene.pt"
    assert run(["-q", "downscale", str(lst_path), "--fit", "--model", "mocolsk-lite", "--fit-iters", "4", *QUICK,
                "-o", str(tmp_path / "out.tif"), "--save-checkpoint", str(ckpt)]) == 0
    network = NetworkMember(TilePredictor(load_checkpoint(ckpt), torch.device("cpu")), Psf(), "mocolsk-lite")
    members = [BicubicMember(2), network]
    unused = BlendPredictor("bicubic", 2, ["g1", "g2"], members, [1.0, 0.0], "smooth")
    unused.run_with(Execution(precision="bf16"))
    assert (unused.networks, unused.precision, network.predictor.precision) == ([], None, "fp32")
    blend = BlendPredictor("blend", 2, ["g1", "g2"], members, [0.5, 0.5], "smooth")
    assert blend.precision == "fp32"  # auto on the CPU
    blend.run_with(Execution(precision="fp16"))
    assert (blend.networks, blend.precision) == ([network.predictor], "fp16")


def test_a_given_moffat_psf_is_used_reported_and_tagged_and_gwr_runs_alone(tmp_path: Path, capsys) -> None:
    fine, guidance = nonlinear_scene(96, 2)
    lst_path, _ = write_pair(tmp_path, fine, guidance, 4, ["g1", "g2"])
    out = tmp_path / "gwr.tif"
    assert run(["downscale", str(lst_path), "--fit", "--model", "gwr", "--fit-psf", "Moffat:1.5:3",
                *QUICK, "-o", str(out), "--json"]) == 0
    report = fit_json(capsys)["fit"]
    assert [c["name"] for c in report["candidates"]] == ["gwr"]
    assert report["psf"] == {"shape": "moffat", "width_px": 1.5, "beta": 3.0, "spec": "moffat:1.5:3",
                             "estimated": False, "at_widest": False, "seconds": 0.0,
                             "cv_rmse": {}}
    with rasterio.open(out) as src:
        assert src.tags()["fit_psf"] == "moffat:1.5:3" and "precision" not in src.tags()  # no network
        written = src.read(1)
    # LR-consistent by default: the 4 x 4 block means are the input.
    np.testing.assert_allclose(block_mean(written, 4), block_mean(fine, 4), atol=2e-3)
    assert rmse(written, fine) < rmse(np.repeat(np.repeat(block_mean(fine, 4), 4, 0), 4, 1), fine)


def test_gwr_writes_nan_only_where_data_is_missing_and_copes_with_a_constant_band(tmp_path: Path) -> None:
    fine, guidance = nonlinear_scene(96, 2, seed=4)
    guidance = np.concatenate([guidance, np.full((1, 96, 96), 0.3, np.float32)])  # a constant band
    guidance[:, 60:72, 8:20] = np.nan  # no guidance here
    lst_path, _ = write_pair(tmp_path, fine, guidance, 4, ["g1", "g2", "flat"])
    with rasterio.open(lst_path, "r+") as dst:  # an LR nodata hole
        lr = dst.read(1)
        lr[4:7, 15:19] = np.nan
        dst.write(lr, 1)
    outputs = {}
    for name in ("gwr", "tsharp"):
        outputs[name] = tmp_path / f"{name}.tif"
        assert run(["-q", "downscale", str(lst_path), "--fit", "--model", name, *QUICK,
                    "-o", str(outputs[name])]) == 0
    written = read(outputs["gwr"])
    assert np.isnan(written[60:72, 8:20]).all() and np.isnan(written[16:28, 60:76]).all()
    # NaN exactly where the global sharpener writes it (the holes and their margin), no more.
    np.testing.assert_array_equal(np.isnan(written), np.isnan(read(outputs["tsharp"])))
    assert np.isfinite(written).mean() > 0.6 and np.nanmin(written) > 280 and np.nanmax(written) < 340
    full = np.isfinite(block_mean(written, 4)) & np.isfinite(lr)
    np.testing.assert_allclose(block_mean(written, 4)[full], lr[full], atol=2e-3)


def test_fallback_bicubic_when_guidance_does_not_help(tmp_path: Path, capsys) -> None:
    yy, xx = np.mgrid[0:64, 0:64]
    fine = (290 + 0.2 * yy + 0.1 * xx).astype(np.float32)  # a ramp: bicubic is near exact
    noise = np.random.default_rng(1).normal(0, 1, (1, 64, 64)).astype(np.float32)
    lst_path, _ = write_pair(tmp_path, fine, noise, 2, ["noise"])
    out, bicubic, ckpt = tmp_path / "out.tif", tmp_path / "bicubic.tif", tmp_path / "net.pt"
    assert run(["downscale", str(lst_path), "--fit", "--model", "mocolsk-lite", "--fit-iters", "4",
                *QUICK, "--fallback", "bicubic", "--save-checkpoint", str(ckpt), "-o", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    line = json.loads(captured.out.strip().splitlines()[-1])
    # on a ramp, bicubic with the LR residual spread back beats plain bicubic (at the edges), so
    # the fallback writes it: what --fit --fit-candidates bicubic writes
    report = line["fit"]
    assert report["rejected"]["beats_bicubic"] is False and report["written"] == "bicubic (residual spread)"
    assert report["held_out_no_guidance"]["rmse"] < report["held_out_bicubic"]["rmse"]
    # the scores and weights are those of what is written (they were the rejected fit's)
    assert report["held_out_fitted"] == report["held_out_no_guidance"] and report["beats_bicubic"] is True
    assert report["guidance_helps"] is False and [c["weight"] for c in report["candidates"]] == [0.0]
    assert report["rejected"]["selected"] == "mocolsk-lite" == report["selected"]
    assert "did not beat bicubic" in captured.err and "writing bicubic instead" in captured.err
    # the network is saved but not tagged, and the tags say the fit was not written and why
    assert ckpt.is_file() and "(not part of the output, which is not tagged with it)" in captured.err
    with rasterio.open(out) as src:
        written = src.tags()
    assert written["model"] == "bicubic (residual spread)" and written["fit_residual"] == "smooth"
    assert not {"checkpoint_sha256", "precision", "fit_psf"} & written.keys()
    fitted, plain = report["rejected"]["held_out"]["rmse"], report["held_out_bicubic"]["rmse"]
    assert written["fit"] == (f"not written: the fit (mocolsk-lite, held-out RMSE {fitted:.3f} K) did not beat "
                              f"bicubic ({plain:.3f} K); bicubic (residual spread) written (--fallback bicubic)")
    assert run(["downscale", str(lst_path), "--fit", "--fit-candidates", "bicubic", *QUICK, "-o", str(bicubic)]) == 0
    np.testing.assert_array_equal(read(out), read(bicubic))
    np.testing.assert_allclose(block_mean(read(out), 2), block_mean(fine, 2), atol=1e-3)


def test_fallback_when_the_guidance_adds_nothing_to_the_residual_spread(tmp_path: Path, capsys) -> None:
    """A sharpener on noise can beat plain bicubic by its residual spread alone: the fit
    then says the guidance does not help, and the fallback writes the spread without it."""
    fine = (300 + 3 * gaussian_filter(np.random.default_rng(4).normal(0, 1, (96, 96)), 1)).astype(np.float32)
    noise = np.random.default_rng(5).normal(0, 1, (1, 96, 96)).astype(np.float32)
    lst_path, _ = write_pair(tmp_path, fine, noise, 2, ["noise"])
    out = tmp_path / "out.tif"
    assert run(["downscale", str(lst_path), "--fit", "--model", "tsharp", *QUICK, "--fallback", "bicubic",
                "-o", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out.strip().splitlines()[-1])["fit"]
    rejected = report["rejected"]
    assert rejected["beats_bicubic"] is True and rejected["guidance_helps"] is False
    assert rejected["held_out"]["rmse"] >= report["held_out_no_guidance"]["rmse"] == report["held_out_fitted"]["rmse"]
    assert report["written"] == "bicubic (residual spread)"
    assert "the guidance does not help" in captured.err and "writing bicubic instead" in captured.err


@pytest.mark.parametrize("extra, problem", [
    (["--fit", "--checkpoint", "x.pt"], "--fit or --checkpoint"),
    (["--fit", "--model", "bicubic"], "no weights to fit"),
    (["--fallback", "bicubic", "--model", "bicubic"], "--fallback: only applies with --fit"),
    # QA: these were silently ignored without --fit
    (["--fit-psf", "2", "--model", "bicubic"], "--fit-psf: only applies with --fit"),
    (["--seed", "3", "--model", "bicubic"], "--seed: only applies with --fit"),
    (["--degrade", "mtf"], "--degrade: only applies with --fit"),
    (["--fit-candidates", "tsharp", "--model", "bicubic"], "--fit-candidates: only applies with --fit"),
    (["--fit-seconds", "5", "--model", "bicubic"], "--fit-seconds: only applies with --fit"),
    (["--save-checkpoint", "x.pt", "--model", "bicubic"], "--save-checkpoint: only applies with --fit"),
    (["--fit", "--fallback", "nearest"], "unknown fallback"),
    # QA: silently ignored beside the one method --model fits, and an absurd learning rate
    (["--fit", "--model", "tsharp", "--fit-candidates", "bicubic,tsharp"],
     "--fit-candidates: has no effect with --model, which fits that one method"),
    (["--fit", "--fit-lr", "inf"], "--fit-lr"),
    (["--fit", "--fit-candidates", "tsharp,nope"], "--fit-candidates: 'nope' is not a candidate (hint: use "
                                                    "bicubic, tsharp, gwr, dms, mlp or a network"),
    (["--fit", "--fit-candidates", "tsharp,bilinear"], "'bilinear' is not a candidate"),
    (["--fit", "--fit-candidates", "tsharp,gwr,tsharp"], "--fit-candidates: tsharp given more than once"),
    (["--fit", "--fit-psf", "wide"], "'wide': not SIGMA, gaussian:SIGMA or moffat:ALPHA:BETA"),
    (["--fit", "--fit-residual", "spline"], "unknown residual correction"),
    (["--fit", "--model", "tsharp", "--save-checkpoint", "x.pt"], "no network is fitted"),
])
def test_bad_fit_options_exit_2(tmp_path: Path, capsys, extra: list[str], problem: str) -> None:
    fine, guidance = nonlinear_scene(48, 1)
    lst_path, _ = write_pair(tmp_path, fine, guidance, 2)
    out = tmp_path / "out.tif"
    assert run(["downscale", str(lst_path), *extra, "-o", str(out)]) == 2
    assert problem in capsys.readouterr().err
    assert not out.exists()


def landsat_pair(folder: Path) -> tuple[Path, Path, np.ndarray]:
    """A 120 m Celsius LST (x4 block mean, -9999 nodata) and the 30 m clip as guidance."""
    files = sorted(LANDSAT.glob("*.TIF")) if LANDSAT.is_dir() else []
    if not files:
        pytest.skip(f"no Landsat clip in {LANDSAT}")
    with rasterio.open(files[0]) as src:
        rows, cols = (src.height // 4) * 4, (src.width // 4) * 4
        window = Window(0, 0, cols, rows)
        data = src.read(1, window=window, masked=True)
        profile = {**src.profile, "width": cols, "height": rows,
                   "transform": src.window_transform(window)}
        point = src.tags().get("AREA_OR_POINT")
    guid_path = folder / "landsat_guidance.tif"
    with rasterio.open(guid_path, "w", **profile) as dst:  # a clip that stays PixelIsPoint
        dst.update_tags(AREA_OR_POINT=point)
        dst.write(np.ma.filled(data, -9999.0).astype(np.float32), 1)
    celsius = np.ma.filled(data.astype(np.float32), np.nan)
    coarse = block_mean(celsius, 4)
    t = profile["transform"]
    lst_path = folder / "landsat_lst.tif"
    lst_profile = {**profile, "width": cols // 4, "height": rows // 4,
                   "transform": Affine(t.a * 4, 0, t.c, 0, t.e * 4, t.f)}
    with rasterio.open(lst_path, "w", **lst_profile) as dst:
        dst.write(np.where(np.isnan(coarse), -9999.0, coarse).astype(np.float32), 1)
    return lst_path, guid_path, celsius


def test_landsat_celsius_clip_keeps_crs_grid_nodata_and_units(tmp_path: Path, capsys) -> None:
    lst_path, guid_path, celsius = landsat_pair(tmp_path)
    out = tmp_path / "landsat_fit.tif"
    assert run(["downscale", str(lst_path), "--guidance", str(guid_path), "--fit",
                "--fit-iters", "30", *QUICK, "-o", str(out), "--json"]) == 0
    line = fit_json(capsys)
    assert line["fit"]["units"] == "celsius" and line["units"] == "celsius in, celsius out"
    with rasterio.open(out) as dst, rasterio.open(guid_path) as guid:
        # GDAL reads a PixelIsPoint grid shifted by half a pixel to area semantics; the output
        # is PixelIsArea on that transform, so its pixel centres are the input's points.
        assert guid.tags().get("AREA_OR_POINT") == "Point"
        assert dst.tags().get("AREA_OR_POINT") == "Area"
        assert dst.crs == guid.crs and dst.bounds == guid.bounds
        assert dst.transform == guid.transform and dst.units[0] == "degC"
        values = dst.read(1)
    nodata = np.isnan(celsius)
    assert nodata.any() and np.isnan(values[nodata]).all()
    valid = ~np.isnan(values)
    assert valid.mean() > 0.9
    assert abs(float(np.nanmean(values)) - float(np.nanmean(celsius))) < 0.5  # Celsius, not Kelvin
    assert rmse(values, celsius) < 2.0


def test_a_guidance_band_without_data_is_refused_naming_it(tmp_path: Path, capsys) -> None:
    """QA: an all-NaN band was blamed on the LST ("only 0 valid LR pixels"), after numpy warnings."""
    fine, guidance = nonlinear_scene(48, 2)
    guidance[1] = np.nan
    lst_path, guid_path = write_pair(tmp_path, fine, guidance, 2, ["a", "ndvi"])
    out = tmp_path / "out.tif"
    assert run(["-q", "downscale", str(lst_path), "--fit", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: {guid_path}: guidance band 2 ('ndvi') has no valid pixel over the LST "
                   f"(hint: drop the band from the guidance, or fix it) (scene {lst_path})")
    assert not out.exists()


@pytest.mark.parametrize("model, margin", [("tsharp", 0), ("mocolsk-lite", 6)])
def test_the_hole_margin_is_kept_for_a_fitted_network_only(tmp_path: Path, capsys, model: str, margin: int) -> None:
    """QA: on a cloudy Landsat scene the 3-LR-pixel margin threw away 93 % of a gwr fit's output.
    Sharpeners read each pixel's own guidance: next to holes they lose accuracy as bicubic does
    (measured, README), so like bicubic they get no margin; a network keeps it."""
    fine, guidance = nonlinear_scene(48, 1)
    fine[20:22, 20:22] = np.nan  # one LR pixel of nodata at x2
    lst_path, _ = write_pair(tmp_path, fine, guidance, 2)
    out = tmp_path / "out.tif"
    assert run(["-q", "downscale", str(lst_path), "--fit", "--model", model, "--fit-iters", "2", *QUICK,
                "-o", str(out), "--json"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["hole_margin"] == margin
    written = read(out)
    expected = np.zeros_like(written, bool)
    expected[20 - margin:22 + margin, 20 - margin:22 + margin] = True
    np.testing.assert_array_equal(np.isnan(written), expected)


@pytest.mark.parametrize("size, warned", [(24, True), (48, False)])
def test_a_verdict_on_few_held_out_blocks_is_called_weak(tmp_path: Path, capsys, size: int, warned: bool) -> None:
    """QA: a 24 x 24 LR scene chose and wrote a method on 2 held-out blocks without a word. Without
    a network every block is a test block: a 12 x 12 LR scene has 9 of them, a 24 x 24 one 36."""
    fine, guidance = nonlinear_scene(size, 1)
    lst_path, _ = write_pair(tmp_path, fine, guidance, 2)
    assert run(["downscale", str(lst_path), "--fit", "--model", "tsharp", *QUICK,
                "-o", str(tmp_path / "out.tif"), "--json"]) == 0
    captured = capsys.readouterr()
    blocks = json.loads(captured.out.strip().splitlines()[-1])["fit"]["held_out_blocks"]
    assert (blocks < 10) is warned
    assert (f"the choice rests on {blocks} held-out blocks only" in captured.err) is warned


def test_candidates_are_named_in_any_case(tmp_path: Path, capsys) -> None:
    """QA: --fit-candidates GWR was an unknown model."""
    fine, guidance = nonlinear_scene(48, 1)
    lst_path, _ = write_pair(tmp_path, fine, guidance, 2)
    assert run(["downscale", str(lst_path), "--fit", "--fit-candidates", "GWR,TSharp", *QUICK,
                "-o", str(tmp_path / "out.tif"), "--json"]) == 0
    fit = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["fit"]
    assert [c["name"] for c in fit["candidates"]] == ["gwr", "tsharp"]


def test_a_psf_far_wider_than_the_estimate_tries_is_warned_about(tmp_path: Path, capsys) -> None:
    """QA: --fit-psf 1000 (30 km on a 14 km scene) passed without a word; it is refused now
    (tests/test_option_bounds_l.py), and 19 (9.5 LST pixels at x2) is the widest one warned about."""
    fine, guidance = nonlinear_scene(48, 1)
    lst_path, _ = write_pair(tmp_path, fine, guidance, 2)
    for spec, warned in (("19", True), ("6.5", True), ("3", False)):
        assert run(["downscale", str(lst_path), "--fit", "--model", "tsharp", "--fit-psf", spec, *QUICK,
                    "-o", str(tmp_path / "out.tif"), "--overwrite"]) == 0
        err = capsys.readouterr().err
        assert ("a thermal sensor's PSF is rarely that wide" in err) is warned, (spec, err)


def test_fit_seconds_caps_the_mlp_too(tmp_path: Path, capsys) -> None:
    """--fit-seconds stops the MLP's two fits (half the cap each) as it stops a network."""
    fine, guidance = nonlinear_scene(96, 2)
    lst_path, _ = write_pair(tmp_path, fine, guidance, 4, ["ndvi", "albedo"])
    assert run(["downscale", str(lst_path), "--fit", "--fit-candidates", "bicubic,mlp", "--fit-seconds", "0.1",
                "-o", str(tmp_path / "fit.tif"), "--json"]) == 0
    mlp = fit_json(capsys)["fit"]["candidates"][1]
    assert mlp["name"] == "mlp" and mlp["stopped"] == "time limit"
    assert 1 <= min(mlp["steps"]) and max(mlp["steps"]) < 300


def test_the_fit_table_prints_as_several_lines(tmp_path: Path, capsys) -> None:
    """QA: the table of candidates came out as one stderr line with literal ``\\n`` between its
    rows (the escaping meant for control characters in paths)."""
    fine, guidance = nonlinear_scene(96, 2)
    lst_path, _ = write_pair(tmp_path, fine, guidance, 3)
    assert run(["downscale", str(lst_path), "--fit", "--fit-candidates", "bicubic,tsharp", *QUICK,
                "-o", str(tmp_path / "f.tif"), "--json"]) == 0
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    # no network: every block of the 30 x 30 LST pixels that fit x3 is a test block
    assert lines[0].startswith("fit: x3 on 2 guidance band(s) in ") and lines[0].endswith(" 25 blocks (900 px):")
    assert [line.split()[0] for line in lines[1:5]] == ["bicubic", "tsharp", "blend", "plain"]
    chosen = json.loads(captured.out)["fit"]["model"]
    assert lines[5].startswith(f"writing: {chosen} (held-out RMSE ")
    assert "\\n" not in captured.err


def test_the_bicubic_candidate_written_by_the_fallback_keeps_its_weight(tmp_path: Path, capsys) -> None:
    """Review: a fit that chose the ``bicubic`` candidate (bicubic with the residual spread) and was
    set aside for that same bicubic reported every weight 0, its README saying 1 for what is written."""
    fine = (300 + 3 * gaussian_filter(np.random.default_rng(4).normal(0, 1, (96, 96)), 1)).astype(np.float32)
    noise = np.random.default_rng(5).normal(0, 1, (1, 96, 96)).astype(np.float32)
    lst_path, _ = write_pair(tmp_path, fine, noise, 2, ["noise"])
    assert run(["downscale", str(lst_path), "--fit", "--fit-candidates", "bicubic,tsharp", "--fit-select", "best",
                *QUICK, "--fallback", "bicubic", "-o", str(tmp_path / "out.tif"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["fit"]
    assert (report["written"], report["rejected"]["selected"]) == ("bicubic (residual spread)", "bicubic")
    assert {c["name"]: c["weight"] for c in report["candidates"]} == {"bicubic": 1.0, "tsharp": 0.0}
