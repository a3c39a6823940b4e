"""The fast inference paths are exact: channels_last, the depth-wise convolution rewrites,
batches across tile rows, compilation, and the allocator setting (speed lives in benchmarks/)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
import torch.nn.functional as F
from rasterio.windows import Window

from groklst_cli.app import run
from models.blocks import DepthwiseConv
from pipelines.checkpoint import Checkpoint, load_checkpoint
from pipelines.fill import fill_bands
from pipelines.infer import DEFAULT_CHECKPOINT, Execution, TilePredictor
from pipelines.normalize import normalize_guidance
from tests.test_downscale_learned import save_checkpoint
from tests.test_downscale import BANDS, make_scene

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_scenes"


@pytest.mark.parametrize("kernel,dilation", [(5, 1), (5, 2), (7, 3), (9, 4), (3, 5)])
@pytest.mark.parametrize("size", [(17, 23), (24, 24)])
def test_depthwise_conv_equals_the_dilated_convolution_in_both_layouts(kernel, dilation, size) -> None:
    torch.manual_seed(kernel + dilation)
    conv = DepthwiseConv(6, kernel, dilation)
    x = torch.randn(2, 6, *size)
    reference = F.conv2d(x, conv.weight, conv.bias, padding=conv.padding, dilation=conv.dilation,
                         groups=conv.groups)
    nchw = conv(x)
    channels_last = conv(x.contiguous(memory_format=torch.channels_last))
    assert nchw.shape == channels_last.shape == reference.shape
    assert torch.allclose(nchw, reference, atol=1e-5)
    assert torch.allclose(channels_last, reference, atol=1e-5)
    assert channels_last.is_contiguous(memory_format=torch.channels_last)


def _sample_tiles(rows: int = 40, cols: int = 40, count: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Real tiles of the shipped demo scene: LR (B, h, w) Kelvin and filled guidance."""
    lrs, guids = [], []
    with rasterio.open(SAMPLE / "heihe_demo_lst.tif") as lst, \
            rasterio.open(SAMPLE / "heihe_demo_guidance.tif") as guidance:
        for k in range(count):
            r, c = 30 * k, 40 * k  # the demo scene is 128 x 128 LR pixels
            lr = lst.read(1, window=Window(c, r, cols, rows)).astype(np.float32)
            lrs.append(np.where(np.isfinite(lr), lr, np.nanmean(lr)))
            g = guidance.read(window=Window(3 * c, 3 * r, 3 * cols, 3 * rows)).astype(np.float32)
            guids.append(fill_bands(g))
    return np.stack(lrs), np.stack(guids)


def test_fast_default_path_equals_plain_fp32_nchw_on_real_tiles() -> None:
    checkpoint = load_checkpoint(DEFAULT_CHECKPOINT)
    lr, guidance = _sample_tiles()
    device = torch.device("cpu")
    plain = TilePredictor(checkpoint, device, Execution.plain()).predict(lr, guidance)
    fast = TilePredictor(checkpoint, device, Execution()).predict(lr, guidance)
    assert fast.shape == plain.shape == (3, 120, 120)
    assert np.abs(fast - plain).max() < 1e-4
    assert np.abs(plain - np.repeat(np.repeat(lr, 3, 1), 3, 2)).max() > 0.5  # the network did work


@pytest.mark.parametrize("execution", [Execution(), Execution.plain()])
def test_guidance_input_is_the_z_score_bit_for_bit_in_the_model_layout(execution: Execution) -> None:
    checkpoint = load_checkpoint(DEFAULT_CHECKPOINT)
    _, guidance = _sample_tiles()
    predictor = TilePredictor(checkpoint, torch.device("cpu"), execution)
    made = predictor._guidance_input(guidance)
    layout = torch.channels_last if execution.channels_last else torch.contiguous_format
    assert made.is_contiguous(memory_format=layout)
    assert torch.equal(made, torch.from_numpy(normalize_guidance(guidance, checkpoint)))


def test_a_model_without_guidance_gets_none_and_its_plain_result(tmp_path: Path) -> None:
    """Interpolators (and EDSR/RCAN) ignore the guidance: it is neither normalised nor copied."""
    lr, guidance = _sample_tiles(count=2)
    predictor = TilePredictor(Checkpoint.untrained("bicubic", 3, BANDS), torch.device("cpu"))
    assert not predictor.uses_guidance
    seen = []
    predictor._forward = lambda lst, guid: seen.append(guid) or predictor.model(lst, guid)
    out = predictor.predict(lr, guidance)
    assert seen == [None]
    expected = F.interpolate(torch.from_numpy(lr[:, None]), scale_factor=3, mode="bicubic")
    assert np.allclose(out, expected[:, 0].numpy(), atol=1e-4)


def test_bf16_is_an_explicit_inexact_choice() -> None:
    checkpoint = load_checkpoint(DEFAULT_CHECKPOINT)
    lr, guidance = _sample_tiles(count=1)
    device = torch.device("cpu")
    assert TilePredictor(checkpoint, device).precision == "fp32"
    plain = TilePredictor(checkpoint, device, Execution.plain()).predict(lr, guidance)
    bf16 = TilePredictor(checkpoint, device, Execution(precision="bf16")).predict(lr, guidance)
    error = np.abs(bf16 - plain).max()
    assert 1e-4 < error < 1.0  # not exact, but close (README: measured error)


