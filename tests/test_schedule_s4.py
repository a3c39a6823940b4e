"""QA s4 F11: evaluate names the dataset whose split is empty (not the split); the default
four-cycle schedule ends at min_lr at --iters (its last cycle absorbs iters % 4), a given
--restart-every that does not divide --iters warns once, and runs of older groklst resume with
the schedule they started with."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest
import torch

from groklst_cli.app import run
from pipelines.checkpoint import load_checkpoint
from pipelines.errors import GroklstWarning, InputError
from pipelines.dataset import open_prepared
from pipelines.evaluate import evaluate
from pipelines.run_layout import CONFIG_FILE, LAST, METRICS_FILE, RUN_FORMAT, STATE
from pipelines.train import CosineCycles, Limits, fit
from pipelines.train_config import TrainConfig, default_restart_every, merge_config, read_config_file
from tests.conftest import prepare_generated_dataset
from tests.test_train import CLI_TRAIN, SCALE, FakeSource, config

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "pretrained" / "mocolsk-lite-x3-sdgsat.pt"
LR, MIN_LR = 1e-4, 1e-7


def cosine(step: int, period: int) -> float:
    """The rate of step ``step`` of a cycle of ``period`` steps."""
    return MIN_LR + (LR - MIN_LR) * (1 + math.cos(math.pi * step / period)) / 2


def cycles(*lengths: int) -> list[float]:
    """The rates of cosine cycles of ``lengths`` steps, one after the other."""
    return [cosine(k, length) for length in lengths for k in range(length)]


# --- evaluate: an empty split names the dataset ------------------------------------------------


@pytest.fixture(scope="module")
def train_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The QA reproducer: one scene prepared at x3 with every patch in the train split."""
    return prepare_generated_dataset(tmp_path_factory.mktemp("train_only"), (3,), patch=48, lr_shape=(96, 96),
                                     seeds=(3,), stride=48, split="1:0:0")


HINT = "(hint: evaluate another --split, or prepare the dataset again with a test share (prepare --split, default 6:1:3))"


