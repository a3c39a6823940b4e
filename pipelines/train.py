"""The training loop: seeded, resumable, optionally distributed, bounded in iterations or time.

``fit`` trains any registered model on any :class:`~pipelines.train_data.DataSource`. It is
used by ``groklst train`` and is meant to be reused (e.g. per-scene fitting): the run directory
is optional, ``limits`` stop it early after a number of iterations or seconds, and
``on_validation`` may ask it to stop (early stopping).

The loss is the L1 distance in Kelvin between the de-normalised output and the HR LST, over
valid target pixels only (the reference GrokLST code also computes its loss in Kelvin).

The run directory's files are listed in :mod:`pipelines.run_layout`.
"""

from __future__ import annotations

import inspect
import math
import os
import random
import signal
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from time import monotonic
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from models.registry import build_model, get_spec, list_models
from pipelines import strict_json
from pipelines.atomic import atomic_output, published_together
from pipelines.checkpoint import DISTINCT_DATASET_BANDS_HINT, Checkpoint, save_torch, state_dict_of
from pipelines.dataset import NormStats
from pipelines.devices import DEVICES, PRECISIONS, autocast_for, resolve_precision
from pipelines.errors import GroklstWarning, InputError, environment_error
from pipelines.evaluate import EvaluationRow, model_predictor, score
from pipelines.guidance import check_distinct_bands
from pipelines.metrics import MetricAverage
from pipelines.normalize import HasStats, denormalize_lst
from pipelines.run_layout import (BEST, CONFIG_FILE, LAST, METRICS_FILE, RUN_FORMAT, STATE, clear_run_files,
                                  inspect_run_dir)
from pipelines.train_config import MAX_SEED, TrainConfig
from pipelines.train_data import DataSource, batch_positions, load_batch
from pipelines.train_dist import DistContext

STATE_FORMAT = "groklst-train-state/1"

StepHook = Callable[[int, float], None]
ValidationHook = Callable[[int, dict[str, float]], bool]
#: Told, as a Ctrl-C or a signal stops :func:`fit`, the iteration reached and that of the run's
#: last save (None: none yet), so that the caller can report where ``--resume`` restarts.
StopHook = Callable[[int, int | None], None]


@dataclass
class Limits:
    """Stop this call early (the schedule still spans ``config.iters``).

    With a run directory a stop is a pause: the weights and the state are saved without a
    validation, so that the resumed run validates, logs and selects ``best.pt`` exactly as one
    never stopped. Without one nothing can resume the run: the stop ends it, with a validation
    that competes for the best like the one at the end of the schedule.
    """

    max_iters: int | None = None
    max_seconds: float | None = None


