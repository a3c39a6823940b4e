"""Atomic outputs: nothing half-written under the final name, nothing overwritten by surprise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from pipelines.atomic import atomic_output
from pipelines.errors import InputError
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


def test_directories_are_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "store"
    target.mkdir()
    (target / "old").write_text("x")
    with atomic_output(target, overwrite=True) as tmp:
        tmp.mkdir()
        (tmp / "new").write_text("y")
    assert sorted(p.name for p in target.iterdir()) == ["new"]
    assert [p.name for p in tmp_path.iterdir()] == ["store"]


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
