"""How well ``ingest`` finds and removes a TIS B3-against-B2 misregistration.

How the numbers are taken: a generated scene is written as SDGSAT-1 product fixtures whose B3
sees the ground through footprints moved by a known offset (whole 10 m guidance pixels, so B3
is made from the fine scene, not resampled). Each is ingested three times: with the delivered
bands (``coregister=False``), with B3 measured and resampled onto B2 but the split window's
band difference not repaired at edges (:data:`pipelines.edge_difference.MAX_DEPARTURE_K` set
to infinity), and as groklst does by default (resampled, then repaired). The split-window LST
of each is scored against the ingest of a fixture with no offset and the same sensor (RMSE,
99th percentile and largest |error|, over the pixels all have), and the pixels the resampling
turned to nodata are counted. Ingest's refusal of implausible LST is switched off here, since
the delivered bands can give LST above 400 K at sharp edges. Two sensors: ideal area sampling
(the sharpest, the hardest for a resampling) and a Gaussian PSF of sigma 0.68 TIS pixels (MTF
0.1 at Nyquist, the TIS specification's floor). Two band differences: the same 0.8 K
everywhere, and 1.5 K more on bare soil (steps of up to 1.5 K at field edges that the repair
must keep). The LST is scored without noise (the truth is then exact); the offset is also
measured with 0.2 K of noise (the TIS NETD) on every band. What the repair costs where it is
not needed is measured by forcing it on the product without offset, with and without noise
(ingest runs it only after a fractional move).

Usage: python benchmarks/tis_band_registration.py [--size 300] [--seed 4]
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import tempfile
import warnings
from pathlib import Path
from unittest.mock import patch

import numpy as np
import rasterio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines import edge_difference  # noqa: E402
from pipelines.fixtures import FixtureSettings, write_product_fixture  # noqa: E402
from pipelines.ingest import _TisLst, ingest_product  # noqa: E402
from pipelines.sample_scene import generate_scene  # noqa: E402

OFFSETS_M = [(10.0, -20.0), (-10.0, 10.0), (20.0, 20.0)]
SENSORS = {"area sampling": 0.0, "PSF sigma 0.68 px": 0.68 * 30.0}
SOIL_DIFFERENCES_K = (0.0, 1.5)
NOISE_K = 0.2
SCENE_PX, TIS_TRANSFORM = 0, None  # the scene's TIS grid, set by main


def _ingest(folders: tuple[Path, Path], out: Path, coregister: bool = True,
            repair: bool = True, force_repair: bool = False) -> tuple[np.ndarray, str]:
    """The ingested LST and its band-registration tag. Implausible LST is written, not refused:
    the delivered bands' LST is scored even where ingest would refuse it. ``force_repair`` runs
    the edge repair on bands that were not resampled (what it costs where nothing needs it)."""
    departure = edge_difference.MAX_DEPARTURE_K if repair else math.inf
    resampled = (lambda self: True) if force_repair else _TisLst._resampled_b3
    with warnings.catch_warnings(), patch.object(_TisLst, "_check_plausible", lambda self, lst: None), \
            patch.object(edge_difference, "MAX_DEPARTURE_K", departure), \
            patch.object(_TisLst, "_resampled_b3", resampled):
        warnings.simplefilter("ignore")
        lst_path, _ = ingest_product(list(folders), out, coregister=coregister)
    with rasterio.open(lst_path) as src:
        return _on_grid(src), src.tags().get("tis_band_registration", "")


def _on_grid(src: rasterio.DatasetReader) -> np.ndarray:
    """The LST on the clean fixture's TIS grid (NaN where it has none): the TIS-MII
    coregistration may move a scene's grid by whole pixels, more easily on some than others."""
    out = np.full((SCENE_PX, SCENE_PX), np.nan)
    col, row = (round(v) for v in ~TIS_TRANSFORM * (src.transform.c, src.transform.f))
    values = src.read(1).astype(np.float64)
    top, left = max(row, 0), max(col, 0)
    part = values[top - row:SCENE_PX - row, left - col:SCENE_PX - col]
    out[top:top + part.shape[0], left:left + part.shape[1]] = part
    return out


