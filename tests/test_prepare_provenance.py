"""``groklst prepare`` records in info.json what the ingest did to each scene it ingested from
SDGSAT-1 product folders: the tags of the ingested pair and the ingest's warnings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from groklst_cli.app import run
from pipelines.geotiff import write_raster
from pipelines.ingest import DEFAULT_DEM_M, DEM_FILL_LATER
from pipelines.prepare import dem_fill_note
from tests.conftest import write_canonical_scene

SMALL = ["--scales", "2", "--patch", "8", "--stride", "8", "--split", "1:0:0", "--max-nodata", "1"]
SATURATION_DN = 1750  # the fixture scene's B5 (red) clips here on about a sixth of its pixels
SCENE = "KX10_20220815_E100.45_N38.93_202200112233_L4A"  # the fixture's scene name (its MII folder's)


@pytest.fixture(scope="module")
def sample():
    from pipelines.sample_scene import generate_scene

    return generate_scene((24, 24), seed=3)


def _products(sample, folder: Path, **settings) -> tuple[Path, Path]:
    from pipelines.fixtures import FixtureSettings, write_product_fixture

    return write_product_fixture(sample, folder, FixtureSettings(**settings))


def _prepared(inputs: list[Path], out: Path, *options: str) -> dict:
    """info.json of ``groklst prepare INPUTS --out OUT``."""
    assert run(["-q", "prepare", *map(str, inputs), "--out", str(out), *SMALL, *options]) == 0
    return json.loads((out / "info.json").read_text())


def _ingested(folders: list[Path], out_dir: Path, capsys, *options: str) -> tuple[dict[str, str], list[str]]:
    """What ``groklst ingest --json`` writes on its pair (their tags) and reports (its warnings)."""
    capsys.readouterr()
    assert run(["-q", "ingest", *map(str, folders), "--out-dir", str(out_dir), "--json", *options]) == 0
    reported = json.loads(capsys.readouterr().out)
    tags: dict[str, str] = {}
    for key in ("guidance", "lst"):
        with rasterio.open(reported[key]) as src:
            tags.update(src.tags())
    tags.pop("AREA_OR_POINT")
    return tags, reported["warnings"]


def _dem_over(mii: Path, path: Path) -> Path:
    """A flat 1500 m DEM on the grid of the MII product's first camera."""
    with rasterio.open(next(mii.glob("*.tif"))) as src:
        return write_raster(path, np.full((src.height, src.width), 1500.0), crs=src.crs,
                            transform=src.transform, descriptions=["dem"], units="m")


def test_band_registration_and_saturation_are_recorded_as_the_ingest_says_them(sample, tmp_path, capsys):
    """TIS B3 off by 30 m and MII B5 clipped: info.json holds the same tags and warnings that
    `groklst ingest --json` gives for the same folders."""
    folders = list(_products(sample, tmp_path / "products", tis_band_offset_m=(30.0, 0.0),
                             mii_saturation_dn=SATURATION_DN))
    record = _prepared(folders, tmp_path / "ds")["scenes"][SCENE]["ingest"]
    tags, warned = _ingested(folders, tmp_path / "ingested", capsys)
    # prepare words the no-DEM warning for training data; everything else is the ingest's, word for word
    prepared_warnings = [w.replace(DEM_FILL_LATER, dem_fill_note(DEFAULT_DEM_M)) for w in warned]
    assert record == {"products": [str(f.resolve()) for f in folders], "tags": tags, "warnings": prepared_warnings}
    assert tags["tis_band_registration"] == "TIS B3 moved 30.0 m west onto B2 (1 crop)"
    assert tags["mii_saturation"].startswith("B5 red ") and tags["mii_saturation"].endswith(
        f"(camera A from DN {SATURATION_DN}, camera B from DN {SATURATION_DN}); kept as delivered")
    assert tags["dem_source"] == "constant 0 m" and tags["tis_destriping"] == "not measured (--destripe not given)"
    assert tags["lst_method"].startswith("split-window ") and tags["coregistration"].startswith("aligned as delivered")
    assert [w.split(":")[0] for w in warned] == ["TIS bands are misregistered", "no --dem given",
                                                 "MII bands saturated (share of the guidance pixels)"]


def test_the_ingest_options_outcomes_are_recorded(sample, tmp_path, capsys):
    """--saturated nodata, --no-coregister, --destripe and --dem: each outcome is in the record."""
    folders = list(_products(sample, tmp_path / "products", mii_saturation_dn=SATURATION_DN))
    options = ["--saturated", "nodata", "--no-coregister", "--destripe",
               "--dem", str(_dem_over(folders[1], tmp_path / "dem.tif"))]
    record = _prepared(folders, tmp_path / "ds", *options)["scenes"][SCENE]["ingest"]
    tags, warned = _ingested(folders, tmp_path / "ingested", capsys, *options)
    assert record["tags"] == tags and record["warnings"] == warned
    assert tags["mii_saturation"].endswith("; made nodata")
    assert tags["dem_source"] == str((tmp_path / "dem.tif").resolve())  # absolute, as every source tag
    assert tags["coregistration"] == tags["tis_band_registration"] == "not measured (--no-coregister)"
    assert tags["tis_destriping"] != "not measured (--destripe not given)"
    assert not any("--dem" in w for w in warned)


