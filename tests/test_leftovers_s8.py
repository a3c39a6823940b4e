"""Killed runs' leftovers beside live runs (QA s8). A run's lock on its temporary was the byte
named by the temporary's 8 hex digits, so a killed run's ``.b.tif.X.partial`` beside a live run's
``.a.tif.X.partial`` (same digits, another output) was taken for a live one: never reported nor
removed, and a run of b.tif drawing X wrote over it. (The sticky-folder warning's command is
tested in test_shared_folders_s7.)"""
from __future__ import annotations

import os
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import pipelines.atomic as atomic
from pipelines.atomic import atomic_output
from pipelines.errors import GroklstWarning

pytestmark = pytest.mark.skipif(not atomic._OFD_LOCKS, reason="open file description locks are Linux's")

TWO_DAYS_AGO = time.time() - 2 * 86_400
HEX = "1234abcd"


def _draws(monkeypatch, fixed: int) -> list[str]:
    """Make atomic's first ``fixed`` draws of uuid4 give HEX, the later ones random; return the
    hex digits drawn, in order."""
    drawn: list[str] = []
    real = uuid.uuid4

    def draw() -> uuid.UUID:
        value = uuid.UUID(HEX * 4) if len(drawn) < fixed else real()
        drawn.append(value.hex[:8])
        return value

    monkeypatch.setattr(atomic.uuid, "uuid4", draw)
    return drawn


@pytest.fixture
def live_a(tmp_path: Path, monkeypatch) -> Iterator[Path]:
    """A run of a.tif at work, its temporary ``.a.tif.HEX.partial`` locked."""
    _draws(monkeypatch, fixed=2)  # its write probe's and its temporary's
    with atomic_output(tmp_path / "a.tif") as tmp:
        tmp.write_bytes(b"a at work")
        assert tmp.name == f".a.tif.{HEX}.partial"
        yield tmp


def test_an_old_leftover_sharing_a_live_runs_digits_is_removed(tmp_path: Path, live_a: Path) -> None:
    leftover = tmp_path / f".b.tif.{HEX}.partial"
    leftover.write_bytes(b"half")
    os.utime(leftover, (TWO_DAYS_AGO, TWO_DAYS_AGO))
    with warnings.catch_warnings():
        warnings.simplefilter("error", GroklstWarning)
        with atomic_output(tmp_path / "b.tif") as tmp:  # draws random digits now
            assert not leftover.exists() and tmp != leftover
            tmp.write_bytes(b"b")
    assert (tmp_path / "b.tif").read_bytes() == b"b" and live_a.read_bytes() == b"a at work"


def test_a_young_leftover_sharing_a_live_runs_digits_is_reported_and_kept(tmp_path: Path, live_a: Path,
                                                                         monkeypatch) -> None:
    leftover = tmp_path / f".b.tif.{HEX}.partial"
    leftover.write_bytes(b"half")
    drawn = _draws(monkeypatch, fixed=2)  # b's probe and its first temporary draw HEX again
    target = tmp_path / "b.tif"
    with pytest.warns(GroklstWarning) as caught:
        with atomic_output(target) as tmp:
            assert tmp != leftover and tmp.name == f".b.tif.{drawn[2]}.partial"
            tmp.write_bytes(b"b")
    assert drawn[:2] == [HEX, HEX] and len(drawn) == 3
    assert [str(w.message) for w in caught] == [
        f"{target}: 1 unfinished temporary output(s) of a run that was killed ({leftover.name}); they may be "
        "deleted if no other groklst run is writing there, else they are removed automatically after a day"]
    assert leftover.read_bytes() == b"half" and target.read_bytes() == b"b"


def test_a_live_runs_own_temporary_is_still_not_reported(tmp_path: Path, live_a: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", GroklstWarning)
        assert atomic._stale(tmp_path / "a.tif", atomic.OutputKind.file) == ([], [])
    cog = live_a.with_name(f"{live_a.name}.cog")  # GDAL's COG copy beside it: the same run's
    cog.write_bytes(b"cog")
    assert atomic._live(cog) and atomic._key(cog.name) == atomic._key(live_a.name)
