"""QA soak findings on temporaries (fixATM): the stale cleanup lists an output's folder once per
output without making a Path of every name in it; the write probe is removed even when a
signal's exception lands right after it is created, and a day-old probe left anyway is removed
like a day-old partial; a scene --skip-existing skips gets its day-old partials removed too;
running out of file descriptors is said as such, not as "not a readable raster"."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import Affine

import pipelines.atomic as atomic
from groklst_cli.app import run
from pipelines.atomic import STALE_AFTER_S, GroklstWarning, atomic_output, check_writable
from tests.test_fit_small_fixes import scene

TWO_DAYS_AGO = time.time() - 2 * STALE_AFTER_S
PROBE = ".groklst-write-test.0123abcd.partial"


def aged(path: Path, content: bytes = b"half") -> Path:
    path.write_bytes(content)
    os.utime(path, (TWO_DAYS_AGO, TWO_DAYS_AGO))
    return path


def listings(monkeypatch: pytest.MonkeyPatch, folder: Path) -> list[str]:
    """Record every listing of ``folder`` (os.scandir, os.listdir, Path.iterdir)."""
    seen: list[str] = []

    def counted(real):  # noqa: ANN001, ANN202 - a thin wrapper
        def listing(path=".", *args, **kwargs):  # noqa: ANN001, ANN202
            if Path(path) == folder:
                seen.append(real.__name__)
            return real(path, *args, **kwargs)
        return listing

    monkeypatch.setattr(os, "scandir", counted(os.scandir))
    monkeypatch.setattr(os, "listdir", counted(os.listdir))
    real_iterdir = Path.iterdir
    monkeypatch.setattr(Path, "iterdir", lambda self: (seen.append("iterdir") if self == folder else None)
                        or real_iterdir(self))
    return seen


def test_a_staged_output_lists_its_folder_once_and_makes_no_path_per_unrelated_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """QA: each scene listed the whole --out-dir twice as Paths (1.24 s a scene beside 100,000 files)."""
    for i in range(300):
        (tmp_path / f"scene_{i:03d}.tif").write_bytes(b"")
    old = aged(tmp_path / ".out.tif.0123abcd.partial")
    seen = listings(monkeypatch, tmp_path)
    made: list[str] = []
    real_path = atomic.Path
    monkeypatch.setattr(atomic, "Path", lambda *parts: made.append(str(parts[-1])) or real_path(*parts))
    with atomic_output(tmp_path / "out.tif") as staged, atomic_output(staged) as tmp:
        tmp.write_bytes(b"done")
    assert seen == ["scandir"]
    assert [Path(name).name for name in made if "scene_" in name] == []
    assert not old.exists() and (tmp_path / "out.tif").read_bytes() == b"done"


def test_the_write_probe_is_removed_when_a_signal_lands_right_after_it_is_made(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """QA: 2 SIGTERMs in 100 left a .groklst-write-test.XXXXXXXX.partial forever."""
    real_close = os.close

    def interrupted(fd: int) -> None:
        real_close(fd)
        raise KeyboardInterrupt  # what the CLI's SIGTERM handler raises, at the worst instant

    monkeypatch.setattr(os, "close", interrupted)
    with pytest.raises(KeyboardInterrupt):
        check_writable(tmp_path / "out.tif", overwrite=False)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_day_old_write_probe_is_removed_and_a_young_one_left_unreported(tmp_path: Path) -> None:
    old = aged(tmp_path / PROBE, b"")
    young = tmp_path / ".groklst-write-test.89abcdef.partial"
    young.write_bytes(b"")
    lookalike = aged(tmp_path / ".groklst-write-test.notours.partial", b"")
    with warnings.catch_warnings():
        warnings.simplefilter("error", GroklstWarning)  # a young probe is another run's at work
        with atomic_output(tmp_path / "out.tif") as tmp:
            tmp.write_bytes(b"done")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([young.name, lookalike.name, "out.tif"])
    assert not old.exists()


def test_a_day_old_probe_beside_a_dataset_is_removed_too(tmp_path: Path) -> None:
    old = aged(tmp_path / PROBE, b"")
    with atomic_output(tmp_path / "ds", kind=atomic.OutputKind.dataset) as tmp:
        tmp.mkdir()
        (tmp / "info.json").write_text('{"format": "groklst-dataset/1"}')
    assert not old.exists() and (tmp_path / "ds" / "info.json").is_file()


def test_skip_existing_removes_a_skipped_scenes_day_old_partials(tmp_path: Path, capsys) -> None:
    """QA: after kill -9, --skip-existing reruns never removed the partials the warning promised
    to remove after a day (the skipped scene returned before the cleanup)."""
    lst_path, out = scene(tmp_path), tmp_path / "o.tif"
    assert run(["-q", "downscale", str(lst_path), "--model", "bicubic", "-o", str(out)]) == 0
    old = aged(tmp_path / ".o.tif.0123abcd.partial")
    old_worker = aged(tmp_path / "..o.tif.0123abcd.partial.89abcdef.partial.cog")
    old_probe = aged(tmp_path / PROBE, b"")
    young = tmp_path / ".o.tif.89abcdef.partial"
    young.write_bytes(b"half")
    other = aged(tmp_path / ".other.tif.0123abcd.partial")
    written = out.read_bytes()
    capsys.readouterr()
    assert run(["-q", "downscale", str(lst_path), "--model", "bicubic", "-o", str(out), "--skip-existing"]) == 0
    assert capsys.readouterr().err == ""  # the young one is left unreported: another run may be at it
    assert not old.exists() and not old_worker.exists() and not old_probe.exists()
    assert young.exists() and other.exists() and out.read_bytes() == written


def test_fit_skip_existing_removes_a_skipped_scenes_day_old_partials_too(tmp_path: Path) -> None:
    """Review: the --fit skip (and the product-folder one) went through another check that
    returned before the cleanup, so a killed --fit run's partials stayed forever."""
    lst_path, out = scene(tmp_path), tmp_path / "o.tif"
    assert run(["-q", "downscale", str(lst_path), "--model", "bicubic", "-o", str(out)]) == 0
    old = aged(tmp_path / ".o.tif.0123abcd.partial")
    young = tmp_path / ".o.tif.89abcdef.partial"
    young.write_bytes(b"half")
    assert run(["-q", "downscale", str(lst_path), "--fit", "-o", str(out), "--skip-existing"]) == 0
    assert not old.exists() and young.exists()


