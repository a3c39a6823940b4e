"""The ``groklst`` command: a Typer app whose subcommands live in ``groklst_cli.commands``.

Exit statuses a shell script can trust: 0 success, 2 a problem with the user's input (one line
on stderr naming the file and the problem), 1 an internal error. Tracebacks only with --debug.
"""

from __future__ import annotations

import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Optional

import typer
from rich.markup import escape

from groklst_cli import __version__
from groklst_cli.commands import register_all
from groklst_cli.console import err, result, state, warn
from groklst_cli.native_stderr import native_stderr_hidden
from pipelines import strict_json
from pipelines.allocator import keep_freed_memory
from pipelines.errors import GroklstWarning, InputError, environment_error

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 1
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports a process killed by it


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every temporary output is cleaned up on the way out."""


_signals = {"terminated": False}  # typer turns a KeyboardInterrupt into status 130: remember why


def _raise_terminated(signum: int, frame: object) -> None:
    _signals["terminated"] = True
    raise Terminated()


@contextmanager
def _terminate_cleanly() -> Iterator[None]:
    """Turn SIGTERM into :class:`Terminated` for the block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _groklst_warnings_shown() -> Iterator[None]:
    """Show :class:`GroklstWarning`s from the pipelines as ``warning:`` lines.

    A warning given again word for word (a shared guidance's coverage, once per scene of a
    batch) is shown once, and how many more times it was given is said at the end.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("always", GroklstWarning)
        default = warnings.showwarning
        repeats: dict[str, int] = {}

        def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
            if not issubclass(category, GroklstWarning):
                default(message, category, filename, lineno, file, line)
                return
            text = str(message)
            if text in repeats:
                repeats[text] += 1
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

app = typer.Typer(
    name="groklst",
    help="Downscale land-surface-temperature rasters with guided deep networks (MoCoLSK-Net).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"groklst {__version__}")
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
        None, "--threads", min=1, envvar="GROKLST_THREADS",
        help="CPU threads per pool (networks, GDAL decoding, sharpeners); default: every core. "
             "With N groklst processes side by side, give each cores / N.",
    ),
) -> None:
    """Downscale land-surface-temperature rasters with guided deep networks (MoCoLSK-Net)."""
    state.quiet = quiet
    state.debug = debug
    state.shown_as = {}
    state.working_on(None)
    if threads is not None:
        from pipelines.threads import thread_limit  # imports torch: only when asked

        ctx.with_resource(thread_limit(threads))


register_all(app)


def _fail(message: str, status: int) -> int:
    err.print(f"[bold red]error:[/bold red] {escape(message)}", markup=True, highlight=False)
    return status


def _json_error(message: str, status: str = "error") -> None:
    """With --json, an error that stops the whole command is also a JSON line on stdout, so a
    pipeline reading stdout sees why nothing else came: the command's input and output when it
    has one of each (else null), ``error`` for bad input, ``failed`` for a bug, as for a scene."""
    named = {key: None if value is None else state.named(value)
             for key, value in (("input", state.input), ("output", state.output))}
    result(strict_json.dumps({**named, "status": status, "error": message}))


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit status instead of exiting (used by ``main`` and tests)."""
    args = argv if argv is not None else sys.argv[1:]
    debug, as_json = "--debug" in args, "--json" in args
    _signals["terminated"] = False
    try:
        with _terminate_cleanly(), _groklst_warnings_shown():
            # Without standalone mode click returns typer.Exit's code instead of raising it.
            status = app(args=argv, prog_name="groklst", standalone_mode=False)
        if _signals["terminated"]:
            return _fail("terminated (SIGTERM); unfinished outputs were removed", EXIT_TERMINATED)
        if status == EXIT_INTERRUPTED:
            return _fail("interrupted; unfinished outputs were removed", EXIT_INTERRUPTED)
        return status if isinstance(status, int) else 0
    except InputError as exc:
        if debug:
            traceback.print_exc()
        message = state.named(str(exc))
        if as_json:
            _json_error(message)
        return _fail(message, EXIT_USER_ERROR)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        return _fail("aborted", EXIT_INTERRUPTED)
    except typer.TyperException as exc:  # usage errors: click's own message, exit status 2
        if as_json:
            _json_error(exc.format_message())
        exc.show()
        return exc.exit_code
    except Terminated:
        return _fail("terminated (SIGTERM); unfinished outputs were removed", EXIT_TERMINATED)
    except KeyboardInterrupt:
        return _fail("interrupted; unfinished outputs were removed", EXIT_INTERRUPTED)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: report, never crash
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


def main() -> None:
    """Console-script entry point."""
    keep_freed_memory()
    if "--debug" in sys.argv[1:]:
        sys.exit(run())
    with native_stderr_hidden():
        status = run()
    sys.exit(status)
