"""Scoring models on a split of a prepared dataset with the paper's metrics (Table IX style).

Each patch is predicted whole, as ``downscale`` predicts a scene of that patch in one tile:
nodata in the LR LST and the guidance is filled from the nearest valid pixel, the output pixels
whose LR pixel or guidance is nodata are left out, and for a network also those within the hole
margin ``downscale`` applies by default. So the scores measure the values a user gets. Inputs
are z-scored with the model's statistics, the output is de-normalised to Kelvin, and the metrics
are computed against the HR LST over the pixels written, per patch, then averaged over patches.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import ndimage
from torch import nn

from pipelines.checkpoint import Checkpoint
from pipelines.devices import autocast_for
from pipelines.errors import GroklstWarning, InputError
from pipelines.fill import fill_bands, fill_nearest
from pipelines.metrics import METRICS, PARTIAL_METRICS, MetricAverage
from pipelines.normalize import HasStats, denormalize_lst, network_inputs
from pipelines.tile_reader import resolve_hole_margin
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


def checkpoint_predictor(
    checkpoint: Checkpoint, path: str | os.PathLike[str], source: DataSource, scale: int,
    device: torch.device,
) -> Predictor:
    """A predictor for ``checkpoint`` on ``source``; refuses another scale or band set."""
    checkpoint.check_compatible(path, scale=scale, bands=source.bands)
    order = checkpoint.band_indices(path, source.bands)  # refuses a dataset with two bands of one name
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


@dataclass(frozen=True)
class PatchInputs:
    """A patch as ``downscale`` reads it as one tile (:meth:`TileReader.read_tile`): LR LST and
    guidance with nodata filled from the nearest valid pixel, and ``holes``, the output pixels
    whose LR pixel or guidance (any band) is nodata, which ``downscale`` writes as NaN."""

    lr: np.ndarray
    guidance: np.ndarray
    holes: np.ndarray

    @classmethod
    def of(cls, lr: np.ndarray, guidance: np.ndarray, scale: int) -> PatchInputs | None:
        """The filled patch; ``None`` when the LR LST or a guidance band is all nodata, where
        ``downscale`` writes nothing."""
        holes = np.repeat(np.repeat(np.isnan(lr), scale, axis=0), scale, axis=1)
        holes |= np.isnan(guidance).any(axis=0)
        lr_filled, guidance_filled = fill_nearest(lr), fill_bands(guidance)
        if lr_filled is None or guidance_filled is None:
            return None
        return cls(lr_filled, guidance_filled, holes)

    def written(self, prediction: np.ndarray, margin: int) -> np.ndarray:
        """``prediction`` as ``downscale`` writes it: NaN on the holes and within ``margin``
        output pixels of them (a square window, as the tile reader grows them)."""
        unwritten = self.holes
        if margin and unwritten.any():
            unwritten = ndimage.maximum_filter(unwritten, size=2 * margin + 1, mode="constant", cval=False)
        return np.where(unwritten, np.nan, prediction)


def score(
    predict: Predictor,
    source: DataSource,
    indices: Sequence[int],
    scale: int,
    on_patch: Callable[[], None] | None = None,
    margin: int | None = None,
) -> MetricAverage:
    """Per-patch metrics of ``predict`` over ``indices``, accumulated for averaging, on the
    pixels ``downscale`` writes with hole margin ``margin`` (output pixels; ``None``: a
    network's default, what training validates and picks ``best.pt`` on)."""
    margin = resolve_hole_margin(margin, scale, network=True)
    return score_alike([predict], [margin], source, indices, scale, on_patch)[0]


def score_alike(
    predictors: Sequence[Predictor],
    margins: Sequence[int],
    source: DataSource,
    indices: Sequence[int],
    scale: int,
    on_patch: Callable[[], None] | None = None,
) -> list[MetricAverage]:
    """Per-patch metrics of each of ``predictors`` over ``indices``, each on what ``downscale``
    writes with its hole margin (``margins``, output pixels), given the filled patch
    (:class:`PatchInputs`).

    Beyond its own margin, each row is scored where the HR LST and every prediction are
    valid: a sharpener may leave nodata where a network fills in, and rows scored on
    different pixels do not compare. A patch ``downscale`` writes nothing of is skipped.
    ``on_patch`` is called once per prediction.
    """
    averages = [MetricAverage() for _ in predictors]
    for index in indices:
        lr, guidance, hr = source.read(index, scale)
        patch = PatchInputs.of(lr, guidance, scale)
        predictions = []
        for predict in predictors:
            if patch is not None:
                predictions.append(predict(patch.lr, patch.guidance))
            if on_patch is not None:
                on_patch()
        if patch is None:
            continue
        common = np.isfinite(hr) & ~patch.holes
        for prediction in predictions:
            common &= np.isfinite(prediction)
        truth = np.where(common, hr, np.nan)
        for average, prediction, margin in zip(averages, predictions, margins):
            average.add(patch.written(prediction, margin), truth)
    return averages


@dataclass
class EvaluationRow:
    """One row of the results table. ``averaged_over``: per metric of :data:`PARTIAL_METRICS`,
    the patches its mean is over, fewer than ``images`` where it is undefined on some (a
    constant truth), so rows are not compared over different patches without a sign; a metric
    not in it is over all ``images``."""

    model: str
    metrics: dict[str, float]
    averaged_over: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, model: str, average: MetricAverage) -> EvaluationRow:
        """The row of ``model`` from its accumulated metrics."""
        return cls(model, average.result(), {m: average.counts[m] for m in PARTIAL_METRICS})

    def images_of(self, metric: str) -> int:
        """The patches ``metric``'s mean is over."""
        return self.averaged_over.get(metric, int(self.metrics["images"]))

    def fewer(self) -> dict[str, int]:
        """The metrics averaged over fewer patches than ``images``, with their patch counts."""
        return {m: self.images_of(m) for m in PARTIAL_METRICS if self.images_of(m) < self.metrics["images"]}

    def to_json(self) -> dict[str, object]:
        counts = {f"{m}_images": self.images_of(m) for m in PARTIAL_METRICS}
        return {"model": self.model, **{k: self.metrics[k] for k in (*METRICS, "images")}, **counts,
                "pixels": self.metrics["pixels"]}


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
    dataset_named: str | os.PathLike[str] | None = None,
) -> list[EvaluationRow]:
    """The checkpoint's row, then one row per baseline, on ``split``.

    Baselines are interpolators (``bicubic``, ``bilinear``) or the classic sharpeners
    (``tsharp``, ``gwr``, ``dms``), which are fitted on each patch's own LR pixels. Every row
    is given the checkpoint's guidance bands, picked by name (:class:`CheckpointBands`; a
    missing one is refused), and scored on what ``downscale`` writes (:func:`score_alike`):
    the checkpoint's row without the pixels within a network's hole margin, the baselines'
    with none, as ``downscale --model bicubic`` and ``--fit`` sharpeners write them.
    ``checkpoint_path`` names the checkpoint in errors and warnings: give it as the user typed
    it (``./runs/x/best.pt``), which opens the same file. ``dataset_named`` names the dataset
    in errors likewise (default: its path, else "dataset"), as ``train`` names it.
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
        where = dataset_named or getattr(source, "path", None) or "dataset"
        raise InputError(where, f"the {split} split is empty",
                         f"evaluate another --split, or prepare the dataset again with a {split} share "
                         "(prepare --split, default 6:1:3)")
    _warn_other_resolution(checkpoint, checkpoint_path, source)
    seen = CheckpointBands(source, checkpoint.bands, checkpoint.band_indices(checkpoint_path, source.bands))
    names = [f"{checkpoint.model} ({os.path.basename(os.fspath(checkpoint_path))})"]
    predictors = [checkpoint_predictor(checkpoint, checkpoint_path, seen, scale, device)]
    margins = [resolve_hole_margin(None, scale, network=True),
               *(resolve_hole_margin(None, scale, network=False) for _ in baselines)]
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
    averages = score_alike(predictors, margins, seen, indices, scale, on_patch)
    return [EvaluationRow.of(name, average) for name, average in zip(names, averages)]
