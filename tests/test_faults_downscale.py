"""The bad-input and fault matrix of `groklst downscale`: nothing lost, nothing implausible written.

Every case asserts the exit status, the one line that explains it, that no file is left under
the final name (or beside it), and that existing files are byte-identical afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine
from rasterio.crs import CRS

from groklst_cli.app import run
from pipelines.checkpoint import Checkpoint, load_checkpoint
from pipelines.infer import DEFAULT_CHECKPOINT
from tests.conftest import corrupt_first_strip
from tests.test_downscale import BANDS, X0, Y0, keep_every, make_scene

UTM = CRS.from_epsg(32647)


def error_lines(capsys) -> list[str]:
    """The lines of stderr that report a problem (info lines left out)."""
    return [line for line in capsys.readouterr().err.splitlines()
            if line.strip() and not line.startswith(("note:", "model ", "output grid"))]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (hidden temporaries included)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def write_lst(path: Path, values: np.ndarray, *, dtype: str = "float32", nodata: float | None = None,
              transform: Affine | None = None, crs: CRS | None = UTM, **profile) -> Path:
    """A one-band LST raster stored as ``dtype`` (no groklst conventions: as users have them)."""
    rows, cols = values.shape
    with rasterio.open(path, "w", driver="GTiff", width=cols, height=rows, count=1, dtype=dtype,
                       crs=crs, transform=transform or Affine(30, 0, X0, 0, -30, Y0),
                       nodata=nodata, **profile) as dst:
        dst.write(values.astype(dtype), 1)
    return path


def bicubic(lst: Path, out: Path, *extra: str) -> int:
    return run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(out), *extra])


# ----------------------------------------------------------------------------- data loss


def test_output_onto_a_folder_never_deletes_it(tmp_path: Path, capsys) -> None:
    lst, _ = make_scene(tmp_path)
    fine = tmp_path / "fine"
    fine.mkdir()
    (fine / "year_2023.tif").write_bytes(b"a user's archive")
    before = snapshot(tmp_path)
    assert bicubic(lst, fine, "--overwrite") == 2
    lines = error_lines(capsys)
    assert len(lines) == 1 and "is a folder; an output file never replaces a folder" in lines[0]
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("which", ["lst", "guidance", "checkpoint"])
def test_output_equal_to_an_input_is_refused(tmp_path: Path, capsys, which: str) -> None:
    lst, guidance = make_scene(tmp_path)
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(DEFAULT_CHECKPOINT.read_bytes())
    link = tmp_path / "alias.tif"
    link.symlink_to({"lst": lst, "guidance": guidance, "checkpoint": checkpoint}[which])
    before = snapshot(tmp_path)
    status = run(["-q", "downscale", str(lst), "-c", str(checkpoint), "-o", str(link), "--overwrite"])
    assert status == 2
    lines = error_lines(capsys)
    assert len(lines) == 1 and "it would be overwritten" in lines[0] and str(link) in lines[0]
    assert snapshot(tmp_path) == before


def test_batch_inputs_with_the_same_name_are_refused_before_any_work(tmp_path: Path, capsys) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        make_scene(tmp_path / folder)
    out = tmp_path / "fine"
    status = run(["-q", "downscale", str(tmp_path / "a" / "scene_lst.tif"),
                  str(tmp_path / "b" / "scene_lst.tif"), "--model", "bicubic", "--out-dir", str(out)])
    assert status == 2
    lines = error_lines(capsys)
    assert len(lines) == 1 and "would be written here" in lines[0]
    assert not out.exists() or not any(out.iterdir())


def test_an_output_that_is_another_scenes_input_is_refused(tmp_path: Path, capsys) -> None:
    lst, _ = make_scene(tmp_path, "scene")
    other, _ = make_scene(tmp_path, "scene_lst_downscaled", seed=1)  # scene_lst's output name
    before = snapshot(tmp_path)
    status = run(["-q", "downscale", str(lst), str(other.with_name("scene_lst_downscaled.tif")),
                  "--model", "bicubic", "--out-dir", str(tmp_path), "--overwrite"])
    assert status == 2
    assert "is also an input of this run" in error_lines(capsys)[0]
    assert snapshot(tmp_path) == before


# ---------------------------------------------------------------- implausible values


def test_corrupt_blocks_are_refused_not_written(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(0)
    lst = write_lst(tmp_path / "scene_lst.tif", 300 + rng.normal(0, 2, (40, 50)))
    make_scene(tmp_path, "donor")
    (tmp_path / "donor_guidance.tif").rename(tmp_path / "scene_guidance.tif")
    corrupt_first_strip(lst)
    out = tmp_path / "out.tif"
    assert bicubic(lst, out) == 2
    lines = error_lines(capsys)
    assert len(lines) == 1 and "are not all plausible land-surface temperatures" in lines[0]
    assert not out.exists() and not list(tmp_path.glob(".out.tif*"))


def test_undecodable_compressed_blocks_are_bad_input(tmp_path: Path, capsys) -> None:
    lst, _ = make_scene(tmp_path)  # DEFLATE-compressed, tiled
    raw = bytearray(lst.read_bytes())
    raw[-300:] = b"\x00" * 300
    lst.write_bytes(bytes(raw))
    out = tmp_path / "out.tif"
    status = bicubic(lst, out)
    lines = error_lines(capsys)
    assert status == 2 and len(lines) == 1 and str(lst) in lines[0]
    assert not out.exists()


def test_undeclared_fill_value_is_named_and_declaring_it_works(tmp_path: Path, capsys) -> None:
    values = 300 + np.zeros((40, 50))
    values[:10] = -9999
    lst = write_lst(tmp_path / "scene_lst.tif", values)
    make_scene(tmp_path, "donor")
    (tmp_path / "donor_guidance.tif").rename(tmp_path / "scene_guidance.tif")
    out = tmp_path / "out.tif"
    assert bicubic(lst, out) == 2
    lines = error_lines(capsys)
    assert len(lines) == 1 and "pass --nodata -9999" in lines[0]
    assert not out.exists()
    assert bicubic(lst, out, "--nodata", "-9999") == 0
    with rasterio.open(out) as src:
        data = src.read(1)
    assert np.isnan(data[:30]).all() and np.allclose(data[33:], 300, atol=1e-3)


def test_unscaled_landsat_digital_numbers_get_the_factors_in_the_hint(tmp_path: Path, capsys) -> None:
    kelvin = 290 + 10 * np.random.default_rng(1).random((40, 50))
    dn = np.round((kelvin - 149.0) / 0.00341802)
    lst = write_lst(tmp_path / "scene_lst.tif", dn, dtype="uint16", nodata=0)
    make_scene(tmp_path, "donor")
    (tmp_path / "donor_guidance.tif").rename(tmp_path / "scene_guidance.tif")
    out = tmp_path / "out.tif"
    assert bicubic(lst, out) == 2
    line = error_lines(capsys)[0]
    assert "unscaled digital numbers" in line and "--scale-factor 0.00341802 --offset 149.0" in line
    assert bicubic(lst, out, "--scale-factor", "0.00341802", "--offset", "149.0") == 0
    with rasterio.open(out) as src:
        data = src.read(1)
        assert src.units == ("K",)
    assert 285 < np.nanmin(data) and np.nanmax(data) < 305  # 290-300 K and bicubic's overshoot


def test_kelvin_declared_as_celsius_is_refused(tmp_path: Path, capsys) -> None:
    lst, _ = make_scene(tmp_path)
    out = tmp_path / "out.tif"
    assert bicubic(lst, out, "--units", "celsius") == 2
    line = error_lines(capsys)[0]
    assert "not all plausible" in line and "degC" in line and "pass --units kelvin" in line
    assert not out.exists()


def test_mask_implausible_turns_outliers_into_nodata(tmp_path: Path) -> None:
    values = 300 + np.zeros((40, 50))
    values[5, 5] = 1e6
    lst = write_lst(tmp_path / "scene_lst.tif", values)
    make_scene(tmp_path, "donor")
    (tmp_path / "donor_guidance.tif").rename(tmp_path / "scene_guidance.tif")
    out = tmp_path / "out.tif"
    assert bicubic(lst, out, "--mask-implausible") == 0
    with rasterio.open(out) as src:
        data = src.read(1)
    assert np.isnan(data[15:18, 15:18]).all() and np.nanmax(data) < 300.01


def test_tenths_of_a_degree_celsius_are_named_and_an_interpolators_overshoot_blames_the_lst(
        tmp_path: Path, capsys) -> None:
    """QA: int16 tenths of a degree Celsius (169..500 "K") were told to use --mask-implausible;
    then bicubic's overshoot was refused with advice about the guidance and --model bicubic,
    the very model it ran."""
    rng = np.random.default_rng(0)
    lst = write_lst(tmp_path / "scene_lst.tif", np.round(rng.uniform(16.9, 50.0, (40, 50)) * 10), dtype="int16")
    make_scene(tmp_path, "donor")
    (tmp_path / "donor_guidance.tif").rename(tmp_path / "scene_guidance.tif")
    out = tmp_path / "out.tif"
    assert bicubic(lst, out) == 2
    assert "--scale-factor 0.1 --offset 0.0 --units celsius (tenths: 16.9..50 degC)" in error_lines(capsys)[0]
    assert bicubic(lst, out, "--mask-implausible") == 2
    [line] = error_lines(capsys)
    assert "the model's output is implausible" in line and "--model bicubic" not in line
    assert line.endswith("differ by far more than any land surface does: check how the LST stores its values "
                         "(the unit with --units, scaled integers with --scale-factor/--offset, fill values "
                         "with --nodata))")
    assert bicubic(lst, out, "--scale-factor", "0.1", "--units", "celsius") == 0
    with rasterio.open(out) as src:  # degrees Celsius out (bicubic overshoots this white noise a little)
        written = src.read(1)
    assert abs(float(np.nanmean(written)) - 33.45) < 0.5 and 0 < np.nanmin(written) and np.nanmax(written) < 60


@pytest.fixture(scope="module")
def sample_scene(tmp_path_factory) -> Path:
    """A small generator scene the shipped model knows (plausible guidance values)."""
    folder = tmp_path_factory.mktemp("sample")
    assert run(["-q", "sample-scene", str(folder), "--size", "24", "--seed", "5"]) == 0
    return folder / "heihe_demo_lst.tif"


def test_bands_named_b1_to_b10_are_not_taken_in_order(sample_scene: Path, tmp_path: Path, capsys) -> None:
    shuffled = tmp_path / "x_guidance.tif"
    with rasterio.open(sample_scene.with_name("heihe_demo_guidance.tif")) as src:
        data, profile = src.read(), src.profile
    order = [3, 0, 9, 5, 1, 8, 2, 7, 4, 6]
    with rasterio.open(shuffled, "w", **profile) as dst:
        dst.write(data[order])
        for band in range(1, 11):
            dst.set_band_description(band, f"B{band}")
    out = tmp_path / "out.tif"
    cmd = ["-q", "downscale", str(sample_scene), "-g", str(shuffled), "-o", str(out)]
    assert run(cmd) == 2
    assert "missing guidance band(s) dem" in error_lines(capsys)[0]
    # Declaring the paper's names for bands that are not in the paper's order is caught too.
    assert run(cmd + ["--guidance-bands", ",".join(BANDS)]) == 2
    assert "standard deviations from the model's training data" in error_lines(capsys)[0]
    assert not out.exists()
    right = ",".join(BANDS[i] for i in order)
    assert run(cmd + ["--guidance-bands", right]) == 0
    with rasterio.open(out) as src:
        written = src.read(1)
    assert 250 < np.nanmin(written) and np.nanmax(written) < 350


def test_a_model_output_far_from_its_input_fails_the_scene(sample_scene: Path, tmp_path: Path, capsys) -> None:
    data = torch.load(DEFAULT_CHECKPOINT, map_location="cpu", weights_only=True)
    data["state_dict"] = {k: (v * 1e4 if k.startswith("head.2") else v) for k, v in data["state_dict"].items()}
    broken = tmp_path / "broken.pt"
    torch.save(data, broken)
    out = tmp_path / "out.tif"
    assert run(["-q", "downscale", str(sample_scene), "-c", str(broken), "-o", str(out)]) == 2
    line = error_lines(capsys)[0]
    assert "the model's output is implausible" in line and "more than 50 K" in line
    assert not out.exists() and not list(tmp_path.glob(".out.tif*"))


def test_corrupt_guidance_blocks_with_the_shipped_model_are_refused(sample_scene: Path, tmp_path: Path,
                                                                   capsys) -> None:
    with rasterio.open(sample_scene.with_name("heihe_demo_guidance.tif")) as src:
        data, profile = src.read(), {**src.profile, "compress": None, "tiled": False}
        names = src.descriptions
    guidance = tmp_path / "x_guidance.tif"
    with rasterio.open(guidance, "w", **profile) as dst:
        dst.write(data)
        dst.descriptions = names
    raw = bytearray(guidance.read_bytes())
    middle = len(raw) // 2
    raw[middle: middle + 20000] = np.random.default_rng(2).integers(0, 256, 20000, dtype=np.uint8).tobytes()
    guidance.write_bytes(bytes(raw))
    out = tmp_path / "out.tif"
    assert run(["-q", "downscale", str(sample_scene), "-g", str(guidance), "-o", str(out)]) == 2
    line = error_lines(capsys)[0]
    assert "standard deviations from the model's training data" in line and str(guidance) in line
    assert not out.exists() and not list(tmp_path.glob(".out.tif*"))


def test_unusable_checkpoints_are_refused_at_load(tmp_path: Path) -> None:
    from pipelines.errors import InputError

    data = torch.load(DEFAULT_CHECKPOINT, map_location="cpu", weights_only=True)
    cases = {
        "zero_std.pt": {**data, "band_std": [0.0] + data["band_std"][1:]},
        "wrong_weights.pt": {**data, "model_kwargs": {"num_stages": 3}},
        "nan_weights.pt": {**data, "state_dict": {k: v * float("nan") for k, v in data["state_dict"].items()}},
    }
    expected = {"zero_std.pt": "std must be finite and > 0", "wrong_weights.pt": "weights do not fit",
                "nan_weights.pt": "weights are not finite"}
    for name, content in cases.items():
        torch.save(content, tmp_path / name)
        with pytest.raises(InputError, match=expected[name]):
            load_checkpoint(tmp_path / name)
    assert isinstance(load_checkpoint(DEFAULT_CHECKPOINT), Checkpoint)


# ---------------------------------------------------------------- empty scenes and batches


def test_all_nodata_scene_is_empty_with_exit_3_and_no_file(tmp_path: Path, capsys) -> None:
    lst = write_lst(tmp_path / "scene_lst.tif", np.full((40, 50), -9999.0), nodata=-9999)
    make_scene(tmp_path, "donor")
    (tmp_path / "donor_guidance.tif").rename(tmp_path / "scene_guidance.tif")
    out = tmp_path / "out.tif"
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(out), "--json"]) == 3
    captured = capsys.readouterr()
    line = json.loads(captured.out)
    assert line["status"] == "empty" and "no valid pixel" in line["error"]
    assert "warning:" in captured.err and not out.exists()


def test_guidance_without_any_value_is_an_error_not_an_empty_scene(tmp_path: Path, capsys) -> None:
    """The LST has data, the guidance none: the guidance is wrong (exit 2), not the scene empty
    (exit 3, which pipelines set aside as no data)."""
    lst, guidance = make_scene(tmp_path)
    with rasterio.open(guidance, "r+") as dst:
        dst.write(np.full((dst.count, dst.height, dst.width), np.nan, np.float32))
    out = tmp_path / "out.tif"
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(out)]) == 2
    assert f"the guidance {guidance} is nodata wherever the LST has data" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("model", [[], ["--model", "bicubic"]])
def test_a_guidance_band_without_any_value_is_named(tmp_path: Path, capsys, model: list[str]) -> None:
    """QA: one band with no data left the output empty, said to be nodata everywhere or the
    hole margin (and --hole-margin 0, the hint, did not help)."""
    lst, guidance = make_scene(tmp_path)
    with rasterio.open(guidance, "r+") as dst:
        dst.write(np.full((dst.height, dst.width), np.nan, np.float32), 1)
        name = dst.descriptions[0]
    assert run(["-q", "downscale", str(lst), *model, "-o", str(tmp_path / "out.tif"), "--hole-margin", "0"]) == 3
    err = capsys.readouterr().err
    assert f"no output pixel has a value: guidance band(s) {name} of " in err
    assert ("the model reads it (hint: fill the band, or use a checkpoint trained without it)" if not model else
            "used by the model or not (hint: fill the band, or leave it out of the guidance file)") in err


def test_a_batch_reports_every_scene_even_when_outputs_exist(tmp_path: Path, capsys, monkeypatch) -> None:
    import io

    scenes = [make_scene(tmp_path, f"s{i}", seed=i)[0] for i in range(3)]
    out = tmp_path / "fine"
    out.mkdir()
    existing = out / "s1_lst_downscaled.tif"
    existing.write_bytes(b"II*\x00an earlier result")
    empty = write_lst(tmp_path / "e_lst.tif", np.full((40, 50), np.nan))
    os.link(tmp_path / "s0_guidance.tif", tmp_path / "e_guidance.tif")
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(map(str, scenes + [empty])) + "\n"))
    status = run(["-q", "downscale", "-", "--model", "bicubic", "--out-dir", str(out), "--json"])
    lines = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert [l["status"] for l in lines] == ["ok", "error", "ok", "empty"]
    assert "already exists" in lines[1]["error"]
    assert status == 2  # one scene had bad input; the others were still written
    assert existing.read_bytes() == b"II*\x00an earlier result"
    assert (out / "s0_lst_downscaled.tif").is_file() and (out / "s2_lst_downscaled.tif").is_file()


def test_errors_before_any_scene_still_print_a_json_line(tmp_path: Path, capsys) -> None:
    lst, _ = make_scene(tmp_path)
    status = run(["downscale", str(lst), "--model", "bicubic", "--tile", "96", "--overlap", "95", "--json"])
    captured = capsys.readouterr()
    assert status == 2
    line = json.loads(captured.out)
    assert line["status"] == "error" and "more than half the tile" in line["error"]


@pytest.mark.parametrize("command, names_input", [
    (["downscale", "{lst}", "--tile", "4"], False),  # click's own range check, before the command
    (["downscale", "{lst}", "--model", "bicubic", "--scale", "1"], False),  # the same for --scale >= 2
    (["downscale", "{lst}", "--units", "foo"], False),  # click's choice check
    (["guidance", "{lst}", "{lst}", "-o", "{lst}", "--scale", "3"], True),  # another command's refusal
])
def test_every_command_stopping_error_is_one_json_line_with_json(tmp_path: Path, capsys, command,
                                                                 names_input: bool) -> None:
    lst, _ = make_scene(tmp_path)
    status = run([part.format(lst=lst) for part in command] + ["--json"])
    captured = capsys.readouterr()
    assert status == 2
    lines = captured.out.splitlines()
    assert len(lines) == 1, lines
    line = json.loads(lines[0])
    assert line["status"] == "error" and line["input"] == (str(lst) if names_input else None) and line["error"]
    assert "rror" in captured.err  # the message is on stderr as well, for a person


# ---------------------------------------------------------------- nonsense settings


@pytest.mark.parametrize("model", [[], ["--model", "bicubic"]])
def test_too_little_overlap_warns_about_seams(sample_scene: Path, tmp_path: Path, capsys, model: list[str]) -> None:
    """Bicubic too: 7 K at --overlap 0 on the sample scene (README, Tiles)."""
    assert run(["-q", "downscale", str(sample_scene), "-o", str(tmp_path / "o.tif"), "--overlap", "0",
                "--tile", "36", *model]) == 0
    assert "leaves visible seams" in capsys.readouterr().err
    assert run(["-q", "downscale", str(sample_scene), "-o", str(tmp_path / "p.tif"), "--overlap", "16",
                "--tile", "36", *model]) == 0
    assert "seams" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, problem, hint",
    [
        (["--model", "bicubic", "--fit"], "--scale: does not apply to --fit", "drop --scale"),
        (["--checkpoint", "{ckpt}"], "--scale: works only with an interpolator", "drop --scale and give guidance"),
        ([], "--scale: works only with an interpolator", "pass --model bicubic"),  # the default model
        (["--model", "bicubic", "--guidance", "{guidance}"], "--scale: cannot be combined with --guidance",
         "drop --scale"),
        (["--model", "bicubic", "--guidance-bands", "a,b"], "--guidance-bands has nothing to name",
         "drop --guidance-bands"),
    ],
)
def test_scale_with_anything_that_needs_guidance_is_refused(tmp_path: Path, capsys, extra: list[str],
                                                            problem: str, hint: str) -> None:
    """--scale interpolates onto the refined LST grid; guidance, fits and networks have no place there."""
    lst, guidance = make_scene(tmp_path)
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(DEFAULT_CHECKPOINT.read_bytes())
    out = tmp_path / "out.tif"
    before = snapshot(tmp_path)
    args = [a.format(ckpt=checkpoint, guidance=guidance) for a in extra]
    assert run(["-q", "downscale", str(lst), "--scale", "3", *args, "-o", str(out)]) == 2
    lines = error_lines(capsys)
    assert len(lines) == 1 and problem in lines[0] and f"(hint: {hint}" in lines[0], lines
    assert snapshot(tmp_path) == before


def test_a_huge_output_is_refused_without_force(tmp_path: Path, capsys) -> None:
    rows, cols = 20_000, 36_000  # LST; the output would be 60000 x 108000 px = 6.5 Gpx
    profile = dict(driver="GTiff", dtype="float32", count=1, crs=UTM, tiled=True,
                   blockxsize=512, blockysize=512, sparse_ok=True, BIGTIFF="YES")
    with rasterio.open(tmp_path / "big_lst.tif", "w", width=cols, height=rows,
                       transform=Affine(30, 0, X0, 0, -30, Y0), **profile):
        pass
    with rasterio.open(tmp_path / "big_guidance.tif", "w", width=cols * 3, height=rows * 3,
                       transform=Affine(10, 0, X0, 0, -10, Y0), **profile):
        pass
    out = tmp_path / "out.tif"
    started = time.perf_counter()
    assert bicubic(tmp_path / "big_lst.tif", out) == 2
    line = error_lines(capsys)[0]
    assert "6.5 Gpx" in line and "--force" in line and not out.exists()
    assert time.perf_counter() - started < 30  # refused before reading the scene


# ---------------------------------------------------------------- environment and messages


def test_a_read_only_place_is_exit_2_with_the_cause(tmp_path: Path, capsys, monkeypatch) -> None:
    import errno

    lst, _ = make_scene(tmp_path)

    def refuse(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    assert bicubic(lst, tmp_path / "new" / "out.tif") == 2
    line = error_lines(capsys)[0]
    assert "Read-only file system" in line and "new" in line


def test_an_output_under_a_file_is_exit_2(tmp_path: Path, capsys) -> None:
    lst, _ = make_scene(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    assert bicubic(lst, tmp_path / "notes.txt" / "out.tif") == 2
    assert "is a file, not a folder" in error_lines(capsys)[0]


def test_a_failed_run_leaves_no_out_dir_it_created_and_keeps_an_existing_one(tmp_path: Path,
                                                                            capsys) -> None:
    values = 300 + np.zeros((40, 50))
    values[:10] = -9999  # an undeclared fill value: refused before anything is written
    lst = write_lst(tmp_path / "scene_lst.tif", values)
    make_scene(tmp_path, "donor")
    (tmp_path / "donor_guidance.tif").rename(tmp_path / "scene_guidance.tif")
    new = tmp_path / "new" / "deeper"
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "--out-dir", str(new)]) == 2
    assert not (tmp_path / "new").exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "--out-dir", str(kept)]) == 2
    assert kept.is_dir() and not any(kept.iterdir())
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "--out-dir", str(new),
                "--nodata", "-9999"]) == 0
    assert [p.name for p in new.iterdir()] == ["scene_lst_downscaled.tif"]


def test_a_path_that_is_not_utf8_is_exit_2(tmp_path: Path, capsys) -> None:
    lst, guidance = make_scene(tmp_path)
    odd = Path(os.fsdecode(bytes(tmp_path) + b"/\xff_lst.tif"))
    os.link(lst, odd)
    assert run(["-q", "downscale", str(odd), "-g", str(guidance), "--model", "bicubic",
                "-o", str(tmp_path / "o.tif")]) == 2
    line = error_lines(capsys)[0]
    assert "not valid UTF-8" in line and "\ufffd_lst.tif" in line


@pytest.mark.parametrize("crs, missing", [(None, "no geotransform and no CRS"), (UTM, "no geotransform")])
def test_a_raster_without_georeferencing_is_named_so(tmp_path: Path, capsys, crs, missing: str) -> None:
    # With a CRS but no transform: a netCDF whose x/y variables lack CF attributes reads so.
    lst, _ = make_scene(tmp_path)
    plain = write_lst(tmp_path / "plain_lst.tif", np.full((40, 50), 300.0), transform=Affine.identity(), crs=crs)
    (tmp_path / "scene_guidance.tif").rename(tmp_path / "plain_guidance.tif")
    assert bicubic(plain, tmp_path / "o.tif") == 2
    assert f"has no georeferencing ({missing})" in error_lines(capsys)[0]
    assert bicubic(plain, tmp_path / "o.tif", "--scale", "3") == 2  # without guidance too
    assert f"has no georeferencing ({missing})" in error_lines(capsys)[0]
    assert lst.exists()


def _netcdf(path: Path, variables: dict[str, np.ndarray], cf: bool) -> Path:
    """A netCDF of ``variables`` on a 30 m grid; with ``cf`` its x/y carry what GDAL georeferences by."""
    import rioxarray  # noqa: F401 - the .rio accessor
    import xarray as xr

    rows, cols = next(iter(variables.values())).shape
    coords = {"y": Y0 - 15 - 30 * np.arange(rows), "x": X0 + 15 + 30 * np.arange(cols)}
    ds = xr.Dataset({k: (("y", "x"), v) for k, v in variables.items()}, coords=coords)
    if cf:
        ds = ds.rio.write_crs(UTM).rio.write_coordinate_system()
    ds.to_netcdf(path, engine="scipy")
    return path


def test_netcdf_in_geotiff_out_and_a_container_of_variables_is_named_so(tmp_path: Path, capsys) -> None:
    lst = np.full((12, 16), 300.0, np.float32) + np.arange(16, dtype=np.float32) / 10
    one = _netcdf(tmp_path / "one.nc", {"LST": lst}, cf=True)
    assert bicubic(one, tmp_path / "one.tif", "--scale", "3") == 0
    with rasterio.open(tmp_path / "one.tif") as src:
        assert src.crs == UTM and src.transform == Affine(10, 0, X0, 0, -10, Y0) and src.shape == (36, 48)
    capsys.readouterr()
    two = _netcdf(tmp_path / "two.nc", {"LST": lst, "QC": np.zeros((12, 16), np.int16)}, cf=True)
    assert bicubic(two, tmp_path / "two.tif", "--scale", "3") == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"error: {two}: holds 2 subdatasets (netcdf:{two}:LST, netcdf:{two}:QC), not one raster (hint: "
        f"give one by its name, e.g. netcdf:{two}:LST, or extract it: gdal_translate netcdf:{two}:LST two_LST.tif)"]
    assert not (tmp_path / "two.tif").exists()


def test_a_grid_that_does_not_nest_comes_with_a_hint(tmp_path: Path, capsys) -> None:
    lst, _ = make_scene(tmp_path, guidance_shift=(4.0, 0.0))
    assert bicubic(lst, tmp_path / "o.tif") == 2
    line = error_lines(capsys)[0]
    assert "does not nest" in line and "hint:" in line and "groklst guidance" in line


# ---------------------------------------------------------------- real processes


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "groklst_cli", *args]


# GDAL_NUM_THREADS as a user may set it: with threaded writes GDAL lost write errors (exit 0,
# a damaged file published) until groklst pinned its writes to one thread.
GDAL_THREADS = [pytest.param(None, id="gdal-default"), pytest.param("ALL_CPUS", id="user-gdal-threads")]


def _gdal_env(threads: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "GDAL_NUM_THREADS"}
    return env if threads is None else {**env, "GDAL_NUM_THREADS": threads}


@pytest.mark.parametrize("threads", GDAL_THREADS)
def test_a_full_disk_or_size_limit_is_exit_2_one_line_no_partial(tmp_path: Path, threads: str | None) -> None:
    import resource

    lst, _ = make_scene(tmp_path, rows=120, cols=120, seed=3)
    out = tmp_path / "out.tif"

    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    proc = subprocess.run(_cli("-q", "downscale", str(lst), "--model", "bicubic", "-o", str(out)),
                          capture_output=True, text=True, timeout=180, preexec_fn=limit_file_size,
                          env=_gdal_env(threads))
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "writing failed" in lines[0] and str(out) in lines[0]
    assert "_tiffWriteProc" not in proc.stderr
    assert not out.exists() and not list(tmp_path.glob(".out.tif*"))


@pytest.mark.parametrize("threads", GDAL_THREADS)
@pytest.mark.parametrize("layout", [[], ["--overviews"], ["--cog"]])
def test_an_output_truncated_when_closed_is_refused(tmp_path: Path, layout: list[str],
                                                    threads: str | None) -> None:
    """GDAL flushes the last blocks (and overviews) when the file is closed, where rasterio does
    not raise: a limit one byte below the finished size must still fail, not publish."""
    import resource

    lst, _ = make_scene(tmp_path, rows=60, cols=60, seed=4)
    command = ["-q", "downscale", str(lst), "--model", "bicubic", *layout, "-o"]
    whole = tmp_path / "whole.tif"
    subprocess.run(_cli(*command, str(whole)), check=True, capture_output=True, timeout=180)
    size = whole.stat().st_size

    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size - 1, size - 1))

    out = tmp_path / "out.tif"
    proc = subprocess.run(_cli(*command, str(out)), capture_output=True, text=True, timeout=180,
                          preexec_fn=limit_file_size, env=_gdal_env(threads))
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith(f"error: {out}: writing failed"), lines
    assert ".partial" not in lines[0]
    assert not out.exists() and not list(tmp_path.glob(".out.tif*"))


def test_sigterm_cleans_up_like_ctrl_c(tmp_path: Path) -> None:
    lst, _ = make_scene(tmp_path, rows=90, cols=90)
    out = tmp_path / "out.tif"
    proc = subprocess.Popen(_cli("-q", "downscale", str(lst), "-o", str(out), "--tile", "48",
                                 "--overlap", "24", "--batch-size", "1"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not list(tmp_path.glob(".out.tif.*.partial")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be terminated"
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    assert "terminated" in stderr
    assert not out.exists() and not list(tmp_path.glob(".out.tif*"))


# ---------------------------------------------------------------- quality next to holes


def test_pixels_next_to_guidance_holes_stay_within_02_K_of_a_clean_run(tmp_path: Path, capsys) -> None:
    """A learned model's value next to a hole depends on data it cannot see; by default the
    pixels within 3 LR pixels of a hole are nodata and every pixel written stays within the
    0.2 K of tile-to-tile noise of a run without the hole. The JSON line and the output's tags
    say which margin was used and which share of the pixels has a value."""
    from scipy import ndimage

    assert run(["-q", "sample-scene", str(tmp_path), "--size", "64", "--seed", "11"]) == 0
    lst = tmp_path / "heihe_demo_lst.tif"
    holed = tmp_path / "holed_guidance.tif"
    with rasterio.open(tmp_path / "heihe_demo_guidance.tif") as src:
        data, profile, names = src.read(), src.profile, src.descriptions
    holes = np.zeros(data.shape[1:], bool)
    holes[40:70, 50:61] = holes[130:132, 20:22] = holes[100, 150] = holes[93:99, 94:99] = True
    data[:, holes] = np.nan
    with rasterio.open(holed, "w", **profile) as dst:
        dst.write(data)
        dst.descriptions = names
    tiling = ["--tile", "96", "--overlap", "24"]
    outputs = {}
    for name, guidance, extra, margin in (("clean", "heihe_demo_guidance.tif", [], 9),
                                          ("holed", holed.name, [], 9),
                                          ("keep", holed.name, ["--hole-margin", "0"], 0)):
        out = tmp_path / f"{name}.tif"
        capsys.readouterr()
        assert run(["-q", "downscale", str(lst), "-g", str(tmp_path / guidance), "-o", str(out),
                    *tiling, *extra, "--json"]) == 0
        line = json.loads(capsys.readouterr().out)
        with rasterio.open(out) as src:
            outputs[name] = src.read(1)
            assert src.tags()["hole_margin"] == str(margin)
        assert line["hole_margin"] == margin
        assert line["valid_fraction"] == pytest.approx(np.isfinite(outputs[name]).mean(), abs=1e-6)
    clean, holed_out, keep = outputs["clean"], outputs["holed"], outputs["keep"]
    with rasterio.open(lst) as src:  # the generator's LST has a few nodata pixels of its own
        lst_holes = np.kron(np.isnan(src.read(1)), np.ones((3, 3), bool))
    everywhere = holes | lst_holes
    distance = ndimage.distance_transform_cdt(~everywhere, metric="chessboard")
    assert (np.isfinite(holed_out) == (distance > 9)).all()  # 3 LR pixels of x3 around holes
    assert np.abs(holed_out - clean)[np.isfinite(holed_out)].max() < 0.2
    # Without the margin every pixel outside the holes is written, and next to them the value
    # depends on what the hole hides: this is what the default margin protects against.
    assert (np.isfinite(keep) == ~everywhere).all()
    assert np.isfinite(holed_out).mean() < np.isfinite(keep).mean() < 1
    near = np.isfinite(keep) & np.isfinite(clean) & (ndimage.distance_transform_cdt(~holes, metric="chessboard") <= 3)
    assert np.abs(keep - clean)[near].max() > 0.2


def test_fit_reads_the_lst_by_the_same_rule(tmp_path: Path, capsys) -> None:
    """--fit refuses an undeclared fill value before fitting, and fits on what --nodata leaves."""
    values = 300 + 3 * np.sin(np.arange(40 * 50).reshape(40, 50) / 17.0)
    values[:4] = -9999
    lst = write_lst(tmp_path / "scene_lst.tif", values)
    make_scene(tmp_path, "donor")
    (tmp_path / "donor_guidance.tif").rename(tmp_path / "scene_guidance.tif")
    out = tmp_path / "out.tif"
    started = time.perf_counter()
    cmd = ["-q", "downscale", str(lst), "--fit", "--model", "tsharp", "-o", str(out)]
    assert run(cmd) == 2
    assert "pass --nodata -9999" in error_lines(capsys)[0]
    assert time.perf_counter() - started < 20 and not out.exists()
    assert run(cmd + ["--nodata", "-9999"]) == 0
    with rasterio.open(out) as src:
        data = src.read(1)
    assert np.isnan(data[:12]).all() and 290 < np.nanmin(data) and np.nanmax(data) < 310


def test_a_failed_scene_leaves_no_folder_it_made(tmp_path: Path, capsys) -> None:
    """QA: -o a/b/out.tif for a refused scene left the empty folders a/b behind."""
    lst, _ = make_scene(tmp_path, lst_offset=500.0)  # 800 K: refused as implausible
    (tmp_path / "kept").mkdir()
    out = tmp_path / "kept" / "a" / "b" / "out.tif"
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(out)]) == 2
    assert "LST values" in capsys.readouterr().err
    assert list((tmp_path / "kept").iterdir()) == []  # a folder that existed stays


def test_a_scene_too_sparse_to_fit_is_its_own_json_line(tmp_path: Path, capsys) -> None:
    """QA: the error named no file and its JSON line said no scene ran ("input": null)."""
    lst, _ = make_scene(tmp_path)
    keep_every(lst, 5)
    out = tmp_path / "out.tif"
    assert run(["-q", "downscale", str(lst), "--fit", "--model", "tsharp", "-o", str(out), "--json"]) == 2
    captured = capsys.readouterr()
    line = json.loads(captured.out)
    assert line["input"] == str(lst) and line["output"] == str(out) and line["status"] == "error"
    assert line["error"].startswith(f"{lst}: too few valid pixels to fit a model on this scene")
    assert captured.err.count("error:") == 1 and not out.exists()


@pytest.mark.parametrize("name", ["out.png", "out.nc", "out.JPG"])
def test_an_output_named_as_another_format_is_refused(tmp_path: Path, capsys, name: str) -> None:
    """A GeoTIFF called out.png would mislead every tool that opens it."""
    lst, _ = make_scene(tmp_path)
    for command in (["downscale", str(lst), "--model", "bicubic"],
                    ["downscale", str(lst), "--fit", "--model", "tsharp"],
                    ["guidance", str(lst), str(lst), "--scale", "3"]):
        assert run(["-q", *command, "-o", str(tmp_path / name)]) == 2
        assert f"groklst writes GeoTIFF, not {Path(name).suffix.lower()}" in error_lines(capsys)[0]
    assert not list(tmp_path.glob("*out*"))
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(tmp_path / "out")]) == 0  # no extension