def test_a_skipped_scene_whose_partial_cannot_be_removed_is_still_skipped(
        tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only archive folder: the partial is left as it is, the scene still skipped."""
    lst_path, out = scene(tmp_path), tmp_path / "o.tif"
    assert run(["-q", "downscale", str(lst_path), "--model", "bicubic", "-o", str(out)]) == 0
    old = aged(tmp_path / ".o.tif.0123abcd.partial")

    def refused(self: Path, missing_ok: bool = False) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "unlink", refused)
    capsys.readouterr()
    assert run(["-q", "downscale", str(lst_path), "--model", "bicubic", "-o", str(out), "--skip-existing"]) == 0
    assert capsys.readouterr().err == "" and old.exists()


def _tiny(path: Path) -> None:
    with rasterio.open(path, "w", driver="GTiff", width=2, height=2, count=1, dtype="float32",
                       crs="EPSG:32650", transform=Affine(1, 0, 0, 0, -1, 2)) as dst:
        dst.write(np.ones((1, 2, 2), np.float32))


def test_running_out_of_file_descriptors_is_said_with_what_to_do(tmp_path: Path) -> None:
    """QA: ``ulimit -n 40; groklst compare truth.tif c1.tif ... c150.tif`` said "cand_031.tif: not a
    readable raster (... Too many open files) (hint: is it a GeoTIFF?)"."""
    for i in range(80):
        _tiny(tmp_path / f"c{i:02d}.tif")
    code = (
        "import resource, sys\n"
        "from pipelines.errors import InputError\n"
        "from pipelines.geotiff import open_raster\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (40, 40))\n"
        "kept = []\n"
        "try:\n"
        f"    for i in range(80): kept.append(open_raster('{tmp_path}/c%02d.tif' % i))\n"
        "except InputError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).parents[1])
    said = done.stdout.strip()
    assert said.startswith(str(tmp_path / "c")) and ": cannot be opened: too many files open at once (" in said
    assert said.endswith("(hint: raise the limit with ulimit -n, or give fewer files per run, "
                         "e.g. fewer compare candidates)")
    assert "not a readable raster" not in said and "GeoTIFF" not in said
