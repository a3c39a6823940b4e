"""Stopping promptly and leaving nothing half-made: a signal during guidance's COG/overview
step, the model-cost cache's temporaries, and a train killed while it saves."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from rasterio.errors import RasterioError

import pipelines.cog as cog_module
from groklst_cli.app import run
from tests.conftest import write_canonical_scene
from tests.test_faults_train import saved_run  # noqa: F401 - a fixture
from tests.test_train import dataset  # noqa: F401 - a fixture

STOPS = [
    (signal.SIGINT, 130, "error: interrupted; unfinished outputs were removed"),
    (signal.SIGTERM, 143, "error: terminated (SIGTERM); unfinished outputs were removed"),
]


def slow_finish(tmp: Path) -> None:
    """Stands in for GDAL's COG copy (run in the child): its side file, then one C call of about
    a minute that, like GDAL's, does not return to Python when a signal comes (a sleep would)."""
    tmp.with_name(tmp.name + ".cog").write_bytes(b"half a COG")
    hashlib.pbkdf2_hmac("sha256", b"key", b"salt", 2 * 10**8)


def failing_finish(tmp: Path) -> None:
    """Stands in for a COG copy that GDAL refuses (run in the child)."""
    raise RasterioError("COG driver: cannot write block 3")


@pytest.mark.parametrize("signum, status, message", STOPS)
def test_a_signal_during_the_cog_step_stops_at_once_and_keeps_the_old_output(
        tmp_path: Path, monkeypatch, capsys, signum: int, status: int, message: str) -> None:
    """QA: SIGTERM during a large --cog guidance took ~150 s (GDAL's copy is one call)."""
    lst, source = write_canonical_scene(tmp_path, "s", bands=("red",))
    out = tmp_path / "o" / "g.tif"
    out.parent.mkdir()
    out.write_bytes(b"II*\x00the previous guidance")
    monkeypatch.setattr(cog_module, "to_cog", slow_finish)  # run in the child by layout
    sent: list[float] = []
    thread = signal_on_cog(out, signum, sent)
    code = run(["guidance", str(lst), str(source), "--scale", "3", "--cog", "--overwrite", "-o", str(out)])
    stopped = time.monotonic()
    thread.join()
    assert code == status
    assert sent, "the COG step's .partial.cog never appeared: no signal was sent"
    assert stopped - sent[0] < 15  # the child's long call was not waited for
    assert capsys.readouterr().err.splitlines()[-1] == message
    assert out.read_bytes() == b"II*\x00the previous guidance"
    assert sorted(p.name for p in out.parent.iterdir()) == ["g.tif"]  # no .partial, no .partial.cog


def signal_on_cog(out: Path, signum: int, sent: list[float]) -> threading.Thread:
    """Send ``signum`` to this process once the child has written the ``.partial.cog`` of ``out``
    (after ~30 s of writing in the real-size test)."""

    def wait_and_send() -> None:
        deadline = time.monotonic() + 300
        while not list(out.parent.glob(f".{out.name}.*.partial.cog")) and time.monotonic() < deadline:
            time.sleep(0.01)
        if list(out.parent.glob(f".{out.name}.*.partial.cog")):  # else no signal: it would stop pytest's worker
            sent.append(time.monotonic())
            os.kill(os.getpid(), signum)

    thread = threading.Thread(target=wait_and_send, daemon=True)
    thread.start()
    return thread


