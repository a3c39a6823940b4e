"""Leftovers of the option and operator audits (fixer N2): choices read case-insensitively by
every command, infinities named as such, a bounded --dask-scheduler wait, --skip-existing over
a file that is no GeoTIFF, failed scenes' seconds, a full disk while writing the PNG, and a
ModelSource that is given its checkpoint's hash."""

from __future__ import annotations

import collections
import errno
import json
import time
from pathlib import Path

import matplotlib.figure
import pytest
import rasterio

from groklst_cli.app import run
from pipelines import geotiff, scenes


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("leftovers_n2")
    assert run(["-q", "sample-scene", str(folder), "--size", "24", "--with-truth"]) == 0
    return folder / "heihe_demo_lst.tif"


def _error_line(capsys) -> str:
    [line] = capsys.readouterr().err.strip().splitlines()
    return line


@pytest.mark.parametrize("options", [
    ["--units", "KELVIN", "--units-out", "Celsius", "--device", "CPU", "--precision", "FP32", "--model", "Bicubic"],
])
def test_downscale_reads_unit_and_device_choices_case_insensitively(scene: Path, tmp_path: Path, capsys,
                                                                    options: list[str]) -> None:
    out = tmp_path / "o.tif"
    assert run(["-q", "downscale", str(scene), *options, "-o", str(out)]) == 0
    with rasterio.open(out) as src:
        assert src.tags()["units"] == "degC"
    assert capsys.readouterr().err == ""


