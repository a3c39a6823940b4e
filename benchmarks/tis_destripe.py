"""How well ``pipelines.destripe`` finds and removes TIS B2 stripes, and what it costs.

How the numbers are taken: a generated scene's 30 m LST (``generate_scene``, ``--size`` pixels
a side, sharp land-cover and water edges) becomes TIS B2/B3 brightness temperatures by
inverting the split window (default ``RetrievalConfig``, emissivity 0.97/0.977) with a B2 - B3
difference that varies: 0.8 K, plus 5 % of the LST's contrast (B3 sees contrasts weaker, so
it must be scaled), plus a smooth 0.3 K water-vapour term. B3 is also seen 0.05 px off (the
residue band registration leaves), and each band gets 0.2 K of white noise (the TIS NETD).
The same scene mirrored to 2000 x 2000 pixels gives a taller image. Stripes: one random offset
per detector line (normal, RMS as listed), lines a pixel apart running at the listed angle
clockwise from north, as a map projection shows them: ``nearest`` (hard steps between lines)
or ``bilinear`` (interpolated between line centres). B2 + stripes is destriped as ingest would
do it: the direction on the five 256 x 256 crops of ``coregister.crops``, then the profile and
the correction in strips of 512 rows.

Scored against the unstriped B2 plus the stripes' mean (an offset common to all detectors is
calibration, not striping, and is kept): the RMSE of B2; the split-window LST from (B2, B3)
against the LST from (unstriped B2, B3), RMSE and 99th percentile of |error|, striped ->
destriped; "measured" is the stripe RMS the module finds along the stripes' direction (the
covariance of the image halves' profiles: noise cancels), before -> after. Cost: wall time of
the three steps on the 2000 x 2000 images (2 CPU cores, shared; numpy/scipy single-threaded).

Usage: python benchmarks/tis_destripe.py [--size 700] [--seed 4]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.coregister import crops  # noqa: E402
from pipelines.destripe import Destriping, StripeDirection, StripeProfile, destripe, measure_direction  # noqa: E402
from pipelines.lst_retrieval import RetrievalConfig, split_window, split_window_inverse  # noqa: E402
from pipelines.sample_scene import generate_scene  # noqa: E402

BIG = 2000  # rows and columns of the mirrored scene (the cost figure)
STRIP_ROWS = 512  # ingest's default strip
EMISSIVITY = (0.97, 0.977)
NOISE_K = 0.2
CASES = [(angle, rms) for angle in (0.0, 8.0, -13.0) for rms in (0.2, 0.5)]
PROJECTIONS = ("nearest", "bilinear")


def _bands(lst: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(t2, t3) whose split window gives ``lst``, with the difference and noise described above."""
    rows, cols = np.mgrid[0:lst.shape[0], 0:lst.shape[1]]
    vapour = 0.3 * np.sin(2 * math.pi * (cols / 1500 + rows / 2500))
    difference = 0.8 + 0.05 * (lst - np.nanmean(lst)) + vapour
    t2, t3 = split_window_inverse(lst, *EMISSIVITY, RetrievalConfig(), difference)
    valid = np.isfinite(t3)
    moved = ndimage.shift(np.where(valid, t3, np.nanmean(t3)), (0.05, -0.05), order=3, mode="nearest")
    t3 = np.where(valid, moved, np.nan)
    rng = np.random.default_rng(seed)
    return t2 + NOISE_K * rng.standard_normal(t2.shape), t3 + NOISE_K * rng.standard_normal(t3.shape)


