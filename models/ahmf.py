"""AHMF (Zhong et al., "High-Resolution Depth Maps Imaging via Attention-Based Hierarchical
Multi-Modal Fusion", IEEE TIP 2022).

Everything runs at LR: the HR guidance is brought down by space-to-depth steps. Both branches
extract a hierarchy of four features; at each level a fusion block gates both features,
re-weights them with a multi-modal attention (squeeze, average + variance pooling, one sigmoid
excitation per modality) and merges them in a residual block. A bi-directional convolutional
GRU runs over the four fused levels (deep to shallow and back), its two hidden states are
summed per level, and the four levels are concatenated, upsampled by sub-pixel steps and added
to the bicubic upsample.
"""

from __future__ import annotations

import torch
from torch import nn

from models.blocks import bicubic_upsample, check_inputs, require_guidance, upsampling_steps
from models.registry import register


def _conv_prelu(in_channels: int, out_channels: int, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2), nn.PReLU())


def _step_kernel(scale: int) -> int:
    """The reference's kernel size of each resampling step: 3 at x8, 5 at x16, 1 otherwise."""
    return {8: 3, 16: 5}.get(scale, 1)


class SpaceToDepth(nn.Sequential):
    """HR features to LR: per step, pixel-unshuffle by the step's factor, conv, PReLU."""

    def __init__(self, channels: int, scale: int):
        kernel = _step_kernel(scale)
        layers: list[nn.Module] = []
        for step in upsampling_steps(scale):
            layers += [nn.PixelUnshuffle(step), *_conv_prelu(channels * step * step, channels, kernel)]
        super().__init__(*layers)