def test_compare_reads_aggregate_case_insensitively(scene: Path, capsys) -> None:
    truth = scene.parent / "heihe_demo_lst_fine.tif"
    assert run(["-q", "compare", str(scene), str(truth), "--aggregate", "RADIANCE", "--units", "Kelvin",
                "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "ok" and report["rows"][0]["rmse"] == pytest.approx(0.0, abs=1e-3)


def test_guidance_reads_refine_and_classes_case_insensitively(scene: Path, tmp_path: Path) -> None:
    source = scene.parent / "heihe_demo_guidance.tif"
    outputs = []
    for refine, classes in (("CUBIC", "MODE"), ("cubic", "mode")):
        outputs.append(tmp_path / f"{refine}.tif")
        assert run(["-q", "guidance", str(scene), str(source), "--scale", "3", "--refine", refine,
                    "--classes", classes, "-o", str(outputs[-1])]) == 0
    with rasterio.open(outputs[0]) as upper, rasterio.open(outputs[1]) as lower:
        assert (upper.read() == lower.read()).all() and upper.tags(1) == lower.tags(1)
        assert upper.tags(1)["resampling"] == "cubic"


def test_an_unknown_choice_is_still_refused_naming_the_option(scene: Path, capsys) -> None:
    truth = scene.parent / "heihe_demo_lst_fine.tif"
    assert run(["-q", "compare", str(scene), str(truth), "--aggregate", "Median"]) == 2
    assert _error_line(capsys) == "error: --aggregate: unknown aggregation 'Median' (hint: use kelvin or radiance)"


@pytest.mark.parametrize("value", ["inf", "-inf"])
def test_an_infinite_offset_is_not_finite(scene: Path, capsys, value: str) -> None:
    """QA: --offset inf was said to be outside the plausible range, NaN not to be finite."""
    assert run(["-q", "downscale", str(scene), "--model", "bicubic", f"--offset={value}"]) == 2
    assert _error_line(capsys) == f"error: --offset: must be a finite number, got {value}"


@pytest.mark.parametrize("psf", ["inf", "moffat:inf:2"])
def test_an_infinite_psf_width_says_it_is_not_finite(scene: Path, tmp_path: Path, capsys, psf: str) -> None:
    assert run(["downscale", str(scene), "-o", str(tmp_path / "o.tif"), "--fit", "--fit-psf", psf]) == 2
    assert _error_line(capsys) == (f"error: --fit-psf: '{psf}': the PSF width must be a finite number >= 0, "
                                   "got inf (hint: use auto, SIGMA, gaussian:SIGMA, moffat:ALPHA:BETA or 0)")
    assert not (tmp_path / "o.tif").exists()


def test_a_bounded_option_given_inf_says_it_is_not_finite(scene: Path, capsys) -> None:
    assert run(["-q", "downscale", str(scene), "--fit", "--fit-lr", "inf"]) == 2
    assert _error_line(capsys) == ("error: Invalid value for '--fit-lr': 'inf' is not finite "
                                   "(hint: groklst downscale --help)")


def test_a_port_with_nothing_listening_is_refused_within_seconds(scene: Path, tmp_path: Path, capsys) -> None:
    """QA: tcp://127.0.0.1:1 waited 15 s."""
    start = time.monotonic()
    assert run(["-q", "downscale", str(scene), "--model", "bicubic", "--out-dir", str(tmp_path),
                "--dask-scheduler", "tcp://127.0.0.1:1"]) == 2
    assert time.monotonic() - start < scenes.CONNECT_TIMEOUT_S + 5
    assert _error_line(capsys).startswith(
        "error: --dask-scheduler: nothing listens at tcp://127.0.0.1:1 (connection refused)")


@pytest.mark.parametrize("content", [b"", b"not a GeoTIFF"])
def test_skip_existing_refuses_an_output_that_is_no_geotiff(scene: Path, tmp_path: Path, capsys,
                                                            content: bytes) -> None:
    """QA: a 0-byte output was skipped as a finished scene."""
    out = tmp_path / "o.tif"
    out.write_bytes(content)
    assert run(["-q", "downscale", str(scene), "--model", "bicubic", "-o", str(out), "--skip-existing",
                "--json"]) == 2
    line = json.loads(capsys.readouterr().out)
    assert line["status"] == "error"
    hint = ("remove it, or pass --overwrite instead of --skip-existing" if not content  # an empty file is replaceable
            else "name another output, or move the file away yourself")  # another format: never replaced
    assert line["error"] == (f"{out}: exists but is not a readable GeoTIFF, so it is no finished scene "
                             f"(hint: {hint})")
    assert out.read_bytes() == content


def test_skip_existing_still_skips_a_finished_output(scene: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "o.tif"
    assert run(["-q", "downscale", str(scene), "--model", "bicubic", "-o", str(out)]) == 0
    before = out.read_bytes()
    capsys.readouterr()
    assert run(["-q", "downscale", str(scene), "--model", "bicubic", "-o", str(out), "--skip-existing",
                "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "skipped"
    assert out.read_bytes() == before


def test_a_failed_scene_reports_the_seconds_it_ran(scene: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    """QA: a failed scene's line said "seconds": 0.0."""
    def slow_failure(*args, **kwargs):
        time.sleep(0.2)
        raise RuntimeError("boom")

    monkeypatch.setattr(scenes, "downscale_scene", slow_failure)
    assert run(["-q", "downscale", str(scene), "--model", "bicubic", "-o", str(tmp_path / "o.tif"), "--json"]) == 1
    line = json.loads(capsys.readouterr().out)
    assert line["status"] == "failed" and line["seconds"] >= 0.2


def test_a_full_disk_while_writing_the_png_is_worded_as_the_geotiffs(scene: Path, tmp_path: Path, capsys,
                                                                     monkeypatch) -> None:
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(geotiff.shutil, "disk_usage", lambda _: usage(2**30, 2**30 - 3 * 2**20, 3 * 2**20))

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", full)
    out, png = tmp_path / "o.tif", tmp_path / "o.png"
    assert run(["-q", "downscale", str(scene), "--model", "bicubic", "-o", str(out)]) == 0
    assert run(["-q", "quicklook", str(out), "-o", str(png)]) == 2
    tiff_wording = str(geotiff.write_failed(out, RuntimeError("GDAL write error")))
    assert _error_line(capsys) == "error: " + tiff_wording.replace(str(out), str(png))
    assert not png.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["o.tif"]


def test_a_model_source_is_given_its_checkpoints_hash(tmp_path: Path) -> None:
    from pipelines.infer import ModelSource

    path = tmp_path / "net.pt"
    path.write_bytes(b"not hashed")
    source = ModelSource(interpolation="bicubic", checkpoint_path=path, checkpoint_sha256="ab" * 32)
    assert source.tags()["checkpoint_sha256"] == "ab" * 32


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without CUDA")
def test_a_missing_cuda_device_is_refused_with_a_hint(scene: Path, tmp_path: Path, capsys) -> None:
    assert run(["downscale", str(scene), "-o", str(tmp_path / "o.tif"), "--device", "CUDA"]) == 2
    assert _error_line(capsys) == ("error: --device: cuda was asked for but no CUDA device is available "
                                   "(hint: use --device auto (a GPU when there is one, else the CPU) or cpu)")
