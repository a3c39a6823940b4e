"""Peak memory and time of ``groklst ingest`` as the scene grows (streamed in strips).

How the numbers are taken: a small SDGSAT-1 fixture (TIS + MII cameras A/B + DEM) is made
with the sample-scene generator, then enlarged by repeating every image ``k x k`` times
(windowed writes, so the benchmark itself stays small; the repeated content does not change
the cost). Each size is ingested with a DEM in a fresh process; peak RSS is that process's
``VmHWM`` (see benchmarks/peak_memory.py).

Usage: python benchmarks/ingest_memory.py [--base 240] [--repeats 1,3,6]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import rasterio
from rasterio.windows import Window

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_RUNNER = """
import sys, json
from benchmarks.peak_memory import peak_rss_mib
from groklst_cli.app import run
status = run(sys.argv[1:])
print(json.dumps({"status": status, "peak_rss_mib": peak_rss_mib()}), file=sys.stderr)
"""


def repeat_raster(src_path: Path, dst_path: Path, k: int) -> None:
    """``dst_path`` = ``src_path`` repeated k x k times, same origin and pixel size."""
    with rasterio.open(src_path) as src:
        data = src.read()
        profile = {**src.profile, "width": src.width * k, "height": src.height * k,
                   "tiled": True, "blockxsize": 512, "blockysize": 512, "compress": "deflate"}
        with rasterio.open(dst_path, "w", **profile) as dst:
            for row in range(k):
                for col in range(k):
                    dst.write(data, window=Window(col * src.width, row * src.height,
                                                  src.width, src.height))


def enlarge(base: Path, out: Path, k: int) -> Path:
    """A copy of the product folder ``base`` with every GeoTIFF repeated k x k times."""
    for item in base.rglob("*"):
        target = out / item.relative_to(base)
        if item.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif item.suffix in (".tif", ".tiff"):
            target.parent.mkdir(parents=True, exist_ok=True)
            repeat_raster(item, target, k)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(item, target)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=int, default=240, help="LST pixels of the generated scene")
    parser.add_argument("--repeats", default="1,3,6")
    args = parser.parse_args()
    print("# groklst ingest: TIS split-window LST + 10-band guidance with a DEM, one process per size")
    print(f"{'LST px':>12}{'guidance px':>14}{'seconds':>10}{'peak RSS MiB':>14}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        base = folder / "base"
        subprocess.run([sys.executable, "-m", "groklst_cli", "-q", "sample-scene", str(base),
                        "--name", "b", "--size", str(args.base), "--seed", "3", "--products"],
                       check=True, cwd=ROOT, capture_output=True)
        for k in (int(r) for r in args.repeats.split(",")):
            big = enlarge(base, folder / f"x{k}", k)
            start = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-c", _RUNNER, "-q", "ingest", *map(str, sorted(big.glob("KX10_*"))),
                 "--dem", str(big / "b_dem.tif"), "--out-dir", str(folder / f"out{k}")],
                capture_output=True, text=True, cwd=ROOT)
            seconds = time.perf_counter() - start
            info = json.loads(proc.stderr.strip().splitlines()[-1])
            if info["status"] != 0:
                raise RuntimeError(proc.stderr)
            lst, hr = args.base * k, args.base * k * 3
            print(f"{f'{lst}x{lst}':>12}{f'{hr}x{hr}':>14}{seconds:>10.1f}{info['peak_rss_mib']:>14.0f}",
                  flush=True)
            shutil.rmtree(big)


if __name__ == "__main__":
    main()
