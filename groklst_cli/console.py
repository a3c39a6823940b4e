"""Where groklst talks: logs and progress on stderr (rich), results on stdout.

Progress bars are shown only when stderr is a terminal and ``--quiet`` was not given, so
pipelines that capture output get clean text. Every console here prints user text (paths,
options, names) as typed: no emoji codes (``:fire:`` in a path stays), and tables no markup.
"""

from __future__ import annotations

import errno
import io
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import IO

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

from pipelines.errors import GroklstWarning, InputError, StreamWriteError, printable_path
from pipelines.scene_align import named_as_guidance


class _Discarded(io.TextIOBase):
    """Where text for a stream that is not there goes: nowhere, as rich's own console sends it.
    Python has no ``sys.stderr`` when file descriptor 2 was closed (``groklst ... 2>&-``): the
    run goes on as with ``2>/dev/null``. Not a terminal, no descriptor, no encoding of its own."""

    def write(self, text: str) -> int:
        return len(text)


_DISCARDED = _Discarded()


class NamedStream:
    """The file a :class:`StreamConsole` writes to: stdout or stderr (``name``), whose failed write
    or flush (``2> /dev/full``) is a :class:`StreamWriteError` naming it, not an OSError that reads
    as a full output disk; a broken pipe stays an OSError (rich's own: the reader went away).

    Given to rich as its public ``file``, rather than overriding a private method of rich's
    Console that a rich release may rename. Without ``file`` it is the stream ``sys`` holds at each
    write (as rich's ``stderr=True``: pytest's capture, a replaced stream), the one under a
    progress bar's redirect (rich's ``rich_proxied_file``), never the redirect itself (which would
    print through the console again), or nowhere while ``sys`` holds none (``2>&-``, as rich does).
    Rich keeps a failed write's text and writes it again in front of the next line: that repeat
    is dropped, as a line that failed is not said twice.
    """

    def __init__(self, name: str, file: IO[str] | None = None) -> None:
        self.name = name
        self._file = file
        self._written = ""  # the text of the latest write (a failed flush leaves it with rich)
        self._unwritten = ""  # the text rich still holds after a failure, and sends again

    def target(self) -> IO[str]:
        """The stream written to now (:class:`_Discarded` where there is none)."""
        file = self._file or getattr(sys, self.name)
        file = getattr(file, "rich_proxied_file", file)
        return _DISCARDED if file is None else file

    def write(self, text: str) -> int:
        """Write ``text``, less the failed text rich sends again in front of it."""
        repeat, self._unwritten, self._written = self._unwritten, "", text
        new = text[len(repeat):] if repeat and text.startswith(repeat) else text
        self._named(lambda: self.target().write(new), text)
        return len(text)

    def flush(self) -> None:
        self._named(lambda: self.target().flush(), self._written)

    def _named(self, step: Callable[[], object], held: str) -> None:
        """Run ``step`` (a write or a flush); its OSError as a :class:`StreamWriteError`, after
        which rich still holds ``held``. A broken pipe is left to rich (it keeps its text too)."""
        try:
            step()
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise
            self._unwritten = held
            raise StreamWriteError(self.name, exc) from exc

    def isatty(self) -> bool:
        return self.target().isatty()

    def fileno(self) -> int:
        return self.target().fileno()

    @property
    def encoding(self) -> str:
        return getattr(self.target(), "encoding", None) or "utf-8"


class StreamConsole(Console):
    """A rich console on stdout or stderr (``stream``) whose failed write is a
    :class:`StreamWriteError` naming its stream (see :class:`NamedStream`)."""

    def __init__(self, stream: str, file: IO[str] | None = None, **kwargs: object) -> None:
        if _no_color():
            kwargs["color_system"] = None  # no escape codes at all, FORCE_COLOR or not
        super().__init__(file=NamedStream(stream, file), **kwargs)
        self.stream = stream

    @property
    def is_terminal(self) -> bool:
        """Rich's answer, except that NO_COLOR wins over FORCE_COLOR: with both set, rich took a
        log file for a terminal and drew the progress bar's cursor codes (``\\x1b[?25l``) into it.
        Then only a real terminal is one (a bar there, drawn without colour)."""
        if not _no_color():
            return super().is_terminal
        try:
            return self.file.isatty()
        except (AttributeError, ValueError):  # a closed or replaced stream is no terminal
            return False


def _no_color() -> bool:
    """Whether NO_COLOR is set and not empty (no-color.org). Rich's own ``no_color`` drops only the
    colours: ``error:`` was still bold (``\\x1b[1m``), an escape code in a log that asked for none."""
    return bool(os.environ.get("NO_COLOR"))


