"""Building blocks shared by the networks: residual blocks, RCAB residual groups, DBPN
projection units, upsamplers and input checks.

Residual blocks follow EDSR (Lim et al., CVPR-W 2017); RCAB and residual groups follow RCAN
(Zhang et al., ECCV 2018); projection units follow DBPN (Haris et al., CVPR 2018), generalised
to any integer scale.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

NATIVE_CHANNELS_LAST_DILATION = 2  # up to this dilation the native channels_last kernel is faster


def conv3x3(in_channels: int, out_channels: int, kernel_size: int = 3) -> nn.Conv2d:
    """A 'same'-padded convolution with bias."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)


def activation(negative_slope: float) -> nn.Module:
    """ReLU for slope 0, LeakyReLU otherwise (the two activations of the residual blocks)."""
    return nn.ReLU() if negative_slope == 0 else nn.LeakyReLU(negative_slope)


def records_graph(x: torch.Tensor) -> bool:
    """Whether autograd records operations on ``x`` (then ``x`` may be saved for backward and
    must not be overwritten)."""
    return torch.is_grad_enabled() and x.requires_grad


class ResidualBlock(nn.Module):
    """EDSR block: x + res_scale * conv(act(conv(x))), no batch normalisation."""

    def __init__(self, channels: int, res_scale: float = 1.0, negative_slope: float = 0.0):
        super().__init__()
        self.body = nn.Sequential(
            conv3x3(channels, channels), activation(negative_slope), conv3x3(channels, channels)
        )
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.body(x)


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation channel attention: global average -> bottleneck -> sigmoid gate.

    ``inplace`` gates the input tensor itself when no autograd graph is recorded (inference),
    like ``nn.ReLU(inplace=True)``: one full-size tensor less to allocate and write.
    """

    def __init__(self, channels: int, reduction: int = 16, inplace: bool = False):
        super().__init__()
        self.inplace = inplace
        hidden = max(1, channels // reduction)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.gate(x)
        return x.mul_(gate) if self.inplace and not records_graph(x) else x * gate


class RCAB(nn.Module):
    """Residual channel-attention block: x + CA(conv(act(conv(x)))).

    Every intermediate is a fresh tensor of the block's own, so the activation, the attention
    gate and the skip addition work in place (bit-identical, and ~10 % faster inference:
    full-size element-wise ops are memory-bound).
    """

    def __init__(self, channels: int, reduction: int = 16, negative_slope: float = 0.2):
        super().__init__()
        self.body = nn.Sequential(
            conv3x3(channels, channels),
            nn.LeakyReLU(negative_slope, inplace=True),
            conv3x3(channels, channels),
            ChannelAttention(channels, reduction, inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).add_(x)


class ResidualGroup(nn.Module):
    """``blocks`` RCABs and a closing 3x3 convolution, wrapped in a long skip connection.

    ``negative_slope`` 0.2 is MoCoLSK's LeakyReLU; 0 gives RCAN's ReLU.
    """

    def __init__(
        self, channels: int, blocks: int, reduction: int = 16, negative_slope: float = 0.2
    ):
        super().__init__()
        self.body = nn.Sequential(
            *(RCAB(channels, reduction, negative_slope) for _ in range(blocks)),
            conv3x3(channels, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).add_(x)  # the body's output is its own (a convolution's)


class DepthwiseConv(nn.Conv2d):
    """'Same'-padded depth-wise convolution (odd ``kernel``, any ``dilation``).

    A dilated convolution is computed as the undilated one on the dilation x dilation
    polyphase components of the input (identical result, same weights), in the input's memory
    layout: PyTorch's CPU kernels for dilated depth-wise convolutions are 2-8x slower than
    that in NCHW, and slower from dilation 3 on in ``channels_last`` (measured with
    benchmarks/depthwise_conv.py). ``channels_last`` inputs with dilation 1 or 2 use the
    native kernel, which is the fastest there.
    """

    def __init__(self, channels: int, kernel: int, dilation: int = 1):
        if kernel % 2 == 0:
            raise ValueError(f"depth-wise kernel sizes must be odd, got {kernel}")
        super().__init__(
            channels, channels, kernel, padding=dilation * (kernel // 2), dilation=dilation,
            groups=channels,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.dilation[0]
        channels_last = x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)
        if d == 1 or (channels_last and d <= NATIVE_CHANNELS_LAST_DILATION):
            return super().forward(x)
        if channels_last:
            return self._polyphase_channels_last(x, d)
        return self._polyphase_nchw(x, d)

    def _undilated(self, phases: torch.Tensor) -> torch.Tensor:
        return F.conv2d(phases, self.weight, self.bias, padding=self.kernel_size[0] // 2,
                        groups=self.groups)

    def _polyphase_nchw(self, x: torch.Tensor, d: int) -> torch.Tensor:
        b, c, h, w = x.shape
        hp, wp = -(-h // d) * d, -(-w // d) * d  # zero rows/columns beyond the edge, cropped below
        if (hp, wp) != (h, w):  # F.pad copies even when it adds nothing
            x = F.pad(x, (0, wp - w, 0, hp - h))
        phases = x.reshape(b, c, hp // d, d, wp // d, d).permute(0, 3, 5, 1, 2, 4)
        out = self._undilated(phases.reshape(b * d * d, c, hp // d, wp // d))
        out = out.reshape(b, d, d, c, hp // d, wp // d).permute(0, 3, 4, 1, 5, 2)
        return out.reshape(b, c, hp, wp)[..., :h, :w]

    def _polyphase_channels_last(self, x: torch.Tensor, d: int) -> torch.Tensor:
        b, c, h, w = x.shape
        hp, wp = -(-h // d) * d, -(-w // d) * d
        nhwc = x.permute(0, 2, 3, 1)
        if (hp, wp) != (h, w):
            nhwc = F.pad(nhwc, (0, 0, 0, wp - w, 0, hp - h))
        phases = nhwc.reshape(b, hp // d, d, wp // d, d, c).permute(0, 2, 4, 1, 3, 5)
        phases = phases.reshape(b * d * d, hp // d, wp // d, c).permute(0, 3, 1, 2)
        out = self._undilated(phases).permute(0, 2, 3, 1)
        out = out.reshape(b, d, d, hp // d, wp // d, c).permute(0, 3, 1, 4, 2, 5)
        out = out.reshape(b, hp, wp, c)[:, :h, :w]
        return out.permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)


def projection_geometry(scale: int) -> tuple[int, int, int]:
    """(kernel, stride, padding) of a DBPN projection convolution for an integer ``scale``.

    A transposed convolution maps h to (h - 1) * s - 2p + k, so it yields exactly s * h when
    k = s + 2p; the strided convolution with the same geometry maps s * h back to exactly h.
    DBPN uses p = 2, i.e. (6, 2, 2), (8, 4, 2), (12, 8, 2) for x2, x4, x8; the same rule gives
    (7, 3, 2) for x3 (SDGSAT-1 30 m -> 10 m): every output pixel sees a 3x3-tap neighbourhood,
    like x2's kernel 6 with stride 2.
    """
    if int(scale) != scale or scale < 2:
        raise ValueError(f"projection scale must be an integer >= 2, got {scale}")
    padding = 2
    return scale + 2 * padding, scale, padding


def projection_conv(in_channels: int, out_channels: int, scale: int, up: bool) -> nn.Module:
    """The (transposed, when ``up``) convolution of a projection unit: exactly xscale or /scale."""
    kernel, stride, padding = projection_geometry(scale)
    conv = nn.ConvTranspose2d if up else nn.Conv2d
    return conv(in_channels, out_channels, kernel, stride=stride, padding=padding)


class ProjectionUnit(nn.Module):
    """DBPN back-projection unit (up or down) from ``in_channels`` to ``out_channels``.

    a0 = P(x); e = Q(a0) - x; out = a0 + P'(e), where P resamples in the unit's direction and
    Q back, each followed by PReLU. The residual ``e`` is what lets stacked units correct
    their own resampling error.
    """

    def __init__(self, in_channels: int, out_channels: int, scale: int, up: bool):
        super().__init__()
        self.forward_1 = nn.Sequential(
            projection_conv(in_channels, out_channels, scale, up), nn.PReLU(out_channels)
        )
        self.backward = nn.Sequential(
            projection_conv(out_channels, in_channels, scale, not up), nn.PReLU(in_channels)
        )
        self.forward_2 = nn.Sequential(
            projection_conv(in_channels, out_channels, scale, up), nn.PReLU(out_channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a0 = self.forward_1(x)
        # In place on the PReLU outputs (PReLU's backward needs its input, not its output).
        error = self.backward(a0).sub_(x)
        return self.forward_2(error).add_(a0)


def upsampling_steps(scale: int) -> list[int]:
    """The factors of a step-wise upsampling: x2 steps for powers of two, one xs step otherwise."""
    if int(scale) != scale or scale < 2:
        raise ValueError(f"upsampling scale must be an integer >= 2, got {scale}")
    return [2] * (scale.bit_length() - 1) if scale & (scale - 1) == 0 else [scale]


class PixelShuffleUpsampler(nn.Sequential):
    """Sub-pixel upsampling (EDSR/RCAN), in the steps of :func:`upsampling_steps`."""

    def __init__(self, channels: int, scale: int):
        layers: list[nn.Module] = []
        for step in upsampling_steps(scale):
            layers += [conv3x3(channels, channels * step * step), nn.PixelShuffle(step)]
        super().__init__(*layers)


class SingleImageSR(nn.Module):
    """The skeleton of the single-image baselines (EDSR, RCAN): head conv -> body + long skip ->
    sub-pixel upsampler -> conv, added to bicubic(LR LST). The guidance is accepted and ignored.

    ``body`` builds the body's blocks (called between the head and the tail, so parameters
    are initialised in layer order); a conv closes the body before the skip.
    """

    def __init__(self, scale: int, channels: int, body: Callable[[], Iterable[nn.Module]]):
        super().__init__()
        self.scale = scale
        self.head = conv3x3(1, channels)
        self.body = nn.Sequential(*body(), conv3x3(channels, channels))
        self.tail = nn.Sequential(PixelShuffleUpsampler(channels, scale), conv3x3(channels, 1))

    def forward(
        self, lst_lr: torch.Tensor, guidance_hr: torch.Tensor | None = None
    ) -> torch.Tensor:
        check_inputs(lst_lr, None, self.scale, 0)
        features = self.head(lst_lr)
        features = features + self.body(features)
        return self.tail(features) + bicubic_upsample(lst_lr, self.scale)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Replicate-pad the bottom and right edges so that H and W are multiples of ``multiple``.

    For networks that halve the resolution several times (U-Nets, pyramids); crop the result
    back with ``[..., :h, :w]``.
    """
    h, w = x.shape[-2:]
    pad_h, pad_w = -h % multiple, -w % multiple
    if pad_h == 0 and pad_w == 0:
        return x
    return F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")


