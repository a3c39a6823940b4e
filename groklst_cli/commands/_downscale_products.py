"""``downscale`` from one scene's SDGSAT-1 product folders: plan the run, then ingest the scene
into a hidden folder beside the output that is removed when the command ends."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, Optional

import typer

from groklst_cli import lst_options
from groklst_cli.commands._scene_reports import (
    failure_status,
    say,
    typed_output,
    typed_quicklook,
    unsaved_checkpoint,
)
from groklst_cli.console import info, progress, state, warn, warnings_shown
from pipelines.atomic import (
    INGEST_PREFIX,
    OutputExists,
    check_writable,
    refuse_input_as_output,
    remove_stale_ingests,
    remove_stale_partials,
)
from pipelines.errors import GroklstWarning, InputError, not_found_error, shell_word
from pipelines.finished_outputs import finished_png
from pipelines.raster_names import retrieved_lst_tag, source_tag

if TYPE_CHECKING:
    from pipelines.downscale import SceneReport
    from pipelines.product_ingest import ProductIngest
    from pipelines.sdgsat import Product



def check_product_run(ctx: typer.Context, paths: list[Path], guidance: Optional[Path], align: bool,
                      dask_scheduler: Optional[str]) -> None:
    """What a run from SDGSAT-1 product folders cannot be combined with."""
    files = [p for p in paths if not p.is_dir()]
    if files and not files[0].exists():  # a typo among the folders: no file either
        raise not_found_error(files[0])
    if files:
        raise InputError(files[0], "is a file, while other inputs are SDGSAT-1 product folders",
                         "give either LST rasters or one scene's product folders")
    if guidance is not None or align:
        raise InputError("--guidance" if guidance is not None else "--align",
                         "does not apply to SDGSAT-1 product folders: the MII product is the guidance",
                         "drop it, or ingest with groklst ingest and pass your own guidance")
    if dask_scheduler:
        raise InputError("--dask-scheduler", "SDGSAT-1 product folders are ingested and downscaled here",
                         "ingest the scenes with groklst ingest, then distribute the LST rasters")
    lst_options.refuse_for_products(ctx, "drop {option}")  # no LST file here: groklst retrieves it in Kelvin


@dataclass(frozen=True)
class ProductScene:
    """One scene's SDGSAT-1 product folders, to be ingested for this run into ``workdir``, a
    hidden folder beside the output (same disk) that is removed when the command ends. It is
    named when the run is planned and made by :func:`start_product_scene`, once every option
    was checked: a refused run leaves no folder behind."""

    folders: list[Path]
    workdir: Path
    name: str
    shown: str  # how messages and reports name the scene: the folders as given
    tags: dict[str, str]  # the output's lst_source / guidance_source
    scale: Optional[int]  # the TIS-to-MII pixel-size ratio, None when unreadable (the ingest says why)
    output: Path
    inputs: tuple[Path, ...]  # every file the ingest reads: no output of the run may be one of them
    refusal: Optional[InputError] = None  # why the products were refused as planned: the scene's error
    planned_in: float = 0.0  # the seconds planning took, a refused scene's ``seconds``

    @property
    def lst(self) -> Path:
        return self.workdir / f"{self.name}_lst.tif"


def plan_product_scene(folders: list[Path], output: Optional[Path], out_dir: Optional[Path],
                       how: ProductIngest) -> ProductScene:
    """Plan the run from product folders: nothing is read but their metadata, nothing is
    written (the options are checked next, on the planned output). Products refused here (a
    missing calib.xml, an MII half) are planned as a scene with its ``refusal``, said on the
    scene's line (every key) once the options were checked, where the ingest's refusals are
    said; where no output can be named (no MII folder, no -o) the command's error line says it."""
    start = time.perf_counter()
    try:
        return _plan_product_scene(folders, output, out_dir, how)
    except InputError as exc:
        name = _planned_name(folders, output)
        if name is None:
            raise
        scene = _named_scene(folders, name, _target(name, output, out_dir), how.files())
        return replace(scene, refusal=exc, planned_in=_seconds_since(start))


