"""Per-scene self-supervised fitting (``groklst downscale --fit``): candidates, held-out blocks.

Like the classic thermal sharpeners (TsHARP, pyDMS), the relation between LST and guidance is
learnt on the scene itself and applied at the native scale. Several methods are fitted and
compared on the scene (:mod:`pipelines.fit_candidates`): bicubic, ``tsharp``, ``gwr``, ``dms`` and a
per-pixel ``mlp`` learnt from every LR pixel, and a network trained by Wald's protocol one
scale coarser:

- HR target = the scene's LST (Kelvin) on its own grid; LR input = that LST degraded by the
  scale (:func:`pipelines.degrade.degrade`, area mean or MTF); guidance = the native guidance
  area-averaged onto the LST grid.
- The LST grid is cut into small square blocks (2-4 pixels of the degraded scale, so that
  the scene holds about ``MIN_BLOCKS`` of them); a seeded share of them is held out for **validation** (the network's early
  stopping) and another for the **test** that compares the candidates. The network trains on
  every crop window, with the held-out pixels masked out of its loss. Without a network no
  candidate learns from the LST grid (the others fit the degraded scene only), so every block
  is a test block: the verdict then rests on the whole scene and no seed picks its blocks.
- The thermal sensor's PSF is estimated from the LR pixels (:mod:`pipelines.psf`), and every
  output is made to aggregate back to the LR input (:mod:`pipelines.residual`).
- :mod:`pipelines.fit_select` scores every candidate on the test blocks and writes the best
  or the held-out-weighted blend; beside plain bicubic, the ``bicubic`` candidate (the LR
  residual spread back, no guidance) is the reference that says whether the guidance helps.

A fitted network is a normal :class:`~pipelines.checkpoint.Checkpoint` whose scale is the
scene's; the sharpeners have no weights and are refitted on every scene.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipelines.checkpoint import Checkpoint
from pipelines.dataset import NormStats
from pipelines.degrade import block_mean, degrade
from pipelines.errors import GroklstWarning, InputError
from pipelines.fit_candidates import (
    BicubicMember, BlendPredictor, Candidate, SceneLayers, bicubic_candidate, bicubic_upsample, mlp_candidate,
    network_candidate, sharpener_candidate,
)
from pipelines.fit_options import FitOptions, INTERPOLATION_CANDIDATES, SHARPENER_CANDIDATES
from pipelines.fit_select import Selection, select
from pipelines.geotiff import guidance_names, open_raster, read_values
from pipelines.grids import Grid, pair_grids, resolution_units
from pipelines.guidance import DISTINCT_BANDS_HINT, check_distinct_bands
from pipelines.psf import SIGMA_FRACTIONS, PsfEstimate, estimate_psf
from pipelines.psf_shape import Psf
from pipelines.lst_values import (
    LstDecoding, check_plausible, check_single_band, decode, resolve_units, scan, to_kelvin_masked,
)
from pipelines.units import Units

HOLDOUT_FRACTION = 0.15  # of the blocks, for validation and again for the test
MIN_HELD_OUT_BLOCKS = 2
# Early stopping predicts every validation block at each check; beyond this many (a 500 x 500
# scene at x4 has 144) they cost training time without steadying the stop.
MAX_VALIDATION_BLOCKS = 48
MIN_VALID_FRACTION = 0.5
MIN_TRAIN_FRACTION = 0.25  # of a training window's pixels that must be valid, unmasked targets
BLOCK_LR_PIXELS = 4  # largest held-out block side in pixels of the degraded scale
MIN_BLOCKS = 100
FEW_HELD_OUT_BLOCKS = 10  # a verdict on fewer is weak: say so
WIDE_PSF_LR = 3  # a given PSF wider than this many LST pixels is warned about
NO_GUIDANCE = "bicubic"  # the references every fit is scored beside (fit_select.Selection.references)
PLAIN_BICUBIC = "plain bicubic"
NO_GUIDANCE_WRITTEN = "bicubic (residual spread)"  # its name where --fallback bicubic writes it

StepHook = Callable[[int, float], None]


@dataclass
class Scene:
    """One scene in memory: LST (Kelvin) on its grid, guidance area-averaged onto it."""

    lst: np.ndarray  # (H, W) Kelvin, NaN = nodata; H and W multiples of the scale
    guidance: np.ndarray  # (K, H, W) guidance block means on the LST grid
    native: np.ndarray  # (K, H*s, W*s) the guidance on its own grid, NaN = nodata
    bands: list[str]
    stats: NormStats  # from the valid LST pixels and the valid native guidance pixels
    scale: int
    units: Units
    resolution: float  # LST pixel size
    resolution_units: str  # its unit (m, deg, ...)


def _band_moments(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    std = float(finite.std(dtype=np.float64))
    return float(finite.mean(dtype=np.float64)), std if std > 1e-6 else 1.0


def read_scene(lst_path: str | os.PathLike[str], guidance_path: str | os.PathLike[str],
               units: Units = Units.auto, decoding: LstDecoding | None = None,
               guidance_bands: Sequence[str] | None = None) -> Scene:
    """Read the part of the LST covered by the guidance, in Kelvin, and the guidance on its grid.

    The LST is decoded and judged by the rule every command reads it with
    (:mod:`pipelines.lst_values`): implausible values are refused before anything is fitted.
    The bands are named as the downscale that applies the fit names them (``guidance_bands``,
    ``--guidance-bands``, else the file's descriptions), so it reads them back in the order
    fitted; two bands of one name are refused here, before the fit rather than after it.
    The scale is the ratio of the pixel sizes; guidance bands are read one at a time, as values
    (their scale/offset applied), so memory stays at one native band plus the LST-grid stack.
    """
    decoding = decoding or LstDecoding()
    with open_raster(lst_path) as lst_src, open_raster(guidance_path) as guid_src:
        check_single_band(lst_src, lst_path)
        grids = pair_grids(Grid.of(lst_src), Grid.of(guid_src), scale=None, lst_path=lst_path,
                           guidance_path=guidance_path)
        s = grids.scale
        lr_win, g_win = grids.lr_window, grids.guidance_window
        found = scan(lst_src, lr_win, decoding, lst_path)
        used = resolve_units(found, units)
        check_plausible(found, used, decoding, lst_path)
        lst = to_kelvin_masked(decode(lst_src, lr_win, decoding, lst_path), used, decoding)
        rows, cols = (lst.shape[0] // s) * s, (lst.shape[1] // s) * s
        if min(rows, cols) < 3 * 2 * s:
            raise InputError(lst_path, f"the scene ({lst.shape[1]} x {lst.shape[0]} LST pixels) is "
                             f"too small to fit a model at x{s}",
                             f"give at least {6 * s} x {6 * s} LST pixels")
        names, _ = guidance_names(guid_src, guidance_path, guidance_bands)
        check_distinct_bands(guidance_path, names, DISTINCT_BANDS_HINT)
        means, stds, stack, natives = [], [], [], []
        for band in range(1, guid_src.count + 1):
            native = read_values(guid_src, band, g_win, guidance_path)
            if not np.isfinite(native).any():  # nothing to fit on, and every pixel would be nodata
                raise InputError(guidance_path, f"guidance band {band} ({names[band - 1]!r}) has no valid "
                                 "pixel over the LST", "drop the band from the guidance, or fix it")
            mean, std = _band_moments(native)
            means.append(mean)
            stds.append(std)
            stack.append(block_mean(native, s)[:rows, :cols])
            natives.append(native[: rows * s, : cols * s])
        if not np.isfinite(lst).any():
            raise InputError(lst_path, "has no valid LST pixel under the guidance")
        lst_mean, lst_std = _band_moments(lst)
        return Scene(
            lst=np.ascontiguousarray(lst[:rows, :cols]),
            guidance=np.stack(stack),
            native=np.stack(natives),
            bands=names,
            stats=NormStats(lst_mean, lst_std, means, stds),
            scale=s,
            units=used,
            resolution=float(lst_src.res[0]),
            resolution_units=resolution_units(lst_src.crs),
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


def default_block(rows: int, cols: int, crop: int, scale: int) -> int:
    """Held-out block side (LST pixels): the largest of 4, 3 or 2 pixels of the degraded scale
    that still cuts the scene into ``MIN_BLOCKS`` blocks, so the verdict rests on many."""
    for pixels in range(BLOCK_LR_PIXELS, 2, -1):
        if (rows // (pixels * scale)) * (cols // (pixels * scale)) >= MIN_BLOCKS:
            return min(crop, pixels * scale)
    return min(crop, 2 * scale)


class WaldScene:
    """The scene as a :class:`~pipelines.train_data.DataSource` of Wald-protocol pairs.

    Indices ``0..n_train-1`` are training windows (held-out pixels masked out of their
    targets), the following ones validation blocks, each read with a crop-sized context and a
    target that is NaN outside the block. ``test_blocks`` marks the test blocks on the LST grid;
    with ``networks=False`` nothing trains, and every usable block is a test block.
    """

    def __init__(self, scene: Scene, crop: int, degradation: str, seed: int,
                 block: int | None = None, *, networks: bool = True,
                 lst_path: str | os.PathLike[str] = "LST"):
        s = scene.scale
        if crop % s or crop < 2 * s:
            raise InputError("--crop", f"crop {crop} must be a multiple of x{s} and >= {2 * s}")
        self.scale, self.crop = s, crop
        self.block = block or default_block(*scene.lst.shape, crop, s)
        self.bands = list(scene.bands)
        self.hr_resolution = scene.resolution
        self.hr_resolution_units = scene.resolution_units
        self._stats = scene.stats
        self.hr = scene.lst
        self.lr = degrade(scene.lst, s, method=degradation)
        self.guidance = scene.guidance
        valid = np.isfinite(self.hr)
        val, test = self._held_out_blocks(valid, seed) if networks else ([], self._usable_blocks(valid))
        self._val = val
        self.test_blocks = np.full(valid.shape, -1, dtype=np.int64)
        held = np.zeros_like(valid)
        for r, c in val + test:
            held[r : r + self.block, c : c + self.block] = True
        for i, (r, c) in enumerate(test):
            self.test_blocks[r : r + self.block, c : c + self.block] = i
        self.train_hr = np.where(held, np.nan, self.hr).astype(np.float32)
        enough = (_window_sums(np.isfinite(self.train_hr), crop)[::s, ::s]
                  >= MIN_TRAIN_FRACTION * crop * crop)
        rows, cols = np.nonzero(enough)
        self._train = [(int(r) * s, int(c) * s) for r, c in zip(rows, cols)]
        if (networks and (not self._train or not self._val)) or len(test) < MIN_HELD_OUT_BLOCKS:
            raise InputError(lst_path, "too few valid pixels to fit a model on this scene",
                             "give a larger scene or one with less nodata")

    def _usable_blocks(self, valid: np.ndarray) -> list[tuple[int, int]]:
        """Top-left corners of the blocks tiling the scene that are mostly valid."""
        b = self.block
        corners = [(r, q) for r in range(0, valid.shape[0] - b + 1, b)
                   for q in range(0, valid.shape[1] - b + 1, b)]
        return [(r, q) for r, q in corners if valid[r : r + b, q : q + b].mean() >= MIN_VALID_FRACTION]

    def _held_out_blocks(self, valid: np.ndarray, seed: int
                         ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        usable = self._usable_blocks(valid)
        wanted = max(MIN_HELD_OUT_BLOCKS, round(HOLDOUT_FRACTION * len(usable)))
        if len(usable) < 2 * MIN_HELD_OUT_BLOCKS + 1:
            return [], []
        wanted = min(wanted, (len(usable) - 1) // 2)
        checked = min(wanted, MAX_VALIDATION_BLOCKS)
        order = np.random.default_rng([seed, 2]).permutation(len(usable))
        val = sorted(usable[i] for i in order[:checked])
        test = sorted(usable[i] for i in order[checked : checked + wanted])
        return val, test

    def _context(self, r: int, c: int) -> tuple[int, int]:
        """Top-left corner of the crop-sized window, on LR-pixel boundaries, around a block."""
        s, size = self.scale, self.crop
        top = min(max(0, r - (size - self.block) // 2 // s * s), self.hr.shape[0] - size)
        left = min(max(0, c - (size - self.block) // 2 // s * s), self.hr.shape[1] - size)
        return top // s * s, left // s * s

    @property
    def stats(self) -> NormStats:
        return self._stats

    @property
    def test_block_count(self) -> int:
        return int(self.test_blocks.max()) + 1

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
        n, size, s = len(self._train), self.crop, self.scale
        if index < n:
            r, c = self._train[index]
            hr = self.train_hr[r : r + size, c : c + size]
        else:
            br, bc = self._val[index - n]
            r, c = self._context(br, bc)
            hr = np.full((size, size), np.nan, np.float32)
            inside = (slice(br - r, br - r + self.block), slice(bc - c, bc - c + self.block))
            hr[inside] = self.hr[br : br + self.block, bc : bc + self.block]
        return (
            self.lr[r // s : (r + size) // s, c // s : (c + size) // s],
            self.guidance[:, r : r + size, c : c + size],
            hr,
        )


@dataclass
class SceneFit:
    """The fitted candidates, how they compare on the held-out blocks, and what is written."""

    predictor: BlendPredictor
    candidates: list[Candidate]
    selection: Selection
    psf: PsfEstimate
    seconds: float
    units: Units
    scale: int
    bands: list[str]
    held_out_blocks: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def fitted(self) -> dict[str, float]:
        """Held-out metrics of what is written."""
        return self.selection.written_metrics

    @property
    def checkpoint(self) -> Checkpoint | None:
        """The fitted network's checkpoint (the first network candidate), if any."""
        return next((c.checkpoint for c in self.candidates if c.checkpoint is not None), None)

    @property
    def bicubic(self) -> dict[str, float]:
        """Held-out metrics of plain bicubic (what ``--model bicubic`` writes)."""
        return self.selection.references[PLAIN_BICUBIC]

    @property
    def no_guidance(self) -> dict[str, float]:
        """Held-out metrics of the ``bicubic`` candidate: bicubic with the LR residual spread
        back as every candidate's is, the guidance unread. What the guidance adds is measured
        against it; plain bicubic is often beaten by the residual spread alone."""
        return self.selection.references[NO_GUIDANCE]

    @property
    def beats_bicubic(self) -> bool:
        return bool(self.fitted["rmse"] < self.bicubic["rmse"])

    def no_guidance_predictor(self) -> BlendPredictor:
        """The ``bicubic`` candidate as a predictor: bicubic with the residual spread back."""
        return BlendPredictor(NO_GUIDANCE_WRITTEN, self.scale, list(self.bands), [BicubicMember(self.scale)],
                              [1.0], self.extra["residual"])

    @property
    def guidance_helps(self) -> bool:
        """Whether what is written beats the same residual spread without the guidance."""
        return bool(self.fitted["rmse"] < self.no_guidance["rmse"])

    def summary(self) -> dict[str, Any]:
        """Plain values for the ``--json`` line."""
        keep = ("rmse", "mae", "bias", "cc")
        rounded = lambda m: {k: round(float(m[k]), 4) for k in keep}  # noqa: E731
        weights = dict(zip(self.selection.names, self.selection.weights))
        candidates = [{
            "name": c.name, "held_out": rounded(m), "seconds": round(c.seconds, 2),
            "weight": round(weights[c.name], 4),
            **{k: v for k, v in c.extra.items() if v is not None},
        } for c, m in zip(self.candidates, self.selection.metrics)]
        blend = self.selection.blend
        return {
            "model": self.predictor.name,
            "scale": self.scale,
            "bands": list(self.bands),
            "fit_seconds": round(self.seconds, 2),
            "units": self.units.value,
            "psf": self.psf.summary(),
            "held_out_blocks": self.held_out_blocks,
            "held_out_pixels": self.selection.pixels,
            "candidates": candidates,
            "held_out_blend": None if blend is None else rounded(blend),
            "blend_weights": {n: round(w, 4) for n, w in zip(self.selection.names,
                                                            self.selection.blend_weights)},
            "selected": self.selection.written,
            "held_out_fitted": rounded(self.fitted),
            "held_out_bicubic": rounded(self.bicubic),
            "beats_bicubic": self.beats_bicubic,
            "held_out_no_guidance": rounded(self.no_guidance),
            "guidance_helps": self.guidance_helps,
            **self.extra,
        }


def _layers(scene: Scene, coarse: np.ndarray, psf: Psf, residual: str) -> SceneLayers:
    return SceneLayers(scale=scene.scale, bands=list(scene.bands), lst=scene.lst,
                       guidance_lr=scene.guidance, guidance=scene.native, coarse=coarse,
                       psf=psf, residual=residual)


def fit_scene(
    lst_path: str | os.PathLike[str],
    guidance_path: str | os.PathLike[str],
    options: FitOptions | None = None,
    *,
    decoding: LstDecoding | None = None,
    guidance_bands: Sequence[str] | None = None,
    on_step: StepHook | None = None,
) -> SceneFit:
    """Fit every candidate method on the scene, compare them on held-out blocks, pick one.

    ``decoding`` says how the LST's stored values become temperatures (``--nodata``,
    ``--scale-factor``, ...) and ``guidance_bands`` (``--guidance-bands``) names the guidance's
    bands in file order, as for the downscale that follows.
    """
    opts = options or FitOptions()
    started = time.monotonic()
    scene = read_scene(lst_path, guidance_path, opts.units, decoding, guidance_bands)
    s = scene.scale
    crop = opts.crop or default_crop(*scene.lst.shape, s)
    source = WaldScene(scene, crop, opts.degradation, opts.seed, networks=bool(opts.networks),
                       lst_path=lst_path)
    if opts.psf is None:
        began = time.monotonic()
        psf = estimate_psf(scene.lst, scene.native, s, opts.seed)
        psf.seconds = time.monotonic() - began
    else:
        psf = PsfEstimate(opts.psf, {})
        if opts.psf.width > WIDE_PSF_LR * s:
            warnings.warn(f"--fit-psf {opts.psf.spec}: {opts.psf.width / s:g} LST pixels wide, more than twice "
                          f"the widest the estimate tries ({max(SIGMA_FRACTIONS):g}); a thermal sensor's "
                          "PSF is rarely that wide (the width is in fine pixels)", GroklstWarning, stacklevel=2)
    layers = _layers(scene, source.lr, psf.psf, opts.residual)
    candidates = []
    for name in opts.methods:
        if name in INTERPOLATION_CANDIDATES:
            candidates.append(bicubic_candidate(layers))
        elif name == "mlp":
            candidates.append(mlp_candidate(layers, opts.seed, opts.seconds))
        elif name in SHARPENER_CANDIDATES:
            candidates.append(sharpener_candidate(name, layers, opts.seed))
        else:
            candidates.append(network_candidate(name, layers, source, crop, opts,
                                                str(lst_path), on_step))
    names = [c.name for c in candidates]
    no_guidance = next((c for c in candidates if c.name == "bicubic"), None) or bicubic_candidate(layers)
    references = {NO_GUIDANCE: no_guidance.coarse, PLAIN_BICUBIC: bicubic_upsample(source.lr, s)}
    selection = select(names, [c.coarse for c in candidates], scene.lst, source.test_blocks,
                       opts.select, opts.seed, references)
    written = "blend of " + "+".join(
        n for n, w in zip(names, selection.weights) if w > 0) if selection.written == "blend" \
        else selection.written
    predictor = BlendPredictor(written, s, list(scene.bands), [c.member for c in candidates],
                               selection.weights, opts.residual)
    return SceneFit(
        predictor=predictor, candidates=candidates, selection=selection,
        psf=psf, seconds=time.monotonic() - started, units=scene.units, scale=s,
        bands=list(scene.bands), held_out_blocks=source.test_block_count,
        extra={"crop": crop, "block": source.block, "residual": opts.residual,
               "validation_blocks": len(source.indices("val"))},
    )


def _stop_reason(extra: dict[str, object]) -> str:
    """Why a trained candidate stopped, for its table row: nothing when it ran all its
    iterations or steps (its JSON ``stopped`` then says ``iterations`` or ``steps``)."""
    return "" if extra["stopped"] in ("iterations", "steps") else f" ({extra['stopped']})"


def describe(fit_result: SceneFit) -> list[str]:
    """A few lines for stderr: every candidate's held-out RMSE/CC and time, and the choice
    (each line its own string, so that a printer can keep each one a line)."""
    sel = fit_result.selection
    lines = [f"fit: x{fit_result.scale} on {len(fit_result.bands)} guidance band(s) in "
             f"{fit_result.seconds:.1f} s; PSF {fit_result.psf.psf.spec} (fine px"
             f"{'; the widest tried' if fit_result.psf.at_widest else ''}); "
             f"held-out RMSE / CC at the degraded scale on {fit_result.held_out_blocks} blocks "
             f"({sel.pixels} px):"]
    for cand, metrics, weight in zip(fit_result.candidates, sel.metrics, sel.blend_weights):
        detail = (f", {cand.extra['iterations']} iterations{_stop_reason(cand.extra)}" if "iterations" in cand.extra
                  else f", {' + '.join(map(str, cand.extra['steps']))} steps{_stop_reason(cand.extra)}"
                  if "steps" in cand.extra else "")
        lines.append(f"  {cand.name:<14} {metrics['rmse']:.3f} K / {metrics['cc']:.3f}  "
                     f"({cand.seconds:.1f} s{detail}; blend weight {weight:.2f})")
    if sel.blend is not None:
        lines.append(f"  {'blend':<14} {sel.blend['rmse']:.3f} K / {sel.blend['cc']:.3f}  "
                     "(cross-fitted on other blocks)")
    if "bicubic" not in fit_result.selection.names:
        n = fit_result.no_guidance
        lines.append(f"  {'bicubic':<14} {n['rmse']:.3f} K / {n['cc']:.3f}  (residual spread, no guidance: "
                     "the reference, not a candidate)")
    b = fit_result.bicubic
    lines.append(f"  {'plain bicubic':<14} {b['rmse']:.3f} K / {b['cc']:.3f}")
    lines.append(f"writing: {fit_result.predictor.name} (held-out RMSE {fit_result.fitted['rmse']:.3f} K)")
    return lines
