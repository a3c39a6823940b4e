"""Options that name a file to write.

A name ending in a path separator names a folder; pathlib drops that separator, so without this
check ``-o results/`` would write a file called ``results``. The refusal is raised when the
command names its input and output (``state.working_on``), so that its --json error line names
them as every other error's does: a command with such an option calls ``working_on`` before
anything else.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from groklst_cli.console import state
from pipelines.errors import InputError


def file_to_write(hint: str) -> Callable[[str], Path]:
    """A typer ``parser`` that refuses a name ending in a separator, with ``hint``."""
    separators = tuple({"/", os.sep, os.altsep or "/"})

    def parse(value: str) -> Path:
        if value.endswith(separators):
            problem = "names a folder (it ends in a separator), not the file to write"
            state.refuse(value, InputError(value, problem, hint))
        return Path(value)

    return parse
