"""Choice options (a method, a policy, a device, a unit) are read case-insensitively.

The names they choose from are lower case; ``--fit-candidates BICUBIC`` was taken while
``--model BICUBIC`` was refused, so every command's choices are read the same way: a string
choice through :func:`lower_case` as its typer ``callback``, an Enum one with
``case_sensitive=False``.

``--device`` and ``--precision`` are spelt alike by every command that has them, so
:func:`lower_case` also checks their spelling while the options are parsed: an unknown one
was refused only after the command had imported torch to use it (5-8 s). Whether CUDA is there
is still asked of torch, by the command.
"""

from __future__ import annotations

from typing import Optional

import typer

from groklst_cli.console import state
from pipelines.errors import InputError

# pipelines.devices' names (tests check they agree), here without importing torch
DEVICES = ("auto", "cpu", "cuda")  # and cuda:N
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEVICE_HINT = "use --device auto (a GPU when there is one, else the CPU) or cpu"
PRECISION_HINT = "use --precision auto, or fp32 for exact results"


def lower_case(param: typer.CallbackParam, value: Optional[str]) -> Optional[str]:
    """A typer ``callback``: the choice as its names are spelt (lower case); None stays None.

    The spelling typed is kept for the option, so that its error line quotes it as typed
    (``--model: 'BICUBICX'``, see :meth:`RunState.choice_as_typed`); an unknown ``--device``
    or ``--precision`` is refused here (:func:`_check_spelling`)."""
    if value is None:
        return None
    lowered = value.lower()
    if lowered != value:
        for option in param.opts:
            state.typed_choices[option] = (lowered, value)
    _check_spelling(param.opts, lowered)
    return lowered


def device_problem(name: str) -> Optional[str]:
    """Why ``name`` is no device (as :func:`pipelines.devices.resolve_device` reads it), or None."""
    kind, _, index = name.partition(":")
    if kind not in DEVICES or (index and (kind != "cuda" or not index.isdigit())):
        return f"must be auto, cpu, cuda or cuda:N, not {name!r}"
    return None


def precision_problem(name: str) -> Optional[str]:
    """Why ``name`` is no precision, or None."""
    return None if name in PRECISIONS else f"must be one of {', '.join(PRECISIONS)}, not {name!r}"


_SPELLINGS = {"--device": (device_problem, DEVICE_HINT), "--precision": (precision_problem, PRECISION_HINT)}


def _check_spelling(opts: list[str], value: str) -> None:
    """Refuse an unknown ``--device`` or ``--precision`` (``opts``: the option's names) at once."""
    for option in opts:
        problem, hint = _SPELLINGS.get(option, (None, ""))
        message = None if problem is None else problem(value)
        if message is not None:
            raise InputError(option, message, hint)
