"""A checkpoint's card: what the model is, what input it needs and how it was trained.

Everything comes from the checkpoint file itself (loaded safely, ``weights_only=True``) plus
its SHA-256, so the card of a file is the same wherever it is read.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from pipelines.checkpoint import FORMAT, file_hash, load_checkpoint
from pipelines.metrics import METRICS, PARTIAL_METRICS

# Training config keys summarised on the "training" line, in this order, with their labels.
_TRAINING_KEYS = (("batch_size", "batch"), ("crop", "crop"), ("lr", "lr"),
                  ("weight_decay", "weight decay"), ("seed", "seed"), ("device", "on"),
                  ("precision", "precision"), ("world_size", "processes"))


def checkpoint_card(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The card of the checkpoint at ``path`` as plain JSON-able values."""
    ckpt = load_checkpoint(path)
    hr = ckpt.hr_resolution
    return {
        "path": str(path),
        "sha256": file_hash(path),
        "size_bytes": Path(path).stat().st_size,
        "format": FORMAT,
        "model": ckpt.model,
        "model_kwargs": ckpt.model_kwargs,
        "parameters": sum(int(p.numel()) for p in ckpt.build().parameters()),
        "scale": ckpt.scale,
        "hr_resolution": hr,
        "lr_resolution": None if hr is None else hr * ckpt.scale,
        "resolution_units": ckpt.hr_resolution_units,
        "meant_for": _meant_for(ckpt.config, hr, ckpt.scale),
        "lst": {"mean": ckpt.lst_mean, "std": ckpt.lst_std, "unit": "K"},
        "bands": [{"name": n, "mean": m, "std": s}
                  for n, m, s in zip(ckpt.bands, ckpt.band_mean, ckpt.band_std)],
        "config": ckpt.config,
        "groklst_version": ckpt.groklst_version,
    }


def _meant_for(config: dict[str, Any], hr: float | None, scale: int) -> dict[str, Any] | None:
    """For a network fitted on a scene (``downscale --fit``, ``fitted_on`` in its config): the
    LST and output pixel sizes it is meant for. It trained on the scene degraded by the scale
    (``hr_resolution`` is the scene's LST pixel) and is applied to the scene itself, one scale
    finer. None for a trained checkpoint, which is meant for the resolution it trained on."""
    if "fitted_on" not in config or hr is None:
        return None
    return {"lst_resolution": hr, "output_resolution": hr / scale, "scene": config["fitted_on"]}


def _resolution_line(label: str, lst: float, out: float, unit: str | None, suffix: str = "") -> str:
    """``LABEL LST at 120 m -> output at 30 m``; without a unit, the sizes are said to be in the
    training scenes' CRS units."""
    if unit:
        return f"{label} LST at {lst:g} {unit} -> output at {out:g} {unit}{suffix}"
    return f"{label} LST at {lst:g} -> output at {out:g}{suffix} (pixel size, the training scenes' CRS units)"


def _training_line(config: dict[str, Any]) -> str | None:
    parts = []
    if "iteration" in config or "iters" in config:
        done, planned = config.get("iteration"), config.get("iters")
        parts.append(f"{done} of {planned} iterations" if done is not None and planned is not None
                     else f"{done if done is not None else planned} iterations")
    parts += [f"{label} {_training_value(config, key)}" for key, label in _TRAINING_KEYS
              if config.get(key) is not None]
    return ", ".join(parts) or None


def _training_value(config: dict[str, Any], key: str) -> Any:
    """A training setting as shown; the device used, with the requested one when it differs."""
    value = config[key]
    requested = config.get("requested_device")
    if key == "device" and requested is not None and requested != value:
        return f"{value} (requested {requested})"
    return value


def _config_value(key: str, value: Any) -> str:
    """A config value as recorded; a run recorded before the cycle default became a quarter of
    the run has ``restart_every`` null, which trained one cycle: say so, as null now reads as four."""
    if key == "restart_every" and value is None:
        return "null (one cycle)"
    return json.dumps(value)


def _validation_line(config: dict[str, Any]) -> str | None:
    """The latest validation's means, ``n/a`` for one over no patch (NaN recorded, null in
    --json), and the patches CC and RSD are over where fewer than ``images`` (recorded as
    ``cc_images`` since 2026-12-07; a checkpoint from before has no such counts)."""
    val = config.get("val")
    if not isinstance(val, dict):
        return None
    parts = [f"{m.upper()} {_metric_value(val[m])}" for m in METRICS if m in val]
    if "images" in val:
        fewer = _fewer_images(val)
        noun = "image" if val["images"] == 1 else "images"
        parts.append(f"on {val['images']} {noun}" + (f" ({fewer})" if fewer else ""))
    return ", ".join(parts) or None


def _metric_value(value: Any) -> str:
    """A recorded validation mean as the card shows it: ``n/a`` where it is undefined."""
    if isinstance(value, (int, float)) and math.isfinite(value):
        return f"{value:.4g}"
    return "n/a"


def _fewer_images(val: dict[str, Any]) -> str | None:
    """``CC over 3, RSD over 3: undefined ...`` for the means recorded over fewer patches than
    ``images``, as ``evaluate`` notes them; None when none is (or no counts were recorded)."""
    counts = {m: val.get(f"{m}_images") for m in PARTIAL_METRICS}
    fewer = [f"{m.upper()} over {n}" for m, n in counts.items() if isinstance(n, int) and n < val["images"]]
    if not fewer:
        return None
    return f"{', '.join(fewer)}: undefined on a constant truth, CC also on a constant prediction"


def format_card(card: dict[str, Any]) -> list[str]:
    """The card as aligned text lines for a terminal or a log."""
    kwargs = f" {json.dumps(card['model_kwargs'])}" if card["model_kwargs"] else ""
    params = f"{card['parameters']:,} parameters" if card["parameters"] else "no weights (interpolation)"
    lines = [
        f"checkpoint  {card['path']}",
        f"sha256      {card['sha256']}",
        f"size        {card['size_bytes'] / 1e6:.1f} MB ({card['format']})",
        f"model       {card['model']}{kwargs}, {params}",
        f"scale       x{card['scale']}",
    ]
    if card["hr_resolution"] is not None:
        unit = card["resolution_units"]
        lines.append(_resolution_line("resolution  trained on", card["lr_resolution"], card["hr_resolution"], unit))
    meant = card.get("meant_for")
    if meant is not None:
        lines.append(_resolution_line("meant for  ", meant["lst_resolution"], meant["output_resolution"],
                                      card["resolution_units"], f" (the scene it was fitted on, {meant['scene']})"))
    lst = card["lst"]
    lines.append(f"lst         normalised with mean {lst['mean']:.4g} K, std {lst['std']:.4g} K")
    lines.append(f"bands       {len(card['bands'])}, in this order (matched by name in the guidance):")
    width = max((len(b["name"]) for b in card["bands"]), default=0)
    lines += [f"  {i:>2} {b['name']:<{width}}  mean {b['mean']:.4g}, std {b['std']:.4g}"
              for i, b in enumerate(card["bands"], start=1)]
    config = card["config"]
    for label, line in (("training", _training_line(config)), ("validation", _validation_line(config))):
        if line:
            lines.append(f"{label:<11} {line}")
    shown = {"iteration", "iters", "val", "model", "scale", "model_kwargs", "requested_device",
             *(k for k, _ in _TRAINING_KEYS)}
    rest = {k: v for k, v in config.items() if k not in shown}
    if rest:
        lines.append("config      " + ", ".join(f"{k}={_config_value(k, v)}" for k, v in rest.items()))
    lines.append(f"version     made with groklst {card['groklst_version']}")
    return lines
