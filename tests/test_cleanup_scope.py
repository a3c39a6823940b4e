"""What groklst cleans up is only what it made: its exact temporary names (never a user's
file or folder that looks alike), and the output folders a run that wrote nothing created;
and a damaged block is reported with GDAL's reason, not rasterio's "see previous exception"."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import rasterio
from rasterio._err import CPLE_AppDefinedError
from rasterio.errors import RasterioIOError
from rasterio.windows import Window

from groklst_cli.app import run
from pipelines.atomic import STALE_AFTER_S, OutputKind, atomic_output, remove_stale_ingests
from pipelines.errors import GroklstWarning, InputError
from pipelines.geotiff import read_failure, read_stored
from tests.conftest import write_canonical_scene

TWO_DAYS_AGO = time.time() - 2 * STALE_AFTER_S


def _stale(*paths: Path) -> None:
    """Date ``paths`` two days back (files and folders alike), old enough to be removed."""
    for path in paths:
        os.utime(path, (TWO_DAYS_AGO, TWO_DAYS_AGO))


def _user_folder(path: Path) -> Path:
    path.mkdir()
    (path / "important.txt").write_text("data")
    return path


def _damage_first_block(path: Path) -> None:
    """Overwrite the first block of a tiled, compressed GeoTIFF: its header still opens, the
    block no longer decodes."""
    with rasterio.open(path) as src:
        offset = int(src.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=1))
        size = int(src.get_tag_item("BLOCK_SIZE_0_0", "TIFF", bidx=1))
    raw = bytearray(path.read_bytes())
    raw[offset:offset + size] = b"\xff" * size
    path.write_bytes(bytes(raw))


# ---------------------------------------------------------------- stale temporaries: exact names only


def test_only_the_files_groklst_writes_beside_a_file_output_are_removed(tmp_path: Path) -> None:
    """QA: a folder .NAME.00000000.partial.keep (with a file in it) and a file
    .NAME.cafebabe.partial.txt were deleted. Only atomic_output's partial, GDAL's COG copy and
    the COG's overviews beside it, and a dask task's partial of a scene's partial go."""
    target = tmp_path / "out.tif"
    ours = [tmp_path / name for name in (
        ".out.tif.0123abcd.partial", ".out.tif.0123abcd.partial.cog", ".out.tif.0123abcd.partial.cog.ovr.tmp",
        "..out.tif.0123abcd.partial.89abcdef.partial", "..out.tif.0123abcd.partial.89abcdef.partial.cog",
        "..out.tif.0123abcd.partial.89abcdef.partial.cog.ovr.tmp")]
    for path in ours:
        path.write_bytes(b"half")
    lookalikes = [tmp_path / name for name in (
        ".out.tif.cafebabe.partial.txt", ".out.tif.cafebabe.partial.cog.bak", "..out.tif.cafebabe.partial",
        ".out.tif.cafebabe.partial.89abcdef.partial", "out.tif.cafebabe.partial")]
    for path in lookalikes:
        path.write_text("mine")
    folders = [_user_folder(tmp_path / ".out.tif.00000000.partial.keep"),
               _user_folder(tmp_path / ".out.tif.0000000a.partial")]  # a file output's partial is never a folder
    _stale(*ours, *lookalikes, *folders)
    with atomic_output(target) as tmp:
        tmp.write_bytes(b"done")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["out.tif", *(p.name for p in lookalikes), *(p.name for p in folders)])
    assert all((f / "important.txt").read_text() == "data" for f in folders)


