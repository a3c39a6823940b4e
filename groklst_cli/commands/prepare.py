"""``groklst prepare``: canonical scenes or the GrokLST benchmark -> training dataset."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from groklst_cli.console import (info, json_ok, one_line, progress, result, result_path, state, table_console,
                                 warn, warnings_shown)
from groklst_cli import guidance_options, ingest_options, lst_options
from groklst_cli.choices import lower_case
from groklst_cli.commands.sample_scene import check_seed
from groklst_cli.interrupts import reported_once_published
from groklst_cli.option_sources import was_given
from groklst_cli.path_options import not_empty
from pipelines import strict_json
from pipelines.atomic import (INGEST_PREFIX, OutputKind, check_writable, folders_removed_if_left_empty,
                              remove_stale_ingests)
from pipelines.errors import InputError, TypedPath, naming_as_typed
from pipelines.patches import SPLITS, parse_ratios
from pipelines.units import Units


def _scales(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values:
        raise InputError("--scales", f"{text!r} is not a comma-separated list of integers", "e.g. --scales 2,4,8")
    return values


def _check_numbers(hr_res: Optional[float], seed: int) -> None:
    """Refuse an infinite or NaN --hr-res (the HR grid's size would overflow) and a seed train
    would refuse, before anything is read or written."""
    if hr_res is not None and not math.isfinite(hr_res):
        raise InputError("--hr-res", f"must be a finite positive resolution in CRS units, not {hr_res}",
                         "e.g. --hr-res 30, or leave it out for the LST's own")
    check_seed(seed)


def _summary_table(summary: dict[str, Any]) -> Table:
    resolution = f"{summary['hr_resolution']:g} {summary['hr_resolution_units']}"
    table = Table(title=f"{one_line(summary['path'])}  ({resolution} HR, {summary['patch']} px patches)")
    table.add_column("split")
    table.add_column("patches", justify="right")
    for scale in summary["scales"]:
        table.add_column(f"LR x{scale}", justify="right")
    for split in SPLITS:
        n = summary["patches"][split]
        p = summary["patch"]
        table.add_row(split, str(n), *[f"{n} x {p // s}x{p // s}" for s in summary["scales"]])
    return table


def _stats_table(summary: dict[str, Any]) -> Table:
    stats = summary["stats"]
    table = Table(title=f"z-score statistics (train split, {stats['n_pixels']} LST pixels)")
    table.add_column("variable")
    table.add_column("mean", justify="right")
    table.add_column("std", justify="right")
    table.add_row("lst (K)", f"{stats['lst_mean']:.4g}", f"{stats['lst_std']:.4g}")
    for band, mean, std in zip(stats["bands"], stats["band_mean"], stats["band_std"]):
        table.add_row(one_line(band), f"{mean:.4g}", f"{std:.4g}")
    return table


def _show_info(path: str, as_json: bool) -> None:
    """The summary of the dataset at ``path``, named as typed (``./ds/``) in its table and --json."""
    from pipelines.dataset import summarize

    with naming_as_typed(path):
        summary = {**summarize(path), "path": path}
    if as_json:
        result(strict_json.dumps(json_ok(summary)))
        return
    out = table_console()
    out.print(_summary_table(summary))
    out.print(
        f"dropped: {summary['dropped_nodata']} for nodata, "
        f"{summary['dropped_split_boundary']} straddling two splits"
    )
    out.print(_stats_table(summary))
    for name, record in summary["ingests"].items():
        if record is not None:
            out.print(one_line(f"{name}: ingested from product folders; " + "; ".join(
                record["tags"][tag] for tag in INGEST_OUTCOMES if tag in record["tags"])))


INGEST_OUTCOMES = ("coregistration", "tis_band_registration", "tis_destriping", "mii_saturation", "dem_source")


def _bar_hook(bar: Any) -> Callable[[str, int, int], None]:
    tasks: dict[str, Any] = {}

    def update(kind: str, done: int, total: int) -> None:
        if kind not in tasks:
            tasks[kind] = bar.add_task(kind, total=total)
        bar.update(tasks[kind], completed=done, total=total)

    return update


PRODUCT_OPTIONS = {"dem": "--dem", "coregister": "--no-coregister", "destripe": "--destripe",
                   "saturated": "--saturated", "saturation_dn": "--mii-saturation-dn",
                   "lst_method": "--lst-method", "retrieval_config": "--retrieval-config"}  # parameter -> option, for SDGSAT-1 folders only


def _check_product_options(ctx: typer.Context, inputs: list[str]) -> None:
    """Refuse options that only say how product folders are ingested when none is given: they
    would be silently ignored."""
    if any(Path(p).is_dir() for p in inputs):
        return
    for name, flag in PRODUCT_OPTIONS.items():
        if was_given(ctx, name):
            raise InputError(flag, "applies to SDGSAT-1 product folders given as inputs",
                             "pass the TIS and MII product folders, or leave it out")


def _check_lst_file_options(ctx: typer.Context, inputs: list[str]) -> None:
    """Refuse --scale-factor, --offset, --nodata, --mask-implausible and --units when a product
    folder is among the inputs: every scene is read with them, the LST retrieved from the folders
    too, so they would rescale groklst's own Kelvin LST."""
    folders = [p for p in inputs if Path(p).is_dir()]
    if not folders:
        return
    mixed = len(folders) < len(inputs)
    lst_options.refuse_for_products(ctx, "drop {option}" + (
        "; LST files that need it: prepare them without the product folders" if mixed else ""))


_SPLIT_OWN = "its split is the benchmark's own (split/train.txt, val.txt, test.txt)"
_LR_READ = "its LR LST is read from the 60m/120m/240m .mat files, not degraded from the HR LST"
_INGEST_ONLY = "it says how SDGSAT-1 product folders are ingested, and the benchmark is .mat files"
# parameter -> what a GrokLST import does instead of the option (import_groklst takes none of them)
GROKLST_INSTEAD = {
    **{name: "its .mat files hold the LST in Kelvin, read as they are" for name in lst_options.LST_FILE_PARAMS},
    "scales": "the dataset gets every LR scale the benchmark folder holds (60m, 120m, 240m: x2, x4, x8)",
    "hr_res": "its HR LST is the 30 m LST of 30m/lst, taken as it is",
    "patch": "each .mat file is one patch, taken whole at its own size",
    "stride": "each .mat file is one patch, taken whole at its own size",
    "split": _SPLIT_OWN, "seed": _SPLIT_OWN, "split_by": _SPLIT_OWN, "split_block": _SPLIT_OWN,
    "max_nodata": "every patch its split lists is kept as it is",
    "degrade": _LR_READ, "aggregate": _LR_READ, "lr_nodata": _LR_READ,
    "guidance_bands": "its .mat files name the guidance bands ({bands})",
    "align": "its guidance is read from the .mat files, on the HR LST's grid",
    **{name: _INGEST_ONLY for name in PRODUCT_OPTIONS},
}


def _refuse_options_for_groklst(ctx: typer.Context) -> None:
    """Refuse the first option given with --from-groklst that the import does not use
    (:data:`GROKLST_INSTEAD`), saying what it does instead: the option was silently ignored
    (``--scales 4`` gave a dataset of x2 and x4)."""
    from pipelines.grokmat import GROKLST_BANDS  # scipy: not at the CLI's start

    for param in ctx.command.params:
        if param.name in GROKLST_INSTEAD and was_given(ctx, param.name):
            option = _option_as_given(param, ctx.params.get(param.name))
            raise InputError(option, "does not apply to a GrokLST import (--from-groklst): "
                             + GROKLST_INSTEAD[param.name].format(bands=", ".join(GROKLST_BANDS)),
                             f"drop {option}")


def _option_as_given(param: Any, value: Any) -> str:
    """The name of ``param`` as the user typed it: ``--no-coregister`` (a flag's off form)
    when it set the flag to False, else its first name."""
    if value is False and getattr(param, "secondary_opts", None):
        return param.secondary_opts[0]
    return param.opts[0]


def prepare_cmd(
    ctx: typer.Context,
    inputs: Optional[list[str]] = typer.Argument(None, parser=not_empty("INPUTS", "name a scene NAME_lst.tif or an SDGSAT-1 product folder", TypedPath), help="Canonical scenes NAME_lst.tif (NAME_guidance.tif beside, or one --guidance for all) or SDGSAT-1 product folders."),
    out: Optional[str] = typer.Option(None, "--out", "-o", parser=not_empty("-o", "name the dataset folder to create, e.g. -o ds", TypedPath), help="Dataset folder to create."),
    scales: str = typer.Option("2,4,8", "--scales", help="Comma-separated integer downscaling factors."),
    hr_res: Optional[float] = typer.Option(None, "--hr-res", help="HR resolution in CRS units (default: the LST's native resolution)."),
    patch: int = typer.Option(512, "--patch", help="Patch size in HR pixels (a multiple of every scale)."),
    stride: int = typer.Option(256, "--stride", help="Distance between patches in HR pixels."),
    split: str = typer.Option("6:1:3", "--split", help="TRAIN:VAL:TEST proportions."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split (same inputs + seed = same split)."),
    max_nodata: float = typer.Option(0.0, "--max-nodata", help="Largest nodata fraction a kept patch may have."),
    degrade: str = typer.Option("mtf", "--degrade", callback=lower_case, help="mtf (default: Gaussian matched to the sensor MTF, then decimation, as a real sensor blurs) or area (exact block mean, sharper than a sensor)."),
    aggregate: str = typer.Option("radiance", "--aggregate", callback=lower_case, help="Degrade LST in radiance (default: T^4, Stefan-Boltzmann, as a sensor integrates) or in kelvin; the HR target at --hr-res too."),
    lr_nodata: str = typer.Option("any", "--lr-nodata", callback=lower_case, help="An LR pixel is nodata when any (default) or all of its HR pixels are."),
    split_by: str = typer.Option("block", "--split-by", callback=lower_case, help="block (spatial blocks on the map) or scene (whole scenes)."),
    split_block: Optional[int] = typer.Option(None, "--split-block", help="Side of the spatial split blocks in HR pixels (default: 2 x patch)."),
    guidance: Optional[str] = typer.Option(None, "--guidance", "-g", parser=not_empty("--guidance", "name a guidance raster, or drop --guidance", TypedPath), help="One guidance raster for every scene (e.g. static guidance for many dates), instead of NAME_guidance.tif beside each."),
    align: bool = typer.Option(False, "--align", help="Resample --guidance onto each scene's LST grid first (any CRS, resolution, origin; as groklst guidance does)."),
    guidance_bands: Optional[str] = guidance_options.guidance_bands_option(),
    dem: Optional[str] = typer.Option(None, "--dem", parser=not_empty("--dem", "name a DEM raster, or drop --dem", TypedPath), help="DEM for SDGSAT-1 product folders (as groklst ingest --dem)."),
    coregister: bool = typer.Option(True, "--coregister/--no-coregister", help="For SDGSAT-1 product folders: move the LST onto the MII, and TIS B3 onto B2, when they are misregistered (as groklst ingest)."),
    destripe: bool = typer.Option(False, "--destripe/--no-destripe", help="For SDGSAT-1 product folders: remove TIS B2's detector stripes (as groklst ingest --destripe; off by default)."),
    saturated: str = ingest_options.saturated_option(),
    saturation_dn: Optional[str] = ingest_options.saturation_dn_option(),
    lst_method: str = ingest_options.lst_method_option(),
    retrieval_config: Optional[Path] = ingest_options.retrieval_config_option(),
    from_groklst: Optional[str] = typer.Option(None, "--from-groklst", parser=not_empty("--from-groklst", "name the GrokLST benchmark folder", TypedPath), help="Import the public GrokLST benchmark folder instead of scenes."),
    show_info: Optional[str] = typer.Option(None, "--info", parser=not_empty("--info", "name a prepared dataset folder, e.g. --info ./ds", TypedPath), help="Print a summary of an existing dataset and exit."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output on stdout."),
    units: Units = lst_options.units_option(),
    nodata: Optional[list[float]] = lst_options.nodata_option(),
    scale_factor: Optional[float] = lst_options.scale_factor_option(),
    offset: Optional[float] = lst_options.offset_option(),
    mask_implausible: bool = lst_options.mask_implausible_option(),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing dataset."),
) -> None:
    """Build a Wald-protocol training dataset (HR LST, LR LST per scale, guidance, georeferencing).

    Every LST is read by the rule downscale reads with: stored values -> --nodata, --scale-factor
    and --offset (else the file's own) -> --units; a scene whose values are not plausible
    land-surface temperatures (150-400 K, -120..120 degC) is refused, never training data.
    """
    # Imported here so that `groklst --help` and the other commands start without dask.
    from pipelines.grokmat import import_groklst
    from pipelines.prepare import PrepareOptions, SharedGuidance, prepare, scene_inputs
    from pipelines.product_ingest import ProductIngest

    _name_the_run(inputs or [], out, from_groklst, show_info)  # as typed (``./ds/``), as every line names them
    if show_info is not None:
        _show_info(show_info, as_json)
        return
    if out is None:
        raise InputError("--out", "no output dataset given", "add --out DATASET")
    dataset = Path(out)
    ctx.with_resource(folders_removed_if_left_empty(dataset.parent))  # folders it made, when it writes nothing
    ctx.with_resource(reported_once_published(dataset))  # a Ctrl-C after the rename waits for the result line
    with naming_as_typed(out, from_groklst, guidance, dem, *(inputs or [])), progress() as bar:  # errors name them as typed
        hook = _bar_hook(bar)
        if from_groklst is not None:
            if inputs:
                raise InputError("--from-groklst", "give either scenes or --from-groklst, not both")
            if guidance is not None:
                raise InputError("--guidance", "does not apply to --from-groklst (its .mat files hold the guidance)")
            _refuse_options_for_groklst(ctx)
            summary = import_groklst(Path(from_groklst), dataset, overwrite=overwrite, on_progress=hook)
        else:
            if not inputs:
                raise InputError("INPUTS", "no scene given", "groklst prepare SCENE_lst.tif --out DATASET")
            if align and guidance is None:
                raise InputError("--align", "aligns the --guidance raster onto each LST grid", "pass --guidance G.tif")
            _check_numbers(hr_res, seed)
            _check_lst_file_options(ctx, inputs)
            options = PrepareOptions(
                scales=_scales(scales), hr_resolution=hr_res, patch=patch, stride=stride,
                ratios=parse_ratios(split), seed=seed, max_nodata=max_nodata, degrade=degrade,
                aggregate=aggregate, lr_nodata=lr_nodata, split_by=split_by, split_block=split_block,
                units=units, decoding=lst_options.lst_decoding(nodata, scale_factor, offset, mask_implausible),
                guidance_bands=guidance_options.band_list(guidance_bands),
            )
            check_writable(dataset, overwrite, kind=OutputKind.dataset)
            _check_product_options(ctx, inputs)
            saturation = ingest_options.saturation_options(saturated, saturation_dn)
            options = replace(options, ingest=ProductIngest(None if dem is None else Path(dem), coregister, destripe, saturation, lst_method,
                                                            retrieval_config))
            options.ingest.check()
            products = any(Path(p).is_dir() for p in inputs)
            if guidance is not None and products:
                raise InputError("--guidance", "does not apply to SDGSAT-1 product folders: the MII product is the guidance",
                                 "drop it, or ingest with groklst ingest and pass your own guidance")
            # Product folders are ingested beside the output (same disk), then removed; none is made
            # for LST files (QA: an empty one was left beside the dataset by a kill -9, unexplained).
            remove_stale_ingests(dataset.parent)
            ingest_folder = (tempfile.TemporaryDirectory(dir=dataset.parent, prefix=INGEST_PREFIX) if products
                             else nullcontext(str(dataset.parent)))
            with ingest_folder as workdir:
                with warnings_shown():
                    paths, shown, ingests = scene_inputs(list(inputs), Path(workdir), options.ingest,
                                                         on_scenes=partial(_name_several_scenes, out))
                summary = prepare(paths, dataset, options, overwrite=overwrite, on_progress=hook, shown=shown,
                                  guidance=None if guidance is None else SharedGuidance(Path(guidance), align, guidance),
                                  ingests=ingests)
    if units is Units.auto and (line := celsius_warning(_scenes_as_typed(summary, inputs or []))):
        warn(line)
    counts = summary["patches"]
    ratios = summary["settings"].get("ratios", (1.0, 1.0, 1.0))
    for split, share in zip(SPLITS, ratios):
        if counts[split] == 0 and share > 0:
            warn(f"the {split} split is empty (more scenes, a smaller --split-block or --patch help)")
    info(
        f"{out}: {summary['total']} patches (train {counts['train']}, val {counts['val']}, "
        f"test {counts['test']}); dropped {summary['dropped_nodata']} for nodata, "
        f"{summary['dropped_split_boundary']} straddling two splits"
    )
    if as_json:
        result(_json_line(out, summary))
    else:
        result_path(out)


def _scenes_as_typed(summary: Mapping[str, Any], inputs: list[str]) -> list[dict[str, Any]]:
    """The summary's scenes, each LST named as typed (``./d/x_lst.tif``) where it is an input
    (info.json records it absolute; an ingested scene by its product folders)."""
    from pipelines.prepare import recorded_path  # rasterio: not at the CLI's start

    typed = {recorded_path(Path(name)): name for name in inputs}
    return [{**scene, "lst": typed.get(scene["lst"], scene["lst"])} for scene in summary.get("scenes", {}).values()]


def _name_the_run(inputs: list[str], out: Optional[str], from_groklst: Optional[str],
                  show_info: Optional[str]) -> None:
    """The input and output the ``--json`` lines name: the dataset shown (``--info``), the
    GrokLST folder, or the one scene (one LST, or the product folders of one scene; several
    scenes: none, as ``downscale`` names none), and the dataset written."""
    if show_info is not None:
        state.working_on(show_info)
    elif from_groklst is not None:
        state.working_on(from_groklst, out)
    elif inputs and (len(inputs) == 1 or all(Path(p).is_dir() for p in inputs)):
        state.working_on(", ".join(inputs), out)
    else:
        state.working_on(None, out)


def _name_several_scenes(out: str, scenes: int) -> None:
    """Name no input once the folders given turn out to be several scenes' products (each
    folder a scene), as for several LSTs: the --json lines name the command's one input only."""
    if scenes > 1:
        state.working_on(None, out)


def _json_line(out: str, summary: Mapping[str, Any]) -> str:
    """The ``--json`` result: the run's input and output, the dataset (as typed), its counts and
    every warning said (each once), as ``ingest --json`` and ``downscale --json`` list theirs."""
    counts = {k: summary[k] for k in ("patches", "total", "dropped_nodata", "dropped_split_boundary")}
    return strict_json.dumps(json_ok({"dataset": out, **counts}))


def celsius_warning(scenes: Iterable[Mapping[str, str]]) -> str | None:
    """A single warning line covering all the scenes whose LST ``--units auto`` took as degrees
    Celsius from its values (every date of a Landsat archive), or None when there is none. A
    scene whose unit tag says Celsius needs no warning: the conversion is what the file says."""
    scenes = list(scenes)
    found = [scene["lst"] for scene in scenes
             if scene.get("lst_units") == "celsius" and scene.get("lst_units_from") != "tag"]
    if not found:
        return None
    which = found[0] if len(found) == 1 else (
        f"{'all' if len(found) == len(scenes) else f'{len(found)} of'} {len(scenes)} scenes "
        f"({found[0]} and {len(found) - 1} more)"
    )
    return f"{which}: LST looks like degrees Celsius; converted to Kelvin (--units celsius says so and silences this)"


def register(app: typer.Typer) -> None:
    app.command("prepare")(prepare_cmd)
