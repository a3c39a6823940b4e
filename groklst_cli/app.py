"""The ``groklst`` command: a Typer app whose subcommands live in ``groklst_cli.commands``.

Exit statuses a shell script can trust: 0 success, 2 a problem with the user's input or a
usage error (one line on stderr naming the file and the problem), 1 an internal error, and
128 + the signal's number when a signal stops the run (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP,
141 when the reader of stdout went away, as with ``| head``, unless a scene had failed by
then: that failure's 1 or 2). Tracebacks only with --debug.
"""

from __future__ import annotations

import errno
import io
import math
import os
import re
import shutil
import signal
import sys
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional, get_args

# Ctrl-C while the modules below load (most of the start-up, before any file is written) ends
# groklst at once, as killed by SIGINT: status 130, without a KeyboardInterrupt traceback.
# Python's handler is given back once they are loaded (a later Ctrl-C is reported by _run).
_SIGINT_AT_START = signal.getsignal(signal.SIGINT)
if _SIGINT_AT_START is signal.default_int_handler:
    signal.signal(signal.SIGINT, signal.SIG_DFL)

try:  # given back also when an import fails (groklst imported by a notebook or a test)
    import click  # noqa: E402
    import typer  # noqa: E402
    from rich.markup import escape  # noqa: E402
    from typer.core import TyperCommand, TyperGroup  # noqa: E402

    from groklst_cli import __version__  # noqa: E402
    from groklst_cli.commands import register_all  # noqa: E402
    from groklst_cli.commands._scene_reports import failure_status  # noqa: E402
    from groklst_cli.commands.train import COMMAND_START, forget_saved_run, run_saved_whole  # noqa: E402
    from groklst_cli.console import (  # noqa: E402
        err, help_follows_no_color, printable, result, state, warn, warnings_said)
    from groklst_cli.interrupts import (  # noqa: E402
        Terminated, process_ends_with_the_run, received, stopping_signals_raise, stops_ignored_until_exit)
    from groklst_cli.native_stderr import native_stderr_hidden  # noqa: E402
    from pipelines import strict_json  # noqa: E402
    from pipelines.allocator import keep_freed_memory  # noqa: E402
    from pipelines.atomic import unfinished_discarded  # noqa: E402
    from pipelines.errors import (  # noqa: E402
        GroklstWarning, InputError, StreamWriteError, environment_error, escape_control_characters, one_run)
finally:
    if _SIGINT_AT_START is signal.default_int_handler:
        signal.signal(signal.SIGINT, _SIGINT_AT_START)

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 1
EXIT_INTERRUPTED = 130
# 128 + the signal's number, as a shell reports a process killed by it
EXIT_HUNG_UP = 128 + signal.SIGHUP  # 129
EXIT_STDOUT_CLOSED = 128 + signal.SIGPIPE  # 141
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143

# --threads' ceiling: above the cores of any one machine groklst runs on, below the counts at
# which OpenMP and torch fail to start their pools (1000000 crashes with SIGSEGV). A fixed
# number, not one per machine, so that a script's --threads works on every machine it runs on.
MAX_THREADS = 1024
# --threads' default, read by _root (not by typer: a bad value must not block a command's --help)
THREADS_ENVVAR = "GROKLST_THREADS"
# where _root holds a bad GROKLST_THREADS until a command starts (ctx.meta: shared with the command's)
_HELD_REFUSAL = "groklst.held_refusal"

# The signals that stop a run like Ctrl-C does (clean-up included): status and what to say.
_STOPPING = {
    signal.SIGTERM: (EXIT_TERMINATED, "terminated (SIGTERM)"),
    signal.SIGHUP: (EXIT_HUNG_UP, "hung up (SIGHUP)"),
}


class StdoutClosed(BaseException):
    """The reader of stdout (or stderr) went away (``groklst ... | head -n 1``): the run stops
    quietly, like a tool killed by SIGPIPE. A BaseException, so that no ``except Exception``
    reports it as a failure; raised after the command's clean-up ran."""


# whether stdout's reader went away (what SIGPIPE would say if Python did not ignore it)
_stdout = {"closed": False}
# how this run was started, before the command's name: what a command to run again starts with
_invocation: dict[str, list[str]] = {"program": ["groklst"]}
# how many unfinished outputs this process had removed when the run began (pipelines.atomic)
_discarded_before = {"count": 0}


def _reader_gone(exc: Optional[BaseException]) -> bool:
    """Whether ``exc`` is a write to a pipe whose reader went away (stdout or stderr; a file
    the command writes would name itself)."""
    return isinstance(exc, OSError) and exc.errno == errno.EPIPE and exc.filename is None


