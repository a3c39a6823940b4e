"""``groklst train``: train a model on a prepared dataset into a run directory."""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import shlex
import signal
import sys
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer
from rich.progress import TextColumn

from groklst_cli.choices import DEVICE_HINT, lower_case
from groklst_cli.console import info, json_ok, progress, result, result_path, state, warn, warnings_said
from groklst_cli.interrupts import received, run_result_saved, signals_wait
from groklst_cli.option_sources import was_given
from groklst_cli.path_options import not_empty, typed_in_folder
from pipelines import strict_json
from pipelines.atomic import folders_removed_if_left_empty
from pipelines.errors import InputError, StreamWriteError, TypedPath, naming_as_typed
from pipelines.run_layout import BEST, CONFIG_FILE, LAST, STATE, RunDir, check_resume, check_start, inspect_run_dir
from pipelines.train_config import TrainConfig

if TYPE_CHECKING:
    import torch

    from pipelines.dataset import PreparedDataset
    from pipelines.train import FitResult
    from pipelines.train_dist import DistContext

# ctx.meta: how groklst was started (its program's words and the global options given, set by
# groklst_cli.app): what the resume command starts with
COMMAND_START = "groklst.command_start"
DATASET_HINT = "name the prepared dataset folder (groklst prepare), e.g. ./ds"
# An empty -o (an unset $RUN_DIR) would train into the current folder unasked.
RUN_HINT = "name the run folder, e.g. -o runs/r1"
CPU_PRESET = "mocolsk-lite"
GPU_MODEL = "mocolsk"
# Whether a train in this process saved its run's end (:func:`run_saved_whole`)
_saved_whole = {"run": False}


def _model_kwargs(text: Optional[str]) -> Optional[dict[str, Any]]:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError("--model-kwargs", f"not valid JSON ({exc.msg})", 'e.g. \'{"base_dim": 8}\'') from exc
    if not isinstance(value, dict):
        raise InputError("--model-kwargs", "must be a JSON object")
    return value


def _check_same_dataset(out: str, dataset: str, source: PreparedDataset) -> None:
    """Refuse to resume a run on another dataset than it trained on: its weights were learned
    with that dataset's statistics and ``best.pt`` was chosen on its validation split.

    The dataset may have moved; its content must be the same. A run recorded before identities
    were (no ``dataset_identity``) must be given its dataset's path. ``out`` and ``dataset``
    as typed: the error names them so.
    """
    from pipelines.dataset_identity import identity_differences

    record = json.loads((Path(out) / CONFIG_FILE).read_text())
    trained_on = record.get("dataset")
    recorded = record.get("dataset_identity")
    if recorded is None:
        differs = [] if trained_on == str(Path(dataset).resolve()) else ["path"]
    else:
        differs = identity_differences(recorded, source)
    if differs:
        raise InputError(dataset, f"is not the dataset the run in {out} trained on ({trained_on}); "
                                  f"it differs in: {', '.join(differs)}",
                         "resume with the run's own dataset, or start a new run (another -o, or --overwrite)")


def _processes(count: int) -> str:
    return f"{count} process" if count == 1 else f"{count} processes"


def _check_same_processes(out: str, world_size: int) -> None:
    """Refuse to resume a run with another number of processes than it was started with: each
    iteration's batch is split between the processes, so another count trains on another data
    order, and the resumed run is not the interrupted one. A run recorded before the count was
    (no ``world_size`` in config.json) is accepted, as it was then. ``out`` as typed."""
    started = json.loads((Path(out) / CONFIG_FILE).read_text()).get("world_size")
    if started is None or started == world_size:
        return
    how = "without torchrun" if started == 1 else f"with torchrun --nproc-per-node {started}"
    raise InputError("torchrun --nproc-per-node",
                     f"the run in {out} was started with {_processes(started)}, not {world_size}: "
                     "another count trains on another data order",
                     f"resume it {how}: {_processes(started)} in all")


