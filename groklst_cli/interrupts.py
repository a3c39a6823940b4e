"""Ctrl-C, SIGTERM and SIGHUP: what they raise, and the one moment they wait.

A stopping signal raises where it arrives (``KeyboardInterrupt``, or :class:`Terminated`),
so that every temporary output is removed on the way out. Once an output is complete and
renamed into place it is no longer temporary: from that rename until its result line is
written (:func:`reported_once_published`, :func:`signals_wait`) the signal waits, so that an
interrupted run has reported every output it leaves, and leaves none it did not report.

An exception raised in Python code that C calls back (GDAL's log messages, which rasterio hands
to ``logging``; a ``__del__``; a weakref callback) is printed as "Exception ignored" and the run
goes on: such a signal is sent again a moment later instead (:func:`_redeliver`). One still to
be sent again when the run ends stops it there (:func:`_end_redelivery`): sent after the run,
it would kill the caller, stop its next run, or be lost with the process.

The first stopping signal decides how the run ends: a SIGTERM during the clean-up a Ctrl-C
started raises the Ctrl-C again (status 130, the process killed by SIGINT), so that a shell loop
the user stopped does not go on. In groklst's own process (:func:`process_ends_with_the_run`) a
stopping signal after the clean-up is ignored: it must not change the status the first one set.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn, Optional

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
    raised: Optional[tuple[KeyboardInterrupt, int]] = None  # the last stop raised, and its signal
    resending: dict[int, threading.Timer] = field(default_factory=dict)  # to be sent again: timers
    redelivering: bool = False  # whether a signal may still be sent again (inside the block only)
    first: Optional[int] = None  # the signal that stopped the run: a later one raises it again
    ends_process: bool = False  # the process exits once the block ends (groklst's main, not a test)
    result_saved: bool = False  # the run's result is in place: no later stop fails it (run_result_saved)


_signals = _Signals()
_resend_lock = threading.RLock()  # a timer sends while the block has not ended, not after
REPEAT_WINDOW_S = 5.0  # a repeated SIGTERM/SIGHUP this soon after the stop is the same stop
REDELIVER_AFTER_S = 0.03  # a signal that cannot be raised where it came is sent again this late
_CALLBACK_MODULES = ("logging",)  # Python code that C calls back: rasterio's GDAL log handler
# Where a stop raised leaves a thread running that nobody waits for (see _in_thread_bookkeeping)
_THREAD_BOOKKEEPING = {("threading", "start"), ("threading", "join"),
                       ("concurrent.futures.thread", "_adjust_thread_count")}


def received() -> Optional[int]:
    """The SIGTERM or SIGHUP that stopped the run (None: none did)."""
    return _signals.received


def process_ends_with_the_run() -> None:
    """Say that this process exits once the run ends (groklst's entry point; a test calling
    ``run`` goes on): the stopping signals then get :func:`_after_the_block`'s handlers."""
    _signals.ends_process = True


def run_result_saved() -> None:
    """The run's result is in place (a train that saved its end): in groklst's own process the
    stopping signals are ignored, not given back their default action, as the block ends, so
    that none between the block's end and the exit kills the finished run (a fresh-clone run:
    -15 once in 3 tries for a SIGTERM right after train's ok line)."""
    _signals.result_saved = True


def stops_ignored_until_exit(signals: Iterable[int]) -> None:
    """In groklst's own process (:func:`process_ends_with_the_run`), ignore ``signals`` where they
    have their default action, from now until it exits: one given back as the command ended
    killed the run that had saved (QA: -15 after the ok line). A library caller of ``run``, even
    one that leaves its arguments to ``sys.argv``, keeps its handlers: its process goes on."""
    if not _signals.ends_process:
        return
    for signum in signals:
        if signal.getsignal(signum) is signal.SIG_DFL:
            signal.signal(signum, signal.SIG_IGN)


def _after_the_block(handler: Any) -> Any:
    """The handler a stopping signal gets back as the block ends: ``handler``, the one it had,
    unless the process exits after the run. Then, once a signal has stopped the run, a later one
    is ignored: the first decided the status (QA: systemd's SIGHUP after its SIGTERM, as the
    process exited, made status 143 a 129; a Ctrl-C printed a KeyboardInterrupt traceback from
    torch's atexit callback); so is one after the run's result was saved (:func:`run_result_saved`).
    Any other run no signal stopped is ended by one as killed by it (SIG_DFL, as during
    start-up), without that traceback."""
    if not _signals.ends_process:
        return handler
    return signal.SIG_DFL if _signals.first is None and not _signals.result_saved else signal.SIG_IGN


def _stop(signum: int) -> NoReturn:
    """Raise what ``signum`` stops the run with; once a signal has stopped it, what that first
    one did (QA: a SIGTERM in a Ctrl-C's clean-up made it status 143, and a shell loop went on)."""
    if _signals.first is None:
        _signals.first = signum
    signum = _signals.first
    if signum == signal.SIGINT:
        stop: KeyboardInterrupt = KeyboardInterrupt()
    else:
        _signals.received, _signals.stopped_at = signum, time.monotonic()
        stop = Terminated()
    _signals.raised = (stop, signum)
    raise stop


def _in_callback(frame: Optional[FrameType]) -> bool:
    """Whether ``frame`` runs inside code that C may have called back (``logging``, a
    ``__del__``), where an exception raised would be printed and dropped, not stop the run."""
    while frame is not None:
        module = str(frame.f_globals.get("__name__", ""))
        if module.split(".")[0] in _CALLBACK_MODULES or frame.f_code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False


