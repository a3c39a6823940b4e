"""``downscale`` on SDGSAT-1 product folders: a scene's error is its scene line, --skip-existing
skips an output another run wrote meanwhile, outputs are named by the product's identity, and
``seconds`` counts the ingest (QA findings DJ 1-4)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from groklst_cli.app import run

SCENE = "KX10_20220815_E100.45_N38.93_202200112235_L4A"
SCENE_KEYS = ["input", "output", "status", "seconds", "megapixels", "error", "grid", "units", "tiles",
              "tiles_skipped", "valid_fraction", "hole_margin", "warnings"]


@pytest.fixture()
def folders(tmp_path: Path, capsys) -> list[str]:
    """A small sample scene's TIS and MII product folders, as delivered."""
    assert run(["-q", "sample-scene", str(tmp_path / "raw"), "--size", "12", "--seed", "2", "--products"]) == 0
    return capsys.readouterr().out.split()[2:4]


def downscale(folders: list[str], out_dir: Path, *extra: str) -> int:
    return run(["-q", "downscale", *folders, "--out-dir", str(out_dir), "--model", "bicubic", "--json", *extra])


def test_an_existing_output_is_the_scene_error_line(tmp_path: Path, folders, capsys) -> None:
    out = tmp_path / "out" / f"{SCENE}_lst_downscaled.tif"
    assert downscale(folders, tmp_path / "out") == 0
    capsys.readouterr()
    assert downscale(folders, tmp_path / "out") == 2
    line = json.loads(capsys.readouterr().out)
    assert list(line) == SCENE_KEYS
    assert line["input"] == ", ".join(folders) and line["output"] == str(out) and line["status"] == "error"
    assert line["error"] == f"{out}: output already exists (hint: pass --overwrite to replace it)"


def test_an_output_that_is_no_geotiff_is_the_scene_error_line(tmp_path: Path, folders, capsys) -> None:
    out = tmp_path / "out" / f"{SCENE}_lst_downscaled.tif"
    out.parent.mkdir()
    out.write_bytes(b"")
    assert downscale(folders, tmp_path / "out", "--skip-existing") == 2
    captured = capsys.readouterr()
    line = json.loads(captured.out)
    assert list(line) == SCENE_KEYS and line["output"] == str(out) and line["status"] == "error"
    assert line["error"].startswith(f"{out}: exists but is not a readable GeoTIFF")
    assert captured.err.strip().endswith(f"(scene {', '.join(folders)})")
    assert out.read_bytes() == b""


def test_an_output_written_by_another_run_after_the_first_look_is_skipped(tmp_path: Path, folders, capsys,
                                                                          monkeypatch) -> None:
    """The other run writes the output between --skip-existing's look and the check that it may
    be written (before the ingest): skipped, as the README promises, not 'output already exists'."""
    import pipelines.scenes

    out_dir = tmp_path / "out"
    assert downscale(folders, out_dir) == 0
    written = out_dir / f"{SCENE}_lst_downscaled.tif"
    other = tmp_path / "other.tif"
    shutil.move(written, other)
    capsys.readouterr()
    looks = iter([False])
    real = pipelines.scenes.finished_output

    def first_look_misses(path: Path) -> bool:
        if next(looks, True):
            return real(path)
        shutil.copy(other, written)  # the other run finishes right after this run looked
        return False

    monkeypatch.setattr(pipelines.scenes, "finished_output", first_look_misses)
    assert downscale(folders, out_dir, "--skip-existing") == 0
    line = json.loads(capsys.readouterr().out)
    assert line["status"] == "skipped" and line["error"] is None and line["output"] == str(written)
    assert written.read_bytes() == other.read_bytes()


def test_an_output_written_during_the_ingest_is_skipped(tmp_path: Path, folders, capsys, monkeypatch) -> None:
    import pipelines.ingest

    out_dir = tmp_path / "out"
    assert downscale(folders, out_dir) == 0
    written = out_dir / f"{SCENE}_lst_downscaled.tif"
    before = written.read_bytes()
    written.unlink()
    capsys.readouterr()
    real = pipelines.ingest.ingest_product

    def ingest_while_another_run_writes(*args, **kwargs):
        written.write_bytes(before)
        return real(*args, **kwargs)

    monkeypatch.setattr(pipelines.ingest, "ingest_product", ingest_while_another_run_writes)
    assert downscale(folders, out_dir, "--skip-existing") == 0
    assert json.loads(capsys.readouterr().out)["status"] == "skipped"
    assert written.read_bytes() == before
    for extra, status, code in ((["--skip-existing"], "skipped", 0), ([], "error", 2)):  # review R3: --fit too
        written.unlink()
        assert run(["-q", "downscale", *folders, "--out-dir", str(out_dir), "--fit", "--json", *extra]) == code
        line = json.loads(capsys.readouterr().out)
        assert list(line) == SCENE_KEYS and line["input"] == ", ".join(folders)
        assert line["status"] == status and line["output"] == str(written) and line["seconds"] > 0
        assert written.read_bytes() == before


