"""Atomic outputs at their edges (s7 f3): the folder groklst wrote into is the one it cleans, a
folder another process made is never removed, a dangling link is named as one, and a killed
run's temporary is reported as its leftover however recently it was written to (another run's
live one: tests/test_live_partials_s7.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from groklst_cli.app import run
from pipelines.atomic import atomic_output, check_writable, folders_removed_if_left_empty, published_together
from pipelines.errors import GroklstWarning, InputError
from tests.conftest import write_canonical_scene


@pytest.mark.parametrize("together", [False, True], ids=["alone", "published-together"])
def test_a_retargeted_folder_link_leaves_no_partial_in_the_folder_written_into(tmp_path: Path, together: bool) -> None:
    """``-o dir/out.tif`` with ``dir`` a link retargeted mid-run: the temporary was removed by
    path, so in the new folder, and the full-size ``.partial`` stayed in the one written into."""
    first, second, link = tmp_path / "first", tmp_path / "second", tmp_path / "dir"
    first.mkdir()
    second.mkdir()
    link.symlink_to(first)
    with pytest.raises(InputError) as raised:
        with published_together() if together else open(os.devnull):
            with atomic_output(link / "out.tif") as tmp:
                tmp.write_bytes(b"x" * 4096)
                link.unlink()
                link.symlink_to(second)
    assert str(raised.value) == (
        f"{link / 'out.tif'}: the output folder {link} now leads to another folder (a link retargeted while "
        "writing); nothing was written (hint: leave the links on the output's path as they are while groklst "
        "writes through them, then run again)")
    assert list(first.iterdir()) == []
    assert list(second.iterdir()) == []


def test_an_empty_folder_another_process_made_in_place_of_the_runs_is_kept(tmp_path: Path) -> None:
    """The output folder the run made was replaced mid-run by another process's (empty) one:
    the run removed that folder as if it were its own."""
    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with folders_removed_if_left_empty(out):
            check_writable(out / "a.tif", False)  # makes out/
            theirs = tmp_path / "theirs"
            theirs.mkdir()  # made while out/ exists: another inode
            out.rmdir()
            theirs.rename(out)
            raise RuntimeError("the run fails")
    assert out.is_dir()
    with pytest.raises(RuntimeError):  # the run's own folder, left empty, is still removed
        with folders_removed_if_left_empty(tmp_path / "new" / "deeper"):
            check_writable(tmp_path / "new" / "deeper" / "a.tif", False)
            raise RuntimeError("the run fails")
    assert not (tmp_path / "new").exists()


def test_a_dangling_link_output_is_named_as_one_and_overwrite_replaces_the_link_only(tmp_path: Path, capsys) -> None:
    """``-o link.tif`` with ``link.tif`` a dangling link said "output already exists" (of a file
    that is nowhere); --overwrite replaces the link itself and never creates its target."""
    lst, _ = write_canonical_scene(tmp_path, "a")
    link, gone = tmp_path / "link.tif", tmp_path / "gone" / "x.tif"
    link.symlink_to(gone)
    args = ["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(link)]
    assert run(args) == 2
    assert capsys.readouterr().err == (
        f"error: {link}: is a dangling symbolic link to {gone}; nothing is written through it (hint: remove the "
        "link, or pass --overwrite to replace the link itself with the output (its target is not created)) "
        f"(scene {lst})\n")
    assert link.is_symlink() and not gone.parent.exists()
    assert run([*args, "--overwrite"]) == 0
    assert link.is_file() and not link.is_symlink() and link.stat().st_size > 0
    assert not gone.parent.exists()


def test_a_partial_written_to_just_now_but_held_by_no_run_is_reported_at_once(tmp_path: Path) -> None:
    """A run killed (``kill -9``, OOM) and rerun within a minute: its full-size ``.partial``,
    written to just now, was taken as another run's at work and not reported (1a9c8cf); no
    process holds it locked, so it is a killed run's, and the warning says it may be deleted."""
    target = tmp_path / "out.bin"
    left = tmp_path / ".out.bin.0123abcd.partial"
    left.write_bytes(b"x" * 4096)
    with pytest.warns(GroklstWarning) as caught:
        with atomic_output(target) as tmp:
            tmp.write_bytes(b"done")
    assert [str(w.message) for w in caught] == [
        f"{target}: 1 unfinished temporary output(s) of a run that was killed "
        "(.out.bin.0123abcd.partial); they may be deleted if no other groklst run is writing there, else they "
        "are removed automatically after a day"]
    assert left.exists() and target.read_bytes() == b"done"