def test_compiled_model_equals_eager() -> None:
    """The compile path (wrapper, batch padding) on bicubic: compiling a real network takes
    minutes on 2 cores; benchmarks/downscale_speed.py --compile checks those outputs. Inductor
    reorders float32 arithmetic, so "equal" is within 1e-3 K here (a few ulp at 300 K)."""
    checkpoint = Checkpoint.untrained("bicubic", 3, list(BANDS))
    rng = np.random.default_rng(0)
    lr = (300 + rng.normal(0, 3, (3, 8, 8))).astype(np.float32)
    guidance = rng.normal(0, 1, (3, 10, 24, 24)).astype(np.float32)
    device = torch.device("cpu")
    eager = TilePredictor(checkpoint, device).predict(lr, guidance)
    compiled = TilePredictor(checkpoint, device, Execution(compile=True))
    full = compiled.predict(lr, guidance)
    partial = compiled.predict(lr[:2], guidance[:2])  # padded to the compiled batch, not recompiled
    assert np.abs(full - eager).max() < 1e-3 and np.abs(partial - eager[:2]).max() < 1e-3
    assert np.abs(partial - full[:2]).max() == 0


def test_batches_across_tile_rows_give_the_same_mosaic(tmp_path: Path) -> None:
    checkpoint = save_checkpoint(tmp_path / "tiny.pt")
    lst, _ = make_scene(tmp_path, rows=40, cols=40)
    outputs = []
    for batch in ("1", "3"):  # 2 tiles per row: batches of 3 span two rows
        out = tmp_path / f"b{batch}.tif"
        assert run(["-q", "downscale", str(lst), "-c", str(checkpoint), "-o", str(out), "--tile", "72",
                    "--overlap", "24", "--batch-size", batch]) == 0
        with rasterio.open(out) as src:
            outputs.append(src.read(1))
    assert np.isfinite(outputs[0]).sum() > 0.8 * outputs[0].size
    assert np.nanmax(np.abs(outputs[0] - outputs[1])) < 1e-4
    assert (np.isnan(outputs[0]) == np.isnan(outputs[1])).all()


def test_one_batch_in_flight_gives_the_same_mosaic_as_computing_each_batch_at_once(
        tmp_path: Path, monkeypatch) -> None:
    """What a GPU does asynchronously, simulated on the CPU: each batch's values are only
    computed when ``result()`` is called. Batch k+1 must be submitted before batch k is
    blended, and no row may be finished while a batch covering it is in flight."""
    import pipelines.downscale as ds

    checkpoint = save_checkpoint(tmp_path / "tiny.pt")
    lst, _ = make_scene(tmp_path, rows=40, cols=40)
    args = ["-q", "downscale", str(lst), "-c", str(checkpoint), "--tile", "72", "--overlap", "24",
            "--batch-size", "3"]
    assert run([*args, "-o", str(tmp_path / "eager.tif")]) == 0
    events: list[tuple[str, int]] = []

    class Deferred:
        def __init__(self, predictor, lr, guidance, k):
            self.compute, self.k = (lambda: predictor.predict(lr, guidance)), k

        def result(self):
            events.append(("result", self.k))
            return self.compute()

    def deferred_submit(predictor, lr, guidance):
        k = sum(1 for kind, _ in events if kind == "submit")
        events.append(("submit", k))
        return Deferred(predictor, lr, guidance, k)

    monkeypatch.setattr(ds, "submit", deferred_submit)
    assert run([*args, "-o", str(tmp_path / "deferred.tif")]) == 0
    batches = sum(1 for kind, _ in events if kind == "submit")
    assert batches >= 2
    for k in range(batches - 1):
        assert events.index(("submit", k + 1)) < events.index(("result", k))
    with rasterio.open(tmp_path / "eager.tif") as a, rasterio.open(tmp_path / "deferred.tif") as b:
        np.testing.assert_array_equal(a.read(1), b.read(1))


def test_plain_path_from_the_cli_matches_the_default(tmp_path: Path) -> None:
    checkpoint = save_checkpoint(tmp_path / "tiny.pt")
    lst, _ = make_scene(tmp_path, rows=30, cols=30)
    outputs = []
    for extra in ([], ["--plain"]):
        out = tmp_path / f"o{len(extra)}.tif"
        assert run(["-q", "downscale", str(lst), "-c", str(checkpoint), "-o", str(out), *extra]) == 0
        with rasterio.open(out) as src:
            outputs.append(src.read(1))
    assert np.nanmax(np.abs(outputs[0] - outputs[1])) < 1e-4


_ALLOCATOR_PROBE = """
import os, sys
from pipelines import allocator
first = allocator.keep_freed_memory()
second = allocator.keep_freed_memory()
print(first, second, allocator.applied())
"""

_CLI_PROBE = """
import sys
from pipelines import allocator
from groklst_cli import app
sys.argv = ["groklst", "--version"]
try:
    app.main()
except SystemExit:
    pass
print(allocator.applied())
"""


def _probe(code: str, **env: str) -> str:
    import os

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def test_allocator_setting_is_applied_once_and_can_be_turned_off() -> None:
    assert _probe(_ALLOCATOR_PROBE) == "True False True"
    assert _probe(_ALLOCATOR_PROBE, GROKLST_KEEP_FREED_MEMORY="0") == "False False False"
    assert _probe(_CLI_PROBE) == "True"
    assert _probe(_CLI_PROBE, GROKLST_KEEP_FREED_MEMORY="0") == "False"
