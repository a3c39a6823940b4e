"""A GDAL sidecar of an output's name that already lies beside it (``OUT.tif.msk`` in any letter
case, ``OUT.tif.aux.xml``) is refused before any work, with and without --overwrite: GDAL would
apply it to the new file (a stale mask masked 400 pixels of a downscale whose LST has 54 NaN; a
stale .aux.xml replaced its CRS, grid, nodata, scale, offset and units). groklst never deletes it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from groklst_cli.app import run

ERDAS_AUX = b"EHFA_HEADER_TAG\0" + bytes(64) + b"Eimg_DependentFile\0out.tif\0"  # as gdaladdo USE_RRD writes
HINT = "(hint: remove or rename it yourself, or name another output; groklst deletes no file it did not make)"
PAM = ('<PAMDataset><PAMRasterBand band="1"><NoDataValue>300</NoDataValue><UnitType>C</UnitType>'
       "<Offset>-273.15</Offset><Scale>2</Scale></PAMRasterBand></PAMDataset>\n")


def mask_refusal(sidecar: Path, output: Path) -> str:
    return (f"{sidecar}: a GDAL mask file of the output {output} lies here; GDAL (and rasterio, QGIS) "
            f"would apply it to the new file as its mask {HINT}")


def pam_refusal(sidecar: Path, output: Path) -> str:
    return (f"{sidecar}: a GDAL metadata file of the output {output} lies here holding nodata, scale, offset and "
            f"units; GDAL (and rasterio, QGIS) would apply them to the new file {HINT}")


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, bytes]:
    """The sample scene's LST and guidance, and an external .msk masking a 20 x 20 corner."""
    folder = tmp_path_factory.mktemp("sample")
    assert run(["-q", "sample-scene", str(folder), "--size", "48"]) == 0
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=False):
        with rasterio.open(folder / "m.tif", "w", driver="GTiff", width=144, height=144, count=1,
                           dtype="float32", crs="EPSG:32647", transform=Affine(10, 0, 0, 0, -10, 0)) as dst:
            dst.write(np.ones((1, 144, 144), "float32"))
            mask = np.full((144, 144), 255, "uint8")
            mask[:20, :20] = 0
            dst.write_mask(mask)
    return folder / "heihe_demo_lst.tif", folder / "heihe_demo_guidance.tif", (folder / "m.tif.msk").read_bytes()


def downscale(lst: Path, out: Path, *extra: str) -> int:
    return run(["-q", "downscale", str(lst), "--model", "bicubic", "--scale", "3", "-o", str(out), *extra])


def coregister(lst: Path, guidance: Path, out: Path, *extra: str) -> int:
    return run(["-q", "coregister", str(lst), str(guidance), "-o", str(out), *extra])


@pytest.mark.parametrize("name", ["out.tif.msk", "out.tif.MSK", "OUT.TIF.MSK"])  # a mixed Out.tif.Msk is not looked up
def test_downscale_refuses_a_stale_mask_in_any_case_gdal_reads(tmp_path: Path, sample, capsys, name) -> None:
    lst, _, msk = sample
    out, sidecar = tmp_path / "out.tif", tmp_path / name
    sidecar.write_bytes(msk)
    capsys.readouterr()
    assert downscale(lst, out) == 2
    assert capsys.readouterr().err.strip() == f"error: {mask_refusal(sidecar, out)} (scene {lst})"
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # nothing written, no temporary left
    assert sidecar.read_bytes() == msk


def test_downscale_overwrite_refuses_the_old_outputs_mask_and_keeps_both(tmp_path: Path, sample, capsys) -> None:
    lst, _, msk = sample
    out = tmp_path / "out.tif"
    assert downscale(lst, out) == 0
    old = out.read_bytes()
    sidecar = tmp_path / "out.tif.msk"
    sidecar.write_bytes(msk)
    capsys.readouterr()
    assert downscale(lst, out, "--overwrite") == 2
    assert capsys.readouterr().err.strip() == f"error: {mask_refusal(sidecar, out)} (scene {lst})"
    assert out.read_bytes() == old and sidecar.read_bytes() == msk
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif", "out.tif.msk"]


def test_a_mask_of_another_name_is_no_refusal(tmp_path: Path, sample) -> None:
    """GDAL reads OUT.tif.msk, not OUT.msk: the output is written, and only its own NaN are masked."""
    lst, _, msk = sample
    out = tmp_path / "out.tif"
    (tmp_path / "out.msk").write_bytes(msk)
    assert downscale(lst, out) == 0
    with rasterio.open(out) as src:
        assert src.files == [str(out)]
        assert ((src.read_masks(1) == 0) == np.isnan(src.read(1))).all()


@pytest.mark.parametrize("overwrite", [False, True])
def test_coregister_refuses_a_stale_mask(tmp_path: Path, sample, capsys, overwrite) -> None:
    lst, guidance, msk = sample
    out, sidecar = tmp_path / "copy.tif", tmp_path / "copy.tif.msk"
    if overwrite:
        assert coregister(lst, guidance, out) == 0
    old = out.read_bytes() if overwrite else None
    sidecar.write_bytes(msk)
    capsys.readouterr()
    assert coregister(lst, guidance, out, *(["--overwrite"] if overwrite else [])) == 2
    assert capsys.readouterr().err.strip() == f"error: {mask_refusal(sidecar, out)}"
    assert sidecar.read_bytes() == msk
    assert (out.read_bytes() == old) if overwrite else not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["copy.tif.msk", *(["copy.tif"] if overwrite else [])])