def test_the_ingest_options_are_in_the_settings(sample, tmp_path):
    """QA: info.json's settings held every option of the run but those of the ingest, so a
    dataset did not say how its product scenes were made. Null when no product folder was given."""
    folders = list(_products(sample, tmp_path / "products", mii_saturation_dn=SATURATION_DN))
    dem = _dem_over(folders[1], tmp_path / "dem.tif")
    config = tmp_path / "sdgsat.toml"
    config.write_text("[split_window]\nwater_vapour = 2.5\n[emissivity]\nsoil = [0.95, 0.96]\n")
    options = ["--saturated", "nodata", "--no-coregister", "--destripe", "--dem", str(dem),
               "--mii-saturation-dn", f"B4={SATURATION_DN},B5={SATURATION_DN - 50}", "--retrieval-config", str(config)]
    summary = _prepared(folders, tmp_path / "ds", *options)
    assert summary["settings"]["ingest"] == {
        "dem": str(dem.resolve()), "coregister": False, "destripe": True, "saturated": "nodata",
        "mii_saturation_dn": f"B4={SATURATION_DN},B5={SATURATION_DN - 50}", "lst_method": "split-window",
        "retrieval_config": str(config.resolve())}
    [record] = summary["scenes"].values()
    assert "water_vapour=2.5 g/cm2" in record["ingest"]["tags"]["lst_method"]  # the coefficients were used
    assert record["ingest"]["tags"]["lst_method"].endswith(  # and the emissivities (QA T)
        "NDVI-threshold emissivity (soil [0.95, 0.96], vegetation [0.987, 0.989], water [0.991, 0.986], "
        "NDVI 0.2..0.5, NDWI water > 0, cavity F 0.55)")
    assert _prepared(folders, tmp_path / "defaults")["settings"]["ingest"] == {
        "dem": None, "coregister": True, "destripe": False, "saturated": "keep", "mii_saturation_dn": None,
        "lst_method": "split-window", "retrieval_config": None}
    pair, _ = write_canonical_scene(tmp_path, "pair")
    assert _prepared([pair], tmp_path / "pair_only")["settings"]["ingest"] is None


def test_each_scene_keeps_its_own_record_and_a_ready_pair_has_none(sample, tmp_path, capsys):
    """Two product scenes and a GeoTIFF pair: each product scene's warnings are its own (not
    prefixed by its folders, as on stderr and in the --json line), and the pair, not ingested
    by prepare, has null."""
    first = tmp_path / "first"
    _products(sample, first)
    second = tmp_path / "second"
    _products(sample, second, scene_id="202200445566", tis_band_offset_m=(30.0, 0.0))
    pair, _ = write_canonical_scene(tmp_path, "pair")
    capsys.readouterr()
    scenes = _prepared([first, second, pair], tmp_path / "ds", "--json")["scenes"]
    said = capsys.readouterr()
    misregistered = f"{second}: TIS bands are misregistered: TIS B3 moved 30.0 m west onto B2 (1 crop); " \
                    "--no-coregister keeps the delivered bands"
    assert f"warning: {misregistered}" in said.err
    warned = json.loads(said.out)["warnings"]
    assert misregistered in warned and sum(w.startswith(f"{first}: no --dem given") for w in warned) == 1
    assert scenes["pair"]["ingest"] is None
    one, two = scenes[SCENE]["ingest"], scenes[SCENE.replace("202200112233", "202200445566")]["ingest"]
    assert one["products"] == [str(first.resolve())] and two["products"] == [str(second.resolve())]
    assert one["tags"]["tis_band_registration"].startswith("TIS B3 aligned with B2 as delivered")
    assert two["tags"]["tis_band_registration"] == "TIS B3 moved 30.0 m west onto B2 (1 crop)"
    assert not any("misregistered" in w for w in one["warnings"])
    assert two["warnings"][0].startswith("TIS bands are misregistered: TIS B3 moved 30.0 m west")
    capsys.readouterr()  # --info gives the records too: as JSON, and a line per ingested scene
    assert run(["prepare", "--info", str(tmp_path / "ds"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ingests"] == {name: scenes[name]["ingest"] for name in scenes}
    assert run(["prepare", "--info", str(tmp_path / "ds")]) == 0
    shown = [line for line in capsys.readouterr().out.splitlines() if "ingested from product folders" in line]
    assert len(shown) == 2 and sum("TIS B3 moved 30.0 m west onto B2 (1 crop)" in line for line in shown) == 1


def test_info_reads_a_dataset_written_before_the_record(tmp_path, capsys):
    """An info.json without the scenes' ``ingest`` nor the settings' (older datasets) still reads."""
    lst_path, _ = write_canonical_scene(tmp_path, "old")
    info = _prepared([lst_path], tmp_path / "ds")
    assert info["scenes"]["old"]["ingest"] is None and info["settings"]["ingest"] is None
    del info["scenes"]["old"]["ingest"], info["settings"]["ingest"]
    (tmp_path / "ds" / "info.json").write_text(json.dumps(info))
    capsys.readouterr()
    assert run(["prepare", "--info", str(tmp_path / "ds"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["scenes"] == {"old": {"train": 16, "val": 0, "test": 0}} and summary["ingests"] == {}
    assert summary["settings"] == info["settings"]
    assert run(["prepare", "--info", str(tmp_path / "ds")]) == 0
    assert [line.split() for line in capsys.readouterr().out.splitlines() if " train " in line] == [
        ["│", "train", "│", "16", "│", "16", "x", "4x4", "│"]]
