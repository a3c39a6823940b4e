"""D-DBPN (Haris et al., "Deep Back-Projection Networks for Super-Resolution", CVPR 2018).

Alternating up- and down-projection units (:class:`models.blocks.ProjectionUnit`) with dense
connections: each unit after the first pair sees the concatenation of all earlier units of the
other direction, through a 1x1 bottleneck. The HR outputs of all up-projections are
concatenated and reconstructed by one 3x3 convolution.
"""

from __future__ import annotations

import torch
from torch import nn

from models.blocks import ProjectionUnit, bicubic_upsample, check_inputs, conv3x3
from models.registry import register


def _bottleneck(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.PReLU(out_channels))


class DBPN(nn.Module):
    """D-DBPN: ``forward(lst_lr (B,1,h,w), guidance_hr ignored) -> (B,1,sh,sw)``.

    Defaults are the reference configuration (features 256 -> 64, 7 up-projections, 6
    down-projections). Differences: projection geometry for every integer scale
    (:func:`models.blocks.projection_geometry`; the reference has x2/x4/x8 only); PReLUs have
    one slope per channel (the reference: one per layer; 3,405 more parameters here at
    x4, +0.03 %); the
    output is a residual on bicubic upsampling (as in every groklst model).
    """

    def __init__(self, scale: int, channels: int = 64, features: int = 256, stages: int = 7):
        super().__init__()
        if stages < 2:
            raise ValueError(f"stages must be >= 2, got {stages}")
        self.scale = scale
        self.stem = nn.Sequential(
            conv3x3(1, features), nn.PReLU(features), _bottleneck(features, channels)
        )
        self.ups = nn.ModuleList(ProjectionUnit(channels, channels, scale, up=True) for _ in range(stages))
        self.downs = nn.ModuleList(
            ProjectionUnit(channels, channels, scale, up=False) for _ in range(stages - 1)
        )
        # the unit after i earlier units of the other direction (i >= 2) reads i * channels
        self.up_bottlenecks = nn.ModuleList(
            _bottleneck(i * channels, channels) for i in range(2, stages)
        )
        self.down_bottlenecks = nn.ModuleList(
            _bottleneck(i * channels, channels) for i in range(2, stages)
        )
        self.reconstruct = conv3x3(stages * channels, 1)

    def forward(self, lst_lr: torch.Tensor, guidance_hr: torch.Tensor | None = None) -> torch.Tensor:
        check_inputs(lst_lr, None, self.scale, 0)
        x = self.stem(lst_lr)
        lows: list[torch.Tensor] = []
        highs: list[torch.Tensor] = []
        for i, up in enumerate(self.ups):
            if i == 0:
                lr_input = x
            elif i == 1:
                lr_input = lows[0]
            else:
                lr_input = self.up_bottlenecks[i - 2](torch.cat(lows[::-1], dim=1))
            highs.append(up(lr_input))
            if i < len(self.downs):
                hr_input = (highs[0] if i == 0
                            else self.down_bottlenecks[i - 1](torch.cat(highs[::-1], dim=1)))
                lows.append(self.downs[i](hr_input))
        return self.reconstruct(torch.cat(highs[::-1], dim=1)) + bicubic_upsample(lst_lr, self.scale)


@register("dbpn", guided=False, learned=True, description="D-DBPN dense back-projection (7 stages, 64 ch)")
def dbpn(scale: int, guidance_channels: int = 0, **kwargs: object) -> DBPN:
    return DBPN(scale, **kwargs)  # type: ignore[arg-type]
