"""The classic thermal sharpeners, fitted on one scene's own LR pixels: TsHARP and DMS.

Both learn the relation between LST and the guidance at the native LR scale, from every valid
LR pixel (the guidance area-averaged onto the LR grid), apply it to the fine guidance pixel by
pixel, and add the LR residual back (:mod:`pipelines.residual`), so the fine map aggregates to
the observation:

- ``tsharp`` (Agam et al. 2007, generalised to any bands): ordinary least squares of LST on the
  guidance bands (``degree=2`` adds their squares and products).
- ``gwr`` (geographically weighted regression, Duan and Li 2016): tsharp's least squares
  fitted again around every LR pixel with Gaussian weights and shrunk towards the global fit
  (:mod:`pipelines.local_regression`), so the slopes follow the scene (a field is not a
  forest). Its coefficients come from the LR pixels near each tile, so it needs the LR LST
  when applied (``relation(guidance, lr)``).
- ``dms`` (Gao, Kustas and Anderson 2012, the data-mining sharpener of pyDMS): bagged regression
  trees on the guidance bands, trained on the most homogeneous LR pixels (those whose fine
  guidance varies least inside the LR pixel, the within-LR-pixel standard deviation DMS uses),
  because the LR average of a mixed pixel does not follow the per-pixel relation. pyDMS fits a
  linear regression in each leaf so the trees extrapolate beyond the LR range; here the trees
  fit the residual of one linear regression on every valid LR pixel, which gives the same linear
  extrapolation (fitted on the homogeneous pixels only, that regression was unstable with
  collinear bands: 19 K RMSE on a 16 x 16 LR patch of ten bands).

``psf`` (a :class:`~pipelines.psf_shape.Psf` in fine pixels) blurs the guidance with the thermal
sensor's point-spread function before fitting and applying, so the sharpened map is as sharp
as the sensor and not as sharp as the guidance; ``Psf()`` (none) is the published algorithm.

They are not networks and have no weights to keep: a :class:`Sharpener` is fitted per scene
and then predicts tiles with the same ``predict(lr, guidance)`` as a network's predictor.
The learners are scikit-learn's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import joblib
import numpy as np
from sklearn.ensemble import BaggingRegressor
from sklearn.linear_model import LinearRegression
from sklearn.preprocessing import PolynomialFeatures
from sklearn.tree import DecisionTreeRegressor

from pipelines.degrade import block_mean
from pipelines.threads import joblib_jobs
from pipelines.errors import InputError
from pipelines.local_regression import apply_coefficients, local_coefficients
from pipelines.psf import blur, estimate_psf
from pipelines.psf_shape import Psf
from pipelines.residual import correct_residual

SHARPENERS = ("tsharp", "gwr", "dms")
MIN_SAMPLES = 10
HOMOGENEOUS_FRACTION = 0.8  # DMS trains on the 80 % most homogeneous LR pixels
DMS_TREES = 30  # pyDMS's bagging defaults: 30 trees on 80 % samples
DMS_MIN_LEAF = 20  # LR pixels per leaf where no coarser twin can choose (pyDMS: 10)
DMS_TWIN_LEAVES = (2, 5, 20)  # leaf sizes tried one scale coarser (see fitted_with_twin)
DMS_MAX_DEPTH = 10


def _moments(guidance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and standard deviation over the finite pixels (std >= 1e-6)."""
    flat = guidance.reshape(guidance.shape[0], -1).astype(np.float64)
    mean = np.nanmean(flat, axis=1)
    std = np.nanstd(flat, axis=1)
    return mean, np.where(std > 1e-6, std, 1.0)


def block_std(values: np.ndarray, scale: int) -> np.ndarray:
    """Standard deviation of each ``s x s`` block of the last two axes (NaN if any is NaN)."""
    mean = block_mean(values, scale).astype(np.float64)
    square = block_mean(values.astype(np.float64) ** 2, scale).astype(np.float64)
    return np.sqrt(np.maximum(square - mean**2, 0.0))


class _LinearPlusTrees:
    """A linear regression, and trees on its residual (linear extrapolation, non-linear fit).

    The bagged trees run in threads: scikit-learn builds and applies a tree without the GIL,
    and threads share the features instead of copying them into worker processes. Every tree
    keeps the seed it gets with one job, so the trees are the same and predictions differ only
    in the order of the final sum (< 1e-13 K).
    """

    def __init__(self, trees: BaggingRegressor):
        self.linear, self.trees = LinearRegression(), trees

    def fit(self, features: np.ndarray, target: np.ndarray, trees_on: np.ndarray) -> _LinearPlusTrees:
        """The linear part on every sample, the trees on the samples where ``trees_on``."""
        self.linear.fit(features, target)
        residual = target - self.linear.predict(features)
        with joblib.parallel_config(backend="threading"):
            self.trees.fit(features[trees_on], residual[trees_on])
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        with joblib.parallel_config(backend="threading"):
            trees = self.trees.predict(features)
        return self.linear.predict(features) + trees


