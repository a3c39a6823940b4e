"""An LST whose unit tag contradicts its values: read by its values, with one warning naming
the file, the tag and the unit used, in downscale and quicklook alike; ``--units`` silences it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image

from groklst_cli.app import run
from pipelines.units import Units, tagged_units
from tests.test_downscale import make_scene, read


def retag(path: Path, tag: str) -> Path:
    """Give ``path``'s band the unit tag ``tag`` (and the dataset the same ``units`` tag)."""
    with rasterio.open(path, "r+") as dst:
        dst.set_band_unit(1, tag)
        dst.update_tags(units=tag)
    return path


def downscale(lst: Path, out: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[np.ndarray, str]:
    """Downscale ``lst`` with bicubic; its output values and the run's stderr."""
    capsys.readouterr()
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(out), *extra]) == 0
    return read(out)[0], capsys.readouterr().err


@pytest.mark.parametrize(("tag", "expected"), [
    ("K", Units.kelvin), ("kelvin", Units.kelvin), ("degC", Units.celsius), ("celsius", Units.celsius),
    ("deg_C", Units.celsius), ("degrees Celsius", Units.celsius), ("°C", Units.celsius),
    ("degree_Celsius", Units.celsius), ("W m-2", Units.auto), ("1", Units.auto), ("", Units.auto)])
def test_unit_words_are_recognised_and_unrelated_tags_ignored(tag: str, expected: Units) -> None:
    assert tagged_units(tag) is expected


def test_a_degc_tagged_kelvin_lst_is_read_as_kelvin_with_one_warning(tmp_path: Path, capsys) -> None:
    lst, _ = make_scene(tmp_path)
    plain, _ = make_scene(tmp_path, name="plain")
    retag(plain, "")
    untagged, err = downscale(plain, tmp_path / "plain.tif", capsys)
    assert "unit tag" not in err
    tagged, err = downscale(retag(lst, "degC"), tmp_path / "out.tif", capsys)
    lines = [line for line in err.splitlines() if "unit tag" in line]
    assert len(lines) == 1
    assert "scene_lst.tif: its unit tag says degC but its values (median 30" in lines[0]
    assert "are Kelvin; read as Kelvin (pass --units kelvin to declare it)" in lines[0]
    np.testing.assert_array_equal(tagged, untagged)
    assert read(tmp_path / "out.tif")[2]["units"] == "K"
    assert 290 < float(np.nanmedian(tagged)) < 310


def test_a_k_tagged_celsius_lst_is_read_as_celsius_with_a_warning(tmp_path: Path, capsys) -> None:
    lst, _ = make_scene(tmp_path, lst_offset=-273.15)
    retag(lst, "K")
    kelvin, _ = make_scene(tmp_path, name="k")
    out, err = downscale(lst, tmp_path / "c.tif", capsys)
    assert "its unit tag says K but its values (median 2" in err and "read as Celsius" in err
    assert read(tmp_path / "c.tif")[2]["units"] == "degC"
    np.testing.assert_allclose(out, downscale(kelvin, tmp_path / "k.tif", capsys)[0] - 273.15, atol=2e-3)


def test_an_agreeing_tag_or_a_declared_unit_gives_no_warning(tmp_path: Path, capsys) -> None:
    lst, _ = make_scene(tmp_path)
    assert "unit tag" not in downscale(lst, tmp_path / "k.tif", capsys)[1]  # K-tagged Kelvin
    retag(lst, "degC")
    out, err = downscale(lst, tmp_path / "declared.tif", capsys, "--units", "kelvin")
    assert "unit tag" not in err
    np.testing.assert_array_equal(out, read(tmp_path / "k.tif")[0])


