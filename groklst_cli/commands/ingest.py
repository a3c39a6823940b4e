"""``groklst ingest``: SDGSAT-1 TIS + MII products -> canonical NAME_lst.tif + NAME_guidance.tif."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import typer

from groklst_cli import ingest_options, lst_options
from groklst_cli.console import info, json_ok, progress, result, result_path, state, warnings_shown
from groklst_cli.interrupts import reported_once_published
from groklst_cli.option_sources import was_given
from groklst_cli.path_options import not_empty, typed_in_folder
from pipelines import strict_json
from pipelines.errors import InputError
from pipelines.units import Units


RETRIEVAL_ONLY = ("lst_method", "retrieval_config", "destripe")  # shape the LST retrieved from TIS


def ingest(
    ctx: typer.Context,
    products: list[str] = typer.Argument(..., parser=not_empty("PRODUCTS", "name the SDGSAT-1 product folders or a folder holding them; . is the current folder", str), help="SDGSAT-1 product folders (TIS and MII), or a folder holding them."),
    out_dir: str = typer.Option(..., "--out-dir", metavar="<path>", parser=not_empty("--out-dir", "name a folder, e.g. --out-dir scenes (. for the current folder)", str), help="Folder for NAME_lst.tif and NAME_guidance.tif."),
    name: Optional[str] = typer.Option(None, "--name", parser=not_empty("--name", "give a plain name, e.g. heihe_demo, or drop --name for the MII folder's name", str), help="Scene name (default: from the MII folder name)."),
    dem: Optional[Path] = typer.Option(None, "--dem", parser=not_empty("--dem", "name a DEM GeoTIFF, or drop --dem"), help="DEM GeoTIFF, resampled onto the 10 m guidance grid (default: constant 0 m, with a warning)."),
    lst: Optional[Path] = typer.Option(None, "--lst", parser=not_empty("--lst", "name an LST GeoTIFF, or drop --lst"), help="Your own LST GeoTIFF (K or degC); without it LST is retrieved from TIS (approximate)."),
    lst_method: str = ingest_options.lst_method_option(),
    retrieval_config: Optional[Path] = ingest_options.retrieval_config_option(),
    units: Units = lst_options.units_option(),
    nodata: Optional[list[float]] = lst_options.nodata_option(),
    scale_factor: Optional[float] = lst_options.scale_factor_option(),
    offset: Optional[float] = lst_options.offset_option(),
    mask_implausible: bool = lst_options.mask_implausible_option(),
    coregister: bool = typer.Option(True, "--coregister/--no-coregister", help="Measure the TIS-MII misregistration on the scene and move the LST grid onto the MII (by whole MII pixels) when there is one; before a split window, also measure TIS B3 against B2 and resample B3 onto B2."),
    destripe: bool = typer.Option(False, "--destripe/--no-destripe", help="Measure TIS B2's detector stripes against B3 and remove them before a split-window LST (off by default: a small B3 misregistration can be mistaken for stripes; check the result)."),
    saturated: str = ingest_options.saturated_option(),
    saturation_dn: Optional[str] = ingest_options.saturation_dn_option(),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    skip_existing: bool = typer.Option(False, "--skip-existing", help="Skip a scene whose two outputs exist and are a complete ingest (cheap reruns)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of the two paths."),
) -> None:
    """Turn SDGSAT-1 products into the canonical scene pair (30 m LST + 10 m guidance, nested grids).

    Prints the LST path and the guidance path on stdout (also when --skip-existing skips the
    scene: both exist, complete, exit 0; an output there that is no complete ingest, or one of
    the two without the other, is an error and left as it is). A given --lst is read by the rule
    downscale reads with (--units, --nodata, --scale-factor, --offset, --mask-implausible) and
    refused unless its values are plausible land-surface temperatures.
    """
    from pipelines.ingest import IngestWarning, ingest_product  # imports scipy: not at start-up
    from pipelines.atomic import OutputExists
    from pipelines.geotiff import check_raster
    from pipelines.product_ingest import ProductIngest, ingest_outputs
    from pipelines.sdgsat import zones_warned_when_paired

    shown = ", ".join(products)  # as typed (``arch/s1/``): a script joins the lines on the names it gave
    state.working_on(shown)
    folders, folder = [Path(p) for p in products], Path(out_dir)
    pair = ingest_outputs(folders, folder, name, read_tis=lst is None)  # None also when a product's files cannot be read
    lst_named = pair[0] if pair is not None else _lst_from_names(folders, folder, name)
    if lst_named is not None:  # an error line names the LST, as the ok line, whatever fails next
        state.working_on(shown, typed_in_folder(out_dir, lst_named))
    if skip_existing and overwrite:
        raise InputError("--skip-existing", "give --skip-existing or --overwrite, not both",
                         "--skip-existing keeps existing outputs, --overwrite replaces them")
    _check_retrieval_only(ctx, lst)  # first: with --lst a retrieval option is the mistake, not its file
    saturation = ingest_options.saturation_options(saturated, saturation_dn)
    ProductIngest(dem, coregister, destripe, saturation, lst_method, retrieval_config).check()  # before a skip too
    if lst is not None:
        check_raster(lst)
    decoding = lst_options.lst_decoding(nodata, scale_factor, offset, mask_implausible)
    if lst is None and (decoding.nodata or scale_factor is not None or offset is not None
                        or mask_implausible or units is not Units.auto):
        raise InputError("--lst", "--units, --nodata, --scale-factor, --offset and --mask-implausible "
                                  "describe a given LST raster", "pass --lst LST.tif, or leave them out")
    if skip_existing and _finished(pair, meanwhile=False):
        _say(*pair, "skipped", as_json, out_dir)
        return
    with reported_once_published(None):  # a signal after the pair's renames waits for its result lines
        try:
            # a meta.xml zone not read is warned about once, where the TIS and MII times are compared
            with warnings_shown(IngestWarning), zones_warned_when_paired(), progress() as bar:
                task = bar.add_task("ingest", total=None)
                lst_path, guidance_path = ingest_product(
                    folders, folder, name=name, dem=dem, lst=lst, overwrite=overwrite, method=lst_method,
                    retrieval_config=retrieval_config, lst_decoding=decoding, lst_units=units, coregister=coregister,
                    saturation=saturation, destripe_b2=destripe,
                    on_progress=lambda done, total, what: bar.update(
                        task, completed=done, total=total, description=f"ingest: {what}"),
                )
        except OutputExists:  # another run finished the scene after the first look: skipped, as downscale's
            if not (skip_existing and _finished(pair, meanwhile=True)):
                raise
            _say(*pair, "skipped", as_json, out_dir)
            return
        _say(lst_path, guidance_path, "ok", as_json, out_dir)


def _lst_from_names(folders: Sequence[Path], out_dir: Path, name: Optional[str]) -> Optional[Path]:
    """The LST the ingest writes, named from the folders' names (or ``name``) alone, for the
    error line where ingest_outputs, which reads the products' metadata, could not name it."""
    scene = scene_name_from_folders(folders, name)
    return None if scene is None else out_dir / f"{scene}_lst.tif"


