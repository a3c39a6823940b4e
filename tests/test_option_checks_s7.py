"""Option checks that came late or not at all (task s7/H2): an unknown --device or --precision
refused while the options are parsed, before torch is imported for it; an infinite
--fit-seconds (and train's --max-seconds) refused as --threads refuses one; ``--config -x``
hinted at as the other file options are."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from groklst_cli import choices
from groklst_cli.app import run

DEVICE_HINT = "(hint: use --device auto (a GPU when there is one, else the CPU) or cpu)"


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 16 x 16 sample scene's LST (its guidance beside it)."""
    folder = tmp_path_factory.mktemp("scene")
    assert run(["-q", "sample-scene", str(folder), "--size", "16", "--name", "s"]) == 0
    return folder / "s_lst.tif"


def _error_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def _run_apart(args: list[str]) -> dict[str, object]:
    """``groklst ARGS`` in a fresh Python: its exit status, whether torch was imported, its stderr."""
    code = ("import json, sys; from groklst_cli.app import run; status = run(sys.argv[1:]); "
            "print(json.dumps({'status': status, 'torch': 'torch' in sys.modules}))")
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    return {**json.loads(done.stdout.splitlines()[-1]), "stderr": done.stderr.strip()}


@pytest.mark.parametrize(("extra", "message"), [
    (["--device", "cudax"], f"error: --device: must be auto, cpu, cuda or cuda:N, not 'cudax' {DEVICE_HINT}"),
    (["--device", "CUDA:X"], f"error: --device: must be auto, cpu, cuda or cuda:N, not 'CUDA:X' {DEVICE_HINT}"),
    (["--precision", "fp64"], "error: --precision: must be one of auto, fp32, bf16, fp16, not 'fp64' "
                              "(hint: use --precision auto, or fp32 for exact results)"),
])
def test_unknown_device_or_precision_is_refused_before_torch_is_imported(scene: Path, tmp_path: Path,
                                                                        extra: list[str], message: str) -> None:
    """downscale imported torch (5-8 s) before refusing a misspelt --device or --precision."""
    outcome = _run_apart(["downscale", str(scene), "--model", "bicubic", "-o", str(tmp_path / "o.tif"), *extra])
    assert outcome == {"status": 2, "torch": False, "stderr": message}
    assert not (tmp_path / "o.tif").exists()


def test_train_refuses_an_unknown_device_before_torch_too(tmp_path: Path) -> None:
    outcome = _run_apart(["train", str(tmp_path), "-o", str(tmp_path / "run"), "--device", "tpu"])
    assert outcome == {"status": 2, "torch": False,
                       "stderr": f"error: --device: must be auto, cpu, cuda or cuda:N, not 'tpu' {DEVICE_HINT}"}


def test_the_names_checked_at_parse_time_are_those_torch_is_run_with() -> None:
    from pipelines.devices import DEVICES, PRECISIONS

    assert (choices.DEVICES, choices.PRECISIONS) == (DEVICES, PRECISIONS)


def test_known_devices_and_precisions_pass_in_any_case(scene: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.tif"
    assert run(["-q", "downscale", str(scene), "--model", "bicubic", "--device", "CPU", "--precision", "FP32",
                "-o", str(out)]) == 0
    assert out.is_file()


def test_an_infinite_fit_time_cap_is_refused_in_one_line(scene: Path, tmp_path: Path, capsys) -> None:
    """--fit-seconds inf was taken (typer's min=0.1 lets an infinity through), where --threads inf is refused."""
    assert run(["downscale", str(scene), "--fit", "--fit-seconds", "inf", "-o", str(tmp_path / "o.tif")]) == 2
    assert _error_lines(capsys) == ["error: --fit-seconds: 'inf' is not finite (hint: give the cap in seconds, "
                                    "e.g. --fit-seconds 600, or drop --fit-seconds for none)"]


def test_an_infinite_train_time_limit_is_refused_too(tmp_path: Path, capsys) -> None:
    assert run(["train", str(tmp_path), "-o", str(tmp_path / "run"), "--max-seconds", "inf"]) == 2
    assert _error_lines(capsys) == ["error: --max-seconds: must be a positive number of seconds, not inf "
                                    "(hint: drop --max-seconds for no time limit)"]
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("value", ["-x", "--resume"])
def test_a_config_name_that_reads_like_an_option_is_hinted_at(tmp_path: Path, value: str, capsys,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """``--config -x`` said ``./-x: config file not found`` with no hint (``--config --resume``: the
    file's name left out, --resume taken for it)."""
    monkeypatch.chdir(tmp_path)
    assert run(["train", "ds", "-o", "run", "--config", value]) == 2
    assert _error_lines(capsys) == [f"error: ./{value}: config file not found (hint: give the file's name after "
                                    f"--config: {value} reads like an option; ./{value} names a file literally "
                                    f"called {value})"]


def test_a_config_file_whose_name_starts_with_a_dash_is_read(tmp_path: Path, capsys,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A file that is there is read, whatever its name: its bad setting is what is refused."""
    monkeypatch.chdir(tmp_path)
    Path("-x").write_text("[train]\nweight-decay = nan\n")
    assert run(["train", "ds", "-o", "run", "--config", "-x"]) == 2
    assert "(weight_decay): must be a finite number >= 0, not nan" in _error_lines(capsys)[0]
