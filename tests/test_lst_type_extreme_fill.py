"""An integer LST holding its data type's extreme (uint16 65535, int16 -32768/32767) undeclared as
nodata is refused as a fill, even where it reads as a plausible temperature (Landsat C2 ST's
65535 is 373 K: it was interpolated as data, neighbours pulled up by 26 K, exit 0); and a refusal
names an integer band's unscaled values as stored values, not as Kelvin."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from groklst_cli.app import run
from pipelines.errors import InputError
from pipelines.lst_values import LstDecoding, LstScan, check_plausible
from pipelines.units import Units
from tests.test_faults_downscale import bicubic, write_lst
from tests.test_faults_prepare import SMALL, assert_refused, kelvin_field, scene_with_lst

LANDSAT = (0.00341802, 149.0)
HINT_BY_OPTION = "looks like a fill value or a saturation flag: pass --nodata 65535)"


def landsat_dn(kelvin: np.ndarray) -> np.ndarray:
    """Kelvin as Landsat C2 ST digital numbers, rows 10..11 x cols 20..29 (20 pixels) at 65535."""
    dn = np.round((kelvin - LANDSAT[1]) / LANDSAT[0])
    dn[10:12, 20:30] = 65535
    return dn


def scaled(path: Path, factor: float, offset: float) -> Path:
    """Declare ``path``'s scale and offset in the file, as a Landsat product does."""
    with rasterio.open(path, "r+") as dst:
        dst.scales, dst.offsets = [factor], [offset]
    return path


def landsat_scene(folder: Path, nodata: float | None = None) -> Path:
    """A make_scene scene whose 40 x 50 LST is Landsat-encoded uint16 with 20 pixels at 65535."""
    return scaled(scene_with_lst(folder, landsat_dn(kelvin_field()), dtype="uint16", nodata=nodata), *LANDSAT)


def one_error(capsys: pytest.CaptureFixture[str]) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, lines
    return lines[0]


def test_downscale_refuses_a_plausible_type_extreme_naming_value_count_and_nodata(tmp_path: Path, capsys) -> None:
    lst = landsat_scene(tmp_path)
    out = tmp_path / "out.tif"
    assert bicubic(lst, out) == 2
    assert one_error(capsys) == (
        f"error: {lst}: the stored value 65535 (read as 373 K), the largest its uint16 data type holds, "
        "fills 20 of 2,000 valid pixels (1.0%) and is not declared as nodata (hint: no product stores a "
        f"measurement at its data type's extreme: it {HINT_BY_OPTION}")
    assert not out.exists()


def test_mask_implausible_does_not_mask_a_plausible_extreme_and_nodata_declares_it(tmp_path: Path,
                                                                                 capsys) -> None:
    """--mask-implausible masks temperatures outside 150-400 K; 373 K is inside, so the extreme
    stays refused: --nodata 65535 is what declares it, and it is then nodata in the output."""
    lst = landsat_scene(tmp_path)
    out = tmp_path / "out.tif"
    assert bicubic(lst, out, "--mask-implausible") == 2
    assert HINT_BY_OPTION in one_error(capsys)
    assert bicubic(lst, out, "--nodata", "65535") == 0
    with rasterio.open(out) as src:
        written = src.read(1)
    block = written[30:36, 60:90]  # the 65535 pixels at the guidance's 3x finer grid
    assert np.isnan(block[2:4, 2:28]).all()
    assert 285.0 < np.nanmin(written) and np.nanmax(written) < 305.0  # nothing pulled up to 373 K


def test_an_extreme_the_file_declares_as_nodata_is_nodata(tmp_path: Path) -> None:
    lst = landsat_scene(tmp_path, nodata=65535)
    out = tmp_path / "out.tif"
    assert bicubic(lst, out) == 0
    with rasterio.open(out) as src:
        assert 285.0 < np.nanmin(src.read(1)) and np.nanmax(src.read(1)) < 305.0


