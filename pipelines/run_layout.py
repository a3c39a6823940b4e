"""The files of a training run directory (written by rank 0 only), and what a directory holds.

Kept free of heavy imports so the CLI can check a run directory before loading torch.

A folder is a groklst run when its ``config.json`` says so (``"format": "groklst-run/1"``;
runs written before the marker are recognised by their ``train`` settings). Only such a folder
is ever restarted, and a restart removes only the run's own files: whatever else the user keeps
in the folder stays.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path, PurePath

from pipelines.atomic import stale_partials
from pipelines.errors import InputError, TypedPath

CONFIG_FILE = "config.json"  # the effective settings (+ dataset facts)
METRICS_FILE = "metrics.jsonl"  # one JSON line per validation: iteration, train loss, val metrics
LAST = "last.pt"  # checkpoint after the latest validation, --max-seconds stop or the end (enough to downscale with)
BEST = "best.pt"  # checkpoint with the lowest validation RMSE
STATE = "state.pt"  # everything --resume needs: weights, optimiser, scheduler, RNG, counters
RUN_FILES = (CONFIG_FILE, METRICS_FILE, LAST, BEST, STATE)
RUN_FORMAT = "groklst-run/1"  # the marker in a run's config.json
# What a run's config.json holds beside its "train" settings: the record of the run.
RUN_RECORD_KEYS = ("format", "requested_device", "dataset", "dataset_identity", "bands", "hr_resolution",
                   "world_size")


def _temporaries(root: Path) -> set[str]:
    """Temporaries of the run's files that killed saves left behind (pipelines.atomic's names)."""
    found: set[str] = set()
    for name in RUN_FILES:
        old, young = stale_partials(root / name)
        found.update(p.name for p in old + young)
    return found


def _is_run_config(path: Path) -> bool:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(data, dict):
        return False
    return data.get("format") == RUN_FORMAT or (isinstance(data.get("train"), dict) and "dataset" in data)


def _damaged_config(run: RunDir) -> InputError | None:
    """The refusal for a ``config.json`` in the run folder that exists but is not readable JSON:
    the folder may well be a run whose config was damaged, so it is neither used nor called 'not
    a run' (which sends the user looking in the wrong place)."""
    path = run.path / CONFIG_FILE
    if not path.is_file():
        return None
    try:
        json.loads(path.read_text())
    except OSError:
        return None  # unreadable files are reported where they are read
    except ValueError as exc:
        return InputError(run.file_named(CONFIG_FILE), f"damaged: not readable JSON ({exc})",
                          "restore config.json from a copy, or start the run again in a new folder")
    return None


@dataclass(frozen=True)
class RunDir:
    """What a prospective run directory holds."""

    path: Path
    exists: bool
    is_run: bool  # its config.json is a groklst run's
    has_state: bool  # state.pt: the run can be resumed
    has_checkpoints: bool  # last.pt or best.pt
    run_files: tuple[str, ...]  # the run's own files (and temporaries of them)
    other_files: tuple[str, ...]  # everything else in the folder
    named: PurePath | str  # how errors name the folder: as typed (``./runs//r/``) when given

    def file_named(self, name: str) -> PurePath | str:
        """The run's file ``name`` as errors name it: under the folder as named."""
        if isinstance(self.named, PurePath):
            return self.named / name
        return TypedPath(os.path.join(self.named, name))


def inspect_run_dir(path: str | Path, named: str | None = None) -> RunDir:
    """Look at ``path`` without changing it; :class:`InputError` if it is not a folder. Errors
    about the folder name it ``named`` (the folder as the user typed it), else ``path``."""
    root = Path(path)
    shown = root if named is None else TypedPath(named)
    if not root.exists() and not root.is_symlink():
        return RunDir(root, False, False, False, False, (), (), shown)
    if not root.is_dir():
        raise InputError(shown, "exists and is not a folder; a run directory is a folder",
                         "choose a new or empty folder for the run")
    names = sorted(p.name for p in root.iterdir())
    is_run = (root / CONFIG_FILE).is_file() and _is_run_config(root / CONFIG_FILE)
    mine = _temporaries(root) | (set(RUN_FILES) if is_run else set())  # else config.json is the user's
    ours = tuple(n for n in names if n in mine)
    others = tuple(n for n in names if n not in mine)
    return RunDir(root, True, is_run, is_run and (root / STATE).is_file(),
                  is_run and any((root / n).is_file() for n in (LAST, BEST)), ours, others, shown)


def check_start(run: RunDir, overwrite: bool) -> None:
    """Refuse to start a run in a folder that would lose something.

    A new or empty folder, or a run that never saved a state (a failed or very early start),
    may be started; a run with a saved state or checkpoints needs ``overwrite``; a folder that
    is not a groklst run is never used.
    """
    if not run.exists or not run.other_files and not run.is_run:
        return  # new, empty, or only temporaries of a start killed while writing config.json
    if not run.is_run:
        damaged = _damaged_config(run)
        if damaged is not None:
            raise damaged
        shown = ", ".join(run.other_files[:3]) + (", ..." if len(run.other_files) > 3 else "")
        raise InputError(run.named, f"is not empty and is not a groklst run directory (holds {shown}); "
                                   "it is never used or cleared for a run",
                         "choose a new or empty folder for the run")
    if (run.has_state or run.has_checkpoints) and not overwrite:
        saved = "a saved training state" if run.has_state else "checkpoints"
        raise InputError(run.named, f"run directory is not empty: it holds a run with {saved}",
                         "pass --resume to continue it or --overwrite to restart it")


def check_resume(run: RunDir) -> None:
    """Refuse ``--resume`` unless the folder holds a run with a saved state, saying why not."""
    if not run.exists:
        raise InputError(run.named, "nothing to resume: the run directory does not exist",
                         "start the run without --resume")
    if not run.is_run:
        damaged = _damaged_config(run)
        if damaged is not None:
            raise damaged
        raise InputError(run.named, "nothing to resume: not a groklst run directory (no config.json of a run)",
                         "give the run directory of a training run")
    if not run.has_state:
        raise InputError(run.named, "nothing to resume: the run never saved a training state (state.pt is "
                                   "written at every --val-every iterations, at a --max-seconds stop and at the end)",
                         "start it again with the same command without --resume")


def clear_run_files(run: RunDir, keep: Collection[str] = ()) -> None:
    """Remove the run's own files but ``keep`` (never anything else in the folder)."""
    for name in run.run_files:
        if name not in keep:
            (run.path / name).unlink(missing_ok=True)
