"""Does ``pipelines.destripe`` leave clean TIS products alone and find real B2 stripes? At what cost?

How the numbers are taken:

1. Matrix. A generated scene (``generate_scene``, ``--size`` TIS pixels a side, ``--seeds``)
   becomes fake SDGSAT-1 product folders (``write_product_fixture``, the layout and radiometry
   ``groklst ingest`` reads), one per case: B3 misregistered against B2 by (east, north) metres
   (made from the fine scene seen through moved footprints), a sensor PSF on both bands, white
   noise on each band, B2 striped (``tis_stripes_k`` RMS of detector-line offsets, bilinear lines
   at the listed angle clockwise from north). The TIS image is read back as ingest reads it: DN ->
   radiance; B3 blurred more than B2 where listed (a Gaussian of that many pixels, on the
   radiance); B3's offset measured on the five crops of ``coregister.crops`` and, when ingest
   would, B3 moved onto B2 (``band_registration``); -> brightness temperatures. Then destriped as
   ingest does (direction on the crops, profile and correction in strips of 512 rows). Scored
   against the same product made without stripes (same noise), the stripes' mean kept (an
   offset common to all detectors is calibration): "B2" is the RMSE of B2 striped -> destriped
   (and the share of it removed); "LST" the split-window LST (default coefficients, emissivity
   0.97/0.977) RMSE and 99th percentile of |error| striped -> destriped. An unstriped case must come back
   the same array ("unchanged"); "CHANGED" is a false positive, scored the same way.
2. End to end: the QA reproduction, ``ingest_product`` (what ``groklst ingest`` runs) on
   product folders of a ``--ingest-size`` scene, with and without ``destripe_b2`` (--destripe):
   the LST with it against the LST without it (bit-identical or RMS / largest change), for
   striped products both against the same product made without stripes, and the tag.
3. Cost: the three steps on a ``--big`` x ``--big`` image (a clean product's B2/B3 mirrored to
   that size, plus hard-step 0.5 K stripes at 10 deg), 2 shared CPU cores, single-threaded.

Usage: python benchmarks/tis_destripe.py [--size 400] [--seeds 3,0] [--ingest-size 240] [--big 2000]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.coregister import crops  # noqa: E402
from pipelines.destripe import Destriping, StripeDirection, StripeProfile, destripe, measure_direction  # noqa: E402
from pipelines.fixtures import FixtureSettings, registered_tis_temperatures, write_product_fixture  # noqa: E402
from pipelines.lst_retrieval import RetrievalConfig, split_window  # noqa: E402
from pipelines.sample_scene import SampleScene, generate_scene  # noqa: E402

STRIP_ROWS = 512  # ingest's default strip
EMISSIVITY = (0.97, 0.977)  # for the LST score only
NETD_K = 0.2  # TIS noise on each band


@dataclass(frozen=True)
class Case:
    """One product: B3 offset (east, north) m, PSF sigma m, noise K, stripes K RMS and angle, B3's extra blur px."""

    name: str
    offset_m: tuple[float, float] = (0.0, 0.0)
    psf_m: float = 0.0
    noise_k: float = 0.0
    stripes_k: float = 0.0
    angle_deg: float = 10.0
    blur3_px: float = 0.0


