"""``groklst downscale`` straight from one scene's SDGSAT-1 product folders (ingested on the fly)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from groklst_cli.app import run
from pipelines.checkpoint import Checkpoint


@pytest.fixture()
def products(tmp_path: Path, capsys) -> tuple[list[str], str]:
    """A small sample scene's TIS and MII product folders and its DEM."""
    assert run(["-q", "sample-scene", str(tmp_path / "raw"), "--size", "12", "--seed", "2", "--products"]) == 0
    written = capsys.readouterr().out.split()
    return written[2:4], written[4]


def hidden_folders(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(".")] if folder.exists() else []


def test_product_folders_give_what_ingest_then_downscale_gives(tmp_path: Path, products, capsys) -> None:
    folders, dem = products
    assert run(["-q", "ingest", *folders, "--dem", dem, "--out-dir", str(tmp_path / "in")]) == 0
    lst = capsys.readouterr().out.split()[0]
    assert run(["-q", "downscale", lst, "-o", str(tmp_path / "two_steps.tif")]) == 0
    capsys.readouterr()
    out_dir = tmp_path / "out"
    assert run(["-q", "downscale", *folders, "--dem", dem, "--out-dir", str(out_dir), "--json"]) == 0
    line = json.loads(capsys.readouterr().out)
    output = out_dir / f"{Path(lst).stem}_downscaled.tif"
    assert line["status"] == "ok" and line["output"] == str(output)
    assert line["input"] == ", ".join(folders)  # never the hidden folder it was ingested into
    with rasterio.open(output) as one, rasterio.open(tmp_path / "two_steps.tif") as two:
        assert one.transform == two.transform and one.crs == two.crs
        np.testing.assert_array_equal(one.read(1), two.read(1))
        assert one.tags()["lst_source"].startswith(str(Path(folders[0]).resolve()))
        assert one.tags()["guidance_source"] == str(Path(folders[1]).resolve())
        assert one.tags()["coregistration"].startswith("aligned as delivered (R²")  # as ingest measured
        with rasterio.open(lst) as ingested, rasterio.open(Path(lst).with_name(
                Path(lst).name.replace("_lst", "_guidance"))) as guidance:
            kept = {**ingested.tags(), **guidance.tags()}
        for name in ("lst_method", "approximate", "tis_saturation", "dem_source"):  # QA T: were dropped
            assert one.tags()[name] == kept[name]
    assert hidden_folders(out_dir) == []


def test_an_error_names_the_product_folders_and_leaves_nothing(tmp_path: Path, products, capsys) -> None:
    folders, dem = products
    out = tmp_path / "out" / "scene.tif"
    # A model needing a band the MII product does not give is refused once the scene is ingested
    # (options that would be refused before it, such as --units, never get this far).
    checkpoint = Checkpoint.untrained("bicubic", 3, ["swir"]).save(tmp_path / "swir.pt")
    status = run(["-q", "downscale", *folders, "--dem", dem, "-o", str(out), "-c", str(checkpoint)])
    error = capsys.readouterr().err
    assert status == 2
    assert f"error: {', '.join(folders)}: missing guidance band(s) swir" in error and ".groklst-ingest" not in error
    assert not out.exists() and not (tmp_path / "out").exists()  # the folder it made is gone too


