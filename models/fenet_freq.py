"""FENet, the frequency-based enhancement network (Behjati et al., "Frequency-Based Enhancement
Network for Efficient Super-Resolution", IEEE Access 2022). Registered as ``fenet-freq`` to keep
it apart from FeNet (``fenet``), a different model of the same name in Table IX.

Twelve frequency-based enhancement blocks, each with a low-frequency path (1x1, 3x3) and a
high-frequency path (1x1, then a gate from the feature minus its 4x4-average-pooled version);
the outputs of the entry and of all blocks are reduced by a 1x1 convolution, added to the last
block's output and upsampled by grouped sub-pixel steps. Every convolution is weight-normalised.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from models.blocks import bicubic_upsample, check_inputs, upsampling_steps
from models.registry import register


def _wn_conv(in_channels: int, out_channels: int, kernel: int, *, bias: bool = True,
             groups: int = 1) -> nn.Module:
    return weight_norm(
        nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, bias=bias, groups=groups)
    )


class FrequencyEnhancement(nn.Module):
    """k4(k3(x) * sigmoid(k2(x - up(avgpool4(x))) + x)): a gate from the high frequencies."""

    def __init__(self, channels: int):
        super().__init__()
        self.k2 = _wn_conv(channels, channels, 3, bias=False)
        self.k3 = _wn_conv(channels, channels, 3, bias=False)
        self.k4 = _wn_conv(channels, channels, 3, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        window = min(4, *x.shape[-2:])
        low = F.interpolate(F.avg_pool2d(x, window), size=x.shape[-2:], mode="nearest")
        gate = torch.sigmoid(self.k2(x - low) + x)
        return self.k4(self.k3(x) * gate)


class FrequencyBlock(nn.Module):
    """x + 1x1([relu(3x3(relu(1x1 x))), relu(FE(relu(1x1 x)))])."""

    def __init__(self, channels: int):
        super().__init__()
        half = channels // 2
        self.low = nn.Sequential(
            _wn_conv(channels, half, 1, bias=False), nn.ReLU(),
            _wn_conv(half, half, 3, bias=False), nn.ReLU(),
        )
        self.high = nn.Sequential(
            _wn_conv(channels, half, 1, bias=False), nn.ReLU(), FrequencyEnhancement(half), nn.ReLU()
        )
        self.fuse = _wn_conv(2 * half, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fuse(torch.cat([self.low(x), self.high(x)], dim=1))


class FrequencyFENet(nn.Module):
    """FENet: ``forward(lst_lr (B,1,h,w), guidance_hr ignored) -> (B,1,sh,sw)``.

    Defaults are the GrokLST configuration (64 channels, 12 blocks, upsampling groups 4); the
    structure follows the reference, including its residual on bicubic. Differences: the
    upsampling steps follow :func:`models.blocks.upsampling_steps` (the reference has x2, x3,
    x4, x5 and x8, identical there); the 4x4 pooling window shrinks on LR inputs under 4 px.
    """

    def __init__(self, scale: int, channels: int = 64, blocks: int = 12, groups: int = 4):
        super().__init__()
        if channels % 2 or channels % groups:
            raise ValueError(f"channels must be even and a multiple of groups, got {channels}, {groups}")
        self.scale = scale
        self.entry = _wn_conv(1, channels, 3)
        self.blocks = nn.ModuleList(FrequencyBlock(channels) for _ in range(blocks))
        self.reduce = nn.Sequential(_wn_conv((blocks + 1) * channels, channels, 1), nn.ReLU())
        layers: list[nn.Module] = []
        for step in upsampling_steps(scale):
            layers += [_wn_conv(channels, step * step * channels, 3, groups=groups), nn.ReLU(),
                       nn.PixelShuffle(step)]
        self.upsample = nn.Sequential(*layers)
        self.exit = _wn_conv(channels, 1, 3)

    def forward(self, lst_lr: torch.Tensor, guidance_hr: torch.Tensor | None = None) -> torch.Tensor:
        check_inputs(lst_lr, None, self.scale, 0)
        x = self.entry(lst_lr)
        outputs = [x]
        for block in self.blocks:
            x = block(x)
            outputs.append(x)
        features = self.reduce(torch.cat(outputs, dim=1)) + x
        return self.exit(self.upsample(features)) + bicubic_upsample(lst_lr, self.scale)


@register(
    "fenet-freq", guided=False, learned=True,
    description="FENet frequency-based enhancement network (12 blocks, 64 ch, weight norm)",
)
def fenet_freq(scale: int, guidance_channels: int = 0, **kwargs: object) -> FrequencyFENet:
    return FrequencyFENet(scale, **kwargs)  # type: ignore[arg-type]
