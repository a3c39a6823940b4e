"""The learning-rate schedule restarts like the paper's CosineAnnealingWarmRestarts: four cosine
cycles over the run by default (2,500 of 10k iterations in the reference config), or every
``--restart-every`` iterations; a resumed run continues the same curve."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from groklst_cli.app import run
from pipelines.checkpoint import load_checkpoint
from pipelines.checkpoint_card import checkpoint_card, format_card
from pipelines.errors import InputError
from pipelines.run_layout import CONFIG_FILE, LAST, METRICS_FILE
from pipelines.train import Limits, fit
from pipelines.train_config import TrainConfig
from tests.conftest import prepare_generated_dataset
from tests.test_train import CLI_TRAIN, SCALE, FakeSource, config

LR, MIN_LR = 1e-4, 1e-7


def cosine(step: int, period: int) -> float:
    """The learning rate of (0-based) optimiser step ``step`` with a restart every ``period``."""
    return MIN_LR + (LR - MIN_LR) * (1 + math.cos(math.pi * (step % period) / period)) / 2


def step_lrs(history: list[dict[str, float]]) -> list[float]:
    """The rate each logged iteration's step used (validated after every step: one per step)."""
    return [record["lr"] for record in history]


def logged_lrs(out: Path) -> list[float]:
    return [json.loads(line)["lr"] for line in (out / METRICS_FILE).read_text().splitlines()]


def test_a_default_run_restarts_every_quarter_of_its_iterations() -> None:
    settings = config(iters=40, val_every=1)
    assert settings.restart_every == 10
    lrs = step_lrs(fit(FakeSource(), settings).history)
    assert len(lrs) == 40
    assert lrs[0] == pytest.approx(1e-4, rel=1e-12)
    assert lrs[9] == pytest.approx(2.54473e-6, rel=1e-5)  # the end of the first cycle, near min_lr
    assert lrs[10] == pytest.approx(1e-4, rel=1e-12)  # back to --lr
    assert lrs[39] == pytest.approx(lrs[9], rel=1e-9)  # the end of the fourth cycle
    assert lrs == pytest.approx([cosine(k, 10) for k in range(40)], rel=1e-9)


@pytest.mark.parametrize(("iters", "expected"), [(10_000, 2_500), (40, 10), (10, 2), (7, 7), (3, 3), (1, 1)])
def test_the_default_cycle_is_a_quarter_of_the_iterations_and_at_least_two(iters: int, expected: int) -> None:
    """A run too short for cycles of 2 has one cycle (cycles of 1 train every step at the peak rate)."""
    assert TrainConfig(iters=iters).restart_every == expected


def test_an_explicit_restart_every_wins_and_iters_gives_one_cycle() -> None:
    assert TrainConfig(iters=40, restart_every=7).restart_every == 7
    lrs = step_lrs(fit(FakeSource(), config(iters=8, val_every=1, restart_every=8)).history)
    assert lrs == pytest.approx([cosine(k, 8) for k in range(8)], rel=1e-9)
    assert lrs == sorted(lrs, reverse=True)  # one cycle: the rate never comes back up


def test_a_resumed_run_continues_the_uninterrupted_curve(tmp_path: Path) -> None:
    settings = config(iters=9, val_every=1)  # restarts every 2
    straight = step_lrs(fit(FakeSource(), settings, tmp_path / "straight").history)
    fit(FakeSource(), settings, tmp_path / "paused", limits=Limits(max_iters=3))  # stopped mid-cycle
    resumed = step_lrs(fit(FakeSource(), settings, tmp_path / "paused", resume=True).history)
    assert resumed == straight  # exactly
    # cycles of 2, the fourth stretched to the end (86bd9d9): the run ends near min_lr
    assert straight == pytest.approx([cosine(k, 2) for k in range(6)] + [cosine(k, 3) for k in range(3)],
                                     rel=1e-9)


