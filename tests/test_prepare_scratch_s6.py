"""prepare makes its ingest scratch folder beside the dataset only for SDGSAT-1 product folders: from
LST files an empty ``.groklst-ingest.XXXXXXXX`` was made on every run, and a ``kill -9`` left it
behind with nothing saying what it was (QA)."""

from __future__ import annotations

from pathlib import Path

import pytest

import pipelines.prepare
from groklst_cli.app import run


def _seen_beside(monkeypatch: pytest.MonkeyPatch, folder: Path) -> list[list[str]]:
    """What ``folder`` holds while prepare writes (recorded by a wrapped ``prepare``)."""
    seen: list[list[str]] = []
    real = pipelines.prepare.prepare

    def recording(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - prepare's own signature
        seen.append(sorted(p.name for p in folder.iterdir() if p.name.startswith(".groklst-ingest.")))
        return real(*args, **kwargs)

    monkeypatch.setattr(pipelines.prepare, "prepare", recording)
    return seen


def test_no_ingest_folder_is_made_for_lst_files(tmp_path: Path, monkeypatch) -> None:
    assert run(["-q", "sample-scene", str(tmp_path / "s"), "--size", "60"]) == 0
    seen = _seen_beside(monkeypatch, tmp_path)
    assert run(["-q", "prepare", str(tmp_path / "s" / "heihe_demo_lst.tif"), "-o", str(tmp_path / "ds"),
                "--scales", "3", "--patch", "24", "--stride", "12", "--split", "1:0:0"]) == 0
    assert seen == [[]]


def test_product_folders_are_still_ingested_in_one(tmp_path: Path, monkeypatch) -> None:
    assert run(["-q", "sample-scene", str(tmp_path / "p"), "--size", "60", "--products"]) == 0
    seen = _seen_beside(monkeypatch, tmp_path)
    products = sorted(str(p) for p in (tmp_path / "p").iterdir() if p.is_dir())
    assert run(["-q", "prepare", *products, "--dem", str(tmp_path / "p" / "heihe_demo_dem.tif"),
                "-o", str(tmp_path / "ds"), "--scales", "3", "--patch", "24", "--stride", "12",
                "--split", "1:0:0"]) == 0
    assert len(seen) == 1 and len(seen[0]) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".groklst-ingest.")]  # removed after
