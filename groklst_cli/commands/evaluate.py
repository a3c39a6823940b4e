"""``groklst evaluate``: a checkpoint and interpolation baselines on a split, Table IX style."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from groklst_cli.choices import DEVICE_HINT, lower_case
from groklst_cli.console import json_ok, one_line, progress, result, state, table_console
from groklst_cli.path_options import not_empty
from pipelines import strict_json
from pipelines.errors import InputError, TypedPath, naming_as_typed
from pipelines.metrics import METRIC_UNITS, METRICS, metric_text

if TYPE_CHECKING:
    from pipelines.evaluate import EvaluationRow

BASELINES = ("bicubic", "bilinear", "tsharp", "gwr", "dms")


def _baselines(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise InputError("--baselines", f"unknown baseline(s) {', '.join(unknown)}", f"use any of {', '.join(BASELINES)}")
    return names


def _table(rows: list[EvaluationRow], split: str, scale: int) -> Table:
    table = Table(title=f"x{scale} on the {split} split (Kelvin; per-image mean over valid pixels)",
                  caption=_fewer_note(rows), caption_justify="left")
    table.add_column("model")
    for name in METRICS:
        table.add_column(name.upper(), justify="right")
    table.add_column("images", justify="right")
    table.add_column("pixels", justify="right")
    for row in rows:
        m = row.metrics
        table.add_row(one_line(row.model), *(metric_text(m[k]) for k in METRICS), str(m["images"]), str(m["pixels"]))
    return table


def _fewer_note(rows: list[EvaluationRow]) -> str | None:
    """The line under the table saying which means are over fewer patches than ``images``: CC
    and RSD are undefined where the truth (CC: or the prediction) is constant, and those means
    are then over other patches than the row's RMSE. Rows are named only where they differ;
    None when every mean is over every patch."""
    counts = [", ".join(f"{m.upper()} {n}" for m, n in row.fewer().items()) for row in rows]
    if not any(counts):
        return None
    why = "undefined on a constant truth, CC also on a constant prediction"
    if len(set(counts)) == 1:
        return f"averaged over fewer patches ({why}): {counts[0]} of {rows[0].metrics['images']}"
    per_row = "; ".join(f"{one_line(row.model)}: {text or 'all'} of {row.metrics['images']}"
                        for row, text in zip(rows, counts))
    return f"averaged over fewer patches ({why}): {per_row}"


def evaluate_cmd(
    dataset: str = typer.Argument(..., parser=not_empty("DATASET", "name the prepared dataset folder (groklst prepare), e.g. ./ds", TypedPath), help="Prepared dataset folder (groklst prepare)."),
    checkpoint: str = typer.Option(..., "--checkpoint", "-c", parser=not_empty("-c", "name a checkpoint file, e.g. -c runs/r1/best.pt", TypedPath), help="Checkpoint file (best.pt of a run)."),
    split: str = typer.Option("test", "--split", callback=lower_case, help="train, val or test."),
    baselines: str = typer.Option("bicubic,bilinear", "--baselines", callback=lower_case, help="Comma-separated baselines to add: bicubic, bilinear, tsharp, gwr, dms (sharpeners fitted on each patch; '' for none)."),
    device: str = typer.Option("auto", "--device", callback=lower_case, help="auto, cpu or cuda."),
    as_json: bool = typer.Option(False, "--json", help="Print the rows as JSON on stdout."),
) -> None:
    """Score a checkpoint against baselines (interpolation, tsharp, gwr, dms): RMSE, MAE, BIAS, CC, RSD in Kelvin."""
    # Imported here so that `groklst --help` and the other commands start without torch.
    from pipelines.checkpoint import load_checkpoint
    from pipelines.dataset import open_prepared
    from pipelines.devices import resolve_device
    from pipelines.evaluate import evaluate

    state.working_on(dataset)  # as typed (``./ds/``): scripts join the lines on the names they gave
    if split not in ("train", "val", "test"):
        raise InputError("--split", f"unknown split {split!r}", "use train, val or test")
    names = _baselines(baselines)
    with naming_as_typed(checkpoint, dataset):
        ckpt = load_checkpoint(checkpoint)  # str: named, and the files hints name in them, as typed
        source = open_prepared(dataset)
    try:
        target = resolve_device(device)
    except ValueError as exc:
        raise InputError("--device", str(exc), DEVICE_HINT) from exc
    with progress() as bar:
        task = bar.add_task("evaluate", total=len(source.indices(split)) * (1 + len(names)))
        rows = evaluate(source, ckpt, checkpoint, split=split, baselines=names, device=target,
                        on_patch=lambda: bar.advance(task), dataset_named=dataset)
    if as_json:
        result(strict_json.dumps(json_ok({"dataset": dataset, "split": split, "scale": ckpt.scale,
                                          "metric_units": METRIC_UNITS, "rows": [r.to_json() for r in rows]})))
    else:
        table_console().print(_table(rows, split, ckpt.scale))


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate_cmd)
