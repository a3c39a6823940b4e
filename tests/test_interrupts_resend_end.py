"""A signal that came inside a callback from C is sent again a moment later (``_redeliver``).
One still to be sent when the run ends must stop the run there, not arrive after it: it killed
the caller by SIGTERM ~30 ms after run() returned 0, stopped the caller's next, unrelated run,
or was lost with the process although the user asked to stop. Each case leaves a re-send
pending at the block's end itself, so none depends on timing."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import groklst_cli.app as app_module
import groklst_cli.interrupts as interrupts
from groklst_cli.app import run
from tests.conftest import write_canonical_scene

AFTER_S = 0.1  # over three times REDELIVER_AFTER_S: a leftover re-send has come by then


@pytest.fixture
def probe() -> Iterator[list[int]]:
    """SIGTERM and SIGINT handled by recording them, around the test (they would otherwise end
    pytest): the signals that arrived."""
    arrived: list[int] = []
    previous = {signum: signal.signal(signum, lambda signum, _frame: arrived.append(signum))
                for signum in (signal.SIGTERM, signal.SIGINT)}
    yield arrived
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def _arrived_after_the_block(arrived: list[int]) -> list[int]:
    """The signals that arrive within :data:`AFTER_S` once the block has ended."""
    time.sleep(AFTER_S)
    return arrived


@pytest.mark.parametrize("signum, stop", [(signal.SIGTERM, interrupts.Terminated), (signal.SIGINT, KeyboardInterrupt)],
                         ids=["sigterm", "sigint"])
def test_a_resend_pending_at_the_end_stops_the_block_there(probe: list[int], signum: int, stop: type) -> None:
    with pytest.raises(stop) as raised:
        with interrupts.stopping_signals_raise([signal.SIGTERM]):
            interrupts._redeliver(signum)
    assert type(raised.value) is stop
    assert interrupts.received() == (signum if signum == signal.SIGTERM else None)
    assert _arrived_after_the_block(probe) == []
    assert signal.getsignal(signum) is not interrupts._on_signal  # the probe is back


def test_a_resend_left_by_one_run_does_not_stop_the_next(probe: list[int]) -> None:
    """The first block stops; the second, started at once, runs its full course."""
    with pytest.raises(interrupts.Terminated):
        with interrupts.stopping_signals_raise([signal.SIGTERM]):
            interrupts._redeliver(signal.SIGTERM)
    start = time.monotonic()
    with interrupts.stopping_signals_raise([signal.SIGTERM]):
        while time.monotonic() - start < AFTER_S:
            pass
    assert interrupts.received() is None
    assert probe == []


def test_a_resend_that_repeats_the_stop_under_way_is_not_raised_again(probe: list[int]) -> None:
    """timeout's second SIGTERM, sent again, is the stop already raised: the block ends with
    that one, not a second chained to it."""
    with pytest.raises(interrupts.Terminated) as raised:
        with interrupts.stopping_signals_raise([signal.SIGTERM]):
            interrupts._redeliver(signal.SIGTERM)
            interrupts._stop(signal.SIGTERM)
    assert raised.value.__context__ is None
    assert _arrived_after_the_block(probe) == []


def test_a_timer_whose_block_has_ended_sends_nothing(probe: list[int]) -> None:
    """Even one already running when the block ended (cancelling it came too late)."""
    with pytest.raises(interrupts.Terminated):
        with interrupts.stopping_signals_raise([signal.SIGTERM]):
            interrupts._redeliver(signal.SIGTERM)
            [timer] = interrupts._signals.resending.values()
    timer.run()  # the timer's function, as if its thread had started it just now
    assert _arrived_after_the_block(probe) == []


class _SignalFromLogging(logging.Handler):
    """Sends SIGTERM to this process from inside ``logging`` (where GDAL's messages come), so
    that the stop is sent again instead of raised there."""

    def emit(self, record: logging.LogRecord) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.001)  # the handler runs here, inside the callback


def signal_from_a_log_message_as_the_command_ends(monkeypatch) -> None:
    """A log message with SIGTERM in it, at the very end of the command (after its last line)."""
    logger = logging.getLogger("groklst-test-resend-end")
    logger.propagate, logger.handlers = False, [_SignalFromLogging()]
    shown = app_module._groklst_warnings_shown

    @contextmanager
    def shown_then_logged() -> Iterator[None]:
        with shown():
            yield
        logger.warning("closing")

    monkeypatch.setattr(app_module, "_groklst_warnings_shown", shown_then_logged)


def test_run_stopped_by_a_signal_from_a_callback_as_it_ends_exits_143(tmp_path: Path, monkeypatch, capsys,
                                                                    probe: list[int]) -> None:
    """The review's case: run() returned 0 and SIGTERM came ~30 ms later (through main(): the
    process had exited 0 by then, and the stop was lost)."""
    lst, _ = write_canonical_scene(tmp_path, "a")
    out = tmp_path / "a.tif"
    signal_from_a_log_message_as_the_command_ends(monkeypatch)
    code = run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(out)])
    captured = capsys.readouterr()
    assert (code, captured.err.splitlines()) == (143, ["error: terminated (SIGTERM)"])  # nothing left to remove
    assert captured.out == f"{out}\n"  # complete and reported before the stop: it stays
    assert out.exists()
    assert _arrived_after_the_block(probe) == []
