"""Downscale throughput, CPU time split and peak memory: the fast default path beside the plain
one it replaced, and beside bicubic (almost pure I/O), on the same scenes.

For each output size it writes a synthetic x3 scene (10 guidance bands drawn around the shipped
model's training statistics, so every path writes a plausible output) and runs ``groklst
downscale`` once per path in a fresh process, recording wall seconds, output megapixels per
second, user and system CPU seconds and minor page faults of that process (``wait4``), its
peak RSS (VmHWM, see benchmarks/peak_memory.py) and, with ``--device cuda``, its peak GPU
memory. Each learned path's output is compared with the plain path's (max |difference| in K).

Paths: ``plain`` is what main ran before (``--plain``: fp32, NCHW, eager; glibc's default
allocator via GROKLST_KEEP_FREED_MEMORY=0); ``fast`` is the default (channels_last, the
layout-aware depth-wise convolution, freed memory kept); ``compile`` adds ``--compile``;
``bf16`` adds ``--precision bf16`` (inexact); ``bicubic`` is the interpolator.

Usage: python benchmarks/downscale_speed.py [--sizes 999,1998,3999] [--paths plain,fast,bicubic]
       [--model default|mocolsk-lite] [--device cpu|cuda] [--tile 768 --overlap 64 --batch-size 2]
       [--guidance noise|textured]
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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import torch
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.guidance_memory import int_at_least, int_list, positive_int  # noqa: E402
from models.registry import build_model  # noqa: E402
from pipelines.checkpoint import Checkpoint, load_checkpoint, state_dict_of  # noqa: E402
from pipelines.geotiff import creation_profile  # noqa: E402
from pipelines.infer import DEFAULT_CHECKPOINT  # noqa: E402

SCALE = 3
ONE_PASS_PROBE_MAX = 2048  # largest output tried in one pass without a smaller measurement
PATHS = {  # extra CLI arguments and environment of each path
    "plain": (["--plain"], {"GROKLST_KEEP_FREED_MEMORY": "0"}),
    "fast": ([], {}),
    "compile": (["--compile"], {}),
    "bf16": (["--precision", "bf16"], {}),
    "bicubic": (["--model", "bicubic"], {}),
}

_RUNNER = """
import sys, json
import torch
from benchmarks.peak_memory import peak_rss_mib
from groklst_cli.app import run
from pipelines.allocator import keep_freed_memory
keep_freed_memory()  # as the groklst command does (unless GROKLST_KEEP_FREED_MEMORY=0)
status = run(sys.argv[1:])
gpu = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
print(json.dumps({"status": status, "peak_rss_mib": peak_rss_mib(), "peak_gpu_mib": gpu}),
      file=sys.stderr)
"""


@dataclass
class Run:
    """What one CLI process cost."""

    seconds: float
    user: float
    system: float
    minor_faults: int
    peak_rss_mib: float
    peak_gpu_mib: float | None


def guidance_block(kind: str, band: int, row: int, shape: tuple[int, int], mean: float, std: float,
                   rng: np.random.Generator) -> np.ndarray:
    """Rows ``row..`` of guidance band ``band`` with the band's mean and std.

    ``noise``: white noise, which deflate cannot compress (the worst case for reading).
    ``textured``: smooth structure plus a little noise, kept to 4 decimals (about the
    radiometric resolution of a reflectance), which compresses like a real band.
    """
    rows, cols = shape
    if kind == "noise":
        return mean + std * rng.normal(0, 1, shape)
    yy, xx = np.mgrid[row : row + rows, 0:cols].astype(np.float64)
    field = (0.7 * np.sin(xx / 37.0 + band) * np.cos(yy / 53.0 - band)
             + 0.5 * np.sin((xx + yy) / 11.0) + 0.2 * rng.normal(0, 1, shape))
    return np.round(mean + std * field, 4)


def write_scene(folder: Path, out_size: int, bands: list[str], mean: list[float],
                std: list[float], guidance: str = "noise") -> Path:
    """A smooth random x3 scene written band by band in row blocks (little memory); guidance
    band k has mean[k] and std[k] so the shipped model sees plausible values (``guidance``:
    see :func:`guidance_block`)."""
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
    profile = creation_profile(width=hr, height=hr, count=len(bands), crs=crs,
                               transform=Affine(10, 0, 500000, 0, -10, 4300000))
    with rasterio.open(folder / f"s{out_size}_guidance.tif", "w", **profile) as dst:
        for band in range(1, len(bands) + 1):
            dst.set_band_description(band, bands[band - 1])
            for row in range(0, hr, 512):
                h = min(512, hr - row)
                block = guidance_block(guidance, band, row, (h, hr), mean[band - 1], std[band - 1], rng)
                dst.write(block.astype(np.float32), band, window=Window(0, row, hr, h))
    return lst_path


def lite_checkpoint(path: Path, like: Checkpoint) -> Path:
    """The 3-stage mocolsk-lite preset, random weights, the shipped model's bands and statistics."""
    torch.manual_seed(0)
    net = build_model("mocolsk-lite", scale=SCALE, guidance_channels=len(like.bands))
    Checkpoint(model="mocolsk-lite", scale=SCALE, bands=like.bands, lst_mean=like.lst_mean,
               lst_std=like.lst_std, band_mean=like.band_mean, band_std=like.band_std,
               state_dict=state_dict_of(net)).save(path)
    return path


