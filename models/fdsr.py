"""FDSR-style guided baseline (He et al., "Towards Fast and Accurate Real-World Depth
Super-Resolution", CVPR 2021), at a modest size.

The guidance is split octave-style into a low-frequency part (average-pooled) and the
high-frequency remainder; only high-frequency guidance features are injected, stage by stage,
into a multi-scale (3x3 + 5x5) residual reconstruction of the bicubic-upsampled LST.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.blocks import bicubic_upsample, check_inputs, conv3x3
from models.registry import register


class HighFrequency(nn.Module):
    """Octave-style split: x minus its 2x-pooled, re-upsampled low-frequency part."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        low = F.avg_pool2d(x, 2, ceil_mode=True)
        return x - F.interpolate(low, size=(h, w), mode="nearest")


class MultiScaleBlock(nn.Module):
    """Parallel 3x3 and 5x5 convolutions, concatenated, fused by 1x1, residual.

    (Plain kernels rather than dilated ones: PyTorch's dilated convolutions measured over
    10x slower on CPU at this size.)
    """

    def __init__(self, channels: int, kernels: tuple[int, ...] = (3, 5)):
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Conv2d(channels, channels, k, padding=k // 2) for k in kernels
        )
        self.fuse = nn.Conv2d(len(kernels) * channels, channels, 1)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        multi = torch.cat([self.act(branch(x)) for branch in self.branches], dim=1)
        return x + self.fuse(multi)


class FDSR(nn.Module):
    """High-frequency guidance features fused into ``stages`` multi-scale blocks at HR."""

    def __init__(self, scale: int, guidance_channels: int, channels: int = 32, stages: int = 3):
        super().__init__()
        if guidance_channels < 1:
            raise ValueError("FDSR needs at least one guidance band")
        self.scale = scale
        self.guidance_channels = guidance_channels
        self.guidance_stem = nn.Sequential(conv3x3(guidance_channels, channels), nn.LeakyReLU(0.2))
        self.high_frequency = HighFrequency()
        self.guidance_stages = nn.ModuleList(
            nn.Sequential(conv3x3(channels, channels), nn.LeakyReLU(0.2)) for _ in range(stages)
        )
        self.lst_stem = nn.Sequential(conv3x3(1, channels), nn.LeakyReLU(0.2))
        self.inject = nn.ModuleList(nn.Conv2d(2 * channels, channels, 1) for _ in range(stages))
        self.reconstruct = nn.ModuleList(MultiScaleBlock(channels) for _ in range(stages))
        self.tail = conv3x3(channels, 1)

    def forward(self, lst_lr: torch.Tensor, guidance_hr: torch.Tensor) -> torch.Tensor:
        check_inputs(lst_lr, guidance_hr, self.scale, self.guidance_channels)
        target = bicubic_upsample(lst_lr, self.scale)
        g = self.guidance_stem(guidance_hr)
        x = self.lst_stem(target)
        for guidance_stage, inject, block in zip(
            self.guidance_stages, self.inject, self.reconstruct
        ):
            g = guidance_stage(g)
            x = block(inject(torch.cat([x, self.high_frequency(g)], dim=1)))
        return target + self.tail(x)


@register(
    "fdsr", guided=True, learned=True,
    description="FDSR-style high-frequency guided multi-scale network",
)
def fdsr(scale: int, guidance_channels: int, **kwargs: object) -> FDSR:
    return FDSR(scale, guidance_channels, **kwargs)  # type: ignore[arg-type]
