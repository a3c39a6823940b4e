"""How ``downscale`` reports each scene and turns the outcomes into its exit status."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from groklst_cli.console import err, info, result, result_path, state, warn
from groklst_cli.interrupts import signals_wait
from pipelines import strict_json
from pipelines.errors import escape_control_characters, printable_path, unmistakable_path

if TYPE_CHECKING:
    from pipelines.downscale import SceneReport

EXIT_ALL_EMPTY = 3


@dataclass(frozen=True)
class TypedNames:
    """The run's paths as the user typed them (``./a/x_lst.tif``, ``a//x_lst.tif``, ``-o ./o.tif``),
    by the name groklst opened them under, which pathlib folds (``a/x_lst.tif``): a scene's line
    names them as typed, so a script matches it with the names it gave (``find .`` prints ``./``)."""

    names: dict[str, str] = field(default_factory=dict)  # an input or -o as opened -> as typed
    out_dir: str | None = None  # --out-dir as typed
    quicklook: str | None = None  # --quicklook as typed (one input only)

    def output(self, opened: str) -> str:
        """An output as typed: ``-o``, or the file's name under ``--out-dir`` as typed."""
        if opened in self.names:
            return self.names[opened]
        if self.out_dir is not None and Path(opened).parent == Path(self.out_dir):
            return os.path.join(self.out_dir, Path(opened).name)
        return opened


_typed: ContextVar[TypedNames | None] = ContextVar("typed_names", default=None)  # the running command's


def name_as_typed(ctx: typer.Context, typed: TypedNames) -> None:
    """Make the command's scene lines (:func:`say`) name its paths as ``typed``, until it ends."""
    token = _typed.set(typed)
    ctx.call_on_close(lambda: _typed.reset(token))


def typed_name(opened: str) -> str:
    """An input as typed (:class:`TypedNames`), for a line about it other than its report."""
    typed = _typed.get()
    return opened if typed is None else typed.names.get(opened, opened)


def typed_output(opened: str) -> str:
    """An output as typed (:meth:`TypedNames.output`), for a line about it other than its report."""
    typed = _typed.get()
    return opened if typed is None else typed.output(opened)


def typed_quicklook(png: Path) -> str:
    """The --quicklook PNG as typed (``./q.png``, which pathlib folds to ``q.png``)."""
    typed = _typed.get()
    return typed.quicklook if typed is not None and typed.quicklook is not None else str(png)


def _as_typed(report: SceneReport) -> SceneReport:
    """``report`` with its input and output, also in its error, named as typed (:class:`TypedNames`)."""
    typed = _typed.get()
    if typed is None:
        return report
    names = {**typed.names, report.output: typed.output(report.output)}
    return replace(report, input=names.get(report.input, report.input), output=names[report.output],
                   error=report.error and _renamed(report.error, names))


def _renamed(text: str, names: dict[str, str]) -> str:
    """``text`` with each path of ``names`` (whole, not a part of a longer path) as typed."""
    changed = {opened: typed for opened, typed in names.items() if opened != typed}
    if not changed:
        return text
    alternatives = "|".join(map(re.escape, sorted(changed, key=len, reverse=True)))
    return re.sub(rf"(?<![\w./-])(?:{alternatives})(?![\w./-])", lambda m: changed[m.group(0)], text)


def say(report: SceneReport, as_json: bool) -> None:
    """One scene's outcome: the output path (or a JSON line) on stdout, how it went on stderr.

    The stderr line is written even when stdout's reader went away (``| head``), and the
    outcome is kept in ``state.outcomes``: a run stopped by that still says a scene's error and
    exits with its status (``groklst_cli.app.run``)."""
    report = replace(report, input=state.named(report.input),
                     error=state.named(report.error) if report.error else report.error)
    warned = _line_warnings(report.input, _held())
    report = _as_typed(report)
    state.outcomes.append(report.status)
    try:
        _say_result(report, as_json, warned)
    finally:
        _say_how_it_went(report)
        state.scene_said()


# the warnings held by the command whose scene outcomes are this list (:func:`_held`)
_held_by: ContextVar[tuple[list[str], list[str]] | None] = ContextVar("held_warnings", default=None)


