"""Atomic outputs: nothing half-written under the final name, nothing overwritten by surprise."""

from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from pipelines.atomic import (DATASET_FORMAT, STALE_AFTER_S, OutputKind, atomic_output, check_writable,
                              published_together)
from pipelines.errors import GroklstWarning, InputError
from pipelines.geotiff import geotiff_output, write_failed, write_raster


def test_failure_inside_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out.tif"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed midway")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_outputs_published_together_appear_only_when_all_are_complete(tmp_path: Path) -> None:
    """A pair written under --overwrite: the second output failing its completeness check
    leaves the old pair as it was (not a new LST beside an old guidance), and no temporary.
    (Text stands in for the files, under names of no format groklst writes: a .tif holding
    text is refused as no TIFF, see test_overwrite_kinds.)"""
    lst, guidance = tmp_path / "s_lst.bin", tmp_path / "s_guidance.bin"
    lst.write_text("old lst")
    guidance.write_text("old guidance")

    def truncated(tmp: Path) -> None:
        raise InputError(guidance, "incomplete")

    with pytest.raises(InputError, match="incomplete"):
        with published_together():
            with atomic_output(lst, overwrite=True) as tmp:
                tmp.write_text("new lst")
            assert lst.read_text() == "old lst"  # complete, but held back
            with atomic_output(guidance, overwrite=True, check=truncated) as tmp:
                tmp.write_text("new guid")
    assert (lst.read_text(), guidance.read_text()) == ("old lst", "old guidance")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s_guidance.bin", "s_lst.bin"]
    with published_together():
        for target, text in ((lst, "new lst"), (guidance, "new guidance")):
            with atomic_output(target, overwrite=True) as tmp:
                tmp.write_text(text)
    assert (lst.read_text(), guidance.read_text()) == ("new lst", "new guidance")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s_guidance.bin", "s_lst.bin"]


def test_existing_file_kept_without_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_text("old")
    with pytest.raises(InputError, match="already exists"):
        with atomic_output(target) as tmp:
            tmp.write_text("new")
    assert target.read_text() == "old"
    with atomic_output(target, overwrite=True) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"


def _dataset(path: Path, content: str = "old") -> Path:
    path.mkdir()
    (path / "info.json").write_text(json.dumps({"format": DATASET_FORMAT}))
    (path / content).write_text("x")
    return path


def test_a_groklst_dataset_is_replaced_but_not_what_the_user_put_in_it(tmp_path: Path) -> None:
    target = _dataset(tmp_path / "store", content="stats.json")  # groklst's own entries
    (target / "splits").mkdir()
    (target / "splits" / "train.txt").write_text("old split")
    (target / "notes.md").write_text("mine")
    (target / "runs" / "r1").mkdir(parents=True)
    (target / "runs" / "r1" / "best.pt").write_bytes(b"weights")
    with atomic_output(target, overwrite=True, kind=OutputKind.dataset) as tmp:
        tmp.mkdir()
        (tmp / "info.json").write_text("new")
        (tmp / "new").write_text("y")
    assert sorted(p.name for p in target.iterdir()) == ["info.json", "new", "notes.md", "runs"]
    assert (target / "info.json").read_text() == "new" and (target / "notes.md").read_text() == "mine"
    assert (target / "runs" / "r1" / "best.pt").read_bytes() == b"weights"
    assert [p.name for p in tmp_path.iterdir()] == ["store"]


def test_a_file_output_never_replaces_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "fine"
    folder.mkdir()
    (folder / "precious.tif").write_bytes(b"user data")
    with pytest.raises(InputError, match="is a folder; an output file never replaces a folder"):
        with atomic_output(folder, overwrite=True) as tmp:
            tmp.write_bytes(b"new")
    assert (folder / "precious.tif").read_bytes() == b"user data"


