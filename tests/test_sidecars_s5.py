"""A stale OUT.aux.xml is refused saying what it holds (QA s5 f11): the common one, which QGIS or
``gdalinfo -stats`` leaves on opening an output, holds only band statistics, yet the refusal said
GDAL would apply its CRS, grid, nodata, scale, offset and units. And every sidecar refusal named
the output by its bare name (``of the output a.tif`` for ``-o out/a.tif``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from groklst_cli.app import run

HINT = "(hint: remove or rename it yourself, or name another output; groklst deletes no file it did not make)"
SAFE = ("(hint: it is safe to delete{why}: remove it yourself, or name another output; groklst deletes no file it "
        "did not make)")
# as gdalinfo -stats (GDAL 3.6) wrote it beside a groklst downscale: the band's name and its statistics
STATISTICS = """<PAMDataset>
  <PAMRasterBand band="1">
    <Description>lst</Description>
    <Metadata>
      <MDI key="STATISTICS_MAXIMUM">325.59652709961</MDI>
      <MDI key="STATISTICS_MEAN">312.23316787971</MDI>
      <MDI key="STATISTICS_MINIMUM">285.09725952148</MDI>
      <MDI key="STATISTICS_STDDEV">6.6035651368071</MDI>
      <MDI key="STATISTICS_VALID_PERCENT">99.93</MDI>
    </Metadata>
  </PAMRasterBand>
</PAMDataset>
"""
HISTOGRAM = STATISTICS.replace("    <Metadata>", "    <Histograms><HistItem><HistMin>285</HistMin><HistMax>326</HistMax>"
                               "<BucketCount>2</BucketCount><HistCounts>10|20</HistCounts></HistItem></Histograms>\n"
                               "    <Metadata>")
GEOREFERENCE = """<PAMDataset>
  <SRS dataAxisToSRSAxisMapping="1,2">EPSG:32648</SRS>
  <GeoTransform>  5.0e+05,  1.0e+02,  0.0e+00,  4.3e+06,  0.0e+00, -1.0e+02</GeoTransform>
