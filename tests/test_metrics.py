"""The paper's metrics, eq. (11)-(16), against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipelines.metrics import METRICS, MetricAverage, image_metrics

# ref = [1, 2, 3, 5], pred = [2, 2, 4, 4]: differences [1, 0, 1, -1].
REF = np.array([[1.0, 2.0], [3.0, 5.0]])
PRED = np.array([[2.0, 2.0], [4.0, 4.0]])
# Deviations: pred - 3 = [-1, -1, 1, 1]; ref - 2.75 = [-1.75, -0.75, 0.25, 2.25].
# Sum of squared ref deviations 8.75, of pred deviations 4; cross products sum to 5.
EXPECTED = {
    "rmse": math.sqrt(3 / 4),  # (11)
    "mae": 3 / 4,  # (12)
    "bias": 1 / 4,  # (13)
    "cc": (5 / 4) / (math.sqrt(4 / 4) * math.sqrt(8.75 / 4)),  # (14), 1/N moments
    "rsd": abs(math.sqrt(4 / 3) - math.sqrt(8.75 / 3)) / math.sqrt(8.75 / 3),  # (15), (16): N-1
}


def test_hand_computed_values() -> None:
    got = image_metrics(PRED, REF)
    for name in METRICS:
        assert got[name] == pytest.approx(EXPECTED[name], rel=1e-12), name
    assert got["cc"] == pytest.approx(0.8451542547, rel=1e-9)
    assert got["rsd"] == pytest.approx(0.3238769, rel=1e-6)


def test_perfect_prediction() -> None:
    ref = np.arange(12.0).reshape(3, 4) + 280
    got = image_metrics(ref.copy(), ref)
    assert got == {"rmse": 0.0, "mae": 0.0, "bias": 0.0, "cc": pytest.approx(1.0), "rsd": 0.0}


def test_invalid_pixels_are_ignored_in_either_array() -> None:
    ref = np.full((3, 3), np.nan)
    pred = np.full((3, 3), 999.0)
    ref[0, :2], ref[1, :2] = REF[0], REF[1]
    pred[0, :2], pred[1, :2] = PRED[0], PRED[1]
    ref[2, 2] = 300.0  # valid reference, NaN prediction: ignored too
    pred[2, 2] = np.nan
    got = image_metrics(pred, ref)
    for name in METRICS:
        assert got[name] == pytest.approx(EXPECTED[name], rel=1e-12)


def test_undefined_cases_are_nan() -> None:
    flat = np.full((2, 2), 300.0)
    got = image_metrics(flat + np.array([[0, 1], [2, 3]]), flat)
    assert math.isnan(got["cc"]) and math.isnan(got["rsd"])
    assert got["bias"] == pytest.approx(1.5)
    single = np.array([[300.0, np.nan]])
    assert all(math.isnan(v) for v in image_metrics(single, single).values())


def test_average_is_per_image_not_per_pixel() -> None:
    average = MetricAverage()
    average.add(PRED, REF)  # 4 pixels, bias 0.25
    big_ref = np.arange(100.0).reshape(10, 10)
    average.add(big_ref + 2.0, big_ref)  # 100 pixels, bias 2, rmse 2
    average.add(np.array([[1.0, np.nan]]), np.array([[1.0, 1.0]]))  # one valid pixel: skipped
    result = average.result()
    assert result["images"] == 2 and result["pixels"] == 104
    assert result["bias"] == pytest.approx((0.25 + 2.0) / 2)
    assert result["rmse"] == pytest.approx((math.sqrt(0.75) + 2.0) / 2)
    # CC of the second image is 1, RSD 0.
    assert result["cc"] == pytest.approx((EXPECTED["cc"] + 1.0) / 2)
    assert result["rsd"] == pytest.approx(EXPECTED["rsd"] / 2)


def test_nan_metric_left_out_of_its_mean_only() -> None:
    average = MetricAverage()
    average.add(PRED, REF)
    average.add(np.array([[301.0, 302.0]]), np.array([[300.0, 300.0]]))  # constant ref: CC NaN
    result = average.result()
    assert result["images"] == 2
    assert result["cc"] == pytest.approx(EXPECTED["cc"])
    assert result["bias"] == pytest.approx((0.25 + 1.5) / 2)


def test_shards_merge_to_the_whole() -> None:
    rng = np.random.default_rng(0)
    images = [(rng.normal(300, 3, (8, 8)), rng.normal(300, 3, (8, 8))) for _ in range(5)]
    whole, left, right = MetricAverage(), MetricAverage(), MetricAverage()
    for i, (pred, ref) in enumerate(images):
        whole.add(pred, ref)
        (left if i < 2 else right).add(pred, ref)
    summed = [a + b for a, b in zip(left.to_vector(), right.to_vector())]
    merged = MetricAverage.from_vector(summed).result()
    left.merge(right)
    for name in METRICS:
        assert merged[name] == pytest.approx(whole.result()[name])
        assert left.result()[name] == pytest.approx(whole.result()[name])
    assert merged["images"] == 5 and merged["pixels"] == 320


@pytest.mark.parametrize("pixels", [10_000, 100_000, 1_234_567])
@pytest.mark.parametrize("value", [310.15, 310.05, 0.1])
def test_a_constant_prediction_has_cc_nan_and_rsd_exactly_1(pixels: int, value: float) -> None:
    """A constant field's computed mean misses its value by an ulp, so its deviations are not 0
    (310.15 K at 10,000 px: std 5.7e-14 K): CC was round-off over round-off (-3.7e-15), RSD
    0.9999999999999887."""
    ref = np.random.default_rng(pixels).normal(value, 5.0, pixels)
    flat = np.full(pixels, value)
    got = image_metrics(flat, ref)
    assert math.isnan(got["cc"]) and got["rsd"] == 1.0
    flipped = image_metrics(ref, flat)  # a constant reference: no RSD either
    assert math.isnan(flipped["cc"]) and math.isnan(flipped["rsd"])


def test_a_nearly_constant_prediction_keeps_its_correlation() -> None:
    rng = np.random.default_rng(3)
    ref = rng.normal(311.0, 5.0, 100_000)
    pred = 310.15 + 0.002 * (ref - 311.0) + rng.uniform(-0.01, 0.01, ref.size)  # +-0.01 K
    got = image_metrics(pred, ref)
    assert got["cc"] == pytest.approx(np.corrcoef(pred, ref)[0, 1], rel=1e-12)
    sigma_pred, sigma_ref = pred.std(ddof=1), ref.std(ddof=1)
    assert got["rsd"] == pytest.approx(abs(sigma_pred - sigma_ref) / sigma_ref, rel=1e-12)
