"""Choosing what ``downscale --fit`` writes, from held-out blocks of the LR scene only.

Every candidate's coarse prediction (the LST degraded once more and sharpened back) is
compared with the real LST on the **test blocks**: small spatial blocks that no network
trained or early-stopped on. Metrics are pooled over their pixels.

The blend: weights ``w >= 0, sum w = 1`` that minimise the squared error of ``sum w_i p_i`` on
the test pixels (stacking), bagged over bootstrap resamples of the blocks so that a few blocks
do not decide them. Its own held-out error is measured honestly by cross-fitting: weights fitted
on a random half of the blocks are scored on the other half, over repeated halvings. The blend
is written when that error is below the best single candidate's; otherwise the best is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls

REPEATS = 50
_SUM_WEIGHT = 1e3  # how hard the least-squares rows hold sum(w) = 1


def pooled_metrics(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """RMSE, MAE, bias and CC over all pixels given (1-D arrays, finite)."""
    diff = pred.astype(np.float64) - target
    spread = float(np.std(pred) * np.std(target))
    cc = float(np.mean((pred - pred.mean()) * (target - target.mean())) / spread) if spread > 0 else float("nan")
    return {"rmse": float(np.sqrt(np.mean(diff**2))), "mae": float(np.mean(np.abs(diff))),
            "bias": float(np.mean(diff)), "cc": cc}


def simplex_weights(preds: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares weights on the simplex for ``preds`` (n, N) against ``target`` (N)."""
    n = preds.shape[0]
    centre = target.mean()
    design = np.vstack([(preds - centre).T, np.full((1, n), _SUM_WEIGHT)])
    rhs = np.concatenate([target - centre, [_SUM_WEIGHT]])
    weights, _ = nnls(design, rhs)
    total = weights.sum()
    return weights / total if total > 0 else np.full(n, 1.0 / n)


@dataclass
class Selection:
    """Held-out metrics of every candidate and of the blend, and what is written."""

    names: list[str]
    metrics: list[dict[str, float]]
    references: dict[str, dict[str, float]]  # methods scored on the same pixels, not chosen from
    weights: list[float]  # of what is written (one-hot when a single candidate is)
    blend_weights: list[float]
    blend: dict[str, float] | None  # cross-fitted held-out metrics of the blend
    written: str  # "blend" or a candidate name
    blocks: int
    pixels: int

    @property
    def best(self) -> str:
        return self.names[int(np.argmin([m["rmse"] for m in self.metrics]))]

    @property
    def written_metrics(self) -> dict[str, float]:
        if self.written == "blend" and self.blend is not None:
            return self.blend
        return self.metrics[self.names.index(self.written)]


def _bagged_weights(preds: np.ndarray, target: np.ndarray, blocks: np.ndarray,
                    rng: np.random.Generator) -> np.ndarray:
    ids = np.unique(blocks)
    members = [np.flatnonzero(blocks == b) for b in ids]
    total = np.zeros(preds.shape[0])
    for _ in range(REPEATS):
        pick = np.concatenate([members[i] for i in rng.integers(0, len(ids), len(ids))])
        total += simplex_weights(preds[:, pick], target[pick])
    return total / REPEATS


def _cross_fitted(preds: np.ndarray, target: np.ndarray, blocks: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """Blend predictions where every pixel's weights come from other blocks (averaged)."""
    ids = np.unique(blocks)
    out = np.zeros(target.shape)
    count = np.zeros(target.shape)
    for _ in range(REPEATS):
        half = rng.permutation(ids)[: len(ids) // 2]
        a = np.isin(blocks, half)
        for fit_on, score_on in ((a, ~a), (~a, a)):
            weights = simplex_weights(preds[:, fit_on], target[fit_on])
            out[score_on] += weights @ preds[:, score_on]
            count[score_on] += 1
    return out / np.maximum(count, 1)


def select(names: list[str], coarse: list[np.ndarray], target: np.ndarray, test_blocks: np.ndarray,
           mode: str = "blend", seed: int = 0, references: dict[str, np.ndarray] | None = None
           ) -> Selection:
    """Score ``coarse`` predictions (each on the LST grid) against ``target`` on the test blocks.

    ``test_blocks`` is an integer array on the LST grid: the test block id of each pixel, -1
    elsewhere. Pixels where any prediction, reference or the target is NaN are left out, so
    that the ``references`` (scored, never chosen) are judged on exactly the same pixels.
    """
    references = references or {}
    stack = np.stack([c.astype(np.float64) for c in [*coarse, *references.values()]])
    used = (test_blocks >= 0) & np.isfinite(target) & np.isfinite(stack).all(axis=0)
    scored, truth, blocks = stack[:, used], target[used].astype(np.float64), test_blocks[used]
    if truth.size < 2:
        raise ValueError("no valid held-out pixel to compare the candidates on")
    preds = scored[: len(names)]
    metrics = [pooled_metrics(p, truth) for p in preds]
    scores = {name: pooled_metrics(p, truth) for name, p in zip(references, scored[len(names):])}
    single = int(np.argmin([m["rmse"] for m in metrics]))
    one_hot = [1.0 if i == single else 0.0 for i in range(len(names))]
    n_blocks = len(np.unique(blocks))
    if len(names) == 1 or n_blocks < 2:
        return Selection(names, metrics, scores, one_hot, one_hot, None, names[single], n_blocks,
                         truth.size)
    rng = np.random.default_rng([seed, 11])
    weights = _bagged_weights(preds, truth, blocks, rng)
    blend = pooled_metrics(_cross_fitted(preds, truth, blocks, rng), truth)
    use_blend = mode == "blend" and blend["rmse"] < metrics[single]["rmse"]
    return Selection(names, metrics, scores, list(weights) if use_blend else one_hot, list(weights), blend,
                     "blend" if use_blend else names[single], n_blocks, truth.size)