</PAMDataset>
"""
BAND_VALUES = ('<PAMDataset><PAMRasterBand band="1"><NoDataValue>300</NoDataValue><UnitType>C</UnitType>'
               "<Offset>-273.15</Offset><Scale>2</Scale></PAMRasterBand></PAMDataset>\n")
METADATA_AND_STATISTICS = STATISTICS.replace('<MDI key="STATISTICS_MEAN">', '<MDI key="AREA_OR_POINT">Point</MDI>\n'
                                             '      <MDI key="STATISTICS_MEAN">')
GENERAL = ("GDAL (and rasterio, QGIS) would apply its CRS, grid, nodata, scale, offset and units to the new file "
           f"{HINT}")
APPLIED = f"GDAL (and rasterio, QGIS) would apply them to the new file {HINT}"


@pytest.fixture(scope="module")
def lst(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sample")
    assert run(["-q", "sample-scene", str(folder), "--size", "48"]) == 0
    return folder / "heihe_demo_lst.tif"


def downscale(lst: Path, *extra: str) -> int:
    return run(["-q", "downscale", str(lst), "--model", "bicubic", "--scale", "3", "-o", "out/a.tif", *extra])


def listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(("content", "problem"), [
    (STATISTICS, " holding only band statistics (QGIS or gdalinfo -stats left it); GDAL would show the old file's "
                 "min/max/mean for the new one " + SAFE.format(why=", as GDAL recomputes statistics")),
    (HISTOGRAM, " holding only band statistics (QGIS or gdalinfo -stats left it); GDAL would show the old file's "
                "min/max/mean for the new one " + SAFE.format(why=", as GDAL recomputes statistics")),
    (GEOREFERENCE, f" holding CRS and geotransform; {APPLIED}"),
    (BAND_VALUES, f" holding nodata, scale, offset and units; {APPLIED}"),
    (METADATA_AND_STATISTICS, f" holding metadata and band statistics; {APPLIED}"),
    ("<PAMDataset>\n</PAMDataset>\n", " holding nothing GDAL would apply " + SAFE.format(why="")),
    (GEOREFERENCE.replace("<SRS", "<!-- ").replace("</SRS>", " -->"), " holding geotransform; GDAL (and rasterio, "
     f"QGIS) would apply it to the new file {HINT}"),
    ("<PAMDataset><PAMRasterBand band=", f"; {GENERAL}"),  # damaged: the general message
    ("<VRTDataset/>", f"; {GENERAL}"),
], ids=["statistics", "histogram", "georeference", "band-values", "metadata", "empty", "one-item", "damaged",
        "not-pam"])
@pytest.mark.parametrize("overwrite", [False, True])
def test_a_stale_aux_xml_is_refused_saying_what_it_holds(tmp_path: Path, lst: Path, monkeypatch, capsys,
                                                       content: str, problem: str, overwrite: bool) -> None:
    monkeypatch.chdir(tmp_path)
    if overwrite:  # the QA case: an output opened in QGIS, then made again
        assert downscale(lst) == 0
    else:
        Path("out").mkdir()
    Path("out/a.tif.aux.xml").write_text(content)
    before = listing(tmp_path)
    capsys.readouterr()
    assert downscale(lst, *(["--overwrite"] if overwrite else [])) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: out/a.tif.aux.xml: a GDAL metadata file of the output out/a.tif lies here{problem} (scene {lst})")
    assert listing(tmp_path) == before  # nothing written, replaced or removed, no temporary left


@pytest.mark.parametrize("make", [os.mkfifo, os.mkdir, lambda name: os.symlink(os.getcwd(), name)],
                         ids=["named-pipe", "folder", "link-to-folder"])
def test_an_aux_xml_that_is_no_file_gets_the_general_message(tmp_path: Path, lst: Path, monkeypatch, capsys,
                                                             make) -> None:
    """Reading what an .aux.xml holds must not block on a named pipe; a folder of that name ended in
    ``internal error: TypeError`` (exit 1) after 2f23743: both get the general message, exit 2."""
    monkeypatch.chdir(tmp_path)
    Path("out").mkdir()
    make("out/a.tif.aux.xml")
    capsys.readouterr()
    assert downscale(lst) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: out/a.tif.aux.xml: a GDAL metadata file of the output out/a.tif lies here; {GENERAL} (scene {lst})")
    assert sorted(os.listdir("out")) == ["a.tif.aux.xml"]


@pytest.mark.parametrize("name", ["a.tif.msk", "a.tif.ovr"])
def test_mask_and_overview_refusals_name_the_output_as_given(tmp_path: Path, lst: Path, monkeypatch, capsys,
                                                              name: str) -> None:
    monkeypatch.chdir(tmp_path)
    Path("out").mkdir()
    with rasterio.open(f"out/{name}", "w", driver="GTiff", width=8, height=8, count=1, dtype="uint8",
                       crs="EPSG:32647", transform=Affine(10, 0, 0, 0, -10, 0)) as dst:
        dst.write(np.full((1, 8, 8), 255, "uint8"))
    before = listing(tmp_path)
    capsys.readouterr()
    assert downscale(lst) == 2
    problem = ("a GDAL mask file of the output out/a.tif lies here; GDAL (and rasterio, QGIS) would apply it to the "
               "new file as its mask" if name.endswith(".msk") else
               "a GDAL overview file of the output out/a.tif lies here (QGIS 'Build pyramids', gdaladdo -ro, ArcGIS); "
               "GDAL (and rasterio, QGIS) would show its old pixels wherever the new file is read zoomed out")
    assert capsys.readouterr().err.strip() == f"error: out/{name}: {problem} {HINT} (scene {lst})"
    assert listing(tmp_path) == before
