"""DAGF (Zhong et al., "Deep Attentional Guided Image Filtering", IEEE TNNLS 2023).

LST (bicubic-upsampled) and guidance features are built at HR and taken down a pyramid. From the
coarsest level up, a filtering block predicts a 3 x 3 kernel per pixel twice (from the LST
feature and from the guidance feature), blends the two with a weight map from a small U-Net
over both, and filters the previous level's result (nearest-upsampled x2, dilated taps) with
it. A light head turns the finest result into a residual on the bicubic upsample; coarser
levels feed it through a scaled skip.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.blocks import bicubic_upsample, check_inputs, pad_to_multiple, require_guidance
from models.registry import register


def _conv(in_channels: int, out_channels: int, kernel: int = 3, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2)]
    return nn.Sequential(*layers, nn.PReLU()) if act else nn.Sequential(*layers)


class AdaptiveNorm(nn.Module):
    """w0 * x + w1 * BN(x), starting as the identity (w0 = 1, w1 = 0)."""

    def __init__(self, channels: int):
        super().__init__()
        self.w0 = nn.Parameter(torch.ones(1))
        self.w1 = nn.Parameter(torch.zeros(1))
        self.norm = nn.BatchNorm2d(channels, momentum=0.999, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w0 * x + self.w1 * self.norm(x)


def _normed_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 conv -> adaptive norm -> PReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1), AdaptiveNorm(out_channels), nn.PReLU()
    )


class TinyUNet(nn.Module):
    """Two space-to-depth levels down, a residual transform, two depth-to-space levels up."""

    def __init__(self, channels: int):
        super().__init__()
        self.encode_1 = _normed_conv(channels, channels // 2)
        self.encode_2 = _normed_conv(channels * 2, channels)
        self.transform = nn.Sequential(
            _normed_conv(channels * 4, channels * 4), _normed_conv(channels * 4, channels * 4)
        )
        self.decode_1 = _normed_conv(channels * 4, channels * 8)
        self.decode_2 = _normed_conv(channels * 2, channels * 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = F.pixel_unshuffle(self.encode_1(x), 2)
        deep = F.pixel_unshuffle(self.encode_2(skip), 2)
        deep = self.transform(deep) + deep
        up = F.pixel_shuffle(self.decode_1(deep), 2)
        return F.pixel_shuffle(self.decode_2(up + skip), 2) + x


class PReLUResBlock(nn.Module):
    """prelu(x + conv(prelu(conv(x))))."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(_conv(channels, channels), _conv(channels, channels, act=False))
        self.act = nn.PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


class DownSample(nn.Sequential):
    """conv + PReLU, space-to-depth x2, 1x1 conv + PReLU back to ``channels``."""

    def __init__(self, channels: int):
        super().__init__(_conv(channels, channels), nn.PixelUnshuffle(2), _conv(4 * channels, channels, 1))