def test_young_lookalikes_are_not_reported_as_unfinished_outputs(tmp_path: Path) -> None:
    (tmp_path / ".out.tif.cafebabe.partial.txt").write_text("mine")
    _user_folder(tmp_path / ".out.tif.0000000a.partial")
    (tmp_path / ".out.tif.0000000a.partial.link").symlink_to(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", GroklstWarning)
        with atomic_output(tmp_path / "out.tif") as tmp:
            tmp.write_bytes(b"done")
    assert (tmp_path / "out.tif").read_bytes() == b"done"


def test_a_datasets_partial_folder_is_removed_but_not_a_lookalike(tmp_path: Path) -> None:
    """A dataset is the one output whose partial is a folder (prepare's Zarr store)."""
    ours = _user_folder(tmp_path / ".ds.0123abcd.partial")
    kept = [_user_folder(tmp_path / ".ds.0123abcd.partial.keep"), _user_folder(tmp_path / "..ds.0123abcd.partial")]
    not_a_folder = tmp_path / ".ds.89abcdef.partial"
    not_a_folder.write_text("mine")
    _stale(ours, *kept, not_a_folder)
    with atomic_output(tmp_path / "ds", kind=OutputKind.dataset) as tmp:
        tmp.mkdir()
        (tmp / "info.json").write_text("{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["ds", *(p.name for p in kept), not_a_folder.name])


def test_stale_ingest_folders_are_removed_not_files_or_other_names(tmp_path: Path) -> None:
    ours = _user_folder(tmp_path / ".groklst-ingest.ab_12cd3")
    kept = [_user_folder(tmp_path / ".groklst-ingest.ab_12cd3.keep"), tmp_path / ".groklst-ingest.zz_99yy8"]
    kept[1].write_text("a file, not mkdtemp's folder")
    _stale(ours, *kept)
    assert remove_stale_ingests(tmp_path) == [ours]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in kept)


def test_only_the_aligned_guidance_copy_and_its_partial_are_removed(tmp_path: Path, monkeypatch) -> None:
    import pipelines.guidance as guidance
    from pipelines.scene_align import aligned_guidance

    ours = [tmp_path / ".s.tif.ab12cd34.aligned-guidance.tif",
            tmp_path / "..s.tif.ab12cd34.aligned-guidance.tif.0123abcd.partial"]
    kept = [tmp_path / "..s.tif.ab12cd34.aligned-guidance.tif.0123abcd.partial.txt",
            tmp_path / "..s.tif.ab12cd34.aligned-guidance.tif",
            tmp_path / ".s.tif.ab12cd34.aligned-guidance.tif.0123abcd.partial"]
    for path in ours + kept:
        path.write_bytes(b"x")
    folder = _user_folder(tmp_path / ".s.tif.zz12cd34.aligned-guidance.tif")
    _stale(*ours, *kept, folder)
    monkeypatch.setattr(guidance, "align_scale", lambda lst, g: 3)
    monkeypatch.setattr(guidance, "align_guidance", lambda lst, g, path, scale: (_ for _ in ()).throw(
        InputError(g, "stop here")))
    with pytest.raises(InputError, match="stop here"):
        with aligned_guidance(tmp_path / "a_lst.tif", tmp_path / "g.tif", tmp_path / "s.tif"):
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*(p.name for p in kept), folder.name])


def test_downscale_keeps_a_users_lookalike_folder_qa_repro(tmp_path: Path, capsys) -> None:
    """The QA repro: downscale --overwrite into a folder holding a user's two-day-old
    .NAME.00000000.partial.keep folder and .NAME.cafebabe.partial.txt file."""
    lst, _ = write_canonical_scene(tmp_path, "b1", bands=("red",))
    out = tmp_path / "t13"
    out.mkdir()
    folder = _user_folder(out / ".b1_lst_downscaled.tif.00000000.partial.keep")
    note = out / ".b1_lst_downscaled.tif.cafebabe.partial.txt"
    note.write_text("mine")
    killed = out / ".b1_lst_downscaled.tif.0123abcd.partial.cog"  # a killed --cog run's
    killed.write_bytes(b"half")
    _stale(folder, note, killed)
    assert run(["-q", "downscale", str(lst), "--out-dir", str(out), "--model", "bicubic", "--overwrite"]) == 0
    assert capsys.readouterr() == (f"{out / 'b1_lst_downscaled.tif'}\n", "")
    assert sorted(p.name for p in out.iterdir()) == sorted([folder.name, note.name, "b1_lst_downscaled.tif"])
    assert (folder / "important.txt").read_text() == "data" and note.read_text() == "mine"


# ---------------------------------------------------------------- output folders of a run that wrote nothing


def _refusals(tmp_path: Path) -> list[tuple[list[str], Path]]:
    """Command lines that are refused after their output's folders were made, and the top one."""
    lst, guidance = write_canonical_scene(tmp_path, "s", bands=("red",))
    damaged, _ = write_canonical_scene(tmp_path, "d", bands=("red",))
    _damage_first_block(damaged)
    header_only = tmp_path / "h_lst.tif"
    header_only.write_bytes(lst.read_bytes()[:300])
    return [
        (["guidance", str(lst), "/nonexist.tif", "--scale", "3", "-o", str(tmp_path / "n1/a/g.tif")], tmp_path / "n1"),
        (["guidance", str(header_only), str(guidance), "--scale", "3", "-o", str(tmp_path / "n2/a/g.tif")],
         tmp_path / "n2"),
        (["mask", str(damaged), str(lst), "-o", str(tmp_path / "n3/a/m.tif")], tmp_path / "n3"),
        (["prepare", str(damaged), "--guidance", str(guidance), "--out", str(tmp_path / "n4/a/ds")], tmp_path / "n4"),
        (["prepare", "--from-groklst", "/nonexist", "--out", str(tmp_path / "n5/a/ds")], tmp_path / "n5"),
    ]


