"""The bad-input and fault matrix of `groklst train`: checked before the run directory is touched.

Every case asserts the exit status, the one line that explains it, that nothing was created
under the run directory, and that files already there are byte-identical afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import pipelines.train as train_module
from groklst_cli.app import run
from groklst_cli.commands.train import _check_batch
from pipelines.checkpoint import load_checkpoint
from pipelines.checkpoint_card import checkpoint_card, format_card
from pipelines.dataset import NormStats, open_prepared
from pipelines.devices import resolve_device
from pipelines.errors import GroklstWarning, InputError
from pipelines.run_layout import BEST, CONFIG_FILE, METRICS_FILE, STATE
from pipelines.train import fit
from tests.conftest import prepare_generated_dataset
from tests.test_faults_downscale import snapshot
from tests.test_train import CLI_TRAIN, TINY, FakeSource, dataset  # noqa: F401 - dataset: a fixture
from tests.test_train import config as tiny_config


def error_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]


def train(dataset: Path, out: Path, *extra: str) -> int:
    """``groklst train`` with the tiny settings of tests/test_train.py, later options winning."""
    return run(["-q", "train", str(dataset), "-o", str(out), "--iters", "2", *CLI_TRAIN, *extra])


@pytest.fixture(scope="module")
def saved_run(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished two-iteration run (copied by the tests that need one)."""
    out = tmp_path_factory.mktemp("saved") / "run"
    assert train(dataset, out) == 0
    return out


def copy_of(run_dir: Path, where: Path) -> Path:
    return Path(shutil.copytree(run_dir, where / run_dir.name))


def metrics_iterations(out: Path) -> list[int]:
    return [json.loads(line)["iteration"] for line in (out / METRICS_FILE).read_text().splitlines()]


# ------------------------------------------------------ validated before anything is written


