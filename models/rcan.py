"""RCAN (Zhang et al., ECCV 2018), single-image baseline at a reduced depth."""

from __future__ import annotations

from models.blocks import ResidualGroup, SingleImageSR
from models.registry import register


class RCAN(SingleImageSR):
    """head -> residual groups of RCABs (residual in residual) -> upsampler -> tail, + bicubic.

    RCAN's paper uses 10 groups of 20 blocks (15.6M parameters); the default here is 5 groups
    of 10 blocks so it trains in reasonable time. The guidance is accepted and ignored; the
    output is a residual on bicubic upsampling.
    """

    def __init__(
        self,
        scale: int,
        channels: int = 64,
        groups: int = 5,
        blocks: int = 10,
        reduction: int = 16,
    ):
        super().__init__(
            scale, channels,
            lambda: (ResidualGroup(channels, blocks, reduction, negative_slope=0.0) for _ in range(groups)),
        )


@register("rcan", guided=False, learned=True, description="RCAN (5 groups x 10 RCAB, 64 ch)")
def rcan(scale: int, guidance_channels: int = 0, **kwargs: object) -> RCAN:
    return RCAN(scale, **kwargs)  # type: ignore[arg-type]