def _plan_product_scene(folders: list[Path], output: Optional[Path], out_dir: Optional[Path],
                        how: ProductIngest) -> ProductScene:
    """:func:`plan_product_scene` of products it reads the metadata of: an :class:`InputError`
    where they are refused."""
    from pipelines.ingest import check_one_acquisition, default_name, find_products
    from pipelines.product_ingest import tis_bands_read

    with warnings.catch_warnings():  # what the folders hold is warned about by the ingest, which reads them again
        warnings.simplefilter("ignore", GroklstWarning)
        products = find_products(folders, tis_read=tis_bands_read(how.lst_method))  # single-channel: no B3
    shown = ", ".join(str(f) for f in folders)
    by_sensor = {sensor: [p for p in products if p.sensor == sensor] for sensor in ("TIS", "MII")}
    for sensor, hint in (("TIS", "add the TIS product folder, or ingest your own LST with groklst ingest --lst"),
                         ("MII", "add the MII product folder")):
        if not by_sensor[sensor]:
            raise InputError(shown, f"no {sensor} product given", hint)
        if len(by_sensor[sensor]) > 1:
            raise InputError(by_sensor[sensor][1].folder,
                             f"a second {sensor} product: downscale takes one scene's product folders",
                             "run one scene at a time, or ingest them with groklst ingest first")
    tis, mii = by_sensor["TIS"][0], by_sensor["MII"][0]
    check_one_acquisition(tis, mii)
    try:
        name = default_name(mii, way_out="name the output with -o OUTPUT.tif")
    except InputError:
        if output is None:
            raise
        name = _ingest_name(output)  # -o names the output; the scene name then names only the ingest's files
    inputs = (*(f for product in products for f in product.files), *how.files())
    tags = {"lst_source": retrieved_lst_tag(tis.folder, how.lst_method.replace("-", " ")),
            "guidance_source": source_tag(mii.folder)}
    scene = _named_scene(folders, name, _target(name, output, out_dir), inputs)
    return replace(scene, tags=tags, scale=_product_scale(tis, mii))


def _named_scene(folders: list[Path], name: str, target: Path, inputs: Sequence[Path]) -> ProductScene:
    """The scene ``name`` to be written to ``target``, its hidden ingest folder named (not made)
    and, where messages and reports would name its temporary files, the folders as given."""
    import secrets

    from pipelines.downscale import guidance_beside

    shown = ", ".join(str(f) for f in folders)
    # named as tempfile.mkdtemp names one (remove_stale_ingests knows it so), made once the options are checked
    workdir = target.parent / f"{INGEST_PREFIX}{secrets.token_hex(4)}"
    lst = workdir / f"{name}_lst.tif"
    for temporary in (workdir, lst, guidance_beside(lst)):
        state.shown_as[str(temporary)] = shown
    return ProductScene(folders, workdir, name, shown, {}, None, target, tuple(inputs))


def _target(name: str, output: Optional[Path], out_dir: Optional[Path]) -> Path:
    """The scene's output: ``-o``, else named after the scene under ``--out-dir`` (or here)."""
    from pipelines.scenes import output_for

    return output if output is not None else output_for(Path(f"{name}_lst.tif"), out_dir or Path("."))


def _planned_name(folders: list[Path], output: Optional[Path]) -> Optional[str]:
    """The scene's name from file names alone, as the planning names it once the products are
    read: the one MII folder's delivered name, else ``-o``'s; None when neither names it."""
    from groklst_cli.commands.ingest import scene_name_from_folders

    name = scene_name_from_folders(folders, None)
    return name if name is not None or output is None else _ingest_name(output)


def name_planned_output(folders: list[Path], output: Optional[Path], out_dir: Optional[Path]) -> None:
    """Name the output the folders' names give (``-o`` is named already) before the options are
    checked and the products' files read: a bad ``--dem`` or an unreadable calib.xml is refused on
    an error line naming it, as ingest's names its LST."""
    name = _planned_name(folders, None) if output is None else None
    if name is not None:
        state.working_on(state.input, typed_output(str(_target(name, None, out_dir))))


