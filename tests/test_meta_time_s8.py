"""A garbled time tag in a meta.xml (``CenterTime`` 25:99) was taken as the product's time, read as
nothing, and the TIS-MII same-pass check silently did nothing: a night TIS was paired with a day MII,
exit 0 (QA). The next time tag that reads is used; where none reads, a warning says the check is off."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from groklst_cli.app import run


@pytest.fixture
def products(tmp_path: Path) -> tuple[Path, Path]:
    assert run(["-q", "sample-scene", str(tmp_path / "p"), "--size", "60", "--seed", "1", "--products"]) == 0
    return tuple(next((tmp_path / "p").glob(f"KX10_{s}_*")) for s in ("TIS", "MII"))


def _edit_meta(product: Path, pattern: str, replacement: str) -> Path:
    [meta] = product.glob("*.meta.xml")
    meta.write_text(re.sub(pattern, replacement, meta.read_text()))
    return meta


def test_a_garbled_center_time_gives_way_to_the_start_time(products, tmp_path: Path, capsys) -> None:
    tis, mii = products
    _edit_meta(tis, r"03:12", "15:12")  # a night pass ...
    meta = _edit_meta(tis, r"<CenterTime>[^<]*<", "<CenterTime>2022-08-15 25:99:00<")  # ... its centre garbled
    capsys.readouterr()
    assert run(["-q", "ingest", str(tis), str(mii), "--out-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"error: {meta}: records 2022-08-15 15:12" in err and "not one acquisition" in err
    assert not (tmp_path / "o").exists()


def test_no_readable_time_is_warned_about(products, tmp_path: Path, capsys) -> None:
    tis, mii = products
    meta = _edit_meta(tis, r"<(CenterTime|StartTime|EndTime|ImagingTime)>[^<]*<", r"<\1>garbage<")
    capsys.readouterr()
    assert run(["-q", "ingest", str(tis), str(mii), "--out-dir", str(tmp_path / "o")]) == 0
    assert (f"warning: {meta}: CenterTime 'garbage' is no date or time: whether the TIS and MII products are "
            "one acquisition is not checked") in capsys.readouterr().err.replace("\n", " ")
