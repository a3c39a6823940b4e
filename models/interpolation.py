"""Non-learned baselines: bicubic and bilinear upsampling behind the model interface."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.registry import register


class Interpolation(nn.Module):
    """Upsample the LR LST by ``scale`` with torch's interpolation; the guidance is ignored."""

    def __init__(self, scale: int, mode: str = "bicubic"):
        super().__init__()
        if mode not in ("bicubic", "bilinear"):
            raise ValueError(f"mode must be 'bicubic' or 'bilinear', got {mode!r}")
        self.scale = scale
        self.mode = mode

    def forward(self, lst_lr: torch.Tensor, guidance_hr: torch.Tensor | None = None) -> torch.Tensor:
        return F.interpolate(lst_lr, scale_factor=self.scale, mode=self.mode, align_corners=False)


@register("bicubic", guided=False, learned=False, description="Bicubic interpolation (no weights)")
def bicubic(scale: int, guidance_channels: int = 0) -> Interpolation:
    return Interpolation(scale, "bicubic")


@register("bilinear", guided=False, learned=False, description="Bilinear interpolation (no weights)")
def bilinear(scale: int, guidance_channels: int = 0) -> Interpolation:
    return Interpolation(scale, "bilinear")
