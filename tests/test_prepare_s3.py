"""``groklst prepare`` / ``train`` small correctness gaps: guidance bands really described
``b1..bN``, LST-file options with ``--from-groklst``, prepare's own no-DEM wording, the dataset
path in ``fit()``'s errors and a Zarr dataset written through to the disk before its rename."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
from pathlib import Path

import pytest

import pipelines.durable as durable
from groklst_cli.app import run
from pipelines.dataset import open_prepared
from pipelines.errors import InputError
from pipelines.train import fit
from tests.conftest import PAPER_BANDS, write_canonical_scene
from tests.test_faults_train import error_lines
from tests.test_grokmat import _write_layout
from tests.test_train import config, dataset  # noqa: F401 - dataset: a fixture

SMALL = ["--scales", "2", "--patch", "8", "--stride", "8", "--split", "1:0:0"]
NUMBERED = tuple(f"b{i}" for i in range(1, len(PAPER_BANDS) + 1))


def _prepare(lst: Path, out: Path, *extra: str) -> int:
    return run(["-q", "prepare", str(lst), "--out", str(out), *SMALL, *extra])


# --- 1. bands described "b1".."b10" are named, not "no description" -------------------------

def test_guidance_bands_described_b1_to_b10_are_named(tmp_path: Path, capsys) -> None:
    """QA: the fallback names of undescribed bands were compared, so real descriptions b1..b10
    were refused as "no description"."""
    lst, _ = write_canonical_scene(tmp_path, bands=NUMBERED)
    out = tmp_path / "ds"
    assert _prepare(lst, out) == 0, capsys.readouterr().err
    assert open_prepared(out).bands == list(NUMBERED)
    assert json.loads((out / "info.json").read_text())["bands"] == list(NUMBERED)


def test_only_the_bands_without_a_description_are_refused(tmp_path: Path, capsys) -> None:
    bands = ("b1", "", *NUMBERED[2:])  # band 2 has none, band 1 is really described "b1"
    lst, guidance = write_canonical_scene(tmp_path, bands=bands)
    assert _prepare(lst, tmp_path / "ds") == 2
    assert error_lines(capsys) == [
        f"error: {guidance}: guidance band(s) ['b2'] have no description (hint: name them with "
        "--guidance-bands, or set band descriptions (groklst ingest writes them))"]
    assert not (tmp_path / "ds").exists()


def test_b_names_follow_the_same_rules_as_other_names(tmp_path: Path, capsys) -> None:
    """Two bands described "b1" are refused as any repeated name is; --guidance-bands naming
    the bands b1..b10 is taken as given (it was refused as "no description")."""
    lst, guidance = write_canonical_scene(tmp_path, bands=("b1", "b1", *NUMBERED[2:]))
    assert _prepare(lst, tmp_path / "ds") == 2
    assert error_lines(capsys) == [
        f"error: {guidance}: band name 'b1' appears twice (bands 1 and 2) (hint: give each band its own "
        "name: name them in file order with --guidance-bands, or set distinct band descriptions)"]
    assert _prepare(lst, tmp_path / "ds", "--guidance-bands", ",".join(NUMBERED)) == 0
    assert open_prepared(tmp_path / "ds").bands == list(NUMBERED)


# --- 2. --from-groklst refuses the LST-file options ---------------------------------------

@pytest.mark.parametrize("option", [["--scale-factor", "1.1"], ["--offset", "1"], ["--nodata", "0"],
                                    ["--units", "kelvin"], ["--mask-implausible"]])
def test_from_groklst_refuses_lst_file_options(tmp_path: Path, capsys, option: list[str]) -> None:
    """QA: they were silently ignored (the .mat LST was imported unscaled)."""
    _write_layout(tmp_path / "GrokLST")
    out = tmp_path / "ds"
    assert run(["prepare", "--from-groklst", str(tmp_path / "GrokLST"), "--out", str(out), *option]) == 2
    assert error_lines(capsys) == [
        f"error: {option[0]}: does not apply to a GrokLST import (--from-groklst): its .mat files hold the "
        f"LST in Kelvin, read as they are (hint: drop {option[0]})"]
    assert not out.exists()
    assert run(["-q", "prepare", "--from-groklst", str(tmp_path / "GrokLST"), "--out", str(out)]) == 0


# --- 3. prepare's own no-DEM warning ------------------------------------------------------

def test_prepare_from_products_without_dem_says_what_the_training_data_gets(tmp_path: Path, capsys) -> None:
    """QA: it said "downscale gives a model its training mean elevation there instead"."""
    from pipelines.fixtures import write_product_fixture
    from pipelines.sample_scene import generate_scene

    tis, mii = write_product_fixture(generate_scene((24, 24), seed=3), tmp_path / "products")
    out = tmp_path / "ds"
    assert run(["prepare", str(tis), str(mii), "--out", str(out), *SMALL, "--max-nodata", "1"]) == 0
    said = ("no --dem given: the dem band is filled with the constant 0 m (the training data's dem band is "
            "0 m everywhere, so a model trained on it learns nothing from elevation: pass --dem DEM.tif)")
    err = capsys.readouterr().err
    assert f"warning: {said}\n" in err and "downscale gives" not in err
    [scene] = json.loads((out / "info.json").read_text())["scenes"].values()
    assert [w for w in scene["ingest"]["warnings"] if w.startswith("no --dem")] == [said]


# --- 4. fit() names the dataset's path ----------------------------------------------------

def test_fit_from_python_names_the_dataset_path(dataset: Path, tmp_path: Path) -> None:  # noqa: F811
    """QA: the CLI named the path, fit() on the same dataset said "dataset: ..."."""
    spoiled = Path(shutil.copytree(dataset, tmp_path / "ds-spoiled"))
    (spoiled / "splits" / "train.txt").write_text("")
    with pytest.raises(InputError) as caught:
        fit(open_prepared(spoiled), config())
    assert str(caught.value) == f"{spoiled}: the train split is empty (hint: prepare more scenes or change --split)"


# --- 5. the Zarr dataset is on the disk before its rename ---------------------------------

def _fd_path(fd: int) -> Path:
    return Path(os.readlink(f"/proc/self/fd/{fd}"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names an fd through /proc")
def test_dataset_is_synced_before_the_rename(canonical_scene, tmp_path: Path, monkeypatch) -> None:
    """One syncfs on the finished temporary folder, before the dataset's name exists."""
    out, real, calls = tmp_path / "ds", durable._syncfs_function(), []
    assert real is not None  # Linux

    def syncfs(fd: int) -> int:
        folder = _fd_path(fd)
        calls.append((folder.name, out.exists(), (folder / "info.json").is_file()))
        return real(fd)

    monkeypatch.setattr(durable, "_syncfs_function", lambda: syncfs)
    assert _prepare(canonical_scene[0], out) == 0
    [(name, published, finished)] = calls
    assert name.startswith(".ds.") and name.endswith(".partial") and not published and finished


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names an fd through /proc")
def test_without_syncfs_every_file_and_folder_is_fsynced(canonical_scene, tmp_path: Path, monkeypatch) -> None:
    out, synced = tmp_path / "ds", []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append((_fd_path(fd), out.exists()))
        real_fsync(fd)

    monkeypatch.setattr(durable, "_syncfs_function", lambda: None)
    monkeypatch.setattr(os, "fsync", fsync)
    assert _prepare(canonical_scene[0], out) == 0
    assert (tmp_path, True) in synced  # the parent folder, after the rename (atomic._publish_dir)
    synced = [(p, published) for p, published in synced if p != tmp_path]
    assert not any(published for _, published in synced)
    [tmp] = {p.relative_to(tmp_path).parts[0] for p, _ in synced}
    seen = {p.relative_to(tmp_path / tmp) for p, _ in synced}
    written = {p.relative_to(out) for p in out.rglob("*")} | {Path(".")}
    assert seen == written and len(written) > 10


def test_a_failed_sync_publishes_nothing(canonical_scene, tmp_path: Path, monkeypatch, capsys) -> None:
    def failing(fd: int) -> int:
        ctypes.set_errno(errno.EIO)
        return -1

    monkeypatch.setattr(durable, "_syncfs_function", lambda: failing)
    out = tmp_path / "ds"
    assert run(["prepare", str(canonical_scene[0]), "--out", str(out), *SMALL]) == 2
    assert error_lines(capsys) == [
        f"error: {out}: writing failed (Input/output error) (hint: check the disk, then run again)"]
    assert not out.exists() and not list(tmp_path.glob(".ds.*"))