def _moved_dataset_record(out: Path, dataset: Path) -> dict[str, Any] | None:
    """The run's config.json naming the dataset where it is now (a resume from a moved copy,
    accepted by :func:`_check_same_dataset`), so that it never points at a path that is gone;
    None when the dataset has not moved. ``fit`` writes it once the run's state is accepted."""
    record = json.loads((out / CONFIG_FILE).read_text())
    if record.get("dataset") == str(dataset.resolve()):
        return None
    return {**record, "dataset": str(dataset.resolve())}


CONFIG_HINT = "name a TOML or YAML file, or drop --config"


def _config_file(value: str) -> str:
    """``--config`` as typed, a folder refused as such: the reader said ``adir: config file not found``;
    and a missing one that reads like an option (``--config --resume``: the file's name left out)
    with the hint the other file options give for a name starting with '-'."""
    if Path(value).is_dir():
        state.refuse(value, InputError(TypedPath(value), "is a folder, not a config file",
                                       f"name a TOML or YAML file, e.g. --config {Path(value, 'train.toml')}, or drop --config"))
    elif value.startswith("-") and not Path(value).exists():
        state.refuse(value, InputError(TypedPath(value), "config file not found",
                                       f"give the file's name after --config: {value} reads like an option; "
                                       f"./{value} names a file literally called {value}"))
    return value


def _resumed_config(out: str, requested: dict[str, Any], sources: dict[str, str]) -> TrainConfig:
    """The saved settings of the run; those given on the command line or in the config file
    (``requested``, ``sources``: each with where it came from) must agree with them, the device
    excepted. Only the settings given are compared: a default never stands in for the run's.
    ``out`` as typed: the error names it so."""
    record = json.loads((Path(out) / CONFIG_FILE).read_text())
    saved = _with_restart_every(record["train"])
    config = TrainConfig(**saved)
    for key, source in sources.items():
        if key != "device" and requested[key] != saved[key]:
            raise InputError(source, f"the run in {out} was started with {key}={saved[key]!r}, "
                                     f"not {requested[key]!r}", "a resumed run keeps its settings")
    # the device the run asked for (a run started with --device cpu resumes on the CPU), unless given
    config.device = requested.get("device") or record.get("requested_device", TrainConfig.device)
    return config


def _with_restart_every(saved: dict[str, Any]) -> dict[str, Any]:
    """A run's saved settings with its cosine cycle: a run recorded before the default was four
    cycles (``restart_every`` null) trained one cycle over all its iterations."""
    if saved.get("restart_every") is not None:
        return saved
    return {**saved, "restart_every": saved["iters"]}


def _sources(given: dict[str, Any], file_settings: dict[str, Any], config_file: Optional[str]) -> dict[str, str]:
    """Where each setting came from, for error messages: its option, or the config file (as typed)."""
    from pipelines.train import option_name

    return {key: option_name(key) if key in given or config_file is None else f"{config_file} ({key})"
            for key in {**file_settings, **given}}