def test_a_file_output_never_replaces_a_pipe_or_device(tmp_path: Path) -> None:
    """Renaming over a FIFO (or /dev/null, as root) would remove the node: refused before any work."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="is a device, pipe or socket, not a regular file"):
        with atomic_output(fifo, overwrite=True) as tmp:
            tmp.write_bytes(b"new")
    assert fifo.is_fifo() and sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]
    with pytest.raises(InputError, match="is a device, pipe or socket"):
        check_writable(Path(os.devnull), overwrite=True)


@pytest.mark.parametrize("make", ["plain folder", "file", "dataset without marker"])
def test_a_dataset_replaces_only_a_groklst_dataset(tmp_path: Path, make: str) -> None:
    target = tmp_path / "ds"
    if make == "file":
        target.write_bytes(b"keep")
    else:
        target.mkdir()
        (target / "info.json" if make != "plain folder" else target / "notes.txt").write_text("{}")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(InputError, match="never"):
        with atomic_output(target, overwrite=True, kind=OutputKind.dataset) as tmp:
            tmp.mkdir()
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_an_empty_folder_may_become_a_dataset_without_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "ds"
    target.mkdir()
    with atomic_output(target, kind=OutputKind.dataset) as tmp:
        tmp.mkdir()
        (tmp / "info.json").write_text("{}")
    assert (target / "info.json").is_file()


def test_an_output_equal_to_an_input_is_refused_even_through_a_link(tmp_path: Path) -> None:
    source = tmp_path / "scene_lst.tif"
    source.write_bytes(b"input")
    link = tmp_path / "link.tif"
    link.symlink_to(source)
    for target in (source, link, tmp_path / "." / "scene_lst.tif"):
        with pytest.raises(InputError, match="the output is one of the inputs"):
            check_writable(target, overwrite=True, inputs=[link])
    assert source.read_bytes() == b"input"


def test_an_output_below_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="notes.txt is a file, not a folder"):
        check_writable(tmp_path / "notes.txt" / "sub" / "out.tif", overwrite=False)


def test_a_file_appearing_during_the_run_is_not_clobbered(tmp_path: Path) -> None:
    target = tmp_path / "out.tif"
    with pytest.raises(InputError, match="appeared while groklst was writing"):
        with atomic_output(target) as tmp:
            tmp.write_bytes(b"ours")
            target.write_bytes(b"theirs")
    assert target.read_bytes() == b"theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["out.tif"]


def test_stale_partials_older_than_a_day_are_removed_younger_reported(tmp_path: Path) -> None:
    target = tmp_path / "out.tif"
    old = tmp_path / ".out.tif.0123abcd.partial"
    young = tmp_path / ".out.tif.89abcdef.partial"
    unrelated = tmp_path / ".other.tif.0123abcd.partial"
    for path in (old, young, unrelated):
        path.write_bytes(b"half")
    two_days_ago = time.time() - 2 * STALE_AFTER_S
    os.utime(old, (two_days_ago, two_days_ago))
    os.utime(unrelated, (two_days_ago, two_days_ago))
    with pytest.warns(GroklstWarning, match="89abcdef"):
        with atomic_output(target) as tmp:
            tmp.write_bytes(b"done")
    assert not old.exists() and young.exists() and unrelated.exists()
    assert target.read_bytes() == b"done"


def test_gdal_files_beside_a_killed_runs_partial_are_cleaned_up_too(tmp_path: Path) -> None:
    """QA: a killed --cog run left .partial.cog and .partial.cog.ovr.tmp forever, unreported."""
    target = tmp_path / "out.tif"
    old_cog = tmp_path / ".out.tif.0123abcd.partial.cog"
    old_ovr = tmp_path / ".out.tif.0123abcd.partial.cog.ovr.tmp"
    old_worker = tmp_path / "..out.tif.0123abcd.partial.89abcdef.partial"  # a dask task's, killed
    young_cog = tmp_path / ".out.tif.89abcdef.partial.cog"
    for path in (old_cog, old_ovr, old_worker, young_cog):
        path.write_bytes(b"half")
    two_days_ago = time.time() - 2 * STALE_AFTER_S
    for path in (old_cog, old_ovr, old_worker):
        os.utime(path, (two_days_ago, two_days_ago))
    with pytest.warns(GroklstWarning, match=r"\.out\.tif\.89abcdef\.partial\.cog"):
        with atomic_output(target) as tmp:
            tmp.write_bytes(b"done")
    assert not old_cog.exists() and not old_ovr.exists() and not old_worker.exists() and young_cog.exists()


def test_a_killed_aligned_runs_partial_guidance_is_cleaned_up(tmp_path: Path, monkeypatch) -> None:
    """QA: a killed --align run left its aligned guidance's own partial (34 MB) forever."""
    import pipelines.guidance as guidance
    from pipelines.scene_align import aligned_guidance

    output = tmp_path / "scene_10m.tif"
    left = tmp_path / "..scene_10m.tif.ab12cd34.aligned-guidance.tif.0123abcd.partial"
    left.write_bytes(b"half")
    two_days_ago = time.time() - 2 * STALE_AFTER_S
    os.utime(left, (two_days_ago, two_days_ago))
    monkeypatch.setattr(guidance, "align_scale", lambda lst, g: 3)
    monkeypatch.setattr(guidance, "align_guidance", lambda lst, g, path, scale: (_ for _ in ()).throw(
        InputError(g, "stop here")))  # the stale copy is removed before any alignment
    with pytest.raises(InputError, match="stop here"):
        with aligned_guidance(tmp_path / "a_lst.tif", tmp_path / "g.tif", output):
            pass
    assert not left.exists() and list(tmp_path.iterdir()) == []


