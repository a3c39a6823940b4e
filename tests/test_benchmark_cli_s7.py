"""Benchmarks' command lines as documented (QA s7): bad sizes refused up front, fit lines one a line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_guidance_memory_refuses_a_masked_source_without_valid_pixels_before_any_run() -> None:
    """--masked 300 has only its masked first 300 m block under the LST: one argparse line, exit 2."""
    proc = subprocess.run([sys.executable, "benchmarks/guidance_memory.py", "--width", "1", "--heights", "1",
                           "--masked", "300"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == ""
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith("guidance_memory.py: error: argument --masked: 300 below 330:")
    assert "Traceback" not in proc.stderr


def test_guidance_memory_help_states_the_masked_minimum(capsys: pytest.CaptureFixture[str]) -> None:
    """--help says the constraint the refusal enforces; sizes parse to whole numbers or are refused."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import guidance_memory
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    with pytest.raises(SystemExit):
        guidance_memory.parse_args(["--help"])
    assert "each at least 330" in " ".join(capsys.readouterr().out.split())
    with pytest.raises(SystemExit) as exit_info:
        guidance_memory.parse_args(["--masked", "330,abc"])
    assert exit_info.value.code == 2
    assert guidance_memory.parse_args(["--masked", "330", "--heights", "1,2"]).masked == [330]
    assert guidance_memory.parse_args([]).heights == [300, 1200, 2400]


def test_fit_speed_prints_each_fit_line_on_its_own(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """describe()'s lines reach stderr one a line, not as a Python list repr."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import fit_speed
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))

    class Stop(Exception):
        """Ends run() right after the fit report."""

    def stop(*args: object, **kwargs: object) -> None:
        raise Stop

    monkeypatch.setattr(fit_speed, "make_scene", lambda *args: None)
    monkeypatch.setattr(fit_speed, "fit_scene", lambda *args: SimpleNamespace(predictor=object()))
    lines = ["fit: x2 on 1 guidance band(s)", "  tsharp 0.1 K"]
    monkeypatch.setattr(fit_speed, "describe", lambda fitted: lines)
    monkeypatch.setattr(fit_speed, "downscale_scene", stop)
    with pytest.raises(Stop):
        fit_speed.run(4, 2, 1, 0)
    assert capsys.readouterr().err == "fit: x2 on 1 guidance band(s)\n  tsharp 0.1 K\n"


def test_model_cost_takes_commas_and_refuses_an_unknown_model_before_any_run() -> None:
    """``--models a,b`` as zoo.py takes it ran a model named "a,b": a traceback (QA s9)."""
    run = lambda *models: subprocess.run(  # noqa: E731
        [sys.executable, "benchmarks/model_cost.py", "--models", *models, "--repeats", "1", "--tile", "48",
         "--batch", "1"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    refused = run("bicubic,bogus")
    assert refused.returncode == 2 and refused.stdout == "" and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines()[-1].startswith(
        "model_cost.py: error: unknown model(s) bogus; known: bicubic, bilinear, mocolsk")
    names = lambda proc: [json.loads(line)["name"] for line in proc.stdout.splitlines()]  # noqa: E731
    assert names(run("bicubic,bilinear")) == ["bicubic", "bilinear"] == names(run("bicubic", "bilinear"))