def start_product_scene(ctx: typer.Context, scene: ProductScene, overwrite: bool, skip_existing: bool,
                        as_json: bool, save_checkpoint: Optional[Path], quicklook: Optional[Path]) -> bool:
    """Make the scene's hidden ingest folder (and the output's folder), after every option was
    checked and before the ingest, which writes there; ``False`` when ``--skip-existing`` finds
    the output (its line names the ``save_checkpoint`` not written, a warning before it the
    ``quicklook`` not drawn). An output that may not be written, then products the planning
    refused (as the ingest's refusals are said after that check), end the run on the scene's line."""
    import shutil

    start = time.perf_counter()
    try:
        done = output_done(scene.output, overwrite, skip_existing, scene.inputs)
    except InputError as exc:
        scene_failed(scene.shown, scene.output, exc, _seconds_since(start), as_json)
    if done:
        report = _report(scene.shown, scene.output, "skipped", _seconds_since(start))
        report = skipped_quicklook(report, quicklook)
        say(unsaved_checkpoint(report, save_checkpoint), as_json)
        end_if_failed(report)
        return False
    if scene.refusal is not None:
        scene_failed(scene.shown, scene.output, scene.refusal, scene.planned_in, as_json)
    scene.output.parent.mkdir(parents=True, exist_ok=True)
    for stale in remove_stale_ingests(scene.output.parent):
        info(f"removed {stale}, left by a run killed more than a day ago")
    scene.workdir.mkdir(mode=0o700)  # private, as tempfile.mkdtemp makes one
    ctx.call_on_close(lambda: shutil.rmtree(scene.workdir, ignore_errors=True))
    return True


def _ingest_name(output: Path) -> str:
    """The scene name of the ingest's hidden files when the products give none: the output's stem,
    or ``scene`` where that stem is no file name (``-o ..tif``: ``.``), which the ingest refuses."""
    return output.stem if output.stem not in (".", "..") else "scene"


def output_done(target: Path, overwrite: bool, skip_existing: bool, inputs: Sequence[Path]) -> bool:
    """Whether ``--skip-existing`` finds the scene written, also by another run between the first
    look and the check that the output may be written (README: ``skipped`` then, as a raster
    scene's); an output that may not be written is an :class:`InputError`, one of ``inputs``
    (a --dem naming it) before any skip, as without --skip-existing."""
    from pipelines.scenes import finished_meanwhile, finished_output

    refuse_input_as_output(target, inputs)
    if skip_existing and finished_output(target):
        remove_stale_partials(target)  # a killed run's, a day old: as a raster scene's skip does
        return True
    try:
        check_writable(target, overwrite, inputs=inputs)
    except OutputExists:
        if finished_meanwhile(target, skip_existing):
            return True
        raise
    return False


def skipped_quicklook(report: SceneReport, png: Optional[Path]) -> SceneReport:
    """``report`` (changed in place), when its scene was skipped without its --quicklook PNG, with
    ``quicklook: null`` in its --json line and a warning before it (in its ``warnings``) saying how
    to draw the PNG: a script reading the lines sees which skipped scenes lack it (a rerun after
    the PNG failed), as where a file that is no PNG lies (a user's, left as it is). An existing
    PNG is the finished scene's own when complete; one cut short (a run stopped while drawing
    it) makes the scene an error, as a cut-short output does, and is left as it is too."""
    if report.status != "skipped" or png is None:
        return report
    shown = typed_quicklook(png)
    redraw = f"groklst quicklook {shell_word(typed_output(report.output))} -o {shell_word(shown)}"
    if not png.exists():
        warn(f"{shown}: not drawn, as the scene was skipped (--skip-existing); {redraw} draws it")
        report.extra["quicklook"] = None
        return report
    try:
        if finished_png(png, shown, f"redraw it with {redraw} --overwrite, or remove it"):
            return report
    except InputError as exc:
        report.status, report.error = "error", str(exc)
        return report
    warn(f"{shown}: is no PNG (left as it is), and none was drawn, as the scene was skipped (--skip-existing)")
    report.extra["quicklook"] = None
    return report


