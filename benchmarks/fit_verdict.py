"""How far the held-out verdict of ``downscale --fit`` can be trusted on small scenes.

For each of ``--scenes`` generated scenes (``--size`` LR pixels square, x4) the fine LST is a
random smooth field plus ``alpha`` times a non-linear function of two guidance bands plus
0.3 K noise, with ``alpha`` cycling through 0 (useless guidance), 0.25, 1 and 3. ``fit_scene``
runs with the defaults of ``--fit`` (seed 0) and what it chose is written through the real
downscale path, as is plain bicubic. Printed per scene: the held-out gain over bicubic (what
the fit believes, one scale coarser, on its test blocks) and the true gain against the fine
truth; then their correlation and how often the verdict "beats bicubic" was wrong.

Usage: python benchmarks/fit_verdict.py [--scenes 24] [--size 64]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from scipy.ndimage import gaussian_filter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.degrade import block_mean  # noqa: E402
from pipelines.downscale import DownscaleOptions, downscale_scene  # noqa: E402
from pipelines.fit_options import FitOptions  # noqa: E402
from pipelines.geotiff import write_raster  # noqa: E402
from pipelines.infer import ModelSource  # noqa: E402
from pipelines.scene_fit import fit_scene  # noqa: E402

SCALE = 4
ALPHAS = (0.0, 0.25, 1.0, 3.0)


def scene(size: int, alpha: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(guidance (2, H, W), fine truth (H, W)) at the fine grid."""
    rng = np.random.default_rng(seed)
    n = size * SCALE
    guidance = np.stack([gaussian_filter(rng.normal(0, 1, (n, n)), 2) * 3
                         for _ in range(2)]).astype(np.float32)
    field = gaussian_filter(rng.normal(0, 1, (n, n)), 1.5 + 6 * rng.random()) * 30
    relation = 8 * np.tanh(guidance[0]) + 4 * guidance[1] ** 2
    truth = 300 + field + alpha * relation + rng.normal(0, 0.3, (n, n))
    return guidance, truth.astype(np.float32)


def rmse(path: Path, truth: np.ndarray) -> float:
    with rasterio.open(path) as src:
        return float(np.sqrt(np.nanmean((src.read(1) - truth) ** 2)))


def evaluate(size: int, alpha: float, seed: int) -> dict[str, object]:
    guidance, truth = scene(size, alpha, seed)
    crs = CRS.from_epsg(32633)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        lst, guid = folder / "lst.tif", folder / "guidance.tif"
        write_raster(lst, block_mean(truth, SCALE), crs=crs, descriptions=["lst"], units="K",
                     transform=Affine(10.0 * SCALE, 0, 500_000, 0, -10.0 * SCALE, 5_000_000))
        write_raster(guid, guidance, crs=crs, descriptions=["g1", "g2"],
                     transform=Affine(10.0, 0, 500_000, 0, -10.0, 5_000_000))
        fitted = fit_scene(lst, guid, FitOptions(seed=0))
        for name, source in (("fit", ModelSource(fitted=fitted.predictor)),
                             ("bicubic", ModelSource(interpolation="bicubic"))):
            downscale_scene(lst, folder / f"{name}.tif", source, guidance_path=guid,
                            options=DownscaleOptions())
        fit_rmse, bicubic_rmse = rmse(folder / "fit.tif", truth), rmse(folder / "bicubic.tif", truth)
    return {"seed": seed, "alpha": alpha, "written": fitted.predictor.name,
            "held_out_blocks": fitted.held_out_blocks,
            "held_out_gain": round(1 - fitted.fitted["rmse"] / fitted.bicubic["rmse"], 4),
            "true_gain": round(1 - fit_rmse / bicubic_rmse, 4),
            "says_beats_bicubic": fitted.beats_bicubic, "beats_bicubic": fit_rmse < bicubic_rmse}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=24)
    parser.add_argument("--size", type=int, default=64, help="LR scene size in pixels")
    args = parser.parse_args()
    rows = []
    for i in range(args.scenes):
        rows.append(evaluate(args.size, ALPHAS[i % len(ALPHAS)], 100 + i))
        print(json.dumps(rows[-1]), flush=True)
    held = np.array([r["held_out_gain"] for r in rows])
    true = np.array([r["true_gain"] for r in rows])
    wrong = [r for r in rows if r["says_beats_bicubic"] != r["beats_bicubic"]]
    wrong_gains = ", ".join(f"{r['true_gain']:+.1%}" for r in wrong) or "-"
    print(f"\n{len(rows)} scenes of {args.size}x{args.size} LR px at x{SCALE}: correlation of "
          f"held-out and true gain r = {np.corrcoef(held, true)[0, 1]:.2f}; verdict wrong on "
          f"{len(wrong)} (their true gains {wrong_gains}); "
          f"the fit truly lost to bicubic on {sum(not r['beats_bicubic'] for r in rows)}")


if __name__ == "__main__":
    main()
