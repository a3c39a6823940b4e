"""``groklst compare``: LST rasters scored against a reference raster with the paper's metrics."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.table import Table

from groklst_cli import lst_options
from groklst_cli.choices import lower_case
from groklst_cli.console import info, json_ok, one_line, progress, result, state, table_console
from groklst_cli.path_options import not_empty, rasters_only
from pipelines import strict_json
from pipelines.units import Units

if TYPE_CHECKING:  # the comparison is imported when rasters are compared
    from pipelines.compare import Comparison


def _table(comparison) -> Table:  # noqa: ANN001 - pipelines.compare.Comparison, imported lazily
    from pipelines.metrics import METRICS, metric_text
    from pipelines.percent import percent

    pixels = "1 common pixel" if comparison.pixels == 1 else f"{comparison.pixels:,} common pixels"
    table = Table(title=f"against the reference on {pixels} "
                        f"({comparison.grid}; Kelvin)")
    table.add_column("candidate")
    for name in METRICS:
        table.add_column(name.upper(), justify="right")
    table.add_column("written", justify="right")
    for row in comparison.rows:
        table.add_row(one_line(row["candidate"]), *(metric_text(row[m]) for m in METRICS), f"{percent(row['written'])} %")
    return table


def _as_typed(comparison: Comparison, candidates: list[str]) -> Comparison:
    """``comparison`` with each row's candidate named as typed (``./a.tif``, ``a//b.tif``, which
    pathlib folds): a row per candidate, in their order."""
    rows = [{**row, "candidate": typed} for row, typed in zip(comparison.rows, candidates)]
    return replace(comparison, rows=rows)


def compare_cmd(
    reference: str = typer.Argument(..., parser=not_empty("REFERENCE", "name the reference LST raster, e.g. truth.tif", str), help="The reference LST raster (the truth), e.g. a finer LST of the same date."),
    candidates: list[str] = typer.Argument(..., parser=not_empty("CANDIDATES", "name the LST rasters to score, e.g. scene_10m.tif", str), help="LST rasters to score: downscaled outputs, baselines (groklst downscale --model bicubic)."),
    units: Units = lst_options.units_option(),
    nodata: Optional[list[float]] = lst_options.nodata_option(),
    scale_factor: Optional[float] = lst_options.scale_factor_option(),
    offset: Optional[float] = lst_options.offset_option(),
    mask_implausible: bool = lst_options.mask_implausible_option(),
    aggregate: str = typer.Option("kelvin", "--aggregate", callback=lower_case, help="Average finer rasters onto the coarsest grid in kelvin or in radiance (T^4, Stefan-Boltzmann)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (grid, pixels, rows) on stdout."),
) -> None:
    """Score LST rasters against a reference: RMSE, MAE, BIAS, CC, RSD in Kelvin (paper eq. 11-16).

    The LST options say how the reference's stored values read (as downscale reads an LST);
    candidates are read by the default rule, Kelvin or Celsius from their values (their nodata,
    scale and offset from their files: gdal_edit.py -a_nodata/-scale/-offset). The rasters
    must share a CRS and nest: finer ones are averaged onto the coarsest grid (--aggregate
    kelvin: mean temperature; radiance: the temperature of the mean T^4). Every candidate
    is scored on the same pixels (where the reference and all candidates have data); "written"
    is the share of the reference's valid pixels a candidate covers, and a warning names the
    candidates when under 95 % of the reference's valid pixels are scored. Each candidate's content
    offset against the reference is measured (--json "shift": pixels and map units, x east, y north;
    null when not measurable) and a reliable one of half a pixel or more is warned about.
    Any raster may come through a pipe (compare truth.tif <(gunzip -c cand.tif.gz), /dev/stdin):
    it is read into memory, up to half the machine's, and must be a GeoTIFF.
    """
    from pipelines.compare import compare
    from pipelines.metrics import METRIC_UNITS

    state.working_on(reference)  # as typed (``./truth.tif``): scripts join the lines on the names they gave
    truth, scored = Path(reference), [Path(c) for c in candidates]
    rasters_only("compare", [truth, *scored], reads_pipes=True)
    decoding = lst_options.lst_decoding(nodata, scale_factor, offset, mask_implausible)
    with progress() as bar:
        task = bar.add_task("compare", total=None)
        comparison = compare(truth, scored, units=units, decoding=decoding, aggregate=aggregate,
                             on_progress=lambda done, total: bar.update(task, completed=done, total=total))
    comparison = _as_typed(comparison, candidates)
    if as_json:
        result(strict_json.dumps(json_ok({
            "reference": reference, "reference_units": comparison.reference_units.value,
            "grid": comparison.grid, "aggregate": aggregate, "pixels": comparison.pixels,
            "metric_units": METRIC_UNITS, "rows": comparison.rows})))
        return
    info(f"reference {reference} in {comparison.reference_units.value}; compared at {comparison.grid}")
    table_console().print(_table(comparison))


def register(app: typer.Typer) -> None:
    app.command("compare")(compare_cmd)