def test_a_product_folder_given_twice_is_named_once(tmp_path: Path, products, capsys) -> None:
    """A folder given again under another spelling is one input: the --json error line names
    the scene's folders once each, as its report would."""
    folders, dem = products
    again = str(Path(folders[0]).parent / ".." / Path(folders[0]).parent.name / Path(folders[0]).name)
    assert run(["-q", "downscale", *folders, again, "--dem", dem, "-o", dem, "--overwrite", "--json"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["input"] == ", ".join(folders)
    assert f"warning: {again}: given more than once (as {folders[0]}); downscaled once" in captured.err.splitlines()


def test_skip_existing_skips_before_ingesting(tmp_path: Path, products, capsys) -> None:
    folders, dem = products
    out = tmp_path / "scene.tif"
    with rasterio.open(out, "w", driver="GTiff", width=2, height=2, count=1, dtype="float32",
                       crs="EPSG:32647", transform=Affine(10, 0, 500000, 0, -10, 4300000)) as dst:
        dst.write(np.full((1, 2, 2), 300.0, dtype="float32"))
        dst.set_band_description(1, "lst")  # a finished scene as downscale writes it (eb21c65)
    before = out.read_bytes()
    assert run(["downscale", *folders, "--dem", dem, "-o", str(out), "--skip-existing"]) == 0
    assert "skipped" in capsys.readouterr().err
    assert out.read_bytes() == before and hidden_folders(tmp_path) == []


def test_skip_existing_refuses_an_output_that_is_no_geotiff_before_ingesting(tmp_path: Path, products,
                                                                             capsys) -> None:
    """QA: a file that is no GeoTIFF was skipped as a finished scene; it is neither that nor ours."""
    folders, dem = products
    out = tmp_path / "scene.tif"
    out.write_bytes(b"not ours")
    assert run(["downscale", *folders, "--dem", dem, "-o", str(out), "--skip-existing"]) == 2
    assert capsys.readouterr().err.strip().endswith(
        f"{out}: exists but is not a readable GeoTIFF, so it is no finished scene "
        "(hint: name another output, or move the file away yourself)"
        f" (scene {', '.join(folders)})")  # a scene's error, as for a raster scene
    assert out.read_bytes() == b"not ours" and hidden_folders(tmp_path) == []


def test_an_output_over_a_product_file_or_the_dem_is_refused_before_any_work(tmp_path: Path, products,
                                                                           capsys) -> None:
    """QA: -o onto the TIS image (or the DEM) with --overwrite replaced the user's product."""
    folders, dem = products
    tis_image = next(Path(folders[0]).glob("*.tiff"))
    calib = next(Path(folders[1]).glob("*.calib.xml"))
    for target in (tis_image, calib, Path(dem)):
        before = target.read_bytes()
        assert run(["-q", "downscale", *folders, "--dem", dem, "-o", str(target), "--overwrite"]) == 2
        assert "the output is one of the inputs" in capsys.readouterr().err
        assert target.read_bytes() == before
        assert hidden_folders(target.parent) == []


def test_without_a_dem_the_model_is_given_its_training_mean_elevation(tmp_path: Path, products, capsys) -> None:
    """QA: ingest's 0 m fill is 8 sd below the shipped model's training elevations, and its
    output was worse than bicubic (README: RMSE 5.5 K against 1.3 K with the mean)."""
    from pipelines.checkpoint import load_checkpoint
    from pipelines.infer import DEFAULT_CHECKPOINT

    folders, _ = products
    assert run(["-q", "ingest", *folders, "--out-dir", str(tmp_path / "in"), "--name", "s"]) == 0
    capsys.readouterr()
    assert run(["downscale", *folders, "-o", str(tmp_path / "products.tif")]) == 0
    assert "the dem band is a constant fill (ingested without --dem)" in capsys.readouterr().err
    mean = load_checkpoint(DEFAULT_CHECKPOINT).band_mean[0]
    edited = tmp_path / "edited"
    edited.mkdir()
    for name in ("s_lst.tif", "s_guidance.tif"):
        (edited / name).write_bytes((tmp_path / "in" / name).read_bytes())
    with rasterio.open(edited / "s_guidance.tif", "r+") as dst:
        dem = dst.read(1)
        assert np.unique(dem[np.isfinite(dem)]).tolist() == [0.0]
        dst.write(np.where(np.isfinite(dem), np.float32(mean), dem), 1)
        dst.update_tags(dem_source="a real DEM")
    assert run(["-q", "downscale", str(edited / "s_lst.tif"), "-o", str(tmp_path / "mean.tif")]) == 0
    assert "constant fill" not in capsys.readouterr().err
    with rasterio.open(tmp_path / "products.tif") as a, rasterio.open(tmp_path / "mean.tif") as b:
        np.testing.assert_array_equal(a.read(1), b.read(1))


@pytest.mark.parametrize(
    "extra, problem",
    [
        (["--guidance", "g.tif"], "the MII product is the guidance"),
        (["--align"], "the MII product is the guidance"),
        (["--dask-scheduler", "tcp://x:1"], "ingested and downscaled here"),
    ],
)
def test_options_that_do_not_apply_to_products_are_refused(tmp_path: Path, products, capsys,
                                                           extra: list[str], problem: str) -> None:
    folders, dem = products
    assert run(["-q", "downscale", *folders, "--dem", dem, "-o", str(tmp_path / "o.tif"), *extra]) == 2
    assert problem in capsys.readouterr().err
    assert hidden_folders(tmp_path) == []


def test_a_file_among_product_folders_and_a_lonely_dem_are_refused(tmp_path: Path, products, capsys) -> None:
    folders, dem = products
    assert run(["-q", "downscale", folders[0], dem, "-o", str(tmp_path / "o.tif")]) == 2
    assert "other inputs are SDGSAT-1 product folders" in capsys.readouterr().err
    assert run(["-q", "downscale", folders[0], "-o", str(tmp_path / "o.tif")]) == 2
    assert "no MII product given" in capsys.readouterr().err
    lst = Path(folders[0]).parent / "heihe_demo_lst.tif"
    assert run(["-q", "downscale", str(lst), "--dem", dem, "-o", str(tmp_path / "o.tif")]) == 2
    assert "--dem: applies to SDGSAT-1 product folders" in capsys.readouterr().err
    assert run(["-q", "downscale", str(lst), "--no-coregister", "-o", str(tmp_path / "o.tif")]) == 2
    assert "--no-coregister: applies to SDGSAT-1 product folders" in capsys.readouterr().err
    for option in (["--lst-method", "single-channel"], ["--retrieval-config", dem]):
        assert run(["-q", "downscale", str(lst), *option, "-o", str(tmp_path / "o.tif")]) == 2
        assert f"{option[0]}: applies to SDGSAT-1 product folders given as the input" in capsys.readouterr().err
        assert run(["-q", "prepare", str(lst), *option, "--out", str(tmp_path / "ds")]) == 2
        assert f"{option[0]}: applies to SDGSAT-1 product folders given as inputs" in capsys.readouterr().err
    assert not (tmp_path / "o.tif").exists() and not (tmp_path / "ds").exists()


def test_the_lst_retrieval_is_chosen_as_ingest_chooses_it(tmp_path: Path, products, capsys) -> None:
    """--lst-method and --retrieval-config reach the ingest (they had no way in: a user with
    SDGSAT-1 coefficients had to ingest first); a bad TOML is refused before the ingest."""
    folders, dem = products
    config = tmp_path / "coefficients.toml"
    config.write_text("[split_window]\nc = [1.732, 1.378, 0.183, 54.30, -2.238, -129.20, 16.40]\n")  # c0 + 2 K
    written = {}
    for name, options in (("default", []), ("config", ["--retrieval-config", str(config)]),
                          ("single", ["--lst-method", "single-channel"])):
        out = tmp_path / f"{name}.tif"
        assert run(["-q", "downscale", *folders, "--dem", dem, "--model", "bicubic", "-o", str(out), *options]) == 0
        with rasterio.open(out) as src:
            written[name] = src.read(1), src.tags()["lst_source"]
    assert written["single"][1].endswith("(LST retrieved by single channel)")
    assert written["config"][1].endswith("(LST retrieved by split window)")
    shifted = written["config"][0] - written["default"][0]
    assert np.array_equal(np.isnan(written["config"][0]), np.isnan(written["default"][0]))
    np.testing.assert_allclose(shifted[np.isfinite(shifted)], 2.0, atol=1e-3)
    assert np.nanmax(np.abs(written["single"][0] - written["default"][0])) > 0.5
    config.write_text("[split_window]\nwater = 3.0\n")
    capsys.readouterr()
    assert run(["-q", "downscale", *folders, "-o", str(tmp_path / "bad.tif"), "--retrieval-config", str(config)]) == 2
    assert "unknown key 'water' in [split_window]" in capsys.readouterr().err
    assert run(["-q", "downscale", *folders, "-o", str(tmp_path / "bad.tif"), "--lst-method", "triple"]) == 2
    assert "--lst-method: unknown method 'triple'" in capsys.readouterr().err
    assert not (tmp_path / "bad.tif").exists() and hidden_folders(tmp_path) == []


def test_misregistered_products_are_placed_unless_told_not_to(tmp_path: Path, capsys) -> None:
    """TIS off by 30 m east: moved back by default (the output on the MII grid, as without the
    offset), kept with --no-coregister (the output 30 m east)."""
    raw = tmp_path / "raw"
    assert run(["-q", "sample-scene", str(raw), "--size", "40", "--seed", "2", "--products",
                "--tis-offset", "30,0"]) == 0
    folders = capsys.readouterr().out.split()[2:4]
    outputs = {}
    for name, extra in (("placed", []), ("kept", ["--no-coregister"])):
        out = tmp_path / f"{name}.tif"
        assert run(["-q", "downscale", *folders, "-o", str(out), *extra]) == 0
        with rasterio.open(out) as src:
            outputs[name] = (src.transform, src.tags()["coregistration"])
    with rasterio.open(raw / "heihe_demo_guidance.tif") as truth:
        assert outputs["placed"][0].c == truth.transform.c and outputs["kept"][0].c == truth.transform.c + 30
    assert outputs["placed"][1].startswith("LST moved 30 m west onto the MII")
    assert outputs["kept"][1] == "not measured (--no-coregister)"
    assert "TIS and MII are misregistered" in capsys.readouterr().err


def test_a_hidden_ingest_folder_a_killed_run_left_is_removed_after_a_day(tmp_path: Path, products,
                                                                         capsys) -> None:
    folders, dem = products
    out_dir = tmp_path / "out"
    old, young, other = (out_dir / ".groklst-ingest.abcd1234", out_dir / ".groklst-ingest.efgh5678",
                         out_dir / ".groklst-ingest-mine")
    for folder in (old, young, other):
        (folder / "inner").mkdir(parents=True)
    day_ago = time.time() - 25 * 3600
    os.utime(old, (day_ago, day_ago))
    os.utime(other, (day_ago, day_ago))
    assert run(["downscale", *folders, "--dem", dem, "--out-dir", str(out_dir)]) == 0
    assert f"removed {old}, left by a run killed more than a day ago" in capsys.readouterr().err
    assert hidden_folders(out_dir) == sorted([other, young])  # a younger one may be a live run's

