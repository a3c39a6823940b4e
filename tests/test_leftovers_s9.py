"""Leftovers cleaned up honestly (QA s9): another user's day-old dataset ``.partial`` folder in a
sticky folder was counted as removed (``rmtree(ignore_errors=True)`` raised nothing) with no
warning; a replaced dataset's ``.old`` name was drawn without looking whether it was taken; and
the aligned guidance copies and the cost cache's temporaries were removed by age alone, so a run
longer than a day lost its aligned copy to a second run."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

import pipelines.atomic as atomic
from groklst_cli.cost_cache import CostCache
from pipelines.atomic import DATASET_FORMAT, OutputKind, atomic_output, remove_stale
from pipelines.errors import GroklstWarning

TWO_DAYS_AGO = time.time() - 2 * 86_400
HEX = "1234abcd"
locks = pytest.mark.skipif(not atomic._OFD_LOCKS, reason="open file description locks are Linux's")


def _aged(path: Path) -> Path:
    """``path`` made two days old."""
    os.utime(path, (TWO_DAYS_AGO, TWO_DAYS_AGO))
    return path


def _theirs(folder: Path, name: str) -> Path:
    """A day-old partial folder of another user, holding a file."""
    partial = folder / name
    partial.mkdir()
    (partial / "info.json").write_text("{}")
    return _aged(partial)


@pytest.fixture
def sticky(monkeypatch) -> list[str]:
    """Make ``shutil.rmtree`` leave the folders named in the returned list as they are, as
    ``rmtree(ignore_errors=True)`` does with another user's folder in a sticky folder (EPERM,
    swallowed); the tests run as root, whom no permission bits stop."""
    names: list[str] = []
    real = shutil.rmtree

    def rmtree(path, *args, **kwargs) -> None:
        if os.path.basename(path) not in names:
            real(path, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", rmtree)
    return names


def test_another_users_dataset_partial_is_warned_of_with_a_folder_command(tmp_path: Path, sticky) -> None:
    name = f".ds.{HEX}.partial"
    theirs = _theirs(tmp_path, name)
    sticky.append(name)
    target = tmp_path / "ds"
    with pytest.warns(GroklstWarning) as caught:
        with atomic_output(target, kind=OutputKind.dataset) as tmp:
            tmp.mkdir()
            (tmp / "info.json").write_text('{"format": "%s"}' % DATASET_FORMAT)
    assert theirs.is_dir() and (target / "info.json").is_file()
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and f"could not be removed ({name};" in messages[0]
    command = messages[0].rsplit("owner removes them: ", 1)[1]
    assert shlex.split(command) == ["rm", "-rf", "--", str(theirs)]


def test_a_folder_that_stays_is_not_counted_as_removed(tmp_path: Path, sticky) -> None:
    """remove_stale's list is what ``downscale`` reports as removed, one line each."""
    kept = _theirs(tmp_path, ".groklst-ingest.abcd_123")
    gone = _theirs(tmp_path, ".groklst-ingest.efgh_456")
    sticky.append(kept.name)
    assert atomic.remove_stale_ingests(tmp_path) == [gone]
    assert kept.is_dir() and not gone.exists()


def test_a_taken_old_name_is_not_reused_when_a_dataset_is_replaced(tmp_path: Path, monkeypatch) -> None:
    """Every draw gives HEX until three were made (the write probe, the partial, the backup)."""
    drawn: list[str] = []
    real = uuid.uuid4

    def draw() -> uuid.UUID:
        value = uuid.UUID(HEX * 4) if len(drawn) < 3 else real()
        drawn.append(value.hex[:8])
        return value

    monkeypatch.setattr(atomic.uuid, "uuid4", draw)
    target = tmp_path / "ds"
    target.mkdir()
    (target / "info.json").write_text('{"format": "%s", "old": true}' % DATASET_FORMAT)
    taken = tmp_path / f".ds.{HEX}.old"  # another replacing run's copy it could not remove
    taken.mkdir()
    (taken / "notes.txt").write_text("kept")
    with atomic_output(target, overwrite=True, kind=OutputKind.dataset) as tmp:
        tmp.mkdir()
        (tmp / "info.json").write_text('{"format": "%s"}' % DATASET_FORMAT)
    assert drawn[:3] == [HEX] * 3 and len(drawn) == 4
    assert (taken / "notes.txt").read_text() == "kept"
    assert (target / "info.json").read_text() == '{"format": "%s"}' % DATASET_FORMAT
    assert sorted(p.name for p in tmp_path.iterdir()) == [taken.name, "ds"]


@locks
def test_an_old_temporary_a_live_run_holds_is_not_removed(tmp_path: Path) -> None:
    live = _aged_file(tmp_path / f".out.tif.{HEX}.aligned-guidance.tif")
    dead = _aged_file(tmp_path / ".out.tif.dead_123.aligned-guidance.tif")
    pattern = re.compile(r"\.out\.tif\.[a-z0-9_]{8}\.aligned-guidance\.tif")
    folder = atomic._hold(tmp_path)  # another run's descriptor, holding its copy as atomic_output does
    try:
        atomic._lock(folder, live)
        assert remove_stale(tmp_path, pattern) == [dead]
        assert live.exists() and not dead.exists()
    finally:
        os.close(folder)
    assert remove_stale(tmp_path, pattern) == [live]  # its run ended (or was killed)


def _aged_file(path: Path) -> Path:
    """A two-day-old file at ``path``."""
    path.write_bytes(b"x")
    return _aged(path)