@contextmanager
def _stdout_closed_stops_quietly() -> Iterator[None]:
    """Turn a broken pipe that ends the command into :class:`StdoutClosed`.

    Entered as a resource of the root context, so that it sees the error after the command's
    clean-up ran and before typer, which would turn it into exit status 1 with nothing said.
    """
    try:
        yield
    except OSError as exc:
        if not _reader_gone(exc):
            raise
        raise StdoutClosed() from exc


@contextmanager
def _groklst_warnings_shown() -> Iterator[None]:
    """Show :class:`GroklstWarning`s from the pipelines as ``warning:`` lines; other warnings
    as Python shows them, their message as printable as a warning line's.

    A warning given again word for word (a shared guidance's coverage, once per scene of a
    batch) is shown once, and how many more times it was given is said at the end.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("always", GroklstWarning)
        default = warnings.showwarning
        repeats: dict[str, int] = {}

        def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
            text = printable(str(message))
            if not issubclass(category, GroklstWarning):
                default(text, category, filename, lineno, file, line)
                return
            if text in repeats:  # not shown again, but it is this scene's too (--json)
                repeats[text] += 1
                state.warned.append(text)
                return
            repeats[text] = 0
            warn(text)

        warnings.showwarning = show
        try:
            yield
        finally:
            for text, again in repeats.items():
                if again:
                    warn(f"given {again} more time{'s' if again > 1 else ''}: {text}")


class _HelpOnStdout:
    """Help that cannot be written (``--help > /dev/full``) is stdout's problem, said as such
    (:class:`StreamWriteError`), not a full output disk; a broken pipe stays one (its reader went
    away)."""

    def get_help(self, ctx: typer.Context) -> str:
        try:
            return super().get_help(ctx)  # type: ignore[misc]
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise
            raise StreamWriteError("stdout", exc) from exc


class _Group(_HelpOnStdout, TyperGroup):
    """The ``groklst`` group (see :class:`_HelpOnStdout`)."""


class _Command(_HelpOnStdout, TyperCommand):
    """A groklst command: raises the refusal ``_root`` held (a bad GROKLST_THREADS) when it
    starts, after its options were read, so that its ``--help`` still shows (QA: the variable's
    error, whose hint says to run ``--help``, blocked every command's help)."""

    def invoke(self, ctx: typer.Context) -> Any:
        refusal = ctx.meta.pop(_HELD_REFUSAL, None)
        if refusal is not None:
            raise refusal
        return super().invoke(ctx)


app = typer.Typer(
    cls=_Group,
    name="groklst",
    help="Downscale land-surface-temperature rasters with guided deep networks (MoCoLSK-Net).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    """Print the version; a stdout that cannot be written is said to be (``result``)."""
    if value:
        result(f"groklst {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or log lines."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    threads: Optional[int] = typer.Option(
        None, "--threads", min=1, max=MAX_THREADS,
        help=f"CPU threads per pool (networks, GDAL decoding, sharpeners); default: "
             f"${THREADS_ENVVAR}, else every core. With N groklst processes side by side, give "
             f"each cores / N.",
    ),
) -> None:
    """Downscale land-surface-temperature rasters with guided deep networks (MoCoLSK-Net)."""
    state.quiet = quiet
    state.debug = debug
    state.begin()
    ctx.with_resource(_stdout_closed_stops_quietly())  # first in, so the last to see an error
    ctx.meta[COMMAND_START] = (_invocation["program"], _global_options(ctx))
    threads = threads if threads is not None else _threads_from_environment(ctx)
    if threads is not None:
        from pipelines.threads import thread_limit  # imports torch: only when asked

        ctx.with_resource(thread_limit(threads))


def _global_options(ctx: typer.Context) -> list[str]:
    """The global options given on the command line (``--threads 2``), as a command that runs
    groklst again repeats them (train's resume command dropped them)."""
    options: list[str] = []
    for param in ctx.command.params:
        if param.name == "version" or getattr(ctx.get_parameter_source(param.name), "name", None) != "COMMANDLINE":
            continue
        value = ctx.params[param.name]
        if getattr(param, "is_flag", False):
            options += [param.opts[0]] if value else []
        else:
            options += [param.opts[0], str(value)]
    return options


def _program(argv: list[str] | None) -> list[str]:
    """groklst as it was started: ``python -m groklst_cli`` as typed for a module run, ``groklst``
    for the console script found on PATH (else its path as typed); ``groklst`` for :func:`run`
    called with arguments (a test, a notebook)."""
    if argv is not None or not sys.argv or not sys.argv[0]:
        return ["groklst"]
    if Path(sys.argv[0]).name == "__main__.py":  # python -m groklst_cli: the interpreter's words
        return list(sys.orig_argv[:len(sys.orig_argv) - len(sys.argv) + 1])
    name = Path(sys.argv[0]).name
    found = shutil.which(name)
    if found is not None and os.path.realpath(found) == os.path.realpath(sys.argv[0]):
        return [name]
    return [sys.argv[0]]


def _threads_from_environment(ctx: typer.Context) -> Optional[int]:
    """GROKLST_THREADS, when --threads was not given (None: neither was; an empty variable is
    unset). Read here rather than by typer, which refused a bad value before any command's
    --help: the refusal is held in ``ctx.meta`` for :class:`_Command` to raise when the command
    starts."""
    text = os.environ.get(THREADS_ENVVAR)
    if not text:
        return None
    try:
        return _threads_value(ctx, text)
    except typer.BadParameter as exc:
        ctx.meta[_HELD_REFUSAL] = exc
        return None


def _threads_value(ctx: typer.Context, text: str) -> int:
    """``text`` read as --threads reads its value (same bounds, same messages), the refusal
    naming the variable: "Invalid value for '--threads' (env var: 'GROKLST_THREADS'): ..."."""
    hint = f"'--threads' (env var: '{THREADS_ENVVAR}')"
    problem = _not_finite(text)
    if problem is not None:
        raise typer.BadParameter(f"{text!r} {problem}", ctx=ctx, param_hint=hint)
    option = next(param for param in ctx.command.params if param.name == "threads")
    try:
        return option.process_value(ctx, text)
    except typer.BadParameter as exc:
        raise typer.BadParameter(exc.message, ctx=ctx, param_hint=hint) from None


def _commands_raise_held_refusals(typer_app: typer.Typer) -> None:
    """Make every command of ``typer_app`` a :class:`_Command` (each has typer's own class now;
    one given a class of its own keeps it)."""
    for info in typer_app.registered_commands:
        if info.cls is TyperCommand:
            info.cls = _Command


register_all(app)
_commands_raise_held_refusals(app)


def _fail(message: str, status: int) -> int:
    """Say ``error: message`` on stderr, on one line (control characters escaped); ``status``.

    A stderr that cannot be written (a terminal that hung up, a closed pipe) does not change
    the status: there is nobody left to tell."""
    line = escape(escape_control_characters(message))
    try:
        err.print(f"[bold red]error:[/bold red] {line}", markup=True, highlight=False)
    except (OSError, StreamWriteError):
        pass
    return status


def _stopped(what: str, status: int) -> int:
    """Say that the run stopped (``what``), and that its unfinished outputs were removed only
    where the clean-up removed one (QA: said after ``--version`` and after a train whose state
    is kept for --resume)."""
    removed = "; unfinished outputs were removed" if unfinished_discarded() > _discarded_before["count"] else ""
    return _fail(f"{what}{removed}", status)


def _stopped_by_signal() -> int:
    """The status and message of a run stopped by SIGTERM or SIGHUP (clean-up done)."""
    status, what = _STOPPING[received()]
    return _stopped(what, status)


def _done_whatever_comes() -> int:
    """Status 0 for a train that saved its run's end (:func:`run_saved_whole`), whatever stop
    came after it (README: it does not fail the run). In groklst's own process a stopping signal
    from now until it exits is ignored (:func:`stops_ignored_until_exit`); a library caller of
    :func:`run` keeps its handlers (QA s8: ``run()`` with no arguments left them ignored)."""
    stops_ignored_until_exit((*_STOPPING, signal.SIGINT))
    return 0


def _usage_error(exc: typer.TyperException, args: list[str], as_json: bool) -> int:
    """Click's usage error as one line, ``error: <message> (hint: groklst <command> --help)``,
    instead of its usage, ``Try ...`` and ``Error: ...`` lines. ``groklst`` alone still prints
    the help (click raises that as a usage error too)."""
    if any(cls.__name__ == "NoArgsIsHelpError" for cls in type(exc).__mro__):
        exc.show()
        return exc.exit_code
    # typer validates option values with pydantic, whose message starts "Value error, "
    message = re.sub(r"^(Invalid value for [^:]*: )Value error, ", r"\1", exc.format_message())
    message = _as_typed(message, getattr(exc, "param", None), args)
    message = _argument_as_helped(message, getattr(exc, "param", None))
    if as_json:
        _json_error(message)
    return _fail(f"{message} (hint: {_help_command(exc, args)} --help)", exc.exit_code)


def _as_typed(message: str, param: Optional[click.Parameter], args: list[str]) -> str:
    """Click's message about an option's value, told about the value as typed: the environment
    variable named only when the value came from it (``--threads 0`` named GROKLST_THREADS), and
    a NaN said to be one (it fails every bound: "should be less than or equal to 5") and an
    infinity said to be one (it was said to be above the bound)."""
    if param is None or not message.startswith("Invalid value for "):
        return message
    typed = _typed_value(param, args)
    if typed is not None:
        message = re.sub(r" \(env var: '[^']*'\)", "", message, count=1)
    elif param.envvar:
        typed = os.environ.get(param.envvar if isinstance(param.envvar, str) else param.envvar[0])
    problem = None if typed is None or not _is_number(param) else _not_finite(typed)
    if problem is not None:
        message = re.sub(r"^(Invalid value for '[^']*'(?: \(env var: '[^']*'\))?: ).*$",
                         lambda m: f"{m.group(1)}{typed!r} {problem}", message)
    return message


def _argument_as_helped(message: str, param: Optional[click.Parameter]) -> str:
    """A missing argument that takes one or more values named as --help names it,
    ``'candidates...'`` (it said ``'candidates'``, a name the help shows nowhere)."""
    if param is None or getattr(param, "param_type_name", None) != "argument" or param.nargs != -1:
        return message
    return message.replace(f"Missing argument '{param.name}'", f"Missing argument '{param.name}...'", 1)


def _typed_value(param: click.Parameter, args: list[str]) -> Optional[str]:
    """The last value given to ``param`` on the command line (``--opt V`` or ``--opt=V``), or None."""
    value = None
    for arg, following in zip(args, [*args[1:], None]):
        for opt in getattr(param, "opts", ()):
            if arg == opt and following is not None:
                value = following
            elif arg.startswith(f"{opt}=") and opt.startswith("--"):
                value = arg[len(opt) + 1:]
    return value


def _is_number(param: click.Parameter) -> bool:
    """Whether ``param`` takes numbers (``--units nan`` is an unknown unit, not a bad number):
    its annotation (``list[float]`` for a repeated option) is int or float."""
    annotation = param.type_descriptor.annotation
    return annotation in (int, float) or get_args(annotation) in ((int,), (float,))


def _not_finite(text: str) -> Optional[str]:
    """What a typed number is that no bound can take ("is not a number", "is not finite"), or None."""
    try:
        number = float(text)
    except ValueError:
        return None
    if math.isnan(number):
        return "is not a number"
    return None if math.isfinite(number) else "is not finite"


def _help_command(exc: typer.TyperException, args: list[str]) -> str:
    """``groklst COMMAND`` the error is about (``groklst`` for the global options)."""
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        return ctx.command_path
    group = typer.main.get_command(app)
    commands = getattr(group, "commands", {})
    named = next((arg for arg in args if arg in commands), None)
    return "groklst" if named is None else f"groklst {named}"


def _json_error(message: str, status: str = "error") -> None:
    """With --json, an error that stops the whole command is also a JSON line on stdout, so a
    pipeline reading stdout sees why nothing else came: the command's input and output when it
    has one of each (else null), ``error`` for bad input, ``failed`` for a bug, as for a scene,
    and the warnings said before it (one may explain it).

    With nobody left reading stdout, or a stdout that cannot be written (a full disk), the line
    is dropped: the error still goes to stderr and sets the exit status."""
    try:
        result(strict_json.dumps({**state.names(), "status": status, "error": message,
                                  "warnings": warnings_said()}))
    except StreamWriteError:
        pass
    except OSError as exc:
        if not _reader_gone(exc):
            raise
        _stdout["closed"] = True


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit status instead of exiting (used by ``main`` and tests).

    A closed stdout stops the run at the line that could not be written: status 141 with
    nothing said, unless an error stopped the command first or a scene had failed by then, the
    scene of that line included (their status, and their line on stderr: a script that lets
    141 pass must not miss them);
    ``main`` then points stdout at /dev/null, so that Python's last flush at exit does not
    complain about it."""
    _stdout["closed"] = False
    try:
        return _run(argv)
    except StdoutClosed:
        pass
    except SystemExit as exc:  # typer's exit 1 for a broken pipe outside a command (--help)
        if not _reader_gone(exc.__context__):
            raise
    _stdout["closed"] = True
    return failure_status(state.outcomes) or EXIT_STDOUT_CLOSED


def _run(argv: list[str] | None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    debug, as_json = "--debug" in args, "--json" in args
    state.begin()  # a usage error of the global options comes before _root
    _invocation["program"] = _program(argv)
    _discarded_before["count"] = unfinished_discarded()
    forget_saved_run()
    help_follows_no_color()
    try:
        with stopping_signals_raise(_STOPPING), _groklst_warnings_shown(), one_run():
            # Without standalone mode click returns typer.Exit's code instead of raising it.
            # Typer.__call__ sets sys.excepthook for good: a Python caller's hook is put back.
            hook = sys.excepthook
            try:
                status = app(args=argv, prog_name="groklst", standalone_mode=False)
            finally:
                sys.excepthook = hook
        if run_saved_whole():  # a stop after it (130, or one received) does not fail it
            return _done_whatever_comes()
        if received() is not None:
            return _stopped_by_signal()
        if status == EXIT_INTERRUPTED:
            return _stopped("interrupted", EXIT_INTERRUPTED)
        return status if isinstance(status, int) else 0
    except InputError as exc:
        if debug:
            traceback.print_exc()
        message = state.named(state.choice_as_typed(exc.path, str(exc)))
        if as_json and not isinstance(exc, StreamWriteError):  # stdout failed, or a scene's line is out
            _json_error(message)
        return _fail(message, EXIT_USER_ERROR)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        return _fail("aborted", EXIT_INTERRUPTED)
    except typer.TyperException as exc:  # usage errors: click's own message, exit status 2
        return _usage_error(exc, args, as_json)
    except KeyboardInterrupt as stop:  # Terminated too: one as the command's contexts closed
        if run_saved_whole():  # the train finished, whole, before the signal: nothing was removed
            return _done_whatever_comes()
        return _stopped_by_signal() if isinstance(stop, Terminated) else _stopped("interrupted", EXIT_INTERRUPTED)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: report, never crash
        if _reader_gone(exc):  # a broken pipe after the command (a warning's summary line)
            raise StdoutClosed() from exc
        if debug:
            traceback.print_exc()
        mapped = environment_error(exc)
        if mapped is not None:
            if as_json:
                _json_error(str(mapped))
            return _fail(str(mapped), EXIT_USER_ERROR)
        message = f"internal error: {type(exc).__name__}: {exc}"
        if as_json:
            _json_error(message, status="failed")
        return _fail(f"{message} (run with --debug for the traceback)", EXIT_INTERNAL_ERROR)


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null (what Python's documentation recommends after a broken pipe):
    what is left in its buffer is flushed there at exit, not reported as an ignored error."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):
        pass


class _ClosedStdout(io.TextIOBase):
    """Stands in for a stdout closed before the run (``groklst ... >&-``; Python then has none):
    a write to it is a broken pipe, so the run stops as when stdout's reader went away (status
    141) instead of failing on the missing stream. Its descriptor is /dev/null's, for the
    libraries that ask for one (the terminal's width)."""

    def __init__(self) -> None:
        super().__init__()
        self._devnull = os.open(os.devnull, os.O_WRONLY)

    def fileno(self) -> int:
        return self._devnull

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


def _stderr_to_devnull() -> None:
    """Give a run started with stderr closed (``groklst ... 2>&-``; Python then has none) a stderr
    on /dev/null, so that it runs as with ``2>/dev/null``: a ``--debug`` traceback is not printed
    on stdout (where ``print`` sends it without a stderr). Descriptor 2 itself was kept from the
    run's files when the package was imported (``groklst_cli._keep_stderr_descriptor``)."""
    sys.stderr = open(os.devnull, "w", encoding="utf-8", errors="backslashreplace")  # noqa: SIM115


def main() -> None:
    """Console-script entry point."""
    keep_freed_memory()
    process_ends_with_the_run()
    if sys.stdout is None:
        sys.stdout = _ClosedStdout()
    if sys.stderr is None:
        _stderr_to_devnull()
    if "--debug" in sys.argv[1:]:
        status = run()
    else:
        with native_stderr_hidden():
            status = run()
    if _stdout["closed"]:
        _stdout_to_devnull()
    if status == EXIT_INTERRUPTED and _SIGINT_AT_START is signal.default_int_handler:
        _end_by_sigint()
    sys.exit(status)


def _end_by_sigint() -> None:
    """End the process as killed by SIGINT, its clean-up and message done: a shell stops a
    ``for`` loop only when its child died of the signal, so an exit with status 130 let a
    Ctrl-C in a scene go on to the next one (QA: each scene needed its own Ctrl-C). Python ends
    an uncaught KeyboardInterrupt the same way; the shell's ``$?`` is 130 either way."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):  # closed or gone: nothing more can be said
            pass
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)
