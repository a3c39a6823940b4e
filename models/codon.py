"""CODON (Yang, Cao, Zhang and Tao, "CODON: on orchestrating cross-domain attentions for depth
super-resolution", IJCV 130(2), 2022).

Everything runs at HR on the bicubic-upsampled LST. An LST branch and a guidance branch each
refine their stem feature by a recursive multi-scale unit (3x3 and 5x5 convolutions side by
side, a 5x5 convolution over both, a 1x1 back to the width; one set of weights shared by every
recursion of a branch). After each recursion a cross-domain attention (CAC) looks at both
branches at once: a channel gate (shared MLP over the global average and maximum of the
concatenated features) times a spatial gate (a 5x5 convolution over their channel maximum and
mean) gives one mask that multiplies both branches, which are then added to their stems. The
two branches are fused by a 3x3 convolution and refined by a third recursive multi-scale unit
(each recursion added to the fused feature); two convolutions make the residual on the bicubic
upsample.
"""

from __future__ import annotations

import torch
from torch import nn

from models.blocks import bicubic_upsample, check_inputs, require_guidance
from models.registry import register

SPATIAL_KERNEL = 5  # CAC's spatial-gate convolution


def _conv(in_channels: int, out_channels: int, kernel: int) -> nn.Conv2d:
    """A 'same'-padded convolution without bias (CODON's convolutions have none)."""
    return nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, bias=False)


class MultiScaleUnit(nn.Module):
    """One recursion: [relu(3x3(x)), relu(5x5(x))] -> relu(5x5, 2C -> 2C) -> 1x1 to C (linear)."""

    def __init__(self, channels: int):
        super().__init__()
        self.small = _conv(channels, channels, 3)
        self.large = _conv(channels, channels, 5)
        self.mix = _conv(2 * channels, 2 * channels, 5)
        self.squeeze = _conv(2 * channels, channels, 1)
        self.act = nn.ReLU(inplace=True)  # every activation follows a convolution of its own

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        both = torch.cat([self.act(self.small(x)), self.act(self.large(x))], dim=1)
        return self.squeeze(self.act(self.mix(both)))


