"""DGF, the trainable guided filter (Wu et al., "Fast End-to-End Trainable Guided Filter",
CVPR 2018), in its convolutional form as used by the GrokLST toolkit.

The guide is the mean of the guidance bands and the input the bicubic-upsampled LST. As in the
guided filter, local means, the covariance and the guide's variance come from a box filter
(here a 3x3 convolution initialised to ones and trained); the linear coefficient A is predicted
from [covariance, variance] by 1x1 convolutions instead of cov / (var + eps), b = mean(LST) -
A mean(guide), and the output is mean(A) * guide + mean(b).
"""

from __future__ import annotations

import torch
from torch import nn

from models.blocks import bicubic_upsample, check_inputs, require_guidance
from models.registry import register


class DGF(nn.Module):
    """DGF: ``forward(lst_lr (B,1,h,w), guidance_hr (B,K,sh,sw)) -> (B,1,sh,sw)``.

    Reference configuration: radius 1 (a 3x3 box), 64 channels in the coefficient network with
    batch normalisation. Its output is a guided filter of the guide, so it cannot add detail
    the band mean lacks (Table IX ranks it near bicubic).
    """

    def __init__(self, scale: int, guidance_channels: int, channels: int = 64, radius: int = 1):
        super().__init__()
        require_guidance("DGF", guidance_channels)
        self.scale = scale
        self.guidance_channels = guidance_channels
        self.box = nn.Conv2d(1, 1, 3, padding=radius, dilation=radius, bias=False)
        nn.init.ones_(self.box.weight)
        self.coefficient = nn.Sequential(
            nn.Conv2d(2, channels, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(),
            nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(),
            nn.Conv2d(channels, 1, 1, bias=False),
        )

    def forward(self, lst_lr: torch.Tensor, guidance_hr: torch.Tensor) -> torch.Tensor:
        check_inputs(lst_lr, guidance_hr, self.scale, self.guidance_channels)
        y = bicubic_upsample(lst_lr, self.scale)
        x = guidance_hr.mean(dim=1, keepdim=True)
        count = self.box(torch.ones_like(x[:1]))
        mean_x, mean_y = self.box(x) / count, self.box(y) / count
        covariance = self.box(x * y) / count - mean_x * mean_y
        variance = self.box(x * x) / count - mean_x * mean_x
        a = self.coefficient(torch.cat([covariance, variance], dim=1))
        b = mean_y - a * mean_x
        return self.box(a) / count * x + self.box(b) / count


@register(
    "dgf", guided=True, learned=True,
    description="DGF trainable guided filter (guide: the band mean)",
)
def dgf(scale: int, guidance_channels: int, **kwargs: object) -> DGF:
    return DGF(scale, guidance_channels, **kwargs)  # type: ignore[arg-type]
