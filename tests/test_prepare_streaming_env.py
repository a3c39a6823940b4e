"""prepare reads its patches with GDAL's block cache capped (``streaming_gdal_env``), as every
other streaming command does: with GDAL's default (a share of the RAM) its peak memory grew with
the scene, 1.3 GB for a 600 x 5400 px LST with 10-band guidance against 0.53 GB capped (QA)."""

from __future__ import annotations

from pathlib import Path

import pytest
import rasterio

import pipelines.prepare
from groklst_cli.app import run
from pipelines.geotiff import STREAMING_CACHE_MB


def test_patches_are_read_with_the_streaming_cache(canonical_scene, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GDAL_CACHEMAX", raising=False)
    seen: list[object] = []
    read_values = pipelines.prepare.read_values

    def spying(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - read_values' own signature
        seen.append(rasterio.env.getenv().get("GDAL_CACHEMAX"))
        return read_values(*args, **kwargs)

    monkeypatch.setattr(pipelines.prepare, "read_values", spying)
    lst_path, _ = canonical_scene
    assert run(["-q", "prepare", str(lst_path), "--out", str(tmp_path / "ds"), "--scales", "2",
                "--patch", "8", "--split", "1:0:0"]) == 0
    assert seen and set(seen) == {STREAMING_CACHE_MB * 2**20}
