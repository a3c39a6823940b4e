"""Shares written in per cent for messages and tags, never rounded to a false 0 or 100 %.

A warning that 3 pixels of a million lack data must not say "0.0 %", nor one that 10 pixels of
a million are covered say "100.0 %" of the rest: decimals are added (up to 10) until neither a
share nor its complement reads as exactly 0 or 100 unless it is.
"""

from __future__ import annotations

MAX_DECIMALS = 10  # one pixel in 1e10 still reads as no 0 or 100 (a 10 m Landsat footprint is 4.4e8)


def _decimals(share: float) -> int:
    """The fewest decimals (1 to ``MAX_DECIMALS``) at which ``share`` and ``1 - share`` in per
    cent both read as what they are: 0 or 100 only when exactly so."""
    if share in (0.0, 1.0):
        return 1
    for digits in range(1, MAX_DECIMALS + 1):
        texts = (f"{100.0 * share:.{digits}f}", f"{100.0 * (1.0 - share):.{digits}f}")
        if all(float(t) not in (0.0, 100.0) for t in texts):
            return digits
    return MAX_DECIMALS


def percent_pair(share: float) -> tuple[str, str]:
    """``share`` and ``1 - share`` (a fraction of 0..1) in per cent, without the % sign, with
    the same number of decimals."""
    digits = _decimals(share)
    return f"{100.0 * share:.{digits}f}", f"{100.0 * (1.0 - share):.{digits}f}"


def percent(share: float) -> str:
    """``share`` (0..1) in per cent, without the % sign, as :func:`percent_pair` writes it."""
    return percent_pair(share)[0]