def test_evaluate_names_the_dataset_whose_split_is_empty(train_only: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["evaluate", str(train_only), "-c", str(SHIPPED)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {train_only}: the test split is empty {HINT}"]
    assert run(["evaluate", f"{train_only}//", "-c", str(SHIPPED)]) == 2  # named as typed
    assert f"error: {train_only}//: the test split is empty" in capsys.readouterr().err


def test_evaluate_names_the_dataset_as_the_caller_typed_it(train_only: Path) -> None:
    with pytest.raises(InputError) as raised:
        evaluate(open_prepared(train_only), load_checkpoint(SHIPPED), SHIPPED, split="val", dataset_named="./dsA/")
    assert str(raised.value).startswith("./dsA/: the val split is empty (hint: evaluate another --split")


# --- the default schedule ends at min_lr --------------------------------------------------------


def scheduler_lrs(settings: TrainConfig, steps: int, state: dict | None = None) -> tuple[list[float], dict]:
    """The rates of ``steps`` steps of the run's scheduler (from ``state``, a saved one), and its state."""
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=settings.lr)
    scheduler = CosineCycles(optimizer, settings)
    if state is not None:
        scheduler.load_state_dict(state)
    lrs = []
    for _ in range(steps):
        lrs.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    return lrs, scheduler.state_dict()


def test_a_default_run_s_last_cycle_absorbs_the_remainder() -> None:
    settings = config(iters=30)
    assert (settings.restart_every, settings.stretch_last_cycle, settings.final_cycle()) == (7, True, (21, 9))
    assert settings.partial_cycle() is None
    lrs, _ = scheduler_lrs(settings, 30)
    assert lrs == pytest.approx(cycles(7, 7, 7, 9), rel=1e-9)
    assert lrs[21] == pytest.approx(LR, rel=1e-12)  # the fourth and last restart
    assert lrs[-1] == pytest.approx(3.11235e-6, rel=1e-5)  # near min_lr, not 9.5e-5 after a fifth restart


def test_a_default_run_has_four_cycles_also_when_they_would_divide_into_more() -> None:
    """--iters 10 gives cycles of 2; five of them would leave the README's four: the fourth runs on."""
    settings = config(iters=10)
    assert (settings.restart_every, settings.final_cycle()) == (2, (6, 4))
    assert scheduler_lrs(settings, 10)[0] == pytest.approx(cycles(2, 2, 2, 4), rel=1e-9)


def test_a_default_run_of_a_multiple_of_four_is_unchanged() -> None:
    settings = config(iters=40)
    assert settings.final_cycle() is None and settings.partial_cycle() is None
    assert scheduler_lrs(settings, 40)[0] == pytest.approx(cycles(10, 10, 10, 10), rel=1e-9)


def test_a_given_restart_every_is_kept_and_warns_once_where_the_run_ends() -> None:
    settings = config(iters=30, restart_every=7)
    assert (settings.stretch_last_cycle, settings.final_cycle()) == (False, None)
    assert scheduler_lrs(settings, 30)[0] == pytest.approx(cycles(7, 7, 7, 7, 7)[:30], rel=1e-9)
    with pytest.warns(GroklstWarning) as caught:
        fit(FakeSource(), settings, limits=Limits(max_iters=1))
    mine = [str(w.message) for w in caught if "restart-every" in str(w.message)]
    assert mine == ["--iters 30 is not a multiple of --restart-every 7: the run ends 2 iteration(s) into a "
                    "cosine cycle, at lr 9.51e-05 (min_lr 1e-07); leave --restart-every out for cycles "
                    "that end at --iters"]


def test_a_saved_schedule_continues_the_same_curve_in_its_last_cycle() -> None:
    settings = config(iters=30)
    first, state = scheduler_lrs(settings, 24)  # three steps into the stretched last cycle
    state = torch.load(io.BytesIO(saved(state)), weights_only=True)  # as state.pt holds it
    rest, _ = scheduler_lrs(settings, 6, state)
    assert first + rest == pytest.approx(cycles(7, 7, 7, 9), rel=1e-12)


def saved(state: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def old_state(run_dir: Path) -> None:
    """Make ``run_dir``'s state one an older groklst saved: its scheduler knew no last cycle."""
    state = torch.load(run_dir / STATE, weights_only=True)
    del state["scheduler"]["final_cycle"]
    torch.save(state, run_dir / STATE)


def test_an_older_run_resumes_with_its_uniform_cycles_or_is_refused(tmp_path: Path) -> None:
    old = config(iters=30, restart_every=7)  # as older config.json files record it: no stretch key
    with pytest.warns(GroklstWarning):
        fit(FakeSource(), old, tmp_path / "paused", limits=Limits(max_iters=1))
    old_state(tmp_path / "paused")
    with pytest.raises(InputError, match=r"paused/state.pt: the run was trained with every cosine cycle 7 "
                                         r"iterations long, not its last cosine cycle 9 iterations long "
                                         r"\(from iteration 21\) \(hint: resume with its own settings\)"):
        fit(FakeSource(), config(iters=30), tmp_path / "paused", resume=True)
    state = torch.load(tmp_path / "paused" / STATE, weights_only=True)["scheduler"]
    assert scheduler_lrs(old, 29, state)[0] == pytest.approx(cycles(7, 7, 7, 7, 7)[1:30], rel=1e-12)


# --- the command line ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_generated_dataset(tmp_path_factory.mktemp("prepared"), (SCALE,))


def train(dataset: Path, out: Path, *extra: str) -> int:
    return run(["-q", "train", str(dataset), "-o", str(out), *CLI_TRAIN, "--val-every", "1", *extra])


def logged_lrs(out: Path) -> list[float]:
    return [json.loads(line)["lr"] for line in (out / METRICS_FILE).read_text().splitlines()]


def test_the_cli_records_the_stretched_cycle_and_an_older_record_resumes_uniform(dataset: Path, tmp_path: Path) -> None:
    new, old = tmp_path / "new", tmp_path / "old"
    assert train(dataset, new, "--iters", "9") == 0
    assert json.loads((new / CONFIG_FILE).read_text())["train"]["stretch_last_cycle"] is True
    assert load_checkpoint(new / LAST).config["stretch_last_cycle"] is True
    assert logged_lrs(new) == pytest.approx(cycles(2, 2, 2, 3), rel=1e-9)
    # a run an older groklst started with the then default (cycles of 2 over 9): no key, no final_cycle
    assert train(dataset, old, "--iters", "9", "--restart-every", "2", "--max-seconds", "1e-9") == 0
    record = json.loads((old / CONFIG_FILE).read_text())
    del record["train"]["stretch_last_cycle"]
    (old / CONFIG_FILE).write_text(json.dumps(record))
    old_state(old)
    assert train(dataset, old, "--resume") == 0
    assert logged_lrs(old) == pytest.approx(cycles(2, 2, 2, 2, 2)[:9], rel=1e-9)


@pytest.mark.parametrize("iters, period", [(1, 1), (3, 3), (5, 5), (7, 7), (8, 2), (10, 2), (30, 7)])
def test_a_run_too_short_for_cycles_of_two_has_one_cycle(iters: int, period: int) -> None:
    """Review R7: --iters 3 gave three cycles of 1 (every step at the peak rate) and --iters 5 ended
    at half of it; fewer than 8 iterations now make one cycle, which ends at min_lr."""
    assert default_restart_every(iters) == period
    settings = config(iters=iters)
    lrs, _ = scheduler_lrs(settings, iters)
    assert lrs[-1] == min(lrs)  # the last step has the lowest rate


def test_a_runs_record_of_the_default_schedule_is_derived_again_from_new_settings(tmp_path: Path) -> None:
    """Review R7: `--config RUN/config.json --iters 16` kept the file's cycles of 2 and stretched the
    fourth to 10; `--restart-every 3` over it kept the stretch and gave no warning. Review R8/R9: a
    restart_every a hand-made file sets (beside stretch_last_cycle, or equal to a quarter of its
    iters) is kept: only a run's own config.json is read as a record of the default."""
    def settings(train: dict, run: bool) -> dict:
        path = tmp_path / ("config.json" if run else "hand.json")
        path.write_text(json.dumps({"format": RUN_FORMAT, "train": train} if run else train))
        return read_config_file(path)

    record = settings({"iters": 10, "restart_every": 2, "stretch_last_cycle": True}, run=True)
    longer = merge_config(record, {"iters": 16, "restart_every": None})
    assert (longer.restart_every, longer.stretch_last_cycle, longer.final_cycle()) == (4, True, None)
    given = merge_config(record, {"restart_every": 3})
    assert (given.restart_every, given.stretch_last_cycle, given.partial_cycle()[0]) == (3, False, 1)
    same = merge_config(record, {})
    assert (same.restart_every, same.stretch_last_cycle, same.final_cycle()) == (2, True, (6, 4))
    older = merge_config(settings({"iters": 10, "restart_every": 2}, run=True), {"iters": 16})  # no key: older
    assert (older.restart_every, older.stretch_last_cycle) == (2, False)
    for hand in ({"restart_every": 5, "stretch_last_cycle": True}, {"iters": 20, "restart_every": 5,
                                                                     "stretch_last_cycle": True}):
        chosen = merge_config(settings(hand, run=False), {"iters": 40})
        assert (chosen.restart_every, chosen.stretch_last_cycle, chosen.final_cycle()) == (5, True, (15, 25))