def help_follows_no_color() -> None:
    """Make typer's ``--help`` and usage errors plain under NO_COLOR, bold and colour alike (its
    own console sets no_color only for colours, and FORCE_COLOR forces a terminal); the default
    (auto) otherwise. Read at each run: tests run many in one process."""
    from typer import rich_utils

    rich_utils.COLOR_SYSTEM = None if _no_color() else "auto"


err = StreamConsole("stderr", highlight=False, soft_wrap=True, emoji=False)


UNBOUNDED_WIDTH = 1_000_000  # a table for a script: as wide as its widest row, whatever that is


def table_console(*, soft_wrap: bool = True) -> Console:
    """The stdout console for result tables: titles and cells are user text (paths, band
    names) printed as typed, so neither markup (``[red]``) nor emoji codes (``:fire:``) apply.
    On a terminal a table fits its width; elsewhere (a pipe, a file) it is as wide as it needs,
    where rich would cut it to 80 columns: a script reads every name whole and a row on one line."""
    console = StreamConsole("stdout", file=sys.stdout, highlight=False, markup=False, emoji=False,
                            soft_wrap=soft_wrap)
    if not _stdout_is_terminal():
        console.width = UNBOUNDED_WIDTH
    return console


def _stdout_is_terminal() -> bool:
    """Whether stdout is a terminal (not whether colour is forced: FORCE_COLOR in a CI log is
    still read by scripts). A stream without ``isatty``, or closed, is no terminal."""
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


@dataclass
class RunState:
    """Global flags set by the top-level options, and what an error report needs to know."""

    quiet: bool = False
    debug: bool = False
    shown_as: dict[str, str] = field(default_factory=dict)  # a temporary path -> what the user gave
    typed_choices: dict[str, tuple[str, str]] = field(default_factory=dict)  # option -> (lowered, typed)
    input: str | None = None  # what the command works on, for a --json line about an error that
    output: str | None = None  # stops it (None: several inputs, or not known yet)
    refusal: tuple[str, InputError] | None = None  # a file option refused while parsing: (as typed, why)
    outcomes: list[str] = field(default_factory=list)  # each scene's status, as it was said
    warned: list[str] = field(default_factory=list)  # each warning said (a repeat not shown again too)
    run_warnings: int | None = None  # how many of `warned` came before the scenes began (None: not yet)
    scene_warnings_from: int = 0  # where in `warned` the next scene's own warnings start

    def begin(self) -> None:
        """Forget the previous run's names, refusal, outcomes and warnings (tests run many in one
        process)."""
        self.shown_as, self.typed_choices, self.refusal, self.outcomes = {}, {}, None, []
        self.warned, self.run_warnings, self.scene_warnings_from = [], None, 0
        self.working_on(None)

    def scenes_begin(self) -> None:
        """Mark where the run's own warnings (options, an ingest) end and the scenes' begin."""
        self.run_warnings = self.scene_warnings_from = len(self.warned)

    def scene_warnings(self) -> list[str]:
        """The warnings a scene's ``--json`` line lists, each once: the run's own, which concern
        every scene, then those said since the previous scene's line (the scene's own)."""
        run = len(self.warned) if self.run_warnings is None else self.run_warnings
        own = self.warned[max(run, self.scene_warnings_from):]
        return list(dict.fromkeys(self.warned[:run] + own))

    def scene_said(self) -> None:
        """A scene's lines were said: the warnings after them are the next scene's."""
        self.scene_warnings_from = len(self.warned)

    def refuse(self, value: str, error: InputError) -> None:
        """Hold a file option's refusal until the command names its input and output
        (:meth:`working_on` raises it): while options are parsed they are not known yet, and
        the --json error line names them. The first refusal is the one raised."""
        if self.refusal is None:
            self.refusal = (value, error)

    def working_on(self, input: object, output: object = None) -> None:
        """Name the command's one input (and output) for a --json error line; then raise a file
        option's refusal (:meth:`refuse`), naming a refused output as typed (``results/``)."""
        self.input = None if input is None else str(input)
        self.output = None if output is None else str(output)
        if self.refusal is None:
            return
        (typed, error), self.refusal = self.refusal, None
        if self.output is not None and Path(typed) == Path(self.output):
            self.output = typed
        raise error

    def names(self) -> dict[str, str | None]:
        """The input and output every ``--json`` object of the command names (success or error),
        as the user gave them (null: several inputs, or none)."""
        return {key: None if value is None else self.named(value)
                for key, value in (("input", self.input), ("output", self.output))}

    def choice_as_typed(self, option: str | None, text: str) -> str:
        """``text``, an error about ``option``, quoting the option's value as typed where it
        quotes it lower-cased (choices are read case-insensitively); other options' untouched."""
        lowered, typed = self.typed_choices.get(option or "", ("", ""))
        return text.replace(repr(lowered), repr(typed)) if lowered else text

    def named(self, text: str) -> str:
        """``text`` naming what the user gave instead of the temporary files made from it (an
        ``--align`` copy of the guidance named as the guidance)."""
        text = named_as_guidance(text)
        for temporary, given in sorted(self.shown_as.items(), key=lambda item: -len(item[0])):
            text = text.replace(temporary, given)
        return text


