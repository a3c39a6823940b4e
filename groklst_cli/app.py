"""The ``groklst`` command: a Typer app whose subcommands live in ``groklst_cli.commands``.

Exit statuses a shell script can trust: 0 success, 2 a problem with the user's input (one line
on stderr naming the file and the problem), 1 an internal error. Tracebacks only with --debug.
"""

from __future__ import annotations

import sys
import traceback

import typer

from groklst_cli import __version__
from groklst_cli.commands import register_all
from groklst_cli.console import err, state
from pipelines.errors import InputError

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 1

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
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or log lines."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    """Downscale land-surface-temperature rasters with guided deep networks (MoCoLSK-Net)."""
    state.quiet = quiet
    state.debug = debug


register_all(app)


def _fail(message: str, status: int) -> int:
    err.print(f"[bold red]error:[/bold red] {message}", markup=True, highlight=False)
    return status


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit status instead of exiting (used by ``main`` and tests)."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        # Without standalone mode click returns typer.Exit's code instead of raising it.
        status = app(args=argv, prog_name="groklst", standalone_mode=False)
        return status if isinstance(status, int) else 0
    except InputError as exc:
        if debug:
            traceback.print_exc()
        return _fail(str(exc).replace("[", r"\["), EXIT_USER_ERROR)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        return _fail("aborted", 130)
    except typer.TyperException as exc:  # usage errors: click's own message, exit status 2
        exc.show()
        return exc.exit_code
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: report, never crash
        if debug:
            traceback.print_exc()
        msg = f"internal error: {type(exc).__name__}: {exc}".replace("[", r"\[")
        return _fail(msg + " (run with --debug for the traceback)", EXIT_INTERNAL_ERROR)


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())
