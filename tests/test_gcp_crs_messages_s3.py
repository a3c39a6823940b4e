"""A raster with a geotransform whose CRS comes only with its GCPs reads as having no CRS in
rasterio: compare and guidance named it "raster has no CRS (hint: assign one with gdal_edit.py
-a_srs)", which points the user at the wrong fix; they now say it is GCP-placed and how to warp it,
as downscale and coregister do (QA round s3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from groklst_cli.app import run

GCP_REFUSAL = ("raster has no CRS of its own, only GCPs (hint: warp it onto a grid first: "
               "gdalwarp -r near IN.tif OUT.tif (onto the GCPs' CRS))")


@pytest.fixture
def scene(tmp_path: Path, capsys) -> tuple[Path, Path, Path]:
    """The 48 px sample scene's LST and guidance, and a VRT of the LST placed by a geotransform
    whose CRS is only the GCPs'."""
    assert run(["-q", "sample-scene", str(tmp_path), "--size", "48"]) == 0
    capsys.readouterr()
    lst = tmp_path / "heihe_demo_lst.tif"
    vrt = tmp_path / "gcp.vrt"
    vrt.write_text(f"""<VRTDataset rasterXSize="48" rasterYSize="48">
  <GeoTransform>624960.0, 30.0, 0.0, 4310730.0, 0.0, -30.0</GeoTransform>
  <GCPList Projection="EPSG:32647">
    <GCP Id="1" Pixel="0" Line="0" X="624960" Y="4310730"/>
    <GCP Id="2" Pixel="48" Line="0" X="626400" Y="4310730"/>
    <GCP Id="3" Pixel="0" Line="48" X="624960" Y="4309290"/>
  </GCPList>
  <VRTRasterBand dataType="Float32" band="1">
    <SimpleSource><SourceFilename>{lst}</SourceFilename><SourceBand>1</SourceBand></SimpleSource>
  </VRTRasterBand>
</VRTDataset>""")
    return lst, tmp_path / "heihe_demo_guidance.tif", vrt


def test_coregister_names_a_gcp_placed_lst(scene, tmp_path: Path, capsys) -> None:
    _, guidance, vrt = scene
    out = tmp_path / "c.tif"
    assert run(["-q", "coregister", str(vrt), str(guidance), "-o", str(out)]) == 2
    assert capsys.readouterr().err == f"error: {vrt}: {GCP_REFUSAL}\n"
    assert not out.exists()


def test_compare_names_a_gcp_placed_candidate(scene, capsys) -> None:
    lst, _, vrt = scene
    assert run(["-q", "compare", str(lst), str(vrt)]) == 2
    assert capsys.readouterr().err == f"error: {vrt}: {GCP_REFUSAL}\n"


def test_guidance_names_a_gcp_placed_lst(scene, tmp_path: Path, capsys) -> None:
    _, guidance, vrt = scene
    out = tmp_path / "g.tif"
    assert run(["-q", "guidance", str(vrt), str(guidance), "--scale", "3", "-o", str(out)]) == 2
    assert capsys.readouterr().err == f"error: {vrt}: {GCP_REFUSAL}\n"
    assert not out.exists()


def test_guidance_names_a_gcp_placed_source(scene, tmp_path: Path, capsys) -> None:
    lst, _, vrt = scene
    out = tmp_path / "g.tif"
    assert run(["-q", "guidance", str(lst), str(vrt), "--scale", "3", "-o", str(out)]) == 2
    assert capsys.readouterr().err == f"error: {vrt}: {GCP_REFUSAL}\n"
    assert not out.exists()


def test_prepare_names_a_gcp_placed_lst(scene, tmp_path: Path, capsys) -> None:
    """prepare's own georeferencing check said 'assign one with gdal_edit.py -a_srs EPSG:XXXX'."""
    _, guidance, vrt = scene
    out = tmp_path / "ds"
    assert run(["-q", "prepare", str(vrt), "--guidance", str(guidance), "--out", str(out),
                "--patch", "8", "--scales", "2"]) == 2
    assert capsys.readouterr().err == f"error: {vrt}: {GCP_REFUSAL}\n"
    assert not out.exists()
