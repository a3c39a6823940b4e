"""CTNet (Wang et al., "Contextual Transformation Network for Lightweight Remote-Sensing Image
Super-Resolution", IEEE TGRS 2022).

Sixteen contextual transformation blocks (ghost-style: a contextual feature extraction, a
cheap depth-wise transform, an enhancement path), each but the first preceded by a contextual
enhancement module (a spatial attention from a strided, max-pooled context). One grouped 3x3
convolution per block taps 4 channels of its output; their concatenation is fused by a 1x1 and
added to the first feature. Upsampling is nearest neighbour + convolution + pixel attention per
step.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from models.blocks import bicubic_upsample, check_inputs, conv3x3, upsampling_steps
from models.registry import register


class ContextualExtraction(nn.Module):
    """k1(x) * sigmoid(k1(x) + up(k2(avgpool2(x)))): a feature gated by its local context."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.local = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.context = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        local = self.local(x)
        context = self.context(F.avg_pool2d(x, 2)) if min(x.shape[-2:]) >= 2 else self.context(x)
        return local * torch.sigmoid(local + F.interpolate(context, size=local.shape[-2:], mode="nearest"))


class ContextualTransform(nn.Module):
    """[extraction, depth-wise 3x3 of it] + a 1x1 enhancement of the input."""

    def __init__(self, in_channels: int, out_channels: int, relu: bool):
        super().__init__()
        primary = math.ceil(out_channels / 2)
        self.out_channels = out_channels
        act: nn.Module = nn.ReLU() if relu else nn.Identity()
        self.extract = nn.Sequential(ContextualExtraction(in_channels, primary), act)
        self.cheap = nn.Sequential(nn.Conv2d(primary, primary, 3, padding=1, groups=primary, bias=False), act)
        self.enhance = nn.Sequential(nn.Conv2d(in_channels, 2 * primary, 1, bias=False), act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        primary = self.extract(x)
        out = torch.cat([primary, self.cheap(primary)], dim=1) + self.enhance(x)
        return out[:, : self.out_channels]


class ContextualBlock(nn.Module):
    """x + transform(transform(x)), through ``channels // 2``."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            ContextualTransform(channels, channels // 2, relu=True),
            ContextualTransform(channels // 2, channels, relu=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ContextualEnhancement(nn.Module):
    """x * sigmoid(1x1(up(convs(maxpool7/3(strided conv(1x1(x))))) + 1x1(1x1(x))))."""

    def __init__(self, channels: int):
        super().__init__()
        f = channels // 4
        self.reduce = nn.Conv2d(channels, f, 1)
        self.skip = nn.Conv2d(f, f, 1)
        self.strided = nn.Conv2d(f, f, 3, stride=2)
        self.context = nn.Sequential(
            nn.Conv2d(f, f, 3, padding=1), nn.ReLU(), nn.Conv2d(f, f, 3, padding=1), nn.ReLU(),
            nn.Conv2d(f, f, 3, padding=1),
        )
        self.expand = nn.Conv2d(f, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        reduced = self.reduce(x)
        small = reduced
        short = max(0, 3 - min(small.shape[-2:]))  # the strided 3x3 needs 3 pixels
        if short:
            small = F.pad(small, (0, short, 0, short), mode="replicate")
        small = self.strided(small)
        window = (min(7, small.shape[-2]), min(7, small.shape[-1]))
        context = self.context(F.max_pool2d(small, window, stride=3))
        context = F.interpolate(context, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return x * torch.sigmoid(self.expand(context + self.skip(reduced)))


class CTNet(nn.Module):
    """CTNet: ``forward(lst_lr (B,1,h,w), guidance_hr ignored) -> (B,1,sh,sw)``.

    Defaults are the reference configuration (64 channels, 16 blocks, 24 upsampling channels).
    Differences from the reference: upsampling steps follow
    :func:`models.blocks.upsampling_steps` (identical at x2, x3, x4; x8 and other scales exist
    too, the reference has none); the residual is on bicubic, not bilinear, upsampling; the
    enhancement module's pooling window shrinks on LR inputs under 15 pixels (the reference
    fails there); unused layers of the reference's extraction (two 1x1 convolutions per
    transform that its forward never calls: 3,328 parameters per block, 53,248 of its 411,337
    at x4) are left out.
    """

    def __init__(self, scale: int, channels: int = 64, blocks: int = 16, up_channels: int = 24):
        super().__init__()
        if channels % 16 or channels < 16:
            raise ValueError(f"channels must be a multiple of 16, got {channels}")
        self.scale = scale
        self.head = conv3x3(1, channels)
        self.blocks = nn.ModuleList(ContextualBlock(channels) for _ in range(blocks))
        self.enhance = nn.ModuleList(ContextualEnhancement(channels) for _ in range(blocks - 1))
        taps = channels // 16
        self.taps = nn.ModuleList(
            nn.Conv2d(channels, taps, 3, padding=1, groups=taps, bias=False) for _ in range(blocks)
        )
        self.fuse = nn.Conv2d(blocks * taps, channels, 1)
        self.steps = upsampling_steps(scale)
        self.up = nn.ModuleList(
            conv3x3(channels if i == 0 else up_channels, up_channels) for i in range(len(self.steps))
        )
        self.attention = nn.ModuleList(nn.Conv2d(up_channels, up_channels, 1) for _ in self.steps)
        self.refine = nn.ModuleList(conv3x3(up_channels, up_channels) for _ in self.steps)
        self.act = nn.LeakyReLU(0.2)
        self.tail = conv3x3(up_channels, 1)

    def forward(self, lst_lr: torch.Tensor, guidance_hr: torch.Tensor | None = None) -> torch.Tensor:
        check_inputs(lst_lr, None, self.scale, 0)
        first = self.head(lst_lr)
        x, taps = first, []
        for i, (block, tap) in enumerate(zip(self.blocks, self.taps)):
            if i > 0:
                x = self.enhance[i - 1](x)
            x = block(x)
            taps.append(tap(x))
        x = first + self.fuse(torch.cat(taps, dim=1))
        for step, up, attention, refine in zip(self.steps, self.up, self.attention, self.refine):
            x = up(F.interpolate(x, scale_factor=step, mode="nearest"))
            x = self.act(x * torch.sigmoid(attention(x)))
            x = self.act(refine(x))
        return self.tail(x) + bicubic_upsample(lst_lr, self.scale)


@register("ctnet", guided=False, learned=True, description="CTNet contextual transformation network (16 blocks, 64 ch)")
def ctnet(scale: int, guidance_channels: int = 0, **kwargs: object) -> CTNet:
    return CTNet(scale, **kwargs)  # type: ignore[arg-type]