@dataclass
class FitResult:
    """What a call to :func:`fit` ends with."""

    model: nn.Module
    iteration: int
    finished: bool
    best: dict[str, float] | None
    history: list[dict[str, Any]] = field(default_factory=list)
    #: A stopping signal (SIGINT, SIGTERM, SIGHUP) that arrived while a save was renamed into
    #: place: the run stopped after that save, which is whole; the caller reports what was
    #: saved and, unless that save was the run's last (``finished``), raises it.
    stopped_by: int | None = None


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def masked_l1(pred_kelvin: torch.Tensor, target_kelvin: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over finite target pixels (zero, with a graph, when there are none)."""
    valid = torch.isfinite(target_kelvin)
    if not bool(valid.any()):
        return pred_kelvin.sum() * 0.0
    return (pred_kelvin[valid] - target_kelvin[valid]).abs().mean()


def _check_source(source: DataSource, config: TrainConfig, where: str | PathLike[str] = "dataset") -> list[int]:
    """Refuse a dataset with two guidance bands of one name or no train patch, then a scale or a
    crop it cannot give; its train patches. ``where`` names the dataset in the error (its path)."""
    check_distinct_bands(where, source.bands, DISTINCT_DATASET_BANDS_HINT, what="guidance band name")
    train = source.indices("train")
    if not train:
        raise InputError(where, "the train split is empty", "prepare more scenes or change --split")
    check_scale_and_crop(source, config.to_dict())
    return train


def _setting(settings: Mapping[str, Any], key: str) -> Any:
    """``settings[key]``, or the default where it is not set."""
    value = settings.get(key)
    return getattr(TrainConfig, key) if value is None else value


def check_scale_and_crop(source: DataSource, settings: Mapping[str, Any],
                         where: Mapping[str, str] | None = None) -> None:
    """Refuse a scale the dataset lacks, then a crop larger than its patches, then a crop that
    is no multiple of the scale.

    In this order, no hint leads to another refusal: the crop hints are multiples of a scale
    the dataset has, within its patches. ``where`` names each setting's source, as in
    :func:`check_settings`; the defaults fill in the settings not given.
    """
    def label(key: str) -> str:
        return (where or {}).get(key, option_name(key))

    scale, crop = _setting(settings, "scale"), _setting(settings, "crop")
    scales = getattr(source, "scales", None)
    if scales is not None and scale not in scales:
        raise InputError(label("scale"), f"the dataset has scales {list(scales)}, not x{scale}",
                         "prepare it with that scale in --scales")
    patch = getattr(source, "patch", None)
    if patch is not None and crop > patch:
        raise InputError(label("crop"), f"crop {crop} px is larger than the {patch} px patches",
                         f"use a multiple of {scale} up to {patch // scale * scale}")
    if crop % scale:  # named where the crop was set, else where the scale was
        raise InputError(label("crop" if settings.get("crop") is not None else "scale"),
                         f"crop {crop} must be a multiple of the scale {scale}",
                         f"e.g. crop {max(crop // scale, 1) * scale}")


def trainable_models() -> list[str]:
    """The registered models that have weights to train."""
    return [spec.name for spec in list_models() if spec.learned]


def _check_model(source: DataSource, config: TrainConfig) -> None:
    hint = f"trainable models: {', '.join(trainable_models())}"
    try:
        spec = get_spec(config.model)
    except KeyError:
        raise InputError("--model", f"unknown model {config.model!r}", hint) from None
    if not spec.learned:
        raise InputError("--model", f"{config.model!r} has no weights to train", hint)
    if not spec.supports(config.scale):
        raise InputError("--model", f"{config.model} works at {spec.scales_text} only, not x{config.scale}",
                         f"train a model that works at x{config.scale} (groklst models lists each one's scales)")
    try:
        _build_on_meta(config.model, config.scale, len(source.bands), config.model_kwargs)
    except (TypeError, ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        given = "--model-kwargs" if config.model_kwargs else "--model"
        raise InputError(given, f"{config.model} x{config.scale} with {config.model_kwargs or 'its defaults'} "
                                f"cannot be built ({first})",
                         _accepted_arguments(config.model, config.scale, len(source.bands))) from exc


def _build_on_meta(name: str, scale: int, bands: int, kwargs: dict[str, Any]) -> nn.Module:
    """The model's structure without weights in memory (instant even for the paper model)."""
    with torch.device("meta"):
        return build_model(name, scale=scale, guidance_channels=bands, **kwargs)


def _accepted_arguments(name: str, scale: int, bands: int) -> str:
    """A hint naming the keyword arguments the model's constructor takes."""
    try:
        net = _build_on_meta(name, scale, bands, {})
    except (TypeError, ValueError, RuntimeError):
        return "check the model's name and scale"
    skip = {"self", "scale", "guidance_channels"}
    names = [p.name for p in inspect.signature(type(net)).parameters.values()
             if p.name not in skip and p.kind is not inspect.Parameter.VAR_KEYWORD]
    return f"{name} accepts {', '.join(names)}" if names else f"{name} takes no --model-kwargs"


def option_name(key: str) -> str:
    """The command-line option of a training setting (``batch_size`` -> ``--batch-size``)."""
    return "--" + key.replace("_", "-")


def _integer_problem(value: Any, low: int, high: int | None = None) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"must be an integer, not {value!r}"
    if value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"from {low} to {high}"
        return f"must be an integer {bounds}, not {value}"
    return None


def _finite(value: int | float) -> bool:
    """Whether ``value`` is a finite float (an integer too large for a float is not)."""
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _float_problem(value: Any, positive: bool) -> str | None:
    wanted = "a finite number > 0" if positive else "a finite number >= 0"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"must be {wanted}, not {value!r}"
    if not _finite(value) or value < 0 or (positive and value == 0):
        return f"must be {wanted}, not {value}"
    return None


def _string_problem(value: Any) -> str | None:
    return None if isinstance(value, str) else f"must be a string, not {value!r}"


def _device_problem(value: Any) -> str | None:
    kind, _, index = value.partition(":") if isinstance(value, str) else ("", "", "")
    if kind in DEVICES and (not index or kind == "cuda" and index.isdigit()):
        return None
    return f"must be auto, cpu, cuda or cuda:N, not {value!r}"


def _precision_problem(value: Any) -> str | None:
    if isinstance(value, str) and value in PRECISIONS:
        return None
    return f"must be one of {', '.join(PRECISIONS)}, not {value!r}"


def _table_problem(value: Any) -> str | None:
    return None if isinstance(value, dict) else f"must be a table of keyword arguments, not {value!r}"


# One check per TrainConfig field: a config file can hold any value of any type.
_SETTING_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "model": _string_problem,
    "scale": lambda v: _integer_problem(v, 2),
    "iters": lambda v: _integer_problem(v, 1),
    "batch_size": lambda v: _integer_problem(v, 1),
    "crop": lambda v: _integer_problem(v, 1),
    "lr": lambda v: _float_problem(v, positive=True),
    "weight_decay": lambda v: _float_problem(v, positive=False),
    "min_lr": lambda v: _float_problem(v, positive=False),
    "restart_every": lambda v: _integer_problem(v, 1),
    "stretch_last_cycle": lambda v: None if isinstance(v, bool) else f"must be true or false, not {v!r}",
    "val_every": lambda v: _integer_problem(v, 1),
    "seed": lambda v: _integer_problem(v, 0, MAX_SEED),
    "device": _device_problem,
    "precision": _precision_problem,
    "model_kwargs": _table_problem,
}
_SETTING_HINTS = {
    "scale": "one of the dataset's scales, as given to groklst prepare --scales",
    "seed": "torch and NumPy take non-negative seeds",
    "lr": "the default is 1e-4",
}


