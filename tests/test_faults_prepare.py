"""The bad-input and fault matrix of `groklst prepare`: no implausible LST becomes training data.

Every LST prepare reads obeys the rule downscale reads with (pipelines/lst_values.py). Each
refusal asserts the exit status, the one line that explains it, that no dataset (nor a hidden
temporary) is left under the output name, and that an existing dataset is byte-identical.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from groklst_cli.app import run
from groklst_cli.commands.prepare import celsius_warning
from pipelines.dataset import open_prepared
from tests.conftest import corrupt_first_strip
from tests.test_faults_downscale import snapshot, write_lst
from tests.test_downscale import X0, Y0, make_scene

SMALL = ["--scales", "2", "--patch", "8", "--stride", "8", "--split", "1:0:0"]
LANDSAT = ["--scale-factor", "0.00341802", "--offset", "149.0"]


def prepare(out: Path, *inputs: Path | str) -> int:
    return run(["-q", "prepare", *map(str, inputs), "--out", str(out), *SMALL])


def error_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]


def assert_refused(capsys, out: Path, *fragments: str) -> str:
    lines = error_lines(capsys)
    assert len(lines) == 1, lines
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert not out.exists() and not list(out.parent.glob(f".{out.name}*"))
    return lines[0]


def scene_with_lst(folder: Path, values: np.ndarray, name: str = "scene", **profile) -> Path:
    """A scene of make_scene's guidance whose LST file stores ``values`` as users' files do."""
    make_scene(folder, name, rows=values.shape[0], cols=values.shape[1])
    return write_lst(folder / f"{name}_lst.tif", values, **profile)


def kelvin_field(shape: tuple[int, int] = (40, 50), seed: int = 1) -> np.ndarray:
    return 290 + 10 * np.random.default_rng(seed).random(shape)


def hr_values(out: Path) -> np.ndarray:
    ds = open_prepared(out)
    return np.stack([ds.read(i, 2)[2] for i in range(len(ds))])


# ----------------------------------------------------------------------- the LST decoding


def test_unscaled_digital_numbers_are_refused_and_the_factors_fix_them(tmp_path: Path, capsys) -> None:
    kelvin = kelvin_field()
    dn = np.round((kelvin - 149.0) / 0.00341802)
    lst = scene_with_lst(tmp_path, dn, dtype="uint16", nodata=0)
    out = tmp_path / "ds"
    assert prepare(out, lst) == 2
    assert_refused(capsys, out, str(lst), "unscaled digital numbers",
                   "pass --scale-factor 0.00341802 --offset 149.0")
    assert prepare(out, lst, *LANDSAT) == 0
    hr = hr_values(out)
    assert 289.9 < np.nanmin(hr) and np.nanmax(hr) < 300.1
    ds = open_prepared(out)
    first = ds.georef(0)[1]  # patch 0 is the scene's top-left 8 x 8 pixels
    assert (first.c, first.f) == (X0, Y0)
    np.testing.assert_allclose(ds.read(0, 2)[2], dn[:8, :8] * 0.00341802 + 149.0, atol=1e-3)


def test_the_files_own_scale_metadata_is_used(tmp_path: Path) -> None:
    kelvin = kelvin_field()
    dn = np.round((kelvin - 149.0) / 0.00341802)
    lst = scene_with_lst(tmp_path, dn, dtype="uint16", nodata=0)
    with rasterio.open(lst, "r+") as dst:
        dst.scales, dst.offsets = (0.00341802,), (149.0,)
    assert prepare(tmp_path / "ds", lst) == 0
    np.testing.assert_allclose(open_prepared(tmp_path / "ds").read(0, 2)[2],
                               dn[:8, :8] * 0.00341802 + 149.0, atol=1e-3)


def test_undeclared_fill_is_named_and_declaring_it_drops_those_patches(tmp_path: Path, capsys) -> None:
    values = kelvin_field()
    values[:8, :16] = -9999.0  # the first two patches
    lst = scene_with_lst(tmp_path, values)
    out = tmp_path / "ds"
    assert prepare(out, lst) == 2
    assert_refused(capsys, out, "looks like a fill value: pass --nodata -9999")
    assert prepare(out, lst, "--nodata", "-9999") == 0
    info = json.loads((out / "info.json").read_text())
    assert info["scenes"]["scene"]["dropped_nodata"] >= 2
    hr = hr_values(out)
    assert np.nanmin(hr) >= 290.0 and np.nanmax(hr) <= 300.0
    assert info["settings"]["decoding"]["nodata"] == [-9999.0]


def test_a_damaged_file_is_refused(tmp_path: Path, capsys) -> None:
    lst = scene_with_lst(tmp_path, kelvin_field())
    corrupt_first_strip(lst)
    out = tmp_path / "ds"
    assert prepare(out, lst) == 2
    assert_refused(capsys, out, str(lst), "are not all plausible land-surface temperatures")


def test_kelvin_declared_as_celsius_is_refused(tmp_path: Path, capsys) -> None:
    lst = scene_with_lst(tmp_path, kelvin_field())
    out = tmp_path / "ds"
    assert prepare(out, lst, "--units", "celsius") == 2
    assert_refused(capsys, out, "degC", "they look like Kelvin: pass --units kelvin")


def test_celsius_found_in_many_dates_is_one_warning_naming_the_first(tmp_path: Path, capsys) -> None:
    paths = [scene_with_lst(tmp_path, kelvin_field(seed=i) - 273.15, name=f"d{i}[red]") for i in range(3)]
    out = tmp_path / "ds"
    capsys.readouterr()
    assert run(["prepare", *map(str, paths), "--out", str(out), *SMALL]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "Celsius" in line]
    assert lines == [f"warning: all 3 scenes ({paths[0]} and 2 more): LST looks like degrees Celsius; "
                     "converted to Kelvin (--units celsius says so and silences this)"]
    assert 289.9 < np.nanmin(hr_values(out)) and np.nanmax(hr_values(out)) < 300.1


def test_celsius_warning_says_which_of_the_scenes() -> None:
    scenes = [{"lst": "a.tif", "lst_units": "kelvin"}, {"lst": "b.tif", "lst_units": "celsius"},
              {"lst": "c.tif", "lst_units": "celsius"}]
    assert celsius_warning(scenes).startswith("2 of 3 scenes (b.tif and 1 more): LST looks like")
    assert celsius_warning(scenes[1:2]).startswith("b.tif: LST looks like degrees Celsius")
    assert celsius_warning(scenes[:1]) is None


def test_declared_celsius_is_converted_without_a_warning(tmp_path: Path, capsys) -> None:
    lst = scene_with_lst(tmp_path, kelvin_field() - 273.15)
    out = tmp_path / "ds"
    capsys.readouterr()
    assert prepare(out, lst, "--units", "celsius") == 0
    assert "looks like degrees Celsius" not in capsys.readouterr().err
    hr = hr_values(out)
    assert 289.9 < np.nanmin(hr) and np.nanmax(hr) < 300.1
    assert json.loads((out / "info.json").read_text())["scenes"]["scene"]["lst_units"] == "celsius"


def test_mask_implausible_drops_the_patches_with_outliers(tmp_path: Path, capsys) -> None:
    values = kelvin_field()
    values[3, 3] = 1e6
    lst = scene_with_lst(tmp_path, values)
    out = tmp_path / "ds"
    assert prepare(out, lst) == 2
    assert_refused(capsys, out, "not all plausible")
    assert prepare(out, lst, "--mask-implausible") == 0
    ds = open_prepared(out)
    assert all((ds.georef(i)[1].c, ds.georef(i)[1].f) != (X0, Y0) for i in range(len(ds)))
    assert np.nanmax(hr_values(out)) <= 300.0


def test_a_refusal_leaves_an_existing_dataset_byte_identical(tmp_path: Path, capsys) -> None:
    good = scene_with_lst(tmp_path, kelvin_field(), name="good")
    bad = scene_with_lst(tmp_path, np.round((kelvin_field() - 149.0) / 0.00341802), name="bad",
                         dtype="uint16", nodata=0)
    out = tmp_path / "ds"
    assert prepare(out, good) == 0
    before = snapshot(out)
    assert run(["-q", "prepare", str(good), str(bad), "--out", str(out), *SMALL, "--overwrite"]) == 2
    assert "unscaled digital numbers" in error_lines(capsys)[0]
    assert snapshot(out) == before


def test_a_scene_without_valid_lst_is_left_out_with_a_warning(tmp_path: Path, capsys) -> None:
    good = scene_with_lst(tmp_path, kelvin_field(), name="good")
    empty = scene_with_lst(tmp_path, np.full((40, 50), -9999.0), name="empty", nodata=-9999.0)
    out = tmp_path / "ds"
    assert prepare(out, empty) == 2
    assert_refused(capsys, out, str(empty), "the LST has no valid pixel")
    assert prepare(out, good, empty) == 0
    assert f"warning: {empty}: the LST has no valid pixel (all nodata); the scene is left out" in \
        capsys.readouterr().err
    assert list(json.loads((out / "info.json").read_text())["scenes"]) == ["good"]


# --------------------------------------------------------------------- sizes and messages


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_an_lst_without_georeferencing_says_so(tmp_path: Path, capsys) -> None:
    lst = scene_with_lst(tmp_path, kelvin_field(), transform=Affine.identity(), crs=None)
    out = tmp_path / "ds"
    assert prepare(out, lst) == 2
    line = assert_refused(capsys, out, str(lst), "has no georeferencing (no geotransform and no CRS)")
    assert "rotated or flipped" not in line


def test_a_scene_smaller_than_the_patch_says_so(tmp_path: Path, capsys) -> None:
    lst, _ = make_scene(tmp_path, rows=20, cols=30)
    out = tmp_path / "ds"
    assert run(["-q", "prepare", str(lst), "--out", str(out), "--scales", "2,4", "--patch", "32"]) == 2
    line = assert_refused(capsys, out, str(lst), "the scene is smaller than the 32 px patch",
                          "30 x 20 HR pixels of 30 m", "use --patch 20 or smaller (a multiple of 4)")
    assert "max-nodata" not in line


def test_smaller_scenes_among_others_are_named_in_a_warning(tmp_path: Path, capsys) -> None:
    small, _ = make_scene(tmp_path, "small", rows=6, cols=30)
    big, _ = make_scene(tmp_path, "big", rows=40, cols=50)
    out = tmp_path / "ds"
    capsys.readouterr()
    assert prepare(out, small, big) == 0
    err = capsys.readouterr().err
    assert f"warning: {small}: the scene is smaller than the 8 px patch (30 x 6 HR pixels of 30 m)" in err
    assert json.loads((out / "info.json").read_text())["scenes"]["small"]["candidates"] == 0


def test_errors_about_ingested_products_name_the_products_not_temporary_files(tmp_path: Path, capsys) -> None:
    from pipelines.fixtures import write_product_fixture
    from pipelines.sample_scene import generate_scene

    tis, mii = write_product_fixture(generate_scene((24, 24), seed=3), tmp_path / "products")
    out = tmp_path / "ds"
    capsys.readouterr()
    assert run(["-q", "prepare", str(tis), str(mii), "--out", str(out), "--scales", "2",
                "--patch", "64"]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "groklst-ingest" not in err and ".ds" not in err
    assert lines[0].startswith(f"error: {tis}, {mii}: the scene is smaller than the 64 px patch")
    assert not out.exists() and not list(tmp_path.glob(".ds*")) and not list(tmp_path.glob(".groklst-ingest.*"))
    # A band mismatch between an ingested scene and a canonical one names the products too.
    canonical, _ = make_scene(tmp_path, "mine")
    with rasterio.open(tmp_path / "mine_guidance.tif", "r+") as dst:
        dst.set_band_description(10, "lst_previous_day")
    assert run(["-q", "prepare", str(canonical), str(tis), str(mii), "--out", str(out), *SMALL,
                "--max-nodata", "1"]) == 2
    err = capsys.readouterr().err
    assert "groklst-ingest" not in err and f"{tis}, {mii} (ingested guidance)" in err
    # and a prepared dataset records the products, not the removed temporary files
    assert run(["-q", "prepare", str(tis), str(mii), "--out", str(out), *SMALL, "--max-nodata", "1"]) == 0
    recorded = next(iter(json.loads((out / "info.json").read_text())["scenes"].values()))
    assert recorded["lst"] == f"{tis}, {mii}" and recorded["guidance"] == f"{tis}, {mii} (ingested guidance)"


# ------------------------------------------------------------------- ingest --lst, same rule


@pytest.fixture(scope="module")
def mii(tmp_path_factory: pytest.TempPathFactory):
    """An MII product and the generated scene it shows."""
    from pipelines.fixtures import write_product_fixture
    from pipelines.sample_scene import generate_scene

    scene = generate_scene((16, 20), seed=5)
    _, mii_folder = write_product_fixture(scene, tmp_path_factory.mktemp("products"))
    return scene, mii_folder


def ingest(mii_folder: Path, lst: Path, out: Path, *extra: str) -> int:
    return run(["-q", "ingest", str(mii_folder), "--lst", str(lst), "--out-dir", str(out), *extra])


def test_ingest_refuses_an_unscaled_lst_and_decodes_it_when_told(mii, tmp_path: Path, capsys) -> None:
    scene, folder = mii
    dn = np.round((np.nan_to_num(scene.lst, nan=0.0) - 149.0) / 0.00341802).clip(0)
    given = write_lst(tmp_path / "landsat_st.tif", dn, dtype="uint16", nodata=0,
                      transform=scene.lst_transform, crs=scene.crs)
    out = tmp_path / "out"
    assert ingest(folder, given, out) == 2
    lines = error_lines(capsys)
    assert len(lines) == 1 and str(given) in lines[0] and "pass --scale-factor 0.00341802" in lines[0]
    assert not out.exists() or not any(out.iterdir())
    assert ingest(folder, given, out, *LANDSAT) == 0
    with rasterio.open(out / f"{folder.name.replace('_MII_', '_', 1)}_lst.tif") as src:
        written = src.read(1)
    valid = np.isfinite(scene.lst)
    np.testing.assert_allclose(written[valid], scene.lst[valid], atol=0.002)  # DN quantisation


def test_ingest_refuses_undeclared_fill_in_the_given_lst(mii, tmp_path: Path, capsys) -> None:
    scene, folder = mii
    values = np.where(np.isfinite(scene.lst), scene.lst, 300.0)
    values[:4] = -9999.0
    given = write_lst(tmp_path / "my_lst.tif", values, transform=scene.lst_transform, crs=scene.crs)
    out = tmp_path / "out"
    assert ingest(folder, given, out) == 2
    lines = error_lines(capsys)
    assert len(lines) == 1 and "pass --nodata -9999" in lines[0]
    assert not out.exists() or not any(out.iterdir())
    assert ingest(folder, given, out, "--nodata", "-9999", "--name", "s") == 0
    with rasterio.open(out / "s_lst.tif") as src:
        written = src.read(1)
    assert np.isnan(written[:4]).all() and np.nanmin(written) > 250.0


def test_ingest_reads_kelvin_tagged_as_celsius_by_its_values_with_a_warning(mii, tmp_path: Path, capsys) -> None:
    """As downscale does (the tag was once followed here, and the scene refused as 300 degC)."""
    scene, folder = mii
    given = tmp_path / "my_lst.tif"
    write_lst(given, scene.lst, transform=scene.lst_transform, crs=scene.crs)
    with rasterio.open(given, "r+") as dst:
        dst.units = ("degC",)
    out = tmp_path / "out"
    assert ingest(folder, given, out, "--name", "a") == 0
    assert "my_lst.tif: its unit tag says degC but its values" in capsys.readouterr().err
    assert ingest(folder, given, out, "--units", "kelvin", "--name", "s") == 0
    assert "unit tag" not in capsys.readouterr().err
    with rasterio.open(out / "a_lst.tif") as tagged, rasterio.open(out / "s_lst.tif") as declared:
        np.testing.assert_array_equal(tagged.read(1), declared.read(1))


def test_lst_options_without_a_given_lst_are_refused(mii, tmp_path: Path, capsys) -> None:
    _, folder = mii
    out = tmp_path / "out"
    assert run(["-q", "ingest", str(folder), "--out-dir", str(out), "--nodata", "-9999"]) == 2
    lines = error_lines(capsys)
    assert len(lines) == 1 and "describe a given LST raster" in lines[0]
    assert not out.exists()


# ----------------------------------------------------------------------- a damaged dataset


@pytest.mark.parametrize("removed", ["lr_lst_x2", "lr_lst_x2/1.0.0", "hr_lst/0.0.0", "guidance/2.0.0.0"])
def test_a_dataset_missing_patch_chunks_is_refused_by_train_and_evaluate(
    tmp_path: Path, capsys, removed: str
) -> None:
    """zarr reads a missing chunk as NaN: training and scores would go on without a word."""
    lst = scene_with_lst(tmp_path, kelvin_field((24, 24)))
    out = tmp_path / "ds"
    assert prepare(out, lst) == 0
    tiny = ["--model", "mocolsk-lite", "--scale", "2", "--iters", "1", "--batch-size", "1", "--crop", "8",
            "--model-kwargs", '{"base_dim": 4, "num_stages": 1}']
    assert run(["-q", "train", str(out), "-o", str(tmp_path / "intact"), *tiny]) == 0  # intact: trains
    target = out / "data.zarr" / removed
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink()
    capsys.readouterr()
    assert run(["-q", "train", str(out), "-o", str(tmp_path / "run"), *tiny]) == 2
    line = error_lines(capsys)[0]
    array = removed.split("/")[0]
    assert f"{out / 'data.zarr' / array}: " in line and "patch chunks are missing" in line
    assert not (tmp_path / "run").exists()
    checkpoint = tmp_path / "intact" / "last.pt"  # no validation split here: no best.pt
    assert run(["-q", "evaluate", str(out), "-c", str(checkpoint), "--baselines", "bicubic"]) == 2
    assert "patch chunks are missing" in error_lines(capsys)[0]


@pytest.mark.parametrize("array", ["hr_lst", "guidance", "lr_lst_x2"])
def test_a_dataset_with_truncated_chunks_is_refused_by_train_and_evaluate(tmp_path: Path, capsys,
                                                                         array: str) -> None:
    """A chunk file that is there but cannot be decoded (``: > chunk``) names the array and the patch."""
    lst = scene_with_lst(tmp_path, kelvin_field((24, 24)))
    out = tmp_path / "ds"
    assert prepare(out, lst) == 0
    tiny = ["--model", "mocolsk-lite", "--scale", "2", "--iters", "1", "--batch-size", "1", "--crop", "8",
            "--model-kwargs", '{"base_dim": 4, "num_stages": 1}']
    assert run(["-q", "train", str(out), "-o", str(tmp_path / "intact"), *tiny]) == 0
    for chunk in (p for p in (out / "data.zarr" / array).iterdir() if not p.name.startswith(".")):
        chunk.write_bytes(b"")
    capsys.readouterr()
    assert run(["-q", "train", str(out), "-o", str(tmp_path / "run"), *tiny]) == 2
    lines = error_lines(capsys)
    assert len(lines) == 1, lines
    assert f"{out / 'data.zarr' / array}: the chunk of patch " in lines[0] and "cannot be decoded" in lines[0]
    assert "the dataset is damaged: create it again with groklst prepare" in lines[0]
    assert not (tmp_path / "run").exists()
    checkpoint = tmp_path / "intact" / "last.pt"
    assert run(["-q", "evaluate", str(out), "-c", str(checkpoint), "--split", "train", "--baselines", ""]) == 2
    assert "cannot be decoded" in error_lines(capsys)[0]


@pytest.mark.parametrize("name, text, problem", [
    ("info.json", '{"format": "groklst-data', "not valid JSON"),
    ("info.json", "[1, 2]", "not a JSON object"),
    ("stats.json", "{", "not valid JSON"),
])
def test_info_on_a_damaged_json_file_names_it(tmp_path: Path, capsys, name: str, text: str, problem: str) -> None:
    lst = scene_with_lst(tmp_path, kelvin_field((24, 24)))
    out = tmp_path / "ds"
    assert prepare(out, lst) == 0
    (out / name).write_text(text)
    assert run(["-q", "prepare", "--info", str(out)]) == 2
    lines = error_lines(capsys)
    assert len(lines) == 1, lines
    assert f"{out / name}: {problem}" in lines[0] and "the dataset is damaged" in lines[0]
    assert "create it again with groklst prepare" in lines[0]


def test_an_all_nodata_patch_is_still_written_as_a_chunk(tmp_path: Path) -> None:
    """Every chunk is on disk (even one equal to the NaN fill value), so a missing one is damage."""
    values = kelvin_field((24, 24))
    values[:8, :8] = np.nan  # one 8 x 8 patch entirely nodata, kept by --max-nodata 1
    lst = scene_with_lst(tmp_path, values)
    out = tmp_path / "ds"
    assert run(["-q", "prepare", str(lst), "--out", str(out), *SMALL, "--max-nodata", "1"]) == 0
    ds = open_prepared(out)
    assert len(ds) == 9 and np.isnan(hr_values(out)).all(axis=(1, 2)).sum() == 1


@pytest.mark.parametrize("options, message", [
    (["--scale-factor", "nan"], "--scale-factor: must be a finite number, got nan"),
    (["--offset", "inf"], "--offset: must be a finite number, got inf"),
])
def test_non_finite_decoding_options_are_refused_by_name(tmp_path: Path, capsys, options, message) -> None:
    lst = scene_with_lst(tmp_path, kelvin_field())
    out = tmp_path / "ds"
    assert run(["-q", "prepare", str(lst), "--out", str(out), *SMALL, *options]) == 2
    assert_refused(capsys, out, message)
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(tmp_path / "o.tif"), *options]) == 2
    assert message in error_lines(capsys)[0]


def test_a_scale_listed_twice_is_refused(tmp_path: Path, capsys) -> None:
    lst = scene_with_lst(tmp_path, kelvin_field())
    out = tmp_path / "ds"
    assert run(["-q", "prepare", str(lst), "--out", str(out), "--scales", "2,2", "--patch", "8"]) == 2
    assert_refused(capsys, out, "--scales: lists a scale twice: [2, 2]")
