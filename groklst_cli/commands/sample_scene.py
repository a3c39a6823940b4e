"""``groklst sample-scene``: write the synthetic Heihe demo scene (LST + guidance GeoTIFFs)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import typer

from groklst_cli.console import info, result
from groklst_cli.interrupts import reported_once_published
from pipelines.atomic import check_writable, folders_removed_if_left_empty
from pipelines.errors import InputError, unmistakable_path
from pipelines.sample_scene import (SCENE_CRS, check_scene_size, generate_scene, scene_paths, write_dem, write_scene,
                                    write_truth)
from pipelines.train_config import MAX_SEED

# Largest --tis-offset (TIS pixels): the most groklst coregister --max-shift searches; a larger
# misregistration could not be found, so a fixture with one tests nothing.
MAX_TIS_OFFSET_PX = 20


def check_seed(seed: int) -> None:
    """Refuse a seed train refuses (negative, or above 2^64-1), with train's message.

    torch is imported only to say so, so that a valid seed costs nothing."""
    if not 0 <= seed <= MAX_SEED:
        from pipelines.train import check_settings

        check_settings({"seed": seed})


def _check_name(name: str) -> None:
    """The scene name is a file-name prefix: a path would write outside OUT_DIR, nothing would
    write ``_lst.tif``."""
    if not name:
        raise InputError("--name", "is empty", "give a plain name, e.g. heihe_demo")
    if Path(name).name != name or name in (".", ".."):
        raise InputError("--name", f"{name!r} is a path, not a scene name", "give a plain name; OUT_DIR says where")


def _shape(size: Optional[int], rows: Optional[int], cols: Optional[int]) -> tuple[int, int]:
    if size is not None and (rows is not None or cols is not None):
        raise InputError("--size", "give either --size or --rows/--cols, not both")
    if size is not None:
        return size, size
    if (rows is None) != (cols is None):
        raise InputError("--rows", "--rows and --cols go together", "give both, e.g. --rows 120 --cols 200, or --size N")
    return (rows, cols) if rows is not None and cols is not None else (160, 160)


def _offset(text: str, option: str) -> tuple[float, float]:
    try:
        east, north = (float(v) for v in text.split(","))
    except ValueError as exc:
        raise InputError(option, f"{text!r} is not EAST,NORTH in metres, e.g. 30,-20") from exc
    if not (math.isfinite(east) and math.isfinite(north)):
        raise InputError(option, f"{text!r} is not EAST,NORTH in finite metres, e.g. 30,-20")
    return east, north


LST_RESOLUTION_M = 30.0  # the generated scene's LST pixel, as SDGSAT-1 TIS


def _check_tis_offset(offset: tuple[float, float]) -> None:
    """A TIS misregistration groklst coregister could find, so that the fixture tests something."""
    most = MAX_TIS_OFFSET_PX * LST_RESOLUTION_M
    if math.hypot(*offset) > most:
        raise InputError("--tis-offset", f"{offset[0]:g},{offset[1]:g} m is more than the {MAX_TIS_OFFSET_PX} TIS "
                         f"pixels ({most:g} m) groklst coregister can search", "real products are off by 1-2 pixels")


def _check_band_offset(offset: tuple[float, float], guidance_res: float) -> None:
    """The fake B3 is made from the fine scene, so it can only be moved by whole guidance pixels."""
    from pipelines.band_registration import MAX_SHIFT_PX  # imports scipy: not at the CLI's start-up

    if math.hypot(*offset) > MAX_SHIFT_PX * LST_RESOLUTION_M:
        raise InputError("--tis-band-offset", f"{offset[0]:g},{offset[1]:g} m is more than the "
                         f"{MAX_SHIFT_PX:g} TIS pixels a band offset can be", "real products are off by up to a pixel")
    if not all(float(v / guidance_res).is_integer() for v in offset):
        raise InputError("--tis-band-offset", f"{offset[0]:g},{offset[1]:g} m is not a multiple of the "
                         f"{guidance_res:g} m guidance pixel", f"e.g. {guidance_res:g},{-2 * guidance_res:g}")


def sample_scene(
    ctx: typer.Context,
    out_dir: Path = typer.Argument(..., help="Folder for NAME_lst.tif and NAME_guidance.tif (created if missing)."),
    name: str = typer.Option("heihe_demo", "--name", help="Scene name, the prefix of the file names."),
    size: Optional[int] = typer.Option(None, "--size", min=4, help="Square scene of N x N LST pixels (default 160)."),
    rows: Optional[int] = typer.Option(None, "--rows", min=4, help="LST rows (with --cols)."),
    cols: Optional[int] = typer.Option(None, "--cols", min=4, help="LST columns (with --rows)."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives the same scene."),
    ratio: int = typer.Option(3, "--ratio", min=1, max=16, help="Guidance pixels per LST pixel along each axis."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    with_truth: bool = typer.Option(False, "--with-truth", help="Also write NAME_lst_fine.tif, the fine-resolution truth LST."),
    products: bool = typer.Option(False, "--products", help="Also write fake SDGSAT-1 TIS and MII product folders of the scene and NAME_dem.tif (to try groklst ingest)."),
    tis_offset: Optional[str] = typer.Option(None, "--tis-offset", help="With --products: misregister the TIS by EAST,NORTH metres (e.g. 30,-20), as real products are by 1-2 TIS pixels."),
    tis_stripes: Optional[float] = typer.Option(None, "--tis-stripes", min=0.0, max=5.0, help="With --products: stripe TIS B2 with detector-line offsets of this RMS in kelvin along 10 deg east of north, as real B2 is striped (e.g. 0.3)."),
    mii_saturate_at: Optional[int] = typer.Option(None, "--mii-saturate-at", min=1, max=65535, help="With --products: clip MII B4 and B5 at this DN, as real products saturate over bright ground (the scene's red reaches about 2000-2500)."),
    tis_per_band: bool = typer.Option(False, "--tis-per-band", help="With --products: write the TIS product as challenge data deliver it, one GeoTIFF per band (SDGSAT1_TIS_<date>_L1A_EPSG32647_..._B1.tif)."),
    tis_band_offset: Optional[str] = typer.Option(None, "--tis-band-offset", help="With --products: misregister TIS B3 against B2 by EAST,NORTH metres, in whole guidance pixels (e.g. 10,-20), as real products are by up to a TIS pixel."),
) -> None:
    """Write a synthetic SDGSAT-1-like scene over the Heihe River Basin (30 m LST, 10 m guidance).

    Prints the written paths on stdout, one per line. The scene is synthetic (tagged so).
    """
    shape = _shape(size, rows, cols)
    check_scene_size(shape, ratio, "--size" if rows is None else "--rows/--cols")
    check_seed(seed)
    _check_name(name)
    from pipelines.fixtures import FixtureSettings, folder_name, scene_id_for, write_product_fixture  # imports scipy

    settings = FixtureSettings(
        scene_id=scene_id_for(seed),
        tis_offset_m=_offset(tis_offset, "--tis-offset") if tis_offset else (0.0, 0.0),
        tis_band_offset_m=_offset(tis_band_offset, "--tis-band-offset") if tis_band_offset else (0.0, 0.0),
        mii_saturation_dn=mii_saturate_at, tis_stripes_k=tis_stripes or 0.0, tis_per_band=tis_per_band)
    for option, given, what in (("--tis-offset", tis_offset, "misregisters the fake TIS product"),
                                ("--tis-band-offset", tis_band_offset, "misregisters the fake TIS product"),
                                ("--tis-stripes", tis_stripes, "stripes the fake TIS product"),
                                ("--mii-saturate-at", mii_saturate_at, "saturates the fake MII product"),
                                ("--tis-per-band", tis_per_band, "lays out the fake TIS product")):
        if given and not products:
            raise InputError(option, what, "add --products")
    _check_tis_offset(settings.tis_offset_m)
    _check_band_offset(settings.tis_band_offset_m, LST_RESOLUTION_M / ratio)
    ctx.with_resource(folders_removed_if_left_empty(out_dir))  # folders it made, when it writes nothing
    paths = scene_paths(out_dir, name)
    for key in ("lst", "guidance", "lst_fine") if with_truth else ("lst", "guidance"):
        check_writable(paths[key], overwrite)
    if products:
        check_writable(paths["dem"], overwrite)
        for sensor in ("TIS", "MII"):
            folder = Path(out_dir) / folder_name(sensor, settings, SCENE_CRS)
            if folder.exists():
                raise InputError(folder, "product folder already exists", "remove it first (folders are never overwritten)")
    info(f"generating a {shape[0]}x{shape[1]} px scene (seed {seed}, ratio {ratio})")
    scene = generate_scene(shape, seed=seed, ratio=ratio, lst_resolution=LST_RESOLUTION_M)
    writes = [lambda: write_scene(scene, out_dir, name=name, overwrite=overwrite)]
    if with_truth:
        writes.append(lambda: [write_truth(scene, out_dir, name=name, overwrite=overwrite)])
    if products:
        writes.append(lambda: write_product_fixture(scene, out_dir, settings))
        writes.append(lambda: [write_dem(scene, out_dir, name=name, overwrite=overwrite)])
    for write in writes:
        with reported_once_published(None):  # a signal after a rename waits for that output's line
            for path in write():  # ./-d/x.tif as typed, not -d/x.tif (typer folds ./), read as an option
                result(unmistakable_path(Path(path)))


def register(app: typer.Typer) -> None:
    app.command("sample-scene")(sample_scene)
