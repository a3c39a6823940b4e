"""``groklst train``: train a model on a prepared dataset into a run directory."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer
from rich.progress import TextColumn

from groklst_cli.console import info, progress, result, warn
from pipelines.atomic import atomic_output
from pipelines.errors import InputError
from pipelines.run_layout import BEST, CONFIG_FILE, LAST, RUN_FILES, STATE

if TYPE_CHECKING:
    from pipelines.train import FitResult
    from pipelines.train_config import TrainConfig


def _model_kwargs(text: Optional[str]) -> Optional[dict[str, Any]]:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError("--model-kwargs", f"not valid JSON ({exc.msg})", 'e.g. \'{"base_dim": 8}\'') from exc
    if not isinstance(value, dict):
        raise InputError("--model-kwargs", "must be a JSON object")
    return value


def _check_run_dir(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse a missing state for --resume, or a used directory without --overwrite."""
    if resume:
        if not (out / STATE).is_file():
            raise InputError(out, "nothing to resume (no state.pt)", "start the run without --resume")
    elif out.exists() and any(out.iterdir()) and not overwrite:
        raise InputError(out, "run directory is not empty", "pass --resume to continue it or --overwrite to restart")


def _start_run_dir(out: Path, record: dict[str, Any]) -> None:
    """Clear a previous run's files and write the effective config."""
    out.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)
    with atomic_output(out / CONFIG_FILE, overwrite=True) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")


def _resumed_config(out: Path, requested: TrainConfig, given: dict[str, Any]) -> TrainConfig:
    """The saved settings of the run; explicitly given options must agree with them."""
    from pipelines.train_config import TrainConfig

    saved = json.loads((out / CONFIG_FILE).read_text())["train"]
    config = TrainConfig(**saved)
    for key, value in given.items():
        if key in ("device",):
            continue
        if value is not None and getattr(requested, key) != saved[key]:
            raise InputError(out, f"the run was started with {key}={saved[key]!r}, not {getattr(requested, key)!r}",
                             "a resumed run keeps its settings")
    config.device = requested.device
    return config


def _fit_with_bar(run: Callable[..., FitResult], total: int) -> FitResult:
    """Run ``run(on_step=...)`` under a progress bar that shows the loss and the ETA."""
    with progress(TextColumn("loss {task.fields[loss]:.3f} K")) as bar:
        task = bar.add_task("train", total=total, loss=float("nan"))

        def on_step(iteration: int, loss: float) -> None:
            bar.update(task, completed=iteration, loss=loss)

        return run(on_step=on_step)


def train_cmd(
    dataset: Path = typer.Argument(..., help="Prepared dataset folder (groklst prepare)."),
    out: Path = typer.Option(..., "--out", "-o", help="Run directory (checkpoints, metrics, config)."),
    model: Optional[str] = typer.Option(None, "--model", help="Model name (groklst models). [default: mocolsk]"),
    scale: Optional[int] = typer.Option(None, "--scale", help="Downscaling factor; one of the dataset's scales. [default: 4]"),
    iters: Optional[int] = typer.Option(None, "--iters", help="Training iterations. [default: 10000]"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Patches per iteration and process. [default: 4]"),
    crop: Optional[int] = typer.Option(None, "--crop", help="Random crop in HR pixels (a multiple of the scale). [default: 192]"),
    lr: Optional[float] = typer.Option(None, "--lr", help="AdamW learning rate. [default: 1e-4]"),
    weight_decay: Optional[float] = typer.Option(None, "--weight-decay", help="AdamW weight decay. [default: 1e-5]"),
    val_every: Optional[int] = typer.Option(None, "--val-every", help="Validate and checkpoint every K iterations. [default: 500]"),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of weights, data order and augmentation. [default: 0]"),
    device: Optional[str] = typer.Option(None, "--device", help="auto, cpu or cuda. [default: auto]"),
    precision: Optional[str] = typer.Option(None, "--precision", help="auto (bf16 on CUDA, fp32 on CPU), fp32, bf16 or fp16."),
    model_kwargs: Optional[str] = typer.Option(None, "--model-kwargs", help="Model constructor arguments as JSON."),
    max_seconds: Optional[float] = typer.Option(None, "--max-seconds", help="Stop (resumably) after this wall-clock time."),
    config_file: Optional[Path] = typer.Option(None, "--config", help="TOML or YAML file with any of these settings."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last state."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Restart a run directory that has files."),
    as_json: bool = typer.Option(False, "--json", help="Print the final summary as JSON on stdout."),
) -> None:
    """Train a downscaling model; run with torchrun for several GPUs/processes."""
    # Imported here so that `groklst --help` and the other commands start without torch.
    from pipelines.dataset import open_prepared
    from pipelines.train import Limits, fit
    from pipelines.train_config import merge_config, read_config_file
    from pipelines.train_dist import init_distributed, shutdown

    given = {"model": model, "scale": scale, "iters": iters, "batch_size": batch_size, "crop": crop,
             "lr": lr, "weight_decay": weight_decay, "val_every": val_every, "seed": seed,
             "device": device, "precision": precision, "model_kwargs": _model_kwargs(model_kwargs)}
    config = merge_config(read_config_file(config_file) if config_file else {}, given)
    source = open_prepared(dataset)
    _check_run_dir(out, resume, overwrite)
    if resume:
        config = _resumed_config(out, config, given)
    try:
        context = init_distributed(config.device)
    except ValueError as exc:
        raise InputError("--device", str(exc)) from exc
    try:
        if context.is_main and not resume:
            _start_run_dir(out, {"train": config.to_dict(), "dataset": str(dataset.resolve()),
                                 "bands": source.bands, "hr_resolution": source.hr_resolution,
                                 "world_size": context.world_size})
        if context.is_main:
            info(f"training {config.model} x{config.scale} on {len(source.indices('train'))} patches, "
                 f"{context.world_size} process(es) on {context.device}")
        context.all_sum([0.0])  # a barrier: rank 0 has laid out the run directory
        run = partial(fit, source, config, out, resume=resume, context=context,
                      limits=Limits(max_seconds=max_seconds))
        outcome = _fit_with_bar(run, config.iters) if context.is_main else run()
    finally:
        shutdown(context)
    if not context.is_main:
        return
    summary = {"run": str(out), "iteration": outcome.iteration, "finished": outcome.finished,
               "best": outcome.best, "best_checkpoint": str(out / BEST), "last_checkpoint": str(out / LAST)}
    if not outcome.finished:
        warn(f"stopped at iteration {outcome.iteration}/{config.iters}; continue with --resume")
    result(json.dumps(summary) if as_json else str(out / BEST))


def register(app: typer.Typer) -> None:
    app.command("train")(train_cmd)