@dataclass
class Sharpener:
    """A per-scene regression of LST on the guidance, applied at the fine scale.

    ``fit`` takes the LR LST (h, w) in Kelvin and the fine guidance (K, h*s, w*s); NaN marks
    nodata (and, for held-out checks, LR pixels kept out of the fit).
    """

    name: str
    scale: int
    bands: list[str]
    residual: str = "smooth"
    space: str = "kelvin"
    psf: Psf = Psf()
    degree: int = 1
    seed: int = 0
    homogeneous_fraction: float = HOMOGENEOUS_FRACTION
    min_leaf: int = DMS_MIN_LEAF  # dms: fewest LR pixels in a leaf
    _mean: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    _std: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    _learner: object = field(default=None, repr=False)
    samples: int = 0

    def _standardised(self, guidance: np.ndarray) -> np.ndarray:
        """(K, ...) guidance z-scored with the moments of the fit."""
        lead = (slice(None),) + (None,) * (guidance.ndim - 1)
        return (guidance - self._mean[lead]) / self._std[lead]

    def _features(self, guidance: np.ndarray) -> np.ndarray:
        """(K, ...) guidance -> (N, K) z-scored features."""
        return self._standardised(guidance).reshape(guidance.shape[0], -1).T.astype(np.float64)

    def _make_learner(self):
        if self.name == "dms":
            trees = BaggingRegressor(
                DecisionTreeRegressor(min_samples_leaf=self.min_leaf, max_depth=DMS_MAX_DEPTH),
                n_estimators=DMS_TREES, max_samples=0.8, random_state=self.seed,
                n_jobs=joblib_jobs())  # in threads (see _LinearPlusTrees), on every core unless limited
            return _LinearPlusTrees(trees)
        if self.degree == 1:
            return LinearRegression()  # tsharp, and gwr's global fit
        if self.name == "gwr":
            raise ValueError("gwr is linear: degree must be 1")
        from sklearn.pipeline import make_pipeline

        return make_pipeline(PolynomialFeatures(self.degree, include_bias=False), LinearRegression())

    def fit(self, lr: np.ndarray, guidance: np.ndarray) -> Sharpener:
        s = self.scale
        if guidance.shape[-2:] != (lr.shape[0] * s, lr.shape[1] * s):
            raise ValueError(f"guidance {guidance.shape} does not cover lr {lr.shape} at x{s}")
        guidance = blur(guidance, self.psf)
        self._mean, self._std = _moments(guidance)
        z = self._standardised(guidance)
        means = block_mean(z, s)
        valid = np.isfinite(lr) & np.isfinite(means).all(axis=0)
        self.samples = int(valid.sum())
        if self.samples < MIN_SAMPLES:
            raise InputError("LST", f"{self.name}: only {self.samples} valid LR pixels to fit on",
                             "give a larger scene or one with less nodata")
        features = means[:, valid].T.astype(np.float64)
        target = lr[valid].astype(np.float64)
        learner = self._make_learner()
        if self.name == "dms":
            spread = block_std(z, s).mean(axis=0)[valid]
            homogeneous = spread <= np.quantile(spread, self.homogeneous_fraction)
            self._learner = learner.fit(features, target, homogeneous)
        else:
            self._learner = learner.fit(features, target)
        return self

    def relation(self, guidance: np.ndarray, lr: np.ndarray | None = None) -> np.ndarray:
        """The fitted relation applied to each fine guidance pixel, before residual correction.

        ``lr`` (the LR LST under ``guidance``) is what ``gwr`` fits its local coefficients on;
        the global sharpeners do not read it.
        """
        if self.name == "gwr":
            return self._local_relation(guidance, lr)
        shape = guidance.shape[1:]
        features = self._features(blur(guidance, self.psf))
        ok = np.isfinite(features).all(axis=1)
        out = np.full(features.shape[0], np.nan)
        if ok.any():
            out[ok] = self._learner.predict(features[ok])
        return out.reshape(shape).astype(np.float32)

    def _local_relation(self, guidance: np.ndarray, lr: np.ndarray | None) -> np.ndarray:
        """gwr: coefficients fitted around each LR pixel of ``lr``, shrunk to the global fit."""
        if lr is None:
            raise ValueError("gwr needs the LR LST under the guidance")
        z = self._standardised(blur(guidance, self.psf))
        prior = np.append(self._learner.coef_, self._learner.intercept_)
        coefficients = local_coefficients(block_mean(z, self.scale), lr, prior)
        return apply_coefficients(coefficients, z, self.scale)

    def predict_scene(self, lr: np.ndarray, guidance: np.ndarray) -> np.ndarray:
        """Fine LST (h*s, w*s) for one LR scene or tile, residual-corrected."""
        return correct_residual(self.relation(guidance, lr), lr, self.scale, mode=self.residual,
                                space=self.space)

    def predict(self, lr: np.ndarray, guidance: np.ndarray) -> np.ndarray:
        """Batches of tiles: ``lr`` (B, h, w), ``guidance`` (B, K, h*s, w*s) -> (B, h*s, w*s)."""
        return np.stack([self.predict_scene(a, g) for a, g in zip(lr, guidance)])


