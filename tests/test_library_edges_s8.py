"""Library and benchmark edges (s8 F3): a non-bool Execution switch, a network's name given as an
interpolation, build_model's unknown name before its scale, --fit-seconds inf before torch loads,
and the speed benchmarks' sizes refused by argparse."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from models.registry import UnknownModelError, build_model
from pipelines.checkpoint import load_checkpoint
from pipelines.errors import InputError
from pipelines.infer import DEFAULT_CHECKPOINT, DEFAULT_MODEL, Execution, ModelSource

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("field", "value"), [("channels_last", "no"), ("compile", 1), ("compile", "false")])
def test_execution_refuses_a_switch_that_is_no_bool(field: str, value: object) -> None:
    """channels_last="no" is truthy and ran channels_last; now refused, naming the field and value."""
    with pytest.raises(InputError) as info:
        Execution(**{field: value})
    assert str(info.value) == f"Execution.{field}: must be True or False, not {value!r} (hint: pass a bool)"


def test_execution_keeps_bools() -> None:
    assert Execution(channels_last=False, compile=True).channels_last is False


def test_a_network_named_as_interpolation_is_told_to_load_its_weights() -> None:
    """'mocolsk' is a model, not an unknown interpolation: the hint says how to run it."""
    with pytest.raises(InputError) as info:
        ModelSource(interpolation="mocolsk")
    assert info.value.problem == "'mocolsk' is a network, not an interpolation: it runs from trained weights"
    assert info.value.hint.startswith("use ModelSource.from_checkpoint(path) "
                                      "(the shipped mocolsk-lite weights: pipelines.infer.DEFAULT_CHECKPOINT)")
    assert info.value.hint.endswith("interpolation takes bicubic, bilinear")
    assert load_checkpoint(DEFAULT_CHECKPOINT).model == DEFAULT_MODEL  # the hint names what is shipped


def test_an_unknown_interpolation_is_still_unknown() -> None:
    with pytest.raises(InputError, match=r"unknown interpolation 'bicubicx'"):
        ModelSource(interpolation="bicubicx")


@pytest.mark.parametrize("scale", [1, 2.5])
def test_build_model_names_an_unknown_model_before_the_scale(scale: float) -> None:
    """The name decides which scales are valid: a misspelt one was reported as a bad scale."""
    with pytest.raises(UnknownModelError, match=r"^unknown model 'nonsense'; known models: "):
        build_model("nonsense", scale=scale, guidance_channels=2)


def test_build_model_still_refuses_a_bad_scale_of_a_known_model() -> None:
    with pytest.raises(ValueError, match=r"scale must be an integer >= 2, got 1"):
        build_model("bicubic", scale=1, guidance_channels=2)


def test_fit_seconds_inf_is_refused_before_torch_loads(tmp_path: Path) -> None:
    """Refused while the options are read, as a misspelt --device is, not after torch's import."""
    code = ("import sys; from groklst_cli.app import run; "
            f"rc = run(['downscale', {str(tmp_path / 'lst.tif')!r}, '--fit', '--fit-seconds', 'inf']); "
            "print(rc, 'torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.stdout.split() == ["2", "False"]
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: --fit-seconds: 'inf' is not finite (hint: give the cap in seconds, e.g. --fit-seconds 600, "
        "or drop --fit-seconds for none)")


@pytest.mark.parametrize(("script", "args", "error"), [
    ("fit_speed.py", ["--size", "abc"], "argument --size: 'abc' is not a whole number"),
    ("fit_speed.py", ["--size", "0"], "argument --size: 0 must be at least 1"),
    ("fit_speed.py", ["--bands", "2,x"], "argument --bands: 'x' is not a whole number"),
    ("fit_speed.py", ["--scale", "1"], "argument --scale: 1 must be at least 2"),
    ("downscale_speed.py", ["--sizes", "999,abc"], "argument --sizes: 'abc' is not a whole number"),
    ("downscale_speed.py", ["--sizes", "2"], "argument --sizes: 2 below 3: an output is whole x3 LST pixels"),
    ("downscale_speed.py", ["--tile", "0"], "argument --tile: 0 must be at least 1"),
    ("fit_speed.py", ["--seed", "-1"], "argument --seed: -1 must be 0 or more"),  # review R4: tracebacks
    ("downscale_speed.py", ["--device", "nonsense", "--sizes", "9"],
     "argument --device: must be auto, cpu, cuda or cuda:N, not 'nonsense'"),
])
def test_speed_benchmarks_refuse_bad_sizes_with_argparse(script: str, args: list[str], error: str) -> None:
    """One argparse line and exit 2 (it was a traceback from int()); nothing is measured."""
    proc = subprocess.run([sys.executable, f"benchmarks/{script}", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines()[-1] == f"{script}: error: {error}"
    assert "Traceback" not in proc.stderr


def test_speed_benchmarks_parse_their_defaults() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import downscale_speed
        import fit_speed
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    assert fit_speed.parse_args([]).bands == [2, 10]
    assert downscale_speed.parse_args(["--sizes", "999,1998"]).sizes == [999, 1998]


def test_fit_speed_refuses_a_scene_too_small_to_fit_in_one_line() -> None:
    """Review R4: ``--size 2`` ended in an InputError traceback after the scene was written."""
    proc = subprocess.run([sys.executable, "benchmarks/fit_speed.py", "--size", "2", "--bands", "2"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 1 and proc.stdout == "" and "Traceback" not in proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("fit_speed.py: error: --size 2 --scale 4: ")
    assert line.endswith("is too small to fit a model at x4 (hint: give at least 24 x 24 LST pixels)")
