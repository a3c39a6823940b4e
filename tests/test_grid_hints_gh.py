"""Grid refusals hint at what the command run takes (fixer GH): ``downscale`` is sent to its
``--align``, ``coregister`` (which has none) to ``groklst guidance``; a guidance in another CRS
is measured in the LST's CRS, so ``--align`` is suggested only where it would take it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import Affine
from rasterio.warp import calculate_default_transform

from groklst_cli.app import run
from pipelines.errors import InputError
from pipelines.grids import Grid, pair_grids

UTM = CRS.from_epsg(32647)
OTHER_ZONE = CRS.from_epsg(32648)
X0, Y0 = 700_000.0, 4_300_000.0  # near the 47/48 zone edge, where both zones hold the scene
LST_RES, LST_PX = 30.0, 16

NEST = ("resample the guidance onto a grid that nests in the LST grid: "
        "groklst guidance LST.tif SOURCE.tif --scale 3 -o GUIDANCE.tif")
ALIGN = ", or downscale --align"
RESAMPLE = ("resample the guidance onto a grid that nests in the LST grid: groklst guidance LST.tif SOURCE.tif "
            "--scale N -o GUIDANCE.tif")
FINER = ("pass a guidance finer than the LST, e.g. groklst guidance LST.tif SOURCE.tif --scale N -o GUIDANCE.tif, "
         "or no guidance: --model bicubic --scale N")
WARP = "warp it north-up: gdalwarp -r near IN.tif OUT.tif"
SOUTH_UP = "rotated or flipped grids are not supported: this one is south-up (y pixel size 10, positive)"


def _write(path: Path, crs: CRS, transform: Affine, shape: tuple[int, int]) -> Path:
    data = np.linspace(290.0, 310.0, shape[0] * shape[1], dtype=np.float32).reshape(shape)
    with rasterio.open(path, "w", driver="GTiff", width=shape[1], height=shape[0], count=1,
                       dtype="float32", crs=crs, transform=transform) as dst:
        dst.write(data, 1)
    return path


@pytest.fixture
def lst(tmp_path: Path) -> Path:
    return _write(tmp_path / "a_lst.tif", UTM, Affine(LST_RES, 0, X0, 0, -LST_RES, Y0), (LST_PX, LST_PX))


def _same_crs(folder: Path, transform: Affine) -> Path:
    """A 10 m guidance over the LST on ``transform``."""
    n = round(LST_PX * LST_RES / 10)
    return _write(folder / "g.tif", UTM, transform, (n, n))


def _other_zone(folder: Path, res: float) -> Path:
    """The LST footprint in the next UTM zone at ``res`` m pixels."""
    size = LST_PX * LST_RES
    t, w, h = calculate_default_transform(UTM, OTHER_ZONE, LST_PX, LST_PX, X0, Y0 - size, X0 + size, Y0,
                                          resolution=res)
    return _write(folder / "g.tif", OTHER_ZONE, t, (h, w))


def _error(lst: Path, guidance: Path, capsys, command: str) -> str:
    """The error line of ``command`` (downscale or coregister) refusing the pair (exit 2, no
    output), with the folder and the scene suffix taken out."""
    out = lst.parent / "out.tif"
    argv = {"downscale": ["downscale", str(lst), "-g", str(guidance), "--model", "bicubic", "-o", str(out)],
            "coregister": ["coregister", str(lst), str(guidance), "-o", str(out)]}[command]
    assert run(argv) == 2, argv
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and not out.exists(), errors
    return errors[0].replace(f"{lst.parent}/", "").removesuffix(" (scene a_lst.tif)")


def _hint(lst: Path, guidance: Path, capsys, command: str) -> str:
    """The hint of :func:`_error`'s line."""
    line = _error(lst, guidance, capsys, command)
    return line[line.index(" (hint: ") + len(" (hint: "):-1]


@pytest.mark.parametrize("command, expected", [("downscale", NEST + ALIGN), ("coregister", NEST)])
def test_a_guidance_that_does_not_nest_is_sent_where_the_command_goes(lst: Path, capsys, command: str,
                                                                      expected: str) -> None:
    """coregister was sent to downscale --align, an option it does not have."""
    guidance = _same_crs(lst.parent, Affine(10, 0, X0 + 4, 0, -10, Y0))
    assert _hint(lst, guidance, capsys, command) == expected