def fitted_with_twin(name: str, scale: int, bands: Sequence[str], lr: np.ndarray, guidance: np.ndarray,
                     coarse: np.ndarray, guidance_lr: np.ndarray, *, psf: Psf, residual: str = "smooth",
                     seed: int = 0) -> tuple[Sharpener, Sharpener]:
    """``name`` fitted on ``lr`` (fine ``guidance``) and its twin fitted one scale coarser on
    ``coarse`` (``lr`` degraded by the scale; ``guidance_lr`` the guidance on the LR grid), the
    twin's PSF ``1/scale`` as wide.

    For ``dms`` the twins decide the leaf size: a twin with ``L`` degraded pixels per leaf
    covers the ground of ``L * scale**2`` LR pixels, so each of ``DMS_TWIN_LEAVES`` is fitted,
    scored against ``lr`` (which the twins never see), and the best is written with ``L *
    scale**2`` LR pixels per leaf: the written trees then hold about as many leaves as the
    twin the held-out check scores. On Landsat dates (B11 guidance) the largest leaves won
    at both scales (120 -> 30 m: 0.455 K against 0.670 K with 20 LR pixels per leaf), on
    generated non-linear scenes the smallest (0.235 K against 0.409 K with the largest): the
    twins' order was the truth's on all six scenes tried.
    """
    def sharpener(psf_: Psf, leaf: int) -> Sharpener:
        return Sharpener(name, scale, list(bands), residual=residual, psf=psf_, seed=seed, min_leaf=leaf)

    twin_psf = psf.scaled(1 / scale)
    leaves = DMS_TWIN_LEAVES if name == "dms" else (DMS_MIN_LEAF,)
    best, best_error = None, np.inf
    for leaf in leaves:
        twin = sharpener(twin_psf, leaf).fit(coarse, guidance_lr)
        predicted = twin.predict_scene(coarse, guidance_lr)
        error = _rmse(predicted, lr[: predicted.shape[0], : predicted.shape[1]])
        if best is None or error < best_error:
            best, best_error = twin, error
    return sharpener(psf, best.min_leaf * scale**2).fit(lr, guidance), best


def _rmse(pred: np.ndarray, target: np.ndarray) -> float:
    """RMSE over the pixels where both are finite (inf when there is none)."""
    both = np.isfinite(pred) & np.isfinite(target)
    return float(np.sqrt(np.mean((pred[both].astype(np.float64) - target[both]) ** 2))) if both.any() else np.inf


def patch_predictor(name: str, scale: int, bands: Sequence[str], seed: int = 0
                    ) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``predict(lr, guidance) -> hr`` that fits the sharpener on each patch's own LR pixels.

    What ``groklst evaluate`` scores as the ``tsharp`` / ``gwr`` / ``dms`` baselines: the same
    defaults as ``downscale --fit --model tsharp|gwr|dms`` (PSF estimated from the patch, smooth
    residual, dms leaves chosen by twins one scale coarser where the patch holds enough of
    them).
    """
    if name not in SHARPENERS:
        raise ValueError(f"unknown sharpener {name!r}; use one of {SHARPENERS}")

    def predict(lr: np.ndarray, guidance: np.ndarray) -> np.ndarray:
        psf = estimate_psf(lr, guidance, scale, seed).psf
        rows, cols = lr.shape[0] // scale * scale, lr.shape[1] // scale * scale  # whole twin pixels
        coarse = block_mean(lr[:rows, :cols], scale)
        if name == "dms" and np.isfinite(coarse).sum() >= MIN_SAMPLES:
            sharpener, _ = fitted_with_twin(name, scale, bands, lr, guidance, coarse,
                                            block_mean(guidance, scale)[:, :rows, :cols], psf=psf, seed=seed)
        else:
            sharpener = Sharpener(name, scale, list(bands), psf=psf, seed=seed).fit(lr, guidance)
        return sharpener.predict_scene(lr, guidance)

    return predict