def check_settings(settings: Mapping[str, Any], where: Mapping[str, str] | None = None) -> None:
    """Refuse a setting of the wrong type (``iters = "4"`` in a config file), a scale below 2,
    a negative seed, a count below 1, an unknown device or precision, or a learning rate or
    weight decay that is NaN, infinite or out of range, as one-line errors.

    Works on plain settings, before a :class:`TrainConfig` is built (which would divide by a
    zero scale, or compare a string with a number), so that torch never sees them. Each setting
    is checked on its own: how the crop goes with the scale is checked against the dataset
    (:func:`check_scale_and_crop`). ``where`` names a setting's source (an option or a config
    file); ``--lr``-style option names by default.
    """
    def label(key: str) -> str:
        return (where or {}).get(key, option_name(key))

    for key, check in _SETTING_CHECKS.items():
        value = settings.get(key)
        problem = None if value is None else check(value)
        if problem:
            raise InputError(label(key), problem, _SETTING_HINTS.get(key))


def used_device(device: torch.device, world_size: int) -> str:
    """The device a run trained on: ``cpu``, ``cuda:0``; the device type for several processes."""
    return device.type if world_size > 1 else str(device)


def dataset_named(source: DataSource) -> str | PathLike[str]:
    """How errors about ``source`` name it: its path (a :class:`~pipelines.dataset.PreparedDataset`'s,
    as ``fit`` was given it: the CLI names the path too), else "dataset" for a source without one."""
    return getattr(source, "path", None) or "dataset"


def check_training(source: DataSource, config: TrainConfig, where: str | PathLike[str] = "dataset") -> list[int]:
    """Refuse settings that cannot train on ``source`` before any file is written; the train patches.

    Checks the numbers (:func:`check_settings`), the scale and the crop against the dataset
    (:func:`check_scale_and_crop`), then the model (known, trainable, working at this scale,
    buildable with its keyword arguments and band count), and the LST statistics (a constant
    LST teaches nothing and cannot be normalised). The dataset comes before the model, so that
    a scale the dataset lacks is named as such, not as one the model cannot be built at.
    A problem of the dataset itself names ``where``: the dataset's path as the user gave it (a
    script training on several datasets learns which one failed), else just "dataset".
    """
    check_settings(config.to_dict())
    train = _check_source(source, config, where)
    _check_model(source, config)
    stats = source.stats
    if not (math.isfinite(stats.lst_mean) and math.isfinite(stats.lst_std) and stats.lst_std > 0):
        raise InputError(where, f"the train split's LST has mean {stats.lst_mean} and std {stats.lst_std}: "
                                "nothing to learn from", "prepare the dataset from scenes with varied LST")
    return train


