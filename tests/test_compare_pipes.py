"""``groklst compare`` reads a named pipe (``<(gunzip -c cand.tif.gz)``, ``/dev/stdin``) into
memory, interruptibly, and refuses one that brings no GeoTIFF in one line."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from pipelines.compare import compare
from pipelines.errors import InputError
from pipelines.pipe_input import is_pipe, read_pipe
from tests.test_compare import raster, truth_and_candidates

GROKLST = [sys.executable, "-m", "groklst_cli", "--threads", "1"]


@pytest.fixture
def rasters(tmp_path: Path) -> tuple[Path, Path]:
    truth, good, _ = truth_and_candidates(np.random.default_rng(0))
    return raster(tmp_path / "truth.tif", truth), raster(tmp_path / "good.tif", good)


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "cand_fifo"
    os.mkfifo(path)
    return path


def feed(fifo: Path, data: bytes) -> threading.Thread:
    """A thread that writes ``data`` into ``fifo`` once a reader opens it."""
    def write() -> None:
        with open(fifo, "wb") as pipe:
            try:
                pipe.write(data)
            except BrokenPipeError:  # the reader refused the first bytes and closed its end
                pass
    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def test_a_candidate_through_a_named_pipe_scores_as_the_file(rasters, fifo) -> None:
    reference, candidate = rasters
    from_file = compare(reference, [candidate]).rows[0]
    writer = feed(fifo, candidate.read_bytes())
    from_pipe = compare(reference, [fifo]).rows[0]
    writer.join(5)
    assert from_pipe["candidate"] == str(fifo)
    assert from_pipe["rmse"] == from_file["rmse"] and from_pipe["mae"] == from_file["mae"]
    assert from_pipe["shift"] == from_file["shift"]
    assert 0.25 < from_file["rmse"] < 0.35  # the candidate's 0.3 K noise


def test_the_reference_through_a_named_pipe_scores_as_the_file(rasters, fifo) -> None:
    reference, candidate = rasters
    writer = feed(fifo, reference.read_bytes())
    piped = compare(fifo, [candidate])
    writer.join(5)
    assert piped.rows[0]["rmse"] == compare(reference, [candidate]).rows[0]["rmse"]
    assert piped.pixels == 1683


def test_process_substitution_in_bash_is_a_candidate_named_as_typed(rasters) -> None:
    reference, candidate = rasters
    argv = " ".join(map(shlex.quote, [*GROKLST, "compare", str(reference)]))
    proc = subprocess.run(["bash", "-c", f"{argv} <(cat {shlex.quote(str(candidate))}) --json"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)["rows"][0]
    assert row["candidate"].startswith("/dev/fd/")
    assert row["rmse"] == compare(reference, [candidate]).rows[0]["rmse"]


def test_stdin_named_twice_is_read_once(rasters) -> None:
    reference, candidate = rasters
    proc = subprocess.run([*GROKLST, "compare", str(reference), "/dev/stdin", "/dev/stdin", "--json"],
                          input=candidate.read_bytes(), capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["rows"]
    assert [row["candidate"] for row in rows] == ["/dev/stdin", "/dev/stdin"]
    assert rows[0]["mae"] == rows[1]["mae"] == compare(reference, [candidate]).rows[0]["mae"]


def test_a_pipe_that_brings_no_geotiff_is_one_line_error(rasters) -> None:
    argv = " ".join(map(shlex.quote, [*GROKLST, "compare", str(rasters[0])]))
    proc = subprocess.run(["bash", "-c", f"{argv} <(echo gunzip: cand.tif.gz: not in gzip format)"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0].startswith("error: /dev/fd/63: what arrives through the pipe is no GeoTIFF (it starts with b'gunz')")


def test_an_empty_or_oversized_pipe_is_refused_naming_it(fifo, rasters) -> None:
    feed(fifo, b"")
    with pytest.raises(InputError, match="the pipe closed before anything arrived") as empty:
        read_pipe(fifo, 1 << 20)
    assert empty.value.path == str(fifo)
    feed(fifo, rasters[1].read_bytes())
    with pytest.raises(InputError, match="more than 0.0 GiB arrive through the pipe"):
        read_pipe(fifo, 1000)


def test_only_a_named_pipe_is_read_into_memory(fifo, rasters) -> None:
    assert is_pipe(fifo)
    assert not any(is_pipe(p) for p in (rasters[0], "/dev/null", "/vsicurl/https://host/a.tif", fifo.parent / "none"))


@pytest.mark.skipif(not Path("/proc/self/wchan").exists(), reason="needs Linux /proc to see the wait")
def test_a_pipe_nobody_writes_to_is_stopped_by_sigterm(rasters, fifo) -> None:
    proc = subprocess.Popen([*GROKLST, "compare", str(rasters[0]), str(fifo)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while Path(f"/proc/{proc.pid}/wchan").read_text() != "wait_for_partner":  # blocked opening the pipe
            assert time.monotonic() < deadline and proc.poll() is None, "compare never waited on the pipe"
            time.sleep(0.05)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=10)
        assert time.monotonic() - sent < 2.0
    finally:
        proc.kill()
    assert proc.returncode == 143
    assert "terminated (SIGTERM)" in stderr
