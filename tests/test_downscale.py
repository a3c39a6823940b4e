"""groklst downscale: grids, nodata, tiling/blending, batching, units, bad inputs, batch mode,
and interpolation onto the refined LST grid without guidance (--scale)."""

from __future__ import annotations

import io
import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
import torch.nn.functional as F
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from groklst_cli.app import run
from pipelines.conserve import conserve_blocks
from pipelines.geotiff import write_raster

BANDS = ["dem", "deepblue", "blue", "green", "red", "vre", "nir", "ndmvi", "ndvi", "ndwi"]
X0, Y0 = 520_000.0, 4_310_000.0


def make_scene(
    folder: Path,
    name: str = "scene",
    *,
    rows: int = 40,
    cols: int = 50,
    scale: int = 3,
    crs: int = 32647,
    guidance_shift: tuple[float, float] = (0.0, 0.0),
    band_order: list[str] | None = None,
    lst_offset: float = 0.0,
    lst_nodata: float | None = None,
    seed: int = 0,
) -> tuple[Path, Path]:
    """A small smooth LST (30 m) + 10-band guidance (30/scale m) pair, NaN in one corner."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:rows, 0:cols]
    lst = (300 + 6 * np.sin(yy / 6.0) + 4 * np.cos(xx / 4.0) + rng.normal(0, 0.3, (rows, cols)))
    lst = lst.astype(np.float32) + np.float32(lst_offset)
    lst[0, :4] = np.nan if lst_nodata is None else lst_nodata
    guid = rng.normal(0, 1, (10, rows * scale, cols * scale)).astype(np.float32)
    guid[3, 30:32, 30:33] = np.nan
    order = band_order or BANDS
    guid = guid[[BANDS.index(b) for b in order]]
    crs_obj = CRS.from_epsg(crs)
    res = 30.0
    lst_path = folder / f"{name}_lst.tif"
    write_raster(lst_path, lst, crs=crs_obj, transform=Affine(res, 0, X0, 0, -res, Y0),
                 descriptions=["lst"], units="degC" if lst_offset < -200 else "K", overwrite=True)
    if lst_nodata is not None:
        with rasterio.open(lst_path, "r+") as dst:
            dst.nodata = lst_nodata
    g_res = res / scale
    gx, gy = guidance_shift
    guid_path = folder / f"{name}_guidance.tif"
    write_raster(guid_path, guid, crs=crs_obj,
                 transform=Affine(g_res, 0, X0 + gx, 0, -g_res, Y0 + gy),
                 descriptions=order, overwrite=True)
    return lst_path, guid_path


def keep_every(lst: Path, step: int) -> None:
    """Make every LST pixel nodata but one in ``step`` along each axis (a sparse scene)."""
    with rasterio.open(lst, "r+") as dst:
        values = dst.read(1)
        sparse = np.full_like(values, np.nan)
        sparse[::step, ::step] = values[::step, ::step]
        dst.write(sparse, 1)


def read(path: Path) -> tuple[np.ndarray, rasterio.profiles.Profile, dict]:
    with rasterio.open(path) as src:
        return src.read(1), src.profile, src.tags()


def interpolate_one_pass(lst_path: Path, scale: int, mode: str = "bicubic") -> np.ndarray:
    with rasterio.open(lst_path) as src:
        lr = src.read(1)
    filled = np.where(np.isnan(lr), np.nanmean(lr), lr)  # only the masked corner differs
    up = F.interpolate(torch.from_numpy(filled)[None, None], scale_factor=scale, mode=mode,
                       align_corners=False)
    return up[0, 0].numpy()


def test_output_grid_crs_nodata_and_values(tmp_path: Path) -> None:
    lst, guid = make_scene(tmp_path)
    out = tmp_path / "out.tif"
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(out)]) == 0
    data, profile, tags = read(out)
    with rasterio.open(guid) as g:
        assert profile["crs"] == g.crs and profile["crs"].to_epsg() == 32647
        assert profile["transform"] == g.transform
        assert (profile["height"], profile["width"]) == (g.height, g.width)
    assert profile["dtype"] == "float32" and np.isnan(profile["nodata"])
    assert profile["blockxsize"] == 512 and profile["compress"] == "deflate"
    assert tags["model"] == "bicubic" and tags["scale"] == "3" and tags["units"] == "K"
    # NaN exactly where the LR pixel (4 px of row 0) or a guidance band is nodata.
    expected = np.zeros_like(data, bool)
    expected[0:3, 0:12] = True
    expected[30:32, 30:33] = True
    np.testing.assert_array_equal(np.isnan(data), expected)
    # Away from nodata and scene edges the mosaic equals one-pass bicubic.
    ref = interpolate_one_pass(lst, 3)
    inner = (slice(12, -6), slice(20, -6))
    valid = ~expected[inner]
    np.testing.assert_allclose(data[inner][valid], ref[inner][valid], atol=1e-3)


def test_tiled_bicubic_matches_one_pass_everywhere_but_seams(tmp_path: Path) -> None:
    lst, _ = make_scene(tmp_path, rows=60, cols=60)
    one, tiled = tmp_path / "one.tif", tmp_path / "tiled.tif"
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(one), "--tile", "600"]) == 0
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(tiled),
                "--tile", "60", "--overlap", "24"]) == 0
    a, b = read(one)[0], read(tiled)[0]
    diff = np.abs(a - b)
    # Bicubic sees 2 LR px (6 output px) each side; the outer quarter of the 24 px overlap
    # has a floor weight that vanishes beside any real weight, so the padding artefacts of
    # each tile drop out and only float32 rounding is left (0.98 mK with a 1e-3 floor).
    assert np.nanmax(diff) < 4e-4, np.nanmax(diff)  # measured: 0.31 mK, 10 float32 steps at 300 K


def test_guidance_found_by_name_and_partial_overlap_writes_intersection(tmp_path: Path) -> None:
    # Guidance shifted by one whole LR pixel east and south: the output is the intersection.
    lst, guid = make_scene(tmp_path, guidance_shift=(30.0, -30.0))
    out = tmp_path / "out.tif"
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(out)]) == 0
    data, profile, _ = read(out)
    assert profile["transform"] == Affine(10, 0, X0 + 30, 0, -10, Y0 - 30)
    assert data.shape == (39 * 3, 49 * 3)


def crop_raster(path: Path, out: Path, margin: int) -> Path:
    """``path`` without ``margin`` pixels on every side, written to ``out``."""
    with rasterio.open(path) as src:
        window = Window(margin, margin, src.width - 2 * margin, src.height - 2 * margin)
        write_raster(out, src.read(window=window), crs=src.crs, transform=src.window_transform(window),
                     descriptions=list(src.descriptions), overwrite=True)
    return out


def test_guidance_inside_the_lst_reads_the_lst_beyond_it(tmp_path: Path) -> None:
    # The guidance ends 5 LR px inside the LST on every side: the edge pixels are interpolated
    # from the LST across the edge, as a run on the whole LST does (replicating the edge instead
    # put them up to several K off).
    lst, guid = make_scene(tmp_path, rows=40, cols=50)
    inner = crop_raster(guid, tmp_path / "inner_guidance.tif", margin=15)
    out, whole = tmp_path / "out.tif", tmp_path / "whole.tif"
    assert run(["-q", "downscale", str(lst), "-g", str(inner), "--model", "bicubic", "-o", str(out),
                "--tile", "60", "--overlap", "24"]) == 0
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "--scale", "3", "-o", str(whole)]) == 0
    data, profile, _ = read(out)
    assert profile["transform"] == Affine(10, 0, X0 + 150, 0, -10, Y0 - 150)
    expected = read(whole)[0][15:-15, 15:-15]
    np.testing.assert_array_equal(np.isnan(data)[15:17, 15:18], True)  # the guidance's own nodata
    valid = ~np.isnan(data)
    assert valid.sum() == data.size - 6
    assert np.abs(data[valid] - expected[valid]).max() < 2e-3  # blending of tiled bicubic: ~1 mK


def test_celsius_input_is_detected_and_kept(tmp_path: Path) -> None:
    kelvin, _ = make_scene(tmp_path, name="k")
    celsius, _ = make_scene(tmp_path, name="c", lst_offset=-273.15, lst_nodata=-9999.0)
    ok, oc = tmp_path / "k.tif", tmp_path / "c.tif"
    assert run(["-q", "downscale", str(kelvin), "--model", "bicubic", "-o", str(ok)]) == 0
    assert run(["-q", "downscale", str(celsius), "--model", "bicubic", "-o", str(oc)]) == 0
    k, c = read(ok)[0], read(oc)
    assert c[2]["units"] == "degC"
    np.testing.assert_array_equal(np.isnan(k), np.isnan(c[0]))  # -9999 read as nodata
    np.testing.assert_allclose(c[0], k - 273.15, atol=2e-3)
    out_k = tmp_path / "ck.tif"
    assert run(["-q", "downscale", str(celsius), "--model", "bicubic", "-o", str(out_k),
                "--units-out", "kelvin"]) == 0
    np.testing.assert_allclose(read(out_k)[0], k, atol=2e-3)


def test_conserve_makes_blocks_aggregate_to_lr(tmp_path: Path) -> None:
    lst, _ = make_scene(tmp_path)
    out = tmp_path / "out.tif"
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(out), "--conserve",
                "--tile", "60", "--overlap", "12"]) == 0
    hr = read(out)[0].astype(np.float64)
    with rasterio.open(lst) as src:
        lr = src.read(1).astype(np.float64)
    ok = np.isfinite(lr) & np.isfinite(hr).reshape(40, 3, 50, 3).all(axis=(1, 3))
    agg = np.mean(hr.reshape(40, 3, 50, 3) ** 4, axis=(1, 3)) ** 0.25
    np.testing.assert_allclose(agg[ok], lr[ok], atol=1e-3)


def test_conserve_blocks_exact_in_radiance() -> None:
    hr = np.array([[290.0, 310.0], [300.0, 300.0]], np.float32)
    out = conserve_blocks(hr, np.array([[301.0]], np.float32), 2)
    assert np.mean(out.astype(np.float64) ** 4) ** 0.25 == pytest.approx(301.0, abs=1e-4)
    assert out[0, 1] > out[0, 0]  # contrast inside the block is kept


@pytest.mark.parametrize(
    "case, problem",
    [
        ("missing", "file not found"),
        ("crs", "differs from the LST"),
        ("no_overlap", "does not cover any whole LST pixel"),
        ("not_nested", "does not nest"),
        ("scale", "not an integer multiple"),
        ("bands", "has 2 bands, expected 1"),
        ("unreadable", "not a readable raster"),
        ("no_guidance_name", "does not end in _lst"),
    ],
)
def test_bad_inputs_exit_2_one_line_no_output(tmp_path: Path, capsys, case: str, problem: str) -> None:
    lst, guid = make_scene(tmp_path)
    if case == "missing":
        lst = tmp_path / "nothere_lst.tif"
    elif case == "crs":
        write_raster(guid, np.zeros((10, 120, 150), np.float32), crs=CRS.from_epsg(32648),
                     transform=Affine(10, 0, X0, 0, -10, Y0), descriptions=BANDS, overwrite=True)
    elif case == "no_overlap":
        make_scene(tmp_path, guidance_shift=(10_000.0, 0.0))
    elif case == "not_nested":
        make_scene(tmp_path, guidance_shift=(4.0, 0.0))
    elif case == "scale":
        write_raster(guid, np.zeros((10, 100, 125), np.float32), crs=CRS.from_epsg(32647),
                     transform=Affine(12, 0, X0, 0, -12, Y0), descriptions=BANDS, overwrite=True)
    elif case == "bands":
        write_raster(lst, np.zeros((2, 40, 50), np.float32), crs=CRS.from_epsg(32647),
                     transform=Affine(30, 0, X0, 0, -30, Y0), descriptions=["a", "b"], overwrite=True)
    elif case == "unreadable":
        guid.write_bytes(b"this is not a tiff")
    elif case == "no_guidance_name":
        lst = lst.rename(tmp_path / "scene.tif")
    out = tmp_path / "out.tif"
    capsys.readouterr()
    status = run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(out)])
    captured = capsys.readouterr()
    assert status == 2
    lines = [l for l in captured.err.splitlines() if l.strip()]
    assert len(lines) == 1 and problem in lines[0], captured.err
    assert "Traceback" not in captured.err
    assert not out.exists()
    assert not list(tmp_path.glob(".*partial"))


def test_existing_output_needs_overwrite(tmp_path: Path, capsys) -> None:
    lst, _ = make_scene(tmp_path)
    out = tmp_path / "out.tif"
    out.write_bytes(b"II*\x00precious")
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"II*\x00precious"
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(out), "--overwrite"]) == 0
    assert read(out)[0].shape == (120, 150)


def test_failure_midway_leaves_no_output(tmp_path: Path, monkeypatch) -> None:
    lst, _ = make_scene(tmp_path, rows=60, cols=60)
    out = tmp_path / "out.tif"
    import pipelines.downscale as ds

    calls = {"n": 0}
    real = ds._submit_batch

    def explode(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("simulated crash")
        return real(*args, **kwargs)

    monkeypatch.setattr(ds, "_submit_batch", explode)
    status = run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(out),
                  "--tile", "60", "--overlap", "12", "--batch-size", "1"])
    assert status == 1 and calls["n"] == 3
    assert not out.exists()
    assert not list(tmp_path.glob(".*partial"))


def test_stdin_json_batch_with_one_broken_scene(tmp_path: Path, monkeypatch, capsys) -> None:
    good1, _ = make_scene(tmp_path, name="a")
    good2, _ = make_scene(tmp_path, name="b", seed=1)
    broken = tmp_path / "c_lst.tif"
    broken.write_bytes(b"garbage")
    out_dir = tmp_path / "out"
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{good1}\n{broken}\n\n{good2}\n"))
    capsys.readouterr()
    status = run(["-q", "downscale", "-", "--model", "bicubic", "--out-dir", str(out_dir), "--json"])
    captured = capsys.readouterr()
    assert status == 2
    lines = [json.loads(l) for l in captured.out.splitlines()]
    assert [l["status"] for l in lines] == ["ok", "error", "ok"]
    assert {"input", "output", "status", "seconds", "megapixels", "error"} <= set(lines[0])
    assert lines[0]["megapixels"] == pytest.approx(120 * 150 / 1e6, abs=1e-4)
    assert "not a readable raster" in lines[1]["error"]
    assert (out_dir / "a_lst_downscaled.tif").exists() and (out_dir / "b_lst_downscaled.tif").exists()
    assert not (out_dir / "c_lst_downscaled.tif").exists()
    # A rerun with --skip-existing skips the finished scenes.
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{good1}\n{good2}\n"))
    assert run(["-q", "downscale", "-", "--model", "bicubic", "--out-dir", str(out_dir), "--json",
                "--skip-existing"]) == 0
    again = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert [l["status"] for l in again] == ["skipped", "skipped"]
    # A folder where an output belongs is not a finished scene: refused, not skipped.
    (out_dir / "a_lst_downscaled.tif").unlink()
    (out_dir / "a_lst_downscaled.tif").mkdir()
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{good1}\n"))
    assert run(["-q", "downscale", "-", "--model", "bicubic", "--out-dir", str(out_dir), "--json",
                "--skip-existing"]) == 2
    refused = json.loads(capsys.readouterr().out)
    assert refused["status"] == "error" and "is a folder" in refused["error"]


def but_guidance_gaps(said: str | list[str]) -> list[str]:
    """``said``'s lines (stderr, or a --json line's warnings) but the warning of make_scene's guidance
    hole over LST data (its own tests: test_guidance_coverage_s9), which its scenes get since c371999."""
    gap = re.compile(r"^(warning: )?.*: under 0\.1 % of its valid pixels inside the guidance .* are NaN in the output: ")
    lines = said.splitlines() if isinstance(said, str) else said
    return [line for line in lines if not gap.match(line)]


def test_one_scene_spelled_several_ways_is_downscaled_once(tmp_path: Path, monkeypatch, capsys) -> None:
    """QA: the same file as d/a_lst.tif and d/../d/a_lst.tif (or through a linked folder) was
    warned about as "given more than once; downscaled once", then the batch was refused: two
    inputs for one output (--out-dir), or two inputs for -o."""
    lst, _ = make_scene(tmp_path / "d", name="a")
    (tmp_path / "link").symlink_to(tmp_path / "d")
    monkeypatch.chdir(tmp_path)
    spellings = ["d/a_lst.tif", "./d/a_lst.tif", "d/../d/a_lst.tif", str(lst), "link/a_lst.tif"]
    for output, written in ((["--out-dir", "out"], "out/a_lst_downscaled.tif"), (["-o", "one.tif"], "one.tif")):
        assert run(["-q", "downscale", *spellings, "--model", "bicubic", *output, "--json"]) == 0
        captured = capsys.readouterr()
        [line] = [json.loads(text) for text in captured.out.splitlines()]
        assert (line["input"], line["output"], line["status"]) == ("d/a_lst.tif", written, "ok")
        assert but_guidance_gaps(captured.err) == [  # each repeat named as typed, beside the first
            f"warning: {other}: given more than once (as d/a_lst.tif); downscaled once"
            for other in spellings[1:]]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_lst_downscaled.tif"]
    # Another name for the file (a link beside it) is another input: its own guidance, its own output.
    (tmp_path / "d" / "b_lst.tif").symlink_to(lst)
    (tmp_path / "d" / "b_guidance.tif").symlink_to(tmp_path / "d" / "a_guidance.tif")
    assert run(["-q", "downscale", "d/a_lst.tif", "d/b_lst.tif", "--model", "bicubic", "--out-dir", "two"]) == 0
    assert capsys.readouterr().out.splitlines() == ["two/a_lst_downscaled.tif", "two/b_lst_downscaled.tif"]


def test_stdin_lists_as_find_writes_them(tmp_path: Path, monkeypatch, capsys) -> None:
    """QA: find -print0 was an internal error, a name ending in a space was not found, a path
    listed twice refused the batch, an empty list passed silently, and a folder among the
    inputs refused the whole batch blaming a good file."""
    good, _ = make_scene(tmp_path, name="a")
    spaced, _ = make_scene(tmp_path, name="b ", seed=1)  # "b _lst.tif"
    trailing = tmp_path / "c_lst.tif "
    good.rename(trailing)
    good, _ = make_scene(tmp_path, name="a")
    (tmp_path / "c_guidance.tif ").write_bytes((tmp_path / "a_guidance.tif").read_bytes())
    folder = tmp_path / "d_lst.tif"
    folder.mkdir()
    out_dir = tmp_path / "out"
    for text in (f"{good}\0{spaced}\0{trailing}\0{good}\0", f"{good}\r\n{spaced}\n{trailing}\n\n{good}\n"):
        monkeypatch.setattr(sys, "stdin", io.StringIO(text))
        assert run(["-q", "downscale", "-", "--model", "bicubic", "--out-dir", str(out_dir), "--json",
                    "--overwrite"]) == 0
        captured = capsys.readouterr()
        lines = [json.loads(line) for line in captured.out.splitlines()]
        assert [(line["input"], line["status"]) for line in lines] == [
            (str(good), "ok"), (str(spaced), "ok"), (str(trailing), "ok")]
        assert but_guidance_gaps(captured.err) == [f"warning: {good}: given more than once; downscaled once"]
    assert (out_dir / "c_lst_downscaled.tif").is_file()  # the space is part of the input's name only
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert run(["downscale", "-", "--model", "bicubic", "--out-dir", str(out_dir)]) == 0
    assert "warning: no input paths on stdin: nothing to do" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{good}\n{folder}\n"))
    assert run(["-q", "downscale", "-", "--model", "bicubic", "--out-dir", str(out_dir), "--json",
                "--overwrite"]) == 2
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["status"] for line in lines] == ["ok", "error"]
    assert "is a directory, expected a GeoTIFF" in lines[1]["error"]
    plain = tmp_path / "e"  # not named as an LST: was "cannot find the guidance: ... does not end in _lst"
    plain.mkdir()
    assert run(["-q", "downscale", str(plain), str(good), "--model", "bicubic", "--out-dir", str(out_dir),
                "--overwrite"]) == 2
    assert f"error: {plain}: is a directory, expected a GeoTIFF" in capsys.readouterr().err


def test_the_log_line_escapes_control_characters_in_paths(tmp_path: Path, capsys) -> None:
    """QA: a name holding a newline or an escape sequence split or recoloured the log line."""
    lst, _ = make_scene(tmp_path, name="a\nb\x01")
    out = tmp_path / "o\x1b[31m.tif"
    assert run(["downscale", str(lst), "--model", "bicubic", "-o", str(out)]) == 0
    line = capsys.readouterr().err.splitlines()[-1]
    assert line.startswith(f"{tmp_path}/a\\nb\\x01_lst.tif -> {tmp_path}/o\\x1b[31m.tif (")


def test_skip_existing_and_overwrite_together_are_refused(tmp_path: Path, capsys) -> None:
    lst, _ = make_scene(tmp_path)
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "--skip-existing", "--overwrite"]) == 2
    assert "--skip-existing: give --skip-existing or --overwrite, not both" in capsys.readouterr().err


def test_dask_local_cluster(tmp_path: Path, capsys) -> None:
    distributed = pytest.importorskip("dask.distributed")
    a, _ = make_scene(tmp_path, name="a")
    b, _ = make_scene(tmp_path, name="b", seed=2)
    out_dir = tmp_path / "out"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        capsys.readouterr()
        status = run(["-q", "downscale", str(a), str(b), "--model", "bicubic", "--out-dir",
                      str(out_dir), "--json", "--dask-scheduler", cluster.scheduler_address])
    lines = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert status == 0 and sorted(l["status"] for l in lines) == ["ok", "ok"]
    local = tmp_path / "local.tif"
    assert run(["-q", "downscale", str(a), "--model", "bicubic", "-o", str(local)]) == 0
    np.testing.assert_array_equal(read(out_dir / "a_lst_downscaled.tif")[0], read(local)[0])


JSON_KEYS = {"input", "output", "status", "seconds", "megapixels", "error", "grid", "units", "tiles",
             "tiles_skipped", "valid_fraction", "hole_margin", "warnings"}


@pytest.mark.parametrize("mode", ["bicubic", "bilinear"])
def test_scale_without_guidance_refines_the_lst_grid(tmp_path: Path, capsys, mode: str) -> None:
    lst, guid = make_scene(tmp_path)
    guid.unlink()  # the LST alone
    out, tiled = tmp_path / "out.tif", tmp_path / "tiled.tif"
    capsys.readouterr()
    assert run(["-q", "downscale", str(lst), "--model", mode, "--scale", "4", "-o", str(out), "--json"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert set(line) == JSON_KEYS and line["status"] == "ok" and line["error"] is None
    assert line["grid"] == "output grid: the LST grid refined x4 (200x160 px at 7.5 m)"
    assert line["megapixels"] == pytest.approx(200 * 160 / 1e6, abs=1e-4)
    data, profile, tags = read(out)
    assert line["hole_margin"] == 0 and tags["hole_margin"] == "0"  # interpolators: no margin
    assert line["valid_fraction"] == pytest.approx(np.isfinite(data).mean(), abs=1e-6)
    with rasterio.open(lst) as src:
        assert profile["crs"] == src.crs and src.transform == Affine(30, 0, X0, 0, -30, Y0)
    assert profile["transform"] == Affine(7.5, 0, X0, 0, -7.5, Y0)  # a/4, e/4, same origin
    assert (profile["height"], profile["width"]) == (40 * 4, 50 * 4)
    assert profile["dtype"] == "float32" and np.isnan(profile["nodata"]) and profile["blockxsize"] == 512
    assert tags["model"] == mode and tags["scale"] == "4" and tags["units"] == "K"
    assert tags["guidance_source"] == "none" and tags["lst_source"] == str(lst.resolve())
    # NaN exactly under the nodata LR pixels (4 px of row 0); interpolators use no hole margin.
    expected = np.zeros_like(data, bool)
    expected[0:4, 0:16] = True
    np.testing.assert_array_equal(np.isnan(data), expected)
    # Away from the nodata corner and the edges: torch's interpolation (align_corners=False).
    ref = interpolate_one_pass(lst, 4, mode)
    inner = (slice(12, -8), slice(8, -8))
    np.testing.assert_allclose(data[inner], ref[inner], atol=1e-4)
    # Tiled and blended like the guided path: the same values.
    assert run(["-q", "downscale", str(lst), "--model", mode, "--scale", "4", "-o", str(tiled),
                "--tile", "60", "--overlap", "24"]) == 0
    np.testing.assert_array_equal(np.isnan(read(tiled)[0]), expected)
    np.testing.assert_allclose(read(tiled)[0][inner], ref[inner], atol=2e-3)


def test_scale_hole_margin_as_with_guidance(tmp_path: Path) -> None:
    lst, guid = make_scene(tmp_path)
    guid.unlink()
    out = tmp_path / "out.tif"
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "--scale", "3", "-o", str(out),
                "--hole-margin", "2"]) == 0
    expected = np.zeros((120, 150), bool)
    expected[0:3 + 2, 0:12 + 2] = True
    np.testing.assert_array_equal(np.isnan(read(out)[0]), expected)


def test_scale_keeps_celsius_in_celsius(tmp_path: Path) -> None:
    kelvin, _ = make_scene(tmp_path, name="k")
    celsius, _ = make_scene(tmp_path, name="c", lst_offset=-273.15, lst_nodata=-9999.0)
    ok, oc, ck = tmp_path / "k.tif", tmp_path / "c.tif", tmp_path / "ck.tif"
    for lst, out, extra in ((kelvin, ok, []), (celsius, oc, []), (celsius, ck, ["--units-out", "kelvin"])):
        assert run(["-q", "downscale", str(lst), "--model", "bicubic", "--scale", "3", "-o", str(out),
                    *extra]) == 0
    k, c = read(ok)[0], read(oc)
    assert c[2]["units"] == "degC" and read(ck)[2]["units"] == "K"
    np.testing.assert_array_equal(np.isnan(k), np.isnan(c[0]))  # -9999 read as nodata
    assert np.isnan(k).sum() == 3 * 12
    np.testing.assert_allclose(c[0], k - 273.15, atol=2e-3)
    np.testing.assert_allclose(read(ck)[0], k, atol=2e-3)


def test_scale_keeps_an_existing_output_without_overwrite(tmp_path: Path, capsys) -> None:
    lst, guid = make_scene(tmp_path)
    guid.unlink()
    out = tmp_path / "out.tif"
    out.write_bytes(b"II*\x00precious")
    cmd = ["-q", "downscale", str(lst), "--model", "bicubic", "--scale", "3", "-o", str(out)]
    assert run(cmd) == 2
    assert "output already exists (hint: pass --overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"II*\x00precious"
    assert run([*cmd, "--overwrite"]) == 0
    assert read(out)[0].shape == (120, 150)


def test_scale_on_a_dask_cluster_equals_the_local_run(tmp_path: Path, capsys) -> None:
    distributed = pytest.importorskip("dask.distributed")
    a, guid = make_scene(tmp_path, name="a")
    guid.unlink()
    out_dir = tmp_path / "out"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        capsys.readouterr()
        status = run(["-q", "downscale", str(a), "--model", "bicubic", "--scale", "3", "--out-dir",
                      str(out_dir), "--json", "--dask-scheduler", cluster.scheduler_address])
    line = json.loads(capsys.readouterr().out)
    assert status == 0 and line["status"] == "ok" and "refined x3" in line["grid"]
    local = tmp_path / "local.tif"
    assert run(["-q", "downscale", str(a), "--model", "bicubic", "--scale", "3", "-o", str(local)]) == 0
    np.testing.assert_array_equal(read(out_dir / "a_lst_downscaled.tif")[0], read(local)[0])


def test_scale_may_write_where_an_unread_guidance_would_be(tmp_path: Path) -> None:
    """--scale reads no guidance, so X_guidance.tif beside X_lst.tif is not an input of the run."""
    lst, guid = make_scene(tmp_path)
    guid.unlink()
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "--scale", "3", "-o", str(guid)]) == 0
    assert read(guid)[0].shape == (120, 150)


def test_scale_with_conserve_aggregates_to_the_lst(tmp_path: Path) -> None:
    lst, guid = make_scene(tmp_path)
    guid.unlink()
    out = tmp_path / "out.tif"
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "--scale", "3", "--conserve",
                "-o", str(out), "--tile", "60", "--overlap", "12"]) == 0
    data, _, tags = read(out)
    assert tags["conserve"] == "true"
    hr = data.astype(np.float64)
    with rasterio.open(lst) as src:
        lr = src.read(1).astype(np.float64)
    ok = np.isfinite(lr) & np.isfinite(hr).reshape(40, 3, 50, 3).all(axis=(1, 3))
    assert ok.sum() == 40 * 50 - 4
    agg = np.mean(hr.reshape(40, 3, 50, 3) ** 4, axis=(1, 3)) ** 0.25
    np.testing.assert_allclose(agg[ok], lr[ok], atol=1e-3)


def test_scale_on_a_pixel_is_point_lst_keeps_its_footprint(tmp_path: Path) -> None:
    """GDAL reads a PixelIsPoint grid as the area grid half a pixel up-left; the refined output is
    written as an area grid over that same footprint (a Point tag on it would shift it by half an
    output pixel)."""
    lst, guid = make_scene(tmp_path)
    guid.unlink()
    with rasterio.open(lst, "r+") as dst:
        dst.update_tags(AREA_OR_POINT="Point")
    with rasterio.open(lst) as src:
        assert src.tags()["AREA_OR_POINT"] == "Point"
        bounds, transform, values = src.bounds, src.transform, src.read(1)
    out = tmp_path / "out.tif"
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "--scale", "3", "-o", str(out)]) == 0
    with rasterio.open(out) as dst:
        assert dst.tags()["AREA_OR_POINT"] == "Area"
        assert dst.bounds == bounds and dst.transform == transform @ Affine.scale(1 / 3)
        data = dst.read(1)
    np.testing.assert_allclose(data.reshape(40, 3, 50, 3).mean(axis=(1, 3))[1:-1, 4:-1],
                               values[1:-1, 4:-1], atol=0.5)  # blocks stay over their own pixel


def test_streaming_gdal_settings_bound_the_cache_and_use_every_core_unless_the_user_set_them(monkeypatch):
    """GDAL's default 5%-of-RAM cache would make peak memory grow with the scene; one decoding
    thread would make the guidance reads the bottleneck of a GPU run."""
    from pipelines.geotiff import STREAMING_CACHE_MB, streaming_gdal_env

    monkeypatch.delenv("GDAL_CACHEMAX", raising=False)
    monkeypatch.delenv("GDAL_NUM_THREADS", raising=False)
    with streaming_gdal_env() as env:
        assert env.options["GDAL_CACHEMAX"] == STREAMING_CACHE_MB * 2**20
        assert env.options["GDAL_NUM_THREADS"] == "ALL_CPUS"
    monkeypatch.setenv("GDAL_CACHEMAX", "1024")
    monkeypatch.setenv("GDAL_NUM_THREADS", "1")
    with streaming_gdal_env() as env:
        assert "GDAL_CACHEMAX" not in env.options and "GDAL_NUM_THREADS" not in env.options


def test_skip_existing_skips_a_scene_another_run_finished_before_the_writability_check(
        tmp_path: Path, monkeypatch, capsys) -> None:
    """QA B2: the run that lost the race to a scene reported "output already exists" (exit 2)
    when the other run finished between the first look and the writability check."""
    import pipelines.scenes as scenes

    lst, _ = make_scene(tmp_path)
    out = tmp_path / "out.tif"
    check_writable = scenes.check_writable

    def another_run_finishes_first(path, *args, **kwargs):
        if not out.exists():
            shutil.copy(lst, out)  # a finished GeoTIFF, as the other run's would be
        return check_writable(path, *args, **kwargs)

    monkeypatch.setattr(scenes, "check_writable", another_run_finishes_first)
    for extra, status, code in ((["--skip-existing"], "skipped", 0), ([], "error", 2)):
        out.unlink(missing_ok=True)
        assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(out), "--json", *extra]) == code
        line = json.loads(capsys.readouterr().out)
        assert line["status"] == status and out.read_bytes() == lst.read_bytes()
        assert status == "skipped" or "output already exists" in line["error"]


def test_skip_existing_still_reports_a_bad_input_when_another_run_wrote_the_output(
        tmp_path: Path, monkeypatch, capsys) -> None:
    """Review R3: any input error became "skipped" once the output existed."""
    import pipelines.scenes as scenes
    from pipelines.errors import InputError

    lst, _ = make_scene(tmp_path)
    out = tmp_path / "out.tif"

    def refused_after_another_run_wrote_it(*args, **kwargs):
        shutil.copy(lst, out)
        raise InputError(lst, "guidance does not overlap the LST")

    monkeypatch.setattr(scenes, "downscale_scene", refused_after_another_run_wrote_it)
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(out), "--json", "--skip-existing"]) == 2
    line = json.loads(capsys.readouterr().out)
    assert line["status"] == "error" and "guidance does not overlap the LST" in line["error"]


def test_fit_with_skip_existing_skips_an_output_another_run_wrote_during_the_fit(
        tmp_path: Path, monkeypatch, capsys) -> None:
    """Review R3: the fit's own downscale ran without --skip-existing: an error, exit 2."""
    import groklst_cli.commands._downscale_fit as downscale_fit

    lst, _ = make_scene(tmp_path)
    out = tmp_path / "out.tif"
    real_fit = downscale_fit._fit

    def fitted_while_another_run_writes(*args, **kwargs):
        fitted = real_fit(*args, **kwargs)
        shutil.copy(lst, out)
        return fitted

    monkeypatch.setattr(downscale_fit, "_fit", fitted_while_another_run_writes)
    assert run(["-q", "downscale", str(lst), "--fit", "--fit-candidates", "tsharp", "-o", str(out), "--json",
                "--skip-existing"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["status"] == "skipped" and out.read_bytes() == lst.read_bytes()


def test_skip_existing_skips_an_output_that_appeared_on_a_file_system_without_hard_links(
        tmp_path: Path, monkeypatch, capsys) -> None:
    """Review R4: where os.link is refused (SMB, exFAT), an output another run finished during
    the write was "output already exists", an error, instead of skipped."""
    import os

    import pipelines.downscale as downscale

    lst, _ = make_scene(tmp_path)
    out = tmp_path / "out.tif"
    write_mosaic = downscale._write_mosaic

    def no_hard_links(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted")

    def another_run_finishes_first(run, tmp, *args):
        write_mosaic(run, tmp, *args)
        shutil.copy(lst, out)

    monkeypatch.setattr(os, "link", no_hard_links)
    monkeypatch.setattr(downscale, "_write_mosaic", another_run_finishes_first)
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(out), "--json", "--skip-existing"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "skipped" and out.read_bytes() == lst.read_bytes()


def test_fit_with_skip_existing_skips_a_finished_output_of_any_name(tmp_path: Path, capsys) -> None:
    """Review R4: --fit refused a finished output not named .tif before looking, unlike scenes without it."""
    lst, _ = make_scene(tmp_path)
    out = tmp_path / "out.png"
    shutil.copy(lst, out)
    assert run(["-q", "downscale", str(lst), "--fit", "--fit-candidates", "tsharp", "-o", str(out), "--json",
                "--skip-existing"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "skipped"


def test_skip_existing_skips_a_scene_another_run_finished_meanwhile(tmp_path: Path, monkeypatch, capsys) -> None:
    """QA: two runs of one archive with --skip-existing: the second to finish a scene reported an
    error ("output appeared while groklst was writing it") instead of skipping it."""
    import pipelines.downscale as downscale

    lst, _ = make_scene(tmp_path)
    out = tmp_path / "out.tif"
    write_mosaic = downscale._write_mosaic

    def another_run_finishes_first(run, tmp, *args):
        write_mosaic(run, tmp, *args)
        out.write_bytes(b"II*\x00the other run's output")

    monkeypatch.setattr(downscale, "_write_mosaic", another_run_finishes_first)
    for extra, status, code in ((["--skip-existing"], "skipped", 0), ([], "error", 2)):
        out.unlink(missing_ok=True)
        assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(out), "--json", *extra]) == code
        assert json.loads(capsys.readouterr().out)["status"] == status
        assert out.read_bytes() == b"II*\x00the other run's output"
