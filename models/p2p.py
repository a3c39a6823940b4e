"""P2P, pixel-to-pixel transformation (de Lutio et al., "Guided Super-Resolution as
Pixel-to-Pixel Transformation", ICCV 2019), trained as a network as the GrokLST toolkit does.

Two per-pixel (1x1) MLPs map the bicubic-upsampled LST and the guidance to a wide feature
each; their sum goes through a per-pixel head to the HR LST. The original method fits this
network anew to every image (its spatial input is the pixel coordinates); the GrokLST
toolkit, and groklst, instead train it once on a dataset with the upsampled LST as the spatial
input (``groklst downscale --fit`` does the per-image fit for any learned model).
"""

from __future__ import annotations

import torch
from torch import nn

from models.blocks import bicubic_upsample, check_inputs, require_guidance
from models.registry import register


def _branch(in_channels: int, hidden: int, width: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, hidden, 1), nn.ReLU(),
        nn.Conv2d(hidden, width, kernel, padding=kernel // 2),
    )


class P2P(nn.Module):
    """P2P: ``forward(lst_lr (B,1,h,w), guidance_hr (B,K,sh,sw)) -> (B,1,sh,sw)``.

    Reference configuration: 32 hidden and 2048 wide channels, 1x1 kernels. The output is the
    head's prediction itself, not a residual on bicubic (as in the reference).
    """

    def __init__(
        self, scale: int, guidance_channels: int, hidden: int = 32, width: int = 2048,
        kernel: int = 1,
    ):
        super().__init__()
        require_guidance("P2P", guidance_channels)
        if kernel % 2 == 0:
            raise ValueError(f"kernel must be odd, got {kernel}")
        self.scale = scale
        self.guidance_channels = guidance_channels
        self.spatial = _branch(1, hidden, width, kernel)
        self.color = _branch(guidance_channels, hidden, width, kernel)
        self.head = nn.Sequential(
            nn.ReLU(), nn.Conv2d(width, hidden, kernel, padding=kernel // 2), nn.ReLU(),
            nn.Conv2d(hidden, 1, 1),
        )

    def forward(self, lst_lr: torch.Tensor, guidance_hr: torch.Tensor) -> torch.Tensor:
        check_inputs(lst_lr, guidance_hr, self.scale, self.guidance_channels)
        target = bicubic_upsample(lst_lr, self.scale)
        return self.head(self.spatial(target) + self.color(guidance_hr))


@register(
    "p2p", guided=True, learned=True,
    description="P2P pixel-to-pixel transformation (per-pixel MLPs, 2048 wide)",
)
def p2p(scale: int, guidance_channels: int, **kwargs: object) -> P2P:
    return P2P(scale, guidance_channels, **kwargs)  # type: ignore[arg-type]
