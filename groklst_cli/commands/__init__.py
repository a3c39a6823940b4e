"""One module per subcommand; each exposes ``register(app: typer.Typer) -> None``.

Modules are discovered, so adding a command means adding a module here; ``ORDER`` only sets
the order in which ``groklst --help`` lists them.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

ORDER = (
    "sample_scene",
    "ingest",
    "guidance",
    "prepare",
    "train",
    "evaluate",
    "downscale",
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
