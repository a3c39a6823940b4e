"""``groklst quicklook`` finding its input: GDAL names in the lst_source tag, a moved LST's unit
judged from its values, and an input given as the PNG said to be one (QA fixQL)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.shutil import copy as gdal_copy

from groklst_cli.app import run
from tests.test_quicklook import colour_index, gradient_kelvin, lst_px, panels, write_lst

WIDTH = "600"


def strip_colours(png: Path) -> tuple[list[float], list[float]]:
    """Mean colour-map positions (0..255) of four west-to-east strips of each panel."""
    lst, out = panels(png)
    rows = lst_px(lst, 2, 38)
    strips = [lst_px(lst, x, x + 9) for x in (1, 11, 20, 30)]
    return ([colour_index(lst[rows, s, :3]).mean() for s in strips],
            [colour_index(out[rows, s, :3]).mean() for s in strips])


def assert_input_drawn_as_output(png: Path) -> None:
    """Both panels show the same gradient: the input was found, read and drawn in the output's unit."""
    lst_means, out_means = strip_colours(png)
    assert lst_means[0] < 50 and lst_means[-1] > 200
    assert np.allclose(lst_means, out_means, atol=4.0), (lst_means, out_means)


def netcdf_lst(folder: Path) -> Path:
    """A 40 x 40 Kelvin LST as the netCDF variable ``Band1`` of ``folder/l.nc``."""
    tif = write_lst(folder / "for_nc.tif", gradient_kelvin().astype(np.float32))
    nc = folder / "l.nc"
    gdal_copy(tif, nc, driver="netCDF")
    tif.unlink()
    return nc


def gzipped_lst(folder: Path) -> Path:
    """A 40 x 40 Kelvin GeoTIFF LST gzipped to ``folder/lz.tif.gz`` (no .tif left beside it)."""
    tif = write_lst(folder / "lz.tif", gradient_kelvin().astype(np.float32))
    gz = folder / "lz.tif.gz"
    gz.write_bytes(gzip.compress(tif.read_bytes()))
    tif.unlink()
    return gz


@pytest.mark.parametrize("make, name, tagged", [(netcdf_lst, 'NETCDF:"l.nc":Band1', 'NETCDF:"{}/l.nc":Band1'),
                                                (gzipped_lst, "/vsigzip/lz.tif.gz", "/vsigzip/{}/lz.tif.gz")])
def test_an_lst_downscaled_by_its_gdal_name_is_found_from_the_tag(tmp_path: Path, monkeypatch, capsys,
                                                                   make, name, tagged) -> None:
    """The tag keeps the GDAL name (its file made absolute), which is no file path: it is opened
    as GDAL names it, in the same folder and from elsewhere; the .gz itself is never read as a
    raster. Before: "which is not there" / "lz.tif.gz: not a readable raster"."""
    monkeypatch.chdir(tmp_path)
    make(tmp_path)
    assert run(["-q", "downscale", name, "--model", "bicubic", "--scale", "2", "-o", "o.tif"]) == 0
    with rasterio.open(tmp_path / "o.tif") as src:
        assert src.tags()["lst_source"] == tagged.format(tmp_path.resolve())
    assert run(["-q", "quicklook", "o.tif", "-o", "o.png", "--width", WIDTH]) == 0
    assert capsys.readouterr().err == ""
    assert_input_drawn_as_output(tmp_path / "o.png")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert run(["-q", "quicklook", "../o.tif", "-o", "o2.png", "--width", WIDTH]) == 0
    assert capsys.readouterr().err == ""
    assert_input_drawn_as_output(tmp_path / "elsewhere" / "o2.png")


def test_a_gzipped_lst_gone_is_not_read_from_a_raw_gz_elsewhere(tmp_path: Path, monkeypatch, capsys) -> None:
    """Its archive neither where the tag says nor beside the output: the tag is named, with
    --lst to pass, not the raw .gz blamed as an unreadable raster."""
    monkeypatch.chdir(tmp_path)
    gzipped_lst(tmp_path)
    assert run(["-q", "downscale", "/vsigzip/lz.tif.gz", "--model", "bicubic", "--scale", "2", "-o", "o.tif"]) == 0
    (tmp_path / "lz.tif.gz").unlink()
    capsys.readouterr()
    assert run(["-q", "quicklook", "o.tif", "-o", "o.png"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: o.tif: its lst_source tag names /vsigzip/{tmp_path.resolve()}/lz.tif.gz, which is not there "
        "(nor beside the output) "
        "(hint: pass the input LST with --lst)")


def test_a_moved_lst_found_beside_the_output_has_its_unit_judged_from_its_values(tmp_path: Path, capsys) -> None:
    """QA: a Kelvin LST downscaled, deleted, and a Celsius file of its name put beside the
    output. Read with the tag's unit it showed 17..37 K with a warning; judged from its values
    it is the same temperatures as the output."""
    (tmp_path / "mv1").mkdir()
    (tmp_path / "mv2").mkdir()
    kelvin = write_lst(tmp_path / "mv1" / "sc.tif", gradient_kelvin().astype(np.float32))
    out = tmp_path / "mv2" / "sc_o.tif"
    assert run(["-q", "downscale", str(kelvin), "--model", "bicubic", "--scale", "2", "-o", str(out)]) == 0
    with rasterio.open(out) as src:
        assert src.tags()["lst_units"] == "kelvin"
    kelvin.unlink()
    write_lst(tmp_path / "mv2" / "sc.tif", (gradient_kelvin() - 273.15).astype(np.float32))
    capsys.readouterr()
    png = tmp_path / "mv2" / "q.png"
    assert run(["-q", "quicklook", str(out), "-o", str(png), "--width", WIDTH]) == 0
    assert capsys.readouterr().err == ""
    assert_input_drawn_as_output(png)


def test_an_input_given_as_the_png_is_said_to_be_one_first(tmp_path: Path, capsys) -> None:
    """The output, the tagged LST and --lst as the PNG name: the input is named, not the .tif
    extension; nothing is replaced."""
    lst = write_lst(tmp_path / "in_lst.tif", gradient_kelvin().astype(np.float32))
    out = tmp_path / "o1.tif"
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "--scale", "2", "-o", str(out)]) == 0
    before = {path: path.read_bytes() for path in (lst, out)}
    for args in ([str(out), "-o", str(out)], [str(out), "-o", str(lst)],
                 [str(out), "--lst", str(lst), "-o", str(lst)]):
        capsys.readouterr()
        assert run(["-q", "quicklook", *args]) == 2
        png = Path(args[-1])
        assert capsys.readouterr().err.strip() == (
            f"error: {png}: the output is one of the inputs; it would be overwritten "
            "(hint: write the output under another name)")
    assert {path: path.read_bytes() for path in (lst, out)} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in_lst.tif", "o1.tif"]