CASES = (
    Case("clean"), Case("clean, noise", noise_k=NETD_K),
    Case("B3 off 10,0 m", (10.0, 0.0)), Case("B3 off 20,-10 m", (20.0, -10.0)), Case("B3 off -10,20 m", (-10.0, 20.0)),
    Case("B3 off 20,-10 m, noise", (20.0, -10.0), noise_k=NETD_K),
    Case("B3 blur 0.4 px", blur3_px=0.4), Case("B3 blur 0.7 px, noise", noise_k=NETD_K, blur3_px=0.7),
    Case("B3 off 10,10 m, blur 0.4, noise", (10.0, 10.0), noise_k=NETD_K, blur3_px=0.4),
    Case("PSF 15 m, B3 off 0,-20 m, noise", (0.0, -20.0), psf_m=15.0, noise_k=NETD_K),
    Case("0.3 K @ 10, noise", noise_k=NETD_K, stripes_k=0.3), Case("0.3 K @ 0, noise", noise_k=NETD_K, stripes_k=0.3, angle_deg=0.0),
    Case("0.5 K @ -13, noise", noise_k=NETD_K, stripes_k=0.5, angle_deg=-13.0), Case("1 K @ 15", stripes_k=1.0, angle_deg=15.0),
    Case("3 K @ 10", stripes_k=3.0), Case("3 K @ 10, noise", noise_k=NETD_K, stripes_k=3.0),
    Case("0.4 K @ 10, B3 off 20,-10 m", (20.0, -10.0), stripes_k=0.4),
    Case("0.3 K @ 0, B3 off 20,-10 m, noise", (20.0, -10.0), noise_k=NETD_K, stripes_k=0.3, angle_deg=0.0),
    Case("0.3 K @ -13, B3 off 10,0 m, noise", (10.0, 0.0), noise_k=NETD_K, stripes_k=0.3, angle_deg=-13.0),
    Case("0.5 K @ 15, B3 blur 0.4 px", stripes_k=0.5, angle_deg=15.0, blur3_px=0.4),
    Case("3 K @ 15, B3 off -20,10 m, noise", (-20.0, 10.0), noise_k=NETD_K, stripes_k=3.0, angle_deg=15.0),
)
INGEST_CASES = (Case("clean"), Case("B3 off 10,0 m", (10.0, 0.0)), Case("B3 off 20,-10 m", (20.0, -10.0)),
                Case("0.4 K @ 10", stripes_k=0.4), Case("0.4 K @ 10, B3 off 20,-10 m", (20.0, -10.0), stripes_k=0.4))


def _settings(case: Case, stripes: bool = True) -> FixtureSettings:
    return FixtureSettings(tis_band_offset_m=case.offset_m, tis_psf_sigma_m=case.psf_m, tis_noise_k=case.noise_k,
                           tis_stripes_k=case.stripes_k if stripes else 0.0, tis_stripe_angle_deg=case.angle_deg)


def _products(scene: SampleScene, case: Case, stripes: bool, where: Path) -> tuple[Path, Path]:
    return write_product_fixture(scene, where / f"{case.name}-{stripes}".replace(" ", "_"), _settings(case, stripes))


def _temperatures(scene: SampleScene, case: Case, stripes: bool, where: Path) -> tuple[np.ndarray, np.ndarray]:
    """B2 and B3 brightness temperatures of the case's TIS product as ingest reads them."""
    return registered_tis_temperatures(_products(scene, case, stripes, where)[0], case.blur3_px)


def _destripe(b2: np.ndarray, b3: np.ndarray) -> tuple[np.ndarray, StripeDirection, Destriping, list[float]]:
    """B2 destriped as ingest would; the direction, the outcome, and the seconds of the three steps."""
    t0 = time.perf_counter()
    direction = measure_direction([(b2[t:t + h, l:l + w], b3[t:t + h, l:l + w], t, l)
                                   for t, l, h, w in crops(*b2.shape)])
    t1 = time.perf_counter()
    profile = StripeProfile(b2.shape, direction)
    if direction.found:
        for top in range(0, b2.shape[0], STRIP_ROWS):
            profile.add(b2[top:top + STRIP_ROWS], b3[top:top + STRIP_ROWS], top)
    found = profile.result()
    t2 = time.perf_counter()
    out = np.vstack([destripe(b2[top:top + STRIP_ROWS], found, top) for top in range(0, b2.shape[0], STRIP_ROWS)])
    t3 = time.perf_counter()
    return out, direction, found, [t1 - t0, t2 - t1, t3 - t2]


def _rmse(a: np.ndarray) -> float:
    return math.sqrt(float(np.nanmean(a ** 2)))


def _lst(t2: np.ndarray, t3: np.ndarray) -> np.ndarray:
    return split_window(t2, t3, *EMISSIVITY, RetrievalConfig())


def _score(scene: SampleScene, case: Case, where: Path) -> str:
    """One line: what was found and how B2 and the LST moved."""
    b2, b3 = _temperatures(scene, case, True, where)
    truth = _temperatures(scene, case, False, where)[0] if case.stripes_k else b2
    out, direction, found, _ = _destripe(b2, b3)
    if not case.stripes_k and not found.applied and np.array_equal(out, b2, equal_nan=True):
        return f"unchanged      {found.describe()}"
    truth = truth + float(np.nanmean(b2 - truth))
    lst_truth = _lst(truth, b3)
    before, after = _rmse(b2 - truth), _rmse(out - truth)
    lst_before, lst_after = (np.abs(_lst(b, b3) - lst_truth) for b in (b2, out))
    removed = f" ({1 - after / before:4.0%} removed)" if before else ""
    verdict = "CHANGED" if not case.stripes_k else ("destriped" if found.applied else "MISSED")
    return (f"{verdict:14s} B2 {before:5.3f} -> {after:5.3f} K{removed}  LST {_rmse(lst_before):5.3f} -> "
            f"{_rmse(lst_after):5.3f} K, p99 {np.nanpercentile(lst_before, 99):5.2f} -> "
            f"{np.nanpercentile(lst_after, 99):5.2f} K  "
            f"[{direction.angle_deg:+.2f} deg, {found.rms_k:.2f} K RMS, r={found.agreement:.2f}]")


