"""``groklst prepare --from-groklst`` refuses the options the import does not use (they were
silently ignored: ``--scales 4`` gave a dataset of x2 and x4), and a dataset folder renamed into
place has its parent folder synced after the rename, as a single-file output has."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from groklst_cli.app import run
from pipelines.atomic import DATASET_FORMAT, OutputKind, atomic_output
from pipelines.dataset import open_prepared
from tests.test_faults_train import error_lines
from tests.test_grokmat import _write_layout

PREFIX = "does not apply to a GrokLST import (--from-groklst): "
SPLIT_OWN = "its split is the benchmark's own (split/train.txt, val.txt, test.txt)"
LR_READ = "its LR LST is read from the 60m/120m/240m .mat files, not degraded from the HR LST"
PATCHES = "each .mat file is one patch, taken whole at its own size"
INGEST_ONLY = "it says how SDGSAT-1 product folders are ingested, and the benchmark is .mat files"

# (the arguments given, the option named, what the import does instead)
IGNORED = [
    (["--scales", "4"], "--scales",
     "the dataset gets every LR scale the benchmark folder holds (60m, 120m, 240m: x2, x4, x8)"),
    (["--hr-res", "60"], "--hr-res", "its HR LST is the 30 m LST of 30m/lst, taken as it is"),
    (["--patch", "8"], "--patch", PATCHES),
    (["--stride", "4"], "--stride", PATCHES),
    (["--split", "1:0:0"], "--split", SPLIT_OWN),
    (["--seed", "3"], "--seed", SPLIT_OWN),
    (["--split-by", "scene"], "--split-by", SPLIT_OWN),
    (["--split-block", "32"], "--split-block", SPLIT_OWN),
    (["--max-nodata", "0.5"], "--max-nodata", "every patch its split lists is kept as it is"),
    (["--degrade", "area"], "--degrade", LR_READ),
    (["--aggregate", "kelvin"], "--aggregate", LR_READ),
    (["--lr-nodata", "all"], "--lr-nodata", LR_READ),
    (["--guidance-bands", "a,b"], "--guidance-bands", "its .mat files name the guidance bands "
     "(dem, deepblue, blue, green, red, vre, nir, ndmvi, ndvi, ndwi)"),
    (["--align"], "--align", "its guidance is read from the .mat files, on the HR LST's grid"),
    (["--dem", "dem.tif"], "--dem", INGEST_ONLY),
    (["--no-coregister"], "--no-coregister", INGEST_ONLY),
    (["--coregister"], "--coregister", INGEST_ONLY),
    (["--destripe"], "--destripe", INGEST_ONLY),
    (["--saturated", "nodata"], "--saturated", INGEST_ONLY),
    (["--mii-saturation-dn", "4000"], "--mii-saturation-dn", INGEST_ONLY),
    (["--lst-method", "single-channel"], "--lst-method", INGEST_ONLY),
    (["--retrieval-config", "c.toml"], "--retrieval-config", INGEST_ONLY),
    (["--units", "kelvin"], "--units", "its .mat files hold the LST in Kelvin, read as they are"),
]


@pytest.mark.parametrize(("given", "option", "instead"), IGNORED, ids=[case[1] for case in IGNORED])
def test_from_groklst_refuses_the_options_the_import_ignores(tmp_path: Path, capsys, given: list[str],
                                                              option: str, instead: str) -> None:
    """QA: each was silently ignored; now one line naming it, what the import does instead and
    a hint, exit 2, and nothing written (not even the folders --out would need)."""
    _write_layout(tmp_path / "GrokLST")
    out = tmp_path / "new" / "ds"
    assert run(["prepare", "--from-groklst", str(tmp_path / "GrokLST"), "--out", str(out), *given]) == 2
    assert error_lines(capsys) == [f"error: {option}: {PREFIX}{instead} (hint: drop {option})"]
    assert not (tmp_path / "new").exists()


def test_from_groklst_accepts_the_options_it_uses(tmp_path: Path, capsys) -> None:
    """Defaults are not refused, and --overwrite / --json still apply: the dataset has the
    benchmark's scales and split."""
    _write_layout(tmp_path / "GrokLST")
    out = tmp_path / "ds"
    assert run(["-q", "prepare", "--from-groklst", str(tmp_path / "GrokLST"), "--out", str(out)]) == 0
    assert run(["-q", "prepare", "--from-groklst", str(tmp_path / "GrokLST"), "--out", str(out),
                "--overwrite", "--json"]) == 0, capsys.readouterr().err
    ds = open_prepared(out)
    assert ds.scales == [2, 4] and ds.patch == 16
    assert ds.indices("train") == [0, 2, 4] and ds.indices("val") == [1] and ds.indices("test") == [3]


