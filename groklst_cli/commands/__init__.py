"""One module per subcommand; each exposes ``register(app: typer.Typer) -> None``.

Modules are discovered, so adding a command means adding a module here; ``ORDER`` only sets
the order in which ``groklst --help`` lists them.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import typer

ORDER = (
    "sample_scene",
    "ingest",
    "guidance",
    "mask",
    "coregister",
    "prepare",
    "train",
    "evaluate",
    "downscale",
    "compare",
    "quicklook",
    "models_cmd",
    "checkpoint_info",
)


def register_all(app: typer.Typer) -> None:
    """Attach every subcommand module in this package to the top-level app."""
    names = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
    names.sort(key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))
    for name in names:
        importlib.import_module(f"{__name__}.{name}").register(app)
    for command in app.registered_commands:
        if command.help is None and command.callback is not None and command.callback.__doc__:
            command.help = reflowed(command.callback.__doc__)


def reflowed(doc: str) -> str:
    """A docstring's paragraphs, each on one line, so the terminal wraps them at its width.

    Typer's rich help keeps the docstring's own line breaks after the first paragraph, so a
    paragraph wrapped at 96 columns in the source comes out ragged in an 80-column terminal.
    """
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)