def test_an_error_in_the_cog_step_is_one_line_and_leaves_nothing(tmp_path: Path, monkeypatch, capsys) -> None:
    """The child's GDAL error comes back as guidance's own 'writing failed' line."""
    lst, source = write_canonical_scene(tmp_path, "s", bands=("red",))
    out = tmp_path / "o" / "g.tif"
    monkeypatch.setattr(cog_module, "to_cog", failing_finish)
    assert run(["guidance", str(lst), str(source), "--scale", "3", "--cog", "-o", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith(f"error: {out}: writing failed") and "cannot write block 3" in err[-1]
    assert not out.parent.exists()


# ---------------------------------------------------------------- the model-cost cache


def test_an_interrupted_cost_cache_write_leaves_no_temporary(tmp_path: Path, monkeypatch) -> None:
    """A Ctrl-C between mkstemp and the rename left .model-costs.json.XXXXXXXX.partial forever."""
    from groklst_cli import cost_cache

    cache = cost_cache.CostCache(tmp_path / "model-costs.json", "fp")
    cache.put("a x4 1 bands 64 px", 10, 1.5)
    cache.save()
    cache.put("b x4 1 bands 64 px", 20, 2.5)

    def interrupted(*args, **kwargs) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cost_cache.json, "dump", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cache.save()
    assert [p.name for p in tmp_path.iterdir()] == ["model-costs.json"]
    assert cost_cache.CostCache(tmp_path / "model-costs.json", "fp").get("a x4 1 bands 64 px") == (10, 1.5)


def test_the_cost_cache_removes_only_its_own_stale_temporaries(tmp_path: Path) -> None:
    """A day-old temporary of the cache's own name goes; a younger one (a run still saving), a
    lookalike folder and other names stay."""
    from groklst_cli import cost_cache

    day_old = time.time() - 25 * 3600
    old = tmp_path / ".model-costs.json.ab_9xyz0.partial"
    young = tmp_path / ".model-costs.json.young123.partial"
    others = [tmp_path / ".model-costs.json.toolongname.partial", tmp_path / ".other.json.ab_9xyz0.partial",
              tmp_path / "model-costs.json.ab_9xyz0.partial"]
    folder = tmp_path / ".model-costs.json.folder12.partial"
    for path in [old, young, *others]:
        path.write_text("{}")
    folder.mkdir()
    for path in [old, *others, folder]:
        os.utime(path, (day_old, day_old))
    cache = cost_cache.CostCache(tmp_path / "model-costs.json", "fp")
    cache.put("a x4 1 bands 64 px", 10, 1.5)
    cache.save()
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(p.name for p in [young, *others, folder, tmp_path / "model-costs.json"])


# ---------------------------------------------------------------- train killed while saving


def _killed_in_save(monkeypatch, name: str, nth: int, signum: int) -> None:
    """Send ``signum`` (a real signal) while the ``nth`` temporary of ``name`` is being written."""
    import pipelines.checkpoint as checkpoint_module
    import pipelines.train as train_module

    real_save = train_module.torch.save
    seen = {"count": 0}

    def save(obj, path, *args, **kwargs):
        real_save(obj, path, *args, **kwargs)
        if Path(path).name.startswith(f".{name}."):
            seen["count"] += 1
            if seen["count"] == nth:
                signal.raise_signal(signum)  # the temporary is complete, not yet renamed

    monkeypatch.setattr(train_module.torch, "save", save)
    monkeypatch.setattr(checkpoint_module.torch, "save", save)


def _iterations(out: Path) -> dict[str, int]:
    """The iteration each saved file of a run holds."""
    import torch

    from pipelines.checkpoint import load_checkpoint

    found = {name: load_checkpoint(out / name).config["iteration"] for name in ("last.pt", "best.pt")
             if (out / name).exists()}
    found["state.pt"] = torch.load(out / "state.pt", weights_only=True)["iteration"]
    return found


@pytest.mark.parametrize("name", ["last.pt", "best.pt", "state.pt"])
def test_a_train_killed_in_its_final_save_keeps_the_previous_save_whole(
        dataset: Path, tmp_path: Path, monkeypatch, capsys, name: str) -> None:
    """QA: a train killed during its final save kept a final last.pt/best.pt beside an older
    state.pt. Now the final save is all or none: the run is its previous save, and resumes."""
    from tests.test_faults_train import metrics_iterations, train

    out = tmp_path / "run"
    _killed_in_save(monkeypatch, name, 2, signal.SIGTERM)
    assert train(dataset, out, "--val-every", "1") == 143
    assert capsys.readouterr().err.splitlines()[-1] == STOPS[1][2]
    assert set(_iterations(out).values()) == {1}  # no file of iteration 2 beside the state of 1
    assert not list(out.glob(".*.partial"))
    monkeypatch.undo()
    assert run(["-q", "train", str(dataset), "-o", str(out), "--resume", "--json"]) == 0
    assert '"finished": true' in capsys.readouterr().out
    assert set(_iterations(out).values()) == {2} and metrics_iterations(out) == [1, 2]


def test_a_new_run_killed_in_its_only_save_leaves_nothing(dataset: Path, tmp_path: Path, monkeypatch) -> None:
    """Its one save is the final one: killed there, no config.json or metrics.jsonl of a run
    that saved nothing stays (the folder it made is removed), and the same command starts it."""
    from tests.test_faults_train import train

    out = tmp_path / "run"
    _killed_in_save(monkeypatch, "state.pt", 1, signal.SIGINT)
    assert train(dataset, out) == 130
    assert not out.exists()


def test_an_overwrite_killed_in_its_first_save_keeps_the_previous_run(
        dataset: Path, saved_run: Path, tmp_path: Path, monkeypatch) -> None:
    """The previous run's files are replaced only once the new run's first save is complete."""
    from tests.test_faults_downscale import snapshot
    from tests.test_faults_train import copy_of, train

    out = copy_of(saved_run, tmp_path)
    before = snapshot(out)
    _killed_in_save(monkeypatch, "state.pt", 1, signal.SIGTERM)
    assert train(dataset, out, "--overwrite", "--seed", "9") == 143
    assert snapshot(out) == before


def test_a_signal_while_the_save_is_renamed_waits_for_the_whole_save(
        dataset: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    """A signal among the renames of the last save waits for the whole save: the run finished
    (exit 0 since s6 f1: 143 after the path read as "no model")."""
    import pipelines.atomic as atomic
    from tests.test_faults_train import train

    out = tmp_path / "run"
    real_publish = atomic._publish_file

    def publish(tmp: Path, target: Path, *args) -> None:
        real_publish(tmp, target, *args)
        if target.name == "last.pt":  # the first of the save's renames
            signal.raise_signal(signal.SIGTERM)

    monkeypatch.setattr(atomic, "_publish_file", publish)
    assert train(dataset, out) == 0
    assert sorted(p.name for p in out.iterdir()) == ["best.pt", "config.json", "last.pt", "metrics.jsonl",
                                                     "state.pt"]
    assert set(_iterations(out).values()) == {2}
    # review: the final save is whole, so its result line is written before the exit (was none)
    assert capsys.readouterr().out.strip() == str(out / "best.pt")


def test_a_signal_in_an_early_save_stops_there_and_says_how_to_resume(
        dataset: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    """A signal among the renames of a save before the last: the run stops after that save (no
    more iterations), says the command that continues it, names no checkpoint (it is no model:
    s6 f1), exits 130, and resumes."""
    import pipelines.atomic as atomic
    from tests.test_faults_train import metrics_iterations, train

    out = tmp_path / "run"
    real_publish = atomic._publish_file

    def publish(tmp: Path, target: Path, *args) -> None:
        real_publish(tmp, target, *args)
        if target.name == "state.pt":
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(atomic, "_publish_file", publish)
    assert train(dataset, out, "--iters", "4", "--val-every", "2") == 130
    captured = capsys.readouterr()
    assert set(_iterations(out).values()) == {2} and metrics_iterations(out) == [2]
    assert captured.out == ""
    assert f"to resume: groklst --quiet train {dataset} -o {out} --resume" in captured.err  # -q kept (03878c2)
    monkeypatch.undo()
    assert train(dataset, out, "--iters", "4", "--val-every", "2", "--resume") == 0
    assert set(_iterations(out).values()) == {4} and metrics_iterations(out) == [2, 4]


def test_a_signal_after_the_final_save_waits_for_the_report(
        dataset: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    """The run is on disk: a signal while its summary is made still lets the result line out
    (then exit 0 since s6 f1: the run finished), instead of "unfinished outputs were removed"
    and no line."""
    import groklst_cli.commands.train as train_command
    from tests.test_faults_train import train

    out = tmp_path / "run"
    real_summary = train_command._summary

    def summary(*args):
        signal.raise_signal(signal.SIGTERM)
        return real_summary(*args)

    monkeypatch.setattr(train_command, "_summary", summary)
    assert train(dataset, out) == 0
    assert capsys.readouterr().out.strip() == str(out / "best.pt")
    assert set(_iterations(out).values()) == {2}
