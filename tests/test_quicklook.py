"""``groklst quicklook``: each raster drawn where it lies, and outputs downscaled from products."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from PIL import Image

from groklst_cli.app import run
from pipelines.quicklook import figure_size, lst_window

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
