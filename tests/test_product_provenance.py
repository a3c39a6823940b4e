"""The provenance tags of an ingested LST (how it was retrieved, that it is approximate, ...) reach
the downscaled output alike whether the product folders are downscaled in one command or ingested
first and the pair downscaled; a user's own LST gives none of its tags."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from groklst_cli.app import run
from pipelines.ingest_record import GUIDANCE_PROVENANCE, LST_PROVENANCE

PROVENANCE = (*LST_PROVENANCE, *GUIDANCE_PROVENANCE)


@pytest.fixture()
def folders(tmp_path: Path, capsys) -> list[str]:
    """A small sample scene's TIS and MII product folders."""
    assert run(["-q", "sample-scene", str(tmp_path / "raw"), "--size", "12", "--seed", "2", "--products"]) == 0
    return capsys.readouterr().out.split()[2:4]


def _tags(path: Path) -> dict[str, str]:
    with rasterio.open(path) as src:
        return src.tags()


def _provenance(path: Path) -> dict[str, str]:
    return {name: value for name, value in _tags(path).items() if name in PROVENANCE}


def test_ingested_pair_and_product_folders_give_the_same_provenance(tmp_path: Path, folders, capsys) -> None:
    """QA: downscaling the ingested pair dropped every provenance tag: the output no longer said
    the LST was an approximate single-channel retrieval."""
    method = ["--lst-method", "single-channel"]
    assert run(["-q", "ingest", *folders, *method, "--out-dir", str(tmp_path / "in")]) == 0
    lst, guidance = capsys.readouterr().out.split()
    assert run(["-q", "downscale", *folders, *method, "-o", str(tmp_path / "one.tif")]) == 0
    assert run(["-q", "downscale", lst, "--guidance", guidance, "-o", str(tmp_path / "two.tif")]) == 0
    assert run(["-q", "downscale", lst, "--model", "bicubic", "-o", str(tmp_path / "bicubic.tif")]) == 0
    one = _provenance(tmp_path / "one.tif")
    assert set(one) == {"coregistration", "tis_destriping", "tis_saturation",  # B3 unread: no registration
                        "lst_method", "approximate", "mii_saturation", "dem_source"}
    assert one["approximate"] == "yes: LST retrieved without SDGSAT-1-specific coefficients"
    assert one["lst_method"].startswith("single-channel (TIS B2, no atmospheric correction)")
    assert one["dem_source"] == "constant 0 m"
    assert _provenance(tmp_path / "two.tif") == one == _provenance(tmp_path / "bicubic.tif")
    with rasterio.open(tmp_path / "one.tif") as a, rasterio.open(tmp_path / "two.tif") as b:
        np.testing.assert_array_equal(a.read(1), b.read(1))


def test_a_users_lst_gives_none_of_its_tags(tmp_path: Path, folders, capsys) -> None:
    """Only tags the ingest wrote are provenance: a user's LST and guidance tagged with the same
    names (no ``generator: groklst ingest``) give the output none of them."""
    assert run(["-q", "ingest", *folders, "--out-dir", str(tmp_path / "in"), "--name", "s"]) == 0
    capsys.readouterr()
    own = tmp_path / "own"
    own.mkdir()
    for name in ("s_lst.tif", "s_guidance.tif"):
        (own / name).write_bytes((tmp_path / "in" / name).read_bytes())
        with rasterio.open(own / name, "r+") as dst:
            dst.update_tags(generator="my retrieval", approximate="no", lst_method="mine", dem_source="mine",
                            comment="not carried")
    assert run(["-q", "downscale", str(own / "s_lst.tif"), "--model", "bicubic", "-o", str(tmp_path / "o.tif")]) == 0
    tags = _tags(tmp_path / "o.tif")
    assert _provenance(tmp_path / "o.tif") == {} and "comment" not in tags and "generator" not in tags
    assert tags["lst_source"] == str((own / "s_lst.tif").resolve())
