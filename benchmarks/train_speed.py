"""Training iterations per second and peak memory of mocolsk and mocolsk-lite on this CPU.

How the numbers are taken: each model trains in a fresh Python process (so the peak RSS,
``VmHWM``, is that run's alone) through the real training loop (``pipelines.train.fit``:
data reading, crop/flip augmentation, forward, L1 loss in Kelvin, backward, AdamW step) on an
in-memory synthetic dataset of 10-band patches. The first ``--warmup`` iterations are not
timed; the rate is timed iterations / wall seconds between their step hooks. Validation is
off (no val split). Torch uses its default thread count unless ``--threads`` is given.
Each model runs twice: with glibc's default allocator ("system") and with freed memory kept in
the process as the ``groklst`` command does ("kept", pipelines/allocator.py); user and system
CPU seconds and minor page faults are the child process's own (wait4).

Usage: python benchmarks/train_speed.py [--crop 96] [--batch-size 4] [--scale 4] [--iters 6]
       [--warmup 2] [--models mocolsk,mocolsk-lite] [--threads N] [--allocators system,kept]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.peak_memory import peak_rss_mib  # noqa: E402
from pipelines.allocator import ENV as ALLOCATOR_ENV  # noqa: E402
from pipelines.allocator import keep_freed_memory  # noqa: E402
from pipelines.dataset import NormStats  # noqa: E402
from pipelines.train import fit  # noqa: E402
from pipelines.train_config import TrainConfig  # noqa: E402

BANDS = 10


class SyntheticSource:
    """Eight random patches with an LST that depends on the guidance (the values do not matter)."""

    def __init__(self, patch: int, scale: int):
        rng = np.random.default_rng(0)
        self.bands = [f"band{i}" for i in range(BANDS)]
        self.stats = NormStats(300.0, 5.0, [0.0] * BANDS, [1.0] * BANDS)
        self.items = []
        for _ in range(8):
            guidance = rng.normal(size=(BANDS, patch, patch)).astype(np.float32)
            hr = (300 + 3 * guidance[0]).astype(np.float32)
            n = patch // scale
            self.items.append((hr.reshape(n, scale, n, scale).mean(axis=(1, 3)), guidance, hr))

    def indices(self, split: str) -> list[int]:
        return list(range(8)) if split == "train" else []

    def read(self, index: int, scale: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.items[index]


def measure(model: str, args: argparse.Namespace) -> dict[str, object]:
    """Train ``model`` in this process and return its rate and peak memory."""
    if args.threads:
        torch.set_num_threads(args.threads)
    keep_freed_memory()  # as the groklst command does, unless GROKLST_KEEP_FREED_MEMORY=0
    stamps: list[float] = []
    config = TrainConfig(model=model, scale=args.scale, iters=args.warmup + args.iters,
                         batch_size=args.batch_size, crop=args.crop, val_every=10**9, device="cpu")
    fit(SyntheticSource(args.crop * 2, args.scale), config,
        on_step=lambda iteration, loss: stamps.append(time.perf_counter()))
    timed = stamps[args.warmup - 1 :] if args.warmup else stamps
    seconds = timed[-1] - timed[0]
    return {
        "model": model,
        "iters_per_s": (len(timed) - 1) / seconds,
        "s_per_iter": seconds / (len(timed) - 1),
        "peak_rss_mib": peak_rss_mib(),
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mocolsk,mocolsk-lite")
    parser.add_argument("--crop", type=int, default=96, help="HR crop in pixels")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--iters", type=int, default=6, help="timed iterations")
    parser.add_argument("--warmup", type=int, default=2, help="untimed first iterations (>= 1)")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--allocators", default="system,kept")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.warmup = max(args.warmup, 1)
    if args.one:
        print(json.dumps(measure(args.one, args)))
        return
    print(f"# training speed on {platform.processor() or platform.machine()}, torch "
          f"{torch.__version__}, crop {args.crop} HR px, batch {args.batch_size}, x{args.scale}, "
          f"{BANDS} guidance bands; {args.warmup} warm-up + {args.iters} timed iterations, "
          f"one fresh process per model (peak RSS = VmHWM)")
    print(f"{'model':<14} {'allocator':>9} {'it/s':>8} {'s/it':>8} {'user s':>8} {'sys s':>7} "
          f"{'minflt':>9} {'peak RSS MiB':>13} {'threads':>8}", flush=True)
    passthrough = [f"--crop={args.crop}", f"--batch-size={args.batch_size}", f"--scale={args.scale}",
                   f"--iters={args.iters}", f"--warmup={args.warmup}", f"--threads={args.threads}"]
    for model in args.models.split(","):
        for allocator in args.allocators.split(","):
            env = {**os.environ, ALLOCATOR_ENV: "0" if allocator == "system" else "1"}
            proc = subprocess.Popen([sys.executable, __file__, *passthrough, "--one", model],
                                    stdout=subprocess.PIPE, text=True, env=env)
            out = proc.stdout.read()
            _, status, usage = os.wait4(proc.pid, 0)
            if os.waitstatus_to_exitcode(status) != 0:
                raise RuntimeError(f"{model} ({allocator}) failed")
            row = json.loads(out.strip().splitlines()[-1])
            print(f"{row['model']:<14} {allocator:>9} {row['iters_per_s']:>8.3f} {row['s_per_iter']:>8.3f} "
                  f"{usage.ru_utime:>8.1f} {usage.ru_stime:>7.1f} {usage.ru_minflt:>9} "
                  f"{row['peak_rss_mib']:>13.0f} {row['threads']:>8}", flush=True)


if __name__ == "__main__":
    main()
