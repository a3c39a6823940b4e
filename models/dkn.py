"""DKN and FDKN (Kim et al., "Deformable Kernel Networks for Joint Image Filtering", IJCV 2021).

Two CNNs, one on the guidance and one on the bicubic-upsampled LST, each predict per output
pixel r x r filter weights and 2 x r x r sampling offsets; their products are the filter. The
weights are made to sum to zero (the residual variant used in the paper's comparisons) and the
LST is resampled at the offset taps around every pixel, weighted and added to itself.

DKN evaluates its strided kernel networks densely by shift-and-stitch (16 passes over shifted
inputs); FDKN instead runs them once on a space-to-depth view of the inputs and returns the
per-pixel kernels with depth-to-space, which is why it is the fast variant.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.blocks import bicubic_upsample, check_inputs, pad_to_multiple, require_guidance
from models.registry import register

SHIFTS = 4  # DKN's kernel networks reduce the resolution by 4 (two stride-2 convolutions)
# Their valid convolutions consume 47 pixels per axis: the zero padding before/after each axis.
PAD_BEFORE, PAD_AFTER = 25, 22


def deformable_filter(
    image: torch.Tensor, weights: torch.Tensor, offsets: torch.Tensor, kernel: int
) -> torch.Tensor:
    """out(p) = sum_t weights_t(p) * image(p + tap_t + offset_t(p)), bilinear, zero outside.

    ``image`` is (B, 1, H, W), ``weights`` (B, r*r, H, W) and ``offsets`` (B, 2*r*r, H, W) as
    (dy, dx) pairs per tap; the taps are the r x r grid centred on p.
    """
    b, _, h, w = image.shape
    taps = torch.arange(kernel, device=image.device, dtype=image.dtype) - kernel // 2
    tap_y, tap_x = torch.meshgrid(taps, taps, indexing="ij")
    offsets = offsets.reshape(b, kernel * kernel, 2, h, w)
    rows = torch.arange(h, device=image.device, dtype=image.dtype).view(1, 1, h, 1)
    cols = torch.arange(w, device=image.device, dtype=image.dtype).view(1, 1, 1, w)
    y = rows + tap_y.reshape(1, -1, 1, 1) + offsets[:, :, 0]
    x = cols + tap_x.reshape(1, -1, 1, 1) + offsets[:, :, 1]
    # grid_sample's normalised coordinates (align_corners=False: pixel centres at (2i+1)/n - 1)
    grid = torch.stack([(2 * x + 1) / w - 1, (2 * y + 1) / h - 1], dim=-1)
    samples = F.grid_sample(
        image, grid.reshape(b, kernel * kernel * h, w, 2), mode="bilinear",
        padding_mode="zeros", align_corners=False,
    )
    return (samples.reshape(b, kernel * kernel, h, w) * weights).sum(dim=1, keepdim=True)


def _conv_block(in_channels: int, out_channels: int, kernel: int, *, stride: int = 1,
                padding: int = 0, norm: bool = False) -> list[nn.Module]:
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=padding)
    ]
    if norm:
        layers.append(nn.BatchNorm2d(out_channels))
    return [*layers, nn.ReLU()]


WIDTHS = (32, 64, 128)  # the kernel networks' channels, as in the paper


class KernelNet(nn.Module):
    """Features -> (sigmoid weights, offsets) per output position, ``outputs`` kernels each."""

    def __init__(self, layers: list[nn.Module], width: int, kernel: int, outputs: int = 1):
        super().__init__()
        self.features = nn.Sequential(*layers)
        self.weights = nn.Conv2d(width, kernel * kernel * outputs, 1)
        self.offsets = nn.Conv2d(width, 2 * kernel * kernel * outputs, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features(x)
        return torch.sigmoid(self.weights(features)), self.offsets(features)


def dkn_kernel_net(in_channels: int, kernel: int, widths: tuple[int, int, int] = WIDTHS) -> KernelNet:
    """DKN's network: valid convolutions 7, 2/2, 5, 2/2, 5, 3, 3 (BN after the wide ones)."""
    a, b, c = widths
    layers = [
        *_conv_block(in_channels, a, 7, norm=True), *_conv_block(a, a, 2, stride=2),
        *_conv_block(a, b, 5, norm=True), *_conv_block(b, b, 2, stride=2),
        *_conv_block(b, c, 5, norm=True), *_conv_block(c, c, 3),
        *_conv_block(c, c, 3),
    ]
    return KernelNet(layers, c, kernel)


def fdkn_kernel_net(
    in_channels: int, kernel: int, factor: int, widths: tuple[int, int, int] = WIDTHS
) -> KernelNet:
    """FDKN's network: six 'same' 3x3 convolutions, ``factor``^2 kernels per position."""
    a, b, c = widths
    channels = [in_channels, a, a, b, b, c, c]
    layers: list[nn.Module] = []
    for i in range(6):
        layers += _conv_block(channels[i], channels[i + 1], 3, padding=1, norm=i % 2 == 0)
    return KernelNet(layers, c, kernel, outputs=factor * factor)


def residual_filter(
    target: torch.Tensor, weights: torch.Tensor, offsets: torch.Tensor, kernel: int
) -> torch.Tensor:
    """target + deformable filter of target with ``weights`` made to sum to zero per pixel."""
    weights = weights - weights.mean(dim=1, keepdim=True)
    return target + deformable_filter(target, weights, offsets, kernel)


