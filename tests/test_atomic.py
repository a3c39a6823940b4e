"""Atomic outputs: nothing half-written under the final name, nothing overwritten by surprise."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from pipelines.atomic import DATASET_FORMAT, STALE_AFTER_S, OutputKind, atomic_output, check_writable
from pipelines.errors import GroklstWarning, InputError
from pipelines.geotiff import write_raster


def test_failure_inside_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out.tif"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed midway")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_existing_file_kept_without_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "out.tif"
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


def test_a_groklst_dataset_is_replaced_whole(tmp_path: Path) -> None:
    target = _dataset(tmp_path / "store")
    with atomic_output(target, overwrite=True, kind=OutputKind.dataset) as tmp:
        tmp.mkdir()
        (tmp / "new").write_text("y")
    assert sorted(p.name for p in target.iterdir()) == ["new"]
    assert [p.name for p in tmp_path.iterdir()] == ["store"]


def test_a_file_output_never_replaces_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "fine"
    folder.mkdir()
    (folder / "precious.tif").write_bytes(b"user data")
    with pytest.raises(InputError, match="is a folder; an output file never replaces a folder"):
        with atomic_output(folder, overwrite=True) as tmp:
            tmp.write_bytes(b"new")
    assert (folder / "precious.tif").read_bytes() == b"user data"


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