def _check_batch(batch_size: int, world_size: int, patches: int) -> None:
    """Refuse a batch larger than the train split: it would repeat patches in every batch
    (and a huge one runs for hours) instead of training on more data."""
    if batch_size * world_size <= patches:
        return
    batch = f"{batch_size}" if world_size == 1 else f"{batch_size} x {world_size} processes"
    largest = max(patches // world_size, 1)
    raise InputError("--batch-size", f"a batch of {batch} is more than the {patches} training patches",
                     f"use --batch-size {largest} or less, or prepare more patches")


def _run_record(config: TrainConfig, dataset: Path, source: PreparedDataset, device: str,
                world_size: int) -> dict[str, Any]:
    """What config.json holds: the effective settings with the device actually used (and the
    requested one, e.g. ``auto``), and the dataset (its path and identity)."""
    from pipelines.dataset_identity import dataset_identity

    return {"train": {**config.to_dict(), "device": device}, "requested_device": config.device,
            "dataset": str(dataset.resolve()), "dataset_identity": dataset_identity(source),
            "bands": source.bands, "hr_resolution": source.hr_resolution, "world_size": world_size}


def _finished_iterations(run: RunDir) -> int | None:
    """The iterations of the run in ``run`` when its saved state reached them (a finished run),
    else None: an unfinished, unreadable or absent run."""
    from pipelines.train import saved_iteration

    if not run.has_state:
        return None
    train = json.loads((run.path / CONFIG_FILE).read_text()).get("train")
    iters = train.get("iters") if isinstance(train, dict) else None  # a hand-edited config may hold anything
    done = saved_iteration(run.path)
    return iters if isinstance(iters, int) and done is not None and done >= iters else None


def _check_start(out: str, overwrite: bool) -> None:
    """:func:`check_start`, refusing a finished run with what to do instead: ``--resume`` has
    nothing left to train there (it says "nothing to train" and exits 0); ``out`` as typed."""
    run = inspect_run_dir(Path(out), named=out)
    iters = None if overwrite else _finished_iterations(run)
    if iters is not None:
        kept = " and ".join(name for name in (BEST, LAST) if (run.path / name).is_file()) or STATE
        raise InputError(out, f"run directory is not empty: it holds a finished run ({iters} of {iters} iterations; "
                              f"{kept} {'are' if ' and ' in kept else 'is'} there)",
                         "choose another -o for a new run, also one with more --iters, or pass --overwrite to replace it")
    check_start(run, overwrite)


def _summary(out: str, outcome: FitResult) -> dict[str, Any]:
    """The final summary, its paths under ``out`` as typed (``./runs/x/best.pt``); ``best_checkpoint``
    is null when no validation chose one (no best.pt)."""
    run = Path(out)
    best = typed_in_folder(out, run / BEST) if outcome.best is not None and (run / BEST).is_file() else None
    return {"run": out, "iteration": outcome.iteration, "finished": outcome.finished,
            "best": outcome.best, "best_checkpoint": best, "last_checkpoint": typed_in_folder(out, run / LAST)}


def _fit_with_bar(run: Callable[..., FitResult], total: int) -> FitResult:
    """Run ``run(on_step=...)`` under a progress bar that shows the loss and the ETA."""
    with progress(TextColumn("loss {task.fields[loss]:.3f} K")) as bar:
        task = bar.add_task("train", total=total, loss=float("nan"))

        def on_step(iteration: int, loss: float) -> None:
            bar.update(task, completed=iteration, loss=loss)

        return run(on_step=on_step)


def _typed(ctx: typer.Context, values: dict[str, Any]) -> dict[str, Any]:
    """The options given on the command line; the others come from --config or the defaults."""
    return {name: value for name, value in values.items() if was_given(ctx, name)}


def _announce_model(config: TrainConfig, defaulted: bool, device: torch.device) -> None:
    """Say which model trains when the user did not choose one; warn about the paper model on a CPU."""
    if defaulted:
        info(f"no --model given: training {config.model} (the default; see groklst models)")
    if config.model == GPU_MODEL and device.type == "cpu":
        warn(f"{GPU_MODEL} is the paper-size model, sized for GPUs: on a CPU one iteration takes "
             f"about 23 s at 96 px crops (2 cores, see the README's Benchmarks); "
             f"--model {CPU_PRESET} is the CPU-sized preset")


def _announce_training(config: TrainConfig, patches: int, context: DistContext, resumed: Optional[Path]) -> bool:
    """Say what trains (the main process), or that the ``resumed`` run already reached its
    iterations; False then, so that no progress bar counts iterations that never run (the
    run is still resumed, which checks its state and leaves its files as they were)."""
    from pipelines.train import saved_iteration

    if not context.is_main:
        return True
    done = saved_iteration(resumed) if resumed is not None else None
    if done is not None and done >= config.iters:
        info(f"run already at {done} of {config.iters} iterations: nothing to train")
        return False
    info(f"training {config.model} x{config.scale} on {patches} patches, "
         f"{context.world_size} process(es) on {context.device}")
    return True


@dataclass
class _StopPoint:
    """Where a Ctrl-C or a signal stopped the run, as :func:`fit` tells it (:meth:`at`): the
    iteration reached and that of the last save (None: none yet). ``iteration`` stays None
    when the stop came before training began. Once :func:`fit` has returned, ``outcome`` is
    what it returned (:meth:`returned`); ``reported`` says the ``--json`` ok line is written.
    ``max_seconds`` is the call's ``--max-seconds``, which the resume command repeats, and
    ``command_start`` what it starts with (:func:`_command_start`)."""

    resume: bool
    max_seconds: Optional[float] = None
    command_start: list[str] = field(default_factory=lambda: ["groklst"])
    iteration: Optional[int] = None
    saved_at: Optional[int] = None
    outcome: Optional[FitResult] = None
    reported: bool = False

    def at(self, iteration: int, saved_at: Optional[int]) -> None:
        """Record where the run stopped (:data:`pipelines.train.StopHook`)."""
        self.iteration, self.saved_at = iteration, saved_at

    def returned(self, outcome: FitResult) -> FitResult:
        """Record what :func:`fit` returned, as soon as it does: a stop from then on (while the
        process group is left, the report written) comes after a run that saved; one that
        :func:`fit` held for its last save (``stopped_by``) stopped it there."""
        self.outcome = outcome
        _saved_whole["run"] = _run_ended(outcome)
        if _saved_whole["run"]:
            run_result_saved()
        if outcome.stopped_by is not None:
            self.at(outcome.iteration, outcome.iteration)
        return outcome

    def after_the_end(self) -> bool:
        """Whether the stop came once the command's work was saved in place (:func:`_run_ended`)."""
        return self.outcome is not None and _run_ended(self.outcome)


def _run_ended(outcome: FitResult) -> bool:
    """Whether ``outcome`` is a run that did what the command asked: no signal stopped it (it
    saved its end, or its --max-seconds pause), or one came as its last save was renamed into
    place. A stop from then on removes nothing: the run is reported as done, exit status 0."""
    return outcome.stopped_by is None or outcome.finished


def run_saved_whole() -> bool:
    """Whether the train of this run saved its end (:func:`_run_ended`): a stop from then on,
    until the process exits, does not fail it (:mod:`groklst_cli.app` exits 0, and ignores the
    stopping signals once the command is over: QA saw 143 and -15 after the ok line)."""
    return _saved_whole["run"]


def forget_saved_run() -> None:
    """Start a run of the CLI (:func:`groklst_cli.app.run`): no train of it has saved yet."""
    _saved_whole["run"] = False


@contextmanager
def _stop_after_the_end_dropped(stop: _StopPoint) -> Iterator[None]:
    """A Ctrl-C or a stopping signal in the block that comes after the run's end was saved
    (:meth:`_StopPoint.after_the_end`) does not stop the command: the run is reported as done."""
    try:
        yield
    except KeyboardInterrupt:
        if not stop.after_the_end():
            raise


def _fit_recorded(stop: _StopPoint, fit: Callable[..., FitResult], **hooks: Any) -> FitResult:
    """``fit(**hooks)``, telling ``stop`` what it returned before anything else runs."""
    return stop.returned(fit(**hooks))


def _as_argument(path: str) -> str:
    """``path`` as typed, as a command's argument: ``./-ds`` for one starting with '-', which
    would be read as an option (as :func:`pipelines.errors.unmistakable_path` names it)."""
    return f"./{path}" if path.startswith("-") else path


def _seconds(value: float) -> str:
    """``value`` as an option's argument: ``900`` for 900.0, else the float's shortest form."""
    return str(int(value)) if value.is_integer() else repr(value)


def _command_start(ctx: typer.Context) -> list[str]:
    """groklst as this run was started, with the global options given (``groklst --threads 2``,
    ``python -m groklst_cli``: :data:`COMMAND_START`); under torchrun with the run's number of
    processes (a resume needs the same count)."""
    program, options = ctx.meta.get(COMMAND_START, (["groklst"], []))
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size > 1:
        program = ["torchrun", "--nproc-per-node", str(world_size), "-m", "groklst_cli"]
    return [*program, *options]


def _resume_command(dataset: str, out: str, stop: _StopPoint) -> str:
    """The command that continues the run, with its paths as typed and the call's
    ``--max-seconds`` (the run's settings are in its folder), started as this run was
    (``stop.command_start``; QA: it said ``groklst`` without the ``--threads`` given)."""
    limit = [] if stop.max_seconds is None else ["--max-seconds", _seconds(stop.max_seconds)]
    return shlex.join([*stop.command_start, "train", _as_argument(dataset), "-o", out, "--resume", *limit])


def _saved_before(out: str, stop: _StopPoint) -> Optional[int]:
    """The iteration of the state the run had saved when the stop came: as :func:`fit` told it,
    else (stopped before training) that of a resumed run's ``state.pt``; a new run has none."""
    if stop.iteration is not None or not stop.resume or not (Path(out) / STATE).is_file():
        return stop.saved_at
    return _state_iteration(Path(out))


def _state_iteration(run: Path) -> Optional[int]:
    """The iteration of ``run``'s ``state.pt``; None (not read) when the stop came before
    torch was loaded: importing it after a stop that cut its import short crashed (SystemError,
    then a segfault), and a stop must not wait for it."""
    if "pipelines.train" not in sys.modules:
        return None
    from pipelines.train import saved_iteration

    return saved_iteration(run)


class _Opaque:
    """Stands in for every object a pickle names (torch's tensors, storages, ordered dicts) when
    ``state.pt`` is read without torch: built, filled and set up as asked, and holding nothing."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def __setstate__(self, state: object) -> None:
        pass

    def __setitem__(self, key: object, value: object) -> None:
        pass

    def append(self, item: object) -> None:
        pass

    def extend(self, items: object) -> None:
        pass


class _WithoutTorch(pickle.Unpickler):
    """A torch checkpoint's pickle read without torch (nor any class it names: nothing in the
    file runs), its tensors' data left in the archive."""

    def find_class(self, module: str, name: str) -> type:
        return _Opaque

    def persistent_load(self, pid: object) -> None:
        return None


