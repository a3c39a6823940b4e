"""The methods ``downscale --fit`` fits on one scene, each at two scales.

Every candidate gives

- a **coarse prediction**: the scene's LST degraded once more by the scale (Wald's protocol)
  and sharpened back to the LST grid, to be compared with the real LST on held-out blocks
  (:mod:`pipelines.fit_select`);
- a **member** that sharpens the real LST to the guidance grid, tile by tile: ``raw(lr,
  guidance)`` is its fine LST before the LR residual is spread back.

Candidates: ``bicubic``; the sharpeners ``tsharp``, ``gwr`` and ``dms`` (:mod:`pipelines.sharpen`) and
the per-pixel ``mlp`` (:mod:`pipelines.pixel_mlp`), fitted on every LR pixel of the scale they
sharpen; a network trained on the Wald pairs of
the scene with the training loop of ``groklst train``. The sensor's PSF (fine pixels,
:mod:`pipelines.psf`) is a physical size: ``1/s`` as wide at the coarse scale. A network
learns the sharpness of its targets, which already carry the PSF at the coarse scale; applied
one scale finer it is ``s`` times too sharp, so its fine output is blurred by the PSF narrowed
by ``sqrt(1 - 1/s^2)``: exactly what is missing of a Gaussian, and close to it for a Moffat
PSF (whose convolutions are not Moffat).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from pipelines.checkpoint import Checkpoint
from pipelines.devices import resolve_device
from pipelines.evaluate import model_predictor
from pipelines.fill import fill_nearest
from pipelines.fit_options import FitOptions
from pipelines.infer import Execution, TilePredictor
from pipelines.pixel_mlp import PixelMLP
from pipelines.psf import blur
from pipelines.psf_shape import Psf
from pipelines.residual import correct_residual
from pipelines.sharpen import Sharpener, fitted_with_twin
from pipelines.train import Limits, build_checkpoint, fit
from pipelines.train_config import TrainConfig

StepHook = Callable[[int, float], None]


class Member(Protocol):
    """One method applied at the native scale (tiles of LR pixels and their fine guidance)."""

    name: str

    def raw(self, lr: np.ndarray, guidance: np.ndarray) -> np.ndarray:
        """``lr`` (h, w) Kelvin, ``guidance`` (K, h*s, w*s), no NaN -> fine LST before correction."""
        ...


@dataclass
class Candidate:
    """A fitted method: its coarse prediction, its native-scale member and what it cost."""

    name: str
    coarse: np.ndarray  # on the LST grid, from the degraded LST, residual-corrected
    member: Member
    seconds: float
    checkpoint: Checkpoint | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def bicubic_upsample(lr: np.ndarray, scale: int) -> np.ndarray:
    """What ``--model bicubic`` computes (torch, pixel-area alignment; NaN filled by nearest)."""
    filled = fill_nearest(lr.astype(np.float32))
    values = lr if filled is None else filled
    tensor = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))[None, None]
    out = F.interpolate(tensor, scale_factor=scale, mode="bicubic", align_corners=False)
    return out[0, 0].numpy()


@dataclass
class BicubicMember:
    scale: int
    name: str = "bicubic"

    def raw(self, lr: np.ndarray, guidance: np.ndarray) -> np.ndarray:
        return bicubic_upsample(lr, self.scale)


@dataclass
class SharpenerMember:
    sharpener: Sharpener | PixelMLP

    @property
    def name(self) -> str:
        return self.sharpener.name

    def raw(self, lr: np.ndarray, guidance: np.ndarray) -> np.ndarray:
        return self.sharpener.relation(guidance, lr)


@dataclass
class NetworkMember:
    predictor: TilePredictor
    psf: Psf  # extra blur at the native scale, fine pixels
    name: str

    def raw(self, lr: np.ndarray, guidance: np.ndarray) -> np.ndarray:
        return blur(self.predictor.predict(lr[None], guidance[None])[0], self.psf)


@dataclass
class SceneLayers:
    """What the candidates are fitted on: the scene at both scales, in Kelvin."""

    scale: int
    bands: list[str]
    lst: np.ndarray  # (h, w) the real LST, NaN nodata
    guidance_lr: np.ndarray  # (K, h, w) guidance area-averaged onto the LST grid
    guidance: np.ndarray  # (K, h*s, w*s) native guidance
    coarse: np.ndarray  # (h/s, w/s) the LST degraded once more (Wald's protocol)
    psf: Psf  # sensor PSF, fine pixels
    residual: str


def bicubic_candidate(layers: SceneLayers) -> Candidate:
    start = time.monotonic()
    s = layers.scale
    coarse = correct_residual(bicubic_upsample(layers.coarse, s), layers.coarse, s,
                              mode=layers.residual)
    return Candidate("bicubic", coarse, BicubicMember(s), time.monotonic() - start)


def sharpener_candidate(name: str, layers: SceneLayers, seed: int) -> Candidate:
    """``tsharp``, ``gwr`` or ``dms`` fitted at both scales on every valid LR pixel of each."""
    start = time.monotonic()
    s = layers.scale
    native, at_coarse = fitted_with_twin(name, s, layers.bands, layers.lst, layers.guidance, layers.coarse,
                                         layers.guidance_lr, psf=layers.psf, residual=layers.residual, seed=seed)
    coarse = at_coarse.predict_scene(layers.coarse, layers.guidance_lr)
    leaf = {"leaf_lr_pixels": native.min_leaf} if name == "dms" else {}
    return Candidate(name, coarse, SharpenerMember(native), time.monotonic() - start,
                     extra={"lr_samples": native.samples, **leaf})


def mlp_candidate(layers: SceneLayers, seed: int, max_seconds: float | None = None) -> Candidate:
    """The per-pixel MLP (:mod:`pipelines.pixel_mlp`) fitted at both scales on every LR pixel;
    ``max_seconds`` caps the two fits together (half each)."""
    start = time.monotonic()
    s = layers.scale
    cap = None if max_seconds is None else max_seconds / 2
    at_coarse = PixelMLP(s, layers.bands, psf=layers.psf.scaled(1 / s), seed=seed, max_seconds=cap).fit(
        layers.coarse, layers.guidance_lr)
    coarse = correct_residual(at_coarse.relation(layers.guidance_lr), layers.coarse, s,
                              mode=layers.residual)
    native = PixelMLP(s, layers.bands, psf=layers.psf, seed=seed, max_seconds=cap).fit(layers.lst, layers.guidance)
    stopped = "time limit" if min(at_coarse.steps_done, native.steps_done) < native.steps else "steps"
    return Candidate("mlp", coarse, SharpenerMember(native), time.monotonic() - start,
                     extra={"lr_samples": native.samples, "steps": [at_coarse.steps_done, native.steps_done],
                            "stopped": stopped})


class EarlyStopping:
    """``on_validation`` hook: stop after ``patience`` validations without a lower RMSE."""

    def __init__(self, patience: int):
        self.patience, self.best, self.waited, self.triggered = patience, math.inf, 0, False

    def __call__(self, iteration: int, metrics: dict[str, float]) -> bool:
        rmse = metrics.get("rmse", math.nan)
        if math.isfinite(rmse) and rmse < self.best:
            self.best, self.waited = rmse, 0
        else:
            self.waited += 1
        self.triggered = self.waited >= self.patience
        return self.triggered


def network_candidate(model: str, layers: SceneLayers, source, crop: int, opts: FitOptions,
                      fitted_on: str, on_step: StepHook | None = None) -> Candidate:
    """A network trained on the Wald pairs of ``source`` (a :class:`WaldScene`)."""
    start = time.monotonic()
    s = layers.scale
    config = TrainConfig(
        model=model, scale=s, iters=opts.iters, batch_size=opts.batch_size, crop=crop,
        lr=opts.lr, min_lr=opts.lr / 100, val_every=opts.val_every, seed=opts.seed,
        device=opts.device, precision="fp32", model_kwargs=opts.kwargs_for(model),
        restart_every=opts.iters,  # one cosine decay: a short per-scene fit with early stopping
    )
    stalled = EarlyStopping(opts.patience)
    limits = Limits(max_seconds=opts.seconds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks in metrics
        result = fit(source, config, limits=limits, on_step=on_step, on_validation=stalled,
                     keep_best=True)
    device = resolve_device(opts.device)
    best = result.best or {}
    stopped = ("early stopping" if stalled.triggered
               else "iterations" if result.finished else "time limit")
    checkpoint = build_checkpoint(result.model, source, config, {
        "iteration": result.iteration, "val": best or None, "fitted_on": fitted_on,
        "degradation": opts.degradation, "psf": layers.psf.spec,
    })
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN band: NaN bounds
        checkpoint.band_min = np.nanmin(layers.guidance_lr, axis=(1, 2)).astype(float).tolist()
        checkpoint.band_max = np.nanmax(layers.guidance_lr, axis=(1, 2)).astype(float).tolist()
    predict = model_predictor(result.model.eval(), source.stats, device)
    coarse = correct_residual(predict(layers.coarse, layers.guidance_lr), layers.coarse, s,
                              mode=layers.residual)
    remainder = layers.psf.scaled(math.sqrt(1 - 1 / s**2))
    member = NetworkMember(TilePredictor(checkpoint, device), remainder, model)
    return Candidate(model, coarse, member, time.monotonic() - start, checkpoint, extra={
        "iterations": result.iteration, "best_iteration": best.get("iteration"),
        "stopped": stopped, "crop": crop, "train_windows": len(source.indices("train")),
    })


@dataclass
class BlendPredictor:
    """The written method: members blended with fixed weights, then the residual spread back.

    Residual correction is affine in the fine field, so correcting the blend equals blending
    the corrected members (the weights sum to one). Same ``predict`` as a network's
    :class:`~pipelines.infer.TilePredictor`.
    """

    name: str
    scale: int
    bands: list[str]
    members: list[Member]
    weights: list[float]
    residual: str

    @property
    def networks(self) -> list[TilePredictor]:
        """The predictors of the networks blended in (weight above zero)."""
        return [m.predictor for m, w in zip(self.members, self.weights) if isinstance(m, NetworkMember) and w > 0]

    @property
    def holds_network(self) -> bool:
        """Whether a network is blended in: its values next to a hole depend on data it cannot
        see. The sharpeners read each pixel's own guidance plus the interpolated LR residual."""
        return bool(self.networks)

    @property
    def precision(self) -> str | None:
        """What the blended networks run at (all alike, see :meth:`run_with`); ``None`` without one."""
        return self.networks[0].precision if self.networks else None

    def run_with(self, execution: Execution) -> None:
        """Run the blended networks as ``execution`` says (``--precision``, ``--compile``,
        ``--plain``), as any network runs; their held-out scores were computed in fp32."""
        for predictor in self.networks:
            predictor.run_with(execution)

    def predict(self, lr: np.ndarray, guidance: np.ndarray) -> np.ndarray:
        """``lr`` (B, h, w) Kelvin and ``guidance`` (B, K, h*s, w*s) without NaN -> (B, h*s, w*s)."""
        out = []
        for tile_lr, tile_guidance in zip(lr, guidance):
            raw = sum(w * m.raw(tile_lr, tile_guidance)
                      for m, w in zip(self.members, self.weights) if w > 0)
            out.append(correct_residual(np.asarray(raw, np.float32), tile_lr, self.scale,
                                        mode=self.residual))
        return np.stack(out)
