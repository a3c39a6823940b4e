"""Import of the public GrokLST .mat layout (fixtures generated here with scipy.io.savemat)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from groklst_cli.app import run
from pipelines.dataset import open_prepared
from pipelines.grokmat import GROKLST_BANDS, import_groklst

NAMES = ["0000.mat", "0001.mat", "0002.mat", "0003.mat", "0004.mat"]


def _write_layout(root: Path, size: int = 16, drop_band: str | None = None) -> dict[str, dict]:
    """A miniature GrokLST folder: 30m HR + 60m/120m LR LST, guidance, split lists."""
    rng = np.random.default_rng(0)
    truth: dict[str, dict] = {}
    for name in NAMES:
        hr = rng.uniform(280.0, 320.0, (size, size))
        guidance = {b: rng.uniform(0, 1, (size, size)) for b in GROKLST_BANDS if b != drop_band}
        lr = {s: hr.reshape(size // s, s, size // s, s).mean(axis=(1, 3)) for s in (2, 4)}
        for res, lst in (("30m", hr), ("60m", lr[2]), ("120m", lr[4])):
            (root / res / "lst").mkdir(parents=True, exist_ok=True)
            (root / res / "guidance").mkdir(parents=True, exist_ok=True)
            scipy.io.savemat(root / res / "lst" / name, {"data": lst})
            scipy.io.savemat(root / res / "guidance" / name, guidance)
        truth[name] = {"hr": hr, "guidance": guidance, "lr": lr}
    (root / "split").mkdir(exist_ok=True)
    (root / "split" / "train.txt").write_text("0\n2\n4\n")
    (root / "split" / "val.txt").write_text("1\n")
    (root / "split" / "test.txt").write_text("0003\n")
    return truth


def test_import_keeps_values_splits_and_train_statistics(tmp_path: Path) -> None:
    truth = _write_layout(tmp_path / "GrokLST")
    info = import_groklst(tmp_path / "GrokLST", tmp_path / "ds")
    ds = open_prepared(tmp_path / "ds")
    assert ds.bands == list(GROKLST_BANDS) and ds.scales == [2, 4] and ds.patch == 16
    assert ds.hr_resolution == 30.0
    assert ds.indices("train") == [0, 2, 4] and ds.indices("val") == [1] and ds.indices("test") == [3]
    assert info["files"] == NAMES
    lr, guidance, hr = ds.read(3, 4)
    np.testing.assert_allclose(hr, truth["0003.mat"]["hr"], rtol=1e-6)
    np.testing.assert_allclose(lr, truth["0003.mat"]["lr"][4], rtol=1e-6)
    np.testing.assert_allclose(guidance[GROKLST_BANDS.index("ndvi")], truth["0003.mat"]["guidance"]["ndvi"], rtol=1e-6)
    train_hr = np.concatenate([truth[NAMES[i]]["hr"].ravel() for i in (0, 2, 4)])
    assert ds.stats.lst_mean == pytest.approx(train_hr.mean(), rel=1e-6)
    assert ds.stats.lst_std == pytest.approx(train_hr.std(), rel=1e-5)
    dem = np.concatenate([truth[NAMES[i]]["guidance"]["dem"].ravel() for i in (0, 2, 4)])
    assert ds.stats.band_mean[0] == pytest.approx(dem.mean(), rel=1e-6)
    crs, transform = ds.georef(0)
    assert crs is None and transform.a == 30.0


def test_cli_import_and_info(tmp_path: Path, capsys) -> None:
    _write_layout(tmp_path / "GrokLST")
    out = tmp_path / "ds"
    assert run(["-q", "prepare", "--from-groklst", str(tmp_path / "GrokLST"), "--out", str(out)]) == 0
    capsys.readouterr()
    assert run(["prepare", "--info", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["patches"] == {"train": 3, "val": 1, "test": 1} and summary["scales"] == [2, 4]
    # the .mat files carry no CRS; GrokLST's HR grid is 30 m
    assert summary["hr_resolution"] == 30.0 and summary["hr_resolution_units"] == "m"


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        ("missing_band", "missing band 'nir'"),
        ("unreadable", "not a readable .mat file"),
        ("no_split", "split list not found"),
        ("bad_split", "neither a file index nor a file name"),
        ("celsius", "not all plausible temperatures in Kelvin (150..400 K)"),
    ],
)
def test_bad_layouts_exit_2_and_leave_nothing(tmp_path: Path, capsys, damage: str, fragment: str) -> None:
    root = tmp_path / "GrokLST"
    _write_layout(root, drop_band="nir" if damage == "missing_band" else None)
    if damage == "unreadable":
        (root / "60m" / "lst" / "0002.mat").write_bytes(b"garbage, not MATLAB")
    elif damage == "no_split":
        (root / "split" / "val.txt").unlink()
    elif damage == "bad_split":
        (root / "split" / "test.txt").write_text("9999x\n")
    elif damage == "celsius":  # one LR patch stored in degrees Celsius
        scipy.io.savemat(root / "120m" / "lst" / "0004.mat", {"data": np.full((4, 4), 21.5)})
    out = tmp_path / "ds"
    capsys.readouterr()
    assert run(["-q", "prepare", "--from-groklst", str(root), "--out", str(out)]) == 2
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1 and fragment in message, message
    assert not out.exists() and not list(tmp_path.glob(".ds*"))


def test_an_unfinished_folder_removed_while_importing_publishes_nothing(tmp_path: Path, monkeypatch) -> None:
    """zarr makes a removed temporary folder again for the next chunks, without the metadata
    written first: the import published it as a dataset (as prepare's did before aa517cb)."""
    import shutil

    from pipelines import dataset
    from pipelines.errors import InputError

    _write_layout(tmp_path / "GrokLST")
    write = dataset.DatasetWriter.write

    def removing(self, index, *args):  # noqa: ANN001, ANN202 - DatasetWriter.write's signature
        if index == 0:
            shutil.rmtree(self.root)
        return write(self, index, *args)

    monkeypatch.setattr(dataset.DatasetWriter, "write", removing)
    with pytest.raises(InputError, match="the dataset was not completely written"):
        import_groklst(tmp_path / "GrokLST", tmp_path / "ds")
    assert not (tmp_path / "ds").exists()
