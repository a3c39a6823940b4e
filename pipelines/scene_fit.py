"""Per-scene self-supervised fitting (``groklst downscale --fit``), by Wald's protocol.

Like the classic thermal sharpeners (TsHARP, pyDMS), the relation between LST and guidance is
learnt on the scene itself one scale coarser and applied at the native scale:

- HR target = the scene's LST (Kelvin) on its own grid; LR input = that LST degraded by the
  scale (:func:`pipelines.degrade.degrade`, area mean or MTF); guidance = the native guidance
  area-averaged onto the LST grid.
- The LST grid is cut into square blocks; a seeded fifth of them (spatial blocks, so that
  neighbouring pixels do not leak between the splits) is held out for validation. Training
  windows are all crop-sized windows, on LR-pixel boundaries, that touch no held-out block.
- The model is trained with :func:`pipelines.train.fit` (the loop of ``groklst train``) for a
  bounded number of iterations or seconds, with early stopping on the held-out blocks, and
  compared there with bicubic interpolation.

The result is a normal :class:`~pipelines.checkpoint.Checkpoint` whose scale is the scene's.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.registry import build_model
from pipelines.checkpoint import Checkpoint
from pipelines.dataset import NormStats
from pipelines.degrade import block_mean, degrade
from pipelines.devices import resolve_device
from pipelines.errors import InputError
from pipelines.evaluate import model_predictor, score
from pipelines.fit_options import FitOptions
from pipelines.geotiff import band_names, open_raster
from pipelines.grids import Grid, pair_grids
from pipelines.train import Limits, build_checkpoint, fit
from pipelines.train_config import TrainConfig
from pipelines.units import Units, detect_units, to_kelvin

HOLDOUT_FRACTION = 0.2
MAX_VALIDATION_BLOCKS = 24
MIN_VALID_FRACTION = 0.5

StepHook = Callable[[int, float], None]


@dataclass
class Scene:
    """One scene in memory: LST (Kelvin) on its grid, guidance area-averaged onto it."""

    lst: np.ndarray  # (H, W) Kelvin, NaN = nodata; H and W multiples of the scale
    guidance: np.ndarray  # (K, H, W) guidance block means on the LST grid
    bands: list[str]
    stats: NormStats  # from the valid LST pixels and the valid native guidance pixels
    scale: int
    units: Units
    resolution: float  # LST pixel size


def _band_moments(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    std = float(finite.std(dtype=np.float64))
    return float(finite.mean(dtype=np.float64)), std if std > 1e-6 else 1.0


def read_scene(lst_path: str | os.PathLike[str], guidance_path: str | os.PathLike[str],
               units: Units = Units.auto) -> Scene:
    """Read the part of the LST covered by the guidance, in Kelvin, and the guidance on its grid.

    The scale is the ratio of the pixel sizes; guidance bands are read one at a time so memory
    stays at one native band plus the LST-grid stack.
    """
    with open_raster(lst_path) as lst_src, open_raster(guidance_path) as guid_src:
        if lst_src.count != 1:
            raise InputError(lst_path, f"has {lst_src.count} bands, expected 1 LST band")
        lst_grid = Grid(lst_src.crs, lst_src.transform, lst_src.width, lst_src.height)
        guid_grid = Grid(guid_src.crs, guid_src.transform, guid_src.width, guid_src.height)
        grids = pair_grids(lst_grid, guid_grid, scale=None, lst_path=lst_path,
                           guidance_path=guidance_path)
        s = grids.scale
        lr_win, g_win = grids.lr_window, grids.guidance_window
        raw = np.ma.filled(lst_src.read(1, window=lr_win, masked=True).astype(np.float32), np.nan)
        raw[~np.isfinite(raw)] = np.nan
        used = detect_units(raw) if units is Units.auto else units
        lst = to_kelvin(raw, used)
        rows, cols = (lst.shape[0] // s) * s, (lst.shape[1] // s) * s
        if min(rows, cols) < 3 * 2 * s:
            raise InputError(lst_path, f"the scene ({lst.shape[1]} x {lst.shape[0]} LST pixels) is "
                             f"too small to fit a model at x{s}",
                             f"give at least {6 * s} x {6 * s} LST pixels")
        names = band_names(guid_src)
        means, stds, stack = [], [], []
        for band in range(1, guid_src.count + 1):
            native = np.ma.filled(
                guid_src.read(band, window=g_win, masked=True).astype(np.float32), np.nan)
            native[~np.isfinite(native)] = np.nan
            mean, std = _band_moments(native)
            means.append(mean)
            stds.append(std)
            stack.append(block_mean(native, s)[:rows, :cols])
        if not np.isfinite(lst).any():
            raise InputError(lst_path, "has no valid LST pixel under the guidance")
        lst_mean, lst_std = _band_moments(lst)
        return Scene(
            lst=np.ascontiguousarray(lst[:rows, :cols]),
            guidance=np.stack(stack),
            bands=names,
            stats=NormStats(lst_mean, lst_std, means, stds),
            scale=s,
            units=used,
            resolution=float(lst_src.res[0]),
        )


def default_crop(scene_rows: int, scene_cols: int, scale: int) -> int:
    """12 LR pixels, capped so that the scene holds at least 3 x 3 blocks (>= 2 LR pixels)."""
    cap = (min(scene_rows, scene_cols) // 3 // scale) * scale
    return max(2 * scale, min(12 * scale, cap))


def _window_sums(mask: np.ndarray, size: int) -> np.ndarray:
    """Sum of ``mask`` over every ``size`` x ``size`` window, indexed by its top-left corner."""
    integral = np.pad(mask.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    return (integral[size:, size:] - integral[:-size, size:] - integral[size:, :-size]
            + integral[:-size, :-size])


class WaldScene:
    """The scene as a :class:`~pipelines.train_data.DataSource` of Wald-protocol pairs.

    Indices ``0..n_train-1`` are training windows, the following ones held-out blocks.
    """

    def __init__(self, scene: Scene, crop: int, degradation: str, seed: int):
        s = scene.scale
        if crop % s or crop < 2 * s:
            raise InputError("--crop", f"crop {crop} must be a multiple of x{s} and >= {2 * s}")
        self.scale, self.crop = s, crop
        self.bands = list(scene.bands)
        self.hr_resolution = scene.resolution
        self._stats = scene.stats
        self.hr = scene.lst
        self.lr = degrade(scene.lst, s, method=degradation)
        self.guidance = scene.guidance
        valid = np.isfinite(self.hr)
        self._val = self._held_out_blocks(valid, seed)
        held = np.zeros_like(valid)
        for r, c in self._val:
            held[r : r + crop, c : c + crop] = True
        touching = _window_sums(held, crop)[::s, ::s] > 0
        enough = _window_sums(valid, crop)[::s, ::s] >= MIN_VALID_FRACTION * crop * crop
        rows, cols = np.nonzero(~touching & enough)
        self._train = [(int(r) * s, int(c) * s) for r, c in zip(rows, cols)]
        if not self._train or not self._val:
            raise InputError("LST", "too few valid pixels to fit a model on this scene",
                             "give a larger scene or one with less nodata")

    def _held_out_blocks(self, valid: np.ndarray, seed: int) -> list[tuple[int, int]]:
        c = self.crop
        corners = [(r, q) for r in range(0, valid.shape[0] - c + 1, c)
                   for q in range(0, valid.shape[1] - c + 1, c)]
        usable = [(r, q) for r, q in corners
                  if valid[r : r + c, q : q + c].mean() >= MIN_VALID_FRACTION]
        wanted = min(MAX_VALIDATION_BLOCKS, max(1, round(HOLDOUT_FRACTION * len(corners))))
        if len(usable) < 2:
            return []
        wanted = min(wanted, len(usable) - 1)
        pick = np.random.default_rng([seed, 2]).choice(len(usable), size=wanted, replace=False)
        return [usable[i] for i in sorted(pick)]

    @property
    def stats(self) -> NormStats:
        return self._stats

    def indices(self, split: str) -> list[int]:
        n = len(self._train)
        if split == "train":
            return list(range(n))
        if split == "val":
            return list(range(n, n + len(self._val)))
        return []

    def read(self, index: int, scale: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(lr (c/s, c/s), guidance (K, c, c), hr (c, c))`` of one window, Kelvin, NaN nodata."""
        if scale != self.scale:
            raise ValueError(f"this scene fits x{self.scale}, not x{scale}")
        n = len(self._train)
        r, c = self._train[index] if index < n else self._val[index - n]
        size, s = self.crop, self.scale
        return (
            self.lr[r // s : (r + size) // s, c // s : (c + size) // s],
            self.guidance[:, r : r + size, c : c + size],
            self.hr[r : r + size, c : c + size],
        )


@dataclass
class SceneFit:
    """A fitted model and how it compares with bicubic on the held-out blocks (degraded scale)."""

    checkpoint: Checkpoint
    fitted: dict[str, float]
    bicubic: dict[str, float]
    iterations: int
    seconds: float
    stopped: str
    units: Units
    train_windows: int
    held_out_blocks: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def beats_bicubic(self) -> bool:
        return bool(self.fitted["rmse"] < self.bicubic["rmse"])

    def summary(self) -> dict[str, Any]:
        """Plain values for the ``--json`` line."""
        keep = ("rmse", "mae", "bias", "cc")
        return {
            "model": self.checkpoint.model,
            "scale": self.checkpoint.scale,
            "bands": list(self.checkpoint.bands),
            "iterations": self.iterations,
            "fit_seconds": round(self.seconds, 2),
            "stopped": self.stopped,
            "units": self.units.value,
            "held_out_blocks": self.held_out_blocks,
            "held_out_fitted": {k: round(float(self.fitted[k]), 4) for k in keep},
            "held_out_bicubic": {k: round(float(self.bicubic[k]), 4) for k in keep},
            "beats_bicubic": self.beats_bicubic,
            **self.extra,
        }


def fit_scene(
    lst_path: str | os.PathLike[str],
    guidance_path: str | os.PathLike[str],
    options: FitOptions | None = None,
    *,
    on_step: StepHook | None = None,
) -> SceneFit:
    """Fit ``options.model`` on the scene by Wald's protocol and score it against bicubic."""
    opts = options or FitOptions()
    started = time.monotonic()
    scene = read_scene(lst_path, guidance_path, opts.units)
    s = scene.scale
    crop = opts.crop or default_crop(*scene.lst.shape, s)
    source = WaldScene(scene, crop, opts.degradation, opts.seed)
    config = TrainConfig(
        model=opts.model, scale=s, iters=opts.iters, batch_size=opts.batch_size, crop=crop,
        lr=opts.lr, min_lr=opts.lr / 100, val_every=opts.val_every, seed=opts.seed,
        device=opts.device, precision="fp32", model_kwargs=opts.kwargs,
    )
    stalled = _EarlyStopping(opts.patience)
    budget = None if opts.seconds is None else max(1e-3, opts.seconds - (time.monotonic() - started))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks in metrics
        result = fit(source, config, limits=Limits(max_seconds=budget), on_step=on_step,
                     on_validation=stalled, keep_best=True)
        device = resolve_device(opts.device)
        bicubic = build_model("bicubic", scale=s, guidance_channels=len(source.bands))
        baseline = score(model_predictor(bicubic, source.stats, device), source,
                         source.indices("val"), s).result()
    best = result.best or {"rmse": math.nan, "mae": math.nan, "bias": math.nan, "cc": math.nan}
    stopped = ("early stopping" if stalled.triggered
               else "iterations" if result.finished else "time limit")
    checkpoint = build_checkpoint(result.model, source, config, {
        "iteration": result.iteration, "val": best, "fitted_on": str(lst_path),
        "degradation": opts.degradation, "bicubic_val": baseline,
    })
    return SceneFit(
        checkpoint=checkpoint, fitted=best, bicubic=baseline, iterations=result.iteration,
        seconds=time.monotonic() - started, stopped=stopped, units=scene.units,
        train_windows=len(source.indices("train")), held_out_blocks=len(source.indices("val")),
        extra={"best_iteration": best.get("iteration"), "crop": crop},
    )


class _EarlyStopping:
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


def describe(fit_result: SceneFit) -> str:
    """One line for stderr: held-out RMSE of the fitted model against bicubic."""
    f, b = fit_result.fitted, fit_result.bicubic
    return (f"fit: {fit_result.checkpoint.model} x{fit_result.checkpoint.scale} on "
            f"{len(fit_result.checkpoint.bands)} guidance band(s), {fit_result.iterations} iterations "
            f"in {fit_result.seconds:.1f} s ({fit_result.stopped}); held-out RMSE at the degraded "
            f"scale: fitted {f['rmse']:.3f} K, bicubic {b['rmse']:.3f} K "
            f"({fit_result.held_out_blocks} blocks)")