def scene_name_from_folders(folders: Sequence[Path], name: Optional[str]) -> Optional[str]:
    """The scene name the ingest names its outputs after, from ``name`` (--name) or else the
    one MII folder's name, as :func:`pipelines.ingest.default_name` finds it, from file names
    alone: no calib.xml or meta.xml is read, so an error line names the LST also when one of
    them cannot be. None when no one name can be known (no or several MII folders, none with a
    delivered name, a ``name`` that is a path): the ingest refuses those itself."""
    if name:
        return name if Path(name).name == name and name not in (".", "..") else None
    from pipelines import sdgsat
    from pipelines.ingest import delivered_scene_name, product_folders  # imports scipy: not at start-up

    try:
        found = product_folders(folders)
    except InputError:
        return None
    mii = list({folder.resolve(): folder for folder in found if _named_mii(folder)}.values())
    if len(mii) != 1:
        return None
    images = [image for glob in sdgsat.PATTERNS.mii_images for image in sdgsat.files_matching(mii[0], glob)]
    return delivered_scene_name(mii[0], images)


def _named_mii(folder: Path) -> bool:
    """Whether ``folder`` is an MII product by its name, or, where its name names no sensor, by
    its images' names (``*_A.tif``), as :func:`pipelines.sdgsat.read_product` tells without its meta.xml."""
    from pipelines import sdgsat

    match = sdgsat.folder_match(folder.name)
    if match:
        return match.group("sensor").upper() == "MII"
    return sdgsat.has_files(folder, sdgsat.PATTERNS.mii_images)


def _finished(pair: Optional[tuple[Path, Path]], meanwhile: bool) -> bool:
    """Whether --skip-existing finds the scene's pair complete (pipelines.product_ingest.ingest_finished);
    ``meanwhile``: after the write found an output there, when an incomplete one is the write's
    own error (output already exists), not the check's."""
    from pipelines.product_ingest import ingest_finished

    if pair is None:  # the products name no scene: the ingest says why
        return False
    try:
        return ingest_finished(*pair)
    except InputError:
        if meanwhile:
            return False
        raise


def _say(lst_path: Path, guidance_path: Path, status: str, as_json: bool, out_dir: str) -> None:
    """The result: the LST and guidance paths on stdout, or one --json line with ``status``; both
    named under ``out_dir`` as typed (``./scenes/x_lst.tif``), as the script that gave it joins them."""
    lst, guidance = typed_in_folder(out_dir, lst_path), typed_in_folder(out_dir, guidance_path)
    if as_json:
        # `output` is the LST, what `downscale` takes next, so a pipeline reads .output of any command
        result(strict_json.dumps(json_ok({"output": lst, "status": status, "lst": lst, "guidance": guidance})))
    else:
        if status == "skipped":
            info(f"{lst}: skipped, the scene is already ingested (--skip-existing)")
        result_path(lst)
        result_path(guidance)


def _check_retrieval_only(ctx: typer.Context, lst: Optional[Path]) -> None:
    """With --lst the given LST is written as it is: the options that shape a retrieval from TIS
    are refused (they were silently ignored)."""
    if lst is None:
        return
    for param in ctx.command.params:
        if param.name in RETRIEVAL_ONLY and was_given(ctx, param.name):
            typed = param.opts[0] if param.name != "destripe" or ctx.params["destripe"] else param.secondary_opts[0]
            raise InputError(typed, "shapes the LST retrieved from TIS, but --lst gives the LST, which is used as it is",
                             f"drop {typed}, or drop --lst to retrieve the LST from TIS")


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