def test_a_name_too_long_for_the_temporary_names_beside_it_is_refused_first(tmp_path: Path) -> None:
    """QA: a 250-byte output name failed at the end, naming the temporary file."""
    limit = os.pathconf(tmp_path, "PC_NAME_MAX")
    longest = "x" * (limit - 49 - 4) + ".tif"
    assert check_writable(tmp_path / longest, overwrite=False) == tmp_path / longest
    too_long = "x" * (limit - 49 - 3) + ".tif"
    with pytest.raises(InputError, match=f"the name is {limit - 48} bytes; with groklst's temporary names "
                                         f"beside it \\(up to 49 more\\) it would pass this folder's limit"):
        check_writable(tmp_path / too_long, overwrite=False)


def test_a_broken_link_in_the_output_path_is_named(tmp_path: Path) -> None:
    """QA: --out-dir naming a dangling symlink said only "File exists"."""
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(InputError, match="dangling is a broken symbolic link"):
        check_writable(tmp_path / "dangling" / "out.tif", overwrite=False)


def test_write_raster_follows_the_convention(tmp_path: Path) -> None:
    data = np.arange(40 * 30, dtype=np.float64).reshape(30, 40)
    data[0, 0] = np.nan
    path = write_raster(tmp_path / "r.tif", data, crs=CRS.from_epsg(32647),
                        transform=Affine(30, 0, 500000, 0, -30, 4300000),
                        descriptions=["lst"], units="K", tags={"source": "test"})
    with rasterio.open(path) as src:
        assert src.dtypes == ("float32",) and np.isnan(src.nodata)
        assert src.block_shapes == [(512, 512)] and src.compression.value == "DEFLATE"
        assert src.descriptions == ("lst",) and src.units == ("K",)
        assert src.tags()["source"] == "test" and src.crs.to_epsg() == 32647
        out = src.read(1)
    assert np.isnan(out[0, 0]) and out[29, 39] == 40 * 30 - 1


def test_a_folder_that_refuses_files_is_refused_before_any_work(tmp_path: Path, monkeypatch) -> None:
    """Permission bits do not tell (root, ACLs, immutable folders): a real file is tried."""
    real_open = os.open

    def refusing_open(path, flags, *args):
        if Path(path).parent == tmp_path / "locked":
            raise PermissionError(1, "Operation not permitted", str(path))
        return real_open(path, flags, *args)

    (tmp_path / "locked").mkdir()
    monkeypatch.setattr(os, "open", refusing_open)
    with pytest.raises(InputError, match="cannot write in this folder") as err:
        check_writable(tmp_path / "locked" / "out.tif", overwrite=False)
    assert err.value.path == str(tmp_path / "locked") and err.value.hint == "check the permissions"
    check_writable(tmp_path / "free" / "out.tif", overwrite=False)  # creates the folder, leaves no probe
    assert list((tmp_path / "free").iterdir()) == []


def test_a_write_error_names_the_output_not_the_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    with pytest.raises(InputError, match="writing failed") as err:
        with atomic_output(target) as tmp:
            raise OSError(errno.EFBIG, "File too large")  # as Pillow raises it: no file name
    assert err.value.path == str(target) and "ulimit" in err.value.hint
    with pytest.raises(InputError) as err:
        with atomic_output(target) as tmp:
            raise OSError(errno.EACCES, "Permission denied", str(tmp))
    assert err.value.path == str(target)
    with pytest.raises(OSError):  # about another file: not ours to rename
        with atomic_output(target):
            raise OSError(errno.EACCES, "Permission denied", str(tmp_path / "input.tif"))
    assert list(tmp_path.iterdir()) == []


