"""Keep raw messages that C libraries print on stderr out of the user's terminal.

libtiff inside GDAL prints lines such as ``_tiffWriteProc: No space left on device.`` straight
to file descriptor 2, beside the one-line error groklst reports for the same failure. While a
command runs, file descriptor 2 points to a temporary file and Python's ``sys.stderr`` (rich,
warnings, tracebacks) to the real stderr, so only groklst's own messages reach the user.
``--debug`` runs without this, so nothing is hidden when debugging.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def native_stderr_hidden() -> Iterator[None]:
    """Divert C-level writes to fd 2 into a discarded temporary file for the block's duration."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (embedded, captured): nothing to do
        yield
        return
    sys.stderr.flush()
    python_stderr = sys.stderr
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as sink:
        sys.stderr = open(  # noqa: SIM115 - closed below, after the block
            os.dup(saved), "w", buffering=1, encoding=python_stderr.encoding or "utf-8",
            errors="backslashreplace",
        )
        os.dup2(sink.fileno(), fd)
        try:
            yield
        finally:
            diverted, sys.stderr = sys.stderr, python_stderr
            _close_quietly(diverted)
            os.dup2(saved, fd)
            os.close(saved)


def _close_quietly(stream) -> None:  # noqa: ANN001 - a text file
    """Close ``stream``; what it cannot flush any more (a stderr whose reader went away, a
    terminal that hung up) is dropped: nobody is left to read it."""
    try:
        stream.close()
    except OSError:
        try:
            stream.close()  # the buffer failed to flush: close the file all the same
        except OSError:
            pass