def _stripes(shape: tuple[int, int], angle_deg: float, rms: float, projection: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    t = math.radians(angle_deg)
    across = cols * math.cos(t) + rows * math.sin(t) + rng.uniform()
    across -= np.floor(across.min())
    offsets = rms * rng.standard_normal(int(across.max()) + 2)
    if projection == "nearest":
        return offsets[np.floor(across).astype(np.int64)]
    return np.interp(across - 0.5, np.arange(offsets.size), offsets)


def _destripe(b2: np.ndarray, b3: np.ndarray) -> tuple[np.ndarray, StripeDirection, Destriping, list[float]]:
    """B2 destriped as ingest would; the direction, what the profile found, and the seconds of
    the three steps."""
    t0 = time.perf_counter()
    direction = measure_direction([(b2[t:t + h, l:l + w], b3[t:t + h, l:l + w], t, l)
                                   for t, l, h, w in crops(*b2.shape)])
    t1 = time.perf_counter()
    profile = StripeProfile(b2.shape, direction)
    for top in range(0, b2.shape[0], STRIP_ROWS):
        profile.add(b2[top:top + STRIP_ROWS], b3[top:top + STRIP_ROWS], top)
    found = profile.result()
    t2 = time.perf_counter()
    out = np.vstack([destripe(b2[top:top + STRIP_ROWS], found, top) for top in range(0, b2.shape[0], STRIP_ROWS)])
    t3 = time.perf_counter()
    return out, direction, found, [t1 - t0, t2 - t1, t3 - t2]


def _stripe_rms(b2: np.ndarray, b3: np.ndarray, direction: StripeDirection) -> float:
    """The stripe RMS the module measures along ``direction`` (halves' covariance)."""
    profile = StripeProfile(b2.shape, StripeDirection(direction.angle_deg, direction.gain, given=True))
    profile.add(b2, b3, 0)
    return profile.result().rms_k


def _rmse(a: np.ndarray) -> float:
    return math.sqrt(float(np.nanmean(a ** 2)))


def _lst(t2: np.ndarray, t3: np.ndarray) -> np.ndarray:
    return split_window(t2, t3, *EMISSIVITY, RetrievalConfig())


def _case(t2: np.ndarray, t3: np.ndarray, stripes: np.ndarray) -> tuple[str, list[float]]:
    truth = t2 + float(np.nanmean(stripes))
    striped = t2 + stripes
    out, direction, found, seconds = _destripe(striped, t3)
    lst_truth = _lst(truth, t3)
    lst_errors = [np.abs(_lst(b, t3) - lst_truth) for b in (striped, out)]
    if not found.applied:
        same = "bit-identical" if np.array_equal(out, striped, equal_nan=True) else "CHANGED"
        return f"not applied, {same}: {found.describe()}", seconds
    after = _stripe_rms(out, t3, direction)
    return (f"found {direction.angle_deg:+7.3f} deg  measured {found.rms_k:5.3f} -> {after:5.3f} K  "
            f"B2 RMSE {_rmse(striped - truth):5.3f} -> {_rmse(out - truth):5.3f} K  "
            f"LST RMSE {_rmse(lst_errors[0]):5.3f} -> {_rmse(lst_errors[1]):5.3f} K  "
            f"p99 {np.nanpercentile(lst_errors[0], 99):5.2f} -> {np.nanpercentile(lst_errors[1], 99):5.2f} K"), seconds


def _report(name: str, t2: np.ndarray, t3: np.ndarray, seed: int) -> list[list[float]]:
    print(f"\n{name}: {t2.shape[0]} x {t2.shape[1]} px")
    line, seconds = _case(t2, t3, np.zeros(t2.shape))
    print(f"  no stripes: {line}")
    costs = [seconds]
    for projection in PROJECTIONS:
        for n, (angle, rms) in enumerate(CASES):
            stripes = _stripes(t2.shape, angle, rms, projection, seed + n)
            line, seconds = _case(t2, t3, stripes)
            costs.append(seconds)
            print(f"  {projection:8s} {angle:+5.1f} deg {float(stripes.std()):4.2f} K RMS  {line}")
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=700, help="generated scene size in TIS pixels")
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args()
    lst = generate_scene((args.size, args.size), seed=args.seed).lst.astype(np.float64)
    pad = ((0, max(0, BIG - args.size)),) * 2
    big = np.pad(lst, pad, mode="symmetric")[:BIG, :BIG]
    print(f"generated scene seed {args.seed}, {NOISE_K} K noise per band; B2 + stripes -> destriped")
    _report("generated scene", *_bands(lst, args.seed), args.seed)
    costs = np.array(_report("mirrored scene", *_bands(big, args.seed), args.seed))
    stripes = costs[1:]
    print(f"\ncost on {BIG} x {BIG} px, s (mean over the striped cases; max): "
          f"direction {stripes[:, 0].mean():.2f} ({stripes[:, 0].max():.2f}), "
          f"profile {stripes[:, 1].mean():.2f} ({stripes[:, 1].max():.2f}), "
          f"correction {stripes[:, 2].mean():.2f} ({stripes[:, 2].max():.2f}); "
          f"without stripes {costs[0].sum():.2f} in all")


if __name__ == "__main__":
    main()