def timed_run(args: list[str], env: dict[str, str] | None = None) -> Run:
    """Cost of one CLI run in a fresh process (CPU times and faults from wait4)."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", _RUNNER, *args], cwd=ROOT, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})})
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    info = json.loads(stderr.strip().splitlines()[-1])
    if info["status"] != 0:
        raise RuntimeError(stderr)
    return Run(seconds, usage.ru_utime, usage.ru_stime, usage.ru_minflt, info["peak_rss_mib"],
               info["peak_gpu_mib"])


def max_difference(a: Path, b: Path) -> float:
    """Largest |a - b| in K over pixels valid in both, read block by block."""
    worst = 0.0
    with rasterio.open(a) as ra, rasterio.open(b) as rb:
        for _, window in ra.block_windows(1):
            diff = np.abs(ra.read(1, window=window).astype(np.float64) - rb.read(1, window=window))
            if np.isfinite(diff).any():
                worst = max(worst, float(np.nanmax(diff)))
    return worst


def _device(text: str) -> str:
    """A device name as groklst reads it (argparse type): a misspelt one was a RuntimeError
    traceback from torch after the first scene had been written."""
    from groklst_cli.choices import device_problem

    problem = device_problem(text.lower())
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text.lower()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; a bad size, tile, overlap or batch size is refused here (exit 2), not as
    a traceback from int(), an empty scene or a failed run per size and path."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="999,1998,3999",
                        type=int_list(SCALE, f"an output is whole x{SCALE} LST pixels"),
                        help=f"output sizes in pixels, comma-separated, each at least {SCALE}")
    parser.add_argument("--paths", default="plain,fast,bicubic")
    parser.add_argument("--model", default="default", choices=("default", "mocolsk-lite"))
    parser.add_argument("--device", type=_device, default="cpu", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--tile", type=positive_int, default=768)
    parser.add_argument("--overlap", type=int_at_least(0), default=64, help="at most half the tile")
    parser.add_argument("--batch-size", type=positive_int, default=2)
    parser.add_argument("--guidance", default="noise", choices=("noise", "textured"),
                        help="white-noise guidance (worst case for decoding) or textured bands "
                             "that compress like real ones")
    parser.add_argument("--no-overlap-overhead", action="store_true",
                        help="skip the one-pass vs tiled comparison")
    args = parser.parse_args(argv)
    if 2 * args.overlap > args.tile:
        parser.error(f"--overlap {args.overlap} is more than half --tile {args.tile}: pass --overlap "
                     f"{args.tile // 2} or less, or a larger --tile")
    unknown = [p for p in args.paths.split(",") if p not in PATHS]
    if unknown:
        parser.error(f"unknown paths {unknown}; choose from {', '.join(PATHS)}")
    return args


def main() -> None:
    args = parse_args()
    sizes = [s // SCALE * SCALE for s in args.sizes]
    paths = args.paths.split(",")
    shipped = load_checkpoint(DEFAULT_CHECKPOINT)
    print(f"# groklst downscale benchmark: model {args.model}, x{SCALE}, {len(shipped.bands)} "
          f"guidance bands ({args.guidance}), tile {args.tile}, overlap {args.overlap}, batch {args.batch_size}, "
          f"device {args.device}, torch {torch.__version__} with {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs")
    print("# wall time includes process start-up and model build (about 2-3 s); CPU times and "
          "minor page faults are the process's own (wait4); diff = max |output - plain| in K")
    gpu = args.device.startswith("cuda")
    print(f"{'path':<9}{'output':>11}{'wall s':>9}{'Mpx/s':>8}{'user s':>9}{'sys s':>8}"
          f"{'sys/user':>9}{'minor faults':>14}{'peak RSS MiB':>14}" + (f"{'peak GPU MiB':>14}" if gpu else "")
          + f"{'diff K':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ckpt = DEFAULT_CHECKPOINT if args.model == "default" else lite_checkpoint(folder / "lite.pt", shipped)
        scenes = {size: write_scene(folder, size, shipped.bands, shipped.band_mean, shipped.band_std,
                                    args.guidance)
                  for size in sizes}
        for size, lst in scenes.items():
            runs: dict[str, Run] = {}
            for path in paths:
                extra, env = PATHS[path]
                source = [] if path == "bicubic" else ["-c", str(ckpt)]
                out = folder / f"{path}_{size}.tif"
                runs[path] = timed_run(["-q", "downscale", str(lst), *source, *extra, "-o", str(out),
                                        "--overwrite", "--tile", str(args.tile), "--overlap",
                                        str(args.overlap), "--batch-size", str(args.batch_size),
                                        "--device", args.device], env)
                r = runs[path]
                reference = folder / f"plain_{size}.tif"
                diff = (f"{max_difference(out, reference):>10.2e}"
                        if path not in ("plain", "bicubic") and reference.exists() else f"{'-':>10}")
                print(f"{path:<9}{f'{size}x{size}':>11}{r.seconds:>9.1f}{size * size / 1e6 / r.seconds:>8.3f}"
                      f"{r.user:>9.1f}{r.system:>8.1f}{r.system / max(r.user, 1e-9):>9.0%}"
                      f"{r.minor_faults:>14}{r.peak_rss_mib:>14.0f}"
                      + (f"{r.peak_gpu_mib or 0:>14.0f}" if gpu else "") + diff)
            summary = []
            if "plain" in runs and "fast" in runs:
                summary.append(f"fast is {runs['plain'].seconds / runs['fast'].seconds:.2f}x plain")
            if "bicubic" in runs:
                for name in ("fast", "plain"):
                    if name in runs:
                        summary.append(f"{name}/bicubic time {runs[name].seconds / runs['bicubic'].seconds:.1f}")
            if summary:
                print(f"# {size}x{size}: " + "; ".join(summary))
        if args.no_overlap_overhead:
            return
        overhead = overlap_overhead(folder, scenes, args.tile, args.overlap, ckpt)
        if overhead is None:
            print(f"# overlap overhead: not measured (a single pass is tried only from "
                  f"{ONE_PASS_PROBE_MAX}x{ONE_PASS_PROBE_MAX} down; add a smaller size)")
        else:
            size, one, tiled = overhead
            print(f"# overlap overhead at {size}x{size}, the largest size whose single pass fits "
                  f"in memory (fast path): tiled {tiled:.1f} s / one pass {one:.1f} s = "
                  f"{tiled / one:.2f}")


def overlap_overhead(folder: Path, scenes: dict[int, Path], tile: int, overlap: int,
                     ckpt: Path) -> tuple[int, float, float] | None:
    """(size, one-pass seconds, tiled seconds) at the largest size whose one pass fits.

    One pass needs memory in proportion to the scene's area, so the smallest size's one-pass
    peak RSS, scaled by area, predicts the larger ones; a size is tried only while that
    prediction stays under half of this machine's memory (an out-of-memory run would take the
    machine down, not just fail). None when even the smallest size is too large to probe.
    """
    if min(scenes) > ONE_PASS_PROBE_MAX:
        return None
    budget = 0.5 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    base = ["-q", "downscale", "-c", str(ckpt), "--overwrite"]
    sizes = sorted(scenes)

    def one_pass(size: int) -> Run:
        return timed_run(base + [str(scenes[size]), "-o", str(folder / "one.tif"),
                                 "--tile", str(size + SCALE)])

    size = sizes[0]
    first = one_pass(size)
    one = first.seconds
    for bigger in sizes[1:]:
        if first.peak_rss_mib * (bigger / sizes[0]) ** 2 > budget:
            break
        size = bigger
        one = one_pass(size).seconds
    tiled = timed_run(base + [str(scenes[size]), "-o", str(folder / "tiled.tif"),
                              "--tile", str(tile), "--overlap", str(overlap)]).seconds
    return size, one, tiled


if __name__ == "__main__":
    main()
