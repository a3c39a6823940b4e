"""DJFR (Li et al., "Joint Image Filtering with Deep Convolutional Networks", TPAMI 2019).

Two three-layer CNNs encode the bicubic-upsampled target and the guidance separately, a third
fuses them, and the result is a residual on the upsampled target.
"""

from __future__ import annotations

import torch
from torch import nn

from models.blocks import bicubic_upsample, check_inputs
from models.registry import register


def _three_layer_cnn(in_channels: int, wide: int, narrow: int, out_channels: int) -> nn.Sequential:
    """9x9 -> ReLU -> 1x1 -> ReLU -> 5x5, 'same' padding (the DJF sub-network shape)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, wide, 9, padding=4),
        nn.ReLU(),
        nn.Conv2d(wide, narrow, 1),
        nn.ReLU(),
        nn.Conv2d(narrow, out_channels, 5, padding=2),
    )


class DJFR(nn.Module):
    """CNN_T(target), CNN_G(guidance) -> CNN_F([t, g]) + upsampled target."""

    def __init__(
        self,
        scale: int,
        guidance_channels: int,
        branch_channels: int = 96,
        fusion_channels: int = 64,
        branch_outputs: int = 1,
    ):
        super().__init__()
        if guidance_channels < 1:
            raise ValueError("DJFR needs at least one guidance band")
        self.scale = scale
        self.guidance_channels = guidance_channels
        self.target_net = _three_layer_cnn(1, branch_channels, branch_channels // 2, branch_outputs)
        self.guidance_net = _three_layer_cnn(
            guidance_channels, branch_channels, branch_channels // 2, branch_outputs
        )
        self.fusion_net = _three_layer_cnn(
            2 * branch_outputs, fusion_channels, fusion_channels // 2, 1
        )

    def forward(self, lst_lr: torch.Tensor, guidance_hr: torch.Tensor) -> torch.Tensor:
        check_inputs(lst_lr, guidance_hr, self.scale, self.guidance_channels)
        target = bicubic_upsample(lst_lr, self.scale)
        joint = torch.cat([self.target_net(target), self.guidance_net(guidance_hr)], dim=1)
        return target + self.fusion_net(joint)


@register("djfr", guided=True, learned=True, description="DJFR deep joint filtering (residual)")
def djfr(scale: int, guidance_channels: int, **kwargs: object) -> DJFR:
    return DJFR(scale, guidance_channels, **kwargs)  # type: ignore[arg-type]
