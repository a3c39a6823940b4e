"""RSAG (Yuan et al., "Recurrent Structure Attention Guidance for Depth Super-Resolution",
AAAI 2023).

The bicubic-upsampled LST is split by a small edge network into a structure part and a
low-frequency remainder. The structure part and the guidance are encoded at HR and taken down
a pyramid of x2 stages (the two share the down-sampling blocks); from LR, a decoder of x2
stages (residual CBAM blocks, sub-pixel upsampling) climbs back, concatenating at each level
the LST pyramid feature, a structure attention of guidance against LST and an LST feature. The
low-frequency branch adds a correction from the last two decoder levels. The whole decoding
runs twice: the second pass replaces the LST features by the pyramid of the first pass's
prediction (the recurrence).
"""

from __future__ import annotations

import torch
from torch import nn

from models.blocks import ChannelAttention, bicubic_upsample, check_inputs, conv3x3, require_guidance
from models.registry import register


class EdgeSplit(nn.Module):
    """Three stages of |difference of two single-channel filters| -> sigmoid; x -> (edges, x - edges).

    The PReLUs are shared between stages as in the reference (``DCN``); its unused layers are
    left out.
    """

    def __init__(self):
        super().__init__()
        self.filters = nn.ModuleList(
            nn.Conv2d(1, 1, k, padding=k // 2, bias=False) for k in (5, 7, 3, 5, 1, 3)
        )
        self.acts = nn.ModuleList(nn.PReLU() for _ in range(4))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f, a = self.filters, self.acts
        edge = torch.sigmoid((a[1](f[1](x)) - a[0](f[0](x))).abs())
        edge = torch.sigmoid((a[0](f[2](edge)) - a[1](f[3](edge))).abs())
        edge = torch.sigmoid((a[2](f[4](edge)) - a[3](f[5](edge))).abs())
        return edge, x - edge


class SpatialAttention(nn.Module):
    """CBAM spatial attention: x * sigmoid(conv3x3([mean_c(x), max_c(x)]))."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        descriptor = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(descriptor))


class CBAMBlock(nn.Module):
    """x + SA(CA(conv(relu(conv(x)))))."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.body = nn.Sequential(
            conv3x3(channels, channels), nn.ReLU(), conv3x3(channels, channels),
            ChannelAttention(channels, reduction), SpatialAttention(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class DownBlock(nn.Sequential):
    """x2 down-sampling: strided conv (no bias), LeakyReLU 0.2, conv to ``out_channels``."""

    def __init__(self, channels: int, out_channels: int):
        super().__init__(
            nn.Conv2d(channels, channels, 3, stride=2, padding=1, bias=False),
            nn.LeakyReLU(0.2),
            nn.Conv2d(channels, out_channels, 3, padding=1, bias=False),
        )


class StructureAttention(nn.Module):
    """Where guidance and LST structure both change: SA(CA(|g1 - g3| + |d1 - d3|)) + gamma * g."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.guidance_1x1 = nn.Sequential(nn.Conv2d(channels, channels, 1), nn.PReLU())
        self.guidance_3x3 = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.PReLU())
        self.guidance_pass = nn.Sequential(nn.Conv2d(channels, channels, 1), nn.PReLU())
        self.lst_1x1 = nn.Sequential(nn.Conv2d(channels, channels, 1), nn.PReLU())
        self.lst_3x3 = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.PReLU())
        self.channel = ChannelAttention(channels, reduction)
        self.spatial = SpatialAttention()
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, lst: torch.Tensor, guidance: torch.Tensor) -> torch.Tensor:
        guidance_change = (self.guidance_1x1(guidance) - self.guidance_3x3(guidance)).abs()
        lst_change = (self.lst_1x1(lst) - self.lst_3x3(lst)).abs()
        attention = self.spatial(self.channel(guidance_change + lst_change))
        return attention + self.gamma * self.guidance_pass(guidance)


class RSAG(nn.Module):
    """RSAG: ``forward(lst_lr (B,1,h,w), guidance_hr (B,K,sh,sw)) -> (B,1,sh,sw)``.

    Defaults are the reference configuration (16 features, 30 CBAM blocks per decoder level,
    two passes). ``scale`` must be a power of two >= 4: the low-frequency correction joins the
    last two decoder levels, which x2 does not have (Table IX has no x2 row for RSAG either).
    The reference's unused layers (a 5x5 transform and a second channel and spatial attention
    per structure attention, a 2->1 convolution and two PReLUs of the edge network) are left
    out: 32,315 of its 12,026,779 parameters at x4 (0.27 %), none of which receives a gradient
    there.
    """

    def __init__(
        self,
        scale: int,
        guidance_channels: int,
        channels: int = 16,
        blocks: int = 30,
        reduction: int = 16,
    ):
        super().__init__()
        require_guidance("RSAG", guidance_channels)
        self.scale = scale
        self.guidance_channels = guidance_channels
        self.levels = levels = scale.bit_length() - 1
        n = channels
        self.edges = EdgeSplit()
        self.head = conv3x3(1, n)
        self.guidance_head = conv3x3(guidance_channels, n)
        # level k of the pyramid is at HR / 2^k with n * 2^k channels
        self.down = nn.ModuleList(DownBlock(n * 2**k, n * 2 ** (k + 1)) for k in range(levels))
        self.down_low = DownBlock(n, 2 * n)
        # decoder step i goes from level levels-i to levels-i-1 and outputs n * 2^(levels-i-1)
        self.lst_features = nn.ModuleList(
            conv3x3(1, n * 2 ** (levels - i - 1)) for i in range(levels)
        )
        self.attention = nn.ModuleList(
            StructureAttention(n * 2 ** (levels - i - 1), reduction) for i in range(levels)
        )
        self.decoder = nn.ModuleList()
        for i in range(levels):
            width = n * 2**levels if i == 0 else 4 * n * 2 ** (levels - i)
            self.decoder.append(
                nn.Sequential(
                    *(CBAMBlock(width, reduction) for _ in range(blocks)),
                    conv3x3(width, 4 * width), nn.PixelShuffle(2),
                    nn.Conv2d(width, n * 2 ** (levels - i - 1), 1),
                )
            )
        self.up_low = nn.Sequential(
            nn.ConvTranspose2d(4 * n, n, 5, stride=2, padding=2, output_padding=1), nn.PReLU()
        )
        self.tail = conv3x3(4 * n, 1)
        self.tail_low = conv3x3(2 * n, 1)

    def _pyramid(self, x: torch.Tensor, depth: int) -> list[torch.Tensor]:
        """[x, down_0(x), ...]: the levels 0..depth of ``x`` (level ``self.levels`` is LR)."""
        levels = [x]
        for down in self.down[:depth]:
            levels.append(down(levels[-1]))
        return levels

    def _decode(
        self, lr_feature: torch.Tensor, lst_features: list[torch.Tensor],
        pyramid: list[torch.Tensor], guidance: list[torch.Tensor], low: torch.Tensor,
    ) -> torch.Tensor:
        """One pass from LR to HR; ``lst_features[i]`` is at decoder step i's output level."""
        x, outputs = lr_feature, []
        for i, (decoder, attention) in enumerate(zip(self.decoder, self.attention)):
            level = self.levels - i - 1
            x = decoder(x)
            outputs.append(x)
            structure = attention(lst_features[i], guidance[level])
            x = torch.cat([x, pyramid[level], structure, lst_features[i]], dim=1)
        correction = torch.cat([self.down_low(low), outputs[-2]], dim=1)
        correction = self.tail_low(torch.cat([self.up_low(correction), outputs[-1]], dim=1))
        return self.tail(x) + correction

    def forward(self, lst_lr: torch.Tensor, guidance_hr: torch.Tensor) -> torch.Tensor:
        check_inputs(lst_lr, guidance_hr, self.scale, self.guidance_channels)
        structure, low_frequency = self.edges(bicubic_upsample(lst_lr, self.scale))
        pyramid = self._pyramid(self.head(structure), self.levels)
        guidance = self._pyramid(self.guidance_head(guidance_hr), self.levels - 1)
        low = self.head(low_frequency)
        upsampled, first_lst = lst_lr, []
        for i in range(self.levels):
            upsampled = bicubic_upsample(upsampled, 2)
            first_lst.append(self.lst_features[i](upsampled))
        first = self._decode(pyramid[-1], first_lst, pyramid, guidance, low) + low_frequency
        prediction = self._pyramid(self.head(first), self.levels - 1)
        second_lst = [prediction[self.levels - i - 1] for i in range(self.levels)]
        return self._decode(pyramid[-1], second_lst, pyramid, guidance, low) + low_frequency


@register(
    "rsag", guided=True, learned=True, scales=(4, 8, 16),
    description="RSAG recurrent structure attention guidance (2 passes, 30 CBAM per level)",
)
def rsag(scale: int, guidance_channels: int, **kwargs: object) -> RSAG:
    return RSAG(scale, guidance_channels, **kwargs)  # type: ignore[arg-type]
