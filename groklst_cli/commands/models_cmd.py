"""``groklst models``: every registered model with its size and cost per output megapixel.

A model that does not work at the requested scale is still listed, with its supported scales
and no size or cost (``null`` in the JSON).
"""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from groklst_cli.console import progress, result, table_console
from groklst_cli.cost_cache import CostCache
from pipelines import strict_json
from pipelines.errors import InputError

# Bounds of --scale and --bands: far above any real case (MODIS 1 km to 10 m is x100; a
# hyperspectral guidance stack has a few hundred bands), far below sizes torch cannot index.
MAX_SCALE = 1024
MAX_BANDS = 1024

COST_NOTE = (
    "GFLOP/Mpx: forward FLOPs per output megapixel from torch's FlopCounterMode "
    "(2 per multiply-add; interpolation, pooling and activations count as 0)."
)


def model_rows(scale: int, bands: int, lr_size: int = 64) -> list[dict[str, Any]]:
    """One record per registered model, measured at ``scale`` with ``bands`` guidance bands."""
    # Imported here so that `groklst --help` and the other commands start without torch.
    from models.registry import list_models

    specs = list_models()
    cache = CostCache.open()
    rows = []
    with progress() as bar:
        task = bar.add_task("measuring models", total=len(specs))
        for spec in specs:
            cost = _cost(cache, spec.name, scale, bands, lr_size) if spec.supports(scale) else None
            rows.append(
                {
                    "name": spec.name,
                    "guided": spec.guided,
                    "learned": spec.learned,
                    "scales": "any" if spec.scales is None else list(spec.scales),
                    "params": None if cost is None else cost[0],
                    "gflop_per_mpx": None if cost is None else round(cost[1], 3),
                    "scale": scale,
                    "guidance_bands": bands if spec.guided else 0,
                    "description": spec.description,
                }
            )
            bar.advance(task)
    cache.save()
    return rows


def _cost(cache: CostCache, name: str, scale: int, bands: int, lr_size: int) -> tuple[int, float]:
    """(parameters, GFLOP per output Mpx) of a model, from the cache or measured now."""
    from models.cost import model_cost

    key = CostCache.key(name, scale, bands, lr_size)
    cached = cache.get(key)
    if cached is None:
        cost = model_cost(name, scale, bands, lr_size)
        cached = cost.params, cost.gflop_per_mpx
        cache.put(key, *cached)
    return cached


def _kind(row: dict[str, Any]) -> str:
    if not row["learned"]:
        return "fixed"
    return "guided" if row["guided"] else "single-image"


# Below this many columns left for it, descriptions go in a list under the table instead of
# a column that wraps them one word per line.
MIN_DESCRIPTION_WIDTH = 40


def _table(rows: list[dict[str, Any]], scale: int, bands: int, *, descriptions: bool) -> Table:
    table = Table(title=f"groklst models at x{scale} ({bands} guidance bands)", caption=COST_NOTE)
    columns = [("name", "left"), ("kind", "left"), ("scales", "left"),
               ("params", "right"), ("GFLOP/Mpx", "right")]
    if descriptions:
        columns.append(("description", "left"))
    for header, justify in columns:
        # numbers and names never wrap; the description takes what width is left
        table.add_column(header, justify=justify, no_wrap=header != "description")  # type: ignore[arg-type]
    for row in rows:
        supported = row["params"] is not None
        scales = row["scales"]
        cells = [
            row["name"],
            _kind(row),
            scales if scales == "any" else ",".join(str(s) for s in scales),
            f"{row['params']:,}" if supported else f"not x{scale}",
            f"{row['gflop_per_mpx']:,.1f}" if supported else "-",
        ]
        table.add_row(*cells, *([row["description"]] if descriptions else []))
    return table


def _description_list(rows: list[dict[str, Any]]) -> Table:
    """Name and description per model, the description wrapping in the width the name leaves."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True)
    grid.add_column()
    for row in rows:
        grid.add_row(row["name"], row["description"])
    return grid


def print_table(console: Console, rows: list[dict[str, Any]], scale: int, bands: int) -> None:
    """The table, with descriptions as a column where the terminal is wide enough for them."""
    narrow = _table(rows, scale, bands, descriptions=False)
    room = console.width - console.measure(narrow).maximum
    if room >= MIN_DESCRIPTION_WIDTH:
        console.print(_table(rows, scale, bands, descriptions=True))
        return
    console.print(narrow)
    console.print(_description_list(rows))


def _check_bound(option: str, value: int, low: int, high: int) -> None:
    """Refuse a value outside ``low..high`` before torch sees it (a huge one overflows its sizes)."""
    if not low <= value <= high:
        raise InputError(option, f"must be an integer from {low} to {high}, not {value}")


def register(app: typer.Typer) -> None:
    @app.command("models")
    def models_command(
        scale: int = typer.Option(4, "--scale", "-s", help=f"Integer downscaling factor, 2 to {MAX_SCALE}."),
        bands: int = typer.Option(
            10, "--bands", help=f"Number of guidance bands for guided models, 1 to {MAX_BANDS}."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON list instead of a table."),
    ) -> None:
        """List every model with its parameters and GFLOP per output megapixel."""
        _check_bound("--scale", scale, 2, MAX_SCALE)
        _check_bound("--bands", bands, 1, MAX_BANDS)
        rows = model_rows(scale, bands)
        if as_json:
            result(strict_json.dumps(rows, indent=2))
        else:
            print_table(table_console(soft_wrap=False), rows, scale, bands)