def _held() -> list[str]:
    """The warnings said before the command's first scene line that name one of its inputs,
    held from the first line on: each goes on the line of the scene it names. Before the
    scenes, the command checks the first scenes' LSTs (a JPEG LST is warned of there, and its
    scene, also on a dask worker, does not say it again), and a cluster's first line is that of
    whichever scene finished first, a local run's that of a scene the check refused."""
    held = _held_by.get()
    if held is None or held[0] is not state.outcomes:  # another command's (tests run many)
        held = (state.outcomes, _naming_inputs(state.warned[state.scene_warnings_from:]))
        _held_by.set(held)
    return held[1]


def _naming_inputs(warned: list[str]) -> list[str]:
    """Those of ``warned`` that name one of the run's inputs (:class:`TypedNames`)."""
    typed = _typed.get()
    inputs = () if typed is None else typed.names
    return [text for text in warned if any(_names(text, path) for path in inputs)]


def _line_warnings(scene: str, held: Sequence[str]) -> list[str]:
    """The warnings said for the scene ``scene`` (the run's own and the scene's,
    ``state.scene_warnings``), with of those ``held`` only the ones naming ``scene``."""
    warned = state.scene_warnings()
    if not held:
        return warned
    return list(dict.fromkeys([text for text in warned if text not in held] +
                              [text for text in held if _names(text, scene)]))


def _names(text: str, path: str) -> bool:
    """Whether the warning ``text`` is about the file ``path`` (it starts with its name, as
    groklst's warnings about a file do)."""
    return any(text.startswith(f"{form}: ") for form in {printable_path(path), unmistakable_path(PurePath(path))})


def _say_result(report: SceneReport, as_json: bool, warned: list[str]) -> None:
    """The scene's line on stdout: its JSON object (with ``warned``, the warnings said for it),
    or the output's path when it was written."""
    if as_json:
        keys = ("input", "output", "status", "seconds", "megapixels", "error", "grid", "units",
                "tiles", "tiles_skipped", "valid_fraction", "hole_margin")
        data = asdict(report)
        line = {k: data[k] for k in keys}
        line["warnings"] = warned
        for key in ("fit", "save_checkpoint", "lst_covered_fraction", "lst_without_guidance_fraction"):
            if key in report.extra:
                line[key] = report.extra[key]
        line.update(_quicklook(report))
        result(strict_json.dumps(line))
    elif report.status == "ok":
        result_path(report.output)


def _quicklook(report: SceneReport) -> dict[str, str | None]:
    """The --json line's ``quicklook`` key: the PNG as typed where the scene drew it, or was
    skipped beside it (a script tells "PNG present" from a run without --quicklook, which has
    no key); ``None`` where it was skipped without it (``_downscale_products.skipped_quicklook``)."""
    typed = _typed.get()
    png = typed.quicklook if typed is not None else None
    if "quicklook" in report.extra:
        drawn = report.extra["quicklook"]
        return {"quicklook": png if drawn is not None and png is not None else drawn}
    if report.status == "skipped" and png is not None and os.path.exists(png):
        return {"quicklook": png}
    return {}


def _say_how_it_went(report: SceneReport) -> None:
    """The scene's line on stderr: its error, why it is empty, or what was written."""
    if report.status in ("error", "failed"):
        # a scene's error about another file (its guidance, its output) also names the scene
        named = printable_path(report.input)
        scene = "" if named in (report.error or "") else f" (scene {unmistakable_path(PurePath(report.input))})"
        line = f"{report.error}{scene}"  # one line, unless --debug asked for the traceback
        line = line if state.debug else escape_control_characters(line)
        err.print(f"[bold red]error:[/bold red] {escape(line)}", markup=True)
    elif report.status == "empty":
        warn(f"{report.error}; nothing written")
    elif report.status == "skipped":
        info(f"skipped {printable_path(report.input)}: {printable_path(report.output)} exists{_unsaved(report)}")
    else:
        info(f"{printable_path(report.input)} -> {printable_path(report.output)} "
             f"({report.megapixels:g} Mpx in {report.seconds:g} s; "
             f"{report.units}{_coverage(report)})")


