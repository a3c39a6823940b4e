"""CPU time of the dilated depth-wise convolution paths (why models.blocks.DepthwiseConv chooses
what it does): PyTorch's native kernel and the polyphase rewrite, in NCHW and channels_last.

Usage: python benchmarks/depthwise_conv.py [--channels 16] [--size 171] [--batch 4] [--repeat 5]
Prints milliseconds of process CPU time (all threads) per call, and the largest difference
between each path and the native NCHW result.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.blocks import DepthwiseConv  # noqa: E402

CASES = ((5, 1), (5, 2), (7, 3), (9, 4))  # (kernel, dilation); MoCoLSK's LSK uses (5, 1) and (7, 3)


def cpu_ms(fn, repeat: int) -> float:
    fn()
    start = time.process_time()
    for _ in range(repeat):
        fn()
    return (time.process_time() - start) / repeat * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--size", type=int, default=171)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, input "
          f"{args.batch}x{args.channels}x{args.size}x{args.size}; ms of CPU time per call")
    print(f"{'kernel':>6} {'dil':>3} | {'native NCHW':>11} {'poly NCHW':>9} {'native CL':>9} {'poly CL':>8} | chosen (NCHW / CL)")
    for kernel, dilation in CASES:
        conv = DepthwiseConv(args.channels, kernel, dilation).eval()
        x = torch.randn(args.batch, args.channels, args.size, args.size)
        xcl = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            reference = F.conv2d(x, conv.weight, conv.bias, padding=conv.padding,
                                 dilation=conv.dilation, groups=conv.groups)
            paths = {
                "native NCHW": lambda: F.conv2d(x, conv.weight, conv.bias, padding=conv.padding,
                                                dilation=conv.dilation, groups=conv.groups),
                "poly NCHW": lambda: conv._polyphase_nchw(x, dilation) if dilation > 1 else conv(x),
                "native CL": lambda: F.conv2d(xcl, conv.weight, conv.bias, padding=conv.padding,
                                              dilation=conv.dilation, groups=conv.groups),
                "poly CL": lambda: conv._polyphase_channels_last(xcl, dilation) if dilation > 1 else conv(xcl),
            }
            times = {name: cpu_ms(fn, args.repeat) for name, fn in paths.items()}
            worst = max(float((fn() - reference).abs().max()) for fn in paths.values())
            chosen = f"{cpu_ms(lambda: conv(x), args.repeat):.1f} / {cpu_ms(lambda: conv(xcl), args.repeat):.1f}"
        print(f"{kernel:>6} {dilation:>3} | {times['native NCHW']:>11.1f} {times['poly NCHW']:>9.1f} "
              f"{times['native CL']:>9.1f} {times['poly CL']:>8.1f} | {chosen}   (max diff {worst:.1e})")


if __name__ == "__main__":
    main()