class DepthToSpace(nn.Sequential):
    """LR features to HR: per step, conv to step^2 x channels, pixel-shuffle, PReLU."""

    def __init__(self, channels: int, scale: int):
        kernel = _step_kernel(scale)
        layers: list[nn.Module] = []
        for step in upsampling_steps(scale):
            layers += [
                nn.Conv2d(channels, channels * step * step, kernel, padding=kernel // 2),
                nn.PixelShuffle(step),
                nn.PReLU(),
            ]
        super().__init__(*layers)


class PReLUResBlock(nn.Module):
    """act(x + conv(act(conv(x)))) with PReLU activations."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            _conv_prelu(channels, channels), nn.Conv2d(channels, channels, 3, padding=1)
        )
        self.act = nn.PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


class GatedConv(nn.Module):
    """sigmoid(conv(x)) * prelu(conv(x)): a learned per-pixel filter of a feature."""

    def __init__(self, channels: int):
        super().__init__()
        self.gate = nn.Conv2d(channels, channels, 3, padding=1)
        self.feature = _conv_prelu(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.gate(x)) * self.feature(x)


class MultiModalAttention(nn.Module):
    """MMAB: channel weights for each modality from the mean + variance of their joint feature."""

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        squeezed = max(1, 2 * channels // reduction)
        self.squeeze = _conv_prelu(2 * channels, squeezed)
        self.excite_lst = nn.Conv2d(squeezed, channels, 1)
        self.excite_guidance = nn.Conv2d(squeezed, channels, 1)

    def forward(self, lst: torch.Tensor, guidance: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        joint = self.squeeze(torch.cat([lst, guidance], dim=1))
        mean = joint.mean(dim=(2, 3), keepdim=True)
        statistic = mean + (joint - mean).square().mean(dim=(2, 3), keepdim=True)
        lst_weight = torch.sigmoid(self.excite_lst(statistic))
        guidance_weight = torch.sigmoid(self.excite_guidance(statistic))
        return lst * lst_weight / 2, guidance * guidance_weight / 2


class FusionBlock(nn.Module):
    """Gate both features, re-weight them with MMAB, merge their sum in a residual block."""

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        self.gate_lst = GatedConv(channels)
        self.gate_guidance = GatedConv(channels)
        self.attention = MultiModalAttention(channels, reduction)
        self.merge = PReLUResBlock(channels)

    def forward(self, lst: torch.Tensor, guidance: torch.Tensor) -> torch.Tensor:
        lst, guidance = self.attention(self.gate_lst(lst), self.gate_guidance(guidance))
        return self.merge(lst + guidance)


class ConvGRUCell(nn.Module):
    """h' = (1 - z) h + z tanh(conv([x, r h])), with z and r sigmoid gates of conv([x, h])."""

    def __init__(self, channels: int, kernel: int = 3):
        super().__init__()
        self.update = nn.Conv2d(2 * channels, channels, kernel, padding=kernel // 2)
        self.reset = nn.Conv2d(2 * channels, channels, kernel, padding=kernel // 2)
        self.candidate = nn.Conv2d(2 * channels, channels, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        xh = torch.cat([x, h], dim=1)
        z = torch.sigmoid(self.update(xh))
        r = torch.sigmoid(self.reset(xh))
        candidate = torch.tanh(self.candidate(torch.cat([x, r * h], dim=1)))
        return (1 - z) * h + z * candidate


class ConvGRU(nn.Module):
    """Stacked ConvGRU layers over a list of features; returns the last layer's states."""

    def __init__(self, channels: int, layers: int = 2):
        super().__init__()
        self.cells = nn.ModuleList(ConvGRUCell(channels) for _ in range(layers))

    def forward(self, sequence: list[torch.Tensor]) -> list[torch.Tensor]:
        for cell in self.cells:
            h = torch.zeros_like(sequence[0])
            states = []
            for x in sequence:
                h = cell(x, h)
                states.append(h)
            sequence = states
        return sequence


class AHMF(nn.Module):
    """AHMF: ``forward(lst_lr (B,1,h,w), guidance_hr (B,K,sh,sw)) -> (B,1,sh,sw)``.

    Defaults are the reference configuration (64 channels, 4 levels, MMAB reduction 4, a
    2-layer ConvGRU each way, PReLU activations). Differences from the public code: the
    space-to-depth and depth-to-space steps exist for every integer scale (x2 steps for powers
    of two as in the reference, one xs step otherwise, e.g. x3); the GRU's initial state is
    created on the input's device (the reference hard-codes CUDA).
    """

    def __init__(
        self,
        scale: int,
        guidance_channels: int,
        channels: int = 64,
        levels: int = 4,
        reduction: int = 4,
        gru_layers: int = 2,
    ):
        super().__init__()
        require_guidance("AHMF", guidance_channels)
        if levels < 1:
            raise ValueError(f"levels must be >= 1, got {levels}")
        self.scale = scale
        self.guidance_channels = guidance_channels
        self.lst_stem = _conv_prelu(1, channels)
        self.guidance_stem = nn.Sequential(
            _conv_prelu(guidance_channels, channels), SpaceToDepth(channels, scale)
        )
        self.lst_levels = nn.ModuleList(_conv_prelu(channels, channels) for _ in range(levels - 1))
        self.guidance_levels = nn.ModuleList(
            _conv_prelu(channels, channels) for _ in range(levels - 1)
        )
        self.fusions = nn.ModuleList(FusionBlock(channels, reduction) for _ in range(levels))
        self.forward_gru = ConvGRU(channels, gru_layers)
        self.backward_gru = ConvGRU(channels, gru_layers)
        self.merge = nn.ModuleList(PReLUResBlock(channels) for _ in range(levels))
        self.tail = nn.Sequential(
            _conv_prelu(levels * channels, channels, kernel=1),
            DepthToSpace(channels, scale),
            nn.Conv2d(channels, 1, 3, padding=1),
        )

    def forward(self, lst_lr: torch.Tensor, guidance_hr: torch.Tensor) -> torch.Tensor:
        check_inputs(lst_lr, guidance_hr, self.scale, self.guidance_channels)
        lst = [self.lst_stem(lst_lr)]
        guidance = [self.guidance_stem(guidance_hr)]
        for lst_level, guidance_level in zip(self.lst_levels, self.guidance_levels):
            lst.append(lst_level(lst[-1]))
            guidance.append(guidance_level(guidance[-1]))
        fused = [fusion(l, g) for fusion, l, g in zip(self.fusions, lst[::-1], guidance[::-1])]
        forward_states = self.forward_gru(fused)
        backward_states = self.backward_gru(fused[::-1])[::-1]
        merged = [
            merge(f + b) for merge, f, b in zip(self.merge, forward_states, backward_states)
        ]
        return self.tail(torch.cat(merged, dim=1)) + bicubic_upsample(lst_lr, self.scale)


@register(
    "ahmf", guided=True, learned=True,
    description="AHMF attention-based hierarchical multi-modal fusion with a bi-directional ConvGRU",
)
def ahmf(scale: int, guidance_channels: int, **kwargs: object) -> AHMF:
    return AHMF(scale, guidance_channels, **kwargs)  # type: ignore[arg-type]
