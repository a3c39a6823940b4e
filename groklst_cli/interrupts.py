"""Ctrl-C, SIGTERM and SIGHUP: what they raise, and the one moment they wait.

A stopping signal raises where it arrives (``KeyboardInterrupt``, or :class:`Terminated`),
so that every temporary output is removed on the way out. Once an output is complete and
renamed into place it is no longer temporary: from that rename until its result line is
written (:func:`reported_once_published`, :func:`signals_wait`) the signal waits, so that an
interrupted run has reported every output it leaves, and leaves none it did not report.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, Optional

from pipelines.atomic import before_publish


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C so that every temporary output is cleaned up on
    the way out."""


@dataclass
class _Signals:
    """What the handler knows: typer makes every KeyboardInterrupt status 130, so which signal
    stopped the run is kept here; and whether a signal must wait, and which one does."""

    received: Optional[int] = None  # the SIGTERM or SIGHUP that stopped the run
    stopped_at: float = 0.0  # when it came (time.monotonic())
    holding: bool = False  # a result line is still to be written (see reported_once_published)
    pending: Optional[int] = None  # the signal that waits for it


_signals = _Signals()
REPEAT_WINDOW_S = 5.0  # a repeated SIGTERM/SIGHUP this soon after the stop is the same stop


def received() -> Optional[int]:
    """The SIGTERM or SIGHUP that stopped the run (None: none did)."""
    return _signals.received


def _stop(signum: int) -> NoReturn:
    """Raise what ``signum`` stops the run with."""
    if signum == signal.SIGINT:
        raise KeyboardInterrupt()
    _signals.received, _signals.stopped_at = signum, time.monotonic()
    raise Terminated()


def _on_signal(signum: int, frame: object) -> None:
    """Stop the run, unless a published output's result line is still to be written: then
    the first such signal waits for it. A SIGTERM or SIGHUP within :data:`REPEAT_WINDOW_S` of
    the one that stopped the run is dropped: ``timeout`` sends one to groklst, then one to its
    process group, and raising the second would cut short the removal of temporary outputs the
    first started. A later one stops the run again (a stop swallowed somewhere must not make
    the run unstoppable)."""
    if (signum != signal.SIGINT and _signals.received is not None
            and time.monotonic() - _signals.stopped_at < REPEAT_WINDOW_S):
        return
    if _signals.holding:
        _signals.pending = _signals.pending or signum
        return
    _stop(signum)


@contextmanager
def stopping_signals_raise(terminating: Iterable[int]) -> Iterator[None]:
    """Ctrl-C and the ``terminating`` signals (SIGTERM, SIGHUP) stop the block through
    :func:`_on_signal` (main thread only).

    A signal the parent ignores stays ignored (``nohup groklst ...`` must survive the hang-up,
    a background job of a script Ctrl-C); SIGINT is taken over only from Python's own handler.
    """
    _signals.received, _signals.holding, _signals.pending = None, False, None
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    try:
        for signum in terminating:
            if signal.getsignal(signum) is not signal.SIG_IGN:
                previous[signum] = signal.signal(signum, _on_signal)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            previous[signal.SIGINT] = signal.signal(signal.SIGINT, _on_signal)
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def reported_once_published(output: str | os.PathLike[str] | None) -> Iterator[None]:
    """The block writes ``output`` (``None``: whatever it writes, e.g. a scene pair whose names
    it derives) and then the result lines: a stopping signal that arrives after such an output
    was renamed into place waits until the block ends, and is raised then."""
    target = None if output is None else Path(output).absolute()

    def hold(published: Path) -> None:
        if target is None or published.absolute() == target:
            _signals.holding = True

    token = before_publish.set(hold)
    try:
        yield
    finally:
        before_publish.reset(token)
        _release()


@contextmanager
def signals_wait() -> Iterator[None]:
    """A stopping signal that arrives in the block waits until it ends, and is raised then (in
    a block that already holds them: when that one ends)."""
    if _signals.holding:
        yield
        return
    _signals.holding = True
    try:
        yield
    finally:
        _release()


def _release() -> None:
    """Stop holding signals; raise the one that waited, if any."""
    pending, _signals.holding, _signals.pending = _signals.pending, False, None
    if pending is not None:
        _stop(pending)
