"""Options that name a file to write.

A name ending in a path separator names a folder; pathlib drops that separator, so without this
check ``-o results/`` would write a file called ``results``. ``-o -`` (stdout, elsewhere) is
refused too: groklst writes GeoTIFFs and PNGs to files only, never to a stream. An empty name (``-o ''``) is
pathlib's ``.``, the current folder, and an existing folder is refused here too, with the
command's own hint (``mask`` has no ``--out-dir`` to suggest). The refusal is raised when the
command names its input and output (``state.working_on``), so that its --json error line names
them as every other error's does: a command with such an option calls ``working_on`` before
anything else.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Optional, TypeVar

from groklst_cli.console import state
from pipelines.errors import InputError

T = TypeVar("T")


def file_to_write(hint: str, option: str = "-o") -> Callable[[str], Path]:
    """A typer ``parser`` for ``option`` that refuses an empty name, a name ending in a
    separator and an existing folder, with ``hint``."""
    separators = tuple({"/", os.sep, os.altsep or "/"})

    def parse(value: str) -> Path:
        problem = _folder_problem(value, separators)
        if value == "-":  # read as stdout elsewhere; a file named '-' would be written silently
            state.refuse(value, InputError(option, "is '-', but writing the output to stdout is not supported",
                                           "give a file name (./- for a file literally named -)"))
        elif problem is not None:
            state.refuse(value, InputError(value or option, problem, hint))
        return Path(value)

    return parse


def typed_file_to_write(hint: str, option: str = "-o") -> Callable[[str], str]:
    """:func:`file_to_write`'s check of ``option``, the name kept as typed (``./q.png``, which
    pathlib folds to ``q.png``): --json lines and result lines name it so, and scripts join
    them with the names they gave. The command opens ``Path(name)``, the same file."""
    check = file_to_write(hint, option)

    def parse(value: str) -> str:
        check(value)
        return value

    return parse


def typed_in_folder(folder: str, path: Path) -> str:
    """``path``, a file groklst names inside ``folder`` (``--out-dir`` as typed: ``./scenes``,
    ``scenes/``), named under the folder as typed (``./scenes/x_lst.tif``); else as it is."""
    if path.parent == Path(folder):
        return os.path.join(folder, path.name)
    return str(path)


def _folder_problem(value: str, separators: tuple[str, ...]) -> Optional[str]:
    """Why ``value`` names no file to write (the current folder, or another folder), or None."""
    if not value:
        return "is empty"
    if value.endswith(separators):
        return "names a folder (it ends in a separator), not the file to write"
    # os.path's tests are False where Path's raise (a name too long for its folder: ENAMETOOLONG),
    # so that the output's own checks refuse such a name with their hint
    if os.path.isdir(value) and not os.path.islink(value):
        return "is a folder; an output file never replaces a folder"
    return None


def not_empty(option: str, hint: str, convert: Callable[[str], T] = Path) -> Callable[[str], T]:
    """A typer ``parser`` for ``option`` that refuses an empty value, with ``hint``: pathlib reads
    ``''`` as ``.``, so ``--out-dir ''`` wrote into the current folder unasked."""

    def parse(value: str) -> T:
        if not value:
            state.refuse(value, InputError(option, "is empty", hint))
        return convert(value)

    return parse


def rasters_only(command: str, paths: list[Path], *, reads_pipes: bool = False) -> None:
    """Refuse a folder among ``command``'s raster inputs, saying that it takes rasters only (the
    reader's refusal hinted at SDGSAT-1 product folders, which only downscale and prepare take),
    and a ``-`` that is no file (read as stdin by downscale, which takes paths there, it was
    refused as ``./-: file not found``); ``reads_pipes``: the command reads a raster from a pipe."""
    for path in paths:
        if str(path) == "-" and not path.exists():
            hint = (f"pipe the raster in as /dev/stdin: ... | groklst {command} ... /dev/stdin" if reads_pipes
                    else "save the raster to a file and name it")
            raise InputError(path, f"is no file: groklst {command} reads no raster from '-'", hint)
        if path.is_dir():
            raise InputError(path, f"is a folder; groklst {command} takes raster files only",
                             "give a GeoTIFF; for SDGSAT-1 product folders run groklst ingest first")
