"""Guards against writing nonsense: guidance far outside a model's training data, and outputs
that no land surface could produce from their input.

A model fed a damaged guidance file, bands in another order or in other units (digital numbers
instead of reflectances) does not fail: it returns numbers, often millions of Kelvin. These
checks turn such a run into an error naming the cause, before or while it is written.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from pipelines.errors import InputError

MAX_GUIDANCE_SIGMA = 1000.0  # a guidance value further from the training mean is refused
MAX_DEVIATION_K = 50.0  # an output pixel further from its LR value than this fails the scene
_LST_AT_FAULT = ("an interpolation overshoots this far only where neighbouring LST pixels differ by far "
                 "more than any land surface does: check how the LST stores its values (the unit with "
                 "--units, scaled integers with --scale-factor/--offset, fill values with --nodata)")


def check_guidance_range(
    guidance: np.ndarray, names: Sequence[str], mean: Sequence[float], std: Sequence[float],
    path: str | os.PathLike[str],
) -> None:
    """Refuse guidance (K, H, W) whose finite values lie wildly outside the training statistics."""
    for band, name, m, s in zip(guidance, names, mean, std):
        finite = band[np.isfinite(band)]
        if not finite.size:
            continue
        low, high = float(finite.min()), float(finite.max())
        sigma = max(abs(low - m), abs(high - m)) / s
        if sigma > MAX_GUIDANCE_SIGMA:
            raise InputError(
                path,
                f"guidance band {name!r} has values {low:.4g}..{high:.4g}, {sigma:.3g} standard "
                f"deviations from the model's training data (mean {m:.4g}, std {s:.4g})",
                "the file may be damaged, or the band is in other units or another order than "
                "the model was trained with (name bands with --guidance-bands)",
            )


class OutputGuard:
    """Checks every finished output row band against the LR input it came from.

    Counts the valid pixels written, so a run whose output is all NaN is known to be empty.
    """

    def __init__(self, scale: int, path: str | os.PathLike[str], interpolated: bool = False):
        self.scale = scale
        self.path = path
        self.interpolated = interpolated  # an interpolator's output: only the LST can be at fault
        self.valid = 0

    def check(self, rows: np.ndarray, lr: np.ndarray) -> None:
        """``rows`` (Kelvin, output grid) against ``lr`` (Kelvin, the LR rows they cover)."""
        s = self.scale
        covering = np.repeat(np.repeat(lr, s, axis=0), s, axis=1)[: rows.shape[0], : rows.shape[1]]
        finite = np.isfinite(rows)
        self.valid += int(finite.sum())
        with np.errstate(invalid="ignore"):
            deviation = np.abs(rows - covering)
        bad = finite & np.isfinite(covering) & (deviation > MAX_DEVIATION_K)
        if bad.any():
            raise InputError(
                self.path,
                f"the model's output is implausible: {int(bad.sum())} pixels differ from their "
                f"LR value by more than {MAX_DEVIATION_K:g} K (worst {float(deviation[bad].max()):.4g} K); "
                "nothing was written",
                _LST_AT_FAULT if self.interpolated else
                "check that the guidance bands, their order and units match what the model was "
                "trained with; --model bicubic interpolates without the guidance",
            )

    @staticmethod
    def check_prediction(prediction: np.ndarray, invalid: np.ndarray,
                         path: str | os.PathLike[str]) -> None:
        """Refuse a tile prediction that is not finite where the inputs were valid."""
        broken = ~invalid & ~np.isfinite(prediction)
        if broken.any():
            raise InputError(
                path,
                f"the model returned no number (NaN or inf) for {int(broken.sum())} valid pixels; "
                "nothing was written",
                "the checkpoint may be damaged, or the guidance values far outside its training data",
            )
