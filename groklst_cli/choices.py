"""Choice options (a method, a policy, a device, a unit) are read case-insensitively.

The names they choose from are lower case; ``--fit-candidates BICUBIC`` was taken while
``--model BICUBIC`` was refused, so every command's choices are read the same way: a string
choice through :func:`lower_case` as its typer ``callback``, an Enum one with
``case_sensitive=False``.
"""

from __future__ import annotations

from typing import Optional

import typer

from groklst_cli.console import state


def lower_case(param: typer.CallbackParam, value: Optional[str]) -> Optional[str]:
    """A typer ``callback``: the choice as its names are spelt (lower case); None stays None.

    The spelling typed is kept for the option, so that its error line quotes it as typed
    (``--model: 'BICUBICX'``, see :meth:`RunState.choice_as_typed`)."""
    if value is None:
        return None
    lowered = value.lower()
    if lowered != value:
        for option in param.opts:
            state.typed_choices[option] = (lowered, value)
    return lowered


DEVICE_HINT = "use --device auto (a GPU when there is one, else the CPU) or cpu"
