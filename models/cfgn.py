"""CFGN (Ya et al., "CFGN: A Lightweight Context Feature Guided Network for Image
Super-Resolution", IEEE TETCI 2023), in the GrokLST toolkit's configuration.

Main blocks of three residual 3x3 blocks, each block's input and the last output tapped by
half-width convolutions, concatenated, fused by 1x1 + LeakyReLU and re-weighted by a
contrast-aware channel attention (channel mean + standard deviation), with a block skip. The
outputs of all main blocks are fused (1x1, 3x3) with a long skip and upsampled in one sub-pixel
step.
"""

from __future__ import annotations

import torch
from torch import nn

from models.blocks import bicubic_upsample, check_inputs, conv3x3
from models.registry import register

SLOPE = 0.05  # the reference's LeakyReLU slope


class ContrastChannelAttention(nn.Module):
    """x * sigmoid(MLP(std_hw(x) + mean_hw(x)))."""

    def __init__(self, channels: int, reduction: int = 8):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1), nn.LeakyReLU(SLOPE), nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(2, 3), keepdim=True)
        std = (x - mean).square().mean(dim=(2, 3), keepdim=True).sqrt()
        return x * self.mlp(std + mean)


class ShallowResidual(nn.Module):
    """lrelu(x + conv3x3(x))."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = conv3x3(channels, channels)
        self.act = nn.LeakyReLU(SLOPE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.conv(x))


class MainBlock(nn.Module):
    """x + CCA(lrelu(1x1([taps of each step's input, 3x3 tap of the last output])))."""

    def __init__(self, channels: int, steps: int = 3):
        super().__init__()
        half = channels // 2
        self.steps = nn.ModuleList(ShallowResidual(channels) for _ in range(steps))
        self.taps = nn.ModuleList(nn.Conv2d(channels, half, 1) for _ in range(steps))
        self.last_tap = conv3x3(channels, half)
        self.fuse = nn.Sequential(nn.Conv2d((steps + 1) * half, channels, 1), nn.LeakyReLU(SLOPE))
        self.attention = ContrastChannelAttention(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        now, features = x, []
        for step, tap in zip(self.steps, self.taps):
            features.append(tap(now))
            now = step(now)
        features.append(self.last_tap(now))
        return x + self.attention(self.fuse(torch.cat(features, dim=1)))


class CFGN(nn.Module):
    """CFGN: ``forward(lst_lr (B,1,h,w), guidance_hr ignored) -> (B,1,sh,sw)``.

    Defaults are the GrokLST configuration (48 features, 6 main blocks of the 'base' residual
    type, identity activations on the taps). Difference from the reference: the output is a
    residual on bicubic upsampling (the reference's LR-to-HR sub-pixel step is its whole
    output). ``channels`` must be even.
    """

    def __init__(self, scale: int, channels: int = 48, blocks: int = 6):
        super().__init__()
        if channels % 2:
            raise ValueError(f"channels must be even, got {channels}")
        self.scale = scale
        self.head = conv3x3(1, channels)
        self.blocks = nn.ModuleList(MainBlock(channels) for _ in range(blocks))
        self.fusion = nn.Sequential(
            nn.Conv2d((blocks + 1) * channels, channels, 1), nn.LeakyReLU(SLOPE),
            conv3x3(channels, channels),
        )
        self.tail = nn.Sequential(conv3x3(channels, scale * scale), nn.PixelShuffle(scale))

    def forward(self, lst_lr: torch.Tensor, guidance_hr: torch.Tensor | None = None) -> torch.Tensor:
        check_inputs(lst_lr, None, self.scale, 0)
        head = self.head(lst_lr)
        x, outputs = head, [head]
        for block in self.blocks:
            x = block(x)
            outputs.append(x)
        features = self.fusion(torch.cat(outputs, dim=1)) + head
        return self.tail(features) + bicubic_upsample(lst_lr, self.scale)


@register("cfgn", guided=False, learned=True, description="CFGN context feature guided network (6 blocks, 48 ch)")
def cfgn(scale: int, guidance_channels: int = 0, **kwargs: object) -> CFGN:
    return CFGN(scale, **kwargs)  # type: ignore[arg-type]
