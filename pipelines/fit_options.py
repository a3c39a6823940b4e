"""Options of ``groklst downscale --fit``, importable without torch so the CLI starts fast."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipelines.errors import InputError
from pipelines.units import Units

# A compact mocolsk-lite for per-scene fits: a few hundred steps on one scene cannot train the
# full preset, and this width keeps a 500 x 500 LR scene at x4 within minutes on two CPU cores.
COMPACT_KWARGS: dict[str, dict[str, Any]] = {
    "mocolsk-lite": {"base_dim": 8, "num_stages": 2, "dmlp_hidden": 8, "recon_lr_blocks": 1},
}


@dataclass
class FitOptions:
    """How to fit one scene. ``crop`` is in LST pixels (None: 12 LR pixels, capped by the scene)."""

    model: str = "mocolsk-lite"
    model_kwargs: dict[str, Any] | None = None  # None: COMPACT_KWARGS for the model, if any
    iters: int = 300
    seconds: float | None = 90.0
    batch_size: int = 4
    crop: int | None = None
    lr: float = 2e-3
    val_every: int = 25
    patience: int = 4  # validations without improvement before stopping
    degradation: str = "area"
    units: Units = Units.auto
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        from models.registry import get_spec  # torch: only when a fit is really set up
        from pipelines.degrade import DEGRADERS

        if self.degradation not in DEGRADERS:
            raise InputError("--degrade", f"unknown degradation {self.degradation!r}",
                             f"use one of {', '.join(sorted(DEGRADERS))}")
        if self.iters < 1 or (self.seconds is not None and self.seconds <= 0):
            raise InputError("--fit-iters", "the fit needs at least one iteration and a positive time")
        spec = get_spec(self.model)
        if not spec.learned:
            raise InputError("--model", f"{self.model!r} has no weights to fit",
                             "use a learned model such as mocolsk-lite")

    @property
    def kwargs(self) -> dict[str, Any]:
        if self.model_kwargs is not None:
            return dict(self.model_kwargs)
        return dict(COMPACT_KWARGS.get(self.model, {}))