def test_a_state_with_another_cycle_is_refused(tmp_path: Path) -> None:
    fit(FakeSource(), config(iters=12), tmp_path, limits=Limits(max_iters=1))
    with pytest.raises(InputError, match=r"trained with restart_every=3, not 4 \(hint: resume with its own"):
        fit(FakeSource(), config(iters=12, restart_every=4), tmp_path, resume=True)


# --- the command line -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_generated_dataset(tmp_path_factory.mktemp("prepared"), (SCALE,))


def train(dataset: Path, out: Path, *extra: str) -> int:
    return run(["-q", "train", str(dataset), "-o", str(out), *CLI_TRAIN, "--val-every", "1", *extra])


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, lines
    return lines[0]


def test_the_default_cycle_is_recorded_and_shown_on_the_card(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert train(dataset, out, "--iters", "8") == 0
    assert json.loads((out / CONFIG_FILE).read_text())["train"]["restart_every"] == 2
    assert load_checkpoint(out / LAST).config["restart_every"] == 2
    assert any("restart_every=2," in line for line in format_card(checkpoint_card(out / LAST)))
    assert logged_lrs(out) == pytest.approx([cosine(k, 2) for k in range(8)], rel=1e-9)


def test_a_card_says_an_old_null_cycle_was_one_cycle() -> None:
    """The shipped checkpoint predates the four-cycle default: null there meant one cycle."""
    shipped = Path(__file__).resolve().parents[1] / "models" / "pretrained" / "mocolsk-lite-x3-sdgsat.pt"
    card = checkpoint_card(shipped)
    assert card["config"]["restart_every"] is None  # the record itself is left as written
    assert "config      min_lr=1e-07, restart_every=null (one cycle), val_every=200" in format_card(card)


def test_restart_every_option_overrides_the_config_file(dataset: Path, tmp_path: Path) -> None:
    settings = tmp_path / "train.toml"
    settings.write_text("restart_every = 2\n")
    out = tmp_path / "run"
    assert train(dataset, out, "--iters", "6", "--config", str(settings), "--restart-every", "3") == 0
    assert json.loads((out / CONFIG_FILE).read_text())["train"]["restart_every"] == 3
    assert logged_lrs(out) == pytest.approx([cosine(k, 3) for k in range(6)], rel=1e-9)


@pytest.mark.parametrize("value", ["0", "-2"])
def test_restart_every_below_one_is_refused(value: str, dataset: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert train(dataset, out, "--iters", "2", "--restart-every", value) == 2
    assert error_line(capsys) == f"error: --restart-every: must be an integer >= 1, not {value}"
    assert not out.exists()


def test_a_resume_keeps_the_run_s_cycle(dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    straight, paused = tmp_path / "straight", tmp_path / "paused"
    assert train(dataset, straight, "--iters", "8") == 0
    assert train(dataset, paused, "--iters", "8", "--max-seconds", "1e-9") == 0  # stops after one step
    assert train(dataset, paused, "--resume", "--restart-every", "4") == 2
    assert error_line(capsys) == (f"error: --restart-every: the run in {paused} was started with "
                                  "restart_every=2, not 4 (hint: a resumed run keeps its settings)")
    assert train(dataset, paused, "--resume") == 0
    assert logged_lrs(paused) == logged_lrs(straight)


def test_a_run_recorded_before_the_default_had_cycles_resumes_as_one_cycle(dataset: Path, tmp_path: Path) -> None:
    """config.json of older runs says restart_every null: they trained one cycle over --iters
    (their config.json stays as it was; the checkpoints the resume writes name the cycle)."""
    out = tmp_path / "run"
    assert train(dataset, out, "--iters", "6", "--restart-every", "6", "--max-seconds", "1e-9") == 0
    record = json.loads((out / CONFIG_FILE).read_text())
    record["train"]["restart_every"] = None
    (out / CONFIG_FILE).write_text(json.dumps(record))
    assert train(dataset, out, "--resume") == 0
    assert load_checkpoint(out / LAST).config["restart_every"] == 6
    assert logged_lrs(out) == pytest.approx([cosine(k, 6) for k in range(6)], rel=1e-9)
