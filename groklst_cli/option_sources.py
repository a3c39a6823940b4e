"""Which options the user gave, as opposed to their defaults.

Compared by name: typer carries its own copy of click's ``ParameterSource``.
"""

from __future__ import annotations

import typer

_TYPED = ("COMMANDLINE", "ENVIRONMENT")


def was_given(ctx: typer.Context, name: str) -> bool:
    """Whether parameter ``name`` came from the command line or the environment."""
    return getattr(ctx.get_parameter_source(name), "name", None) in _TYPED
