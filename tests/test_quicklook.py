"""``groklst quicklook``: each raster drawn where it lies."""

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