class DKN(nn.Module):
    """DKN: ``forward(lst_lr (B,1,h,w), guidance_hr (B,K,sh,sw)) -> (B,1,sh,sw)``.

    Reference configuration (3x3 deformable kernel, residual). The kernel networks' valid
    convolutions are applied to zero-padded inputs, 4 x 4 times shifted by one pixel, and
    the 16 quarter-resolution results are interleaved (shift-and-stitch, as the reference).
    Differences: inputs whose HR size is not a multiple of 4 are replicate-padded (and the
    result cropped) instead of failing; the r x r taps are centred on each pixel (the
    reference's sampling grid is offset by half a pixel) and may reach beyond the reference's
    15 x 15 window.
    """

    def __init__(
        self, scale: int, guidance_channels: int, kernel: int = 3,
        widths: tuple[int, int, int] = WIDTHS,
    ):
        super().__init__()
        require_guidance("DKN", guidance_channels)
        self.scale = scale
        self.guidance_channels = guidance_channels
        self.kernel = kernel
        self.guidance_net = dkn_kernel_net(guidance_channels, kernel, tuple(widths))
        self.lst_net = dkn_kernel_net(1, kernel, tuple(widths))

    def _kernels(self, guidance: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Dense (weights, offsets) at every pixel of the (multiple-of-4) inputs."""
        weights, offsets = [], []
        for i in range(SHIFTS):
            for j in range(SHIFTS):
                pad = (PAD_BEFORE - j, PAD_AFTER + j, PAD_BEFORE - i, PAD_AFTER + i)
                guidance_weights, guidance_offsets = self.guidance_net(F.pad(guidance, pad))
                lst_weights, lst_offsets = self.lst_net(F.pad(target, pad))
                weights.append(guidance_weights * lst_weights)
                offsets.append(guidance_offsets * lst_offsets)
        return stitch(weights), stitch(offsets)

    def forward(self, lst_lr: torch.Tensor, guidance_hr: torch.Tensor) -> torch.Tensor:
        check_inputs(lst_lr, guidance_hr, self.scale, self.guidance_channels)
        target = bicubic_upsample(lst_lr, self.scale)
        h, w = target.shape[-2:]
        padded = pad_to_multiple(target, SHIFTS)
        weights, offsets = self._kernels(pad_to_multiple(guidance_hr, SHIFTS), padded)
        return residual_filter(padded, weights, offsets, self.kernel)[..., :h, :w]


def stitch(parts: list[torch.Tensor]) -> torch.Tensor:
    """Interleave SHIFTS^2 results of shifted inputs: part i*SHIFTS+j lands on [i::S, j::S]."""
    b, c, h, w = parts[0].shape
    stacked = torch.stack(parts, dim=2).reshape(b, c * SHIFTS * SHIFTS, h, w)
    return F.pixel_shuffle(stacked, SHIFTS)


class FDKN(nn.Module):
    """FDKN: ``forward(lst_lr (B,1,h,w), guidance_hr (B,K,sh,sw)) -> (B,1,sh,sw)``.

    The kernel networks run on a ``factor`` x ``factor`` space-to-depth view of the HR inputs
    (the GrokLST toolkit sets ``factor`` to the scale, so they run at LR; the original paper
    uses 4 at every scale) and predict ``factor``^2 kernels per position. Same tap-grid
    difference from the reference as :class:`DKN`.
    """

    def __init__(
        self, scale: int, guidance_channels: int, kernel: int = 3, factor: int | None = None,
        widths: tuple[int, int, int] = WIDTHS,
    ):
        super().__init__()
        require_guidance("FDKN", guidance_channels)
        self.scale = scale
        self.guidance_channels = guidance_channels
        self.kernel = kernel
        self.factor = factor = scale if factor is None else factor
        if factor < 1:
            raise ValueError(f"factor must be >= 1, got {factor}")
        self.guidance_net = fdkn_kernel_net(
            guidance_channels * factor * factor, kernel, factor, tuple(widths)
        )
        self.lst_net = fdkn_kernel_net(factor * factor, kernel, factor, tuple(widths))

    def forward(self, lst_lr: torch.Tensor, guidance_hr: torch.Tensor) -> torch.Tensor:
        check_inputs(lst_lr, guidance_hr, self.scale, self.guidance_channels)
        target = bicubic_upsample(lst_lr, self.scale)
        h, w = target.shape[-2:]
        f = self.factor
        padded = pad_to_multiple(target, f)
        guidance_weights, guidance_offsets = self.guidance_net(
            F.pixel_unshuffle(pad_to_multiple(guidance_hr, f), f)
        )
        lst_weights, lst_offsets = self.lst_net(F.pixel_unshuffle(padded, f))
        weights = F.pixel_shuffle(guidance_weights * lst_weights, f)
        offsets = F.pixel_shuffle(guidance_offsets * lst_offsets, f)
        return residual_filter(padded, weights, offsets, self.kernel)[..., :h, :w]


@register(
    "dkn", guided=True, learned=True,
    description="DKN deformable kernel network (3x3 kernels, shift-and-stitch at HR)",
)
def dkn(scale: int, guidance_channels: int, **kwargs: object) -> DKN:
    return DKN(scale, guidance_channels, **kwargs)  # type: ignore[arg-type]


@register(
    "fdkn", guided=True, learned=True,
    description="FDKN fast deformable kernel network (kernel networks on a space-to-depth view)",
)
def fdkn(scale: int, guidance_channels: int, **kwargs: object) -> FDKN:
    return FDKN(scale, guidance_channels, **kwargs)  # type: ignore[arg-type]
