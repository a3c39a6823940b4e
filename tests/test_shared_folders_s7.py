"""groklst in folders shared between users (QA s7): a day-old temporary that another user's killed
run left in a sticky folder (/tmp, /scratch) cannot be removed by anyone else (EPERM), and every
later run into that folder failed on it (``.out.tif.1234abcd.partial: Operation not permitted``).
The clean-up is a courtesy: such a leftover is left for its owner, with a warning."""
from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pytest

import pipelines.atomic as atomic
from pipelines.atomic import atomic_output
from pipelines.errors import GroklstWarning

TWO_DAYS_AGO = time.time() - 2 * 86_400


@pytest.mark.parametrize("leftover", [".out.tif.1234abcd.partial", ".groklst-write-test.1234abcd.partial"])
def test_another_users_old_leftover_is_left_with_a_warning(tmp_path: Path, monkeypatch, leftover: str) -> None:
    theirs = tmp_path / leftover
    theirs.write_bytes(b"half")
    os.utime(theirs, (TWO_DAYS_AGO, TWO_DAYS_AGO))
    real = atomic._remove

    def sticky(path: Path) -> None:  # as unlink(2) answers in a sticky folder for another user's file
        if path.name == leftover:
            raise PermissionError(errno.EPERM, "Operation not permitted", str(path))
        real(path)

    monkeypatch.setattr(atomic, "_remove", sticky)
    target = tmp_path / "out.tif"
    with pytest.warns(GroklstWarning) as caught:
        with atomic_output(target) as tmp:
            tmp.write_bytes(b"done")
    assert target.read_bytes() == b"done" and theirs.exists()
    assert [str(w.message) for w in caught] == [
        f"{target}: 1 unfinished temporary output(s) of a run killed over a day ago could not be removed "
        f"({leftover}; another user's in a sticky folder?); left as they are for their owner to delete"]