@pytest.mark.parametrize("extreme, which", [(32767, "largest"), (-32768, "smallest")])
def test_a_signed_types_extremes_are_refused_where_they_read_as_plausible(
        tmp_path: Path, capsys, extreme: int, which: str) -> None:
    """int16 hundredths of a Kelvin, offset so that both extremes read as plausible."""
    factor, offset = 0.001, 300.0  # -32768 -> 267.232 K, 32767 -> 332.767 K
    stored = np.round((kelvin_field() - offset) / factor)
    stored[0, :7] = extreme
    lst = scaled(write_lst(tmp_path / "scene_lst.tif", stored, dtype="int16"), factor, offset)
    assert bicubic(lst, tmp_path / "out.tif", "--scale", "2") == 2
    told = one_error(capsys)
    assert f"the stored value {extreme} (read as {extreme * factor + offset:.6g} K), the {which} its int16" in told
    assert "fills 7 of 2,000 valid pixels" in told and told.endswith(f"pass --nodata {extreme})")


def test_an_implausible_extreme_is_left_to_the_range_rule_and_mask_implausible(tmp_path: Path,
                                                                               capsys) -> None:
    """Unscaled int16 Kelvin with -32768 fills: the fill hint names it, as before; and
    --mask-implausible masks it, as before (only a plausible extreme needs --nodata)."""
    stored = np.round(kelvin_field())
    stored[:5] = -32768
    lst = write_lst(tmp_path / "scene_lst.tif", stored, dtype="int16")
    out = tmp_path / "out.tif"
    assert bicubic(lst, out, "--scale", "2") == 2
    assert "looks like a fill value: pass --nodata -32768)" in one_error(capsys)
    assert bicubic(lst, out, "--scale", "2", "--mask-implausible") == 0


def test_compare_refuses_the_extreme_in_the_reference_and_in_a_candidate(tmp_path: Path, capsys) -> None:
    """The reference is read by the LST options (--nodata), a candidate by its file's metadata."""
    lst = landsat_scene(tmp_path)
    good = write_lst(tmp_path / "good.tif", kelvin_field())
    assert run(["-q", "compare", str(lst), str(good)]) == 2
    assert one_error(capsys).endswith(HINT_BY_OPTION)
    assert run(["-q", "compare", str(good), str(lst)]) == 2
    assert one_error(capsys).endswith(f"a saturation flag: declare it as the file's nodata: "
                                      f"gdal_edit.py -a_nodata 65535 {lst})")
    assert run(["-q", "compare", str(lst), str(good), "--nodata", "65535"]) == 0


def test_prepare_refuses_the_extreme_and_nodata_declares_it(tmp_path: Path, capsys) -> None:
    lst = landsat_scene(tmp_path)
    out = tmp_path / "ds"
    command = ["-q", "prepare", str(lst), "--out", str(out), *SMALL]
    assert run(command) == 2
    assert_refused(capsys, out, str(lst), "the stored value 65535 (read as 373 K)", "fills 20 of 2,000",
                   HINT_BY_OPTION)
    assert run([*command, "--nodata", "65535"]) == 0


def test_unscaled_integers_are_named_as_stored_values_not_kelvin(tmp_path: Path, capsys) -> None:
    dn = np.round((kelvin_field() - LANDSAT[1]) / LANDSAT[0])
    lst = write_lst(tmp_path / "scene_lst.tif", dn, dtype="uint16")
    assert bicubic(lst, tmp_path / "out.tif", "--scale", "2") == 2
    told = one_error(capsys)
    low, high = int(dn.min()), int(dn.max())
    assert f": stored values {low}..{high} (no scale/offset declared) are not all plausible " \
           "land-surface temperatures (150..400 K;" in told
    assert f"{high} K" not in told


def test_scaled_values_keep_their_unit_in_the_refusal(tmp_path: Path, capsys) -> None:
    dn = np.round((kelvin_field() - LANDSAT[1]) / LANDSAT[0])
    lst = scaled(write_lst(tmp_path / "scene_lst.tif", dn, dtype="uint16"), LANDSAT[0] * 10, LANDSAT[1])
    assert bicubic(lst, tmp_path / "out.tif", "--scale", "2") == 2
    told = one_error(capsys)
    assert f"{lst}: LST values " in told and " K are not all plausible" in told and "stored values" not in told


def test_an_unscaled_integer_median_is_named_as_stored_values() -> None:
    stored = np.linspace(155.0, 166.0, 100)
    found = LstScan(stored.size, 155.0, 166.0, stored, dtype=np.dtype("uint16"))
    with pytest.raises(InputError) as refused:
        check_plausible(found, Units.kelvin, LstDecoding(), "lst.tif")
    assert str(refused.value).startswith("lst.tif: the median of its stored values, 160.5 (values 155..166, "
                                         "no scale/offset declared), is no land surface's")
