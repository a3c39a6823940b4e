"""EDSR (Lim et al., CVPR-W 2017), single-image baseline at the paper's 'baseline' size."""

from __future__ import annotations

from models.blocks import ResidualBlock, SingleImageSR
from models.registry import register


class EDSR(SingleImageSR):
    """head -> residual blocks + long skip -> sub-pixel upsampler -> tail, + bicubic(LR LST).

    The guidance is accepted and ignored. Difference from EDSR: the output is a residual on
    bicubic upsampling (as in every groklst model), which trains much faster on z-scored LST.
    """

    def __init__(
        self, scale: int, channels: int = 64, blocks: int = 16, res_scale: float = 1.0
    ):
        super().__init__(
            scale, channels, lambda: (ResidualBlock(channels, res_scale) for _ in range(blocks))
        )


@register("edsr", guided=False, learned=True, description="EDSR baseline (16 blocks, 64 ch)")
def edsr(scale: int, guidance_channels: int = 0, **kwargs: object) -> EDSR:
    return EDSR(scale, **kwargs)  # type: ignore[arg-type]
