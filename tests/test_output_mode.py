"""Output permissions: a new output follows the umask, one replaced under --overwrite keeps the
permission bits (and group) of the file or dataset folder it replaces. And a file named like an
option (``-g.tif``) is named ``./-g.tif`` in errors."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.atomic import DATASET_FORMAT, OutputKind, atomic_output
from pipelines.checkpoint import Checkpoint
from pipelines.errors import InputError

GROKLST = Path(sys.executable).with_name("groklst")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def groklst(umask: int, cwd: Path, *args: str) -> None:
    """Run the CLI under ``umask`` (a shell's, so this process's umask is never touched)."""
    command = f"umask {umask:03o} && exec {GROKLST} -q " + " ".join(args)
    subprocess.run(["sh", "-c", command], cwd=cwd, check=True, capture_output=True)


@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_new_geotiffs_follow_the_umask(tmp_path: Path, umask: int, expected: int) -> None:
    groklst(umask, tmp_path, "sample-scene", ".", "--size", "16", "--name", "s")
    assert {p.name: mode(p) for p in tmp_path.iterdir()} == {"s_lst.tif": expected, "s_guidance.tif": expected}


@pytest.mark.parametrize("kept", [0o444, 0o664, 0o640])
def test_geotiffs_replaced_under_overwrite_keep_their_mode(tmp_path: Path, kept: int) -> None:
    groklst(0o022, tmp_path, "sample-scene", ".", "--size", "16", "--name", "s")
    lst = tmp_path / "s_lst.tif"
    lst.chmod(kept)
    before = lst.stat().st_ino
    groklst(0o022, tmp_path, "sample-scene", ".", "--size", "16", "--name", "s", "--seed", "7", "--overwrite")
    assert lst.stat().st_ino != before  # replaced (a read-only output too), not left alone
    assert mode(lst) == kept
    assert mode(tmp_path / "s_guidance.tif") == 0o644  # untouched bits stay the umask's


def test_a_png_replaced_under_overwrite_keeps_its_mode(tmp_path: Path) -> None:
    groklst(0o022, tmp_path, "sample-scene", ".", "--size", "16", "--name", "s")
    args = ("quicklook", "s_lst.tif", "--lst", "s_lst.tif", "-o", "q.png")
    groklst(0o002, tmp_path, *args)
    png = tmp_path / "q.png"
    assert mode(png) == 0o664
    png.chmod(0o604)
    groklst(0o022, tmp_path, *args, "--overwrite")
    assert mode(png) == 0o604


def test_a_checkpoint_is_made_with_the_umask_and_keeps_its_mode_when_replaced(tmp_path: Path, umask_022) -> None:
    path = tmp_path / "model.pt"
    ckpt = Checkpoint(model="bicubic", scale=2, bands=["a"])
    ckpt.save(path)
    assert mode(path) == 0o644
    path.chmod(0o660)
    ckpt.save(path, overwrite=True)
    assert mode(path) == 0o660


def test_a_symbolic_link_is_replaced_by_a_file_of_the_umasks_mode(tmp_path: Path, umask_022) -> None:
    """The link itself is replaced (as documented); the file it led to is not the output's."""
    elsewhere = tmp_path / "elsewhere.bin"
    elsewhere.write_text("theirs")
    elsewhere.chmod(0o600)
    link = tmp_path / "out.bin"
    link.symlink_to(elsewhere)
    with atomic_output(link, overwrite=True) as tmp:
        tmp.write_text("ours")
    assert not link.is_symlink() and mode(link) == 0o644
    assert elsewhere.read_text() == "theirs" and mode(elsewhere) == 0o600


