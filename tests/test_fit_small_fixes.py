"""``downscale --fit``: the saved network is tagged only where it writes the output, and
``--compile``/``--plain`` reach the fitted network (a fallback's tags: tests/test_fit.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import rasterio
import torch

from groklst_cli.app import run
from pipelines.checkpoint import load_checkpoint
from pipelines.infer import Execution, TilePredictor
from tests.test_downscale_learned import save_checkpoint
from tests.test_fit import QUICK, nonlinear_scene, read, write_pair

NETWORK = ["--fit-iters", "4", *QUICK]


def tags(path: Path) -> dict[str, str]:
    with rasterio.open(path) as src:
        return src.tags()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def scene(folder: Path) -> Path:
    fine, guidance = nonlinear_scene(64, 2)
    return write_pair(folder, fine, guidance, 2, ["g1", "g2"])[0]


def test_a_saved_network_that_is_not_written_is_saved_but_not_tagged(tmp_path: Path, capsys) -> None:
    lst_path, out, ckpt = scene(tmp_path), tmp_path / "out.tif", tmp_path / "net.pt"
    # four iterations cannot beat tsharp on this scene; "best" writes tsharp alone
    assert run(["downscale", str(lst_path), "--fit", "--fit-candidates", "tsharp,mocolsk-lite",
                "--fit-select", "best", *NETWORK, "--save-checkpoint", str(ckpt), "-o", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out.strip().splitlines()[-1])["fit"]
    weights = {c["name"]: c["weight"] for c in report["candidates"]}
    assert (report["written"], weights) == ("tsharp", {"tsharp": 1.0, "mocolsk-lite": 0.0})
    assert load_checkpoint(ckpt).model == "mocolsk-lite"  # still saved, and said so
    assert f"saved the fitted mocolsk-lite network to {ckpt} (not part of the output" in captured.err
    written = tags(out)
    assert written["model"] == "tsharp" and written["checkpoint"] == "none (in memory, not saved)"
    assert "checkpoint_sha256" not in written and "precision" not in written
    assert written["fit"] == ("fitted on this scene (groklst downscale --fit): tsharp; the network "
                              "mocolsk-lite is saved (--save-checkpoint) but not part of this output")


def test_compile_reaches_the_fitted_network_and_its_saved_checkpoint_is_tagged(
        tmp_path: Path, monkeypatch) -> None:
    """Compiling the network on the CPU takes about 100 s on 2 cores (measured), so torch.compile
    is recorded here, not run; the compiled call is the module's own forward."""
    lst_path, ckpt = scene(tmp_path), tmp_path / "net.pt"
    eager, compiled = tmp_path / "eager.tif", tmp_path / "compiled.tif"
    args = ["downscale", str(lst_path), "--fit", "--model", "mocolsk-lite", *NETWORK]
    assert run([*args, "-o", str(eager)]) == 0
    compiles: list[tuple[str, bool]] = []

    def record(model: torch.nn.Module, dynamic: bool) -> torch.nn.Module:
        compiles.append((type(model).__name__, dynamic))
        return model

    monkeypatch.setattr(torch, "compile", record)
    assert run([*args, "--compile", "--save-checkpoint", str(ckpt), "-o", str(compiled)]) == 0
    assert compiles == [("MoCoLSKNet", False)]
    np.testing.assert_array_equal(read(compiled), read(eager))
    written = tags(compiled)
    assert written["checkpoint"] == str(ckpt.resolve()) and written["checkpoint_sha256"] == sha256(ckpt)
    assert written["fit"].endswith("; the network mocolsk-lite alone is saved")


def test_run_with_switches_a_built_network_to_the_plain_path(tmp_path: Path) -> None:
    checkpoint = load_checkpoint(save_checkpoint(tmp_path / "tiny.pt", scale=2, bands=["g1", "g2"]))
    rng = np.random.default_rng(0)
    lr = (300 + rng.normal(0, 3, (2, 8, 8))).astype(np.float32)
    guidance = rng.normal(0, 1, (2, 2, 16, 16)).astype(np.float32)
    device = torch.device("cpu")
    built = TilePredictor(checkpoint, device, Execution(precision="bf16"))  # channels_last
    channels_last = lambda: [not p.is_contiguous() for p in built.model.parameters() if p.dim() == 4]  # noqa: E731
    assert any(channels_last())
    built.run_with(Execution.plain())
    assert (built.precision, built.execution, any(channels_last())) == ("fp32", Execution.plain(), False)
    reference = TilePredictor(checkpoint, device, Execution.plain()).predict(lr, guidance)
    np.testing.assert_array_equal(built.predict(lr, guidance), reference)


def test_the_fit_table_names_a_stop_reason_only_when_a_candidate_stopped_early() -> None:
    """QA: rows read "300 + 300 steps (steps)" and "300 iterations (iterations)"."""
    from pipelines.scene_fit import _stop_reason

    assert [_stop_reason({"stopped": why}) for why in ("iterations", "steps", "early stopping", "time limit")] == [
        "", "", " (early stopping)", " (time limit)"]
