"""Choice options (a method, a policy, a device, a unit) are read case-insensitively.

The names they choose from are lower case; ``--fit-candidates BICUBIC`` was taken while
``--model BICUBIC`` was refused, so every command's choices are read the same way: a string
choice through :func:`lower_case` as its typer ``callback``, an Enum one with
``case_sensitive=False``.
"""

from __future__ import annotations

from typing import Optional

from groklst_cli.console import state


def lower_case(value: Optional[str]) -> Optional[str]:
    """A typer ``callback``: the choice as its names are spelt (lower case); None stays None.

    An error line quotes the value as typed (``--model 'BICUBICX'``), not as lowered."""
    if value is None:
        return None
    lowered = value.lower()
    if lowered != value:
        state.shown_as[repr(lowered)] = repr(value)
    return lowered


DEVICE_HINT = "use --device auto (a GPU when there is one, else the CPU) or cpu"