def require_guidance(model: str, guidance_channels: int) -> None:
    """Refuse to build a guided model without guidance bands."""
    if guidance_channels < 1:
        raise ValueError(
            f"{model} needs at least one guidance band; for single-image downscaling use a "
            "single-image model (e.g. 'rdn' or 'edsr')"
        )


def bicubic_upsample(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Bicubic upsampling by an integer factor (the global residual of every network)."""
    return F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)


def check_inputs(
    lst_lr: torch.Tensor, guidance_hr: torch.Tensor | None, scale: int, guidance_channels: int
) -> None:
    """Raise ``ValueError`` naming the mismatch when inputs do not fit the model."""
    if lst_lr.ndim != 4 or lst_lr.shape[1] != 1:
        raise ValueError(f"lst_lr must be (B, 1, h, w), got {tuple(lst_lr.shape)}")
    if guidance_channels == 0:
        return
    if guidance_hr is None:
        raise ValueError(f"this model needs guidance_hr with {guidance_channels} bands")
    b, _, h, w = lst_lr.shape
    expected = (b, guidance_channels, h * scale, w * scale)
    if tuple(guidance_hr.shape) != expected:
        raise ValueError(
            f"guidance_hr must be {expected} for lst_lr {tuple(lst_lr.shape)} at x{scale}, "
            f"got {tuple(guidance_hr.shape)}"
        )
