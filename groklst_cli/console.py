"""Where groklst talks: logs and progress on stderr (rich), results on stdout.

Progress bars are shown only when stderr is a terminal and ``--quiet`` was not given, so
pipelines that capture output get clean text. Every console here prints user text (paths,
options, names) as typed: no emoji codes (``:fire:`` in a path stays), and tables no markup.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def table_console(*, soft_wrap: bool = True) -> Console:
    """The stdout console for result tables: titles and cells are user text (paths, band
    names) printed as typed, so neither markup (``[red]``) nor emoji codes (``:fire:``) apply."""
    return Console(file=sys.stdout, highlight=False, markup=False, emoji=False,
                   soft_wrap=soft_wrap)


@dataclass
class RunState:
    """Global flags set by the top-level options."""

    quiet: bool = False
    debug: bool = False
    shown_as: dict[str, str] = field(default_factory=dict)  # a temporary path -> what the user gave
    input: str | None = None  # what the command works on, for a --json line about an error that
    output: str | None = None  # stops it (None: several inputs, or not known yet)

    def working_on(self, input: object, output: object = None) -> None:
        """Name the command's one input (and output) for a --json error line."""
        self.input = None if input is None else str(input)
        self.output = None if output is None else str(output)

    def named(self, text: str) -> str:
        """``text`` naming what the user gave instead of the temporary files made from it."""
        for temporary, given in sorted(self.shown_as.items(), key=lambda item: -len(item[0])):
            text = text.replace(temporary, given)
        return text


state = RunState()


def info(message: str) -> None:
    """A log line on stderr, silenced by ``--quiet``; plain text (brackets in paths stay)."""
    if not state.quiet:
        err.print(escape(state.named(message)))


def warn(message: str) -> None:
    """A warning on stderr, shown even with ``--quiet``; plain text (brackets in paths stay)."""
    err.print(f"[yellow]warning:[/yellow] {escape(state.named(message))}")


def progress(*extra_columns: TextColumn) -> Progress:
    """A rich progress bar on stderr, disabled when quiet or when stderr is not a terminal."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *extra_columns,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=state.quiet or not err.is_terminal,
        transient=False,
    )


def result(text: str) -> None:
    """A result line on stdout (what a pipeline captures)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
