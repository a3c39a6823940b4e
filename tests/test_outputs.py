"""Outputs for archives and people: downscale --cog/--overviews/--align/--quicklook, groklst
quicklook and groklst checkpoint-info."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from PIL import Image
from rio_cogeo.cogeo import cog_validate

from groklst_cli.app import run
from pipelines.atomic import STALE_AFTER_S
from pipelines.checkpoint import Checkpoint, file_hash, load_checkpoint
from pipelines.geotiff import write_raster
from pipelines.infer import DEFAULT_CHECKPOINT
from tests.conftest import UTM, write_canonical_scene

X0, Y0 = 500_000.0, 5_760_000.0


def scene_with_nodata(folder: Path, rows: int, cols: int) -> tuple[Path, Path]:
    yy, xx = np.mgrid[0:rows, 0:cols]
    lst = 300.0 + 5.0 * np.sin(yy / 5.0) + 3.0 * np.cos(xx / 7.0)
    lst[:3, :4] = np.nan
    return write_canonical_scene(folder, shape=(rows, cols), lst=lst, bands=("red", "nir"))


def read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read()


def test_cog_and_overviews_keep_the_values_and_the_cog_validates(tmp_path: Path) -> None:
    lst, _ = scene_with_nodata(tmp_path, 210, 180)  # 630 rows x 540 cols of output
    outs = {}
    for name, extra in (("plain", []), ("cog", ["--cog"]), ("ovr", ["--overviews"])):
        outs[name] = tmp_path / f"{name}.tif"
        assert run(["-q", "downscale", str(lst), "--model", "bicubic", *extra, "-o", str(outs[name])]) == 0
    plain = read(outs["plain"])
    for name in ("cog", "ovr"):
        np.testing.assert_array_equal(read(outs[name]), plain)  # lossless, nodata NaN kept
    valid, errors, _ = cog_validate(str(outs["cog"]), quiet=True)
    assert valid, errors
    with rasterio.open(outs["cog"]) as cog, rasterio.open(outs["ovr"]) as ovr, \
            rasterio.open(outs["plain"]) as bare:
        assert cog.overviews(1) == [2] and ovr.overviews(1) == [2] and bare.overviews(1) == []
        assert cog.descriptions == ("lst",) and cog.units == ("K",) and cog.tags()["model"] == "bicubic"
        assert np.isnan(cog.nodata) and cog.block_shapes == [(512, 512)]
        assert ovr.tags(ns="rio_overview") == {"resampling": "average"}
        half = cog.read(1, out_shape=(315, 270))  # read from the overview: the 2 x 2 mean
    full = plain[0].astype(np.float64)
    blocks = full.reshape(315, 2, 270, 2)
    inner = np.isfinite(blocks).all(axis=(1, 3))
    np.testing.assert_allclose(half[inner], blocks.mean(axis=(1, 3))[inner], atol=1e-3)


def write_offset_guidance(folder: Path, lst: Path) -> Path:
    """Two bands at 20 m, 15 m off the 30 m LST grid: they do not nest."""
    with rasterio.open(lst) as src:
        rows, cols = src.height * 3 // 2 + 2, src.width * 3 // 2 + 2
    rng = np.random.default_rng(3)
    data = rng.uniform(0.05, 0.4, (2, rows, cols))
    path = folder / "s2_20m.tif"
    write_raster(path, data, crs=UTM, transform=Affine(20, 0, X0 - 15, 0, -20, Y0 + 15),
                 descriptions=["red", "nir"])
    return path


def test_align_resamples_non_nesting_guidance_like_the_guidance_command(tmp_path: Path, capsys) -> None:
    lst, _ = scene_with_nodata(tmp_path, 20, 24)
    guidance = write_offset_guidance(tmp_path, lst)
    out = tmp_path / "out.tif"
    base = ["downscale", str(lst), "--guidance", str(guidance), "--model", "bicubic"]
    assert run([*base, "-o", str(out)]) == 2
    assert "not an integer multiple" in capsys.readouterr().err and not out.exists()
    assert run([*base, "--align", "-o", str(out)]) == 0
    assert "aligned" in capsys.readouterr().err
    # The same as building the guidance with groklst guidance at the pixel-size ratio (x2).
    built = tmp_path / "built_guidance.tif"
    assert run(["-q", "guidance", str(lst), str(guidance), "--scale", "2", "-o", str(built)]) == 0
    ref = tmp_path / "ref.tif"
    assert run(["-q", "downscale", str(lst), "--guidance", str(built), "--model", "bicubic", "-o", str(ref)]) == 0
    np.testing.assert_array_equal(read(out), read(ref))
    with rasterio.open(out) as src:
        assert src.res == (15.0, 15.0) and src.tags()["guidance_source"] == str(guidance)
        assert src.tags()["guidance_aligned"] == "bilinear onto LST/2 (--align)"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_align_cleans_up_when_the_downscale_fails(tmp_path: Path, capsys) -> None:
    lst, _ = scene_with_nodata(tmp_path, 20, 24)
    guidance = write_offset_guidance(tmp_path, lst)
    out = tmp_path / "out.tif"
    # The default model (x3) needs the paper's 10 bands; the aligned guidance has two.
    assert run(["downscale", str(lst), "--guidance", str(guidance), "--align", "-o", str(out)]) == 2
    assert "missing guidance band(s) dem" in capsys.readouterr().err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert run(["downscale", str(lst), "--align", "-o", str(out)]) == 2
    assert "pass --guidance" in capsys.readouterr().err


def test_align_removes_copies_a_killed_run_left_once_they_are_a_day_old(tmp_path: Path) -> None:
    lst, _ = scene_with_nodata(tmp_path, 20, 24)
    guidance = write_offset_guidance(tmp_path, lst)
    out = tmp_path / "out.tif"
    old, young = tmp_path / ".out.tif.k1ll_ed9.aligned-guidance.tif", tmp_path / ".out.tif.abcd1234.aligned-guidance.tif"
    others = [tmp_path / ".other.tif.k1ll_ed9.aligned-guidance.tif", tmp_path / "out.tif.aligned-guidance.tif"]
    two_days_ago = time.time() - 2 * STALE_AFTER_S
    for path in (old, young, *others):
        path.write_bytes(b"left by kill -9")
        os.utime(path, (two_days_ago, two_days_ago) if path is not young else None)
    assert run(["-q", "downscale", str(lst), "--guidance", str(guidance), "--align",
                "--model", "bicubic", "-o", str(out)]) == 0
    assert not old.exists() and young.exists() and all(p.exists() for p in others)
    assert out.exists()


def test_quicklook_is_a_png_of_the_expected_size_with_transparent_nodata(tmp_path: Path, capsys) -> None:
    lst, _ = scene_with_nodata(tmp_path, 40, 50)
    out, png = tmp_path / "out.tif", tmp_path / "look.png"
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(out), "--quicklook", str(png)]) == 0
    with Image.open(png) as image:
        image.verify()
    with Image.open(png) as image:
        # 1200 px wide: two 570 px panels (20 px gaps), 456 px high for a 4:5 scene, plus
        # 40 px of titles and 80 px of colour bar.
        assert image.format == "PNG" and image.size == (1200, 576) and image.mode == "RGBA"
        alpha = np.asarray(image)[..., 3]
    right_panel = alpha[40:496, 610:1180]
    assert right_panel[1, 1] == 0  # the nodata corner of the scene (LST rows 0-2, cols 0-3)
    assert (right_panel[200:250, 200:250] == 255).all()
    # groklst quicklook finds the input from the output's lst_source tag, names the PNG itself.
    capsys.readouterr()
    assert run(["quicklook", str(out), "--width", "600"]) == 0
    assert capsys.readouterr().out.strip() == str(out.with_suffix(".png"))
    with Image.open(out.with_suffix(".png")) as image:
        assert image.size == (600, 40 + round(270 * 40 / 50) + 80)
    assert run(["quicklook", str(out), "--width", "600"]) == 2  # exists: needs --overwrite


def test_quicklook_finds_the_input_from_any_folder_and_refuses_a_wrong_one(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    (tmp_path / "in").mkdir()
    lst, _ = write_canonical_scene(tmp_path / "in", "a", shape=(12, 12))
    monkeypatch.chdir(tmp_path / "in")  # a relative input, as users type it
    assert run(["-q", "downscale", lst.name, "--model", "bicubic", "-o", str(tmp_path / "out.tif")]) == 0
    with rasterio.open(tmp_path / "out.tif") as src:
        assert src.tags()["lst_source"] == str(lst.resolve())
    monkeypatch.chdir(tmp_path)  # elsewhere: the tag still finds it
    assert run(["-q", "quicklook", "out.tif", "-o", "look.png"]) == 0
    capsys.readouterr()
    assert run(["-q", "quicklook", "out.tif", "-o", "look.tif"]) == 2  # a PNG under a GeoTIFF's name
    assert "the quick look is a PNG, not .tif" in capsys.readouterr().err and not (tmp_path / "look.tif").exists()
    moved = tmp_path / "moved"  # the pair moved together: found beside the output
    moved.mkdir()
    for path in ((tmp_path / "out.tif"), lst):
        path.rename(moved / path.name)
    assert run(["-q", "quicklook", str(moved / "out.tif"), "-o", "look2.png"]) == 0
    capsys.readouterr()
    (moved / lst.name).unlink()
    assert run(["-q", "quicklook", str(moved / "out.tif"), "-o", "look3.png"]) == 2
    assert "its lst_source tag names" in capsys.readouterr().err and not (tmp_path / "look3.png").exists()
    other = write_raster(tmp_path / "other.tif", np.full((12, 12), 300, np.float32), crs="EPSG:4326",
                         transform=Affine(0.01, 0, 10, 0, -0.01, 50), descriptions=["lst"], units="K")
    assert run(["-q", "quicklook", str(moved / "out.tif"), "--lst", str(other), "-o", "look4.png"]) == 2
    assert "not its input LST" in capsys.readouterr().err


def test_quicklook_on_several_inputs_is_refused(tmp_path: Path, capsys) -> None:
    first, _ = write_canonical_scene(tmp_path, "a", shape=(12, 12))
    second, _ = write_canonical_scene(tmp_path, "b", shape=(12, 12))
    assert run(["downscale", str(first), str(second), "--model", "bicubic", "--out-dir", str(tmp_path / "o"),
                "--quicklook", str(tmp_path / "q.png")]) == 2
    assert "--quicklook: applies to a single input" in capsys.readouterr().err


def test_checkpoint_info_prints_the_shipped_model_card(capsys) -> None:
    ckpt = load_checkpoint(DEFAULT_CHECKPOINT)
    assert run(["checkpoint-info", str(DEFAULT_CHECKPOINT)]) == 0
    text = capsys.readouterr().out
    assert f"sha256      {file_hash(DEFAULT_CHECKPOINT)}" in text
    assert 'model       mocolsk-lite {"num_stages": 2}, 894,661 parameters' in text
    assert "scale       x3" in text and "resolution  trained on LST at 30 m -> output at 10 m\n" in text
    band_lines = [line.split()[1] for line in text.splitlines() if line.startswith("  ")]
    assert band_lines == ckpt.bands == ["dem", "deepblue", "blue", "green", "red", "vre", "nir",
                                        "ndmvi", "ndvi", "ndwi"]
    assert "1200 of 1200 iterations, batch 4, crop 48, lr 0.0001" in text
    assert "made with groklst 0.1.0" in text
    assert run(["checkpoint-info", str(DEFAULT_CHECKPOINT), "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["scale"] == 3 and card["hr_resolution"] == 10.0 and card["lr_resolution"] == 30.0
    assert card["resolution_units"] == "m"
    assert [b["name"] for b in card["bands"]] == ckpt.bands
    assert [b["mean"] for b in card["bands"]] == ckpt.band_mean and card["lst"]["std"] == ckpt.lst_std
    assert card["config"]["iters"] == 1200 and card["sha256"] == file_hash(DEFAULT_CHECKPOINT)


def test_checkpoint_info_escapes_control_characters_in_the_cards_values(tmp_path: Path, capsys) -> None:
    """QA: card lines printed a checkpoint's values raw: a newline in its path or a band name
    split a line, ``\\x1b`` reached the terminal. Escaped as stderr lines escape them."""
    path = tmp_path / "c\nk.pt"
    Checkpoint.untrained("bicubic", 3, ["dem", "nd\nvi"], config={"device": "cpu\x1b[2J"}).save(path)
    assert run(["checkpoint-info", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"checkpoint  {tmp_path}/c\\nk.pt"
    assert lines[6:9] == ["bands       2, in this order (matched by name in the guidance):",
                          "   1 dem    mean 0, std 1", "   2 nd\\nvi  mean 0, std 1"]
    assert lines[9] == "training    on cpu\\x1b[2J" and len(lines) == 11


@pytest.mark.parametrize("content, problem", [
    (None, "checkpoint file not found"),
    ("folder", "is a folder, not a checkpoint file (hint: e.g. "),
    (b"not a checkpoint", "not a readable groklst checkpoint (not a PyTorch file)"),
    (DEFAULT_CHECKPOINT.read_bytes()[:4096], "not a readable groklst checkpoint (damaged or truncated: "),
])
def test_checkpoint_info_bad_file_exit_2(tmp_path: Path, capsys, content, problem) -> None:
    path = tmp_path / "x.pt"
    if content == "folder":
        path = tmp_path / "run"
        path.mkdir()
        (path / "best.pt").write_bytes(b"")
    elif content is not None:
        path.write_bytes(content)
    assert run(["checkpoint-info", str(path)]) == 2
    assert problem in capsys.readouterr().err
