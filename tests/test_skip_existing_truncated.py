"""--skip-existing takes only a complete scene for finished (QA h10: a copy cut short by an
interrupted cp or rsync was "skipped" with exit 0, and kept forever), and a published output's
data is synced to the disk before its rename (a crash right after it left a cut-short file)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from groklst_cli.app import run
from groklst_cli.commands._downscale_products import output_done
from pipelines import atomic
from pipelines.errors import InputError
from pipelines.scenes import finished_meanwhile

DAMAGED = "is a GeoTIFF whose data cannot be read (cut short by an interrupted copy, or damaged)"
NO_CRS = "is a GeoTIFF without a CRS or georeferencing (a downscaled scene has both)"
REPLACEABLE = "remove it, or pass --overwrite instead of --skip-existing"


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, bytes]:
    """A scene's LST and its complete output (600x600 px: four 512 px blocks, about 0.8 MB)."""
    folder = tmp_path_factory.mktemp("h10")
    assert run(["-q", "sample-scene", str(folder), "--name", "s", "--size", "200"]) == 0
    lst, out = folder / "s_lst.tif", folder / "full.tif"
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(out)]) == 0
    return lst, out.read_bytes()


def _skip_existing(lst: Path, out: Path, capsys, *how: str) -> tuple[int, dict]:
    """Run downscale ... --skip-existing (with ``how``, by default --model bicubic)."""
    capsys.readouterr()
    code = run(["-q", "downscale", str(lst), *(how or ("--model", "bicubic")), "-o", str(out),
                "--skip-existing", "--json"])
    return code, json.loads(capsys.readouterr().out)


def _error(out: Path, problem: str) -> str:
    return f"{out}: exists but {problem}, so it is no finished scene (hint: {REPLACEABLE})"


@pytest.mark.parametrize("keep", [300, 1000, 100_000, -1], ids=["header", "1kB", "100kB", "all-but-1-byte"])
def test_a_cut_short_output_is_the_scenes_error_and_left_as_it_is(finished, tmp_path: Path, capsys,
                                                                   keep: int) -> None:
    lst, full = finished
    assert len(full) > 700_000
    out = tmp_path / "o.tif"
    cut = full[:keep]
    out.write_bytes(cut)
    code, line = _skip_existing(lst, out, capsys)
    assert (code, line["status"], line["error"]) == (2, "error", _error(out, DAMAGED))
    assert out.read_bytes() == cut
    assert finished_meanwhile(out, True) is False  # another run's cut-short file is not "finished meanwhile"


def test_a_cut_short_output_is_the_scenes_error_with_fit_too(finished, tmp_path: Path, capsys) -> None:
    lst, full = finished
    out = tmp_path / "o.tif"
    out.write_bytes(full[:1000])
    code, line = _skip_existing(lst, out, capsys, "--fit", "--fit-candidates", "tsharp")
    assert (code, line["status"], line["error"]) == (2, "error", _error(out, DAMAGED))
    assert out.read_bytes() == full[:1000]


def test_a_product_scenes_cut_short_output_is_not_done(finished, tmp_path: Path) -> None:
    """The product-folder route's own look (downscale FOLDER... --skip-existing) says the same."""
    out = tmp_path / "o.tif"
    out.write_bytes(finished[1][:100_000])
    with pytest.raises(InputError) as caught:
        output_done(out, overwrite=False, skip_existing=True, inputs=[])
    assert str(caught.value) == _error(out, DAMAGED)


def _write(path: Path, count: int = 1, **georeferencing) -> bytes:
    with rasterio.open(path, "w", driver="GTiff", width=8, height=8, count=count, dtype="float32",
                       **georeferencing) as dst:
        dst.write(np.full((count, 8, 8), 300.0, dtype="float32"))
        for band in range(1, count + 1):
            dst.set_band_description(band, "lst")
    return path.read_bytes()


@pytest.mark.parametrize("georeferencing", [
    {},  # neither
    {"transform": from_origin(500000, 4300000, 30, 30)},  # no CRS
    {"crs": "EPSG:32647"},  # no transform
], ids=["none", "no-crs", "no-transform"])
def test_a_geotiff_without_georeferencing_is_no_finished_scene(finished, tmp_path: Path, capsys,
                                                               georeferencing: dict) -> None:
    out = tmp_path / "o.tif"
    before = _write(out, **georeferencing)
    code, line = _skip_existing(finished[0], out, capsys)
    assert (code, line["status"], line["error"]) == (2, "error", _error(out, NO_CRS))
    assert out.read_bytes() == before


def test_a_geotiff_with_other_bands_is_no_finished_scene(finished, tmp_path: Path, capsys) -> None:
    out = tmp_path / "o.tif"
    before = _write(out, 3, crs="EPSG:32647", transform=from_origin(500000, 4300000, 30, 30))
    code, line = _skip_existing(finished[0], out, capsys)
    problem = "has 3 band(s) ('lst', 'lst', 'lst'), not a downscaled scene's one band 'lst'"
    assert (code, line["status"], line["error"]) == (2, "error", _error(out, problem))
    assert out.read_bytes() == before


def test_a_complete_output_is_still_skipped(finished, tmp_path: Path, capsys) -> None:
    lst, full = finished
    out = tmp_path / "o.tif"
    out.write_bytes(full)
    code, line = _skip_existing(lst, out, capsys)
    assert (code, line["status"], line["error"]) == (0, "skipped", None)
    assert out.read_bytes() == full


def _recording(monkeypatch) -> list[tuple[str, str]]:
    """Record os.fsync (by the name of the file or folder synced), os.link and os.replace, in order."""
    calls: list[tuple[str, str]] = []
    fsync, link, replace = os.fsync, os.link, os.replace

    def recorded_fsync(fd: int) -> None:
        calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        fsync(fd)

    def recorded(name: str, real):
        def call(src, dst, *args, **kwargs):
            calls.append((name, os.fspath(src)))
            return real(src, dst, *args, **kwargs)
        return call

    monkeypatch.setattr(os, "fsync", recorded_fsync)
    monkeypatch.setattr(os, "link", recorded("link", link))
    monkeypatch.setattr(os, "replace", recorded("replace", replace))
    return calls


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names a file descriptor's file by /proc")
@pytest.mark.parametrize("overwrite", [False, True])
def test_the_file_is_synced_before_its_rename_and_the_folder_after(tmp_path: Path, monkeypatch,
                                                                   overwrite: bool) -> None:
    out = tmp_path / "o.tif"
    if overwrite:
        out.write_bytes(b"II*\0old")
    calls = _recording(monkeypatch)
    with atomic.atomic_output(out, overwrite=overwrite) as tmp:
        tmp.write_bytes(b"II*\0new")
    renamed = "replace" if overwrite else "link"  # by name inside the held folder (1a9c8cf)
    assert calls == [("fsync", str(tmp)), (renamed, tmp.name), ("fsync", str(tmp_path))]
    assert out.read_bytes() == b"II*\0new"


def test_a_failed_sync_publishes_nothing(tmp_path: Path, monkeypatch) -> None:
    """A disk that cannot keep the data (EIO) leaves no output and no temporary behind."""
    def failing(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing)
    out = tmp_path / "o.tif"
    with pytest.raises(InputError) as caught, atomic.atomic_output(out) as tmp:
        tmp.write_bytes(b"II*\0new")
    assert str(caught.value) == f"{out}: writing failed (Input/output error) (hint: check the disk, then run again)"
    assert sorted(tmp_path.iterdir()) == []