def test_quicklook_colour_bar_follows_the_values_not_a_contradicting_tag(tmp_path: Path, capsys) -> None:
    """An output tagged degC holding Kelvin: drawn in Kelvin, so the input LST (Kelvin) spans the
    colour scale; read as Celsius it would be ~27 'degC' against a 300 scale, one flat colour."""
    lst, _ = make_scene(tmp_path)
    out = tmp_path / "out.tif"
    downscale(lst, out, capsys)
    retag(out, "degC")
    png = tmp_path / "look.png"
    assert run(["-q", "quicklook", str(out), "--lst", str(lst), "-o", str(png), "--width", "600"]) == 0
    err = capsys.readouterr().err
    assert "out.tif: its unit tag says degC but its values (median 30" in err and "read as Kelvin" in err
    assert "gdal_edit.py -units K" in err
    with Image.open(png) as image:
        rgba = np.asarray(image)
    lst_panel = rgba[60:250, 40:260].reshape(-1, 4)
    opaque = lst_panel[lst_panel[:, 3] == 255]
    assert len(np.unique(opaque, axis=0)) > 20


def test_ingest_reads_a_given_lst_by_its_values_when_its_tag_says_the_other_unit(tmp_path: Path) -> None:
    """ingest --lst followed the tag: a degC tag on Kelvin values read 300 K as 300 degC and the
    scene was refused as implausible; it is read as downscale reads it, with the same warning."""
    from pipelines.errors import GroklstWarning
    from pipelines.fixtures import write_product_fixture
    from pipelines.ingest import ingest_product
    from pipelines.sample_scene import generate_scene
    from pipelines.geotiff import write_raster

    scene = generate_scene((16, 20), seed=5)
    _, mii = write_product_fixture(scene, tmp_path / "products")
    given = tmp_path / "my_lst.tif"
    write_raster(given, scene.lst, crs=scene.crs, transform=scene.lst_transform,
                         descriptions=["lst"], units="degC")
    with pytest.warns(GroklstWarning, match="my_lst.tif: its unit tag says degC but its values"):
        lst_path, _ = ingest_product([mii], tmp_path / "out", name="s", lst=given)
    with rasterio.open(lst_path) as src:
        np.testing.assert_allclose(src.read(1), scene.lst, atol=1e-4)


def test_quicklook_reads_another_file_of_the_input_name_by_its_own_values(tmp_path: Path, capsys) -> None:
    """QA fuzz: --lst naming a Celsius file with the name of the Kelvin input the output was made
    from took the tags' lst_units=kelvin and drew it as 14..50 K; only the very file the tags
    name is read by their unit."""
    from pipelines.quicklook import LstReading, _recorded_reading

    (tmp_path / "k").mkdir()
    (tmp_path / "c").mkdir()
    kelvin, _ = make_scene(tmp_path / "k", name="scene")
    celsius, _ = make_scene(tmp_path / "c", name="scene", lst_offset=-273.15)
    retag(celsius, "")
    out = tmp_path / "out.tif"
    downscale(kelvin, out, capsys)
    tags = read(out)[2]
    assert tags["lst_units"] == "kelvin"
    assert _recorded_reading(tags, out, kelvin, tags["lst_source"]).units is Units.kelvin
    assert _recorded_reading(tags, out, celsius, tags["lst_source"]) == LstReading(
        _recorded_reading(tags, out, kelvin, tags["lst_source"]).decoding, Units.auto)
    assert run(["quicklook", str(out), "--lst", str(celsius), "-o", str(tmp_path / "q.png")]) == 0
    assert "input panel shows values" not in capsys.readouterr().err


@pytest.mark.parametrize("tag", ["degF", "°F", "Fahrenheit", "deg_F"])
def test_a_fahrenheit_tag_is_refused_unless_a_unit_is_declared(tmp_path: Path, capsys, tag: str) -> None:
    """80 degF read by its values is 80 degC, a plausible LST: it would pass silently."""
    lst, _ = make_scene(tmp_path, lst_offset=-273.15 + 10.0)  # values 27..37: as plausible in degF as in degC
    retag(lst, tag)
    capsys.readouterr()
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(tmp_path / "o.tif")]) == 2
    err = capsys.readouterr().err
    assert f"its unit tag says {tag}: groklst reads Kelvin or Celsius" in err
    assert "pass --units celsius to declare it" in err and not (tmp_path / "o.tif").exists()
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(tmp_path / "o.tif"),
                "--units", "celsius"]) == 0
