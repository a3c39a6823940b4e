"""Options of ``groklst downscale --fit``, importable without torch so the CLI starts fast."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipelines.errors import InputError
from pipelines.psf_shape import Psf
from pipelines.units import Units

# A compact mocolsk-lite for per-scene fits: a few hundred steps on one scene cannot train the
# full preset, and this width keeps a 500 x 500 LR scene at x4 within minutes on two CPU cores.
COMPACT_KWARGS: dict[str, dict[str, Any]] = {
    "mocolsk-lite": {"base_dim": 8, "num_stages": 2, "dmlp_hidden": 8, "recon_lr_blocks": 1},
}
INTERPOLATION_CANDIDATES = ("bicubic",)
SHARPENER_CANDIDATES = ("tsharp", "gwr", "dms", "mlp")  # fitted on every LR pixel, refitted per scene
DEFAULT_CANDIDATES = ("bicubic", "tsharp", "gwr", "dms", "mlp", "mocolsk-lite")
RESIDUALS = ("smooth", "block", "none")
SELECTIONS = ("blend", "best")


@dataclass
class FitOptions:
    """How to fit one scene. ``crop`` is in LST pixels (None: 12 LR pixels, capped by the scene).

    ``model`` fits that one method; ``None`` fits every one of ``candidates`` and writes the
    best or the held-out-weighted blend (``select``). ``psf`` is the thermal sensor's PSF in
    fine pixels (None: estimated from the LR scene; ``Psf()``: none). ``residual`` spreads the
    LR residual back (``none``: the output is not made LR-consistent).
    """

    model: str | None = None
    candidates: tuple[str, ...] = DEFAULT_CANDIDATES
    model_kwargs: dict[str, Any] | None = None  # None: COMPACT_KWARGS for the model, if any
    iters: int = 300
    seconds: float | None = None  # a time cap makes the result depend on the machine's load
    batch_size: int = 4
    crop: int | None = None
    lr: float = 2e-3
    val_every: int = 25
    patience: int = 4  # validations without improvement before stopping
    degradation: str = "area"
    residual: str = "smooth"
    psf: Psf | None = None
    select: str = "blend"
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
        if self.residual not in RESIDUALS:
            raise InputError("--fit-residual", f"unknown residual correction {self.residual!r}",
                             f"use one of {', '.join(RESIDUALS)}")
        if self.select not in SELECTIONS:
            raise InputError("--fit-select", f"unknown selection {self.select!r}",
                             f"use one of {', '.join(SELECTIONS)}")
        if self.model is not None:
            if self.model in SHARPENER_CANDIDATES:
                return
            try:
                learned = get_spec(self.model).learned
            except KeyError as exc:
                raise InputError("--model", str(exc.args[0])) from exc
            if not learned:
                raise InputError("--model", f"{self.model!r} has no weights to fit",
                                 "use a network such as mocolsk-lite, tsharp, gwr, dms or mlp, or leave "
                                 "--model out to compare them all")
            return
        if not self.candidates:
            raise InputError("--fit-candidates", "no candidate to fit")
        repeated = sorted({n for n in self.candidates if self.candidates.count(n) > 1})
        if repeated:  # each is fitted once and has one blend weight
            raise InputError("--fit-candidates", f"{', '.join(repeated)} given more than once",
                             "name each method once")
        for name in self.candidates:
            if name in INTERPOLATION_CANDIDATES or name in SHARPENER_CANDIDATES:
                continue
            try:
                learned = get_spec(name).learned
            except KeyError:
                learned = False
            if not learned:
                raise InputError("--fit-candidates", f"{name!r} is not a candidate",
                                 f"use bicubic, {', '.join(SHARPENER_CANDIDATES)} or a network (groklst models "
                                 "lists them)")

    @property
    def methods(self) -> tuple[str, ...]:
        """The methods fitted: the one ``model``, or every candidate."""
        return (self.model,) if self.model is not None else tuple(self.candidates)

    @property
    def networks(self) -> tuple[str, ...]:
        """The fitted methods that are networks (trained by Wald's protocol)."""
        classic = INTERPOLATION_CANDIDATES + SHARPENER_CANDIDATES
        return tuple(m for m in self.methods if m not in classic)

    def kwargs_for(self, model: str) -> dict[str, Any]:
        if self.model_kwargs is not None:
            return dict(self.model_kwargs)
        return dict(COMPACT_KWARGS.get(model, {}))
