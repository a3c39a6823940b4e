"""An MII calib.xml bias that drives radiance negative gave red reflectance of -1.2 and NDVI of
-2.5 everywhere, written as guidance with exit 0 (QA): only reflectance too bright was refused."""

from __future__ import annotations

import re
from pathlib import Path

from groklst_cli.app import run


def test_a_bias_that_makes_reflectance_negative_is_refused(tmp_path: Path, capsys) -> None:
    assert run(["-q", "sample-scene", str(tmp_path / "p"), "--size", "60", "--seed", "1", "--products"]) == 0
    tis, mii = (next((tmp_path / "p").glob(f"KX10_{s}_*")) for s in ("TIS", "MII"))
    [calib] = mii.glob("*.calib.xml")
    calib.write_bytes(re.sub(rb"<RADIANCE_BIAS_BAND_5>[^<]*<", b"<RADIANCE_BIAS_BAND_5>-500<", calib.read_bytes()))
    out = tmp_path / "out"
    capsys.readouterr()
    assert run(["-q", "ingest", str(tis), str(mii), "--out-dir", str(out)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert (f"error: {calib}: the MII reflectance is implausible: B5 red reaches -1.2, below -0.05 on 100 % of its "
            "valid pixels (hint: check the MII biases (RADIANCE_BIAS_BAND_n) and gains in calib.xml") in err
    assert not out.exists()
