"""DSRN (Ye et al., "Depth Super-Resolution with Deep Edge-Inference Network and Edge-Guided
Depth Filling", here in the GrokLST toolkit's form of its U-Net).

A U-Net at HR: the encoder takes the bicubic-upsampled LST down four max-pooling levels
(64 -> 512 channels), each level also receiving a feature of the equally pooled upsampled LST;
the decoder climbs back with transposed convolutions, concatenating at each level the
encoder's feature and a guidance feature of that resolution; the result is a residual on the
bicubic upsample. Every convolution is followed by batch normalisation and ReLU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.blocks import bicubic_upsample, check_inputs, pad_to_multiple, require_guidance
from models.registry import register

LEVELS = 4  # max-pooling levels: inputs are padded to a multiple of 2^LEVELS


def _conv(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.BatchNorm2d(out_channels), nn.ReLU()
    )


def _up(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(in_channels, out_channels, 3, stride=2, padding=1, output_padding=1),
        nn.BatchNorm2d(out_channels), nn.ReLU(),
    )


class DSRN(nn.Module):
    """DSRN: ``forward(lst_lr (B,1,h,w), guidance_hr (B,K,sh,sw)) -> (B,1,sh,sw)``.

    Reference configuration (widths 64, 128, 256, 512 and a 1024-channel bottom, BN as the
    GrokLST toolkit adds it). Differences from the reference: its last layer is conv -> BN ->
    ReLU, so the residual it adds to the bicubic upsample can never be negative (the positive
    BIAS of DSRN in Table IX); here the last convolution is linear. HR inputs are
    replicate-padded to a multiple of 16 (and the output cropped), so every scale and size works.
    """

    def __init__(self, scale: int, guidance_channels: int, channels: int = 64):
        super().__init__()
        require_guidance("DSRN", guidance_channels)
        self.scale = scale
        self.guidance_channels = guidance_channels
        widths = [channels * 2**i for i in range(LEVELS)]  # 64, 128, 256, 512
        self.guidance = nn.ModuleList(
            _conv(guidance_channels if i == 0 else widths[i - 1], widths[i]) for i in range(LEVELS)
        )
        self.pooled_lst = nn.ModuleList(_conv(1, widths[i]) for i in range(LEVELS))
        self.encoder = nn.ModuleList(
            nn.Sequential(_conv(1 if i == 0 else widths[i], widths[i]), _conv(widths[i], widths[i]))
            for i in range(LEVELS)
        )
        bottom = 2 * widths[-1]
        self.bottom = nn.Sequential(_conv(bottom, bottom), _conv(bottom, bottom), _up(bottom, widths[-1]))
        self.decoder = nn.ModuleList(
            nn.Sequential(
                _conv(3 * widths[i], widths[i]), _conv(widths[i], widths[i]),
                _up(widths[i], widths[i - 1]),
            )
            for i in range(LEVELS - 1, 0, -1)
        )
        self.tail = nn.Sequential(
            _conv(3 * widths[0], widths[0]), _conv(widths[0], widths[0]),
            nn.Conv2d(widths[0], 1, 3, padding=1),
        )

    def forward(self, lst_lr: torch.Tensor, guidance_hr: torch.Tensor) -> torch.Tensor:
        check_inputs(lst_lr, guidance_hr, self.scale, self.guidance_channels)
        target = bicubic_upsample(lst_lr, self.scale)
        h, w = target.shape[-2:]
        x = pad_to_multiple(target, 2**LEVELS)
        g = pad_to_multiple(guidance_hr, 2**LEVELS)
        guidance = []
        for i, conv in enumerate(self.guidance):
            g = conv(g if i == 0 else F.max_pool2d(g, 2))
            guidance.append(g)
        pooled, encoded = x, []
        feature = self.encoder[0](x)
        encoded.append(feature)
        for i in range(1, LEVELS + 1):
            pooled = F.max_pool2d(pooled, 2)
            joined = torch.cat([F.max_pool2d(feature, 2), self.pooled_lst[i - 1](pooled)], dim=1)
            if i == LEVELS:
                feature = self.bottom(joined)
            else:
                feature = self.encoder[i](joined)
                encoded.append(feature)
        for decoder, level in zip(self.decoder, range(LEVELS - 1, 0, -1)):
            feature = decoder(torch.cat([feature, guidance[level], encoded[level]], dim=1))
        out = self.tail(torch.cat([feature, guidance[0], encoded[0]], dim=1))
        return out[..., :h, :w] + target


@register(
    "dsrn", guided=True, learned=True,
    description="DSRN guided U-Net at HR (64-1024 channels, BN)",
)
def dsrn(scale: int, guidance_channels: int, **kwargs: object) -> DSRN:
    return DSRN(scale, guidance_channels, **kwargs)  # type: ignore[arg-type]
