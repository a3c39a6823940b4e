"""groklst downscale with a learned checkpoint: batching, tiling, band matching, scale checks."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine

from groklst_cli.app import run
from models.registry import build_model
from pipelines.checkpoint import Checkpoint, load_checkpoint, state_dict_of
from pipelines.errors import GroklstWarning
from pipelines.geotiff import write_raster
from pipelines.infer import TilePredictor
from pipelines.tiling import tile_grid
from tests.test_downscale import BANDS, but_guidance_gaps, crop_raster, keep_every, make_scene, read

TINY = {"base_dim": 8, "num_stages": 1}


def save_checkpoint(path: Path, scale: int = 3, bands: list[str] = BANDS, **recorded) -> Path:
    torch.manual_seed(0)
    net = build_model("mocolsk-lite", scale=scale, guidance_channels=len(bands), **TINY)
    # Random heads output near zero; scale the last layer so the network's own part is visible.
    with torch.no_grad():
        for p in list(net.parameters())[-2:]:
            p.mul_(20.0)
    Checkpoint(
        model="mocolsk-lite", scale=scale, bands=list(bands), model_kwargs=TINY,
        lst_mean=300.0, lst_std=5.0, band_mean=[0.0] * len(bands), band_std=[1.0] * len(bands),
        state_dict=state_dict_of(net), **recorded,
    ).save(path)
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "lite.pt")


def tile_border_mask(shape: tuple[int, int], scale: int, tile: int, overlap: int, margin: int) -> np.ndarray:
    """Output pixels within ``margin`` px of a tile's first or last row/column (the layout
    ``groklst downscale --tile TILE --overlap OVERLAP`` uses on this output shape)."""
    rows = tile_grid(shape[0] // scale, shape[1] // scale, tile // scale, overlap // scale)
    near = np.zeros(shape, bool)
    for t in (t for row in rows for t in row):
        for edge in (t.row * scale, (t.row + t.rows) * scale):
            near[max(0, edge - margin) : edge + margin, :] = True
        for edge in (t.col * scale, (t.col + t.cols) * scale):
            near[:, max(0, edge - margin) : edge + margin] = True
    return near


def downscale(lst: Path, out: Path, ckpt: Path, *extra: str) -> int:
    return run(["-q", "downscale", str(lst), "-c", str(ckpt), "-o", str(out), "--overwrite", *extra])


def test_batched_equals_unbatched(tmp_path: Path, checkpoint: Path) -> None:
    lst, _ = make_scene(tmp_path, rows=48, cols=48)
    one, four = tmp_path / "b1.tif", tmp_path / "b4.tif"
    tiles = ["--tile", "72", "--overlap", "24"]
    assert downscale(lst, one, checkpoint, "--batch-size", "1", *tiles) == 0
    assert downscale(lst, four, checkpoint, "--batch-size", "4", *tiles) == 0
    a, b = read(one)[0], read(four)[0]
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    assert np.nanmax(np.abs(a - b)) < 1e-4  # Kelvin; float32 at ~300 K


def test_tiled_matches_one_pass(tmp_path: Path, checkpoint: Path) -> None:
    lst, _ = make_scene(tmp_path, rows=60, cols=60)
    one, tiled = tmp_path / "one.tif", tmp_path / "tiled.tif"
    assert downscale(lst, one, checkpoint, "--tile", "600") == 0
    assert downscale(lst, tiled, checkpoint, "--tile", "90", "--overlap", "30") == 0
    a, b = read(one)[0], read(tiled)[0]
    diff = np.abs(a - b)
    signal = np.nanstd(a)
    near = tile_border_mask(a.shape, scale=3, tile=90, overlap=30, margin=15)
    interior, border = np.nanmean(diff[~near]), np.nanmean(diff[near])
    print(f"tiled vs one pass: interior mean {interior:.4f} K, near-border mean {border:.4f} K, "
          f"max {np.nanmax(diff):.4f} K, signal std {signal:.3f} K")
    # Measured (tiny random mocolsk-lite, 2026-11-24): interior and near-border means 0.1 mK,
    # max 1.7 mK, on a signal with 4.9 K std. The MCWG pyramid pooling sees the whole tile, so
    # even interiors cannot be bit-identical; test_default_model measures the trained model.
    assert interior < 0.01 * signal
    assert border < 0.02 * signal


def test_guidance_bands_are_matched_by_name(tmp_path: Path, checkpoint: Path) -> None:
    ordered, _ = make_scene(tmp_path, name="o")
    shuffled, _ = make_scene(tmp_path, name="s", band_order=BANDS[::-1])
    oo, os_ = tmp_path / "o.tif", tmp_path / "s.tif"
    assert downscale(ordered, oo, checkpoint) == 0
    assert downscale(shuffled, os_, checkpoint) == 0
    np.testing.assert_array_equal(read(oo)[0], read(os_)[0])
    assert read(oo)[2]["model"] == "mocolsk-lite" and len(read(oo)[2]["checkpoint_sha256"]) == 64
    # QA: two runs' outputs told their checkpoints apart by hash only, and not how they ran
    assert (read(oo)[2]["checkpoint"], read(oo)[2]["precision"]) == (str(checkpoint.resolve()), "fp32")


def test_missing_band_is_named(tmp_path: Path, checkpoint: Path, capsys) -> None:
    lst, guid = make_scene(tmp_path)
    with rasterio.open(guid, "r+") as dst:
        dst.set_band_description(9, "evi")  # ndvi renamed
    out = tmp_path / "out.tif"
    capsys.readouterr()
    assert downscale(lst, out, checkpoint) == 2
    err = capsys.readouterr().err
    assert "missing guidance band(s) ndvi" in err and not out.exists()


def test_band_names_match_whatever_their_case_spaces_underscores_or_hyphens(
    tmp_path: Path, checkpoint: Path, capsys
) -> None:
    lst, guid = make_scene(tmp_path)
    assert downscale(lst, tmp_path / "ref.tif", checkpoint) == 0
    with rasterio.open(guid, "r+") as dst:
        assert list(dst.descriptions) == BANDS
        for band, spelled in ((2, " Deep Blue"), (7, "NIR"), (9, "nd-vi")):
            dst.set_band_description(band, spelled)
    assert downscale(lst, tmp_path / "out.tif", checkpoint) == 0
    np.testing.assert_array_equal(read(tmp_path / "out.tif")[0], read(tmp_path / "ref.tif")[0])
    with rasterio.open(guid, "r+") as dst:  # two bands that could be deepblue: refused
        dst.set_band_description(2, "deep_blue")
        dst.set_band_description(3, "deep-blue")
    capsys.readouterr()
    assert downscale(lst, tmp_path / "bad.tif", checkpoint) == 2
    assert "missing guidance band(s) deepblue, blue" in capsys.readouterr().err


def test_scale_mismatch_and_finer_guidance(tmp_path: Path) -> None:
    x2 = save_checkpoint(tmp_path / "x2.pt", scale=2)
    lst3, _ = make_scene(tmp_path, name="three", scale=3)
    assert downscale(lst3, tmp_path / "bad.tif", x2) == 2
    assert not (tmp_path / "bad.tif").exists()
    # Guidance at 7.5 m with an x2 model: guidance is averaged 2x2 onto a 15 m output grid.
    lst4, guid4 = make_scene(tmp_path, name="four", scale=4)
    out = tmp_path / "four.tif"
    assert downscale(lst4, out, x2) == 0
    data, profile, tags = read(out)
    assert profile["transform"].a == 15.0 and data.shape == (80, 100)
    assert "area-averaged x2" in tags["grid"]


def test_fitted_guidance_range_is_saved_and_clips_at_inference(tmp_path: Path) -> None:
    # A scene fit records the range of the (LR-averaged) guidance it was trained on; applied to
    # the finer native guidance, values beyond it are fed as the range's ends, not extrapolated.
    plain = load_checkpoint(save_checkpoint(tmp_path / "plain.pt", scale=2, bands=["a", "b"]))
    assert plain.band_min == [] and plain.band_max == []
    plain.band_min, plain.band_max = [-1.0, float("nan")], [1.0, float("nan")]
    plain.save(tmp_path / "ranged.pt")
    ranged = load_checkpoint(tmp_path / "ranged.pt")
    assert ranged.band_min[0] == -1.0 and np.isnan(ranged.band_max[1])  # survives the file
    rng = np.random.default_rng(0)
    lr = (300 + rng.normal(0, 2, (1, 8, 8))).astype(np.float32)
    guidance = rng.normal(0, 3, (1, 2, 16, 16)).astype(np.float32)  # band a well beyond +-1
    clipped = guidance.copy()
    clipped[:, 0] = np.clip(clipped[:, 0], -1, 1)  # band b: NaN bounds, left as it is
    cpu = torch.device("cpu")
    unclipped = load_checkpoint(tmp_path / "plain.pt")
    predictor = TilePredictor(ranged, cpu)
    with pytest.warns(GroklstWarning, match=r"was clipped to it \(a \d+\.\d% of a batch"):
        out = predictor.predict(lr, guidance)
    np.testing.assert_array_equal(out, TilePredictor(unclipped, cpu).predict(lr, clipped))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once per predictor, not once per batch
        predictor.predict(lr, guidance)
    assert not np.allclose(TilePredictor(unclipped, cpu).predict(lr, guidance),
                           TilePredictor(unclipped, cpu).predict(lr, clipped), atol=1e-3)
    with pytest.raises(ValueError, match="one minimum and maximum per band"):
        Checkpoint(model="bicubic", scale=2, bands=["a", "b"], band_min=[0.0], band_max=[1.0])


@pytest.mark.parametrize(
    ("recorded", "warned"),
    [
        ({"hr_resolution": 10.0, "hr_resolution_units": "m"}, None),  # the scene's 10 m output
        ({"hr_resolution": 30.0, "hr_resolution_units": "m"}, "trained to write 30 m pixels, these are 10 m (3x finer)"),
        ({"hr_resolution": 4.0, "hr_resolution_units": "m"}, "trained to write 4 m pixels, these are 10 m (2.5x coarser)"),
        ({"hr_resolution": 14.0, "hr_resolution_units": "m"}, None),  # within 1.5x
        # fitted on a 30 m LST (training pairs 90 m -> 30 m), meant to write 10 m
        ({"hr_resolution": 30.0, "hr_resolution_units": "m", "config": {"fitted_on": "x"}}, None),
        ({"hr_resolution": 0.0003, "hr_resolution_units": "deg"}, None),  # other unit: not compared
        ({"hr_resolution": 30.0}, None),  # unit not recorded (older checkpoints): not compared
    ],
)
def test_a_model_trained_at_another_resolution_is_warned_about(tmp_path: Path, capsys, recorded, warned) -> None:
    lst, _ = make_scene(tmp_path)
    ckpt = save_checkpoint(tmp_path / "ckpt.pt", **recorded)
    capsys.readouterr()
    assert run(["downscale", str(lst), "-c", str(ckpt), "-o", str(tmp_path / "out.tif")]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "trained to write" in line]
    if warned is None:
        assert lines == []
    else:
        assert len(lines) == 1 and warned in lines[0] and str(lst) in lines[0] and "--fit" in lines[0]
    assert (tmp_path / "out.tif").exists()  # a warning, not a refusal


def test_a_scene_emptied_by_the_hole_margin_says_so(tmp_path: Path, checkpoint: Path, capsys) -> None:
    """QA: scattered valid LST pixels all fall within the margin of a hole; the message blamed
    the data alone. --hole-margin 0 writes them."""
    lst, _ = make_scene(tmp_path)
    keep_every(lst, 4)
    out = tmp_path / "out.tif"
    assert run(["-q", "downscale", str(lst), "-c", str(checkpoint), "-o", str(out)]) == 3
    assert "or within the 9 px hole margin of such pixels; --hole-margin 0 keeps those" in capsys.readouterr().err
    assert not out.exists()
    assert run(["-q", "downscale", str(lst), "-c", str(checkpoint), "-o", str(out), "--hole-margin", "0"]) == 0


def test_checkpoint_and_model_together_and_a_quicklook_over_the_output_are_refused(
        tmp_path: Path, checkpoint: Path, capsys) -> None:
    lst, _ = make_scene(tmp_path)
    out = tmp_path / "out.tif"
    assert run(["-q", "downscale", str(lst), "-c", str(checkpoint), "--model", "mocolsk-lite", "-o", str(out)]) == 2
    assert "give either --checkpoint or --model, not both" in capsys.readouterr().err
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(out), "--quicklook", str(out)]) == 2
    assert "--quicklook: names the output GeoTIFF" in capsys.readouterr().err
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(out), "--quicklook",
                str(tmp_path / "look.tif")]) == 2
    assert "look.tif: the quick look is a PNG, not .tif (hint: name it .png)" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "look.tif").exists()


def test_guidance_inside_the_lst_is_extended_over_the_lst_context(tmp_path: Path, checkpoint: Path) -> None:
    """Where the guidance ends 2 LR px inside the LST, the network reads those LST pixels with
    the guidance extended from its edge: the output equals a run whose guidance file was
    edge-padded to the LST's footprint. LST nodata in that context is no hole: pixels near it
    keep their values (the padded run masks them, its nodata being inside the footprint)."""
    lst, guid = make_scene(tmp_path, rows=40, cols=50)  # LST nodata: row 0, columns 0-3
    inner = crop_raster(guid, tmp_path / "inner_guidance.tif", margin=6)
    padded = tmp_path / "padded_guidance.tif"
    with rasterio.open(inner) as src:
        write_raster(padded, np.pad(src.read(), ((0, 0), (6, 6), (6, 6)), mode="edge"), crs=src.crs,
                     transform=src.transform * Affine.translation(-6, -6),
                     descriptions=list(src.descriptions), overwrite=True)
    out, reference = tmp_path / "out.tif", tmp_path / "reference.tif"
    tiles = ["--tile", "72", "--overlap", "24"]
    assert downscale(lst, out, checkpoint, "-g", str(inner), *tiles) == 0
    assert downscale(lst, reference, checkpoint, "-g", str(padded), *tiles) == 0
    got, expected = read(out)[0], read(reference)[0][6:-6, 6:-6]
    both = ~np.isnan(got) & ~np.isnan(expected)
    assert np.abs(got[both] - expected[both]).max() < 1e-4
    # The nodata's output pixels (rows 0-2, columns 0-11) grown by the 9 px hole margin, less
    # the 6 px cropped: rows 0-5, columns 0-14.
    kept = np.isnan(expected) & ~np.isnan(got)
    assert kept[:6, :15].all() and kept.sum() == 6 * 15


def test_json_lines_list_the_warnings_said_for_each_scene(tmp_path: Path, capsys) -> None:
    """--json: every scene's line lists the run's own warnings (a seam-prone --overlap) and its
    own (unnamed guidance bands), not another scene's; an error that stops the command lists
    those said before it."""
    ckpt = save_checkpoint(tmp_path / "tiny.ckpt")
    named, _ = make_scene(tmp_path, "named")
    unnamed, unnamed_guidance = make_scene(tmp_path, "unnamed", seed=1)
    with rasterio.open(unnamed_guidance, "r+") as dst:
        for band in dst.indexes:
            dst.set_band_description(band, "")
    capsys.readouterr()
    assert run(["downscale", str(unnamed), str(named), "--checkpoint", str(ckpt), "--overlap", "8",
                "--out-dir", str(tmp_path / "out"), "--json"]) == 0
    lines = {Path(line["input"]).name: line for line in map(json.loads, capsys.readouterr().out.splitlines())}
    seams = "--overlap 8 at x3 is 6 output px (2 LR px) leaves visible seams at tile borders"
    assert [w[:len(seams)] for w in but_guidance_gaps(lines["named_lst.tif"]["warnings"])] == [seams]
    first, second = but_guidance_gaps(lines["unnamed_lst.tif"]["warnings"])
    assert first.startswith(seams)
    assert second.startswith(f"{unnamed_guidance}: the guidance bands have no names; taken in order")

    capsys.readouterr()
    assert run(["downscale", str(named), str(named), "--model", "nearest", "--json",
                "--out-dir", str(tmp_path / "out")]) == 2
    stopped = json.loads(capsys.readouterr().out)
    assert stopped["status"] == "error" and "unknown model 'nearest'" in stopped["error"]
    assert stopped["warnings"] == [f"{named}: given more than once; downscaled once"]