def test_a_stale_aux_xml_would_change_the_new_files_nodata_scale_and_units(tmp_path: Path, sample) -> None:
    """Why .aux.xml is refused: put beside a groklst output, GDAL reads its values, not the file's."""
    lst, _, _ = sample
    out = tmp_path / "out.tif"
    assert downscale(lst, out) == 0
    (tmp_path / "out.tif.aux.xml").write_text(PAM)
    with rasterio.open(out) as src:
        assert (src.nodata, src.scales, src.offsets, src.units) == (300.0, (2.0,), (-273.15,), ("C",))
        assert not (src.read_masks(1) == 0).any()  # its NaN are no longer masked


@pytest.mark.parametrize("command", ["downscale", "coregister"])
@pytest.mark.parametrize("overwrite", [False, True])
def test_a_stale_aux_xml_is_refused(tmp_path: Path, sample, capsys, command, overwrite) -> None:
    lst, guidance, _ = sample
    out, sidecar = tmp_path / "out.tif", tmp_path / "out.tif.aux.xml"
    write = (lambda *extra: downscale(lst, out, *extra)) if command == "downscale" else (
        lambda *extra: coregister(lst, guidance, out, *extra))
    if overwrite:
        assert write() == 0
    old = out.read_bytes() if overwrite else None
    sidecar.write_text(PAM)
    capsys.readouterr()
    assert write(*(["--overwrite"] if overwrite else [])) == 2
    scene = f" (scene {lst})" if command == "downscale" else ""
    assert capsys.readouterr().err.strip() == f"error: {pam_refusal(sidecar, out)}{scene}"
    assert sidecar.read_text() == PAM
    assert (out.read_bytes() == old) if overwrite else not out.exists()


@pytest.mark.parametrize("name", ["out.tif.ovr", "out.tif.OVR", "out.aux", "out.tif.aux"])  # .aux: ERDAS (review R6)
def test_downscale_overwrite_refuses_the_old_outputs_external_overviews(tmp_path: Path, sample, capsys,
                                                                       name: str) -> None:
    """Review R5: QGIS 'Build pyramids' (gdaladdo -ro) leaves OUT.tif.ovr, which GDAL attached to
    the new output: read zoomed out (quicklook included) it showed the old scene, exit 0."""
    lst, _, _ = sample
    out = tmp_path / "out.tif"
    assert downscale(lst, out) == 0
    with rasterio.open(out) as src:  # an overview TIFF of half the size, as gdaladdo -ro writes it
        height, width = src.height // 2, src.width // 2
    if name.endswith(".aux"):  # what GDAL checks of an ERDAS .aux: its magic and the file it depends on
        (tmp_path / name).write_bytes(ERDAS_AUX)
    else:
        with rasterio.open(tmp_path / name, "w", driver="GTiff", width=width, height=height, count=1,
                           dtype="float32") as dst:
            dst.write(np.full((1, height, width), 1000, "float32"))
    if name == "out.tif.ovr":  # GDAL attaches it: read zoomed out, the output shows its pixels
        with rasterio.open(out) as src:
            assert src.overviews(1) == [2] and float(src.read(1, out_shape=(height, width)).max()) == 1000
    old, overviews = out.read_bytes(), (tmp_path / name).read_bytes()
    capsys.readouterr()
    assert downscale(lst, out, "--overwrite") == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {tmp_path / name}: a GDAL overview file of the output {out} lies here (QGIS 'Build pyramids', "
        "gdaladdo -ro, ArcGIS); GDAL (and rasterio, QGIS) would show its old pixels wherever the new file is read "
        f"zoomed out {HINT} (scene {lst})")
    assert out.read_bytes() == old and (tmp_path / name).read_bytes() == overviews


@pytest.mark.parametrize("content", [ERDAS_AUX, b"my notes\n"], ids=["another-files-aux", "text"])
def test_an_aux_gdal_would_not_attach_is_no_refusal(tmp_path: Path, sample, content: bytes) -> None:
    """Review R7: quicklook's default out.png was refused over out.aux, the pyramids of out.tif
    (GDAL attaches an .aux only to the file it names), and a text note out.aux blocked out.tif."""
    lst, _, _ = sample
    out = tmp_path / "out.tif"
    assert downscale(lst, out) == 0
    (tmp_path / "out.aux").write_bytes(content)
    if content == ERDAS_AUX:  # out.tif's own pyramids: quicklook's out.png beside them is drawn
        assert run(["-q", "quicklook", str(out)]) == 0 and (tmp_path / "out.png").stat().st_size > 0
    else:  # a note that is no ERDAS file blocks nothing
        assert downscale(lst, out, "--overwrite") == 0
    assert (tmp_path / "out.aux").read_bytes() == content


@pytest.mark.parametrize("depends_on", [b"data.tif", b"OUT.TIF"], ids=["missing-file", "other-case"])
def test_an_aux_gdal_takes_as_the_outputs_is_refused(tmp_path: Path, sample, capsys, depends_on: bytes) -> None:
    """Review R8: GDAL attaches an ERDAS .aux that names a file which is not there, or the output
    in another letter case; 959d2c0 only refused one naming the output exactly."""
    lst, _, _ = sample
    out = tmp_path / "out.tif"
    aux = tmp_path / "out.aux"
    aux.write_bytes(ERDAS_AUX.replace(b"out.tif", depends_on))
    capsys.readouterr()
    assert downscale(lst, out) == 2
    assert capsys.readouterr().err.startswith(f"error: {aux}: a GDAL overview file of the output {out} lies here")
    assert not out.exists()
