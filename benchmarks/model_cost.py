"""Measure every model on this machine: parameters, GFLOP per output megapixel, inference
seconds per output tile and seconds per training step.

    .venv/bin/python benchmarks/model_cost.py --scale 3 --tile 96 --batch 8
    .venv/bin/python benchmarks/model_cost.py --models mocolsk-lite mocolsk --device cuda

Prints one JSON object per model on stdout. Timings are the median of ``--repeats`` runs after
one warm-up run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from models.cost import count_parameters, model_cost
from models.registry import build_model, get_spec, list_models


def _median_seconds(step, repeats: int, device: torch.device) -> float:
    step()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(name: str, scale: int, bands: int, tile: int, batch: int, repeats: int,
            device: torch.device) -> dict[str, object]:
    """Cost record of one model: ``tile`` is the HR (output) tile side in pixels."""
    if tile % scale:
        raise SystemExit(f"--tile {tile} must be a multiple of --scale {scale}")
    torch.manual_seed(0)
    net = build_model(name, scale=scale, guidance_channels=bands if get_spec(name).guided else 0)
    net = net.to(device)
    lr = tile // scale
    lst = torch.randn(batch, 1, lr, lr, device=device)
    guidance = torch.randn(batch, bands, tile, tile, device=device)
    target = torch.randn(batch, 1, tile, tile, device=device)
    record: dict[str, object] = {
        "name": name, "scale": scale, "tile": tile, "batch": batch, "device": str(device),
        "params": count_parameters(net),
        "gflop_per_mpx": round(model_cost(name, scale, bands).gflop_per_mpx, 1),
    }

    def infer() -> None:
        with torch.no_grad():
            net.eval()(lst[:1], guidance[:1])

    record["infer_s_per_tile"] = round(_median_seconds(infer, repeats, device), 4)
    if get_spec(name).learned:
        optimiser = torch.optim.AdamW(net.parameters(), lr=1e-4)

        def train_step() -> None:
            net.train()
            optimiser.zero_grad()
            torch.nn.functional.l1_loss(net(lst, guidance), target).backward()
            optimiser.step()

        record["train_s_per_step"] = round(_median_seconds(train_step, repeats, device), 4)
    return record


def _named_models(parser: argparse.ArgumentParser, given: list[str] | None) -> list[str]:
    """``--models`` as space- or comma-separated names (zoo.py takes commas); an unknown name is
    one argparse error listing the known ones, not a traceback after the first models ran."""
    names = [name for arg in given or [] for name in arg.split(",") if name]
    known = [spec.name for spec in list_models()]
    unknown = [name for name in names if name not in known]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models", nargs="*", default=None,
        help="names, space- or comma-separated (default: all except mocolsk that work at --scale)",
    )
    parser.add_argument("--scale", type=int, default=3)
    parser.add_argument("--bands", type=int, default=10)
    parser.add_argument("--tile", type=int, default=96, help="output tile side (HR pixels)")
    parser.add_argument("--batch", type=int, default=8, help="training batch size")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    names = _named_models(parser, args.models) or [
        s.name for s in list_models() if s.name != "mocolsk" and s.supports(args.scale)
    ]
    for name in names:
        record = measure(name, args.scale, args.bands, args.tile, args.batch, args.repeats,
                         torch.device(args.device))
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