def _matrix(size: int, seeds: list[int]) -> None:
    print(f"1. matrix: {size} x {size} px product fixtures, destriped arrays as ingest reads them")
    for seed in seeds:
        scene = generate_scene((size, size), seed=seed, ratio=3, lst_resolution=30.0)
        print(f"  scene seed {seed}")
        with tempfile.TemporaryDirectory() as tmp:
            for case in CASES:
                print(f"    {case.name:36s} {_score(scene, case, Path(tmp))}", flush=True)


def _read_lst(path: Path) -> tuple[np.ndarray, str]:
    with rasterio.open(path) as src:
        lst = src.read(1, masked=True).filled(np.nan).astype(np.float64)
        return lst, src.tags().get("tis_destriping", "")


def _end_to_end(size: int) -> None:
    from pipelines.ingest import ingest_product

    print(f"\n2. end to end: ingest_product on {size} x {size} px product folders, LST with --destripe against without")
    scene = generate_scene((size, size), seed=3, ratio=3, lst_resolution=30.0)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for case in INGEST_CASES:
            folders = list(_products(scene, case, True, Path(tmp)))
            runs = [ingest_product(folders, Path(tmp) / f"{case.name}-{flag}".replace(" ", "_"), destripe_b2=flag)
                    for flag in (False, True)]
            (plain, _), (cleaned, tag) = (_read_lst(Path(r[0])) for r in runs)
            change = cleaned - plain
            same = "bit-identical" if np.array_equal(plain, cleaned, equal_nan=True) else (
                f"changed by {_rmse(change):.3f} K RMS, up to {np.nanmax(np.abs(change)):.2f} K")
            if case.stripes_k:
                truth = _read_lst(Path(ingest_product(list(_products(scene, case, False, Path(tmp))),
                                                      Path(tmp) / f"{case.name}-truth".replace(" ", "_"))[0]))[0]
                same += f" (LST RMSE against the unstriped product {_rmse(plain - truth):.3f} -> {_rmse(cleaned - truth):.3f} K)"
            print(f"    {case.name:36s} {same}; {tag}", flush=True)


def _cost(size: int) -> None:
    print(f"\n3. cost on {size} x {size} px (seconds: direction, profile, correction)")
    scene = generate_scene((400, 400), seed=3, ratio=3, lst_resolution=30.0)
    with tempfile.TemporaryDirectory() as tmp:
        b2, b3 = _temperatures(scene, Case("noise", noise_k=NETD_K), False, Path(tmp))
    pad = ((0, size - b2.shape[0]), (0, size - b2.shape[1]))
    b2, b3 = (np.pad(b, pad, mode="symmetric") for b in (b2, b3))
    rows, cols = np.mgrid[0:size, 0:size]
    lines = np.floor(cols * math.cos(math.radians(10.0)) + rows * math.sin(math.radians(10.0))).astype(np.int64)
    stripes = 0.5 * np.random.default_rng(1).standard_normal(lines.max() + 1)[lines]
    for name, image in (("clean", b2), ("0.5 K stripes", b2 + stripes)):
        _, _, found, seconds = _destripe(image, b3)
        print(f"    {name:14s} {' '.join(f'{s:.2f}' for s in seconds)} ({sum(seconds):.2f} in all): {found.describe()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=400, help="matrix scene size in TIS pixels")
    parser.add_argument("--seeds", default="3,0", help="matrix scene seeds, comma-separated")
    parser.add_argument("--ingest-size", type=int, default=240, help="end-to-end scene size (0: skip)")
    parser.add_argument("--big", type=int, default=2000, help="cost image size (0: skip)")
    args = parser.parse_args()
    _matrix(args.size, [int(s) for s in args.seeds.split(",")])
    if args.ingest_size:
        _end_to_end(args.ingest_size)
    if args.big:
        _cost(args.big)


if __name__ == "__main__":
    main()