def end_if_failed(report: SceneReport) -> None:
    """End the run with the status of a skipped scene made an error (:func:`skipped_quicklook`),
    once its line was said."""
    status = failure_status([report.status])
    if status is not None:
        raise typer.Exit(status)


def scene_failed(shown: str, output: Path, exc: InputError, seconds: float, as_json: bool) -> NoReturn:
    """End the run on the scene's error with its scene line (every key, the output named), as a
    raster scene's error is said, not the command's error line; exit 2."""
    say(_report(shown, output, "error", seconds, str(exc)), as_json)
    raise typer.Exit(failure_status(["error"]))


def _report(shown: str, output: Path, status: str, seconds: float, error: Optional[str] = None) -> SceneReport:
    """The product scene's report when it ended before it was downscaled."""
    from pipelines.downscale import SceneReport

    return SceneReport(shown, str(output), status=status, seconds=seconds, error=error)


def _seconds_since(start: float) -> float:
    return round(time.perf_counter() - start, 3)


def _product_scale(tis: Product, mii: Product) -> Optional[int]:
    """The scale the ingested scene will have (its LST-to-guidance pixel-size ratio, as the ingest
    rounds it), read from the images' headers: options that depend on it are checked before the
    ingest, which takes a while and prints lines of its own."""
    import rasterio

    try:
        with rasterio.open(tis.images[0]) as lst, rasterio.open(mii.images[0]) as guidance:
            ratio = abs(lst.transform.a) / abs(guidance.transform.a)
    except Exception:  # noqa: BLE001 - the ingest reports an unreadable image itself
        return None
    return round(ratio) if round(ratio) >= 2 else None


def ingest_scene(scene: ProductScene, how: ProductIngest, as_json: bool, dem_warned: bool = True) -> float:
    """Ingest the scene's products (after every option was checked: a scene takes a while); the
    seconds it took (the scene's line counts them: ``seconds`` is the time the scene took). The
    output keeps the ingest's provenance tags as one made from the ingested pair does (the
    downscale reads them, :func:`pipelines.ingest_record.provenance_tags`). Bad products end the
    run on the scene's line. ``dem_warned`` False: the ingest's "no --dem given" warning is left
    to the downscale (a model reading the dem band) or unsaid (no model reads it): one warning;
    True (a fit, which learns from the band) says the constant band tells the fit nothing."""
    from pipelines.ingest import DEM_FILL_FIT, DEM_FILL_LATER, IngestWarning, ingest_product
    from pipelines.sdgsat import zones_warned_when_paired

    start = time.perf_counter()
    try:
        with (warnings_shown(IngestWarning), _unused_dem_unwarned(not dem_warned), zones_warned_when_paired(),
              progress() as bar):
            task = bar.add_task("ingest", total=None)
            ingest_product(
                scene.folders, scene.workdir, name=scene.name, **how.ingest_kwargs(),
                dem_fill_note=DEM_FILL_FIT if dem_warned else DEM_FILL_LATER,
                on_progress=lambda done, total, what: bar.update(
                    task, completed=done, total=total, description=f"ingest: {what}"))
    except InputError as exc:
        scene_failed(scene.shown, scene.output, exc, _seconds_since(start), as_json)
    info(f"ingested {scene.shown}")
    return _seconds_since(start)


@contextmanager
def _unused_dem_unwarned(unused: bool) -> Iterator[None]:
    """Drop the ingest's "no --dem given" warning when ``unused``: the constant the dem band is
    filled with changes nothing an interpolator writes, and a model reading the band is given
    its training mean instead, which the downscale says (worded for this command's --dem)."""
    with warnings.catch_warnings():
        if unused:
            from pipelines.ingest import NO_DEM_WARNING

            warnings.filterwarnings("ignore", message=NO_DEM_WARNING)
        yield

