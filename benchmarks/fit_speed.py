"""Time of ``groklst downscale --fit`` on a generated 500 x 500 LR scene at x4, split fit/inference.

The scene: guidance bands are smooth random fields at the fine grid, the fine LST a non-linear
function of the first two plus a large-scale field, the LR LST its x4 block mean. The fit and
the downscale run with the defaults of ``downscale --fit`` (the pipeline functions the command
calls), in this process. Printed: seconds for fitting and for inference, the held-out RMSE of
the fitted model and of bicubic at the degraded scale, and the RMSE of both against the known
fine truth at the native scale.

Usage: python benchmarks/fit_speed.py [--size 500] [--scale 4] [--bands 2,10] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from scipy.ndimage import gaussian_filter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.guidance_memory import int_at_least, int_list, positive_int  # noqa: E402
from pipelines.degrade import block_mean  # noqa: E402
from pipelines.downscale import DownscaleOptions, downscale_scene  # noqa: E402
from pipelines.errors import InputError  # noqa: E402
from pipelines.geotiff import write_raster  # noqa: E402
from pipelines.infer import ModelSource  # noqa: E402
from pipelines.fit_options import FitOptions  # noqa: E402
from pipelines.scene_fit import describe, fit_scene  # noqa: E402

FINE_RES = 10.0


def make_scene(folder: Path, size: int, scale: int, bands: int, seed: int) -> np.ndarray:
    """Write ``scene_lst.tif`` and ``scene_guidance.tif``; return the fine truth (Kelvin)."""
    rng = np.random.default_rng(seed)
    fine_size = size * scale
    guidance = np.stack([gaussian_filter(rng.normal(0, 1, (fine_size, fine_size)), 2) * 3
                         for _ in range(bands)]).astype(np.float32)
    field = gaussian_filter(rng.normal(0, 1, (fine_size, fine_size)), 40) * 60
    second = guidance[min(1, bands - 1)]
    fine = (300 + 8 * np.tanh(guidance[0]) + 4 * second**2 + field).astype(np.float32)
    crs = CRS.from_epsg(32633)
    write_raster(folder / "scene_lst.tif", block_mean(fine, scale), crs=crs,
                 transform=Affine(FINE_RES * scale, 0, 500_000, 0, -FINE_RES * scale, 5_000_000),
                 descriptions=["lst"], units="K", overwrite=True)
    write_raster(folder / "scene_guidance.tif", guidance, crs=crs,
                 transform=Affine(FINE_RES, 0, 500_000, 0, -FINE_RES, 5_000_000),
                 descriptions=[f"band{i}" for i in range(bands)], overwrite=True)
    return fine


def rmse(path: Path, truth: np.ndarray) -> float:
    with rasterio.open(path) as src:
        values = src.read(1)
    return float(np.sqrt(np.nanmean((values - truth) ** 2)))


def run(size: int, scale: int, bands: int, seed: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        truth = make_scene(folder, size, scale, bands, seed)
        lst, guidance = folder / "scene_lst.tif", folder / "scene_guidance.tif"
        start = time.perf_counter()
        fitted = fit_scene(lst, guidance, FitOptions(seed=seed))
        fit_seconds = time.perf_counter() - start
        for line in describe(fitted):
            print(line, file=sys.stderr)
        start = time.perf_counter()
        downscale_scene(lst, folder / "fitted.tif", ModelSource(fitted=fitted.predictor),
                        guidance_path=guidance, options=DownscaleOptions())
        infer_seconds = time.perf_counter() - start
        downscale_scene(lst, folder / "bicubic.tif", ModelSource(interpolation="bicubic"),
                        guidance_path=guidance, options=DownscaleOptions())
        return {
            "lr_size": size, "scale": scale, "bands": bands,
            "fit_seconds": round(fit_seconds, 1), "inference_seconds": round(infer_seconds, 1),
            "total_seconds": round(fit_seconds + infer_seconds, 1),
            "candidate_seconds": {c.name: round(c.seconds, 1) for c in fitted.candidates},
            "psf_seconds": round(fitted.psf.seconds, 1), "written": fitted.predictor.name,
            "held_out_rmse_fitted": round(fitted.fitted["rmse"], 3),
            "held_out_rmse_bicubic": round(fitted.bicubic["rmse"], 3),
            "truth_rmse_fitted": round(rmse(folder / "fitted.tif", truth), 3),
            "truth_rmse_bicubic": round(rmse(folder / "bicubic.tif", truth), 3),
        }


def scale_factor(text: str) -> int:
    """A whole scale of at least 2 (argparse type): x1 downscales nothing."""
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"{value} must be at least 2")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; a bad size, scale or band count is refused here (exit 2), not as a
    traceback from int() or a fit on an empty scene."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=positive_int, default=500, help="LR scene size in pixels")
    parser.add_argument("--scale", type=scale_factor, default=4)
    parser.add_argument("--bands", type=int_list(1, "a guided fit needs a band"), default="2,10",
                        help="comma-separated guidance band counts")
    parser.add_argument("--seed", type=int_at_least(0), default=0)
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    for bands in args.bands:
        try:
            record = run(args.size, args.scale, bands, args.seed)
        except InputError as exc:  # a scene too small to fit: one line, as a bad argument is
            raise SystemExit(f"fit_speed.py: error: --size {args.size} --scale {args.scale}: {exc}") from None
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