def test_a_refused_run_removes_the_output_folders_it_created(tmp_path: Path, capsys) -> None:
    """QA: guidance -o n4/a/g.tif with a missing source left n4/a (mask and prepare too)."""
    for argv, top in _refusals(tmp_path):
        assert run(["-q", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err
        assert not top.exists(), argv


def test_guidance_keeps_a_folder_that_existed_and_the_one_holding_its_output(tmp_path: Path, capsys) -> None:
    lst, guidance = write_canonical_scene(tmp_path, "s", bands=("red",))
    (tmp_path / "kept").mkdir()
    assert run(["-q", "guidance", str(lst), "/nonexist.tif", "-o", str(tmp_path / "kept/a/g.tif")]) == 2
    assert [p.name for p in tmp_path.glob("kept*")] == ["kept"] and not any((tmp_path / "kept").iterdir())
    out = tmp_path / "new" / "a" / "g.tif"
    assert run(["-q", "guidance", str(lst), str(guidance), "--scale", "3", "-o", str(out)]) == 0
    assert capsys.readouterr().out.endswith(f"{out}\n")
    assert [p.name for p in out.parent.iterdir()] == ["g.tif"]


def test_guidance_stopped_by_sigterm_mid_write_removes_its_folders(tmp_path: Path) -> None:
    """QA: a SIGTERM while guidance was writing left the folders of -o it had created."""
    lst, source = write_canonical_scene(tmp_path, "s", shape=(128, 128), bands=("red",))
    top = tmp_path / "n6"
    out = top / "a" / "g.tif"
    proc = subprocess.Popen([sys.executable, "-m", "groklst_cli", "--threads", "1", "-q", "guidance", str(lst),
                             str(source), "--scale", "16", "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not list(out.parent.glob(".g.tif.*.partial")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before the signal could be sent"
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert (proc.returncode, stdout, stderr) == (
        143, "", "error: terminated (SIGTERM); unfinished outputs were removed\n")
    assert not top.exists()


# ---------------------------------------------------------------- a damaged block's reason


def test_the_reason_behind_read_failed_is_said_without_the_files_name_again() -> None:
    """QA: 'cannot be read (Read failed. See previous exception for details.)' named an
    exception nobody sees; the reasons are in its __cause__ chain."""
    fill = CPLE_AppDefinedError(3, 1, "TIFFFillTile:Read error at row 0, col 0, tile 0; got 6346 bytes, "
                                      "expected 12693")
    encoded = CPLE_AppDefinedError(3, 1, "TIFFReadEncodedTile() failed.")
    block = CPLE_AppDefinedError(3, 1, "arch2/h_guidance.tif, band 1: IReadBlock failed at X offset 0, "
                                       "Y offset 0: TIFFReadEncodedTile() failed.")
    encoded.__cause__, block.__cause__ = fill, encoded
    failed = RasterioIOError("Read failed. See previous exception for details.")
    failed.__cause__ = block
    assert read_failure("arch2/h_guidance.tif", failed) == (
        "band 1: IReadBlock failed at X offset 0, Y offset 0: TIFFReadEncodedTile() failed.; "
        "TIFFFillTile:Read error at row 0, col 0, tile 0; got 6346 bytes, expected 12693")
    assert read_failure("x.tif", RasterioIOError("x.tif: no such block")) == "x.tif: no such block"


def test_a_damaged_block_is_one_line_with_gdals_reason(tmp_path: Path) -> None:
    _, guidance = write_canonical_scene(tmp_path, "s", bands=("red",))
    _damage_first_block(guidance)
    with rasterio.open(guidance) as src, pytest.raises(InputError) as caught:
        read_stored(src, 1, Window(0, 0, 8, 8), guidance)
    message = str(caught.value)  # zlib's own words may follow the scanline
    assert message.startswith(f"{guidance}: cannot be read (band 1: IReadBlock failed at X offset 0, Y offset 0: "
                              "TIFFReadEncodedTile() failed.; ZIPDecode:Decoding error at scanline 0")
    assert message.endswith(") (hint: the file may be damaged or truncated)") and "\n" not in message


def test_downscale_says_why_a_damaged_guidance_cannot_be_read(tmp_path: Path, capsys) -> None:
    lst, guidance = write_canonical_scene(tmp_path, "s", bands=("red",))
    _damage_first_block(guidance)
    assert run(["-q", "downscale", str(lst), "--guidance", str(guidance), "--out-dir", str(tmp_path / "o"),
                "--model", "bicubic"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {guidance}: cannot be read (") and err.count("\n") == 1, err
    assert "Decoding error" in err and "See previous exception" not in err
    assert not (tmp_path / "o").exists()


def test_guidance_says_why_a_damaged_source_cannot_be_read(tmp_path: Path, capsys) -> None:
    """QA: a damaged source in `groklst guidance` ended as an internal error (exit 1) from the
    warp; it is the source's one-line refusal, exit 2, and its folder is removed."""
    lst, source = write_canonical_scene(tmp_path, "s", bands=("red",))
    _damage_first_block(source)
    out = tmp_path / "g/a/g.tif"
    assert run(["-q", "guidance", str(lst), f"red={source}", "--scale", "3", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {source}: cannot be read (") and err.count("\n") == 1, err
    assert "See previous exception" not in err and not (tmp_path / "g").exists()
