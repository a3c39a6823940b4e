"""``groklst quicklook``: each raster drawn where it lies, and outputs downscaled from products."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from PIL import Image

from groklst_cli.app import run
from pipelines.lst_values import LstDecoding
from pipelines.quicklook import LstReading, figure_size, lst_window, panel_size, panel_width
from pipelines.units import Units

X0, Y0 = 400_000.0, 5_760_000.0


def write(path: Path, values: np.ndarray, res: float, x0: float = X0) -> Path:
    rows, cols = values.shape
    with rasterio.open(path, "w", driver="GTiff", width=cols, height=rows, count=1, dtype="float32",
                       crs="EPSG:32632", transform=Affine(res, 0, x0, 0, -res, Y0)) as dst:
        dst.write(values.astype(np.float32), 1)
        dst.update_tags(units="K")
    return path


def test_an_lst_covering_part_of_the_output_is_drawn_on_that_part_only(tmp_path: Path) -> None:
    """The LST covers the output's east half: the west half of its panel is transparent, not
    the LST stretched over the whole panel."""
    out = write(tmp_path / "out.tif", 300 + np.random.default_rng(0).random((40, 40)), 10.0)
    part = write(tmp_path / "part.tif", np.full((20, 10), 301.0), 20.0, x0=X0 + 200)  # x 200..400 m
    with rasterio.open(out) as fine, rasterio.open(part) as lst:
        window, extent = lst_window(lst, fine.bounds)
    assert (window.width, window.height) == (10, 20) and extent == (X0 + 200, X0 + 400, Y0 - 400, Y0)
    png = tmp_path / "look.png"
    assert run(["-q", "quicklook", str(out), "--lst", str(part), "-o", str(png), "--width", "600"]) == 0
    with Image.open(png) as image:
        assert image.size == figure_size(600, 40, 40) == (600, 390)
        alpha = np.asarray(image)[..., 3]
    lst_panel = alpha[40:310, 20:290]  # 270 x 270 px below the titles
    assert (lst_panel[5:-5, 5:130] == 0).all()  # west: no LST there
    assert (lst_panel[5:-5, 140:-5] == 255).all()
    assert (alpha[40:310, 310:580][5:-5, 5:-5] == 255).all()  # the output, everywhere


def test_an_output_downscaled_from_products_is_drawn_alone(tmp_path: Path, capsys) -> None:
    """Its LST was retrieved in a temporary folder (no file to draw): one panel and a warning
    saying why and how to get both, not a refusal to pass an --lst that never existed."""
    assert run(["-q", "sample-scene", str(tmp_path / "raw"), "--size", "12", "--seed", "2", "--products"]) == 0
    tis, mii, dem = capsys.readouterr().out.split()[2:5]
    out = tmp_path / "out.tif"
    assert run(["-q", "downscale", tis, mii, "--dem", dem, "--model", "bicubic", "-o", str(out)]) == 0
    capsys.readouterr()
    assert run(["-q", "quicklook", str(out), "--width", "600"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(out.with_suffix(".png"))
    assert "retrieved from the TIS product" in captured.err and "pass it with --lst" in captured.err
    with rasterio.open(out) as src:
        shape = src.height, src.width
    with Image.open(out.with_suffix(".png")) as image:
        assert image.size == figure_size(600, *shape, panels=1) == (600, 40 + 560 + 80)
    # The LST that ingest writes, given with --lst, is drawn beside the output.
    assert run(["-q", "ingest", tis, mii, "--dem", dem, "--out-dir", str(tmp_path / "in")]) == 0
    lst = capsys.readouterr().out.split()[0]
    assert run(["-q", "quicklook", str(out), "--lst", lst, "-o", str(tmp_path / "both.png"), "--width", "600"]) == 0
    with Image.open(tmp_path / "both.png") as image:
        assert image.size == figure_size(600, *shape)


@pytest.mark.parametrize("rows, cols, size, panel", [
    (120, 3, (600, 40 + 600 + 80), (600, 15)),  # tall: 600 px tall, not 270 * 40 = 10800
    (3, 120, (600, 40 + 7 + 80), (7, 270)),  # wide: a strip, as wide as the slot
    (40, 40, (600, 40 + 270 + 80), (270, 270)),  # square: the slot's width
])
def test_the_png_is_width_wide_and_its_panels_at_most_width_tall(
        tmp_path: Path, rows: int, cols: int, size: tuple[int, int], panel: tuple[int, int]) -> None:
    """A 3-pixel-wide column made a 1200 x 22920 px PNG: panels are scaled down, keeping the
    raster's aspect ratio, to at most --width tall, each centred in its half of the picture."""
    values = 300 + np.random.default_rng(1).random((rows, cols))
    out = write(tmp_path / "out.tif", values, 10.0)
    lst = write(tmp_path / "lst.tif", values, 10.0)  # drawn on the same footprint
    png = tmp_path / "look.png"
    assert run(["-q", "quicklook", str(out), "--lst", str(lst), "-o", str(png), "--width", "600"]) == 0
    assert panel_size(600, rows, cols) == panel and figure_size(600, rows, cols) == size
    with Image.open(png) as image:
        assert image.size == size
        alpha = np.asarray(image)[..., 3]
    height, width = panel
    for slot_left in (20, 310):  # input, output: slots of 270 px
        left = slot_left + (270 - width) // 2
        drawn = alpha[40:40 + height, left:left + width]
        assert (drawn[1:-1, 1:-1] == 255).all()
        assert (alpha[40:40 + height, slot_left:left - 1] == 0).all()  # beside it: transparent
        assert (alpha[40:40 + height, left + width + 1:slot_left + 270] == 0).all()


