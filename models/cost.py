"""What a model costs: parameter count and FLOPs per output pixel from torch's flop counter."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from models.registry import build_model, get_spec


@dataclass(frozen=True)
class ModelCost:
    """Size and compute of one model at one scale."""

    name: str
    scale: int
    params: int
    gflop_per_mpx: float


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _device_of(model: nn.Module) -> torch.device:
    first = next(model.parameters(), None)
    return torch.device("cpu") if first is None else first.device


def flops_per_output_pixel(
    model: nn.Module, scale: int, guidance_channels: int, lr_size: int = 64,
    device: torch.device | None = None,
) -> float:
    """Forward FLOPs (torch's FlopCounterMode: 2 per multiply-add) per output pixel.

    Measured on one ``lr_size`` x ``lr_size`` LR tile, on ``device`` (default: the model's):
    on the ``meta`` device nothing is computed or stored, whatever the scale. The counter
    covers convolutions, linear layers and matrix products; pooling, activations and
    interpolation count as zero, so bicubic/bilinear report 0.
    """
    device = _device_of(model) if device is None else device
    lst = torch.zeros(1, 1, lr_size, lr_size, device=device)
    hr = lr_size * scale
    guidance = torch.zeros(1, max(guidance_channels, 1), hr, hr, device=device)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model.eval()(lst, guidance)
    return counter.get_total_flops() / (hr * hr)


def model_cost(
    name: str, scale: int, guidance_channels: int = 1, lr_size: int = 64
) -> ModelCost:
    """Build ``name`` at its defaults on the meta device and measure it on meta inputs (no
    memory, no compute: a model without parameters, such as bicubic, would otherwise be run on
    real CPU tensors of the whole output tile, 22 GB at x256)."""
    bands = guidance_channels if get_spec(name).guided else 0
    meta = torch.device("meta")
    with meta:
        model = build_model(name, scale=scale, guidance_channels=bands)
    flops = flops_per_output_pixel(model, scale, guidance_channels, lr_size, device=meta)
    return ModelCost(name, scale, count_parameters(model), flops * 1e6 / 1e9)
