"""FeNet (Wang et al., "FeNet: Feature Enhancement Network for Lightweight Remote-Sensing Image
Super-Resolution", IEEE TGRS 2022).

Feature enhancement blocks of three lightweight lattice blocks (two half-width branches that
exchange channel-attention-weighted features) whose outputs are fused back-to-front by
attention fusion; a backward fusion module merges the blocks' outputs from the deepest to the
shallowest; one sub-pixel step upsamples, on top of bicubic.
"""

from __future__ import annotations

import torch
from torch import nn

from models.blocks import bicubic_upsample, check_inputs, conv3x3
from models.registry import register


def channel_gate(channels: int, reduction: int = 8) -> nn.Sequential:
    """Squeeze-excitation weights (B, C, 1, 1) in (0, 1); the caller multiplies."""
    hidden = max(1, channels // reduction)
    return nn.Sequential(
        nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, hidden, 1), nn.ReLU(),
        nn.Conv2d(hidden, channels, 1), nn.Sigmoid(),
    )


class LatticeBlock(nn.Module):
    """Split in halves a, b; a' = convs(a); P = [b, CA(a') a'], Q = [a', CA(b) b]; 1x1 fusions."""

    def __init__(self, channels: int):
        super().__init__()
        self.half_a = channels // 2
        self.half_b = channels - self.half_a
        self.convs = nn.Sequential(
            conv3x3(self.half_a, self.half_a), nn.LeakyReLU(0.05),
            conv3x3(self.half_a, self.half_a), nn.LeakyReLU(0.05),
            conv3x3(self.half_a, self.half_a),
        )
        self.gate_a = channel_gate(self.half_a)
        self.gate_b = channel_gate(self.half_b)
        self.fuse_p = nn.Conv2d(channels, self.half_a, 1)
        self.fuse_q = nn.Conv2d(channels, self.half_b, 1)
        self.fuse = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = torch.split(x, [self.half_a, self.half_b], dim=1)
        a = self.convs(a)
        p = torch.cat([b, self.gate_a(a) * a], dim=1)
        q = torch.cat([a, self.gate_b(b) * b], dim=1)
        return self.fuse(torch.cat([self.fuse_p(p), self.fuse_q(q)], dim=1))


class AttentionFusion(nn.Module):
    """1x1 of [CA(x) x, CA(y) y]."""

    def __init__(self, channels: int):
        super().__init__()
        self.gate_x = channel_gate(channels)
        self.gate_y = channel_gate(channels)
        self.fuse = nn.Conv2d(2 * channels, channels, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([self.gate_x(x) * x, self.gate_y(y) * y], dim=1))


class EnhancementBlock(nn.Module):
    """x + AF(AF(l3, l2), l1) over three chained lattice blocks l1, l2, l3."""

    def __init__(self, channels: int):
        super().__init__()
        self.lattices = nn.ModuleList(LatticeBlock(channels) for _ in range(3))
        self.fuse_deep = AttentionFusion(channels)
        self.fuse_shallow = AttentionFusion(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        l1 = self.lattices[0](x)
        l2 = self.lattices[1](l1)
        l3 = self.lattices[2](l2)
        return x + self.fuse_shallow(self.fuse_deep(l3, l2), l1)


class BackwardFusion(nn.Module):
    """From the deepest block output to the first: halve each by 1x1 + ReLU, fuse pairwise."""

    def __init__(self, channels: int, blocks: int):
        super().__init__()
        half = channels // 2
        self.reduce = nn.ModuleList(nn.Sequential(nn.Conv2d(channels, half, 1), nn.ReLU()) for _ in range(blocks))
        self.fuse = nn.ModuleList(nn.Conv2d(2 * half, half, 1) for _ in range(blocks - 2))

    def forward(self, outputs: list[torch.Tensor]) -> torch.Tensor:
        reduced = [reduce(x) for reduce, x in zip(self.reduce, outputs)]
        merged = reduced[-1]
        for fuse, x in zip(self.fuse, reduced[-2:0:-1]):
            merged = fuse(torch.cat([merged, x], dim=1))
        return torch.cat([merged, reduced[0]], dim=1)


class FeNet(nn.Module):
    """FeNet: ``forward(lst_lr (B,1,h,w), guidance_hr ignored) -> (B,1,sh,sw)``.

    Defaults are the GrokLST configuration (48 features, 4 enhancement blocks); the structure
    follows the reference (including its residual on bicubic). ``channels`` must be even.
    """

    def __init__(self, scale: int, channels: int = 48, blocks: int = 4):
        super().__init__()
        if channels % 2 or blocks < 2:
            raise ValueError(f"channels must be even and blocks >= 2, got {channels}, {blocks}")
        self.scale = scale
        self.head = nn.Sequential(conv3x3(1, channels), conv3x3(channels, channels))
        self.blocks = nn.ModuleList(EnhancementBlock(channels) for _ in range(blocks))
        self.backward_fusion = BackwardFusion(channels, blocks)
        self.tail = nn.Sequential(
            conv3x3(channels, channels), conv3x3(channels, scale * scale), nn.PixelShuffle(scale)
        )

    def forward(self, lst_lr: torch.Tensor, guidance_hr: torch.Tensor | None = None) -> torch.Tensor:
        check_inputs(lst_lr, None, self.scale, 0)
        head = self.head(lst_lr)
        x, outputs = head, []
        for block in self.blocks:
            x = block(x)
            outputs.append(x)
        return self.tail(self.backward_fusion(outputs) + head) + bicubic_upsample(lst_lr, self.scale)


@register("fenet", guided=False, learned=True, description="FeNet feature enhancement network (4 blocks, 48 ch)")
def fenet(scale: int, guidance_channels: int = 0, **kwargs: object) -> FeNet:
    return FeNet(scale, **kwargs)  # type: ignore[arg-type]