def test_a_multi_band_lst_is_refused_as_downscale_refuses_it(tmp_path: Path, capsys) -> None:
    """Which band is the LST would be a guess (quicklook drew band 1): the one-line refusal of
    downscale, guidance and compare, and no PNG."""
    out = write(tmp_path / "out.tif", np.full((40, 40), 300.0), 10.0)
    lst = tmp_path / "two.tif"
    with rasterio.open(lst, "w", driver="GTiff", width=20, height=20, count=2, dtype="float32",
                       crs="EPSG:32632", transform=Affine(20.0, 0, X0, 0, -20.0, Y0)) as dst:
        dst.write(np.full((2, 20, 20), 300.0, np.float32))
    png = tmp_path / "look.png"
    capsys.readouterr()
    assert run(["-q", "quicklook", str(out), "--lst", str(lst), "-o", str(png)]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: {lst}: has 2 bands, expected 1 LST band (hint: give a single-band LST raster, "
                   "e.g. gdal_translate -b N IN.tif LST.tif)\n")
    assert not png.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["out.tif", "two.tif"]


def test_quicklooks_lst_options_say_what_they_default_to_there(monkeypatch, capsys) -> None:
    """The options are downscale's declarations; quicklook's help says its own defaults (the
    output's lst_* tags) and that it never refuses a scene; downscale's help is unchanged."""
    monkeypatch.setenv("COLUMNS", "400")
    assert run(["quicklook", "--help"]) == 0
    quicklook = capsys.readouterr().out
    assert "auto: the unit the output's lst_units tag recorded, else detected from the value range" in quicklook
    assert "as nodata (transparent) instead of at the colour bar's ends with a warning" in quicklook
    assert "refusing the scene" not in quicklook
    assert "default: the output's lst_scale_factor tag, else the file's scale metadata, else 1" in quicklook
    assert run(["downscale", "--help"]) == 0
    downscale = capsys.readouterr().out
    assert "Unit of the input LST (auto: detected from the value range)." in downscale
    assert "as nodata instead of refusing the scene." in downscale
    assert "(default: the file's scale metadata, else 1)" in downscale


# The input panel is read as downscale read the LST (its lst_* tags), in the output's unit.

WIDTH = 600  # quicklook --width; downscale --quicklook draws 1200 px wide
LANDSAT = (0.00341802, 149.0)  # Landsat Collection-2 ST: K = DN * scale + offset
FILL = (slice(5, 11), slice(5, 11))  # LST pixels (of 40 x 40) holding the fill value


def gradient_kelvin(size: int = 40) -> np.ndarray:
    """290 K in the west to 310 K in the east: the colour says where a pixel lies."""
    return np.tile(np.linspace(290.0, 310.0, size), (size, 1))


def write_lst(path: Path, stored: np.ndarray, *, nodata: float | None = None,
              scale_offset: tuple[float, float] | None = None) -> Path:
    rows, cols = stored.shape
    with rasterio.open(path, "w", driver="GTiff", width=cols, height=rows, count=1, dtype=stored.dtype.name,
                       crs="EPSG:32632", transform=Affine(30.0, 0, X0, 0, -30.0, Y0), nodata=nodata) as dst:
        dst.write(stored, 1)
        if scale_offset:
            dst.scales, dst.offsets = (scale_offset[0],), (scale_offset[1],)
    return path


def landsat_dns(kelvin: np.ndarray) -> np.ndarray:
    dns = np.round((kelvin - LANDSAT[1]) / LANDSAT[0]).astype(np.uint16)
    dns[FILL] = 0
    return dns


def colour_index(rgb: np.ndarray) -> np.ndarray:
    """Each pixel's position (0..255) on the quicklook's colour map: its nearest colour."""
    from matplotlib import colormaps

    lut = colormaps["inferno"](np.linspace(0.0, 1.0, 256))[:, :3] * 255.0
    flat = rgb.reshape(-1, 3).astype(np.float64)
    nearest = [np.argmin(((part[:, None, :] - lut[None]) ** 2).sum(-1), axis=1)
               for part in np.array_split(flat, max(1, flat.shape[0] // 4096))]
    return np.concatenate(nearest).reshape(rgb.shape[:2])


def panels(png: Path) -> tuple[np.ndarray, np.ndarray]:
    """The input and the output panel (RGBA, square: the scene is 40 x 40 LST pixels) of a
    two-panel quicklook of any width."""
    with Image.open(png) as image:
        width = image.size[0]
        assert image.size == figure_size(width, 80, 80)
        pixels = np.asarray(image.convert("RGBA"))
    side = panel_width(width, 2)
    top = slice(40, 40 + side)
    return pixels[top, 20:20 + side], pixels[top, 40 + side:40 + 2 * side]


def lst_px(panel: np.ndarray, first: float, last: float) -> slice:
    """The panel pixels from LST pixel ``first`` to ``last`` (of 40)."""
    side = panel.shape[0]
    return slice(round(first / 40 * side), round(last / 40 * side))


def assert_same_colours(png: Path) -> None:
    """Both panels show the same temperatures (four west-to-east strips, away from the fill
    rows and panel edges), and the LST's fill pixels are transparent in both."""
    lst, out = panels(png)
    fill, rows = lst_px(lst, 5.5, 10.5), lst_px(lst, 14, 38)
    for panel in (lst, out):
        assert (panel[fill, fill, 3] == 0).all()
        assert (panel[rows, lst_px(lst, 1, 39), 3] == 255).all()
    strips = [lst_px(lst, x, x + 9) for x in (1, 11, 20, 30)]
    lst_means = [colour_index(lst[rows, s, :3]).mean() for s in strips]
    out_means = [colour_index(out[rows, s, :3]).mean() for s in strips]
    assert lst_means[0] < 50 and lst_means[-1] > 200  # the gradient, not one flat colour
    assert np.allclose(lst_means, out_means, atol=4.0), (lst_means, out_means)


def reading_tags_of(path: Path) -> dict[str, str]:
    with rasterio.open(path) as src:
        return {k: v for k, v in src.tags().items() if k.startswith("lst_") and k != "lst_source"}


def test_the_input_panel_of_landsat_digital_numbers_is_decoded_with_the_files_scale_offset(
        tmp_path: Path) -> None:
    """uint16 DNs (~43000) with scale/offset metadata and nodata 0: drawn in Kelvin, as the
    output, not as 43000 K (one saturated colour); downscale records how it read them."""
    lst = write_lst(tmp_path / "dn.tif", landsat_dns(gradient_kelvin()), nodata=0, scale_offset=LANDSAT)
    out, png = tmp_path / "out.tif", tmp_path / "out.png"
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "--scale", "2", "-o", str(out),
                "--quicklook", str(png)]) == 0
    assert reading_tags_of(out) == {"lst_scale_factor": "0.00341802", "lst_offset": "149.0", "lst_nodata": "none",
                                    "lst_units": "kelvin", "lst_mask_implausible": "false"}
    assert_same_colours(png)


def test_an_undeclared_fill_given_to_downscale_is_transparent_in_its_quicklook(tmp_path: Path) -> None:
    """degC float32 holding -9999 without declared nodata, downscaled with --nodata -9999 and
    --units-out kelvin: the fill is transparent, the rest drawn in the output's Kelvin."""
    celsius = (gradient_kelvin() - 273.15).astype(np.float32)
    celsius[FILL] = -9999.0
    lst = write_lst(tmp_path / "c.tif", celsius)
    out, png = tmp_path / "out.tif", tmp_path / "out.png"
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "--scale", "2", "--nodata", "-9999",
                "--units-out", "kelvin", "-o", str(out), "--quicklook", str(png)]) == 0
    assert reading_tags_of(out) == {"lst_scale_factor": "1.0", "lst_offset": "0.0", "lst_nodata": "-9999.0",
                                    "lst_units": "celsius", "lst_mask_implausible": "false"}
    assert_same_colours(png)