class CosineCycles(torch.optim.lr_scheduler.CosineAnnealingWarmRestarts):
    """The paper's CosineAnnealingWarmRestarts (restarts every ``config.period`` steps) whose
    last cycle runs on to ``config.iters`` when :meth:`TrainConfig.final_cycle` says so: a
    default ``--iters 30`` then ends at min_lr instead of 2 steps after a restart to ``--lr``.
    ``final_cycle`` is in the state dict, so a resumed run keeps the schedule it started with."""

    def __init__(self, optimizer: torch.optim.Optimizer, config: TrainConfig) -> None:
        self.final_cycle = config.final_cycle()
        super().__init__(optimizer, T_0=config.period, eta_min=config.min_lr)

    def step(self, epoch: int | None = None) -> None:
        """Move on one step; at the start of the stretched last cycle, give it its length (the
        rate there is ``--lr`` whatever the length, so only the steps after it change)."""
        super().step(epoch)
        if self.final_cycle is not None and self.last_epoch == self.final_cycle[0]:
            self.T_cur, self.T_i = 0, self.final_cycle[1]


def _last_cycle_words(final_cycle: Sequence[int] | None, period: int | None) -> str:
    """A schedule's last cycle in words, for a refused resume."""
    if final_cycle is None:
        return f"every cosine cycle {period} iterations long"
    start, length = final_cycle
    return f"its last cosine cycle {length} iterations long (from iteration {start})"


def _warn_partial_cycle(config: TrainConfig) -> None:
    """Warn once that a given ``--restart-every`` not dividing ``--iters`` ends the run part-way
    through a cycle (last.pt is saved at a high rate, not at min_lr)."""
    partial = config.partial_cycle()
    if partial is None:
        return
    into, lr = partial
    warnings.warn(f"--iters {config.iters} is not a multiple of --restart-every {config.period}: the run ends "
                  f"{into} iteration(s) into a cosine cycle, at lr {lr:.3g} (min_lr {config.min_lr:g}); "
                  "leave --restart-every out for cycles that end at --iters",
                  GroklstWarning, stacklevel=3)


def _warn_uninformative_bands(source: DataSource) -> None:
    stats = source.stats
    for name, mean, std in zip(source.bands, stats.band_mean, stats.band_std):
        if not (math.isfinite(mean) and math.isfinite(std) and std > 0):
            warnings.warn(f"guidance band {name!r} is constant or empty in the train split (std {std:g}): "
                          "the model learns nothing from it, and it is normalised with std 1",
                          GroklstWarning, stacklevel=3)


def training_stats(stats: HasStats) -> NormStats:
    """The statistics a model trains with and is saved with.

    A guidance band that is constant in the train split (std 0, e.g. the constant DEM of an
    ingest without ``--dem``) would divide by zero: it keeps its mean and gets std 1, so it is
    0 after normalisation on the training data and the checkpoint stays usable. A band with no
    valid pixel gets mean 0, std 1.
    """
    means, stds = [], []
    for mean, std in zip(stats.band_mean, stats.band_std):
        means.append(float(mean) if math.isfinite(mean) else 0.0)
        stds.append(float(std) if math.isfinite(mean) and math.isfinite(std) and std > 0 else 1.0)
    return NormStats(float(stats.lst_mean), float(stats.lst_std), means, stds)


def build_checkpoint(model: nn.Module, source: DataSource, config: TrainConfig,
                     extra: dict[str, Any]) -> Checkpoint:
    """A self-contained checkpoint of ``model`` trained with ``config`` on ``source``."""
    stats = training_stats(source.stats)
    return Checkpoint(
        model=config.model,
        scale=config.scale,
        bands=list(source.bands),
        lst_mean=float(stats.lst_mean),
        lst_std=float(stats.lst_std),
        band_mean=[float(v) for v in stats.band_mean],
        band_std=[float(v) for v in stats.band_std],
        model_kwargs=dict(config.model_kwargs),
        hr_resolution=getattr(source, "hr_resolution", None),
        hr_resolution_units=getattr(source, "hr_resolution_units", None),
        config={**config.to_dict(), **extra},
        state_dict=state_dict_of(model),
    )


def val_metrics(average: MetricAverage) -> dict[str, float]:
    """The validation record as ``evaluate --json`` writes a row: the means, ``images``, the
    patches CC and RSD are averaged over (``cc_images``, ``rsd_images``: undefined on a flat
    patch, so fewer than ``images``) and ``pixels``; a mean over no patch is NaN (null in JSON)."""
    row = EvaluationRow.of("val", average).to_json()
    return {key: value for key, value in row.items() if key != "model"}


