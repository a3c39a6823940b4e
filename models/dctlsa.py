"""DCTLSA (Zeng et al., "Densely Connected Transformer With Linear Self-Attention for
Lightweight Image Super-Resolution", IEEE TIM 2023).

Six linear self-attention blocks, densely connected through 1x1 fusions. Each block is two
transformer stages of two layers (the second with windows shifted by half a window); a layer
adds a local convolutional branch (BN, 1x1, depth-wise 3x3, BN, 1x1) to its input, attends
within 16 x 16 windows with linear attention (softmax over the keys' tokens, q (k^T v)) and
adds an MLP. One sub-pixel step upsamples.
"""

from __future__ import annotations

import torch
from torch import nn

from models.blocks import bicubic_upsample, check_inputs, conv3x3, pad_to_multiple
from models.registry import register

SLOPE = 0.05


def to_windows(x: torch.Tensor, size: int) -> torch.Tensor:
    """(B, H, W, C) -> (B * H/size * W/size, size * size, C)."""
    b, h, w, c = x.shape
    x = x.reshape(b, h // size, size, w // size, size, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, size * size, c)


def from_windows(windows: torch.Tensor, size: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`to_windows` for a (B, H, W, C) image."""
    c = windows.shape[-1]
    x = windows.reshape(-1, h // size, w // size, size, size, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h, w, c)


class LocalBranch(nn.Sequential):
    """BN, 1x1, depth-wise 3x3, BN, 1x1 (no biases): the layer's convolutional part."""

    def __init__(self, channels: int):
        super().__init__(
            nn.BatchNorm2d(channels), nn.Conv2d(channels, channels, 1, bias=False),
            nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
            nn.BatchNorm2d(channels), nn.Conv2d(channels, channels, 1, bias=False),
        )


class LinearWindowAttention(nn.Module):
    """local = x + LocalBranch(x); local + proj(q (softmax_tokens(k)^T v)) per window."""

    def __init__(self, channels: int, heads: int, window: int):
        super().__init__()
        if channels % heads:
            raise ValueError(f"channels ({channels}) must be a multiple of heads ({heads})")
        self.heads, self.window = heads, window
        self.scale = (channels // heads) ** -0.5
        self.local = LocalBranch(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (B, H, W, C) with H, W multiples of the window."""
        b, h, w, c = x.shape
        image = x.permute(0, 3, 1, 2)
        local = (image + self.local(image)).permute(0, 2, 3, 1)
        windows = to_windows(self.qkv(local), self.window)
        n = windows.shape[1]
        qkv = windows.reshape(-1, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        context = torch.softmax(k, dim=-2).transpose(-2, -1) @ v  # (windows, heads, d, d)
        out = (q * self.scale @ context).transpose(1, 2).reshape(-1, n, c)
        return from_windows(self.proj(out), self.window, h, w) + local


class TransformerLayer(nn.Module):
    """Cyclically shifted linear window attention (with its local branch), then x + MLP(x)."""

    def __init__(self, channels: int, heads: int, window: int, shift: int, mlp_ratio: float):
        super().__init__()
        self.shift = shift
        self.attention = LinearWindowAttention(channels, heads, window)
        hidden = int(channels * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.GELU(), nn.Linear(hidden, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.shift:
            x = torch.roll(x, shifts=(-self.shift, -self.shift), dims=(1, 2))
        x = self.attention(x)
        if self.shift:
            x = torch.roll(x, shifts=(self.shift, self.shift), dims=(1, 2))
        return x + self.mlp(x)


class TransformerStage(nn.Module):
    """Pad to whole windows, LayerNorm the tokens, two layers (unshifted, shifted), crop."""

    def __init__(self, channels: int, heads: int, window: int, mlp_ratio: float):
        super().__init__()
        self.window = window
        self.norm = nn.LayerNorm(channels)
        self.layers = nn.ModuleList(
            TransformerLayer(channels, heads, window, shift, mlp_ratio) for shift in (0, window // 2)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        tokens = self.norm(pad_to_multiple(x, self.window).permute(0, 2, 3, 1))
        for layer in self.layers:
            tokens = layer(tokens)
        return tokens.permute(0, 3, 1, 2)[..., :h, :w]


def _fuse(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.LeakyReLU(SLOPE))


class DCTLSA(nn.Module):
    """DCTLSA: ``forward(lst_lr (B,1,h,w), guidance_hr ignored) -> (B,1,sh,sw)``.

    Defaults are the GrokLST configuration (55 features, 6 blocks, 5 heads, 16 x 16 windows,
    MLP ratio 2). Differences from the reference: features are padded to whole windows by
    replication, not reflection (reflection fails on LR inputs under a window); the output is
    a residual on bicubic upsampling (the reference's sub-pixel step is its whole output).
    """

    def __init__(
        self, scale: int, channels: int = 55, blocks: int = 6, heads: int = 5, window: int = 16,
        mlp_ratio: float = 2.0,
    ):
        super().__init__()
        if blocks < 2:
            raise ValueError(f"blocks must be >= 2, got {blocks}")
        self.scale = scale
        self.head = conv3x3(1, channels)
        self.blocks = nn.ModuleList(
            nn.Sequential(*(TransformerStage(channels, heads, window, mlp_ratio) for _ in range(2)))
            for _ in range(blocks)
        )
        self.dense = nn.ModuleList(_fuse((i + 2) * channels, channels) for i in range(blocks - 1))
        self.fuse = _fuse(blocks * channels, channels)
        self.lr_conv = conv3x3(channels, channels)
        self.tail = nn.Sequential(conv3x3(channels, scale * scale), nn.PixelShuffle(scale))

    def forward(self, lst_lr: torch.Tensor, guidance_hr: torch.Tensor | None = None) -> torch.Tensor:
        check_inputs(lst_lr, None, self.scale, 0)
        head = self.head(lst_lr)
        dense, outputs, x = [head], [], head
        for i, block in enumerate(self.blocks):
            out = block(x)
            outputs.append(out)
            dense.append(out)
            if i < len(self.dense):
                x = self.dense[i](torch.cat(dense, dim=1))
        features = self.lr_conv(self.fuse(torch.cat(outputs, dim=1))) + head
        return self.tail(features) + bicubic_upsample(lst_lr, self.scale)


@register(
    "dctlsa", guided=False, learned=True,
    description="DCTLSA densely connected linear-attention transformer (6 blocks, 55 ch)",
)
def dctlsa(scale: int, guidance_channels: int = 0, **kwargs: object) -> DCTLSA:
    return DCTLSA(scale, **kwargs)  # type: ignore[arg-type]
