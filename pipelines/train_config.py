"""Training settings: defaults (the paper's recipe), config files and their merging.

Precedence: options given on the command line, then the config file, then these defaults.
Config files are TOML (``tomllib``) or YAML (``.yaml``/``.yml``, via PyYAML); keys are the
field names below, with ``-`` or ``_``. Torch-free, so that ``groklst train --help`` can show
these defaults without loading torch.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from pipelines.errors import InputError, escape_control_characters, not_found_error
from pipelines.run_layout import RUN_FORMAT, RUN_RECORD_KEYS
from pipelines.toml_compat import tomllib

MAX_SEED = 2**64 - 1  # the largest seed torch.manual_seed takes (here: importable without torch)
DEFAULT_ITERS = 10_000  # the paper's reference config
CYCLES = 4  # cosine cycles per run by default: the reference config restarts every 2,500 of 10k iterations


def default_restart_every(iters: int) -> int:
    """Iterations per cosine cycle when none is set: :data:`CYCLES` cycles over the run, or one
    cycle over a run too short for cycles of 2 (cycles of 1 would train every step at the peak rate)."""
    period = int(iters) // CYCLES
    return period if period >= 2 else max(1, int(iters))


def cosine_lr(step: int, period: int, lr: float, min_lr: float) -> float:
    """The rate of step ``step`` of a cosine cycle of ``period`` steps from ``lr`` down to
    ``min_lr``, as CosineAnnealingWarmRestarts computes it (torch-free, for messages)."""
    return min_lr + (lr - min_lr) * (1 + math.cos(math.pi * step / period)) / 2


@dataclass
class TrainConfig:
    """One training run. Defaults follow the GrokLST paper (AdamW 1e-4/1e-5, 10k iterations,
    batch 4, L1 loss in Kelvin, cosine annealing with warm restarts every ``iters // 4``).

    ``restart_every`` left unset becomes ``iters // 4`` (at least 1) when the config is built, so that every
    record of the run (config.json, its state, its checkpoints) holds the cycle it trained with.
    ``stretch_last_cycle`` left unset becomes True then (else False): the last cycle runs on to
    ``iters`` (``--iters 30``: 7, 7, 7 and 9), so that a default run ends at ``min_lr``, not just
    after a restart. A given ``restart_every`` is kept as it is; a run recorded without the key
    (before 2026-12-07) trained with cycles of ``restart_every`` alone, and resumes so.
    """

    model: str = "mocolsk"
    scale: int = 4
    iters: int = DEFAULT_ITERS
    batch_size: int = 4
    crop: int = 192
    lr: float = 1e-4
    weight_decay: float = 1e-5
    min_lr: float = 1e-7
    restart_every: int | None = None
    stretch_last_cycle: bool | None = None
    val_every: int = 500
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    model_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from pipelines.devices import DEVICES, PRECISIONS  # torch: only once a run is configured

        problems = []
        for name in ("scale", "iters", "batch_size", "crop", "val_every"):
            if int(getattr(self, name)) < 1:
                problems.append(f"{name} must be >= 1")
        if self.scale < 2:
            problems.append("scale must be >= 2")
        if self.crop % self.scale:
            problems.append(f"crop {self.crop} must be a multiple of the scale {self.scale}")
        if self.lr <= 0 or self.weight_decay < 0:
            problems.append("lr must be > 0 and weight_decay >= 0")
        if self.stretch_last_cycle is None:
            self.stretch_last_cycle = self.restart_every is None
        if self.restart_every is None:
            self.restart_every = default_restart_every(self.iters)
        if self.restart_every < 1:
            problems.append("restart_every must be >= 1")
        if self.precision not in PRECISIONS:
            problems.append(f"precision must be one of {', '.join(PRECISIONS)}")
        if self.device.partition(":")[0] not in DEVICES:
            problems.append("device must be auto, cpu, cuda or cuda:N")
        if problems:
            raise InputError("config", "; ".join(problems))

    @property
    def period(self) -> int:
        """Iterations per cosine cycle (``restart_every``, which ``__post_init__`` always sets)."""
        return int(self.restart_every)

    def final_cycle(self) -> tuple[int, int] | None:
        """The iteration the last cosine cycle starts at and its length, when it is stretched
        (or shortened) to end at ``iters``; None when every cycle is ``restart_every`` long."""
        if not self.stretch_last_cycle:
            return None
        start = max(min(CYCLES, self.iters // self.period) - 1, 0) * self.period  # four cycles, as the default promises
        length = self.iters - start
        return None if length == self.period else (start, length)

    def partial_cycle(self) -> tuple[int, float] | None:
        """How many iterations into its last cycle the run ends and the rate of its last step,
        when cycles of ``restart_every`` do not divide ``iters``; None when it ends at ``min_lr``."""
        into = self.iters % self.period
        if self.stretch_last_cycle or not into:
            return None
        return into, cosine_lr(into - 1, self.period, self.lr, self.min_lr)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


FIELD_NAMES = tuple(f.name for f in fields(TrainConfig))
FLOAT_SETTINGS = ("lr", "weight_decay", "min_lr")


def _yaml_floats(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` with the float settings that YAML read as strings made numbers.

    PyYAML follows YAML 1.1, where a float needs a dot: ``lr: 1e-4`` is the string ``'1e-4'``
    (``1.0e-4`` is a float). Only strings that parse as a float are converted; the rest is
    left for the settings check to refuse.
    """
    converted = dict(settings)
    for key in FLOAT_SETTINGS:
        value = settings.get(key)
        if isinstance(value, str):
            try:
                converted[key] = float(value)
            except ValueError:
                pass
    return converted


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Settings from a TOML, YAML or JSON file: its root, or its ``[train]`` table (then alone,
    except in a run's own ``config.json``, whose other keys are the run's record)."""
    p = Path(path)
    if not p.is_file():
        raise not_found_error(p, "config file not found", None)
    text = p.read_text()
    kind = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}.get(p.suffix.lower(), "toml")
    is_yaml = kind == "yaml"
    if is_yaml and importlib.util.find_spec("yaml") is None:
        raise InputError(p, "YAML config files need PyYAML", "pip install pyyaml, or write the config in TOML")
    try:
        if is_yaml:
            import yaml

            data = yaml.safe_load(text) or {}
        elif kind == "json":
            data = json.loads(text)
        else:
            data = tomllib.loads(text)
    except Exception as exc:  # noqa: BLE001 - any parse failure is the user's file
        raise InputError(p, f"cannot parse config file ({type(exc).__name__}: {exc})") from exc
    if not isinstance(data, dict):
        raise InputError(p, "config file must hold a table of settings")
    if isinstance(data.get("train"), dict):
        data = _run_settings(p, data, kind) if data.get("format") == RUN_FORMAT else _train_table(p, data, kind)
    settings = {str(k).replace("-", "_"): v for k, v in data.items()}
    unknown = sorted(set(settings) - set(FIELD_NAMES))
    if unknown:
        raise InputError(p, f"unknown settings {unknown}", f"known: {', '.join(FIELD_NAMES)}")
    return _lower_case_choices(_yaml_floats(settings) if is_yaml else settings)


_STRAY_HINTS = {
    "toml": "put them inside the [train] table, or drop the [train] header",
    "yaml": "indent them under train:, or drop the train: line and unindent its settings",
    "json": 'put them inside the "train" object, or drop it and keep its settings at the top level',
}


def _train_table(path: Path, data: dict[str, Any], kind: str, record: tuple[str, ...] = ()) -> dict[str, Any]:
    """The ``[train]`` table of ``data``, refused when anything else (but the ``record`` keys)
    is beside it.

    A key outside the table (``iters = 2`` above ``[train]``, a typo, another table) would
    otherwise be dropped without a word; which of two places was meant cannot be guessed.
    """
    stray = sorted(str(key) for key in data if key != "train" and key not in record)
    if stray:
        raise InputError(path, f"settings outside [train]: {escape_control_characters(', '.join(stray))}",
                         _STRAY_HINTS[kind])
    return data["train"]


def _run_settings(path: Path, data: dict[str, Any], kind: str) -> dict[str, Any]:
    """A run's own config.json as settings: its ``train`` table beside the run's record, with
    the device the run asked for (``auto``), not the one it got (``cpu``, ``cuda:0``), so that
    the new run picks its own."""
    settings = dict(_train_table(path, data, kind, record=RUN_RECORD_KEYS))
    if isinstance(data.get("requested_device"), str):
        settings["device"] = data["requested_device"]
    return _without_default_schedule(settings)


def _without_default_schedule(settings: dict[str, Any]) -> dict[str, Any]:
    """A run's settings without its record of the default schedule (``stretch_last_cycle`` true:
    the ``restart_every`` it holds was derived from its ``iters``), which the new run derives
    again: the same with the same ``--iters``, its own with another (kept, ``--config
    RUN/config.json --iters 16`` trained cycles of 2 and stretched the fourth to 10). Only a run's
    own record is read so; a ``restart_every`` a hand-made file sets is kept."""
    if settings.get("stretch_last_cycle") is True:
        return {k: v for k, v in settings.items() if k not in ("restart_every", "stretch_last_cycle")}
    return settings


CHOICE_SETTINGS = ("model", "device", "precision")


def _lower_case_choices(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` with the choices spelt as their names are (lower case), as the command line
    reads them: ``model = "MoCoLSK"`` is ``mocolsk``. Values of other types are left for the
    settings check to refuse."""
    return {key: value.lower() if key in CHOICE_SETTINGS and isinstance(value, str) else value
            for key, value in settings.items()}


def merge_config(file_settings: dict[str, Any], cli_settings: dict[str, Any]) -> TrainConfig:
    """Defaults, overridden by the file, overridden by options given on the command line."""
    merged = {**file_settings, **{k: v for k, v in cli_settings.items() if v is not None}}
    try:
        return TrainConfig(**merged)
    except TypeError as exc:
        raise InputError("config", str(exc)) from exc
