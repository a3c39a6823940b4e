"""RDN (Zhang et al., "Residual Dense Network for Image Super-Resolution", CVPR 2018), the
best single-image model of the GrokLST paper's Table IX.

Residual dense blocks (densely connected 3x3 convolutions, a 1x1 local fusion and a local
skip) at LR; the outputs of all blocks are fused globally (1x1, 3x3) with a long skip, then
upsampled by sub-pixel convolution.
"""

from __future__ import annotations

import torch
from torch import nn

from models.blocks import PixelShuffleUpsampler, bicubic_upsample, check_inputs, conv3x3
from models.registry import register


class ResidualDenseBlock(nn.Module):
    """x + 1x1(concat of x and ``layers`` ReLU(conv3x3) outputs, each seeing all before it)."""

    def __init__(self, channels: int, growth: int, layers: int):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Sequential(conv3x3(channels + i * growth, growth), nn.ReLU()) for i in range(layers)
        )
        self.fuse = nn.Conv2d(channels + layers * growth, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, dim=1)))
        return x + self.fuse(torch.cat(features, dim=1))


class RDN(nn.Module):
    """RDN: ``forward(lst_lr (B,1,h,w), guidance_hr ignored) -> (B,1,sh,sw)``.

    Defaults are the paper's and the GrokLST configuration (G0 = 64, D = 16 blocks of C = 8
    layers, G = 64). Differences from the reference: the output is a residual on bicubic
    upsampling (as in every groklst model); x8 upsamples in three x2 steps (the reference
    uses one x8 sub-pixel step, so only the x8 size differs).
    """

    def __init__(self, scale: int, channels: int = 64, blocks: int = 16, layers: int = 8, growth: int = 64):
        super().__init__()
        self.scale = scale
        self.shallow_1 = conv3x3(1, channels)
        self.shallow_2 = conv3x3(channels, channels)
        self.blocks = nn.ModuleList(ResidualDenseBlock(channels, growth, layers) for _ in range(blocks))
        self.global_fusion = nn.Sequential(nn.Conv2d(blocks * channels, channels, 1), conv3x3(channels, channels))
        self.tail = nn.Sequential(PixelShuffleUpsampler(channels, scale), conv3x3(channels, 1))

    def forward(self, lst_lr: torch.Tensor, guidance_hr: torch.Tensor | None = None) -> torch.Tensor:
        check_inputs(lst_lr, None, self.scale, 0)
        shallow = self.shallow_1(lst_lr)
        x, local = self.shallow_2(shallow), []
        for block in self.blocks:
            x = block(x)
            local.append(x)
        features = self.global_fusion(torch.cat(local, dim=1)) + shallow
        return self.tail(features) + bicubic_upsample(lst_lr, self.scale)


@register("rdn", guided=False, learned=True, description="RDN residual dense network (16 x 8 layers, 64 ch)")
def rdn(scale: int, guidance_channels: int = 0, **kwargs: object) -> RDN:
    return RDN(scale, **kwargs)  # type: ignore[arg-type]
