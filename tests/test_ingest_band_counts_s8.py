"""An SDGSAT-1 image with a band written twice (8 MII bands, 4 TIS bands) was read with every
band after it shifted by one: a guidance whose red was green, an LST up to 3 K off, exit 0 (QA).
MII images have exactly 7 bands and TIS images 3 (../shared/reference/sdgsat1-products.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from groklst_cli.app import run


def _with_first_band_twice(image: Path) -> None:
    with rasterio.open(image) as src:
        profile, data = src.profile, src.read()
    with rasterio.open(image, "w", **{**profile, "count": data.shape[0] + 1}) as dst:
        dst.write(np.concatenate([data[:1], data]))


@pytest.mark.parametrize("sensor, pattern, bands", [("MII", "*_A.tif", 8), ("TIS", "*.tiff", 4)])
def test_an_image_with_a_band_too_many_is_refused(tmp_path: Path, capsys, sensor: str, pattern: str,
                                                   bands: int) -> None:
    assert run(["-q", "sample-scene", str(tmp_path / "p"), "--size", "60", "--seed", "1", "--products"]) == 0
    tis, mii = (next((tmp_path / "p").glob(f"KX10_{s}_*")) for s in ("TIS", "MII"))
    [image] = (tis if sensor == "TIS" else mii).glob(pattern)
    _with_first_band_twice(image)
    out = tmp_path / "out"
    capsys.readouterr()
    assert run(["-q", "ingest", str(tis), str(mii), "--out-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{bands} bands, {sensor} imagery has {bands - 1}" in err and image.name in err
    assert not out.exists() or list(out.iterdir()) == []
