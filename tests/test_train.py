"""The training loop: reproducibility, resume equivalence, checkpoints, distributed runs."""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import pipelines.train as train_module
from groklst_cli.app import run
from pipelines.augment import augment
from pipelines.checkpoint import load_checkpoint
from pipelines.dataset import NormStats
from pipelines.errors import InputError
from pipelines.evaluate import checkpoint_predictor
from pipelines.run_layout import BEST, LAST, METRICS_FILE, STATE
from pipelines.train import Limits, check_scale_and_crop, fit, masked_l1
from pipelines.train_config import TrainConfig, merge_config, read_config_file
from pipelines.train_data import batch_positions, sample_index
from tests.conftest import prepare_generated_dataset

TINY = {"base_dim": 8, "num_stages": 2, "dmlp_hidden": 8, "recon_lr_blocks": 1}
SCALE = 2


class FakeSource:
    """Six 24 px patches of 3 bands; HR LST a linear mix of the bands, LR its block mean."""

    def __init__(self, bands: tuple[str, ...] = ("a", "b", "c"), patch: int = 24, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.bands = list(bands)
        self.scales = [SCALE]
        self.patch = patch
        self.hr_resolution = 10.0
        self.hr_resolution_units = "m"
        self.items = []
        for _ in range(6):
            guidance = rng.normal(size=(len(bands), patch, patch)).astype(np.float32)
            hr = (300 + 4 * guidance[0] - 2 * guidance[-1]).astype(np.float32)
            n = patch // SCALE
            lr = hr.reshape(n, SCALE, n, SCALE).mean(axis=(1, 3)).astype(np.float32)
            self.items.append((lr, guidance, hr))
        self.items[1][2][:3, :5] = np.nan  # some nodata in a target
        self.stats = NormStats(300.0, 4.5, [0.0] * len(bands), [1.0] * len(bands))

    def indices(self, split: str) -> list[int]:
        return {"train": [0, 1, 2, 3], "val": [4], "test": [5]}[split]

    def read(self, index: int, scale: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lr, guidance, hr = self.items[index]
        return lr.copy(), guidance.copy(), hr.copy()


def config(**overrides: object) -> TrainConfig:
    settings = dict(model="mocolsk-lite", scale=SCALE, iters=4, batch_size=2, crop=12,
                    val_every=2, seed=3, device="cpu", model_kwargs=TINY)
    settings.update(overrides)
    return TrainConfig(**settings)  # type: ignore[arg-type]


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_seeded_runs_are_reproducible_and_seeds_matter() -> None:
    first = weights(fit(FakeSource(), config()).model)
    second = weights(fit(FakeSource(), config()).model)
    assert_same_weights(first, second)
    other = weights(fit(FakeSource(), config(seed=4)).model)
    assert any(not torch.equal(first[k], other[k]) for k in first)


def assert_same_runs(a: Path, b: Path) -> None:
    """The same metrics lines, and best.pt and last.pt of the same iterations and weights."""
    assert (a / METRICS_FILE).read_text() == (b / METRICS_FILE).read_text()
    for name in (BEST, LAST):
        first, second = load_checkpoint(a / name), load_checkpoint(b / name)
        assert first.config == second.config, name
        assert_same_weights(first.state_dict, second.state_dict)


@pytest.fixture
def stop_scores_best(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Validations at the iterations in the returned list score an RMSE of 0: were a stop there
    validated, it would become the best."""
    stops: list[int] = []
    real = train_module._Run.validate

    def validate(self: train_module._Run) -> dict[str, float]:
        metrics = real(self)
        return {**metrics, "rmse": 0.0} if self.iteration in stops else metrics

    monkeypatch.setattr(train_module._Run, "validate", validate)
    return stops


@pytest.mark.parametrize("stop", [1, 3, 4])  # before the first validation, between two, at one
def test_a_stopped_and_resumed_run_ends_as_an_uninterrupted_one(stop: int, tmp_path: Path,
                                                                 stop_scores_best: list[int]) -> None:
    """QA: a stop validated, logged a line, and its validation competed for best.pt."""
    stop_scores_best.append(stop)
    settings = config(iters=5)  # validates at iterations 2, 4 and 5
    straight = fit(FakeSource(), settings, tmp_path / "straight")
    paused_dir = tmp_path / "paused"
    paused = fit(FakeSource(), settings, paused_dir, limits=Limits(max_iters=stop))
    assert not paused.finished and paused.iteration == stop
    assert [r["iteration"] for r in paused.history] == [i for i in (2, 4) if i <= stop]
    assert load_checkpoint(paused_dir / LAST).config["iteration"] == stop
    assert torch.load(paused_dir / STATE, weights_only=True)["iteration"] == stop
    assert (paused_dir / BEST).is_file() == (stop >= 2)
    resumed = fit(FakeSource(), settings, paused_dir, resume=True)
    assert resumed.finished and resumed.iteration == 5
    assert resumed.best == straight.best and resumed.history == straight.history
    assert_same_weights(weights(straight.model), weights(resumed.model))
    assert_same_runs(tmp_path / "straight", paused_dir)


def test_a_stop_without_a_run_directory_ends_the_fit_with_a_validation(stop_scores_best: list[int]) -> None:
    """Nothing can resume it: the stop is its end, validated and competing for the best."""
    stop_scores_best.append(3)
    outcome = fit(FakeSource(), config(iters=5), limits=Limits(max_iters=3), keep_best=True)
    assert [r["iteration"] for r in outcome.history] == [2, 3]
    assert outcome.best is not None and outcome.best["iteration"] == 3


def test_a_stop_after_a_diverged_iteration_saves_nothing(tmp_path: Path) -> None:
    """A stop saves no validation, yet no weights of a NaN loss either."""
    with pytest.raises(InputError, match="training diverged: the train loss is nan at iteration 2"):
        fit(FakeSource(), config(iters=8, val_every=4, lr=1e6), tmp_path / "run", limits=Limits(max_iters=2))
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


def test_metrics_log_the_learning_rate_each_logged_iteration_used(tmp_path: Path) -> None:
    """The cosine schedule restarts every 2 iterations: iteration 2 ran at the cycle's midpoint,
    and the peak rate it restarts at belongs to iteration 3."""
    settings = config(iters=4, lr=1e-3, min_lr=1e-5, restart_every=2)
    history = fit(FakeSource(), settings, tmp_path / "run").history
    midpoint = 1e-5 + (1e-3 - 1e-5) * (1 + np.cos(np.pi / 2)) / 2
    assert [record["lr"] for record in history] == pytest.approx([midpoint, midpoint])
    logged = [json.loads(line)["lr"] for line in (tmp_path / "run" / METRICS_FILE).read_text().splitlines()]
    assert logged == pytest.approx([midpoint, midpoint])


def test_resume_refuses_another_model(tmp_path: Path) -> None:
    fit(FakeSource(), config(iters=2), tmp_path)
    with pytest.raises(InputError, match="model_kwargs"):
        fit(FakeSource(), config(iters=2, model_kwargs={**TINY, "base_dim": 12}), tmp_path, resume=True)
    with pytest.raises(InputError, match="bands"):
        fit(FakeSource(bands=("a", "b", "d")), config(iters=2), tmp_path, resume=True)


def test_checkpoint_carries_everything(tmp_path: Path) -> None:
    source = FakeSource()
    outcome = fit(source, config(), tmp_path)
    for name in (BEST, LAST, STATE, "metrics.jsonl"):
        assert (tmp_path / name).is_file()
    ckpt = load_checkpoint(tmp_path / LAST)
    assert (ckpt.model, ckpt.scale, ckpt.bands) == ("mocolsk-lite", SCALE, ["a", "b", "c"])
    assert (ckpt.lst_mean, ckpt.lst_std) == (300.0, 4.5)
    assert ckpt.band_mean == [0.0, 0.0, 0.0] and ckpt.band_std == [1.0, 1.0, 1.0]
    assert ckpt.model_kwargs == TINY and ckpt.hr_resolution == 10.0 and ckpt.hr_resolution_units == "m"
    assert ckpt.config["iters"] == 4 and ckpt.config["seed"] == 3 and ckpt.config["iteration"] == 4
    assert ckpt.config["val"]["images"] == 1
    assert ckpt.groklst_version
    assert not any(k.startswith("module.") for k in ckpt.state_dict)
    assert_same_weights(ckpt.state_dict, weights(outcome.model))
    best = load_checkpoint(tmp_path / BEST)
    assert best.config["val"]["rmse"] == pytest.approx(outcome.best["rmse"])
    assert outcome.best["rmse"] == min(r["val_rmse"] for r in outcome.history)
    # The rebuilt model predicts exactly what the trained one does.
    lr, guidance, _ = source.read(5, SCALE)
    predict = checkpoint_predictor(ckpt, tmp_path / LAST, source, SCALE, torch.device("cpu"))
    with torch.no_grad():
        direct = outcome.model.eval()(
            torch.from_numpy((lr - 300) / 4.5)[None, None], torch.from_numpy(guidance)[None]
        )[0, 0].numpy() * 4.5 + 300
    np.testing.assert_allclose(predict(lr, guidance), direct, rtol=0, atol=1e-4)


def test_fit_refuses_numbers_torch_cannot_use(tmp_path: Path) -> None:
    for overrides, fragment in (({"lr": float("nan")}, "--lr: must be a finite number > 0, not nan"),
                                ({"weight_decay": float("inf")}, "--weight-decay: must be a finite number"),
                                ({"min_lr": -1.0}, "--min-lr: must be a finite number >= 0, not -1.0"),
                                ({"seed": -1}, "--seed: must be an integer from 0")):
        with pytest.raises(InputError) as caught:
            fit(FakeSource(), config(**overrides), tmp_path / "run")
        assert fragment in str(caught.value)
    assert not (tmp_path / "run").exists()


class NoValSource(FakeSource):
    """FakeSource whose validation split is empty."""

    def indices(self, split: str) -> list[int]:
        return [] if split == "val" else super().indices(split)


def test_without_validation_only_last_pt_is_written(tmp_path: Path) -> None:
    outcome = fit(NoValSource(), config(iters=2, val_every=1), tmp_path)
    assert outcome.best is None and outcome.finished
    assert not (tmp_path / BEST).exists()
    assert load_checkpoint(tmp_path / LAST).config["iteration"] == 2
    assert [r["iteration"] for r in outcome.history] == [1, 2]


def test_mismatched_checkpoint_is_refused(tmp_path: Path) -> None:
    fit(FakeSource(), config(iters=1, val_every=1), tmp_path)
    ckpt = load_checkpoint(tmp_path / BEST)
    cpu = torch.device("cpu")
    with pytest.raises(InputError) as missing:
        checkpoint_predictor(ckpt, tmp_path / BEST, FakeSource(bands=("a", "b", "x")), SCALE, cpu)
    assert str(missing.value) == (  # QA: Python lists and no hint; now downscale's words
        f"{tmp_path / BEST}: the dataset is missing guidance band(s) c (has a, b, x) (hint: evaluate a "
        "checkpoint trained on this dataset's bands, or a dataset prepared with the checkpoint's (groklst "
        f"checkpoint-info {tmp_path / BEST} lists them; prepare --guidance-bands names a scene's bands in file order))")
    with pytest.raises(InputError) as extra:
        checkpoint_predictor(ckpt, tmp_path / BEST, FakeSource(bands=("a", "x", "b", "c", "y")), SCALE, cpu)
    assert str(extra.value).startswith(f"{tmp_path / BEST}: the dataset has guidance band(s) x, y the checkpoint "
                                       "was not trained with (it was trained with a, b, c) (hint: evaluate a ")
    with pytest.raises(InputError, match="x4"):
        checkpoint_predictor(ckpt, tmp_path / BEST, FakeSource(), 4, cpu)


def test_band_order_follows_the_checkpoint(tmp_path: Path) -> None:
    source = FakeSource()
    fit(source, config(iters=1, val_every=1), tmp_path)
    ckpt = load_checkpoint(tmp_path / BEST)
    shuffled = FakeSource(bands=("c", "a", "b"))
    shuffled.items = [(lr, g[[2, 0, 1]], hr) for lr, g, hr in source.items]
    cpu = torch.device("cpu")
    lr, guidance, _ = source.read(5, SCALE)
    expected = checkpoint_predictor(ckpt, "x", source, SCALE, cpu)(lr, guidance)
    got = checkpoint_predictor(ckpt, "x", shuffled, SCALE, cpu)(*shuffled.read(5, SCALE)[:2])
    np.testing.assert_array_equal(got, expected)


def test_early_stopping_and_time_limit() -> None:
    seen: list[int] = []

    def stop_now(iteration: int, metrics: dict[str, float]) -> bool:
        seen.append(iteration)
        return metrics["rmse"] >= 0

    outcome = fit(FakeSource(), config(iters=8), on_validation=stop_now)
    assert seen == [2] and outcome.iteration == 2 and not outcome.finished
    timed = fit(FakeSource(), config(iters=50), limits=Limits(max_seconds=0.0))
    assert timed.iteration == 1 and not timed.finished


def test_masked_l1_ignores_nodata_targets() -> None:
    pred = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    target = torch.tensor([[2.0, float("nan")], [3.0, 0.0]])
    loss = masked_l1(pred, target)
    assert loss.item() == pytest.approx((1 + 0 + 4) / 3)
    loss.backward()
    assert pred.grad is not None and pred.grad[0, 1] == 0
    assert masked_l1(pred, torch.full((2, 2), float("nan"))).item() == 0.0


def test_augment_keeps_lr_and_hr_registered() -> None:
    rng = np.random.default_rng(0)
    hr = rng.normal(300, 3, (24, 24)).astype(np.float32)
    lr = hr.reshape(8, 3, 8, 3).mean(axis=(1, 3))
    guidance = np.stack([hr * 2, -hr])
    for _ in range(8):
        lr_c, g_c, hr_c = augment(lr, guidance, hr, 3, 12, rng)
        assert lr_c.shape == (4, 4) and g_c.shape == (2, 12, 12) and hr_c.shape == (12, 12)
        np.testing.assert_allclose(hr_c.reshape(4, 3, 4, 3).mean(axis=(1, 3)), lr_c, rtol=1e-6)
        np.testing.assert_array_equal(g_c[0], hr_c * 2)


def test_data_order_is_a_seeded_permutation_per_epoch() -> None:
    train = [10, 11, 12, 13, 14]
    epoch0 = [sample_index(train, 7, p) for p in range(5)]
    epoch1 = [sample_index(train, 7, p) for p in range(5, 10)]
    assert sorted(epoch0) == train and sorted(epoch1) == train
    assert epoch0 == [sample_index(train, 7, p) for p in range(5)]
    # Two ranks with batch 2 cover what one process with batch 4 does.
    assert batch_positions(3, 2, 0, 2) + batch_positions(3, 2, 1, 2) == batch_positions(3, 4, 0, 1)


def test_config_file_and_precedence(tmp_path: Path) -> None:
    toml = tmp_path / "train.toml"
    toml.write_text('[train]\nmodel = "MoCoLSK-Lite"\ndevice = "CPU"\nprecision = "FP32"\nbatch-size = 8\nlr = 2e-4\n')
    settings = read_config_file(toml)  # choices read case-insensitively, as on the command line
    merged = merge_config(settings, {"lr": 5e-4, "iters": None})
    assert (merged.model, merged.batch_size, merged.lr, merged.iters) == ("mocolsk-lite", 8, 5e-4, 10_000)
    assert (merged.device, merged.precision) == ("cpu", "fp32")
    yaml_file = tmp_path / "train.yaml"
    yaml_file.write_text("scale: 8\ncrop: 64\n")
    assert read_config_file(yaml_file) == {"scale": 8, "crop": 64}
    bad = tmp_path / "bad.toml"
    bad.write_text("learning_rate = 1\n")
    with pytest.raises(InputError, match="unknown settings"):
        read_config_file(bad)
    with pytest.raises(InputError, match="multiple of the scale"):
        merge_config({}, {"scale": 4, "crop": 30})


# --- the CLI on a real prepared dataset, single process and torchrun with 2 gloo ranks ------


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_generated_dataset(tmp_path_factory.mktemp("prepared"), (SCALE,))


CLI_TRAIN = ["--model", "mocolsk-lite", "--scale", "2", "--batch-size", "2", "--crop", "12",
             "--val-every", "2", "--seed", "5", "--device", "cpu", "--model-kwargs", json.dumps(TINY)]


def test_a_max_seconds_stop_resumes_into_the_uninterrupted_run(dataset: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """QA: the stop's validation chose another best.pt and added a metrics line."""
    ticks = itertools.count()
    monkeypatch.setattr(train_module, "monotonic", lambda: float(next(ticks)))  # 1 s per iteration
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert run(["-q", "train", str(dataset), "-o", str(straight), "--iters", "5", *CLI_TRAIN]) == 0
    assert run(["-q", "train", str(dataset), "-o", str(stopped), "--iters", "5", *CLI_TRAIN,
                "--max-seconds", "2.5"]) == 0
    assert [json.loads(line)["iteration"] for line in (stopped / METRICS_FILE).read_text().splitlines()] == [2]
    assert "warning: stopped at iteration 3/5: last.pt holds its weights" in capsys.readouterr().err
    assert load_checkpoint(stopped / LAST).config["iteration"] == 3
    assert load_checkpoint(stopped / BEST).config["iteration"] == 2
    assert run(["-q", "train", str(dataset), "-o", str(stopped), "--resume"]) == 0
    assert_same_runs(straight, stopped)
    # the run asked for the CPU: resumed without --device it keeps asking for it (it was reset to auto)
    assert load_checkpoint(stopped / LAST).config["requested_device"] == "cpu"


def error_line(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one error line of ``groklst train`` with ``args`` (exit status 2)."""
    assert run(["-q", "train", *args]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, lines
    return lines[0]


def test_the_first_refusal_names_the_first_thing_to_fix(dataset: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """QA: a scale the dataset lacks was refused as a crop no multiple of it, or as a scale the
    model cannot be built at; a crop beyond the patches got the hint of a larger one."""
    out = tmp_path / "run"
    scale_file = tmp_path / "train.toml"
    scale_file.write_text("scale = 5\n")
    base = [str(dataset), "-o", str(out), "--iters", "2", *CLI_TRAIN]
    lacking = "the dataset has scales [2], not x{} (hint: prepare it with that scale in --scales)"
    cases = [(["--scale", "5"], "--scale: " + lacking.format(5)),
             (["--scale", "3", "--model", "rsag"], "--scale: " + lacking.format(3)),
             (["--crop", "27"], "--crop: crop 27 px is larger than the 24 px patches "
                                "(hint: use a multiple of 2 up to 24)"),
             (["--model", "rsag"], "--model: rsag works at x4, x8, x16 only, not x2 (hint: train a model that "
                                   "works at x2 (groklst models lists each one's scales))")]
    for args, expected in cases:
        assert error_line(base + args, capsys) == f"error: {expected}", args
    in_file = [str(dataset), "-o", str(out), "--config", str(scale_file), "--crop", "12"]  # the default crop is 192
    assert error_line(in_file, capsys) == f"error: {scale_file} (scale): " + lacking.format(5)
    assert not out.exists()


def test_a_resume_compares_the_settings_given_with_the_run_s(dataset: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """QA: the defaults (scale 4, crop 192) stood in for the settings not given, so a resume with
    --crop 30 was refused as no multiple of the scale 4."""
    out = tmp_path / "run"
    assert run(["-q", "train", str(dataset), "-o", str(out), "--iters", "2", *CLI_TRAIN]) == 0
    for option, value, saved in (("--crop", "30", "12"), ("--scale", "5", "2")):
        line = error_line([str(dataset), "-o", str(out), "--resume", option, value], capsys)
        assert line == (f"error: {option}: the run in {out} was started with {option[2:]}={saved}, "
                        f"not {value} (hint: a resumed run keeps its settings)")


def test_every_crop_hint_is_accepted() -> None:
    """A refused crop's hint names a crop the same check accepts (within the patches)."""
    source = FakeSource()
    source.scales = [2, 3]
    for scale, crop in itertools.product(source.scales, range(1, 60)):
        try:
            check_scale_and_crop(source, {"scale": scale, "crop": crop})
        except InputError as refused:
            hinted = int(str(refused).rstrip(")").split()[-1])
            assert hinted <= source.patch, str(refused)
            check_scale_and_crop(source, {"scale": scale, "crop": hinted})


def test_a_default_crop_no_multiple_of_the_scale_names_the_scale() -> None:
    source = FakeSource(patch=200)
    source.scales = [5]
    with pytest.raises(InputError) as refused:
        check_scale_and_crop(source, {"scale": 5}, {"scale": "--scale"})
    assert str(refused.value) == "--scale: crop 192 must be a multiple of the scale 5 (hint: e.g. crop 190)"


def test_cli_train_writes_the_run_and_refuses_a_used_directory(dataset: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert run(["-q", "train", str(dataset), "-o", str(out), "--iters", "2", *CLI_TRAIN, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["finished"] and summary["iteration"] == 2
    saved = json.loads((out / "config.json").read_text())
    assert saved["train"]["batch_size"] == 2 and saved["train"]["lr"] == 1e-4
    assert load_checkpoint(out / BEST).config["iteration"] == 2
    assert run(["-q", "train", str(dataset), "-o", str(out), "--iters", "2", *CLI_TRAIN]) == 2
    assert "not empty" in capsys.readouterr().err
    assert run(["-q", "train", str(dataset), "-o", str(out), "--resume", "--scale", "4"]) == 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_torchrun_two_gloo_processes(dataset: Path, tmp_path: Path) -> None:
    """2 ranks x batch 1 train like 1 process x batch 2; only rank 0 writes."""
    dist_run = tmp_path / "ddp"
    args = ["train", str(dataset), "-o", str(dist_run), "--iters", "2", *CLI_TRAIN]
    args[args.index("--batch-size") + 1] = "1"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                "--master-port", str(_free_port()), "-m", "groklst_cli", "-q"]
    done = subprocess.run(launcher + args, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    single = tmp_path / "single"
    assert run(["-q", "train", str(dataset), "-o", str(single), "--iters", "2", *CLI_TRAIN]) == 0
    lines = (dist_run / METRICS_FILE).read_text().splitlines()
    assert [json.loads(line)["iteration"] for line in lines] == [2]
    ddp = load_checkpoint(dist_run / LAST)
    assert ddp.config["world_size"] == 2
    assert not any(k.startswith("module.") for k in ddp.state_dict)
    reference = load_checkpoint(single / LAST).state_dict
    for key, value in reference.items():
        torch.testing.assert_close(ddp.state_dict[key], value, rtol=1e-4, atol=1e-5)
    assert sorted(p.name for p in dist_run.iterdir()) == sorted(p.name for p in single.iterdir())
