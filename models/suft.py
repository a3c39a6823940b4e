"""SUFT (Shi et al., "Symmetric Uncertainty-Aware Feature Transmission for Depth
Super-Resolution", ACM MM 2022), the strongest guided baseline of the GrokLST paper's Table IX.

An LR LST branch of residual groups grows by ``channels`` per stage; at each stage a bridge
up-projects the LST feature to HR twice (once from the horizontally mirrored feature, mirrored
back), takes their absolute difference as an uncertainty map, turns its channel mean and max
into a spatial attention scaled to [0, 1] per sample, gates the HR guidance feature with it
and down-projects [LST, gated guidance] back to LR. The fused LR feature is up-projected,
refined by two residual groups at HR and added to the bicubic upsample.
"""

from __future__ import annotations

import torch
from torch import nn

from models.blocks import (
    ProjectionUnit,
    ResidualBlock,
    ResidualGroup,
    bicubic_upsample,
    check_inputs,
    conv3x3,
    require_guidance,
)
from models.registry import register


class UncertaintyBridge(nn.Module):
    """One SUFT stage: LR LST (lst_dim) + HR guidance (guidance_dim) -> LR (lst_dim + guidance_dim)."""

    def __init__(self, lst_dim: int, guidance_dim: int, scale: int):
        super().__init__()
        self.up = ProjectionUnit(lst_dim, lst_dim, scale, up=True)
        self.up_mirrored = ProjectionUnit(lst_dim, lst_dim, scale, up=True)
        self.attention = nn.Conv2d(2, 1, 7, padding=3)
        fused = lst_dim + guidance_dim
        self.down = ProjectionUnit(fused, fused, scale, up=False)

    def forward(self, lst_lr: torch.Tensor, guidance_hr: torch.Tensor) -> torch.Tensor:
        hr = self.up(lst_lr)
        mirrored = self.up_mirrored(lst_lr.flip(-1)).flip(-1)
        uncertainty = (hr - mirrored).abs()
        descriptor = torch.cat(
            [uncertainty.mean(dim=1, keepdim=True), uncertainty.amax(dim=1, keepdim=True)], dim=1
        )
        attention = self.attention(descriptor)
        low = attention.amin(dim=(2, 3), keepdim=True)
        high = attention.amax(dim=(2, 3), keepdim=True)
        attention = (attention - low) / (high - low + 1e-12)
        return self.down(torch.cat([hr, guidance_hr * attention], dim=1))


class SUFT(nn.Module):
    """SUFT-Net: ``forward(lst_lr (B,1,h,w), guidance_hr (B,K,sh,sw)) -> (B,1,sh,sw)``.

    Defaults are the GrokLST toolkit's configuration (``SUFTNet``, num_feats 32): 3 bridges,
    LST groups of 4 RCABs at 32/64/96/128 channels (reduction 16, LeakyReLU 0.2), 3 EDSR
    blocks in the guidance branch, 2 HR groups of 8 RCABs at 128 channels. Differences from
    the reference: the projection geometry follows :func:`models.blocks.projection_geometry`
    for every integer scale (identical at x2/x4/x8; the reference has no x3), and the
    attention's min-max scaling works on any batch size the same way (it already is per
    sample in the reference).
    """

    def __init__(
        self,
        scale: int,
        guidance_channels: int,
        channels: int = 32,
        stages: int = 3,
        blocks: int = 4,
        tail_groups: int = 2,
        tail_blocks: int = 8,
        reduction: int = 16,
    ):
        super().__init__()
        require_guidance("SUFT", guidance_channels)
        self.scale = scale
        self.guidance_channels = guidance_channels
        fused = (stages + 1) * channels
        self.act = nn.LeakyReLU(0.2)
        self.lst_stem = conv3x3(1, channels)
        self.guidance_stem = conv3x3(guidance_channels, channels)
        self.guidance_blocks = nn.ModuleList(
            ResidualBlock(channels, negative_slope=0.2) for _ in range(stages)
        )
        self.lst_groups = nn.ModuleList(
            ResidualGroup((i + 1) * channels, blocks, reduction) for i in range(stages + 1)
        )
        self.bridges = nn.ModuleList(
            UncertaintyBridge((i + 1) * channels, channels, scale) for i in range(stages)
        )
        self.upsample = ProjectionUnit(fused, fused, scale, up=True)
        self.tail = nn.Sequential(
            *(ResidualGroup(fused, tail_blocks, reduction) for _ in range(tail_groups))
        )
        self.head = nn.Sequential(
            conv3x3(fused, channels), nn.LeakyReLU(0.2), conv3x3(channels, 1)
        )

    def forward(self, lst_lr: torch.Tensor, guidance_hr: torch.Tensor) -> torch.Tensor:
        check_inputs(lst_lr, guidance_hr, self.scale, self.guidance_channels)
        x = self.act(self.lst_stem(lst_lr))
        g = self.act(self.guidance_stem(guidance_hr))
        for group, guidance_block, bridge in zip(
            self.lst_groups, self.guidance_blocks, self.bridges
        ):
            g = guidance_block(g)
            x = bridge(group(x), g)
        x = self.lst_groups[-1](x)
        out = self.head(self.tail(self.upsample(x)))
        return out + bicubic_upsample(lst_lr, self.scale)


@register(
    "suft", guided=True, learned=True,
    description="SUFT symmetric uncertainty-aware feature transmission (3 bridges, 32 ch)",
)
def suft(scale: int, guidance_channels: int, **kwargs: object) -> SUFT:
    return SUFT(scale, guidance_channels, **kwargs)  # type: ignore[arg-type]