def test_unknown_model_is_one_line_listing_the_trainable_models(dataset: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert train(dataset, out, "--model", "mocolsk-tiny") == 2
    lines = error_lines(capsys)
    assert len(lines) == 1 and "unknown model 'mocolsk-tiny'" in lines[0]
    assert "trainable models: mocolsk, mocolsk-lite, edsr" in lines[0]
    assert not out.exists()


BAD_SETTINGS = {
    "scale not in the dataset": (["--scale", "4"], "the dataset has scales [2], not x4"),
    "crop not a multiple of the scale": (["--crop", "13"], "crop 13 must be a multiple of the scale 2"),
    "crop larger than the patches": (["--crop", "48"], "crop 48 px is larger than the 24 px patches"),
    "unknown model keyword": (["--model-kwargs", '{"base_dims": 8}'], "accepts base_dim, num_stages"),
    "impossible model keyword": (["--model-kwargs", '{"base_dim": -4}'], "cannot be built"),
    "non-learned model": (["--model", "bicubic"], "'bicubic' has no weights to train"),
    "batch size": (["--batch-size", "0"], "--batch-size: must be an integer >= 1, not 0"),
    "device": (["--device", "tpu"], "--device: must be auto, cpu, cuda or cuda:N, not 'tpu'"),
    "cuda index": (["--device", "cuda:x"], "--device: must be auto, cpu, cuda or cuda:N, not 'cuda:x'"),
    "precision": (["--precision", "fp8"], "--precision: must be one of auto, fp32, bf16, fp16, not 'fp8'"),
    "time limit": (["--max-seconds", "0"], "must be a positive number of seconds"),
    "NaN learning rate": (["--lr", "nan"], "--lr: must be a finite number > 0, not nan"),
    "infinite learning rate": (["--lr", "inf"], "--lr: must be a finite number > 0, not inf"),
    "NaN weight decay": (["--weight-decay", "nan"], "--weight-decay: must be a finite number >= 0, not nan"),
    "negative seed": (["--seed", "-1"], "--seed: must be an integer from 0 to 18446744073709551615, not -1"),
    "zero scale": (["--scale", "0"], "--scale: must be an integer >= 2, not 0"),
}


@pytest.mark.parametrize("case", list(BAD_SETTINGS))
def test_bad_settings_create_no_run_directory(case: str, dataset: Path, tmp_path: Path, capsys) -> None:
    extra, fragment = BAD_SETTINGS[case]
    out = tmp_path / "run"
    assert train(dataset, out, *extra) == 2
    lines = error_lines(capsys)
    assert len(lines) == 1 and fragment in lines[0], lines
    assert not out.exists()


def test_a_nan_in_the_config_file_names_the_file(dataset: Path, tmp_path: Path, capsys) -> None:
    settings = tmp_path / "train.toml"
    settings.write_text("[train]\nweight-decay = nan\n")
    out = tmp_path / "run"
    assert train(dataset, out, "--config", str(settings)) == 2
    lines = error_lines(capsys)
    assert len(lines) == 1 and f"{settings} (weight_decay): must be a finite number >= 0, not nan" in lines[0]
    assert not out.exists()


BAD_FILE_SETTINGS = {
    "iters a string": ("train.toml", 'iters = "4"', "(iters): must be an integer, not '4'"),
    "iters a fraction": ("train.toml", "iters = 4.5", "(iters): must be an integer, not 4.5"),
    "batch size a string": ("train.toml", 'batch-size = "2"', "(batch_size): must be an integer, not '2'"),
    "restart_every a string": ("train.toml", 'restart_every = "3"', "(restart_every): must be an integer, not '3'"),
    "val_every a boolean": ("train.toml", "val_every = true", "(val_every): must be an integer, not True"),
    "crop zero": ("train.json", '{"crop": 0}', "(crop): must be an integer >= 1, not 0"),
    "crop no multiple of the scale": ("train.toml", "scale = 2\ncrop = 13",
                                      "(crop): crop 13 must be a multiple of the scale 2 (hint: e.g. crop 12)"),
    "device a number": ("train.toml", "device = 5", "(device): must be auto, cpu, cuda or cuda:N, not 5"),
    "precision a number": ("train.yaml", "precision: 16", "(precision): must be one of auto, fp32, bf16, fp16, not 16"),
    "model a number": ("train.json", '{"model": 3}', "(model): must be a string, not 3"),
    "model_kwargs not a table": ("train.toml", "model_kwargs = 8", "(model_kwargs): must be a table of keyword"),
    "lr a word in YAML": ("train.yaml", "lr: fast", "(lr): must be a finite number > 0, not 'fast'"),
    "lr a string in TOML": ("train.toml", 'lr = "1e-4"', "(lr): must be a finite number > 0, not '1e-4'"),
}


@pytest.mark.parametrize("case", list(BAD_FILE_SETTINGS))
def test_a_config_file_setting_of_the_wrong_type_names_the_file_and_key(case: str, dataset: Path,
                                                                        tmp_path: Path, capsys) -> None:
    name, text, fragment = BAD_FILE_SETTINGS[case]
    settings = tmp_path / name
    settings.write_text(text + "\n")
    out = tmp_path / "run"
    args = ["-q", "train", str(dataset), "-o", str(out), "--config", str(settings)]
    assert run(args) == 2
    lines = error_lines(capsys)
    assert len(lines) == 1 and f"{settings} {fragment}" in lines[0], lines
    assert not out.exists()


def test_a_crop_no_multiple_of_the_scale_names_where_it_was_set(dataset: Path, tmp_path: Path, capsys) -> None:
    """QA: the refusal named ``config`` whichever option or file set the crop or scale (the
    dataset's scale is 2: a scale it lacks is refused first, see tests/test_train.py)."""
    scale_file, crop_file = tmp_path / "scale.toml", tmp_path / "crop.toml"
    scale_file.write_text("scale = 2\n")
    crop_file.write_text("crop = 13\n")
    out = tmp_path / "run"
    for args, label in ((["--scale", "2", "--crop", "13"], "--crop"),
                        (["--config", str(scale_file), "--crop", "13"], "--crop"),
                        (["--config", str(crop_file), "--scale", "2"], f"{crop_file} (crop)")):
        assert run(["-q", "train", str(dataset), "-o", str(out), *args]) == 2
        [line] = error_lines(capsys)
        assert f"error: {label}: crop " in line and "must be a multiple of the scale" in line, (args, line)
    assert not out.exists()


def test_yaml_reads_1e_4_as_a_learning_rate(dataset: Path, tmp_path: Path) -> None:
    settings = tmp_path / "train.yaml"
    settings.write_text("lr: 2e-4\nweight-decay: 1E-6\nmin_lr: 0\n")  # YAML 1.1: the first two are strings
    out = tmp_path / "run"
    assert train(dataset, out, "--config", str(settings)) == 0
    saved = json.loads((out / CONFIG_FILE).read_text())["train"]
    assert (saved["lr"], saved["weight_decay"], saved["min_lr"]) == (2e-4, 1e-6, 0)


def test_a_batch_larger_than_the_train_split_is_refused(dataset: Path, tmp_path: Path, capsys) -> None:
    patches = len(open_prepared(dataset).indices("train"))
    out = tmp_path / "run"
    assert train(dataset, out, "--batch-size", str(patches + 1)) == 2
    lines = error_lines(capsys)
    assert len(lines) == 1, lines
    assert f"--batch-size: a batch of {patches + 1} is more than the {patches} training patches" in lines[0]
    assert f"use --batch-size {patches} or less" in lines[0]
    assert not out.exists()
    _check_batch(patches, 1, patches)  # exactly the train split: accepted
    with pytest.raises(InputError, match=f"a batch of {patches} x 2 processes"):
        _check_batch(patches, 2, patches)


@pytest.fixture(scope="module")
def dataset_without_val(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One generated scene prepared with --split 1:0:0: every patch is a training patch."""
    out = prepare_generated_dataset(tmp_path_factory.mktemp("noval"), (2,), seeds=(1,), stride=24, split="1:0:0")
    assert open_prepared(out).indices("val") == []
    return out


def test_without_a_validation_split_there_is_no_best_pt(dataset_without_val: Path, tmp_path: Path,
                                                      capsys) -> None:
    out = tmp_path / "run"
    assert train(dataset_without_val, out, "--val-every", "1", "--batch-size", "1", "--json") == 0
    captured = capsys.readouterr()
    assert "warning: the dataset has no validation split" in captured.err
    assert "no best.pt is written; last.pt is the final state" in captured.err
    summary = json.loads(captured.out)
    assert summary["best"] is None and summary["best_checkpoint"] is None
    assert summary["last_checkpoint"] == str(out / "last.pt")
    assert not (out / BEST).exists()
    assert load_checkpoint(out / "last.pt").config["iteration"] == 2
    assert train(dataset_without_val, tmp_path / "plain", "--batch-size", "1") == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "plain" / "last.pt")


def test_the_device_used_is_recorded_with_the_requested_one(dataset: Path, tmp_path: Path, capsys) -> None:
    used = str(resolve_device("auto"))
    out = tmp_path / "run"
    assert train(dataset, out, "--device", "auto") == 0
    saved = json.loads((out / CONFIG_FILE).read_text())
    assert (saved["train"]["device"], saved["requested_device"]) == (used, "auto")
    checkpoint = load_checkpoint(out / BEST)
    assert (checkpoint.config["device"], checkpoint.config["requested_device"]) == (used, "auto")
    capsys.readouterr()
    assert run(["checkpoint-info", str(out / BEST)]) == 0
    text = capsys.readouterr().out
    assert f"on {used} (requested auto)," in text and "requested_device=" not in text
    assert train(dataset, out, "--resume") == 0  # the stored device does not block a resume
    cpu_run = tmp_path / "cpu"
    assert train(dataset, cpu_run) == 0  # CLI_TRAIN asks for the CPU: nothing to add
    card = format_card(checkpoint_card(cpu_run / BEST))
    assert any(line.startswith("training") and "on cpu, precision" in line for line in card)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_creates_no_run_directory(dataset: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert train(dataset, out, "--device", "cuda") == 2
    lines = error_lines(capsys)
    assert len(lines) == 1 and "no CUDA device is available" in lines[0]
    assert not out.exists()


def test_a_failed_overwrite_leaves_the_previous_run_intact(dataset: Path, saved_run: Path, tmp_path: Path,
                                                           capsys) -> None:
    out = copy_of(saved_run, tmp_path)
    before = snapshot(out)
    assert train(dataset, out, "--overwrite", "--crop", "48") == 2
    assert len(error_lines(capsys)) == 1
    assert snapshot(out) == before


# --------------------------------------------------------------- run directories and resume


def test_a_run_that_never_saved_a_state_starts_again_without_overwrite(dataset: Path, tmp_path: Path,
                                                                       capsys) -> None:
    out = tmp_path / "run"
    out.mkdir()
    # What a start killed before its first validation leaves: the config, and its temporary.
    (out / CONFIG_FILE).write_text(json.dumps({"format": "groklst-run/1", "train": {"crop": 48},
                                               "dataset": str(dataset)}))
    (out / ".state.pt.0123abcd.partial").write_bytes(b"half a state")
    before = snapshot(out)
    assert train(dataset, out, "--resume") == 2
    lines = error_lines(capsys)
    assert len(lines) == 1 and "the run never saved a training state" in lines[0]
    assert "start it again with the same command without --resume" in lines[0]
    assert snapshot(out) == before
    assert train(dataset, out) == 0
    assert json.loads((out / CONFIG_FILE).read_text())["train"]["crop"] == 12
    assert (out / STATE).is_file() and not list(out.glob(".state.pt.*"))


def test_resume_on_another_dataset_is_refused(dataset: Path, saved_run: Path, tmp_path: Path, capsys) -> None:
    out = copy_of(saved_run, tmp_path)
    other = prepare_generated_dataset(tmp_path / "other", (2,), seeds=(3, 4))  # same bands and scales
    before = snapshot(out)
    assert run(["-q", "train", str(other), "-o", str(out), "--resume"]) == 2
    lines = error_lines(capsys)
    assert len(lines) == 1, lines
    assert f"{other}: is not the dataset the run in {out} trained on ({dataset.resolve()}); it differs in: statistics, train split, val split, test split" in lines[0]
    assert "resume with the run's own dataset" in lines[0]
    assert snapshot(out) == before


def test_resume_on_the_same_dataset_moved_elsewhere_is_accepted(dataset: Path, saved_run: Path,
                                                                tmp_path: Path) -> None:
    out = copy_of(saved_run, tmp_path)
    moved = Path(shutil.copytree(dataset, tmp_path / "moved"))
    before = json.loads((out / CONFIG_FILE).read_text())
    assert run(["-q", "train", str(moved), "-o", str(out), "--resume"]) == 0
    after = json.loads((out / CONFIG_FILE).read_text())
    assert after == {**before, "dataset": str(moved.resolve())}  # QA: it kept the old path


def test_resume_from_a_moved_dataset_with_a_refused_state_leaves_config_json(dataset: Path, saved_run: Path,
                                                                          tmp_path: Path, capsys) -> None:
    out = copy_of(saved_run, tmp_path)
    (out / STATE).write_bytes(b"not a state")  # QA: config.json took the new path before this was read
    moved = Path(shutil.copytree(dataset, tmp_path / "moved"))
    before = snapshot(out)
    assert run(["-q", "train", str(moved), "-o", str(out), "--resume"]) == 2
    assert "cannot read the training state" in error_lines(capsys)[0]
    assert snapshot(out) == before


def test_resume_of_a_run_without_a_recorded_identity_compares_the_path(dataset: Path, saved_run: Path,
                                                                       tmp_path: Path, capsys) -> None:
    out = copy_of(saved_run, tmp_path)
    record = json.loads((out / CONFIG_FILE).read_text())
    del record["dataset_identity"]  # a run written before identities were recorded
    (out / CONFIG_FILE).write_text(json.dumps(record))
    moved = Path(shutil.copytree(dataset, tmp_path / "moved"))
    assert run(["-q", "train", str(moved), "-o", str(out), "--resume"]) == 2
    assert "it differs in: path" in error_lines(capsys)[0]
    assert run(["-q", "train", str(dataset), "-o", str(out), "--resume"]) == 0


def test_resume_refuses_settings_that_differ_from_the_run_on_the_command_line_or_in_the_file(
        dataset: Path, saved_run: Path, tmp_path: Path, capsys) -> None:
    out = copy_of(saved_run, tmp_path)
    before = snapshot(out)
    assert run(["-q", "train", str(dataset), "-o", str(out), "--resume", "--iters", "3"]) == 2
    lines = error_lines(capsys)
    assert len(lines) == 1 and f"--iters: the run in {out} was started with iters=2, not 3" in lines[0]
    assert "a resumed run keeps its settings" in lines[0]
    settings = tmp_path / "train.toml"
    for text, fragment in (("iters = 3", "(iters): the run in"), ('model = "edsr"', "(model): the run in"),
                           ("lr = 5e-4", "(lr): the run in"), ("scale = 4", "(scale): the run in")):
        settings.write_text(text + "\n")
        assert run(["-q", "train", str(dataset), "-o", str(out), "--resume", "--config", str(settings)]) == 2
        lines = error_lines(capsys)
        assert len(lines) == 1 and f"{settings} {fragment} {out} was started with" in lines[0], lines
    assert snapshot(out) == before
    settings.write_text('iters = 2\ndevice = "cpu"\n')  # the run's own settings, and another device: fine
    assert run(["-q", "train", str(dataset), "-o", str(out), "--resume", "--config", str(settings)]) == 0


def test_resume_without_a_run_says_so(dataset: Path, tmp_path: Path, capsys) -> None:
    assert train(dataset, tmp_path / "nothing", "--resume") == 2
    lines = error_lines(capsys)
    assert len(lines) == 1 and "the run directory does not exist" in lines[0]
    assert not (tmp_path / "nothing").exists()


def test_a_saved_run_needs_resume_or_overwrite(dataset: Path, saved_run: Path, tmp_path: Path, capsys) -> None:
    out = copy_of(saved_run, tmp_path)
    before = snapshot(out)
    assert train(dataset, out) == 2
    lines = error_lines(capsys)
    assert len(lines) == 1 and "holds a finished run (2 of 2 iterations" in lines[0]
    assert "or pass --overwrite to replace it" in lines[0]
    assert snapshot(out) == before


def test_overwrite_removes_only_the_run_files(dataset: Path, saved_run: Path, tmp_path: Path) -> None:
    out = copy_of(saved_run, tmp_path)
    (out / STATE).write_bytes(b"PK\x03\x04a state this test must see replaced")  # a PyTorch file's header
    (out / "notes.txt").write_text("lr sweep, second try")
    (out / "plots").mkdir()
    (out / "plots" / "loss.png").write_bytes(b"\x89PNG a user's plot")
    assert train(dataset, out, "--overwrite", "--seed", "6") == 0
    assert (out / "notes.txt").read_text() == "lr sweep, second try"
    assert (out / "plots" / "loss.png").read_bytes() == b"\x89PNG a user's plot"
    assert json.loads((out / CONFIG_FILE).read_text())["train"]["seed"] == 6
    assert metrics_iterations(out) == [2]
    assert torch.load(out / STATE, weights_only=True)["config"]["seed"] == 6


def test_a_folder_that_is_not_a_run_is_never_cleared(dataset: Path, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / CONFIG_FILE).write_text('{"experiment": "mine"}')
    (folder / "best.pt").write_bytes(b"someone else's model")
    (folder / "data.csv").write_text("a,b\n1,2\n")
    before = snapshot(folder)
    assert train(dataset, folder, "--overwrite") == 2
    lines = error_lines(capsys)
    assert len(lines) == 1 and "is not a groklst run directory" in lines[0]
    assert snapshot(folder) == before
    assert train(dataset, dataset, "--overwrite") == 2  # the dataset itself
    assert "is not a groklst run directory" in error_lines(capsys)[0]
    a_file = tmp_path / "run.txt"
    a_file.write_text("x")
    assert train(dataset, a_file) == 2
    assert "exists and is not a folder" in error_lines(capsys)[0] and a_file.read_text() == "x"


def test_a_kill_during_a_state_save_does_not_duplicate_metrics(dataset: Path, tmp_path: Path,
                                                               monkeypatch, capsys) -> None:
    killed = tmp_path / "killed"
    real_save = torch.save
    saves = {"state": 0}

    def killed_in_second_state_save(obj, path, *args, **kwargs):
        if Path(path).name.startswith(f".{STATE}."):
            saves["state"] += 1
            if saves["state"] == 2:
                Path(path).write_bytes(b"half")
                raise KeyboardInterrupt  # what Ctrl-C or SIGTERM raises in the middle of the save
        return real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(train_module.torch, "save", killed_in_second_state_save)
    assert train(dataset, killed, "--val-every", "1") == 130
    logged = (killed / METRICS_FILE).read_text().splitlines()
    assert metrics_iterations(killed) == [1, 2]  # iteration 2 was logged, its state never saved
    assert torch.load(killed / STATE, weights_only=True)["iteration"] == 1
    assert not list(killed.glob(".*.partial"))
    monkeypatch.setattr(train_module.torch, "save", real_save)
    capsys.readouterr()
    assert run(["-q", "train", str(dataset), "-o", str(killed), "--resume"]) == 0
    assert metrics_iterations(killed) == [1, 2]
    # The resumed run logs what the killed one had logged: the same (seeded) numbers.
    assert (killed / METRICS_FILE).read_text().splitlines() == logged


def test_a_diverged_run_saves_nothing_and_can_start_again(dataset: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert train(dataset, out, "--lr", "1e6") == 2
    lines = error_lines(capsys)
    assert len(lines) == 1 and "training diverged: the train loss is nan at iteration 2" in lines[0]
    assert not out.exists()  # no checkpoint of NaN weights, and the folder it made is gone
    assert train(dataset, out) == 0


def test_an_overwrite_that_diverges_keeps_the_previous_run(dataset: Path, saved_run: Path, tmp_path: Path,
                                                            capsys) -> None:
    out = copy_of(saved_run, tmp_path)
    (out / "notes.txt").write_text("keep me")
    before = snapshot(out)
    assert train(dataset, out, "--overwrite", "--lr", "1e6") == 2
    assert "training diverged" in error_lines(capsys)[0]
    assert snapshot(out) == before
    assert run(["-q", "train", str(dataset), "-o", str(out), "--resume"]) == 0  # still the old run


def test_an_overwrite_stopped_before_its_first_save_keeps_the_previous_run(
        dataset: Path, saved_run: Path, tmp_path: Path, monkeypatch) -> None:
    out = copy_of(saved_run, tmp_path)
    before = snapshot(out)

    def interrupted(self) -> float:
        raise KeyboardInterrupt  # Ctrl-C during the first iteration

    monkeypatch.setattr(train_module._Run, "step", interrupted)
    assert train(dataset, out, "--overwrite", "--seed", "9") == 130
    assert snapshot(out) == before


def test_an_overwrite_replaces_every_file_of_the_previous_run_at_its_first_save(
        dataset_without_val: Path, saved_run: Path, tmp_path: Path) -> None:
    out = copy_of(saved_run, tmp_path)
    assert (out / BEST).is_file()
    (out / METRICS_FILE).write_text('{"iteration": 99}\n')
    assert train(dataset_without_val, out, "--overwrite", "--seed", "7", "--batch-size", "1") == 0
    assert not (out / BEST).exists()  # the previous run's best, which this run has no equal of
    assert metrics_iterations(out) == [2]
    assert json.loads((out / CONFIG_FILE).read_text())["train"]["seed"] == 7
    assert load_checkpoint(out / "last.pt").config["seed"] == 7


def test_a_constant_guidance_band_still_gives_a_usable_checkpoint(tmp_path: Path) -> None:
    source = FakeSource()
    for _, guidance, _ in source.items:
        guidance[1] = 0.0  # like the constant DEM of an ingest without --dem
    source.stats = NormStats(300.0, 4.5, [0.0, 0.0, 0.0], [1.0, 0.0, 1.0])
    with pytest.warns(GroklstWarning, match="guidance band 'b' is constant or empty in the train split"):
        fit(source, tiny_config(), tmp_path)
    checkpoint = load_checkpoint(tmp_path / BEST)  # refuses a zero std: must not raise
    assert checkpoint.band_std == [1.0, 1.0, 1.0] and checkpoint.band_mean == [0.0, 0.0, 0.0]
    assert all(torch.isfinite(v).all() for v in checkpoint.state_dict.values() if v.is_floating_point())


# ------------------------------------------------------------------ defaults, help, the model


def test_help_shows_the_defaults_without_loading_torch() -> None:
    code = ("import sys; from groklst_cli.app import run; status = run(['train', '--help']); "
            "print('torch loaded' if 'torch' in sys.modules else 'no torch', status)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    text = done.stdout
    for default in ("[default: mocolsk]", "[default: 4]", "[default: 10000]", "[default: 192]",
                    "[default: 0.0001]", "[default: 1e-05]", "[default: 500]", "[default: auto]"):
        assert default in text, default
    assert text.strip().endswith("no torch 0")


def test_the_cli_starts_without_torch_scipy_or_scikit_learn() -> None:
    """Every command pays for what the CLI imports at start: parsing --fit-psf must not load SciPy."""
    code = ("import sys; from groklst_cli.app import run; status = run(['downscale', '--help']); "
            "print(sorted(m for m in ('torch', 'scipy', 'sklearn') if m in sys.modules), status)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("[] 0")


def test_config_file_still_beats_the_defaults(dataset: Path, tmp_path: Path) -> None:
    settings = tmp_path / "train.toml"
    settings.write_text("[train]\nbatch-size = 1\nval-every = 1\nseed = 9\n")
    out = tmp_path / "run"
    args = ["-q", "train", str(dataset), "-o", str(out), "--config", str(settings), "--model",
            "mocolsk-lite", "--scale", "2", "--crop", "12", "--device", "cpu", "--iters", "2",
            "--seed", "4", "--model-kwargs", json.dumps(TINY)]
    assert run(args) == 0
    saved = json.loads((out / CONFIG_FILE).read_text())
    assert saved["format"] == "groklst-run/1"
    assert (saved["train"]["batch_size"], saved["train"]["val_every"]) == (1, 1)  # from the file
    assert saved["train"]["seed"] == 4 and saved["train"]["lr"] == 1e-4  # command line; default
    assert metrics_iterations(out) == [1, 2]


def test_without_model_it_says_which_and_warns_on_a_cpu(dataset: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    args = ["train", str(dataset), "-o", str(out), "--iters", "1", "--scale", "2", "--crop", "6",
            "--batch-size", "1", "--device", "cpu", "--model-kwargs",
            '{"base_dim": 4, "num_stages": 1, "blocks_per_group": 1, "dmlp_hidden": 4}']
    assert run(args) == 0
    err = capsys.readouterr().err
    assert "no --model given: training mocolsk (the default" in err
    assert "warning: mocolsk is the paper-size model, sized for GPUs" in err
    assert "--model mocolsk-lite is the CPU-sized preset" in err
    assert run(["train", str(dataset), "-o", str(tmp_path / "lite"), "--iters", "1", *CLI_TRAIN]) == 0
    err = capsys.readouterr().err
    assert "no --model given" not in err and "paper-size" not in err
