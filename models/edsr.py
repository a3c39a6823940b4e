"""EDSR (Lim et al., CVPR-W 2017), single-image baseline at the paper's 'baseline' size."""

from __future__ import annotations

import torch
from torch import nn

from models.blocks import (
    PixelShuffleUpsampler,
    ResidualBlock,
    bicubic_upsample,
    check_inputs,
    conv3x3,
)
from models.registry import register


class EDSR(nn.Module):
    """head -> residual blocks + long skip -> sub-pixel upsampler -> tail, + bicubic(LR LST).

    The guidance is accepted and ignored. Difference from EDSR: the output is a residual on
    bicubic upsampling (as in every groklst model), which trains much faster on z-scored LST.
    """

    def __init__(
        self, scale: int, channels: int = 64, blocks: int = 16, res_scale: float = 1.0
    ):
        super().__init__()
        self.scale = scale
        self.head = conv3x3(1, channels)
        self.body = nn.Sequential(
            *(ResidualBlock(channels, res_scale) for _ in range(blocks)),
            conv3x3(channels, channels),
        )
        self.tail = nn.Sequential(PixelShuffleUpsampler(channels, scale), conv3x3(channels, 1))

    def forward(
        self, lst_lr: torch.Tensor, guidance_hr: torch.Tensor | None = None
    ) -> torch.Tensor:
        check_inputs(lst_lr, None, self.scale, 0)
        features = self.head(lst_lr)
        features = features + self.body(features)
        return self.tail(features) + bicubic_upsample(lst_lr, self.scale)


@register("edsr", guided=False, learned=True, description="EDSR baseline (16 blocks, 64 ch)")
def edsr(scale: int, guidance_channels: int = 0, **kwargs: object) -> EDSR:
    return EDSR(scale, **kwargs)  # type: ignore[arg-type]
