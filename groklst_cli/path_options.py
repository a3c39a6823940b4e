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


def _folder_problem(value: str, separators: tuple[str, ...]) -> Optional[str]:
    """Why ``value`` names no file to write (the current folder, or another folder), or None."""
    if not value:
        return "is empty"
    if value.endswith(separators):
        return "names a folder (it ends in a separator), not the file to write"
    path = Path(value)
    if path.is_dir() and not path.is_symlink():
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
