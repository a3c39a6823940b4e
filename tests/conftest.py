"""Shared test helpers: tiny canonical scenes written with the project's GeoTIFF convention."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from rasterio.crs import CRS

from pipelines.geotiff import write_raster

PAPER_BANDS = ("dem", "deepblue", "blue", "green", "red", "vre", "nir", "ndmvi", "ndvi", "ndwi")
UTM = CRS.from_epsg(32632)


@pytest.fixture(autouse=True, scope="session")
def _cache_outside_home(tmp_path_factory: pytest.TempPathFactory):
    """groklst's caches (``groklst models``' costs) go to a test folder, not the user's home."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GROKLST_CACHE_DIR", str(tmp_path_factory.mktemp("groklst-cache")))
        yield


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread_per_xdist_worker():
    """Under pytest-xdist (``-n 2``, one worker per CI core) each worker's torch runs one intra-op
    thread, so the workers do not spin twice as many threads as there are cores. A plain
    ``pytest`` (no workers) keeps torch's default; tests that set threads themselves still do."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@pytest.fixture(autouse=True, scope="session")
def _ctrl_c_as_at_a_terminal():
    """Ctrl-C reaches the tests as it reaches a user at a terminal, also when the suite runs as a
    background job of a script (``bash .ci/run &``), which starts it with SIGINT ignored: groklst
    then rightly leaves SIGINT ignored, and its Ctrl-C tests (in-process or in children, which
    inherit the ignore) would test that instead."""
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def write_canonical_scene(
    out_dir: Path,
    name: str = "scene",
    *,
    shape: tuple[int, int] = (32, 32),
    lst_res: float = 30.0,
    ratio: int = 3,
    origin: tuple[float, float] = (500_000.0, 5_760_000.0),
    guidance_origin: tuple[float, float] | None = None,
    guidance_shape: tuple[int, int] | None = None,
    bands: tuple[str, ...] = PAPER_BANDS,
    lst: np.ndarray | None = None,
    crs: CRS = UTM,
    seed: int = 0,
) -> tuple[Path, Path]:
    """Write ``NAME_lst.tif`` (Kelvin, ``shape`` at ``lst_res``) and ``NAME_guidance.tif``.

    The guidance is ``ratio`` times finer and, unless told otherwise, covers the LST exactly.
    Values are random but smooth enough to look like a scene; returns both paths.
    """
    rng = np.random.default_rng(seed)
    rows, cols = shape
    if lst is None:
        yy, xx = np.mgrid[0:rows, 0:cols]
        lst = 300.0 + 5.0 * np.sin(yy / 5.0) + 3.0 * np.cos(xx / 7.0) + rng.normal(0, 0.5, shape)
    g_rows, g_cols = guidance_shape or (rows * ratio, cols * ratio)
    guidance = rng.uniform(0.0, 1.0, (len(bands), g_rows, g_cols))
    g_res = lst_res / ratio
    gx, gy = guidance_origin or origin
    lst_path = out_dir / f"{name}_lst.tif"
    guidance_path = out_dir / f"{name}_guidance.tif"
    write_raster(
        lst_path, lst, crs=crs, transform=Affine(lst_res, 0, origin[0], 0, -lst_res, origin[1]),
        descriptions=["lst"], units="K",
    )
    write_raster(
        guidance_path, guidance, crs=crs, transform=Affine(g_res, 0, gx, 0, -g_res, gy),
        descriptions=list(bands),
    )
    return lst_path, guidance_path


def corrupt_first_strip(path: Path, nbytes: int = 4000, seed: int = 0) -> None:
    """Overwrite the first bytes of an uncompressed GeoTIFF's first strip with random bytes.

    The header stays intact, so GDAL reads the damaged values without an error (often values
    near +-3e38): what a damaged transfer or disk gives users.
    """
    import rasterio

    raw = bytearray(path.read_bytes())
    with rasterio.open(path) as src:
        offset = int(src.tags(1, "TIFF").get("BLOCK_OFFSET_0_0", 0))
        offset = offset or len(raw) - src.width * src.height * np.dtype(src.dtypes[0]).itemsize
    raw[offset: offset + nbytes] = np.random.default_rng(seed).integers(0, 256, nbytes, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(raw))


@pytest.fixture
def canonical_scene(tmp_path: Path) -> tuple[Path, Path]:
    """A 32 x 32 px (30 m) scene with 96 x 96 px (10 m) guidance of the paper's ten bands."""
    return write_canonical_scene(tmp_path)


def prepare_generated_dataset(
    root: Path, scales: tuple[int, ...], *, patch: int = 24, lr_shape: tuple[int, int] = (48, 48),
    seeds: tuple[int, ...] = (1, 2), stride: int | None = None, split: str | None = None,
) -> Path:
    """``groklst prepare`` on generated sample scenes: a tiny dataset at ``scales`` in ROOT/ds
    (patches every ``stride`` px, half a patch by default; ``split`` as ``--split`` takes it)."""
    from groklst_cli.app import run
    from pipelines.sample_scene import generate_scene, write_scene

    scenes = []
    for seed in seeds:
        lst, _ = write_scene(generate_scene(lr_shape, seed=seed), root / "scenes", name=f"s{seed}")
        scenes.append(str(lst))
    out = root / "ds"
    status = run(["-q", "prepare", *scenes, "-o", str(out), "--scales", ",".join(map(str, scales)), "--patch",
                  str(patch), "--stride", str(stride or patch // 2), "--split-block", str(patch),
                  *(["--split", split] if split else [])])
    assert status == 0
    return out