def test_renamed_or_linked_folders_keep_the_products_name(tmp_path: Path, folders, capsys) -> None:
    """An archive laid out as scene/{tis,mii}: each scene is named after its product, not 'mii'."""
    copied, linked = tmp_path / "copied", tmp_path / "linked"
    copied.mkdir()
    linked.mkdir()
    for folder, short in zip(folders, ("tis", "mii")):
        shutil.copytree(folder, copied / short)
        (linked / short).symlink_to(Path(folder).resolve())
    for scene in (copied, linked):
        assert downscale([str(scene / "tis"), str(scene / "mii")], tmp_path / scene.name) == 0
        assert json.loads(capsys.readouterr().out)["output"] == str(
            tmp_path / scene.name / f"{SCENE}_lst_downscaled.tif")


def test_a_folder_and_images_without_the_product_name_are_refused(tmp_path: Path, folders, capsys) -> None:
    mii = tmp_path / "scene" / "mii"
    shutil.copytree(folders[1], mii)
    for path in mii.iterdir():
        path.rename(mii / path.name.replace(f"KX10_MII_{SCENE[5:]}", "m"))
    assert downscale([folders[0], str(mii)], tmp_path / "out") == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {mii}: names no scene: neither it nor its MII images have a delivered product name "
        "(KX10_MII_<date>_..._L4A) to name the outputs after (hint: give the folder its delivered name, "
        "or name the output with -o OUTPUT.tif)")
    assert run(["-q", "ingest", folders[0], str(mii), "--out-dir", str(tmp_path / "in")]) == 2
    assert capsys.readouterr().err.strip().endswith("or name the scene with groklst ingest --name NAME)")
    assert run(["-q", "ingest", folders[0], str(mii), "--out-dir", str(tmp_path / "in"), "--name", "s"]) == 0
    assert (tmp_path / "in" / "s_lst.tif").is_file()
    out = tmp_path / "named.tif"  # review R3: -o names the output, the folder's name does not matter
    assert run(["-q", "downscale", folders[0], str(mii), "-o", str(out), "--model", "bicubic"]) == 0
    assert out.is_file()


def test_a_delivered_name_linking_to_a_store_folder_names_the_scene(tmp_path: Path, folders, capsys) -> None:
    """Review R3: a link with the delivered name to a folder named otherwise, images renamed too."""
    store = tmp_path / "store" / "abc123"
    shutil.copytree(folders[1], store)
    for path in store.iterdir():
        path.rename(store / path.name.replace(f"KX10_MII_{SCENE[5:]}", "m"))
    link = tmp_path / "s2" / Path(folders[1]).name
    link.parent.mkdir()
    link.symlink_to(store)
    assert downscale([folders[0], str(link)], tmp_path / "out") == 0
    assert json.loads(capsys.readouterr().out)["output"] == str(tmp_path / "out" / f"{SCENE}_lst_downscaled.tif")


def test_seconds_count_the_ingest(tmp_path: Path, folders, capsys, monkeypatch) -> None:
    import pipelines.ingest

    real = pipelines.ingest.ingest_product

    def slow_ingest(*args, **kwargs):
        time.sleep(1.0)
        return real(*args, **kwargs)

    monkeypatch.setattr(pipelines.ingest, "ingest_product", slow_ingest)
    assert downscale(folders, tmp_path / "out") == 0
    assert json.loads(capsys.readouterr().out)["seconds"] >= 1.0


def test_a_ground_station_variant_is_named_by_its_own_folder_pattern(tmp_path: Path, folders) -> None:
    """A library caller's PATTERNS for another delivery layout names scenes by that layout, not
    by the KX10 default (which would refuse its folders)."""
    from dataclasses import replace

    from pipelines import sdgsat
    from pipelines.ingest import default_name

    station = tmp_path / "STATION_MII_20220815_0042"
    shutil.copytree(next(f for f in folders if "_MII_" in f), station)
    for camera in station.glob("*_[AB].tif"):  # the station names its images after its folders
        camera.rename(station / f"{station.name}{camera.name[-6:]}")
    mii = sdgsat.read_product(station)  # identified by its meta.xml
    with pytest.raises(Exception, match="names no scene"):
        default_name(mii)
    mine = replace(sdgsat.PATTERNS, folder=r"^STATION_(?P<sensor>TIS|MII)_(?P<date>\d{8})_\d+$")
    assert default_name(mii, mine) == "STATION_20220815_0042"