def test_an_output_without_reading_tags_is_drawn_with_the_lst_options_given(tmp_path: Path, capsys) -> None:
    """An output written before the lst_* tags, from raw DNs decoded by downscale's options:
    drawn without them the panel is implausible (said, with what to pass); with them, right."""
    lst = write_lst(tmp_path / "raw.tif", landsat_dns(gradient_kelvin()))  # no metadata at all
    out = tmp_path / "new.tif"
    decoding = ["--scale-factor", str(LANDSAT[0]), "--offset", str(LANDSAT[1]), "--nodata", "0"]
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "--scale", "2", "-o", str(out), *decoding]) == 0
    assert reading_tags_of(out)["lst_nodata"] == "0.0"
    old = tmp_path / "old.tif"  # the same output without the reading tags
    with rasterio.open(out) as src:
        profile, values, tags = src.profile, src.read(1), src.tags()
    with rasterio.open(old, "w", **profile) as dst:
        dst.write(values, 1)
        dst.update_tags(**{k: v for k, v in tags.items() if k == "lst_source" or not k.startswith("lst_")})
    assert reading_tags_of(old) == {}
    capsys.readouterr()
    assert run(["-q", "quicklook", str(old), "-o", str(tmp_path / "bare.png"), "--width", str(WIDTH)]) == 0
    err = capsys.readouterr().err
    assert "the input panel shows values" in err and "not all plausible" in err and "--scale-factor/--offset" in err
    bare, _ = panels(tmp_path / "bare.png")
    inside = lst_px(bare, 14, 38), lst_px(bare, 1, 39)
    assert colour_index(bare[(*inside, slice(0, 3))]).min() == 255  # DNs as Kelvin: all beyond the scale
    assert run(["-q", "quicklook", str(old), "-o", str(tmp_path / "given.png"), "--width", str(WIDTH),
                *decoding]) == 0
    assert capsys.readouterr().err == ""
    assert_same_colours(tmp_path / "given.png")
    # Options override the tags: an offset 10 K higher draws the input hotter than the output.
    assert run(["-q", "quicklook", str(out), "-o", str(tmp_path / "hot.png"), "--width", str(WIDTH),
                "--offset", "159"]) == 0
    hot, cool = panels(tmp_path / "hot.png")
    assert colour_index(hot[(*inside, slice(0, 3))]).mean() > colour_index(cool[(*inside, slice(0, 3))]).mean() + 60


def test_the_options_given_override_the_recorded_reading_part_by_part() -> None:
    recorded = LstReading(LstDecoding(nodata=(-999.9, 0.0), scale_factor=0.02, offset=-1.5, mask_implausible=True),
                          Units.celsius)
    given = LstReading(LstDecoding(offset=0.0), Units.kelvin)
    assert given.over(recorded) == LstReading(
        LstDecoding(nodata=(-999.9, 0.0), scale_factor=0.02, offset=0.0, mask_implausible=True), Units.kelvin)