def _in_thread_bookkeeping(frame: Optional[FrameType]) -> bool:
    """Whether ``frame`` runs inside :data:`_THREAD_BOOKKEEPING`, where a stop raised leaves a
    thread running that nobody waits for: started but not yet in its pool's list, or marked
    stopped by an interrupted ``join`` (Python 3.11's bpo-45274 clean-up releases the running
    thread's lock). The clean-up then closed the files that thread still read (QA: 1 SIGTERM in
    ~20 as downscale began segfaulted; QA also saw it hang)."""
    while frame is not None:
        if (str(frame.f_globals.get("__name__", "")), frame.f_code.co_name) in _THREAD_BOOKKEEPING:
            return True
        frame = frame.f_back
    return False


def _redeliver(signum: int) -> None:
    """Send ``signum`` to this process again in :data:`REDELIVER_AFTER_S`, by when the callback
    it came in has returned (if not, it is deferred again). One that comes again before then
    is the same stop (``timeout``'s second SIGTERM): it is sent once, not twice. Once the block
    has ended none is sent (:func:`_end_redelivery` raises it instead)."""
    with _resend_lock:
        if not _signals.redelivering or signum in _signals.resending:
            return
        timer = threading.Timer(REDELIVER_AFTER_S, _send_again, (signum,))
        timer.daemon = True
        _signals.resending[signum] = timer
        timer.start()


def _send_again(signum: int) -> None:
    """The timer of :func:`_redeliver`: send ``signum`` to this process, unless the block has
    ended (or another block begun) since the timer was started."""
    with _resend_lock:
        if _signals.resending.get(signum) is not threading.current_thread():
            return
        del _signals.resending[signum]
        os.kill(os.getpid(), signum)


def _end_redelivery() -> None:
    """No signal is sent again from now on; raise the first one still to be, unless it repeats
    the stop already raised (:func:`_repeats_the_stop`). A timer that sent its signal just
    before is no exception: the signal is raised by :func:`_on_signal`, whose handler is still
    the one installed."""
    with _resend_lock:
        _signals.redelivering = False
        waiting, _signals.resending = _signals.resending, {}
        for timer in waiting.values():
            timer.cancel()
    for signum in waiting:
        if not _repeats_the_stop(signum):
            _stop(signum)


def _on_unraisable(previous: Callable[[Any], object], unraisable: Any) -> None:
    """A stop raised where C swallows exceptions (a callback :func:`_in_callback` does not
    know): it is not printed, and is sent again, not as a repeat of itself. Others go to the
    ``previous`` hook."""
    if _signals.raised is None or unraisable.exc_value is not _signals.raised[0]:
        previous(unraisable)
        return
    signum, _signals.raised = _signals.raised[1], None
    if _signals.received == signum:
        _signals.received = None  # the stop did not happen: its repeat window must not drop it
    _redeliver(signum)


def _on_signal(signum: int, frame: Optional[FrameType]) -> None:
    """Stop the run, unless a published output's result line is still to be written: then
    the first such signal waits for it. A SIGTERM or SIGHUP within :data:`REPEAT_WINDOW_S` of
    the one that stopped the run is dropped: ``timeout`` sends one to groklst, then one to its
    process group, and raising the second would cut short the removal of temporary outputs the
    first started. A later one stops the run again (a stop swallowed somewhere must not make
    the run unstoppable). One that comes inside a callback from C, or as a thread starts or is
    waited for, is sent again a moment later (:func:`_in_callback`, :func:`_on_unraisable`,
    :func:`_in_thread_bookkeeping`)."""
    if _repeats_the_stop(signum):
        return
    if _signals.holding:
        _signals.pending = _signals.pending or signum
        return
    if _in_callback(frame) or _in_thread_bookkeeping(frame):
        _redeliver(signum)
        return
    _stop(signum)


def _repeats_the_stop(signum: int) -> bool:
    """Whether ``signum`` is a SIGTERM or SIGHUP within :data:`REPEAT_WINDOW_S` of the one that
    stopped the run (see :func:`_on_signal`)."""
    return (signum != signal.SIGINT and _signals.received is not None
            and time.monotonic() - _signals.stopped_at < REPEAT_WINDOW_S)


@contextmanager
def stopping_signals_raise(terminating: Iterable[int]) -> Iterator[None]:
    """Ctrl-C and the ``terminating`` signals (SIGTERM, SIGHUP) stop the block through
    :func:`_on_signal` (main thread only).

    A signal the parent ignores stays ignored (``nohup groklst ...`` must survive the hang-up,
    a background job of a script Ctrl-C); SIGINT is taken over only from Python's own handler.
    A signal still to be sent again (:func:`_redeliver`) is raised as the block ends, before
    the handlers are given back (:func:`_after_the_block`): none arrives after it.
    """
    _signals.received, _signals.holding, _signals.pending, _signals.raised = None, False, None, None
    _signals.first = None
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous, unraisablehook = {}, sys.unraisablehook
    sys.unraisablehook = partial(_on_unraisable, unraisablehook)
    _signals.redelivering = True
    try:
        for signum in terminating:
            if signal.getsignal(signum) is not signal.SIG_IGN:
                previous[signum] = signal.signal(signum, _on_signal)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            previous[signal.SIGINT] = signal.signal(signal.SIGINT, _on_signal)
        yield
    finally:
        try:
            _end_redelivery()
        finally:
            sys.unraisablehook = unraisablehook
            for signum, handler in previous.items():
                signal.signal(signum, _after_the_block(handler))


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