# --- the parent folder is synced after a dataset folder's rename ----------------------------

def _record_syncs(monkeypatch: pytest.MonkeyPatch, target: Path) -> list[tuple[str, bool]]:
    """Record each fsync as (the real path of what was synced, whether ``target`` existed then)."""
    opened: dict[int, str] = {}
    synced: list[tuple[str, bool]] = []
    real_open, real_fsync = os.open, os.fsync

    def fake_open(path, flags, *args, **kwargs):  # noqa: ANN001, ANN202 - os.open's signature
        fd = real_open(path, flags, *args, **kwargs)
        opened[fd] = os.path.realpath(path)
        return fd

    def fake_fsync(fd: int) -> None:
        synced.append((opened.get(fd, "?"), target.exists()))
        real_fsync(fd)

    monkeypatch.setattr(os, "open", fake_open)
    monkeypatch.setattr(os, "fsync", fake_fsync)
    return synced


def _write_dataset(target: Path, overwrite: bool = False) -> None:
    with atomic_output(target, overwrite, kind=OutputKind.dataset) as tmp:
        tmp.mkdir()
        (tmp / "info.json").write_text(json.dumps({"format": DATASET_FORMAT}))


@pytest.mark.parametrize("overwrite", [False, True])
def test_dataset_rename_is_followed_by_a_sync_of_its_parent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            overwrite: bool) -> None:
    """QA: _publish_dir renamed the folder into place and synced nothing; a crash could undo
    the rename. New, and replacing a dataset under --overwrite."""
    target = tmp_path / "ds"
    if overwrite:
        _write_dataset(target)
    synced = _record_syncs(monkeypatch, target)
    _write_dataset(target, overwrite)
    assert (os.path.realpath(tmp_path), True) in synced
    assert (target / "info.json").is_file()


@pytest.mark.parametrize("overwrite", [False, True])
def test_prepare_from_groklst_syncs_the_folder_it_renames_the_dataset_into(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overwrite: bool) -> None:
    _write_layout(tmp_path / "GrokLST")
    out = tmp_path / "out" / "ds"
    args = ["-q", "prepare", "--from-groklst", str(tmp_path / "GrokLST"), "--out", str(out)]
    if overwrite:
        assert run(args) == 0
    synced = _record_syncs(monkeypatch, out)
    assert run([*args, "--overwrite"] if overwrite else args) == 0
    assert (os.path.realpath(out.parent), True) in synced


def test_prepare_from_groklst_writes_the_dataset_through_before_its_rename(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The import renamed its dataset into place with its chunks maybe still in the page cache
    (prepare of scenes already synced them): one syncfs on the finished temporary folder, before
    the dataset's name exists."""
    import pipelines.durable as durable

    _write_layout(tmp_path / "GrokLST")
    out, real, calls = tmp_path / "ds", durable._syncfs_function(), []
    if real is None:
        pytest.skip("no syncfs(2) here")

    def syncfs(fd: int) -> int:
        folder = Path(os.readlink(f"/proc/self/fd/{fd}"))
        calls.append((folder.name, out.exists(), (folder / "info.json").is_file()))
        return real(fd)

    monkeypatch.setattr(durable, "_syncfs_function", lambda: syncfs)
    assert run(["-q", "prepare", "--from-groklst", str(tmp_path / "GrokLST"), "--out", str(out)]) == 0
    [(name, published, finished)] = calls
    assert name.startswith(".ds.") and name.endswith(".partial") and not published and finished
