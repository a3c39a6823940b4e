"""Downscale throughput and peak memory for growing scenes (issue: downscale benchmark).

For each model and output size it writes a synthetic x3 scene (10 guidance bands), runs
``groklst downscale`` in a fresh Python process (so peak RSS is that run's alone: the
process's VmHWM, see benchmarks/peak_memory.py), and prints output megapixels per second and
peak RSS. It then times the largest size whose single pass fits in memory in one tile against
the tiled run, to show the overlap's overhead.

Usage: python benchmarks/downscale_speed.py [--sizes 1000,2000,4000] [--models default,mocolsk-lite,bicubic]
``default`` is the shipped checkpoint (2-stage mocolsk-lite); ``mocolsk-lite`` is the 3-stage
preset from a randomly initialised checkpoint (weights do not change speed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import torch
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.registry import build_model  # noqa: E402
from pipelines.checkpoint import Checkpoint, state_dict_of  # noqa: E402
from pipelines.geotiff import creation_profile  # noqa: E402
from pipelines.infer import DEFAULT_CHECKPOINT  # noqa: E402

BANDS = ["dem", "deepblue", "blue", "green", "red", "vre", "nir", "ndmvi", "ndvi", "ndwi"]
SCALE = 3
ONE_PASS_PROBE_MAX = 2048  # largest output tried in one pass without a smaller measurement

_RUNNER = """
import sys, json
from benchmarks.peak_memory import peak_rss_mib
from groklst_cli.app import run
status = run(sys.argv[1:])
print(json.dumps({"status": status, "peak_rss_mib": peak_rss_mib()}),
      file=sys.stderr)
"""


def write_scene(folder: Path, out_size: int) -> Path:
    """A smooth random x3 scene written band by band in row blocks (little memory)."""
    lr = out_size // SCALE
    rng = np.random.default_rng(0)
    crs = CRS.from_epsg(32647)
    lst_path = folder / f"s{out_size}_lst.tif"
    profile = creation_profile(width=lr, height=lr, count=1, crs=crs,
                               transform=Affine(30, 0, 500000, 0, -30, 4300000))
    with rasterio.open(lst_path, "w", **profile) as dst:
        yy, xx = np.mgrid[0:lr, 0:lr]
        dst.write((300 + 5 * np.sin(yy / 9) * np.cos(xx / 7)).astype(np.float32), 1)
    hr = lr * SCALE
    profile = creation_profile(width=hr, height=hr, count=len(BANDS), crs=crs,
                               transform=Affine(10, 0, 500000, 0, -10, 4300000))
    with rasterio.open(folder / f"s{out_size}_guidance.tif", "w", **profile) as dst:
        for band in range(1, len(BANDS) + 1):
            dst.set_band_description(band, BANDS[band - 1])
            for row in range(0, hr, 512):
                h = min(512, hr - row)
                block = rng.normal(0, 1, (h, hr)).astype(np.float32)
                dst.write(block, band, window=Window(0, row, hr, h))
    return lst_path


def lite_checkpoint(path: Path) -> Path:
    torch.manual_seed(0)
    net = build_model("mocolsk-lite", scale=SCALE, guidance_channels=len(BANDS))
    Checkpoint(model="mocolsk-lite", scale=SCALE, bands=BANDS, lst_mean=300.0, lst_std=5.0,
               state_dict=state_dict_of(net)).save(path)
    return path


def timed_run(args: list[str]) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of one CLI run in a fresh process."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _RUNNER, *args], capture_output=True, text=True,
                          cwd=ROOT)
    seconds = time.perf_counter() - start
    last = proc.stderr.strip().splitlines()[-1]
    info = json.loads(last)
    if info["status"] != 0:
        raise RuntimeError(proc.stderr)
    return seconds, info["peak_rss_mib"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,2000,4000")
    parser.add_argument("--models", default="default,mocolsk-lite,bicubic")
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--overlap", type=int, default=64)
    args = parser.parse_args()
    sizes = [int(s) // SCALE * SCALE for s in args.sizes.split(",")]
    models = args.models.split(",")
    print(f"# groklst downscale benchmark: x{SCALE}, 10 guidance bands, tile {args.tile}, "
          f"overlap {args.overlap}, torch threads {torch.get_num_threads()}, CPU")
    print("# wall time includes process start-up and model build (about 2-3 s)")
    print(f"{'model':<14}{'output':>12}{'seconds':>10}{'Mpx/s':>10}{'peak RSS MiB':>14}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ckpt = lite_checkpoint(folder / "lite.pt")
        scenes = {size: write_scene(folder, size) for size in sizes}
        for model in models:
            source = {"default": ["-c", str(DEFAULT_CHECKPOINT)], "mocolsk-lite": ["-c", str(ckpt)]}.get(
                model, ["--model", model])
            for size, lst in scenes.items():
                out = folder / f"{model}_{size}.tif"
                seconds, rss = timed_run(["-q", "downscale", str(lst), *source, "-o", str(out),
                                          "--overwrite", "--tile", str(args.tile),
                                          "--overlap", str(args.overlap)])
                mpx = size * size / 1e6
                print(f"{model:<14}{f'{size}x{size}':>12}{seconds:>10.1f}{mpx / seconds:>10.3f}"
                      f"{rss:>14.0f}")
        overhead = overlap_overhead(folder, scenes, args.tile, args.overlap)
        if overhead is None:
            print(f"# overlap overhead: not measured (a single pass is tried only from "
                  f"{ONE_PASS_PROBE_MAX}x{ONE_PASS_PROBE_MAX} down; add a smaller size)")
        else:
            size, one, tiled = overhead
            print(f"# overlap overhead at {size}x{size}, the largest size whose single pass fits "
                  f"in memory (default model): tiled {tiled:.1f} s / one pass {one:.1f} s = "
                  f"{tiled / one:.2f}")


def overlap_overhead(folder: Path, scenes: dict[int, Path], tile: int,
                     overlap: int) -> tuple[int, float, float] | None:
    """(size, one-pass seconds, tiled seconds) at the largest size whose one pass fits.

    One pass needs memory in proportion to the scene's area, so the smallest size's one-pass
    peak RSS, scaled by area, predicts the larger ones; a size is tried only while that
    prediction stays under half of this machine's memory (an out-of-memory run would take the
    machine down, not just fail). None when even the smallest size is too large to probe.
    """
    if min(scenes) > ONE_PASS_PROBE_MAX:
        return None
    budget = 0.5 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    base = ["-q", "downscale", "-c", str(DEFAULT_CHECKPOINT), "--overwrite"]
    sizes = sorted(scenes)

    def one_pass(size: int) -> tuple[float, float]:
        return timed_run(base + [str(scenes[size]), "-o", str(folder / "one.tif"),
                                 "--tile", str(size + SCALE)])

    size = sizes[0]
    one, small_rss = one_pass(size)
    for bigger in sizes[1:]:
        if small_rss * (bigger / sizes[0]) ** 2 > budget:
            break
        size = bigger
        one, _ = one_pass(size)
    tiled, _ = timed_run(base + [str(scenes[size]), "-o", str(folder / "tiled.tif"),
                                 "--tile", str(tile), "--overlap", str(overlap)])
    return size, one, tiled


if __name__ == "__main__":
    main()
