"""Scoring models on a split of a prepared dataset with the paper's metrics (Table IX style).

Each patch is predicted whole: inputs are z-scored with the model's statistics and NaN-filled,
the output is de-normalised to Kelvin, and the metrics are computed against the HR LST over its
valid pixels, per patch, then averaged over patches.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from pipelines.checkpoint import Checkpoint
from pipelines.devices import autocast_for
from pipelines.errors import GroklstWarning, InputError
from pipelines.metrics import METRICS, MetricAverage
from pipelines.normalize import HasStats, denormalize_lst, network_inputs
from pipelines.train_data import DataSource

Predictor = Callable[[np.ndarray, np.ndarray], np.ndarray]


def model_predictor(
    model: nn.Module, stats: HasStats, device: torch.device, precision: str = "fp32"
) -> Predictor:
    """``predict(lr (h,w), guidance (K,H,W)) -> hr (H,W)`` in Kelvin, for one patch."""

    @torch.inference_mode()
    def predict(lr: np.ndarray, guidance: np.ndarray) -> np.ndarray:
        lr_n, guidance_n = network_inputs(lr, guidance, stats)
        lr_t = torch.from_numpy(np.ascontiguousarray(lr_n[None, None])).to(device)
        guidance_t = torch.from_numpy(np.ascontiguousarray(guidance_n[None])).to(device)
        with autocast_for(device, precision):
            out = model(lr_t, guidance_t)
        return denormalize_lst(out.float()[0, 0].cpu().numpy(), stats)

    return predict


def band_order(dataset_bands: Sequence[str], model_bands: Sequence[str]) -> list[int]:
    """Indices that reorder the dataset's guidance bands into the model's order."""
    return [list(dataset_bands).index(b) for b in model_bands]


def checkpoint_predictor(
    checkpoint: Checkpoint, path: str | os.PathLike[str], source: DataSource, scale: int,
    device: torch.device,
) -> Predictor:
    """A predictor for ``checkpoint`` on ``source``; refuses another scale or band set."""
    checkpoint.check_compatible(path, scale=scale, bands=source.bands)
    order = band_order(source.bands, checkpoint.bands)
    predict = model_predictor(checkpoint.build().to(device), checkpoint, device)
    return lambda lr, guidance: predict(lr, guidance[order])


class CheckpointBands:
    """``source`` seen through a checkpoint's guidance bands, in its order (``order``: their
    indices in the dataset's guidance). What every row of :func:`evaluate` is given, so a
    dataset's other bands are left out, as ``downscale`` leaves them, and the scores are those
    on a dataset of exactly the checkpoint's bands."""

    def __init__(self, source: DataSource, bands: Sequence[str], order: Sequence[int]) -> None:
        self._source, self.bands, self._order = source, list(bands), list(order)

    @property
    def stats(self) -> HasStats:
        """The dataset's statistics of LST and of these bands."""
        from pipelines.dataset import NormStats  # zarr and xarray: not for every user of this module

        full = self._source.stats
        return NormStats(full.lst_mean, full.lst_std, [full.band_mean[i] for i in self._order],
                         [full.band_std[i] for i in self._order])

    def indices(self, split: str) -> list[int]:
        return self._source.indices(split)

    def read(self, index: int, scale: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lr, guidance, hr = self._source.read(index, scale)
        return lr, guidance[self._order], hr


def score(
    predict: Predictor,
    source: DataSource,
    indices: Sequence[int],
    scale: int,
    on_patch: Callable[[], None] | None = None,
) -> MetricAverage:
    """Per-patch metrics of ``predict`` over ``indices``, accumulated for averaging."""
    return score_alike([predict], source, indices, scale, on_patch)[0]


def score_alike(
    predictors: Sequence[Predictor],
    source: DataSource,
    indices: Sequence[int],
    scale: int,
    on_patch: Callable[[], None] | None = None,
) -> list[MetricAverage]:
    """Per-patch metrics of each of ``predictors`` over ``indices``, all on the same pixels.

    Each patch is scored where its HR LST and every prediction are valid: a sharpener leaves
    nodata where a network fills gaps in, and rows scored on different pixels do not compare.
    ``on_patch`` is called once per prediction.
    """
    averages = [MetricAverage() for _ in predictors]
    for index in indices:
        lr, guidance, hr = source.read(index, scale)
        predictions = []
        for predict in predictors:
            predictions.append(predict(lr, guidance))
            if on_patch is not None:
                on_patch()
        common = np.isfinite(hr)
        for prediction in predictions:
            common &= np.isfinite(prediction)
        truth = np.where(common, hr, np.nan)
        for average, prediction in zip(averages, predictions):
            average.add(prediction, truth)
    return averages


@dataclass
class EvaluationRow:
    """One row of the results table."""

    model: str
    metrics: dict[str, float]

    def to_json(self) -> dict[str, object]:
        return {"model": self.model, **{k: self.metrics[k] for k in (*METRICS, "images", "pixels")}}


def _warn_other_resolution(checkpoint: Checkpoint, path: str | os.PathLike[str],
                           source: DataSource) -> None:
    """Scores of a model on pixels of another size than it learned measure a transfer."""
    size, unit = getattr(source, "hr_resolution", None), getattr(source, "hr_resolution_units", None)
    differs = None if size is None or unit is None else checkpoint.compare_resolution(size, unit)
    if differs:
        warnings.warn(f"{path}: the model was {differs} in the dataset's HR grid, so its scores "
                      "measure how it transfers to another scale", GroklstWarning, stacklevel=3)


def evaluate(
    source: DataSource,
    checkpoint: Checkpoint,
    checkpoint_path: str | os.PathLike[str],
    *,
    split: str = "test",
    baselines: Sequence[str] = ("bicubic",),
    device: torch.device | None = None,
    on_patch: Callable[[], None] | None = None,
) -> list[EvaluationRow]:
    """The checkpoint's row, then one row per baseline, on ``split``.

    Baselines are interpolators (``bicubic``, ``bilinear``) or the classic sharpeners
    (``tsharp``, ``gwr``, ``dms``), which are fitted on each patch's own LR pixels. Every row
    is given the checkpoint's guidance bands, picked by name (:class:`CheckpointBands`; a
    missing one is refused), and scored on the same pixels (:func:`score_alike`).
    """
    from pipelines.sharpen import SHARPENERS, patch_predictor  # scikit-learn: only when asked

    device = device or torch.device("cpu")
    scale = checkpoint.scale
    scales = getattr(source, "scales", [scale])
    if scale not in scales:
        raise InputError(checkpoint_path, f"checkpoint is for x{scale}, the dataset has "
                                          f"{', '.join(f'x{s}' for s in scales)}")
    indices = source.indices(split)
    if not indices:
        raise InputError(split, f"the {split} split of the dataset is empty")
    _warn_other_resolution(checkpoint, checkpoint_path, source)
    seen = CheckpointBands(source, checkpoint.bands, checkpoint.band_indices(checkpoint_path, source.bands))
    names = [f"{checkpoint.model} ({os.path.basename(os.fspath(checkpoint_path))})"]
    predictors = [checkpoint_predictor(checkpoint, checkpoint_path, seen, scale, device)]
    for name in baselines:
        names.append(name)
        if name in SHARPENERS:
            predictors.append(patch_predictor(name, scale, seen.bands))
            continue
        baseline = Checkpoint.untrained(
            name, scale, checkpoint.bands, lst_mean=checkpoint.lst_mean, lst_std=checkpoint.lst_std,
            band_mean=checkpoint.band_mean, band_std=checkpoint.band_std,
        )
        predictors.append(checkpoint_predictor(baseline, checkpoint_path, seen, scale, device))
    averages = score_alike(predictors, seen, indices, scale, on_patch)
    return [EvaluationRow(name, average.result()) for name, average in zip(names, averages)]
