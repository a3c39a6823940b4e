"""groklst's consoles name the stream they failed to write through rich's public ``file``
(:class:`groklst_cli.console.NamedStream`), not an override of a private method of rich's
Console, which a rich release may rename: a failed write or flush is stdout's or stderr's
problem, said once; a broken pipe stays rich's; a progress bar's redirect is written under."""

from __future__ import annotations

import errno
import io
import sys

import pytest
from rich.console import Console

from groklst_cli.console import NamedStream, StreamConsole, progress
from pipelines.errors import StreamWriteError


class Flaky(io.StringIO):
    """A stream whose write (or flush) fails with ``errno`` for the next ``failures`` calls."""

    def __init__(self, failures: int = 1, code: int = errno.ENOSPC, on: str = "write") -> None:
        super().__init__()
        self.failures, self.code, self.on = failures, code, on

    def _maybe_fail(self, step: str) -> None:
        if step == self.on and self.failures > 0:
            self.failures -= 1
            raise OSError(self.code, "No space left on device" if self.code == errno.ENOSPC else "Broken pipe")

    def write(self, text: str) -> int:
        self._maybe_fail("write")
        return super().write(text)

    def flush(self) -> None:
        self._maybe_fail("flush")
        super().flush()


def test_stream_console_overrides_no_private_method_of_rich() -> None:
    """A rich release renaming a private method cannot silently drop the stream's name."""
    private = [name for name in vars(StreamConsole) if name.startswith("_") and not name.startswith("__")
               and hasattr(Console, name)]
    assert private == []


@pytest.mark.parametrize("on", ["write", "flush"])
def test_a_failed_stdout_write_names_stdout(on: str) -> None:
    console = StreamConsole("stdout", file=Flaky(on=on))
    with pytest.raises(StreamWriteError) as failed:
        console.print("row")
    assert str(failed.value) == ("stdout: cannot write the results: No space left on device (hint: free some "
                                 "space where stdout goes, or redirect it elsewhere; output files already "
                                 "written are complete and kept)")


def test_a_failed_stderr_write_names_stderr_at_each_write(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stderr console writes to the stream sys holds when it writes (pytest's, a replaced one)."""
    console = StreamConsole("stderr")
    monkeypatch.setattr(sys, "stderr", Flaky())
    with pytest.raises(StreamWriteError) as failed:
        console.print("a line")
    assert str(failed.value) == ("stderr: cannot write: No space left on device (hint: free some space "
                                 "where stderr goes, or redirect it elsewhere)")
    later = io.StringIO()
    monkeypatch.setattr(sys, "stderr", later)
    console.print("next")
    assert later.getvalue() == "next\n"


@pytest.mark.parametrize("on", ["write", "flush"])
def test_a_line_that_failed_is_not_written_again_in_front_of_the_next(on: str) -> None:
    """Rich keeps a failed write's text and sends it again: the repeat is dropped (a failed
    flush's text is already in the stream's own buffer)."""
    stream = Flaky(on=on)
    console = StreamConsole("stdout", file=stream)
    with pytest.raises(StreamWriteError):
        console.print("lost")
    console.print("next")
    console.print("last")
    assert stream.getvalue() == ("lost\nnext\nlast\n" if on == "flush" else "next\nlast\n")


def test_two_failures_in_a_row_drop_both_repeats() -> None:
    stream = Flaky(failures=2)
    console = StreamConsole("stdout", file=stream)
    for line in ("one", "two"):
        with pytest.raises(StreamWriteError):
            console.print(line)
    console.print("three")
    assert stream.getvalue() == "three\n"


def test_a_broken_pipe_stays_an_os_error() -> None:
    """The reader went away: rich's own handling (a quiet stop), not a stream's failure."""
    with pytest.raises(BrokenPipeError):
        NamedStream("stdout", Flaky(code=errno.EPIPE)).write("x\n")


def test_under_a_progress_redirect_stderr_is_the_stream_below(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bar redirects sys.stderr through its console: the console writes the stream under it."""
    from groklst_cli import console as console_module

    terminal = Flaky(failures=0)
    terminal.isatty = lambda: True  # type: ignore[method-assign]
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(console_module.state, "quiet", False)
    monkeypatch.setattr(console_module, "err", StreamConsole("stderr", force_terminal=True))
    with progress() as bar:
        assert sys.stderr is not terminal  # rich's redirect
        assert console_module.err.file.target() is terminal
        bar.add_task("t", total=1)
        print("said", file=sys.stderr)
    assert "said" in terminal.getvalue()
