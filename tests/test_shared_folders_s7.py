"""groklst in folders shared between users (QA s7): a day-old temporary that another user's killed
run left in a sticky folder (/tmp, /scratch) cannot be removed by anyone else (EPERM), and every
later run into that folder failed on it (``.out.tif.1234abcd.partial: Operation not permitted``).
The clean-up is a courtesy: such a leftover is left for its owner, with a warning."""
from __future__ import annotations

import errno
import os
import shlex
import time
from pathlib import Path

import pytest

import pipelines.atomic as atomic
from pipelines.atomic import atomic_output
from pipelines.errors import GroklstWarning

TWO_DAYS_AGO = time.time() - 2 * 86_400


@pytest.mark.parametrize("leftover", [".out.tif.1234abcd.partial", ".groklst-write-test.1234abcd.partial"])
def test_another_users_old_leftover_is_left_with_a_warning(tmp_path: Path, monkeypatch, leftover: str) -> None:
    """Left, with a warning that says it repeats and gives the owner's command (quoted: a space)."""
    folder = tmp_path / "shared out"
    folder.mkdir()
    theirs = folder / leftover
    theirs.write_bytes(b"half")
    os.utime(theirs, (TWO_DAYS_AGO, TWO_DAYS_AGO))
    real = atomic._remove

    def sticky(path: Path) -> None:  # as unlink(2) answers in a sticky folder for another user's file
        if path.name == leftover:
            raise PermissionError(errno.EPERM, "Operation not permitted", str(path))
        real(path)

    monkeypatch.setattr(atomic, "_remove", sticky)
    target = folder / "out.tif"
    with pytest.warns(GroklstWarning) as caught:
        with atomic_output(target) as tmp:
            tmp.write_bytes(b"done")
    assert target.read_bytes() == b"done" and theirs.exists()
    command = f"rm -f -- '{theirs}'"
    assert [str(w.message) for w in caught] == [
        f"{target}: 1 unfinished temporary output(s) of a run killed over a day ago could not be removed "
        f"({leftover}; another user's in a sticky folder?); this warning repeats on every run until their "
        f"owner removes them: {command}"]
    assert shlex.split(command) == ["rm", "-f", "--", str(theirs)]


def test_two_pairs_replaced_at_once_are_renamed_one_pair_after_the_other(tmp_path: Path, monkeypatch) -> None:
    """QA s7: three ``sample-scene --overwrite`` runs at once left one's LST beside another's
    guidance (1 round in 15): the pairs' renames interleaved. Each pair now renames alone."""
    import threading

    from pipelines.atomic import published_together

    real = atomic._publish_file
    order: list[str] = []

    def slow(tmp: Path, target: Path, overwrite: bool, folder: int | None = None) -> None:
        real(tmp, target, overwrite, folder)
        order.append(target.read_text())
        time.sleep(0.2)  # between a pair's two renames: the other pair's would come here

    monkeypatch.setattr(atomic, "_publish_file", slow)
    started = threading.Barrier(2)

    def write_pair(run: str) -> None:
        with published_together():
            for name in ("lst.tif", "guidance.tif"):
                with atomic_output(tmp_path / name, overwrite=True) as tmp:
                    tmp.write_text(f"{run} {name}")
            started.wait()

    threads = [threading.Thread(target=write_pair, args=(run,)) for run in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    runs = [text.split()[0] for text in order]
    assert runs in (["a", "a", "b", "b"], ["b", "b", "a", "a"]), order
    assert (tmp_path / "lst.tif").read_text().split()[0] == (tmp_path / "guidance.tif").read_text().split()[0]


def test_another_users_output_in_a_sticky_folder_is_refused_before_any_work(tmp_path: Path, monkeypatch) -> None:
    """QA s7: --overwrite of another user's file in a sticky folder failed only at the final rename,
    after all the work, naming the temporary (``.a.tif.16b09043.partial: Operation not permitted``)."""
    from pipelines.atomic import check_writable
    from pipelines.errors import InputError

    tmp_path.chmod(0o1777)
    theirs = tmp_path / "a.tif"
    theirs.write_bytes(b"II*\0theirs")
    monkeypatch.setattr(os, "geteuid", lambda: os.stat(theirs).st_uid + 4242)  # not its owner, nor root
    with pytest.raises(InputError) as refused:
        check_writable(theirs, True)
    assert str(refused.value) == (
        f"{theirs}: belongs to another user (uid {os.stat(theirs).st_uid}) in a sticky folder, so it cannot be "
        "replaced, even with --overwrite (hint: name another output, or ask its owner to remove it)")
    tmp_path.chmod(0o777)  # no sticky bit: the folder's writers may replace it
    check_writable(theirs, True)
