"""``downscale --fit``: the saved network is tagged only where it writes the output, a fallback's
tags say no fit was written, and ``--compile``/``--plain`` reach the fitted network."""

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


def test_a_fallback_to_bicubic_says_the_fit_was_not_written(tmp_path: Path, capsys) -> None:
    yy, xx = np.mgrid[0:64, 0:64]
    fine = (290 + 0.2 * yy + 0.1 * xx).astype(np.float32)  # a ramp: bicubic is near exact
    noise = np.random.default_rng(1).normal(0, 1, (1, 64, 64)).astype(np.float32)
    lst_path, _ = write_pair(tmp_path, fine, noise, 2, ["noise"])
    out, ckpt = tmp_path / "out.tif", tmp_path / "net.pt"
    assert run(["downscale", str(lst_path), "--fit", "--model", "mocolsk-lite", *NETWORK, "--fallback", "bicubic",
                "--save-checkpoint", str(ckpt), "-o", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out.strip().splitlines()[-1])["fit"]
    # on a ramp the residual spread beats plain bicubic on the held-out blocks: that is written
    assert (report["beats_bicubic"], report["written"]) == (False, "bicubic (residual spread)")
    assert ckpt.is_file() and "(not part of the output, which is not tagged with it)" in captured.err
    written = tags(out)
    assert written["model"] == "bicubic (residual spread)" and written["fit_residual"] == "smooth"
    assert not {"checkpoint_sha256", "precision", "fit_psf"} & written.keys()
    fitted, bicubic = report["held_out_fitted"]["rmse"], report["held_out_bicubic"]["rmse"]
    assert written["fit"] == (f"not written: the fit (mocolsk-lite, held-out RMSE {fitted:.3f} K) did not beat "
                              f"bicubic ({bicubic:.3f} K); bicubic (residual spread) written (--fallback bicubic)")


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