STATE_PICKLE_MAX = 16 * 2**20  # a state.pt's data.pkl larger than this is not read without torch (a zip
# bomb of 2 MB unpacked 4 GB in the stop's report)


def _iteration_without_torch(path: Path) -> Optional[int]:
    """The ``iteration`` that the state ``path`` holds, read without loading torch (a stop that
    cut torch's import short must not wait for it, :func:`_state_iteration`); None: unreadable."""
    try:
        with zipfile.ZipFile(path) as archive:
            pickled = next(info for info in archive.infolist() if info.filename.endswith("/data.pkl"))
            if pickled.file_size > STATE_PICKLE_MAX:  # torch's is KBs (tensors lie beside it): not unpacked
                return None
            state = _WithoutTorch(io.BytesIO(archive.read(pickled))).load()
        return int(state["iteration"])
    except Exception:  # noqa: BLE001 - a damaged state: resume names what is wrong with it
        return None


def _reached(out: str, stop: _StopPoint, saved: Optional[int]) -> int:
    """The iteration a stopped run had reached: where :func:`fit` was stopped, else that of the
    state it saved or resumes from (read without torch where :func:`_saved_before` did not read
    it: QA s8 saw 0 for a resume of iteration 4 stopped as torch loaded), else 0."""
    if stop.iteration is not None:
        return stop.iteration
    if saved is None and stop.resume and (Path(out) / STATE).is_file():
        saved = _iteration_without_torch(Path(out) / STATE)
    return saved or 0


