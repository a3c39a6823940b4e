"""A live temporary is told from a killed run's by the lock its run holds, not by its age (s7
J1): a run killed with ``kill -9`` and rerun at once left its full-size ``.partial`` unreported
(it had been written to within a minute), and a live one not written to for a minute (a
dataset folder while data.zarr is written in it, a file while ``--cog`` converts it) was
reported to other runs as a killed run's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pipelines.atomic import STALE_AFTER_S, OutputKind, atomic_output
from pipelines.errors import GroklstWarning

ROOT = Path(__file__).resolve().parents[1]
# Another process's run: it writes its temporary, says its name, and keeps writing it (blocks).
_WRITER = """
import sys, time
from pathlib import Path
from pipelines.atomic import OutputKind, atomic_output
kind = OutputKind(sys.argv[2])
with atomic_output(Path(sys.argv[1]), kind=kind) as tmp:
    if kind is OutputKind.dataset:
        tmp.mkdir()
        (tmp / "data.zarr").mkdir()
    else:
        tmp.write_bytes(b"x" * 4096)
    print(tmp.name, flush=True)
    time.sleep(600)
"""


@contextmanager
def another_run(target: Path, kind: OutputKind = OutputKind.file) -> Iterator[tuple[subprocess.Popen, Path]]:
    """A process writing ``target`` by :func:`atomic_output`, and its temporary; killed at the end."""
    child = subprocess.Popen([sys.executable, "-c", _WRITER, str(target), kind.value], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True)
    try:
        name = child.stdout.readline().strip()
        assert name, "the writer did not start"
        yield child, target.with_name(name)
    finally:
        child.kill()
        child.wait()
        child.stdout.close()


def groklst_warnings(write: Path, kind: OutputKind = OutputKind.file) -> list[str]:
    """The warnings of a run writing ``write``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with atomic_output(write, kind=kind) as tmp:
            if kind is OutputKind.dataset:
                tmp.mkdir()
                (tmp / "info.json").write_text('{"format": "groklst-dataset/1"}')
            else:
                tmp.write_bytes(b"done")
    return [str(w.message) for w in caught if issubclass(w.category, GroklstWarning)]


def leftover(target: Path, name: str) -> str:
    return (f"{target}: 1 unfinished temporary output(s) of a run that was killed "
            f"({name}); they may be deleted if no other groklst run is writing there, else they are "
            "removed automatically after a day")


def set_age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_run_killed_and_rerun_at_once_reports_its_partial(tmp_path: Path) -> None:
    """``kill -9`` then an immediate rerun: the full-size ``.partial``, written to a moment ago,
    is the killed run's (its lock went with it), reported at once."""
    target = tmp_path / "out.tif"
    with another_run(target) as (child, partial):
        assert groklst_warnings(tmp_path / "other.tif") == []
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert partial.stat().st_size == 4096
        assert groklst_warnings(target) == [leftover(target, partial.name)]
    assert partial.exists() and target.read_bytes() == b"done"


def test_a_live_partial_is_neither_reported_nor_removed_however_old(tmp_path: Path) -> None:
    """Another process's run, not written to for 2 hours (a long --cog conversion), was reported
    as a killed run's; one 2 days old was removed under it."""
    target = tmp_path / "out.tif"
    with another_run(target) as (_, partial):
        set_age(partial, 2 * 3600)
        assert groklst_warnings(target) == []
        target.unlink()
        set_age(partial, 2 * STALE_AFTER_S)
        assert groklst_warnings(target) == []
        assert partial.stat().st_size == 4096


def test_gdal_files_beside_a_live_partial_are_its_runs(tmp_path: Path) -> None:
    """The ``.partial.cog`` GDAL writes beside a live temporary is not a leftover; beside one no
    run holds, it is reported with it."""
    target = tmp_path / "out.tif"
    with another_run(target) as (child, partial):
        cog = partial.with_name(partial.name + ".cog")
        cog.write_bytes(b"half")
        set_age(cog, 2 * 3600)
        assert groklst_warnings(target) == []
        target.unlink()
        child.kill()
        child.wait()
        assert groklst_warnings(target) == [
            f"{target}: 2 unfinished temporary output(s) of a run that was killed "
            f"({partial.name}, {cog.name}); they may be deleted if no other groklst run is writing there, else "
            "they are removed automatically after a day"]


def test_a_dataset_partial_folder_is_locked_too(tmp_path: Path) -> None:
    """A dataset's ``.partial`` folder keeps its time while data.zarr is written inside it: an
    old one of a live run is not reported; once that run is killed, it is."""
    target = tmp_path / "ds"
    with another_run(target, OutputKind.dataset) as (child, partial):
        assert partial.is_dir() and (partial / "data.zarr").is_dir()
        set_age(partial, 2 * 3600)
        assert groklst_warnings(target, OutputKind.dataset) == []
        child.kill()
        child.wait()
        with pytest.warns(GroklstWarning) as caught:
            with atomic_output(target, overwrite=True, kind=OutputKind.dataset) as tmp:
                tmp.mkdir()
                (tmp / "info.json").write_text('{"format": "groklst-dataset/1"}')
        assert [str(w.message) for w in caught] == [leftover(target, partial.name)]


def test_a_live_partial_of_this_process_is_its_and_a_finished_runs_lock_goes_with_it(tmp_path: Path) -> None:
    """The lock is the open folder's, not the process's: another write of the same output in
    this process does not report a live temporary (threads of a batch), and the lock is gone
    once the run ends: what it left (here a copy under its name) is a leftover then."""
    target = tmp_path / "out.tif"
    with atomic_output(target) as tmp:
        tmp.write_bytes(b"x" * 4096)
        assert groklst_warnings(tmp_path / "out.tif") == []
        copy = tmp_path / f"{tmp.name}.cog"
        copy.write_bytes(b"half")  # GDAL's file beside it, which the run's cleanup does not remove
        target.unlink()
    assert target.read_bytes() == b"x" * 4096
    target.unlink()
    assert groklst_warnings(target) == [leftover(target, copy.name)]
