"""Running a downscaling model on batches of tiles, device-agnostic.

Inputs and outputs are NumPy arrays in physical units (Kelvin, guidance units); z-score
normalisation with the checkpoint's statistics, the device transfer (pinned memory and
non-blocking copies on CUDA) and mixed precision (autocast on CUDA) happen here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from pipelines.checkpoint import Checkpoint, file_hash, groklst_version
from pipelines.devices import autocast_for, resolve_device, resolve_precision
from pipelines.normalize import denormalize_lst, normalize_guidance, normalize_lst


class TilePredictor:
    """Wraps a checkpoint's model: ``predict(lr, guidance) -> hr`` on batches of tiles."""

    def __init__(self, checkpoint: Checkpoint, device: torch.device):
        self.checkpoint = checkpoint
        self.device = device
        self.model = checkpoint.build().to(device)
        self.scale = checkpoint.scale
        self.precision = resolve_precision("auto", device)

    def _to_device(self, array: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
        if self.device.type == "cuda":
            return tensor.pin_memory().to(self.device, non_blocking=True)
        return tensor

    @torch.inference_mode()
    def predict(self, lr: np.ndarray, guidance: np.ndarray) -> np.ndarray:
        """``lr`` (B, h, w) Kelvin and ``guidance`` (B, K, h*s, w*s) without NaN -> (B, h*s, w*s)."""
        lr_n = normalize_lst(lr[:, None], self.checkpoint)
        guidance_n = normalize_guidance(guidance, self.checkpoint)
        with autocast_for(self.device, self.precision):
            out = self.model(self._to_device(lr_n), self._to_device(guidance_n))
        return denormalize_lst(out.float().cpu().numpy()[:, 0], self.checkpoint)


DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[1] / "models" / "pretrained" / "mocolsk-lite-x3-sdgsat.pt"


class FittedPredictor(Protocol):
    """A method already fitted on the scene (``downscale --fit``), with a fixed scale and bands."""

    name: str
    scale: int
    bands: list[str]

    def predict(self, lr: np.ndarray, guidance: np.ndarray) -> np.ndarray: ...


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
    ):
        if sum(x is not None for x in (checkpoint, interpolation, fitted)) != 1:
            raise ValueError("give exactly one of checkpoint, interpolation or fitted")
        self.checkpoint = checkpoint
        self.fitted = fitted
        self.checkpoint_path = None if checkpoint_path is None else str(checkpoint_path)
        self.interpolation = interpolation
        self.device_name = device
        self.extra_tags = dict(extra_tags or {})
        self._cache: dict[tuple[int, tuple[str, ...]], TilePredictor] = {}
        self._hash: str | None = None

    @property
    def name(self) -> str:
        if self.fitted is not None:
            return self.fitted.name
        return self.checkpoint.model if self.checkpoint else str(self.interpolation)

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

    def predictor(self, scale: int, bands: list[str]) -> TilePredictor | FittedPredictor:
        if self.fitted is not None:
            return self.fitted
        key = (scale, tuple(bands))
        if key not in self._cache:
            ckpt = self.checkpoint or Checkpoint.untrained(str(self.interpolation), scale, bands)
            self._cache[key] = TilePredictor(ckpt, resolve_device(self.device_name))
        return self._cache[key]

    def tags(self) -> dict[str, str]:
        """Provenance tags for outputs."""
        tags = {"model": self.name, "groklst_version": groklst_version(), **self.extra_tags}
        if self.checkpoint_path:
            if self._hash is None:
                self._hash = file_hash(self.checkpoint_path)
            tags.update(checkpoint=Path(self.checkpoint_path).name, checkpoint_sha256=self._hash)
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