def test_a_truncated_geotiff_is_not_published(tmp_path: Path) -> None:
    source = write_raster(tmp_path / "whole.tif", np.random.default_rng(0).random((600, 700), np.float32),
                          crs=CRS.from_epsg(32650), transform=Affine(10, 0, 0, 0, -10, 0), descriptions=["lst"])
    whole = source.read_bytes()
    target = tmp_path / "out.tif"
    with pytest.raises(InputError, match="truncated") as err:
        with geotiff_output(target) as tmp:
            tmp.write_bytes(whole[:-100])  # the last block cut short
    assert err.value.path == str(target)
    with pytest.raises(InputError, match="cannot be read back"):
        with geotiff_output(target) as tmp:
            tmp.write_bytes(whole[:200])  # not even a readable directory
    assert sorted(p.name for p in tmp_path.iterdir()) == ["whole.tif"]
    with geotiff_output(target) as tmp:
        tmp.write_bytes(whole)
    assert target.read_bytes() == whole


def test_a_truncated_geotiff_on_a_full_disk_says_the_disk_is_full(tmp_path: Path, monkeypatch) -> None:
    """QA (a 300 KB tmpfs): sample-scene's cut-off file said "cannot be read back, truncated or damaged"
    where the other commands said why; a full disk is named as the cause here too."""
    import shutil
    from collections import namedtuple

    source = write_raster(tmp_path / "whole.tif", np.random.default_rng(0).random((600, 700), np.float32),
                          crs=CRS.from_epsg(32650), transform=Affine(10, 0, 0, 0, -10, 0), descriptions=["lst"])
    whole = source.read_bytes()
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: usage(2**30, 2**30 - 2**20, 2**20))
    for cut in (whole[:-100], whole[:200]):
        with pytest.raises(InputError, match=r"writing failed: no space left on the device \(1 MiB free\)"):
            with geotiff_output(tmp_path / "out.tif") as tmp:
                tmp.write_bytes(cut)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["whole.tif"]


def test_a_geotiff_with_a_block_that_does_not_decode_is_not_published(tmp_path: Path) -> None:
    """Every block inside the file, but one garbled (as GDAL's threaded writes once left them)."""
    source = write_raster(tmp_path / "whole.tif", np.random.default_rng(0).random((600, 700), np.float32),
                          crs=CRS.from_epsg(32650), transform=Affine(10, 0, 0, 0, -10, 0), descriptions=["lst"])
    with rasterio.open(source) as src:
        offset = int(src.get_tag_item("BLOCK_OFFSET_1_1", "TIFF", bidx=1))
    damaged = bytearray(source.read_bytes())
    damaged[offset:offset + 64] = bytes(64)
    target = tmp_path / "out.tif"
    with pytest.raises(InputError, match="cannot be read back"):
        with geotiff_output(target) as tmp:
            tmp.write_bytes(bytes(damaged))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["whole.tif"]


def test_write_failed_names_the_output_once_with_a_fitting_hint(tmp_path: Path) -> None:
    tmp = tmp_path / ".out.tif.0123abcd.partial"
    try:
        try:
            raise OSError(f"Attempt to create new tiff file '{tmp}' failed: Permission denied")
        except OSError as inner:
            raise rasterio.errors.RasterioIOError(f"Attempt to create new tiff file '{tmp}' failed: "
                                                  "Permission denied") from inner
    except rasterio.errors.RasterioIOError as exc:
        error = write_failed(tmp_path / "out.tif", exc, tmp)
    assert ".partial" not in str(error) and str(tmp_path / "out.tif") in error.problem
    assert error.problem.count("Permission denied") == 1
    assert error.hint == "check the permissions of the output folder"


def test_a_dataset_output_that_is_a_link_is_named_as_a_link(tmp_path: Path) -> None:
    """QA: ``prepare -o LINK --overwrite`` (a link to a dataset folder) said "exists and is not a folder"."""
    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / "info.json").write_text("{}")
    link = tmp_path / "dslink"
    link.symlink_to(folder)
    with pytest.raises(InputError, match=r"is a symbolic link \(to .*ds\); a dataset never replaces a link"):
        check_writable(link, True, kind=OutputKind.dataset)
    assert link.is_symlink() and (folder / "info.json").read_text() == "{}"
