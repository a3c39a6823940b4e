"""What saturated MII pixels cost a downscale, kept as delivered or made nodata.

How the numbers are taken: `groklst sample-scene --products --with-truth` writes a generated
scene as SDGSAT-1 product folders, once as is and once per level with MII B4/B5 clipped at that
DN (`--mii-saturate-at`). Each is downscaled from the product folders with the default model
(`groklst downscale TIS MII -o OUT`, `--saturated keep` or `nodata`) and scored against the
generator's 10 m truth: RMSE on the pixels `nodata` leaves without output, on those within 3
guidance pixels of them, elsewhere, and over every pixel each run wrote. There is no real
SDGSAT-1 product here, and the Landsat / Sentinel-2 data in ../shared has no saturated band.

Usage: python benchmarks/mii_saturation.py [--size 150] [--seed 3] [--levels 1900,1750]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import rasterio
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
GROKLST = [sys.executable, "-m", "groklst_cli", "-q"]


def _groklst(*args: str) -> None:
    """Run a groklst command; its warnings (no DEM, the saturation found) are shown only if it fails."""
    done = subprocess.run([*GROKLST, *args], cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"groklst {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1).astype(np.float64)


def _rmse(lst: np.ndarray, truth: np.ndarray, where: np.ndarray) -> str:
    ok = where & np.isfinite(lst) & np.isfinite(truth)
    return f"{np.sqrt(np.mean((lst[ok] - truth[ok]) ** 2)):.3f}" if ok.any() else "  -  "


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=150, help="scene size in TIS pixels")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--levels", default="1900,1750", help="DNs MII B4/B5 are clipped at")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        scene = ["--size", str(args.size), "--seed", str(args.seed), "--products"]
        _groklst("sample-scene", str(work / "clean"), *scene, "--with-truth")
        truth = _read(work / "clean" / "heihe_demo_lst_fine.tif")
        _groklst("downscale", *map(str, sorted((work / "clean").glob("KX10_*"))), "-o", str(work / "clean.tif"))
        clean = _read(work / "clean.tif")
        print(f"generated scene {args.size}x{args.size} TIS px (seed {args.seed}); RMSE in K against the 10 m truth")
        for level in args.levels.split(","):
            folder = work / f"at{level}"
            _groklst("sample-scene", str(folder), *scene, "--mii-saturate-at", level)
            products = [str(p) for p in sorted(folder.glob("KX10_*"))]
            runs = {}
            for policy in ("keep", "nodata"):
                _groklst("downscale", *products, "-o", str(work / f"{level}_{policy}.tif"), "--saturated", policy)
                runs[policy] = _read(work / f"{level}_{policy}.tif")
            dropped = np.isnan(runs["nodata"]) & np.isfinite(runs["keep"])
            near = ndimage.binary_dilation(dropped, iterations=3) & ~dropped
            rest = ~dropped & ~near
            with rasterio.open(work / f"{level}_keep.tif") as src:
                found = src.tags()["mii_saturation"]
            print(f"B4/B5 clipped at DN {level}: found {found}")
            print(f"  nodata leaves {100 * dropped.mean():.1f} % of the pixels without output")
            print("  run                    dropped  near   elsewhere  every written pixel (share)")
            for name, lst in (("unsaturated products", clean), ("--saturated keep", runs["keep"]),
                              ("--saturated nodata", runs["nodata"])):
                written = np.isfinite(lst) & np.isfinite(truth)
                print(f"  {name:22s} {_rmse(lst, truth, dropped):7s} {_rmse(lst, truth, near):6s} "
                      f"{_rmse(lst, truth, rest):9s}  {_rmse(lst, truth, written)} ({100 * written.mean():.1f} %)")


if __name__ == "__main__":
    main()
