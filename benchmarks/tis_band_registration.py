"""How well ``ingest`` finds and removes a TIS B3-against-B2 misregistration.

How the numbers are taken: a generated scene is written as SDGSAT-1 product fixtures whose B3
sees the ground through footprints moved by a known offset (whole 10 m guidance pixels, so B3
is made from the fine scene, not resampled). Each is ingested twice: as groklst does by default
(B3 measured and resampled onto B2) and with ``coregister=False`` (the delivered bands). The
split-window LST of both is scored against the ingest of a fixture with no offset and the same
sensor (RMSE, 99th percentile of |error|, over the pixels both have), and the pixels the
resampling turned to nodata are counted. Ingest's refusal of implausible LST is switched off
here, since the delivered bands can give LST above 400 K at sharp edges. Two sensors: ideal area sampling (the sharpest, the
hardest for a resampling) and a Gaussian PSF of sigma 0.68 TIS pixels (MTF 0.1 at Nyquist,
the TIS specification's floor). The LST is scored without noise (the truth is then exact);
the offset is also measured with 0.2 K of noise (the TIS NETD) on every band.

Usage: python benchmarks/tis_band_registration.py [--size 300] [--seed 4]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import warnings
from pathlib import Path
from unittest.mock import patch

import numpy as np
import rasterio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.fixtures import FixtureSettings, write_product_fixture  # noqa: E402
from pipelines.ingest import _TisLst, ingest_product  # noqa: E402
from pipelines.sample_scene import generate_scene  # noqa: E402

OFFSETS_M = [(10.0, -20.0), (-10.0, 10.0), (20.0, 20.0), (30.0, 0.0)]
SENSORS = {"area sampling": 0.0, "PSF sigma 0.68 px": 0.68 * 30.0}
NOISE_K = 0.2


def _ingest(folders: tuple[Path, Path], out: Path, coregister: bool = True) -> tuple[np.ndarray, str]:
    """The ingested LST and its band-registration tag. Implausible LST is written, not refused:
    the delivered bands' LST is scored even where ingest would refuse it."""
    with warnings.catch_warnings(), patch.object(_TisLst, "_check_plausible", lambda self, lst: None):
        warnings.simplefilter("ignore")
        lst_path, _ = ingest_product(list(folders), out, coregister=coregister)
    with rasterio.open(lst_path) as src:
        return src.read(1).astype(np.float64), src.tags().get("tis_band_registration", "")


def _score(lst: np.ndarray, truth: np.ndarray, both: np.ndarray) -> str:
    error = np.abs(lst[both] - truth[both])
    return f"{math.sqrt(float(np.mean(error ** 2))):6.3f} {float(np.percentile(error, 99)):6.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=300, help="scene size in TIS pixels")
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args()
    scene = generate_scene((args.size, args.size), seed=args.seed)
    print(f"scene {args.size}x{args.size} TIS px (seed {args.seed})")
    print("LST error against the scene without offset, K: RMSE p99 (delivered bands -> registered)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for sensor, sigma_m in SENSORS.items():
            truth, _ = _ingest(write_product_fixture(scene, work / f"{sensor}/clean", FixtureSettings(tis_psf_sigma_m=sigma_m)),
                               work / f"{sensor}/ref")
            for offset in OFFSETS_M:
                case = work / f"{sensor}/{offset}"
                folders = write_product_fixture(scene, case / "products",
                                                FixtureSettings(tis_psf_sigma_m=sigma_m, tis_band_offset_m=offset))
                registered, found = _ingest(folders, case / "registered")
                delivered, _ = _ingest(folders, case / "delivered", coregister=False)
                noisy = write_product_fixture(scene, case / "noisy", FixtureSettings(
                    tis_psf_sigma_m=sigma_m, tis_band_offset_m=offset, tis_noise_k=NOISE_K))
                _, found_noisy = _ingest(noisy, case / "noisy_registered")
                both = np.isfinite(registered) & np.isfinite(delivered) & np.isfinite(truth)
                lost = int((np.isnan(registered) & np.isfinite(truth)).sum())
                print(f"{sensor:18s} B3 off {offset[0]:+4.0f} E {offset[1]:+4.0f} N m: "
                      f"{_score(delivered, truth, both)} -> {_score(registered, truth, both)}  ({lost} px nodata)")
                print(f"{'':22s}found: {found}")
                print(f"{'':22s}with {NOISE_K} K noise: {found_noisy}")


if __name__ == "__main__":
    main()