class CrossDomainAttention(nn.Module):
    """CAC: (LST, guidance), C channels each -> one (B, C, H, W) mask in (0, 1) for both.

    Channel gate: sigmoid(MLP(avg) + MLP(max)) of the concatenated [guidance, LST] feature, the
    MLP going 2C -> 2C / reduction -> C; spatial gate: sigmoid of a 5x5 convolution (no bias)
    over its channel maximum and mean. The mask is their product.
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        joint = 2 * channels
        hidden = max(1, joint // reduction)
        self.channel_mlp = nn.Sequential(
            nn.Linear(joint, hidden), nn.ReLU(), nn.Linear(hidden, channels)
        )
        self.spatial = _conv(2, 1, SPATIAL_KERNEL)

    def forward(self, lst: torch.Tensor, guidance: torch.Tensor) -> torch.Tensor:
        joint = torch.cat([guidance, lst], dim=1)
        pooled = torch.stack([joint.mean(dim=(2, 3)), joint.amax(dim=(2, 3))])  # (2, B, 2C)
        channel = torch.sigmoid(self.channel_mlp(pooled).sum(dim=0))[:, :, None, None]
        descriptor = torch.cat(
            [joint.amax(dim=1, keepdim=True), joint.mean(dim=1, keepdim=True)], dim=1
        )
        return channel * torch.sigmoid(self.spatial(descriptor))


class CODON(nn.Module):
    """CODON: ``forward(lst_lr (B,1,h,w), guidance_hr (B,K,sh,sw)) -> (B,1,sh,sw)``.

    Defaults are the reference configuration, as the GrokLST toolkit runs it at x4
    (``CODONNet4``/``CODONNet8``, the authors' ``CODONNet`` with a K-band guidance input and
    the bicubic upsampling inside): 64 channels, 5 attended recursions in each branch (one CAC
    each, the convolutions shared), 3 fusion recursions, channel-gate reduction 16; the
    convolutions are initialised from N(0, 2 / (k^2 out)) as the reference does (the CAC layers
    keep PyTorch's default initialisation, as there). 1,870,690 parameters at x4 with 10 bands.

    That initialisation makes a network of bias-free convolutions whose initial residual is
    far from zero: on unit-variance inputs its standard deviation is about 15-40 (about 0.01
    with PyTorch's default initialisation), which a short training run does not undo.
    ``reference_init=False`` keeps PyTorch's default for every layer (not the reference; for
    comparisons of the architecture rather than of the published recipe).

    Differences from the reference: its ``attention_c5`` (a CBAM channel gate at 64 channels)
    and ``attention_s5`` (a CAC spatial gate), built but never called by its forward, are left
    out (630 of its 1,871,320 parameters, 0.03 %); the guidance branch and the fusion unit
    concatenate their parallel 3x3 and 5x5 outputs in the order (3x3, 5x5) where the reference
    has (5x5, 3x3) there, which only permutes the next convolution's input channels (the same
    function class, the same initial distribution); the channel gate's hidden width is at least
    one at widths the reference does not use (``2 * channels < reduction``). The design has no
    scale-specific layer, so every integer scale works (the authors ship x4/x8/x16 copies of one
    network; Table IX has no x2 entry for CODON, which GrokLST did not run there). As for
    MoCoLSK, the channel gate pools over the whole input, so a tiled result depends slightly on
    the tile.
    """

    def __init__(
        self,
        scale: int,
        guidance_channels: int,
        channels: int = 64,
        recursions: int = 5,
        fusion_recursions: int = 3,
        reduction: int = 16,
        reference_init: bool = True,
    ):
        super().__init__()
        require_guidance("CODON", guidance_channels)
        if recursions < 1 or fusion_recursions < 1:
            raise ValueError(
                "recursions and fusion_recursions must be >= 1, "
                f"got {recursions} and {fusion_recursions}"
            )
        self.scale = scale
        self.guidance_channels = guidance_channels
        self.fusion_recursions = fusion_recursions
        act = nn.ReLU(inplace=True)
        self.lst_stem = nn.Sequential(_conv(1, channels, 3), act, _conv(channels, channels, 3), act)
        self.guidance_stem = nn.Sequential(
            _conv(guidance_channels, channels, 3), act, _conv(channels, channels, 3), act
        )
        self.lst_unit = MultiScaleUnit(channels)
        self.guidance_unit = MultiScaleUnit(channels)
        self.fuse = nn.Sequential(_conv(2 * channels, channels, 3), act)
        self.fusion_unit = MultiScaleUnit(channels)
        self.head = nn.Sequential(_conv(channels, channels, 3), act, _conv(channels, 1, 3))
        if reference_init:
            for module in self.modules():
                if isinstance(module, nn.Conv2d):
                    nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        # built after the initialisation above, as in the reference
        self.attentions = nn.ModuleList(
            CrossDomainAttention(channels, reduction) for _ in range(recursions)
        )

    def forward(self, lst_lr: torch.Tensor, guidance_hr: torch.Tensor) -> torch.Tensor:
        check_inputs(lst_lr, guidance_hr, self.scale, self.guidance_channels)
        target = bicubic_upsample(lst_lr, self.scale)
        lst_stem = self.lst_stem(target)
        guidance_stem = self.guidance_stem(guidance_hr)
        lst, guidance = lst_stem, guidance_stem
        for attention in self.attentions:
            lst = self.lst_unit(lst)
            guidance = self.guidance_unit(guidance)
            mask = attention(lst, guidance)
            lst = lst * mask + lst_stem
            guidance = guidance * mask + guidance_stem
        fused = self.fuse(torch.cat([lst, guidance], dim=1))
        x = fused
        for _ in range(self.fusion_recursions):
            x = self.fusion_unit(x) + fused
        return target + self.head(x)


@register(
    "codon", guided=True, learned=True,
    description="CODON cross-domain attention (recursive multi-scale branches at HR, 64 ch)",
)
def codon(scale: int, guidance_channels: int, **kwargs: object) -> CODON:
    return CODON(scale, guidance_channels, **kwargs)  # type: ignore[arg-type]
