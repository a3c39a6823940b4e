"""SVLRM (Pan et al., "Spatially Variant Linear Representation Models for Joint Filtering",
CVPR 2019).

A plain CNN reads the bicubic-upsampled LST together with the guidance and predicts, per HR
pixel, the two coefficients of a linear model; the output is alpha * upsampled LST + beta.
"""

from __future__ import annotations

import torch
from torch import nn

from models.blocks import bicubic_upsample, check_inputs, conv3x3, require_guidance
from models.registry import register


class SVLRM(nn.Module):
    """SVLRM: ``forward(lst_lr (B,1,h,w), guidance_hr (B,K,sh,sw)) -> (B,1,sh,sw)``.

    Reference configuration: 64 channels, a first convolution and 10 more with LeakyReLU 0.1,
    a last one to the two coefficient maps; weights initialised from N(0, 2 / (k^2 out)) and
    zero biases, as the reference does.
    """

    def __init__(self, scale: int, guidance_channels: int, channels: int = 64, layers: int = 10):
        super().__init__()
        require_guidance("SVLRM", guidance_channels)
        self.scale = scale
        self.guidance_channels = guidance_channels
        body: list[nn.Module] = [conv3x3(1 + guidance_channels, channels), nn.LeakyReLU(0.1)]
        for _ in range(layers):
            body += [conv3x3(channels, channels), nn.LeakyReLU(0.1)]
        self.coefficients = nn.Sequential(*body, conv3x3(channels, 2))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)

    def forward(self, lst_lr: torch.Tensor, guidance_hr: torch.Tensor) -> torch.Tensor:
        check_inputs(lst_lr, guidance_hr, self.scale, self.guidance_channels)
        target = bicubic_upsample(lst_lr, self.scale)
        coefficients = self.coefficients(torch.cat([target, guidance_hr], dim=1))
        return coefficients[:, :1] * target + coefficients[:, 1:]


@register(
    "svlrm", guided=True, learned=True,
    description="SVLRM spatially variant linear representation (per-pixel alpha, beta)",
)
def svlrm(scale: int, guidance_channels: int, **kwargs: object) -> SVLRM:
    return SVLRM(scale, guidance_channels, **kwargs)  # type: ignore[arg-type]