class _Run:
    """The state of one training run and the files it writes."""

    def __init__(self, source: DataSource, config: TrainConfig, run_dir: Path | None,
                 context: DistContext, record: Mapping[str, Any] | None = None,
                 named: str | PathLike[str] | None = None):
        self.source, self.config, self.run_dir, self.context = source, config, run_dir, context
        self.record = record
        self.named = named if named is not None else run_dir  # how errors name run_dir
        self.on_disk = False  # whether run_dir holds this run's files (a resumed run's are)
        self.stopped_by: int | None = None  # a signal that waited for a save (FitResult.stopped_by)
        self.saved_at: int | None = None  # the iteration of the state on disk, where --resume restarts
        self.train = check_training(source, config, dataset_named(source))
        if run_dir is not None and context.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
        self.val = source.indices("val")
        _warn_uninformative_bands(source)
        _warn_partial_cycle(config)
        self.stats = training_stats(source.stats)
        self.device = context.device
        self.precision = resolve_precision(config.precision, self.device)
        seed_everything(config.seed)
        net = build_model(config.model, scale=config.scale, guidance_channels=len(source.bands),
                          **config.model_kwargs)
        self.model = net.to(self.device)
        if self.device.type == "cuda":
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        self.scheduler = CosineCycles(self.optimizer, config)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")
        self.step_lr = config.lr  # the learning rate the latest step used (what metrics.jsonl logs)
        self.iteration = 0
        self.best: dict[str, float] | None = None
        self.history: list[dict[str, Any]] = []
        self.losses: list[float] = []  # train losses since the latest metrics line (mean over ranks)
        self.wrapped: nn.Module = self.model
        if context.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.wrapped = DistributedDataParallel(self.model, device_ids=ids)

    # --- state -------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "config": self.config.to_dict(),
            "world_size": self.context.world_size,
            "bands": list(self.source.bands),
            "iteration": self.iteration,
            "best": self.best,
            "history": self.history,
            "losses": self.losses,
            "model": state_dict_of(self.model),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }

    def restore(self, path: Path, shown: str | PathLike[str]) -> None:
        """Load the training state at ``path``; errors name it ``shown`` (as the user knows it)."""
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - an unreadable state file is the user's file
            raise _unreadable_state(shown, exc) from exc
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise InputError(shown, "not a groklst training state")
        saved = state["config"]
        for key in ("model", "scale", "model_kwargs"):
            if saved[key] != getattr(self.config, key):
                raise InputError(shown, f"the run was trained with {key}={saved[key]!r}, "
                                 f"not {getattr(self.config, key)!r}", "resume with its own settings")
        self._check_schedule(shown, state["scheduler"])
        started = state.get("world_size", self.context.world_size)  # states before it was saved: any
        if started != self.context.world_size:
            raise InputError(shown, f"the run was trained with {started} process(es), not "
                             f"{self.context.world_size}: another count trains on another data order",
                             f"resume it with {started} process(es) in all")
        if list(state["bands"]) != list(self.source.bands):
            raise InputError(shown, f"the run was trained on bands {state['bands']}, "
                             f"the dataset has {self.source.bands}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.iteration = int(state["iteration"])
        self.best = state["best"]
        self.history = list(state["history"])
        self.losses = [float(v) for v in state.get("losses", [])]  # states saved at validations have none

    def _check_schedule(self, path: str | PathLike[str], scheduler: Mapping[str, Any]) -> None:
        """Refuse a state whose cosine cycle is not the config's: loading it would bring back the
        saved cycle while the run's records named the config's."""
        saved = scheduler.get("T_0")
        if saved != self.config.period:
            raise InputError(path, f"the run was trained with restart_every={saved!r}, "
                             f"not {self.config.period!r}", "resume with its own settings")
        stretched = scheduler.get("final_cycle")  # states before 2026-12-07: every cycle T_0 long
        mine = self.config.final_cycle()
        if (None if stretched is None else tuple(stretched)) != mine:
            raise InputError(path, f"the run was trained with {_last_cycle_words(stretched, saved)}, "
                             f"not {_last_cycle_words(mine, saved)}", "resume with its own settings")

    # --- files (rank 0) ----------------------------------------------------------------
    def _extra(self, metrics: dict[str, float] | None) -> dict[str, Any]:
        return {"iteration": self.iteration, "val": metrics, "precision": self.precision,
                "world_size": self.context.world_size,
                "device": used_device(self.device, self.context.world_size),
                "requested_device": self.config.device}

    def save(self, improved: bool, metrics: dict[str, float] | None) -> None:
        """Write the checkpoints and the state all or none.

        Every file is written under a temporary name first (the slow part, which a signal
        stops at once, removing them), then all are renamed into place with Ctrl-C and SIGTERM
        waiting: a run killed while saving keeps its previous save whole (resumable, never a
        ``last.pt`` or ``best.pt`` newer than its ``state.pt``; a metrics line logged before the
        save is dropped by ``--resume``, which rewrites metrics.jsonl from the state). The
        first save of a new run also replaces a previous run's files, in the same moment. A
        signal that waited for the renames stops the run after them (``stopped_by``).
        ``best.pt`` is written only for a validation that improved the RMSE: without a
        validation split (or a finite RMSE) there is no best, and no ``best.pt``.
        """
        if self.run_dir is None or not self.context.is_main:
            return
        checkpoint = build_checkpoint(self.model, self.source, self.config, self._extra(metrics))
        taking_over = not self.on_disk
        with _StopsDeferred() as deferred:
            with published_together():
                checkpoint.save(self.run_dir / LAST)
                if improved:
                    checkpoint.save(self.run_dir / BEST)
                with atomic_output(self.run_dir / STATE, overwrite=True) as tmp:
                    save_torch(self.state(), tmp, self.run_dir / STATE)
                deferred.hold()
                if taking_over:
                    self.write_record()
                    self.rewrite_log()
            if taking_over:
                self._clear_previous(improved)
        self.stopped_by = self.stopped_by or deferred.received
        self.saved_at = self.iteration

    def _clear_previous(self, improved: bool) -> None:
        """After the first save of a new run: remove what a previous run left that this save
        did not replace (a ``best.pt`` it has no equal of, temporaries of killed saves).

        Until now the previous run (``--overwrite``) stayed as it was, so a restart that fails,
        diverges or is stopped before it has saved loses nothing.
        """
        replaced = {METRICS_FILE, LAST, STATE} | ({BEST} if improved else set())
        replaced |= {CONFIG_FILE} if self.record is not None else set()
        clear_run_files(inspect_run_dir(self.run_dir), keep=replaced)
        self.on_disk = True

    def write_record(self) -> None:
        """Write the run's config.json from ``record`` (none given: the folder's stays)."""
        if self.record is not None and self.run_dir is not None and self.context.is_main:
            with atomic_output(self.run_dir / CONFIG_FILE, overwrite=True) as tmp:
                tmp.write_text(strict_json.dumps({"format": RUN_FORMAT, **self.record}, indent=2) + "\n")

    def log(self, record: dict[str, Any]) -> None:
        """Keep ``record`` in the history; append it to metrics.jsonl once the run's files are
        on disk (the first save writes the whole history)."""
        self.history.append(record)
        if self.run_dir is not None and self.context.is_main and self.on_disk:
            with open(self.run_dir / METRICS_FILE, "a") as fh:
                fh.write(strict_json.dumps(record) + "\n")

    def rewrite_log(self) -> None:
        """Make metrics.jsonl the restored state's history.

        A run killed after logging a validation but before saving its state resumes from the
        state before; the lines logged after it would otherwise appear twice.
        """
        if self.run_dir is None or not self.context.is_main:
            return
        with atomic_output(self.run_dir / METRICS_FILE, overwrite=True) as tmp:
            tmp.write_text("".join(strict_json.dumps(record) + "\n" for record in self.history))

    # --- training ----------------------------------------------------------------------
    def step(self) -> float:
        """One optimiser step; its train loss, averaged over the ranks."""
        cfg, ctx = self.config, self.context
        positions = batch_positions(self.iteration, cfg.batch_size, ctx.rank, ctx.world_size)
        lr, guidance, hr = load_batch(self.source, self.train, positions, scale=cfg.scale,
                                      crop=cfg.crop, seed=cfg.seed, stats=self.stats)
        lr_t, guidance_t, hr_t = (torch.from_numpy(a).to(self.device) for a in (lr, guidance, hr))
        if self.device.type == "cuda":
            guidance_t = guidance_t.contiguous(memory_format=torch.channels_last)
        self.wrapped.train()
        with autocast_for(self.device, self.precision):
            out = self.wrapped(lr_t, guidance_t)
        loss = masked_l1(denormalize_lst(out.float(), self.stats), hr_t)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.step_lr = self.scheduler.get_last_lr()[0]  # before the scheduler moves on
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.iteration += 1
        return self.context.all_sum([float(loss.detach())])[0] / self.context.world_size

    def validate(self) -> dict[str, float]:
        """Val metrics in Kelvin (:func:`val_metrics`), the val patches split between ranks and
        the sums all-reduced."""
        ctx = self.context
        self.model.eval()
        predict = model_predictor(self.model, self.stats, self.device, self.precision)
        mine = self.val[ctx.rank :: ctx.world_size]
        local = score(predict, self.source, mine, self.config.scale)
        return val_metrics(MetricAverage.from_vector(ctx.all_sum(local.to_vector())))

    def checkpoint(self) -> tuple[dict[str, float], bool]:
        """Validate, log the metrics line and save; the metrics and whether they improved the best."""
        metrics = self.validate() if self.val else {}
        rmse = metrics.get("rmse", math.nan)
        improved = math.isfinite(rmse) and (self.best is None or rmse < self.best["rmse"])
        if improved:
            self.best = {"iteration": self.iteration, **metrics}
        loss = self.train_loss()
        self.log({"iteration": self.iteration, "lr": self.step_lr,
                  "train_l1": loss, **{f"val_{k}": v for k, v in metrics.items()}})
        self.losses = []
        self.save(improved, metrics or None)
        return metrics, improved

    def pause(self) -> None:
        """Save the weights and the state (with the losses not yet logged) without validating:
        the resumed run then logs and selects as if it had never stopped."""
        self.train_loss()
        self.save(False, None)

    def end_saved(self) -> bool:
        """Whether the run's last iteration is saved in place (its run folder holds the whole
        run): a stop from then on comes after the run finished, not in it."""
        return self.run_dir is not None and self.saved_at is not None and self.saved_at >= self.config.iters

    def result(self) -> FitResult:
        """What :func:`fit` returns for the run as it stands."""
        return FitResult(self.model, self.iteration, self.iteration >= self.config.iters, self.best,
                         self.history, self.stopped_by)

    def train_loss(self) -> float:
        """The mean train loss since the latest metrics line; refused (nothing saved) if not finite."""
        loss = float(np.mean(self.losses))
        if not math.isfinite(loss):
            raise InputError(self.named, f"training diverged: the train loss is {loss} at iteration "
                             f"{self.iteration}; nothing of this iteration was saved",
                             "train again with a lower learning rate, or with --precision fp32")
        return loss


_STOPPING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _StopsDeferred:
    """A block in which, from :meth:`hold` to its end, stopping signals wait: the first is
    recorded (``received``) instead of reaching its handler, and is not raised at the end.

    The saving run's renames are then all or none, while the slow writes before them stay
    interruptible; the caller gets the signal back (:attr:`FitResult.stopped_by`) and reports
    the saved run before it stops (the CLI's result line).
    """

    def __init__(self) -> None:
        self.previous: dict[int, Any] = {}
        self.received: int | None = None

    def __enter__(self) -> _StopsDeferred:
        return self

    def hold(self) -> None:
        """Start recording (main thread only; elsewhere signals are not handled anyway)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in _STOPPING_SIGNALS:
            if signal.getsignal(signum) not in (signal.SIG_IGN, None):
                self.previous[signum] = signal.signal(signum, self._record)

    def _record(self, signum: int, frame: object) -> None:
        self.received = self.received or signum

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)


def _limit_reached(limits: Limits, done: int, started: float, context: DistContext) -> bool:
    """Whether ``limits`` stop the call after ``done`` iterations (on every rank alike)."""
    stop = limits.max_iters is not None and done >= limits.max_iters
    if limits.max_seconds is not None:
        stop = stop or context.any(monotonic() - started >= limits.max_seconds)
    return stop


def saved_iteration(run_dir: Path) -> int | None:
    """The iteration of the run's training state (``run_dir/state.pt``), so that a resume of a
    finished run says so before building anything; memory-mapped, so the weights are not read.
    None when the state is unreadable: :func:`fit` then refuses it in its own words."""
    try:
        state = torch.load(run_dir / STATE, map_location="cpu", weights_only=True, mmap=True)
        return int(state["iteration"])
    except Exception:  # noqa: BLE001 - fit reports what is wrong with the file
        return None


def fit(
    source: DataSource,
    config: TrainConfig,
    run_dir: Path | None = None,
    *,
    resume: bool = False,
    limits: Limits | None = None,
    context: DistContext | None = None,
    on_step: StepHook | None = None,
    on_validation: ValidationHook | None = None,
    keep_best: bool = False,
    run_record: Mapping[str, Any] | None = None,
    run_named: str | None = None,
    on_stop: StopHook | None = None,
) -> FitResult:
    """Train ``config.model`` on ``source`` up to ``config.iters`` iterations (or ``limits``).

    With ``resume`` the run continues from ``run_dir/state.pt`` exactly where it stopped: the
    result (weights, metrics lines, best checkpoint) is the same as a run that was never
    interrupted, however ``limits`` stopped it (see :class:`Limits`). ``on_validation(iteration,
    metrics)`` returning True stops training (early stopping); the best checkpoint is the one
    with the lowest validation RMSE. ``run_record`` becomes the folder's config.json: a new run's
    at its first save, a resumed run's once its state is restored and accepted. ``run_named`` is
    how errors name ``run_dir`` and its files: the folder as the user typed it (``./runs/x/``,
    which pathlib folds to ``runs/x``); else its path. ``on_stop`` is told where a Ctrl-C or a
    signal stopped the run (see :data:`StopHook`) before the stop goes on to the caller; one
    that comes once the run's last iteration is saved in place does not stop it: the finished
    run is returned (unless ``keep_best``, whose best weights it may not have restored yet).
    """
    context = context or DistContext()
    limits = limits or Limits()
    run = _Run(source, config, run_dir, context, run_record, run_named)
    if resume:
        if run_dir is None or not (run_dir / STATE).is_file():
            raise InputError(run.named, "nothing to resume (no state.pt)", "start the run without --resume")
        run.restore(run_dir / STATE, os.path.join(run.named, STATE))
        run.write_record()  # only now: a state that is refused leaves the folder as it was
        run.rewrite_log()
        run.on_disk = True
    run.saved_at = run.iteration if resume else None
    try:
        return _train(run, limits, on_step, on_validation, keep_best)
    except KeyboardInterrupt:
        if run.end_saved() and not keep_best:  # it came after the run's last save: the run finished
            return run.result()
        _tell_where_resume_starts(run)
        if on_stop is not None:
            on_stop(run.iteration, run.saved_at if run.run_dir is not None else None)
        raise


def _train(run: _Run, limits: Limits, on_step: StepHook | None, on_validation: ValidationHook | None,
           keep_best: bool) -> FitResult:
    """The training loop of :func:`fit`, from the run's iteration on."""
    config, context, run_dir = run.config, run.context, run.run_dir
    started, start_iter = monotonic(), run.iteration
    best_weights: dict[str, torch.Tensor] | None = None
    stop = False
    while run.iteration < config.iters and not stop:
        run.losses.append(run.step())
        if on_step is not None:
            on_step(run.iteration, run.losses[-1])
        stop = _limit_reached(limits, run.iteration - start_iter, started, context)
        scheduled = run.iteration % config.val_every == 0 or run.iteration >= config.iters
        if scheduled or (stop and run_dir is None):
            metrics, improved = run.checkpoint()
            if improved and keep_best:
                best_weights = state_dict_of(run.model)
            if on_validation is not None and metrics and on_validation(run.iteration, metrics):
                stop = True
        elif stop:
            run.pause()
        if scheduled or stop:  # it saved: a signal that waited for it stops every rank alike
            stop = stop or context.any(run.stopped_by is not None)
    if best_weights is not None:
        getattr(run.model, "module", run.model).load_state_dict(best_weights)
    return run.result()


def _tell_where_resume_starts(run: _Run) -> None:
    """Warn, as a Ctrl-C or a signal stops the run, where ``--resume`` will restart it: the
    iteration of its last save (the iterations after it are lost), or nowhere yet."""
    if run.run_dir is None or not run.context.is_main:
        return
    if run.saved_at is None:
        warnings.warn(f"stopped after {run.iteration} iteration(s), before the run's first save: --resume "
                      "cannot continue it; start it again with the same command", GroklstWarning)
    else:
        warnings.warn(f"stopped after {run.iteration} iteration(s): --resume restarts from iteration "
                      f"{run.saved_at}, the last save", GroklstWarning)


def _unreadable_state(path: str | PathLike[str], exc: Exception) -> InputError:
    """The refusal of a ``state.pt`` that torch cannot load, with the cause in words: an
    environment error (permissions) as such, anything else as a truncated or damaged file."""
    found = environment_error(exc, path)
    if found is not None:
        return found
    cause = str(exc).strip().splitlines()[0].split(". ")[0] if str(exc).strip() else type(exc).__name__
    return InputError(path, f"cannot read the training state: truncated or damaged ({cause})",
                      "--resume cannot continue from last.pt (it holds no optimiser state): rerun with "
                      "--overwrite to start again, or restore state.pt from a copy")
