"""Option values that hung or crashed (QA) are refused at once, exit 2, in one line naming the
option: guidance's --scale/--res, downscale's --fit-psf, --seed (with --fit) and --hole-margin.

Each test also makes the slow step fail if it is reached, so a refusal is known to come first."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from groklst_cli.app import run
from tests.conftest import write_canonical_scene

FIT = ["--fit", "--fit-candidates", "bicubic,tsharp"]


def _never(*_args, **_kwargs):
    raise AssertionError("the refusal must come before this step")


@pytest.fixture
def lst(tmp_path: Path) -> Path:
    """A 32 x 32 px 30 m LST with its 96 x 96 px 10 m guidance beside it (x3)."""
    return write_canonical_scene(tmp_path)[0]


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one error line of a run that must exit 2 at once (no work done: the work these
    options ask for would take hours; 10 s leaves room for a loaded CI and a first torch import)."""
    started = time.monotonic()
    status = run(argv)
    seconds = time.monotonic() - started
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and seconds < 10.0, (status, seconds, err)
    return err[-1]


@pytest.fixture
def no_guidance_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pipelines.guidance._producers", _never)


@pytest.fixture
def no_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pipelines.scene_fit.fit_scene", _never)


@pytest.mark.parametrize(("option", "grid"), [
    (["--scale", "100000"], "3200000 x 3200000"),
    (["--scale", "99999999999999999999"], "3199999999999999999968 x 3199999999999999999968"),
])
def test_guidance_refuses_a_grid_above_2_gpx(lst: Path, option: list[str], grid: str, capsys,
                                             no_guidance_built) -> None:
    out = lst.parent / "g.tif"
    line = _refused(["guidance", str(lst), str(lst.with_name("scene_guidance.tif")), "-o", str(out), *option], capsys)
    assert line == (f"error: --scale: the guidance grid would be {grid} px, above the 2 Gpx limit "
                    "(hint: pass a smaller --scale, or --force to write it anyway)")
    assert not out.exists()


def test_guidance_refuses_a_tiny_res_by_the_same_limit(lst: Path, capsys, no_guidance_built) -> None:
    line = _refused(["guidance", str(lst), str(lst.with_name("scene_guidance.tif")), "-o",
                     str(lst.parent / "g.tif"), "--res", "0.001"], capsys)
    assert line == ("error: --res: the guidance grid would be 960000 x 960000 px, above the 2 Gpx limit "
                    "(hint: pass a smaller --res, or --force to write it anyway)")


def _reached_the_work(status: int, capsys: pytest.CaptureFixture[str]) -> bool:
    """Whether the run went past the checks to the step :func:`_never` stands in for."""
    return status == 1 and "AssertionError: the refusal must come before this step" in capsys.readouterr().err


def test_guidance_force_lifts_the_limit(lst: Path, capsys, no_guidance_built) -> None:
    status = run(["guidance", str(lst), str(lst.with_name("scene_guidance.tif")), "-o", str(lst.parent / "g.tif"),
                  "--scale", "100000", "--force"])
    assert _reached_the_work(status, capsys)


@pytest.mark.parametrize("res", ["nan", "inf", "-inf"])
def test_guidance_refuses_a_res_that_is_not_finite(lst: Path, res: str, capsys, no_guidance_built) -> None:
    line = _refused(["guidance", str(lst), str(lst.with_name("scene_guidance.tif")), "-o",
                     str(lst.parent / "g.tif"), "--res", res], capsys)
    assert line == f"error: --res: must be a finite pixel size, got {res} (hint: e.g. --res 10 for 30 m -> 10 m)"


@pytest.mark.parametrize(("psf", "spec", "lst_pixels"), [
    ("1e9", "gaussian:1e+09", "3.33e+08"),
    ("moffat:31:2", "moffat:31:2", "10.3"),
])
def test_fit_refuses_a_psf_over_10_lst_pixels(lst: Path, psf: str, spec: str, lst_pixels: str, capsys,
                                              no_fit) -> None:
    line = _refused(["downscale", str(lst), "-o", str(lst.parent / "o.tif"), *FIT, "--fit-psf", psf], capsys)
    assert line == (f"error: --fit-psf: {spec} is {lst_pixels} LST pixels wide (the width is in guidance pixels, "
                    "3 per LST pixel here); at most 10 LST pixels (30) is taken (hint: use auto, or a width up to 30)")


def test_fit_takes_a_psf_of_10_lst_pixels(lst: Path, capsys, no_fit) -> None:
    """The bound itself is taken: the run goes on to the fit."""
    status = run(["downscale", str(lst), "-o", str(lst.parent / "o.tif"), *FIT, "--fit-psf", "30"])
    assert _reached_the_work(status, capsys)


@pytest.mark.parametrize("seed", ["-1", "18446744073709551616"])
def test_fit_refuses_a_seed_as_train_does(lst: Path, seed: str, capsys, no_fit) -> None:
    line = _refused(["downscale", str(lst), "-o", str(lst.parent / "o.tif"), *FIT, "--seed", seed], capsys)
    assert line == (f"error: --seed: must be an integer from 0 to 18446744073709551615, not {seed} "
                    "(hint: torch and NumPy take non-negative seeds)")


@pytest.mark.parametrize("margin", ["10001", "99999999999999999999"])
def test_downscale_refuses_a_hole_margin_over_10000(lst: Path, margin: str, capsys, monkeypatch) -> None:
    monkeypatch.setattr("pipelines.scenes.run_local", _never)
    line = _refused(["downscale", str(lst), "-o", str(lst.parent / "o.tif"), "--model", "bicubic",
                     "--hole-margin", margin], capsys)
    assert line == ("error: Invalid value for '--hole-margin': Input should be less than or equal to 10000 "
                    "(hint: groklst downscale --help)")