def _state_kept(out: str, stop: _StopPoint, saved: Optional[int]) -> bool:
    """Whether the stopped run has a state to resume from: one saved (``saved``), or a resumed
    run's ``state.pt`` whose iteration was not read (:func:`_state_iteration`)."""
    return saved is not None or (stop.iteration is None and stop.resume and (Path(out) / STATE).is_file())


def _interrupted_line(dataset: str, out: str, stop: _StopPoint, signum: int) -> dict[str, Any]:
    """The ``--json`` line of a stopped run, shaped as an error line (``status``, ``error``,
    ``warnings``) with the train summary's ``run`` and ``iteration``: the state saved (null:
    none yet, nothing to resume) and the command that resumes from it; paths as typed."""
    saved = _saved_before(out, stop)
    kept = _state_kept(out, stop, saved)
    reached = _reached(out, stop, saved)
    name = signal.Signals(signum).name
    if not kept:
        why = f"stopped by {name} at iteration {reached}, before the run's first save: start it again"
    elif saved is None:
        why = f"stopped by {name} as the resumed run started; --resume restarts from the run's last save"
    else:
        why = f"stopped by {name} at iteration {reached}; --resume restarts from iteration {saved}, the last save"
    return {**state.names(), "status": "interrupted", "error": why, "signal": name, "run": out,
            "iteration": reached, "saved_iteration": saved,
            "state": typed_in_folder(out, Path(out) / STATE) if kept else None,
            "last_checkpoint": typed_in_folder(out, Path(out) / LAST) if kept else None,
            "resume": _resume_command(dataset, out, stop) if kept else None,
            "warnings": warnings_said()}