def test_setuid_bits_of_a_replaced_file_are_not_kept(tmp_path: Path, umask_022) -> None:
    target = tmp_path / "out.bin"
    target.write_text("old")
    target.chmod(0o4755)
    with atomic_output(target, overwrite=True) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new" and mode(target) == 0o755


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="giving a file any group takes root")
def test_a_replaced_file_keeps_its_group(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_text("old")
    os.chown(target, -1, 4321)
    with atomic_output(target, overwrite=True) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new" and target.stat().st_gid == 4321


def test_a_dataset_folder_replaced_under_overwrite_keeps_its_mode(tmp_path: Path, umask_022) -> None:
    out = tmp_path / "ds"

    def write() -> None:
        with atomic_output(out, overwrite=True, kind=OutputKind.dataset) as tmp:
            tmp.mkdir()
            (tmp / "info.json").write_text(json.dumps({"format": DATASET_FORMAT}))

    write()
    assert mode(out) == 0o755
    (out / "notes.txt").write_text("mine")
    out.chmod(0o2775)  # a group-shared dataset folder
    write()
    assert mode(out) == 0o2775
    assert (out / "notes.txt").read_text() == "mine"
    assert mode(out / "info.json") == 0o644


@pytest.mark.parametrize("path, named", [
    (Path("-g.tif"), "./-g.tif"),  # a file, not the -g option
    (Path("./-g.tif"), "./-g.tif"),  # Path drops the ./ the user typed: put back
    (Path("-out/x.tif"), "./-out/x.tif"),
    (Path("/data/-g.tif"), "/data/-g.tif"),
    (Path("g-.tif"), "g-.tif"),
    ("--scales", "--scales"),  # an option's name (a str) as it is
])
def test_errors_name_a_file_that_looks_like_an_option_with_dot_slash(path: str | Path, named: str) -> None:
    assert str(InputError(path, "bad", "fix it")) == f"{named}: bad (hint: fix it)"


def test_the_cli_names_an_output_that_looks_like_an_option_with_dot_slash(tmp_path: Path) -> None:
    args = ("sample-scene", ".", "--size", "16", "--name", "-g")
    groklst(0o022, tmp_path, *args)
    command = f"exec {GROKLST} -q " + " ".join(args)
    again = subprocess.run(["sh", "-c", command], cwd=tmp_path, capture_output=True, text=True)
    assert again.returncode == 2
    assert again.stderr.strip() == ("error: ./-g_lst.tif: output already exists "
                                    "(hint: pass --overwrite to replace it)")


NOBODY = 65534  # the user the tests below run groklst as, in a subprocess (setpriv)
ROOT = Path(__file__).resolve().parents[1]
WRITE_DATASET = """
import json, sys
from pathlib import Path
from pipelines.atomic import DATASET_FORMAT, OutputKind, atomic_output
with atomic_output(Path(sys.argv[1]), overwrite=True, kind=OutputKind.dataset) as tmp:
    (tmp / "data.zarr").mkdir(parents=True)
    (tmp / "data.zarr" / "0").write_text("chunk")
    (tmp / "info.json").write_text(json.dumps({"format": DATASET_FORMAT}))
"""
WRITE_FILE = """
import os, sys
from pipelines.atomic import atomic_output
os.umask(int(sys.argv[2], 8))
with atomic_output(sys.argv[1], overwrite=True) as tmp:
    tmp.write_text("new")
"""


def as_nobody(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run Python ``code`` as user and group 65534, with no other groups."""
    command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", sys.executable, "-c", code, *args]
    return subprocess.run(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True)


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[Path]:
    """A folder user 65534 may write in (pytest's own are root's 0700); skipped unless this runs
    as root with setpriv, and 65534 can import groklst."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("running as another user takes root and setpriv")
    if as_nobody("import pipelines.atomic").returncode != 0:
        pytest.skip(f"user {NOBODY} cannot run groklst from {ROOT}")
    folder = Path(tempfile.mkdtemp(prefix="groklst-output-mode-"))
    folder.chmod(0o777)
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def chown_tree(top: Path, uid: int) -> None:
    for path in (top, *top.rglob("*")):
        os.chown(path, uid, uid)


def test_a_read_only_dataset_folder_replaced_twice_leaves_no_copy_behind(shared: Path) -> None:
    """Review: a 0555 dataset folder left a complete hidden ``.ds.*.old`` on every --overwrite."""
    out = shared / "ds"
    assert subprocess.run([sys.executable, "-c", WRITE_DATASET, str(out)], cwd=ROOT).returncode == 0
    (out / "notes.txt").write_text("mine")
    (out / "runs").mkdir()
    chown_tree(out, NOBODY)
    (out / "runs").chmod(0o750)  # the user's
    for folder in (out / "data.zarr", out):
        folder.chmod(0o555)  # the dataset read-only throughout
    for _ in range(2):
        done = as_nobody(WRITE_DATASET, str(out))
        assert (done.returncode, done.stderr) == (0, "")
    assert [p.name for p in shared.iterdir()] == ["ds"]  # no .ds.XXXXXXXX.old
    assert mode(out) == 0o555 and out.stat().st_uid == NOBODY
    assert (out / "notes.txt").read_text() == "mine"
    assert mode(out / "runs") == 0o750  # the user's folder moved over, its mode untouched
    assert (out / "data.zarr" / "0").read_text() == "chunk" and mode(out / "data.zarr") == 0o755


def test_a_replaced_dataset_that_cannot_be_removed_is_named_in_a_warning(shared: Path) -> None:
    out = shared / "ds"
    assert subprocess.run([sys.executable, "-c", WRITE_DATASET, str(out)], cwd=ROOT).returncode == 0
    os.chown(out, NOBODY, NOBODY)
    os.chown(out / "info.json", NOBODY, NOBODY)  # data.zarr stays root's: 65534 cannot empty it
    done = as_nobody(WRITE_DATASET, str(out))
    [left] = [p for p in shared.iterdir() if p.name != "ds"]
    assert left.name.startswith(".ds.") and left.name.endswith(".old")
    assert done.returncode == 0
    assert f"{left}: the dataset folder replaced under --overwrite could not be removed" in done.stderr
    assert sorted(p.name for p in left.iterdir()) == ["data.zarr"]
    assert mode(left / "data.zarr") == 0o755 and (left / "data.zarr").stat().st_uid == 0  # not chmod-ed


@pytest.mark.parametrize("old, umask, expected", [
    (0o660, 0o077, 0o600),  # root's group may write; 65534's own group gets the umask's nothing
    (0o664, 0o022, 0o644),  # ... or the umask's read, never the old group's write
    (0o604, 0o077, 0o604),  # others' read is kept as the old file had it
])
def test_group_bits_are_not_given_to_a_group_other_than_the_old_files(
        shared: Path, old: int, umask: int, expected: int) -> None:
    """Review: root:root 0660 replaced by user 65534 (umask 077) came back 65534:65534 0660."""
    target = shared / "out.bin"
    target.write_text("old")
    target.chmod(old)
    done = as_nobody(WRITE_FILE, str(target), f"{umask:03o}")
    assert done.returncode == 0, done.stderr
    assert target.read_text() == "new"
    assert (target.stat().st_gid, mode(target)) == (NOBODY, expected)


PREPARE = ("prepare", "s_lst.tif", "-o", "ds", "--scales", "2", "--patch", "16", "--stride", "8", "--split-block", "16")


def groklst_as_nobody(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in ``cwd`` as user and group 65534, with no other groups."""
    command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", str(GROKLST), "-q", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True)


@pytest.fixture
def prepared(shared: Path) -> Path:
    """A dataset ``ds`` that root prepared in ``shared`` from a 48-pixel sample scene."""
    groklst(0o022, shared, "sample-scene", ".", "--size", "48", "--name", "s")
    groklst(0o022, shared, *PREPARE)
    return shared / "ds"


def snapshot(top: Path) -> dict[str, tuple[int, int, int]]:
    """Every entry under ``top`` (hidden ones too): its inode, mode and owner."""
    return {str(p.relative_to(top)): (p.lstat().st_ino, p.lstat().st_mode, p.lstat().st_uid) for p in top.rglob("*")}


@pytest.mark.parametrize("owner, problem, hint", [
    (NOBODY, "a folder of yours inside the dataset is read-only", "chmod u+w ds/runs, or choose a new output folder"),
    (0, "a folder inside the dataset is another user's and you cannot write in it",
     "have its owner make it writable for you, or choose a new output folder"),
])
def test_a_folder_inside_a_dataset_that_cannot_be_moved_is_refused_before_any_work(
        prepared: Path, owner: int, problem: str, hint: str) -> None:
    """Review: a 0555 ``ds/runs`` (rename(2) of a folder into another needs writing in it, for
    its "..") failed after the new dataset was swapped in, stranded in ``.ds.XXXXXXXX.old``."""
    (prepared / "runs").mkdir()
    (prepared / "runs" / "log.txt").write_text("mine")
    chown_tree(prepared, NOBODY)
    os.chown(prepared / "runs", owner, owner)
    (prepared / "runs").chmod(0o555)
    before = snapshot(prepared.parent)
    done = groklst_as_nobody(prepared.parent, *PREPARE, "--overwrite")
    assert (done.returncode, done.stderr.strip()) == (
        2, f"error: ds/runs: {problem}, so --overwrite cannot carry it into the new dataset (hint: {hint})")
    assert snapshot(prepared.parent) == before  # no .ds.*.old or partial; runs still 0555
    assert mode(prepared / "runs") == 0o555 and (prepared / "runs" / "log.txt").read_text() == "mine"


def test_another_users_dataset_folder_holding_user_entries_is_refused_before_any_work(prepared: Path) -> None:
    """Review: root's 0755 ``ds`` (65534 may rename it, not chmod it) left ``notes.txt`` and
    ``runs`` in ``.ds.XXXXXXXX.old``: moving them out takes writing in it."""
    (prepared / "notes.txt").write_text("mine")
    (prepared / "runs").mkdir(mode=0o777)
    chown_tree(prepared / "runs", NOBODY)
    before = snapshot(prepared.parent)
    done = groklst_as_nobody(prepared.parent, *PREPARE, "--overwrite")
    assert (done.returncode, done.stderr.strip()) == (
        2, "error: ds: the dataset folder is another user's and you cannot write in it, so --overwrite cannot "
        "move what is not groklst's in it (notes.txt, runs) into the new dataset (hint: have its owner make it "
        "writable for you, or choose a new output folder)")
    assert snapshot(prepared.parent) == before


def test_another_users_dataset_folder_of_groklst_entries_only_is_still_replaced(prepared: Path) -> None:
    """Nothing of the user's to carry: the swap goes ahead, and the copy 65534 cannot empty is
    named in a warning (as before)."""
    done = groklst_as_nobody(prepared.parent, *PREPARE, "--overwrite")
    assert done.returncode == 0
    [left] = [p for p in prepared.parent.iterdir() if p.name.startswith(".ds.")]
    assert "could not be removed" in done.stderr and left.stat().st_uid == 0
    assert prepared.stat().st_uid == NOBODY and (prepared / "info.json").is_file()
