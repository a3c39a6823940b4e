"""``groklst checkpoint-info``: the card of a checkpoint (model, scale, bands, statistics, training)."""

from __future__ import annotations

from pathlib import Path

import typer

from groklst_cli.console import json_ok, one_line, result, state
from groklst_cli.path_options import not_empty
from pipelines import strict_json


def checkpoint_info(
    checkpoint: Path = typer.Argument(..., parser=not_empty("CHECKPOINT", "name a checkpoint file, e.g. models/pretrained/mocolsk-lite-x3-sdgsat.pt"), help="A groklst checkpoint (.pt), e.g. models/pretrained/mocolsk-lite-x3-sdgsat.pt."),
    as_json: bool = typer.Option(False, "--json", help="Print the card as one JSON object."),
) -> None:
    """Model, scale, guidance bands in order, training resolution, statistics, training config,
    groklst version and sha256 of a checkpoint."""
    from pipelines.checkpoint_card import checkpoint_card, format_card

    state.working_on(checkpoint)
    card = checkpoint_card(checkpoint)
    if as_json:  # input, output (none) and status as every command's object, then the card
        result(strict_json.dumps(json_ok(card)))
    else:
        for line in format_card(card):  # values from the file (a path, band names) kept on their line
            result(one_line(line))


def register(app: typer.Typer) -> None:
    app.command("checkpoint-info")(checkpoint_info)