@contextmanager
def _interrupt_reported(dataset: str, out: str, stop: _StopPoint, as_json: bool) -> Iterator[None]:
    """With ``--json``, a Ctrl-C or a stopping signal in the block is also one JSON line on
    stdout (:func:`_interrupted_line`, main process only; none when the ok line is written), so
    that a pipeline reading stdout learns where the run stands; without, the command that
    resumes the run is said on stderr. Once :func:`fit` has returned a run it did not stop, the
    run is reported as ended instead (:func:`_say_saved`): it saved, and its end is not to be
    started again. The stop then goes on (exit status 130, 143; 0 for the saved run)."""
    try:
        yield
    except KeyboardInterrupt:
        if os.environ.get("RANK", "0") != "0" or stop.reported:
            raise
        with signals_wait():  # a second Ctrl-C waits for the report
            if stop.outcome is not None and _run_ended(stop.outcome):  # saved: reported as done
                _say_saved(out, stop.outcome, as_json)
            elif as_json:
                _say_json(_interrupted_line(dataset, out, stop, received() or signal.SIGINT))
            else:
                _say_how_to_resume(dataset, out, stop)
        raise


def _say_json(line: dict[str, Any]) -> None:
    """``line`` on stdout; one that cannot be written is dropped, as an error line is: the stop
    keeps its status."""
    try:
        result(strict_json.dumps(line))
    except StreamWriteError:
        pass


def _say_saved(out: str, outcome: FitResult, as_json: bool) -> None:
    """Report a run stopped once it had saved its end as one that ended (:func:`_say_ended`;
    QA s8: without ``--json`` it said how to resume the finished run, and printed no checkpoint).
    A stdout that cannot be written drops the line, as :func:`_say_json` does."""
    try:
        _say_ended(out, outcome, as_json)
    except StreamWriteError:
        pass


def _say_how_to_resume(dataset: str, out: str, stop: _StopPoint) -> None:
    """On stderr, the command that resumes a stopped run from its last save (none: nothing to say,
    the warning of :func:`pipelines.train.fit` says to start it again)."""
    saved = _saved_before(out, stop)
    if _state_kept(out, stop, saved):
        at = "" if saved is None else f" at iteration {saved}"
        warn(f"the run's state{at} was kept in {out}; to resume: {_resume_command(dataset, out, stop)}")