def unsaved_checkpoint(report: SceneReport, path: Path | None) -> SceneReport:
    """``report``, when its scene was skipped, naming the ``--save-checkpoint`` file ``path`` it
    did not write and whether one is there (left unchanged): a rerun with ``--skip-existing``
    must not look as if it saved or refreshed the network."""
    if path is not None and report.status == "skipped":
        report.extra["save_checkpoint"] = {"path": str(path), "saved": False, "exists": path.exists()}
    return report


def _unsaved(report: SceneReport) -> str:
    """``; no checkpoint was written to ck.pt ...`` for a skipped scene's --save-checkpoint, else nothing."""
    unsaved = report.extra.get("save_checkpoint")
    if not isinstance(unsaved, dict):
        return ""
    kept = ": the one already there is left unchanged" if unsaved["exists"] else ""
    return f"; no checkpoint was written to {printable_path(unsaved['path'])} (--save-checkpoint){kept}"


def _coverage(report: SceneReport) -> str:
    """``; 97.1 % of pixels with a value`` when some output pixels are nodata, else nothing."""
    share = report.valid_fraction
    if share is None or share >= 1:
        return ""
    return f"; {min(share * 100, 99.9):.1f} % of pixels with a value, {report.hole_margin} px hole margin"


def failure_status(statuses: list[str]) -> int | None:
    """1 if a scene failed internally, 2 if one had bad input, else None."""
    if "failed" in statuses:
        return 1
    if "error" in statuses:
        return 2
    return None


def exit_status(statuses: list[str]) -> None:
    """The failure's status (:func:`failure_status`), 3 if every scene was empty; a batch of
    several scenes first says its outcome in one line (:func:`batch_summary`)."""
    failure = failure_status(statuses)
    status = failure if failure is not None else _all_empty(statuses)
    if len(statuses) > 1:
        info(batch_summary(statuses, status))
    if status:
        raise typer.Exit(status)


def _all_empty(statuses: list[str]) -> int:
    """3 if every scene was empty, else 0."""
    return EXIT_ALL_EMPTY if statuses and all(status == "empty" for status in statuses) else 0


# the words batch_summary counts each status under, in its order
_SUMMARY_WORDS = {"ok": "written", "skipped": "skipped", "empty": "empty", "error": "failed", "failed": "failed",
                  "stopped": "stopped"}


def batch_summary(statuses: list[str], status: int) -> str:
    """``3 scenes: 2 written, 1 failed (exit 2)``: a batch's outcome on stderr after its last
    scene, so a long archive run ends with its tally instead of the last scene's line."""
    words = [_SUMMARY_WORDS[s] for s in statuses]
    tally = ", ".join(f"{words.count(word)} {word}" for word in dict.fromkeys(_SUMMARY_WORDS.values())
                      if word in words)
    return f"{len(statuses)} scenes: {tally}" + (f" (exit {status})" if status else "")


def say_all(reports: Iterable[SceneReport], as_json: bool, said: set[str]) -> list[SceneReport]:
    """:func:`say_once` each report of a cluster's scenes as it arrives; returns them all."""
    done = []
    for report in reports:
        say_once(report, as_json, said)
        done.append(report)
    return done


def say_stopped(report: SceneReport) -> None:
    """The ``--json`` line of a scene a stop ended mid-run: its output null (nothing of it was
    published), so that a pipeline reading the lines tells it from a scene never started, which
    has none. Stdout only: stderr says the stop and the batch's tally."""
    _say_result(replace(_as_typed(report), output=None), True, state.scene_warnings())


def say_once(report: SceneReport, as_json: bool, said: set[str]) -> None:
    """:func:`say` a cluster's scene after its output-grid line (a local run says it while the
    scene works), unless its output is in ``said`` (a scene given again to ``run_dask``'s
    ``late`` after a stop), and add it; a stopping signal waits until it is said."""
    with signals_wait():
        if report.output not in said:
            said.add(report.output)
            if report.grid:
                info(report.grid)
            say(report, as_json)
