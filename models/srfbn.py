"""SRFBN (Li et al., "Feedback Network for Image Super-Resolution", CVPR 2019).

A feedback block of densely connected up- and down-projections runs for several time steps;
at each step it reads the LR features together with its own previous output (the feedback),
so later steps refine the earlier ones. The last step's output is upsampled by a transposed
convolution and added to the bicubic upsample.
"""

from __future__ import annotations

import torch
from torch import nn

from models.blocks import bicubic_upsample, check_inputs, conv3x3, projection_conv
from models.registry import register


def _pointwise(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.PReLU())


def _projection(channels: int, scale: int, up: bool) -> nn.Sequential:
    return nn.Sequential(projection_conv(channels, channels, scale, up), nn.PReLU())


class FeedbackBlock(nn.Module):
    """[x, hidden] -> 1x1 -> ``groups`` dense up/down projection pairs -> 1x1 of all LR outputs."""

    def __init__(self, channels: int, groups: int, scale: int):
        super().__init__()
        self.compress_in = _pointwise(2 * channels, channels)
        self.ups = nn.ModuleList(_projection(channels, scale, up=True) for _ in range(groups))
        self.downs = nn.ModuleList(_projection(channels, scale, up=False) for _ in range(groups))
        self.up_bottlenecks = nn.ModuleList(_pointwise((g + 1) * channels, channels) for g in range(1, groups))
        self.down_bottlenecks = nn.ModuleList(_pointwise((g + 1) * channels, channels) for g in range(1, groups))
        self.compress_out = _pointwise(groups * channels, channels)

    def forward(self, x: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        lows = [self.compress_in(torch.cat([x, hidden], dim=1))]
        highs: list[torch.Tensor] = []
        for g, (up, down) in enumerate(zip(self.ups, self.downs)):
            low = lows[0] if g == 0 else self.up_bottlenecks[g - 1](torch.cat(lows, dim=1))
            highs.append(up(low))
            high = highs[0] if g == 0 else self.down_bottlenecks[g - 1](torch.cat(highs, dim=1))
            lows.append(down(high))
        return self.compress_out(torch.cat(lows[1:], dim=1))


class SRFBN(nn.Module):
    """SRFBN: ``forward(lst_lr (B,1,h,w), guidance_hr ignored) -> (B,1,sh,sw)``.

    Defaults are the GrokLST configuration (SRFBN-S: 32 features, 3 groups, 4 steps).
    Differences from the reference: the projection geometry is defined for every integer
    scale (identical at x2/x3/x4/x8); the output is a residual on bicubic, not bilinear,
    upsampling; only the last step is reconstructed (the reference computes every step's
    output but returns the last one too).
    """

    def __init__(self, scale: int, channels: int = 32, groups: int = 3, steps: int = 4):
        super().__init__()
        if groups < 1 or steps < 1:
            raise ValueError(f"groups and steps must be >= 1, got {groups} and {steps}")
        self.scale = scale
        self.steps = steps
        self.stem = nn.Sequential(
            conv3x3(1, 4 * channels), nn.PReLU(), _pointwise(4 * channels, channels)
        )
        self.block = FeedbackBlock(channels, groups, scale)
        self.tail = nn.Sequential(_projection(channels, scale, up=True), conv3x3(channels, 1))

    def forward(self, lst_lr: torch.Tensor, guidance_hr: torch.Tensor | None = None) -> torch.Tensor:
        check_inputs(lst_lr, None, self.scale, 0)
        x = self.stem(lst_lr)
        hidden = x
        for _ in range(self.steps):
            hidden = self.block(x, hidden)
        return self.tail(hidden) + bicubic_upsample(lst_lr, self.scale)


@register("srfbn", guided=False, learned=True, description="SRFBN-S feedback network (4 steps, 32 ch)")
def srfbn(scale: int, guidance_channels: int = 0, **kwargs: object) -> SRFBN:
    return SRFBN(scale, **kwargs)  # type: ignore[arg-type]