class AttentionalFilter(nn.Module):
    """One pyramid level: filter the x2-upsampled coarser result with blended per-pixel kernels."""

    def __init__(self, channels: int, kernel: int, res_blocks: int):
        super().__init__()
        self.kernel = kernel
        self.kernel_scale = nn.Parameter(torch.full((1,), 0.5 * kernel * kernel))
        self.lst_kernel = nn.Sequential(_conv(channels, channels, 1), _conv(channels, kernel**2, 1, act=False))
        self.guidance_kernel = nn.Sequential(
            _conv(channels, channels, 1), _conv(channels, kernel**2, 1, act=False)
        )
        self.weight_net = nn.Sequential(
            _normed_conv(2 * channels, channels), TinyUNet(channels), _normed_conv(channels, 1)
        )
        self.refine = nn.Sequential(*(PReLUResBlock(channels) for _ in range(res_blocks)))

    def forward(self, lst: torch.Tensor, guidance: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        weight = self.weight_net(torch.cat([lst, guidance], dim=1))
        blended = (weight * torch.softmax(self.lst_kernel(lst), dim=1)
                   + (1 - weight) * torch.softmax(self.guidance_kernel(guidance), dim=1))
        blended = torch.tanh(blended) / (self.kernel_scale + 1e-8)
        blended = blended / (blended.abs().sum(dim=1, keepdim=True) + 1e-4).clamp(min=1.0)
        up = F.interpolate(self.refine(coarse), scale_factor=2, mode="nearest")
        b, c, h, w = up.shape
        k = self.kernel
        taps = F.unfold(up, k, dilation=2, padding=(k // 2) * 2).reshape(b, c, k * k, h, w)
        return torch.einsum("bkhw,bckhw->bchw", blended, taps)


class DAGF(nn.Module):
    """DAGF: ``forward(lst_lr (B,1,h,w), guidance_hr (B,K,sh,sw)) -> (B,1,sh,sw)``.

    Defaults are the GrokLST configuration (32 features, 3 pyramid levels, 3 x 3 kernels, 2
    residual blocks). Differences from the reference: inputs are replicate-padded to a multiple
    of 2^(levels + 1) at HR (the reference needs it and fails otherwise), so every integer
    scale works; the coarsest level starts from the area-resized bicubic upsample instead of a
    nearest resize of the LR input (identical in spirit, defined for padded inputs); the
    reference's unused layers (a second stem per level, the per-level outputs that only its
    multi-scale loss would use, a tail) are left out: 48,077 of its 2,442,223 parameters at
    x4 (1.97 %), none of which receives a gradient there.
    """

    def __init__(
        self,
        scale: int,
        guidance_channels: int,
        channels: int = 32,
        levels: int = 3,
        kernel: int = 3,
        res_blocks: int = 2,
    ):
        super().__init__()
        require_guidance("DAGF", guidance_channels)
        if levels < 1:
            raise ValueError(f"levels must be >= 1, got {levels}")
        self.scale = scale
        self.guidance_channels = guidance_channels
        self.levels = levels
        self.lst_head = nn.Sequential(_conv(1, channels, act=False), _conv(channels, channels, 1))
        self.guidance_head = nn.Sequential(
            _conv(guidance_channels, channels, act=False), _conv(channels, channels, 1)
        )
        self.lst_pyramid = nn.ModuleList(DownSample(channels) for _ in range(levels - 1))
        self.guidance_pyramid = nn.ModuleList(DownSample(channels) for _ in range(levels - 1))
        self.starts = nn.ModuleList(
            nn.Sequential(_conv(1, channels), _conv(channels, channels, act=False))
            if i == 0 else _conv(1, channels)
            for i in range(levels)
        )
        self.merges = nn.ModuleList(_conv(2 * channels, channels, act=False) for _ in range(levels - 1))
        self.filters = nn.ModuleList(AttentionalFilter(channels, kernel, res_blocks) for _ in range(levels))
        self.outputs = nn.ModuleList(_conv(channels, channels) for _ in range(levels))
        self.skips = nn.ModuleList(_conv(channels, channels) for _ in range(levels - 1))
        self.skip_scales = nn.Parameter(torch.zeros(levels - 1))
        self.head = _conv(channels, 1)

    def forward(self, lst_lr: torch.Tensor, guidance_hr: torch.Tensor) -> torch.Tensor:
        check_inputs(lst_lr, guidance_hr, self.scale, self.guidance_channels)
        target = bicubic_upsample(lst_lr, self.scale)
        h, w = target.shape[-2:]
        # the U-Net of the coarsest level (HR / 2^(levels-1)) halves its input twice
        multiple = 2 ** (self.levels + 1)
        padded = pad_to_multiple(target, multiple)
        lst = [self.lst_head(padded)]
        guidance = [self.guidance_head(pad_to_multiple(guidance_hr, multiple))]
        for lst_down, guidance_down in zip(self.lst_pyramid, self.guidance_pyramid):
            lst.append(lst_down(lst[-1]))
            guidance.append(guidance_down(guidance[-1]))
        result: torch.Tensor | None = None
        feature: torch.Tensor | None = None
        for i in range(self.levels):
            level = self.levels - 1 - i
            size = (lst[level].shape[-2] // 2, lst[level].shape[-1] // 2)
            start = self.starts[i](F.interpolate(padded, size=size, mode="area"))
            if result is not None:
                start = self.merges[i - 1](torch.cat([start, result], dim=1))
            result = self.filters[i](lst[level], guidance[level], start)
            out = self.outputs[i](result)
            if feature is not None:
                skip = self.skip_scales[i - 1] * F.interpolate(feature, scale_factor=2, mode="nearest")
                out = self.skips[i - 1](skip + out)
            feature = out
        assert feature is not None
        return self.head(feature)[..., :h, :w] + target


@register(
    "dagf", guided=True, learned=True,
    description="DAGF deep attentional guided filtering (3-level pyramid, 32 ch)",
)
def dagf(scale: int, guidance_channels: int, **kwargs: object) -> DAGF:
    return DAGF(scale, guidance_channels, **kwargs)  # type: ignore[arg-type]
