"""The thermal sensor's PSF as a value: its shape, width and ``--fit-psf`` spelling.

Kept apart from :mod:`pipelines.psf` (kernels, blurring, the estimate), which needs SciPy, so
that the CLI can parse ``--fit-psf`` without importing it: every ``groklst`` command starts
faster.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Psf:
    """An isotropic PSF: a Gaussian of sigma ``width`` (``beta`` None) or a Moffat profile
    ``(1 + r^2 / width^2)^-beta``; ``width`` in pixels of the grid it blurs, 0 for none."""

    width: float = 0.0
    beta: float | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.width) or self.width < 0:
            raise ValueError(f"the PSF width must be a finite number >= 0, got {self.width:g}")
        if self.beta is not None and not (math.isfinite(self.beta) and self.beta > 1):
            raise ValueError(f"a Moffat PSF needs beta > 1, got {self.beta:g}")

    @property
    def shape(self) -> str:
        return "none" if self.width == 0 else "gaussian" if self.beta is None else "moffat"

    @property
    def spec(self) -> str:
        """The ``--fit-psf`` spelling: ``0``, ``gaussian:SIGMA`` or ``moffat:ALPHA:BETA``."""
        if self.shape == "none":
            return "0"
        if self.beta is None:
            return f"gaussian:{self.width:g}"
        return f"moffat:{self.width:g}:{self.beta:g}"

    def scaled(self, factor: float) -> Psf:
        """The same shape ``factor`` times as wide (another grid, or a narrower remainder)."""
        return Psf(self.width * factor, self.beta)

    def summary(self) -> dict[str, object]:
        return {"shape": self.shape, "width_px": self.width, "beta": self.beta, "spec": self.spec}

    @classmethod
    def parse(cls, text: str) -> Psf:
        """``SIGMA`` or ``gaussian:SIGMA`` (a Gaussian), ``moffat:ALPHA:BETA``; ValueError else."""
        parts = [p.strip() for p in text.strip().lower().split(":")]
        shape, numbers = ("gaussian", parts) if len(parts) == 1 else (parts[0], parts[1:])
        try:
            values = [float(n) for n in numbers]
        except ValueError:
            values = []
        if shape == "gaussian" and len(values) == 1:
            return cls(values[0])
        if shape == "moffat" and len(values) == 2:
            return cls(values[0], values[1])
        raise ValueError("not SIGMA, gaussian:SIGMA or moffat:ALPHA:BETA")