@locks
def test_a_long_scenes_aligned_copy_survives_a_second_run(tmp_path: Path, monkeypatch) -> None:
    import pipelines.guidance
    from pipelines.scene_align import aligned_guidance

    def align(lst, guidance, out, scale) -> SimpleNamespace:
        Path(out).write_bytes(b"aligned")
        return SimpleNamespace(bands=[{"resampling": "average"}], grid="2 x 2")

    monkeypatch.setattr(pipelines.guidance, "align_guidance", align)
    lst, guidance, output = tmp_path / "lst.tif", tmp_path / "g.tif", tmp_path / "out" / "sr.tif"
    with aligned_guidance(lst, guidance, output, scale=2) as first:
        assert atomic._live(first.path)
        _aged(first.path)  # the first scene has run for two days
        with aligned_guidance(lst, guidance, output, scale=2) as second:
            assert first.path.read_bytes() == b"aligned" and second.path != first.path
    assert list(output.parent.iterdir()) == []


@locks
def test_a_cost_cache_save_holds_its_temporary_while_writing(tmp_path: Path, monkeypatch) -> None:
    import groklst_cli.cost_cache as cost_cache

    held: list[bool] = []
    real = cost_cache.json.dump

    def dump(data, out) -> None:
        (partial,) = tmp_path.glob(".model-costs.json.*.partial")
        held.append(atomic._live(partial))
        real(data, out)

    monkeypatch.setattr(cost_cache.json, "dump", dump)
    cache = CostCache(tmp_path / "model-costs.json", "f")
    cache.put("m x2 3 bands 64 px", 1, 2.0)
    cache.save()
    assert held == [True] and list(tmp_path.iterdir()) == [tmp_path / "model-costs.json"]


def _shifted_scene(folder: Path) -> tuple[Path, Path]:
    """A 64 x 64 LST and a 10-band guidance a fraction of a pixel off its grid: --align resamples
    it into a full-size copy (about 1.5 MB) beside the output."""
    from tests.conftest import write_canonical_scene

    return write_canonical_scene(folder, "s", shape=(64, 64), guidance_origin=(500_000.0 - 3.3, 5_760_000.0 + 4.1),
                                 guidance_shape=(200, 200))


def test_a_file_size_limit_hit_by_the_aligned_copy_names_the_output(tmp_path: Path) -> None:
    """QA s9: ``ulimit -f`` hit while writing --align's copy named the hidden, deleted copy."""
    import resource
    import subprocess
    import sys

    lst, guidance = _shifted_scene(tmp_path)
    limit = (200_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1])
    done = subprocess.run(
        [sys.executable, "-m", "groklst_cli", "downscale", lst.name, "--guidance", guidance.name, "--model",
         "bicubic", "--align", "-o", "lim/o.tif"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, limit))
    error = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 2
    assert error == ("error: lim/o.tif: writing its aligned guidance (--align) failed (File too large) (hint: the "
                     "file system or a ulimit caps the file size) (scene s_lst.tif)")
    assert not (tmp_path / "lim").exists()


def test_a_full_disk_while_aligning_names_the_output(tmp_path: Path, monkeypatch) -> None:
    """ENOSPC from the copy's write, as atomic_output reports it, is named as the output's."""
    import errno

    import pipelines.guidance
    from pipelines.errors import InputError
    from pipelines.scene_align import aligned_guidance

    def align(lst, guidance, out, scale) -> None:
        with atomic_output(out, overwrite=True):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pipelines.guidance, "align_guidance", align)
    output = tmp_path / "out" / "sr.tif"
    with pytest.raises(InputError) as caught:
        with aligned_guidance(tmp_path / "lst.tif", tmp_path / "g.tif", output, scale=2):
            pass
    assert str(caught.value) == (f"{output}: writing its aligned guidance (--align) failed (No space left on device) "
                                 f"(hint: {atomic.environment_hint(errno.ENOSPC)})")
    assert list(output.parent.iterdir()) == []


def test_skip_existing_removes_a_killed_runs_day_old_aligned_copies(tmp_path: Path) -> None:
    """QA s9: a killed --align run's full-size copy and its partial stayed forever under
    --skip-existing reruns; only the output's own, day-old, and only groklst's exact names go."""
    from groklst_cli.app import run

    lst, guidance = _shifted_scene(tmp_path)
    out = tmp_path / "out"
    args = ["-q", "downscale", str(lst), "--guidance", str(guidance), "--model", "bicubic", "--align",
            "-o", str(out / "o.tif")]
    assert run(args) == 0
    gone = [_aged_file(out / ".o.tif.ab_cd123.aligned-guidance.tif"),
            _aged_file(out / "..o.tif.ab_cd123.aligned-guidance.tif.0123abcd.partial")]
    kept = [_aged_file(out / ".p.tif.ab_cd123.aligned-guidance.tif"),  # another output's
            _aged_file(out / ".o.tif.ab_cd123.aligned-guidance.tif.bak"),  # a look-alike
            _aged_file(out / ".o.tif.AB_CD123.aligned-guidance.tif"),  # not mkstemp's
            out / ".o.tif.zz_yy987.aligned-guidance.tif"]  # young: perhaps a live run's
    kept[-1].write_bytes(b"x")
    assert run([*args, "--skip-existing"]) == 0
    assert [path for path in gone if path.exists()] == [] and all(path.exists() for path in kept)


@locks
def test_skip_existing_keeps_a_live_runs_day_old_aligned_copy(tmp_path: Path) -> None:
    copy = _aged_file(tmp_path / ".o.tif.ab_cd123.aligned-guidance.tif")
    with atomic.held_while_in_use(copy):  # another run, two days into its scene
        atomic.remove_stale_partials(tmp_path / "o.tif")
        assert copy.exists()
    atomic.remove_stale_partials(tmp_path / "o.tif")
    assert not copy.exists()