def train_cmd(
    ctx: typer.Context,
    dataset: str = typer.Argument(..., parser=not_empty("DATASET", DATASET_HINT, TypedPath), help="Prepared dataset folder (groklst prepare)."),
    out: str = typer.Option(..., "--out", "-o", parser=not_empty("-o", RUN_HINT, TypedPath), help="Run directory (checkpoints, metrics, config)."),
    model: str = typer.Option(TrainConfig.model, "--model", callback=lower_case, help="Model name (groklst models); mocolsk-lite on a CPU."),
    scale: int = typer.Option(TrainConfig.scale, "--scale", help="Downscaling factor; one of the dataset's scales."),
    iters: int = typer.Option(TrainConfig.iters, "--iters", help="Training iterations."),
    batch_size: int = typer.Option(TrainConfig.batch_size, "--batch-size", help="Patches per iteration and process."),
    crop: int = typer.Option(TrainConfig.crop, "--crop", help="Random crop in HR pixels (a multiple of the scale, at most the patch)."),
    lr: float = typer.Option(TrainConfig.lr, "--lr", help="AdamW learning rate."),
    weight_decay: float = typer.Option(TrainConfig.weight_decay, "--weight-decay", help="AdamW weight decay."),
    restart_every: Optional[int] = typer.Option(None, "--restart-every", show_default="a quarter of --iters", help="Iterations per cosine cycle: the learning rate restarts at --lr every N iterations (--iters for one cycle)."),
    val_every: int = typer.Option(TrainConfig.val_every, "--val-every", help="Validate and checkpoint every K iterations."),
    seed: int = typer.Option(TrainConfig.seed, "--seed", help="Seed of weights, data order and augmentation."),
    device: str = typer.Option(TrainConfig.device, "--device", callback=lower_case, help="auto, cpu, cuda or cuda:N."),
    precision: str = typer.Option(TrainConfig.precision, "--precision", callback=lower_case, help="auto (bf16 on CUDA, fp32 on CPU), fp32, bf16 or fp16."),
    model_kwargs: Optional[str] = typer.Option(None, "--model-kwargs", help="Model constructor arguments as JSON, e.g. '{\"base_dim\": 8}'."),
    max_seconds: Optional[float] = typer.Option(None, "--max-seconds", help="Stop (resumably) after this wall-clock time."),
    config_file: Optional[str] = typer.Option(None, "--config", parser=not_empty("--config", CONFIG_HINT, _config_file), help="TOML or YAML file with any of these settings (options given here win)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last state."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Restart a run directory that holds a saved run (its run files are replaced at the new run's first save)."),
    as_json: bool = typer.Option(False, "--json", help="Print the final summary as JSON on stdout."),
) -> None:
    """Train a downscaling model; run with torchrun for several GPUs/processes.

    Every setting is checked before the run directory is created or touched; a new run's
    dataset and settings before whether its folder may be used.
    """
    state.working_on(dataset, out)  # as typed (``./ds/``): messages and --json lines name them so
    stop = _StopPoint(resume=resume, max_seconds=max_seconds, command_start=_command_start(ctx))
    with _interrupt_reported(dataset, out, stop, as_json):  # from the start: QA's stop in torch's import said nothing
        # Imported here so that `groklst --help` and the other commands start without torch.
        from pipelines.dataset import open_prepared
        from pipelines.train import Limits, check_scale_and_crop, check_settings, check_training, fit, used_device
        from pipelines.train_config import merge_config, read_config_file
        from pipelines.train_dist import init_distributed, shutdown

        if resume and overwrite:
            raise InputError("--resume", "give --resume or --overwrite, not both")
        if max_seconds is not None and not 0 < max_seconds < math.inf:  # inf: as --fit-seconds and --threads
            raise InputError("--max-seconds", f"must be a positive number of seconds, not {max_seconds:g}",
                             "drop --max-seconds for no time limit" if max_seconds == math.inf else None)
        given = _typed(ctx, {"model": model, "scale": scale, "iters": iters, "batch_size": batch_size,
                             "crop": crop, "lr": lr, "weight_decay": weight_decay,
                             "restart_every": restart_every, "val_every": val_every,
                             "seed": seed, "device": device, "precision": precision,
                             "model_kwargs": _model_kwargs(model_kwargs)})
        file_settings = read_config_file(Path(config_file)) if config_file else {}
        sources = _sources(given, file_settings, config_file)
        settings = {**file_settings, **given}
        check_settings(settings, sources)
        with naming_as_typed(dataset):
            source = open_prepared(dataset)  # a str: the files it names in it as typed (``./ds/stats.json``)
        if resume:  # the run's own settings and dataset are what the given ones are compared with
            check_resume(inspect_run_dir(Path(out), named=out))
            _check_same_dataset(out, dataset, source)
            config = _resumed_config(out, settings, sources)
        else:
            check_scale_and_crop(source, settings, sources)  # before a TrainConfig refuses the crop
            config = merge_config(file_settings, given)
        train_patches = check_training(source, config, dataset)
        try:
            context = init_distributed(config.device)
        except ValueError as exc:
            raise InputError("--device", str(exc), DEVICE_HINT) from exc
        with _stop_after_the_end_dropped(stop):  # a stop once fit() saved the run's end: it is done
            try:
                if resume:  # before the batch check, whose hint would change the run's batch size
                    _check_same_processes(out, context.world_size)
                _check_batch(config.batch_size, context.world_size, len(train_patches))
                if not resume:  # last: a used folder is named once the dataset and the settings are right
                    _check_start(out, overwrite)
                device_used = used_device(context.device, context.world_size)
                if context.is_main:
                    defaulted = not resume and "model" not in given and "model" not in file_settings
                    _announce_model(config, defaulted, context.device)
                    if not source.indices("val"):
                        warn("the dataset has no validation split: nothing selects a best checkpoint, so no "
                             f"best.pt is written; {LAST} is the final state (prepare more patches or change --split)")
                to_train = _announce_training(config, len(train_patches), context, Path(out) if resume else None)
                record = (_moved_dataset_record(Path(out), Path(dataset)) if resume
                          else _run_record(config, Path(dataset), source, device_used, context.world_size))
                run = partial(_fit_recorded, stop, partial(fit, source, config, Path(out), resume=resume, context=context,
                                                           run_named=out, limits=Limits(max_seconds=max_seconds),
                                                           run_record=record, on_stop=stop.at))
                if context.is_main:
                    with folders_removed_if_left_empty(Path(out)):  # a run stopped before its first save
                        _fit_with_bar(run, config.iters) if to_train else run()
                else:
                    run()
            finally:
                shutdown(context)
        if not context.is_main:
            return
        outcome = stop.outcome
        assert outcome is not None  # fit() returned: a stop in it that was not dropped went on
        with _stop_after_the_end_dropped(stop), signals_wait():  # the run is saved: a signal waits for its report
            _report(out, outcome, config, record if resume else None, as_json)
            stop.reported = _run_ended(outcome)  # else the stop's line is still to be written
            if outcome.stopped_by is not None and not stop.reported:  # it waited for a mid-run save
                signal.raise_signal(outcome.stopped_by)


def _report(out: str, outcome: FitResult, config: TrainConfig, moved: dict[str, Any] | None,
            as_json: bool) -> None:
    """Say what the run left: its checkpoints, and (``moved``) where its dataset now is; named
    under ``out`` as typed. A run a signal stopped mid-way is no model: the stop's report
    (:func:`_interrupt_reported`) says where it stands instead."""
    if moved is not None:
        info(f"the dataset is now {moved['dataset']}; {typed_in_folder(out, Path(out) / CONFIG_FILE)} records it")
    if not _run_ended(outcome):
        return
    if not outcome.finished:
        warn(f"stopped at iteration {outcome.iteration}/{config.iters}: {LAST} holds its weights "
             "(runs validate at --val-every iterations only); continue with --resume")
    _say_ended(out, outcome, as_json)


def _say_ended(out: str, outcome: FitResult, as_json: bool) -> None:
    """The result of a run that ended: its ok line, or its checkpoint's path (best.pt if any)."""
    summary = _summary(out, outcome)
    if as_json:
        result(strict_json.dumps(json_ok(summary)))
    else:
        result_path(summary["best_checkpoint"] or summary["last_checkpoint"])


def register(app: typer.Typer) -> None:
    app.command("train")(train_cmd)