state = RunState()


def info(message: str) -> None:
    """A log line on stderr, silenced by ``--quiet``; plain text (see :func:`printable`)."""
    if not state.quiet:
        err.print(escape(printable(message)))


def info_lines(lines: Iterable[str]) -> None:
    """Several log lines on stderr (a table of a fit), each made one line by :func:`info`: the
    line breaks between them stay, a control character inside a value is escaped."""
    for line in lines:
        info(line)


def warn(message: str) -> None:
    """A warning on stderr, shown even with ``--quiet``; plain text (see :func:`printable`).
    Kept in ``state.warned`` for the ``--json`` lines."""
    text = printable(message)
    state.warned.append(text)
    err.print(f"[yellow]warning:[/yellow] {escape(text)}")


@contextmanager
def warnings_shown(category: type[Warning] = Warning) -> Iterator[list[warnings.WarningMessage]]:
    """Record the block's warnings and show those of ``category`` (and every
    :class:`GroklstWarning`, meant for the user wherever it comes from) with :func:`warn` when
    it ends, also when it fails: a warning (a band that could not be registered) can explain
    the error that stops it. Yields the record (for ``--json``)."""
    shown = (category, GroklstWarning)
    with warnings.catch_warnings(record=True) as caught:
        for kind in shown:
            warnings.simplefilter("always", kind)
        try:
            yield caught
        finally:
            for item in caught:
                if issubclass(item.category, shown):
                    warn(str(item.message))


def warnings_said() -> list[str]:
    """The run's warning lines so far, each once, for a command's ``--json`` object."""
    return list(dict.fromkeys(state.warned))


def json_ok(fields: Mapping[str, object]) -> dict[str, object]:
    """A command's ``--json`` success object: the input and output its error line would name,
    ``"status": "ok"`` (so a pipeline tests ``.status`` on every line), ``fields`` (which keep
    their own value of a key) and the warnings said."""
    return {**state.names(), "status": "ok", **fields, "warnings": warnings_said()}


def printable(message: str) -> str:
    """``message`` as one line on stderr, naming what the user gave: the paths in it, wherever
    they are, shown as :func:`printable_path` shows a path (a newline or ``\\x1b`` in a file name
    escaped, not breaking the line or reaching the terminal). Brackets in paths stay."""
    return printable_path(state.named(message))


def progress(*extra_columns: TextColumn) -> Progress:
    """A rich progress bar on stderr, disabled when quiet or when stderr is not a terminal.

    Result lines written while it is live stay on stdout (a file or a pipe gets them: QA found
    ``--json > t.jsonl`` empty on a terminal); only when stdout is the bar's own terminal do they
    go through the bar's console, printed above it rather than through it. Stray writes to
    stderr (a library's warning) are printed above the bar too, one line each."""
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
        redirect_stdout=_stdout_on_stderr_terminal(),
        redirect_stderr=True,
    )


def _stdout_on_stderr_terminal() -> bool:
    """Whether stdout is the very terminal stderr is (where a bar is drawn)."""
    try:
        return sys.stdout.isatty() and os.path.samestat(os.fstat(sys.stdout.fileno()), os.fstat(sys.stderr.fileno()))
    except (OSError, ValueError, AttributeError):  # a closed or replaced stream: no bar to keep clear of
        return False


def result(text: str) -> None:
    """A result line on stdout (what a pipeline captures): a JSON object, or text made one line.
    A stdout that cannot be written (``> /dev/full``) raises :class:`StreamWriteError`."""
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            raise
        raise StreamWriteError("stdout", exc) from exc


def one_line(value: object) -> str:
    """User text (a path, a band or model name from a file) for a table cell or a text line on
    stdout, as :func:`printable_path` shows it: a newline or ``\\x1b`` in it escaped, so that it
    neither splits the line nor reaches the terminal. ``--json`` keeps the text as it is."""
    return printable_path(str(value))


def result_path(path: str | PathLike[str]) -> None:
    """A written file's path as a result line on stdout, as :func:`printable_path` shows it
    (a newline or ``\\x1b`` in its name escaped, as on stderr): one line per result, always,
    for ``while read`` and ``xargs``. ``--json`` lines carry the path as it is."""
    result(printable_path(path))
