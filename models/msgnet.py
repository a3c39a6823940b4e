"""MSG-Net (Hui et al., "Depth Map Super-Resolution by Deep Multi-Scale Guidance", ECCV 2016).

The network works on high frequencies: the LR LST minus its Gaussian low-pass is upsampled by
x2 transposed-convolution stages, and at every stage concatenated with the guidance branch's
feature of that resolution (a pyramid of convolutions and max-pooling over the high-pass of the
band mean, min-max scaled per image). The result is added to the Gaussian low-pass of the
bicubic-upsampled LST.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from models.blocks import bicubic_upsample, check_inputs, require_guidance
from models.registry import register

GAUSSIAN_SIZE, GAUSSIAN_SIGMA = 15, 5.0


def _conv(in_channels: int, out_channels: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2), nn.PReLU())


def gaussian_kernel(size: int = GAUSSIAN_SIZE, sigma: float = GAUSSIAN_SIGMA) -> torch.Tensor:
    """A normalised (1, 1, size, size) Gaussian."""
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    kernel = g[:, None] * g[None, :]
    return (kernel / kernel.sum())[None, None]


class MSGNet(nn.Module):
    """MSG-Net: ``forward(lst_lr (B,1,h,w), guidance_hr (B,K,sh,sw)) -> (B,1,sh,sw)``.

    Reference configuration (the GrokLST toolkit's ``DMSG``): guidance head 7x7 -> 49 and
    5x5 -> 32 channels, per x2 stage a 5x5 transposed convolution (stride 2), a fusing 5x5
    one after concatenation and a 5x5 convolution, all 32 channels with PReLU. ``scale`` must
    be a power of two (the design is x2 stages). Difference: the Gaussian low-pass pads by
    replication, not zeros, so borders are not darkened; the guide's min-max scaling has an
    epsilon so a constant guide does not divide by zero.
    """

    def __init__(self, scale: int, guidance_channels: int, channels: int = 32, head_channels: int = 49):
        super().__init__()
        require_guidance("MSG-Net", guidance_channels)
        self.scale = scale
        self.guidance_channels = guidance_channels
        self.stages = stages = int(math.log2(scale))
        self.register_buffer("gaussian", gaussian_kernel(), persistent=False)
        self.guidance_head = nn.Sequential(_conv(1, head_channels, 7), _conv(head_channels, channels, 5))
        self.guidance_levels = nn.ModuleList(
            nn.Sequential(_conv(channels, channels, 5), nn.MaxPool2d(3, 2, padding=1))
            for _ in range(stages - 1)
        )
        self.lst_stem = _conv(1, 2 * channels, 5)
        self.up = nn.ModuleList()
        self.fuse = nn.ModuleList()
        self.refine = nn.ModuleList()
        for i in range(stages):
            self.up.append(nn.Sequential(
                nn.ConvTranspose2d(2 * channels if i == 0 else channels, channels, 5, stride=2,
                                   padding=2, output_padding=1),
                nn.PReLU(),
            ))
            self.fuse.append(_conv(2 * channels, channels, 5))
            self.refine.append(_conv(channels, channels, 5))
        self.tail = nn.Sequential(_conv(channels, channels, 5), _conv(channels, 1, 5))

    def low_pass(self, x: torch.Tensor) -> torch.Tensor:
        pad = GAUSSIAN_SIZE // 2
        return F.conv2d(F.pad(x, (pad, pad, pad, pad), mode="replicate"), self.gaussian)

    def forward(self, lst_lr: torch.Tensor, guidance_hr: torch.Tensor) -> torch.Tensor:
        check_inputs(lst_lr, guidance_hr, self.scale, self.guidance_channels)
        guide = guidance_hr.mean(dim=1, keepdim=True)
        guide = guide - self.low_pass(guide)
        low = guide.amin(dim=(2, 3), keepdim=True)
        guide = (guide - low) / (guide.amax(dim=(2, 3), keepdim=True) - low + 1e-6)
        pyramid = [self.guidance_head(guide)]
        for level in self.guidance_levels:
            pyramid.append(level(pyramid[-1]))
        x = self.lst_stem(lst_lr - self.low_pass(lst_lr))
        for i, (up, fuse, refine) in enumerate(zip(self.up, self.fuse, self.refine)):
            guidance = pyramid[self.stages - 1 - i]
            x = refine(fuse(torch.cat([guidance, up(x)], dim=1)))
        return self.tail(x) + self.low_pass(bicubic_upsample(lst_lr, self.scale))


@register(
    "msgnet", guided=True, learned=True, scales=(2, 4, 8, 16),
    description="MSG-Net multi-scale guidance on high frequencies (x2 stages)",
)
def msgnet(scale: int, guidance_channels: int, **kwargs: object) -> MSGNet:
    return MSGNet(scale, guidance_channels, **kwargs)  # type: ignore[arg-type]