def _score(lst: np.ndarray, truth: np.ndarray, both: np.ndarray) -> str:
    error = np.abs(lst[both] - truth[both])
    return f"{math.sqrt(float(np.mean(error ** 2))):5.2f} {float(np.percentile(error, 99)):5.1f} {float(error.max()):5.1f}"


def _print_cost(truth: np.ndarray, forced: np.ndarray, noise: str, delivered: np.ndarray | None = None) -> None:
    """What the repair, forced on a product without misregistration, changed."""
    delivered = truth if delivered is None else delivered
    both = np.isfinite(truth) & np.isfinite(forced) & np.isfinite(delivered)
    change = np.abs(forced[both] - delivered[both])
    print(f"  no offset{noise}, repair forced on: {_score(delivered, truth, both)} -> {_score(forced, truth, both)}  "
          f"({np.mean(change > 0):.1%} px changed, by up to {change.max():.1f} K)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=300, help="scene size in TIS pixels")
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args()
    scene = generate_scene((args.size, args.size), seed=args.seed)
    global SCENE_PX, TIS_TRANSFORM
    SCENE_PX, TIS_TRANSFORM = args.size, scene.lst_transform
    print(f"scene {args.size}x{args.size} TIS px (seed {args.seed})")
    print("LST error against the scene without offset, K: RMSE p99 max, for the delivered bands | B3 resampled "
          "| resampled and the band difference repaired at edges (the default)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for sensor, sigma_m in SENSORS.items():
            for soil_k in SOIL_DIFFERENCES_K:
                kind = f"{sensor}, B2-B3 0.8 K" + (f" (+{soil_k:g} K on soil)" if soil_k else "")
                base = FixtureSettings(tis_psf_sigma_m=sigma_m, split_difference_soil_k=soil_k)
                case_dir = work / f"{sigma_m}_{soil_k}"
                clean = write_product_fixture(scene, case_dir / "clean", base)
                truth, _ = _ingest(clean, case_dir / "ref")
                print(kind)
                _print_cost(truth, _ingest(clean, case_dir / "forced", force_repair=True)[0], "")
                noisy_clean = write_product_fixture(scene, case_dir / "noisy_clean",
                                                    FixtureSettings(**{**base.__dict__, "tis_noise_k": NOISE_K}))
                as_delivered = _ingest(noisy_clean, case_dir / "noisy_ref")[0]
                forced = _ingest(noisy_clean, case_dir / "noisy_forced", force_repair=True)[0]
                _print_cost(truth, forced, f" with {NOISE_K} K noise", as_delivered)
                for offset in OFFSETS_M:
                    case = case_dir / str(offset)
                    settings = FixtureSettings(**{**base.__dict__, "tis_band_offset_m": offset})
                    folders = write_product_fixture(scene, case / "products", settings)
                    repaired, found = _ingest(folders, case / "repaired")
                    resampled, _ = _ingest(folders, case / "resampled", repair=False)
                    delivered, _ = _ingest(folders, case / "delivered", coregister=False)
                    both = np.isfinite(repaired) & np.isfinite(delivered) & np.isfinite(truth)
                    lost = int((np.isnan(repaired) & np.isfinite(truth)).sum())
                    share = re.search(r"\(([\d.]+%)\) taken from the median", found)
                    print(f"  B3 off {offset[0]:+4.0f} E {offset[1]:+4.0f} N m: {_score(delivered, truth, both)} | "
                          f"{_score(resampled, truth, both)} | {_score(repaired, truth, both)}  "
                          f"({lost} px nodata, {share[1] if share else 'no'} px repaired)")
                    print(f"    found: {found.split(';')[0]}")
                    if not soil_k:
                        noisy = write_product_fixture(scene, case / "noisy", FixtureSettings(
                            **{**settings.__dict__, "tis_noise_k": NOISE_K}))
                        _, found_noisy = _ingest(noisy, case / "noisy_registered")
                        print(f"    with {NOISE_K} K noise: {found_noisy.split(';')[0]}")


if __name__ == "__main__":
    main()
