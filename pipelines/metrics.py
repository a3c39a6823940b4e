"""The GrokLST paper's evaluation metrics, equations (11)-(16), on valid pixels only.

Each metric is computed per image over the pixels where both the prediction and the reference
are finite (NaN marks nodata, as do a masked array's masked pixels), then averaged over images, as the paper's Table IX does.
RMSE, MAE and BIAS are in the unit of the inputs (Kelvin); CC and RSD are unitless.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from pipelines.degrade import nan_filled

METRICS: tuple[str, ...] = ("rmse", "mae", "bias", "cc", "rsd")
# A standard deviation at most this share of the values' magnitude is round-off, not spread: a
# constant field's computed mean misses its value in the last bits (310.15 K: ~6e-14 K, 2e-16
# of it), so its deviations are not all 0. Float32 LSTs that differ anywhere spread far more.
ROUNDOFF_SPREAD = 1e-12
# Metrics undefined on some images (CC where either field is constant, RSD where the reference
# is): their means may be over fewer images than the others', which reports say (``cc_images``).
PARTIAL_METRICS: tuple[str, ...] = ("cc", "rsd")
# Each metric's unit as --json names it: RMSE, MAE and BIAS are temperature differences in Kelvin
# (whatever the inputs' unit), CC and RSD are dimensionless ("1", as CF and UDUNITS write it).
METRIC_UNITS: dict[str, str] = {"rmse": "K", "mae": "K", "bias": "K", "cc": "1", "rsd": "1"}


def metric_text(value: float) -> str:
    """A metric as a table shows it: 4 decimals, or ``n/a`` where --json says null (undefined:
    a constant raster's CC), as the README documents for every command."""
    return f"{value:.4f}" if math.isfinite(value) else "n/a"


def zero_if_roundoff(std: float, magnitude: float) -> float:
    """``std``, or 0 when it is round-off of values as large as ``magnitude``: a constant field
    then has CC 0/0 (NaN) and, as a prediction, RSD exactly 1."""
    return std if std > ROUNDOFF_SPREAD * magnitude else 0.0


def correlation(cov: float, spread: float) -> float:
    """CC (eq. 14): ``cov`` over ``spread`` (the product of the standard deviations), NaN when
    either field is constant, kept within [-1, 1]: round-off puts a perfect correlation at
    1.0000000000000002, which a script checking ``cc <= 1`` would refuse."""
    return min(1.0, max(-1.0, cov / spread)) if spread > 0 else float("nan")


def image_metrics(pred: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """RMSE (11), MAE (12), BIAS (13), CC (14) and RSD (15, 16) of one image.

    Pixels where either array is not finite or is masked are ignored. CC is NaN when either image is constant
    and RSD when the reference is; every metric is NaN when fewer than two pixels are valid.
    """
    pred, ref = nan_filled(pred), nan_filled(ref)
    if pred.shape != ref.shape:
        raise ValueError(f"prediction {pred.shape} and reference {ref.shape} differ in shape")
    valid = np.isfinite(pred) & np.isfinite(ref)
    n = int(valid.sum())
    if n < 2:
        return {name: float("nan") for name in METRICS}
    sr, hr = pred[valid], ref[valid]
    diff = sr - hr
    d_sr, d_hr = sr - sr.mean(), hr - hr.mean()
    # Eq. (14) uses 1/N moments; eq. (16) the N-1 (sample) standard deviations.
    cov = float(np.mean(d_sr * d_hr))
    std_sr = zero_if_roundoff(float(np.sqrt(np.mean(d_sr**2))), float(np.abs(sr).max()))
    std_hr = zero_if_roundoff(float(np.sqrt(np.mean(d_hr**2))), float(np.abs(hr).max()))
    spread = std_sr * std_hr
    sigma_sr, sigma_hr = std_sr * math.sqrt(n / (n - 1)), std_hr * math.sqrt(n / (n - 1))
    return {
        "rmse": float(np.sqrt(np.mean(diff**2))),
        "mae": float(np.mean(np.abs(diff))),
        "bias": float(np.mean(diff)),
        "cc": correlation(cov, spread),
        "rsd": abs(sigma_sr - sigma_hr) / sigma_hr if sigma_hr > 0 else float("nan"),
    }


@dataclass
class MetricAverage:
    """Per-image metrics averaged over images; NaN values of a metric are left out of its mean.

    The running sums are plain numbers so that shards (e.g. one per distributed rank) can be
    merged with :meth:`merge` or by summing :meth:`to_vector`.
    """

    sums: dict[str, float] = field(default_factory=lambda: dict.fromkeys(METRICS, 0.0))
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METRICS, 0))
    images: int = 0
    pixels: int = 0

    def add(self, pred: np.ndarray, ref: np.ndarray) -> dict[str, float]:
        """Score one image and add it to the average; returns that image's metrics."""
        pred, ref = nan_filled(pred), nan_filled(ref)  # a masked pixel is not counted either
        values = image_metrics(pred, ref)
        valid = int((np.isfinite(pred) & np.isfinite(ref)).sum())
        if valid < 2:
            return values
        self.images += 1
        self.pixels += valid
        for name, value in values.items():
            if np.isfinite(value):
                self.sums[name] += value
                self.counts[name] += 1
        return values

    def merge(self, other: MetricAverage) -> None:
        for name in METRICS:
            self.sums[name] += other.sums[name]
            self.counts[name] += other.counts[name]
        self.images += other.images
        self.pixels += other.pixels

    def to_vector(self) -> list[float]:
        """Sums, counts, images and pixels as one flat list (for an all-reduce)."""
        return [
            *(self.sums[m] for m in METRICS),
            *(float(self.counts[m]) for m in METRICS),
            float(self.images),
            float(self.pixels),
        ]

    @classmethod
    def from_vector(cls, vector: Sequence[float]) -> MetricAverage:
        k = len(METRICS)
        return cls(
            sums={m: float(vector[i]) for i, m in enumerate(METRICS)},
            counts={m: int(round(vector[k + i])) for i, m in enumerate(METRICS)},
            images=int(round(vector[2 * k])),
            pixels=int(round(vector[2 * k + 1])),
        )

    def result(self) -> dict[str, float]:
        """Mean of each metric over images, plus ``images`` and ``pixels`` counts."""
        out: dict[str, float] = {
            m: self.sums[m] / self.counts[m] if self.counts[m] else float("nan") for m in METRICS
        }
        out["images"] = self.images
        out["pixels"] = self.pixels
        return out
