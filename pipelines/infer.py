"""Running a downscaling model on batches of tiles, device-agnostic.

Inputs and outputs are NumPy arrays in physical units (Kelvin, guidance units); z-score
normalisation with the checkpoint's statistics, the device transfer (pinned memory and
non-blocking copies on CUDA), the memory layout, mixed precision and optional compilation
happen here. The default path is exact against the plain fp32 NCHW one (tested to 1e-4 K);
reduced precision is an explicit choice (:class:`Execution`).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from models.registry import get_spec, list_models
from pipelines.checkpoint import Checkpoint, file_hash, groklst_version, load_checkpoint
from pipelines.devices import PRECISIONS, autocast_for, resolve_device, resolve_precision
from pipelines.errors import GroklstWarning, InputError
from pipelines.normalize import band_vector, denormalize_lst, normalize_lst
from pipelines.percent import percent
from pipelines.raster_names import source_tag


def check_switch(name: str, value: object) -> None:
    """Refuse a ``value`` for the on/off setting ``name`` that is not True or False: a string
    such as ``"no"`` or ``"false"`` is truthy and would switch it on."""
    if not isinstance(value, bool):
        raise InputError(name, f"must be True or False, not {value!r}", "pass a bool")


@dataclass(frozen=True)
class Execution:
    """How a model runs: exact choices by default, reduced precision only when asked.

    ``channels_last`` is the fast exact layout on CPUs and GPUs (oneDNN / cuDNN kernels; the
    plain NCHW path is ``channels_last=False``). ``precision`` ``auto`` is fp32 on the CPU and
    bf16 autocast on CUDA; ``bf16``/``fp16`` on the CPU are not exact and only faster on CPUs
    with native bf16 instructions (README, Benchmarks). ``compile`` runs the model through
    ``torch.compile`` (inductor; compiled once, cached on disk by torch), meant for GPUs: on
    the CPUs measured it was no faster than the eager default.
    """

    precision: str = "auto"
    channels_last: bool = True
    compile: bool = False

    def __post_init__(self) -> None:
        """Refuse an unknown precision now: ``precision="bogus"`` ran as fp16 autocast and was
        written into the output's ``precision`` tag. A switch that is no bool is refused too:
        ``channels_last="no"`` is truthy, so it ran channels_last."""
        if self.precision not in PRECISIONS:
            raise InputError("Execution.precision", f"unknown precision {self.precision!r}",
                             f"use one of {', '.join(PRECISIONS)}")
        for field in ("channels_last", "compile"):
            check_switch(f"Execution.{field}", getattr(self, field))

    @classmethod
    def plain(cls) -> Execution:
        """The reference path: fp32, NCHW, eager."""
        return cls(precision="fp32", channels_last=False, compile=False)


CLIPPED_SHARE_WARNING = 0.01  # warn once when more of a band than this lies outside its fitted range


def clip_to_fitted_range(guidance: np.ndarray, checkpoint: Checkpoint) -> tuple[np.ndarray, dict[str, float]]:
    """``guidance`` (B, K, H, W) clipped per band to the range the model was fitted on, if known,
    and the share of each band's pixels that was clipped (bands above CLIPPED_SHARE_WARNING).

    A scene fit trains one scale coarser than it is applied, on area-averaged guidance, so the
    native guidance holds values it never saw (a bright roof in SWIR); a network extrapolates
    those wildly (measured on a Landsat date: 220 K on a 307 K roof), as a tree's splits would
    not. NaN bounds clip nothing.
    """
    if not checkpoint.band_min:
        return guidance, {}
    low = np.asarray(checkpoint.band_min, np.float32)[:, None, None]
    high = np.asarray(checkpoint.band_max, np.float32)[:, None, None]
    outside = ((guidance < low) | (guidance > high)).mean(axis=(0, 2, 3))
    shares = {b: float(v) for b, v in zip(checkpoint.bands, outside) if v > CLIPPED_SHARE_WARNING}
    return np.fmin(np.fmax(guidance, low), high), shares


class Prediction(Protocol):
    """A batch's output (B, H, W) in Kelvin, perhaps still being computed: ``result()`` waits."""

    def result(self) -> np.ndarray: ...


@dataclass(frozen=True)
class ReadyPrediction:
    """A prediction already computed (the CPU, or a predictor without asynchronous work)."""

    values: np.ndarray

    def result(self) -> np.ndarray:
        return self.values


@dataclass(frozen=True)
class _CopyingPrediction:
    """A CUDA batch on its way into pinned host memory; ``copied`` is recorded after the copy."""

    host: torch.Tensor
    copied: torch.cuda.Event
    count: int
    stats: Checkpoint

    def result(self) -> np.ndarray:
        self.copied.synchronize()
        return denormalize_lst(self.host.numpy()[: self.count, 0], self.stats)