@pytest.mark.parametrize("command, expected", [
    ("downscale", f"{WARP}, or pass downscale --align, which warps the guidance onto the LST grid"),
    ("coregister", f"{WARP}, or align the guidance first: groklst guidance LST.tif SOURCE.tif --scale N "
                   "-o GUIDANCE.tif"),
])
def test_a_south_up_guidance_is_sent_where_the_command_goes(lst: Path, capsys, command: str, expected: str) -> None:
    guidance = _same_crs(lst.parent, Affine(10, 0, X0, 0, 10, Y0 - LST_PX * LST_RES))
    assert _error(lst, guidance, capsys, command) == f"error: g.tif: {SOUTH_UP} (hint: {expected})"


@pytest.mark.parametrize("res, downscale_hint, coregister_hint", [
    (10.0, NEST + ALIGN, NEST),  # 3x finer: --align takes it (x3)
    (23.0, RESAMPLE, RESAMPLE),  # 1.3x finer: --align refuses it
    (30.0, FINER, FINER),  # at the LST's resolution
    (45.0, FINER, FINER),  # coarser
])
def test_a_guidance_in_another_crs_is_measured_in_the_lst_crs(lst: Path, capsys, res: float, downscale_hint: str,
                                                              coregister_hint: str) -> None:
    """Every other-CRS guidance was sent to --align, which refused those not about 2x finer."""
    guidance = _other_zone(lst.parent, res)
    assert _hint(lst, guidance, capsys, "downscale") == downscale_hint
    assert _hint(lst, guidance, capsys, "coregister") == coregister_hint


@pytest.mark.parametrize("command", ["downscale", "coregister"])
def test_a_guidance_in_a_local_crs_is_refused_in_one_line(lst: Path, capsys, command: str) -> None:
    """Review R2: measuring a local (engineering) CRS in the LST's raised an internal error; its
    refusal then held the whole WKT and differed from that of a local LST (f9, s5): now one line."""
    local = CRS.from_wkt('LOCAL_CS["local",UNIT["metre",1],AXIS["X",EAST],AXIS["Y",NORTH]]')
    guidance = _write(lst.parent / "g.tif", local, Affine(10.0, 0, X0, 0, -10.0, Y0), (48, 48))
    assert _error(lst, guidance, capsys, command) == (
        'error: g.tif: its CRS is a local/engineering CRS ("local") that cannot be related to a_lst.tif\'s '
        "EPSG:32647 (hint: if g.tif is in EPSG:32647, declare it: gdal_edit.py -a_srs EPSG:32647 g.tif (it edits "
        "g.tif in place: copy it first to keep the original))")


def test_the_guidance_command_of_the_nest_hint_works_as_printed(lst: Path, capsys) -> None:
    """QA s3: the hint's command had no --scale, and groklst guidance refuses to run without one;
    pasted as printed it now gives a guidance coregister takes."""
    source = _other_zone(lst.parent, 10.0)
    command = _hint(lst, source, capsys, "coregister").split(": ", 1)[1]
    made = lst.parent / "made.tif"
    argv = command.replace("LST.tif", str(lst)).replace("SOURCE.tif", str(source)).replace("GUIDANCE.tif", str(made))
    assert run(["-q", *argv.split()[1:]]) == 0
    assert run(["-q", "coregister", str(lst), str(made), "-o", str(lst.parent / "c.tif")]) == 0


def test_the_align_hint_for_a_3x_finer_other_crs_guidance_works(lst: Path) -> None:
    """What the hint says is true: downscale --align takes that guidance, at x3."""
    out = lst.parent / "out.tif"
    argv = ["downscale", str(lst), "-g", str(_other_zone(lst.parent, 10.0)), "--model", "bicubic", "--align",
            "-o", str(out)]
    assert run(argv) == 0
    with rasterio.open(out) as dst:
        assert dst.crs == UTM and dst.res == (10.0, 10.0) and dst.shape == (3 * LST_PX, 3 * LST_PX)


@pytest.mark.parametrize("offers_align, expected", [(True, NEST + ALIGN), (False, NEST)])
def test_pair_grids_names_align_only_when_offered(offers_align: bool, expected: str) -> None:
    """downscale --fit (pipelines.scene_fit) keeps the default: --align is its option too."""
    lst = Grid(UTM, Affine(LST_RES, 0, X0, 0, -LST_RES, Y0), LST_PX, LST_PX)
    guidance = Grid(UTM, Affine(10, 0, X0 + 4, 0, -10, Y0), 3 * LST_PX, 3 * LST_PX)
    with pytest.raises(InputError) as refused:
        pair_grids(lst, guidance, scale=None, lst_path="a_lst.tif", guidance_path="g.tif", offers_align=offers_align)
    assert str(refused.value).endswith(f"(hint: {expected})")