class TilePredictor:
    """Wraps a checkpoint's model: ``predict(lr, guidance) -> hr`` on batches of tiles."""

    def __init__(self, checkpoint: Checkpoint, device: torch.device,
                 execution: Execution = Execution()):
        self.checkpoint = checkpoint
        self.device = device
        self.model = checkpoint.build().to(device)
        self.uses_guidance = get_spec(checkpoint.model).guided  # interpolators, EDSR, RCAN: not
        self.scale = checkpoint.scale
        self._warned_clipping = False
        self.run_with(execution)

    def run_with(self, execution: Execution) -> None:
        """Run from now on as ``execution`` says (layout, precision, compilation): a network
        fitted on the scene is built before the run's ``--precision``/``--compile``/``--plain``."""
        self.execution = execution
        self.memory_format = torch.channels_last if execution.channels_last else torch.contiguous_format
        self.model = self.model.to(memory_format=self.memory_format)
        self.precision = resolve_precision(execution.precision, self.device)
        self._forward = torch.compile(self.model, dynamic=False) if execution.compile else self.model
        self._batch = 0  # the first batch size seen: a compiled model gets every batch padded to it

    def _to_device(self, array: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
        if self.device.type == "cuda":
            tensor = tensor.pin_memory().to(self.device, non_blocking=True)
        return tensor

    def _guidance_input(self, guidance: np.ndarray) -> torch.Tensor:
        """Z-scored guidance on the device in the model's memory format.

        The subtraction writes straight into the target layout and the division works in
        place: two passes over the batch instead of NumPy's two plus a layout copy. Each step
        is the same IEEE operation as :func:`~pipelines.normalize.normalize_guidance`, so the
        values are bit-identical to it.
        """
        raw = self._to_device(guidance)
        out = torch.empty_like(raw, memory_format=self.memory_format)
        torch.sub(raw, band_vector(self.checkpoint.band_mean, raw), out=out)
        return out.div_(band_vector(self.checkpoint.band_std, raw))

    def predict(self, lr: np.ndarray, guidance: np.ndarray) -> np.ndarray:
        """``lr`` (B, h, w) Kelvin and ``guidance`` (B, K, h*s, w*s) without NaN -> (B, h*s, w*s)."""
        return self.submit(lr, guidance).result()

    @torch.inference_mode()
    def submit(self, lr: np.ndarray, guidance: np.ndarray) -> Prediction:
        """Start :meth:`predict` on a batch; on CUDA the forward pass and the copy back into
        pinned memory run while the caller blends the previous batch (``result()`` waits)."""
        count = lr.shape[0]
        self._batch = self._batch or count
        if self.execution.compile and count < self._batch:  # one compiled shape per tile size
            pad = self._batch - count
            lr = np.concatenate([lr, np.repeat(lr[-1:], pad, axis=0)])
            guidance = np.concatenate([guidance, np.repeat(guidance[-1:], pad, axis=0)])
        lr_n = self._to_device(normalize_lst(lr[:, None], self.checkpoint))
        guidance_n = self._guidance_input(self._clipped(guidance)) if self.uses_guidance else None
        with autocast_for(self.device, self.precision):
            out = self._forward(lr_n.contiguous(memory_format=self.memory_format), guidance_n).float()
        if self.device.type != "cuda":
            return ReadyPrediction(denormalize_lst(out.numpy()[:count, 0], self.checkpoint))
        host = torch.empty(out.shape, dtype=torch.float32, pin_memory=True)
        host.copy_(out, non_blocking=True)
        copied = torch.cuda.Event()
        copied.record()
        return _CopyingPrediction(host, copied, count, self.checkpoint)

    def _clipped(self, guidance: np.ndarray) -> np.ndarray:
        """The guidance clipped to the fitted range (warning once when much of it was)."""
        clipped, shares = clip_to_fitted_range(guidance, self.checkpoint)
        if shares and not self._warned_clipping:
            self._warned_clipping = True
            bands = ", ".join(f"{b} {percent(v)}%" for b, v in shares.items())
            warnings.warn(f"guidance outside the range the fitted model was trained on was clipped "
                          f"to it ({bands} of a batch's pixels): the model may not suit this scene",
                          GroklstWarning, stacklevel=3)
        return clipped


DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[1] / "models" / "pretrained" / "mocolsk-lite-x3-sdgsat.pt"
DEFAULT_MODEL = "mocolsk-lite"  # DEFAULT_CHECKPOINT's model


def submit(predictor: TilePredictor | FittedPredictor, lr: np.ndarray, guidance: np.ndarray) -> Prediction:
    """Start a batch where the predictor can run it asynchronously, else compute it now."""
    if isinstance(predictor, TilePredictor):
        return predictor.submit(lr, guidance)
    return ReadyPrediction(predictor.predict(lr, guidance))


class FittedPredictor(Protocol):
    """A method already fitted on the scene (``downscale --fit``), with a fixed scale and bands."""

    name: str
    scale: int
    bands: list[str]
    holds_network: bool  # whether its values next to a hole depend on data it cannot see

    def predict(self, lr: np.ndarray, guidance: np.ndarray) -> np.ndarray: ...


def interpolators() -> list[str]:
    """The registered models without weights (bicubic, bilinear): what ``interpolation`` names."""
    return [spec.name for spec in list_models() if not spec.learned]


def check_interpolation(name: str) -> str:
    """The registered interpolator ``name`` names, in any case (``"Bicubic"``, as the CLI's
    choices take it), else refused listing them: an unknown name failed only when the first
    scene ran, a network's name only then asked for weights. A network's name is told apart
    from a misspelling: it was called an unknown interpolation."""
    known = interpolators()
    wanted = str(name).lower()
    if wanted in known:
        return wanted
    if wanted in {spec.name for spec in list_models()}:
        raise InputError("ModelSource.interpolation", f"{name!r} is a network, not an interpolation: "
                         "it runs from trained weights",
                         "use ModelSource.from_checkpoint(path) (the "
                         f"shipped {DEFAULT_MODEL} weights: pipelines.infer.DEFAULT_CHECKPOINT), or fit it "
                         f"on the scene; interpolation takes {', '.join(known)}")
    raise InputError("ModelSource.interpolation", f"unknown interpolation {name!r}",
                     f"use one of {', '.join(known)}; a network runs from ModelSource.from_checkpoint(path)")


class ModelSource:
    """Where predictions come from: a trained checkpoint, an interpolator (scale from the grids),
    or a predictor fitted on the scene.

    Predictors are built lazily and cached per (scale, bands), so a run over many scenes
    builds the network once.
    """

    def __init__(
        self,
        *,
        checkpoint: Checkpoint | None = None,
        checkpoint_path: str | os.PathLike[str] | None = None,
        interpolation: str | None = None,
        fitted: FittedPredictor | None = None,
        device: str = "auto",
        extra_tags: dict[str, str] | None = None,
        checkpoint_sha256: str | None = None,
    ):
        """``checkpoint_sha256``: the hash of ``checkpoint_path``'s bytes when the caller knows
        them (a checkpoint still under its temporary name); else hashed at the first :meth:`tags`."""
        if sum(x is not None for x in (checkpoint, interpolation, fitted)) != 1:
            raise ValueError("give exactly one of checkpoint, interpolation or fitted")
        if interpolation is not None:
            interpolation = check_interpolation(interpolation)
        self.checkpoint = checkpoint
        self.fitted = fitted
        self.checkpoint_path = None if checkpoint_path is None else str(checkpoint_path)
        self.interpolation = interpolation
        self.device_name = device
        self.extra_tags = dict(extra_tags or {})
        self._cache: dict[tuple[int, tuple[str, ...], Execution], TilePredictor] = {}
        self._hash = checkpoint_sha256

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike[str], *, device: str = "auto",
                        extra_tags: dict[str, str] | None = None) -> ModelSource:
        """The trained network saved at ``path``, loaded and named by that one path: the
        constructor takes the loaded checkpoint and its file (for the output's provenance tags)
        as two arguments that must name the same file."""
        return cls(checkpoint=load_checkpoint(path), checkpoint_path=path, device=device, extra_tags=extra_tags)

    @property
    def name(self) -> str:
        if self.fitted is not None:
            return self.fitted.name
        return self.checkpoint.model if self.checkpoint else str(self.interpolation)

    @property
    def needs_hole_margin(self) -> bool:
        """Whether outputs next to nodata need the hole margin by default: a network's values
        there depend on data it cannot see (a checkpoint, or a fit with a network in it);
        interpolators and the fitted sharpeners lose accuracy there as bicubic does (README)."""
        if self.fitted is not None:
            return self.fitted.holds_network
        return self.checkpoint is not None

    @property
    def scale(self) -> int | None:
        """The fixed scale of a checkpoint or fitted method; ``None`` when it follows the grids."""
        if self.fitted is not None:
            return self.fitted.scale
        return self.checkpoint.scale if self.checkpoint else None

    def bands(self, available: list[str]) -> list[str]:
        """Guidance bands to read: the model's, or all of them (for the nodata mask)."""
        if self.fitted is not None:
            return list(self.fitted.bands)
        return list(self.checkpoint.bands) if self.checkpoint else list(available)

    def predictor(self, scale: int, bands: list[str],
                  execution: Execution = Execution()) -> TilePredictor | FittedPredictor:
        if self.fitted is not None:
            return self.fitted
        key = (scale, tuple(bands), execution)
        if key not in self._cache:
            ckpt = self.checkpoint or Checkpoint.untrained(str(self.interpolation), scale, bands)
            self._cache[key] = TilePredictor(ckpt, resolve_device(self.device_name), execution)
        return self._cache[key]

    def tags(self) -> dict[str, str]:
        """Provenance tags for outputs."""
        tags = {"model": self.name, "groklst_version": groklst_version(), **self.extra_tags}
        if self.checkpoint_path:
            if self._hash is None:
                self._hash = file_hash(self.checkpoint_path)
            tags.update(checkpoint=source_tag(self.checkpoint_path), checkpoint_sha256=self._hash)
        elif self.checkpoint is not None or self.fitted is not None:
            tags["checkpoint"] = "none (in memory, not saved)"
        else:
            tags["checkpoint"] = "none (non-learned interpolation)"
        return tags

    def __getstate__(self) -> dict:
        # Predictors hold device tensors; workers rebuild their own.
        state = self.__dict__.copy()
        state["_cache"] = {}
        return state
