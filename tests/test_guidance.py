"""groklst guidance: sources on other grids and CRSs land on the right fine pixels of the LST grid."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import transform as transform_points
from scipy.ndimage import map_coordinates

from groklst_cli.app import run
from pipelines.geotiff import write_raster
from pipelines.guidance import GuidanceOptions, GuidanceWarning, build_guidance, parse_source
from pipelines import indices

UTM = CRS.from_epsg(32632)
X0, Y0 = 400_000.0, 5_760_000.0  # LST origin (30 m pixels)
LR_W, LR_H = 24, 16
BLOCK_M = 120.0  # the pattern is constant over blocks of 4 x 4 LST pixels
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "landsat-muenster"


def block_value(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A pattern constant per 120 m block of the LST grid (so constant per LST pixel)."""
    bx, by = np.floor((x - X0) / BLOCK_M), np.floor((Y0 - y) / BLOCK_M)
    return 100.0 + 10.0 * bx + 3.0 * by + 7.0 * ((bx + by) % 2)


def block_class(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    bx, by = np.floor((x - X0) / BLOCK_M), np.floor((Y0 - y) / BLOCK_M)
    return (1 + (bx + 2 * by) % 3).astype(np.uint8)


def area_mean(fn, x0: float, y0: float, res: float, shape: tuple[int, int], sub: float = 5.0) -> np.ndarray:
    """Exact pixel means of a pattern whose edges fall on ``sub`` m, by sub-cell sampling."""
    n = int(res / sub)
    rows, cols = shape
    xs = x0 + (np.arange(cols * n) + 0.5) * sub
    ys = y0 - (np.arange(rows * n) + 0.5) * sub
    values = fn(xs[None, :], ys[:, None]).astype(np.float64)
    return values.reshape(rows, n, cols, n).mean(axis=(1, 3))


def write_lst(folder: Path) -> Path:
    path = folder / "scene_lst.tif"
    lst = np.full((LR_H, LR_W), 300.0, np.float32)
    write_raster(path, lst, crs=UTM, transform=Affine(30, 0, X0, 0, -30, Y0), descriptions=["lst"], units="K")
    return path


def write_swir(folder: Path, nodata_box: tuple[int, int, int, int] | None = None) -> tuple[Path, Affine]:
    """A 20 m raster whose grid is offset by 15 m from the LST's (and larger than it)."""
    transform = Affine(20, 0, X0 - 45, 0, -20, Y0 + 45)
    shape = (LR_H * 30 // 20 + 6, LR_W * 30 // 20 + 6)
    data = area_mean(block_value, X0 - 45, Y0 + 45, 20.0, shape).astype(np.float32)
    if nodata_box:
        r0, r1, c0, c1 = nodata_box
        data[r0:r1, c0:c1] = -9999.0
    path = folder / "swir_20m.tif"
    profile = {"driver": "GTiff", "width": shape[1], "height": shape[0], "count": 1, "dtype": "float32",
               "crs": UTM, "transform": transform, "nodata": -9999.0}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
        dst.set_band_description(1, "swir")
    return path, transform


def map_lookup(path: Path):
    """The class map as a function of map coordinates (the value of the pixel holding a point)."""
    with rasterio.open(path) as src:
        classes, t = src.read(1), src.transform

    def lookup(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        cols = np.floor((x - t.c) / t.a).astype(int)
        rows = np.floor((y - t.f) / t.e).astype(int)
        return classes[rows, cols]

    return lookup


def write_classes(folder: Path, *, offset: float = 5.0, nodata_box=None) -> Path:
    """A 10 m class map (1..3, nodata 255) whose origin is ``offset`` m off the fine grid."""
    x0, y0 = X0 - 30 + offset, Y0 + 30 + offset
    shape = (LR_H * 3 + 8, LR_W * 3 + 8)
    xs = x0 + (np.arange(shape[1]) + 0.5) * 10
    ys = y0 - (np.arange(shape[0]) + 0.5) * 10
    classes = block_class(xs[None, :], ys[:, None])
    if nodata_box:
        r0, r1, c0, c1 = nodata_box
        classes[r0:r1, c0:c1] = 255
    path = folder / "landcover_10m.tif"
    profile = {"driver": "GTiff", "width": shape[1], "height": shape[0], "count": 1, "dtype": "uint8",
               "crs": UTM, "transform": Affine(10, 0, x0, 0, -10, y0), "nodata": 255}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(classes, 1)
    return path


def fine_centres() -> tuple[np.ndarray, np.ndarray]:
    xs = X0 + (np.arange(LR_W * 3) + 0.5) * 10
    ys = Y0 - (np.arange(LR_H * 3) + 0.5) * 10
    return np.meshgrid(xs, ys)


def read(path: Path) -> tuple[np.ndarray, rasterio.profiles.Profile, list[str], list[str | None]]:
    with rasterio.open(path) as src:
        return src.read(), src.profile, list(src.descriptions), list(src.units)


@pytest.fixture
def built(tmp_path: Path):
    """A 20 m source offset by 15 m and a 10 m class map offset by 5 m, onto a 30 m LST at x3."""
    lst = write_lst(tmp_path)
    swir, swir_transform = write_swir(tmp_path)
    classes = write_classes(tmp_path)
    out = tmp_path / "scene_guidance.tif"
    report = build_guidance(lst, [parse_source(str(swir)), parse_source(f"lc={classes}", categorical=True)],
                            out, GuidanceOptions(scale=3))
    return out, report, swir, swir_transform


def test_grid_nests_in_the_lst_grid_and_bands_are_named(built) -> None:
    out, report, swir, _ = built
    data, profile, names, units = read(out)
    assert profile["crs"] == UTM and profile["transform"] == Affine(10, 0, X0, 0, -10, Y0)
    assert (profile["width"], profile["height"]) == (LR_W * 3, LR_H * 3)
    assert names == ["swir", "lc_1", "lc_2", "lc_3"] and units[1:] == ["fraction"] * 3
    assert profile["dtype"] == "float32" and np.isnan(profile["nodata"])
    assert [b["resampling"] for b in report.bands][:2] == ["bilinear", "average of class indicators"]
    with rasterio.open(out) as src:
        assert src.tags(1)["source"] == f"{swir.resolve()} band 1" and src.tags()["scale"] == "3"


def test_offset_20m_source_lands_on_the_right_pixels(built) -> None:
    out, _, swir, swir_transform = built
    fine = read(out)[0][0]
    x, y = fine_centres()
    # The pattern is constant per LST pixel: every fine pixel 30 m or more from a block edge
    # (its bilinear support is then inside one block) keeps the block's value exactly.
    dx = np.minimum((x - X0) % BLOCK_M, BLOCK_M - (x - X0) % BLOCK_M)
    dy = np.minimum((Y0 - y) % BLOCK_M, BLOCK_M - (Y0 - y) % BLOCK_M)
    inside = (dx >= 30) & (dy >= 30)
    assert inside.sum() == (LR_W // 4) * (LR_H // 4) * 36  # the middle 2 x 2 LST pixels of each block
    np.testing.assert_array_equal(fine[inside], block_value(x, y)[inside].astype(np.float32))
    # Everywhere, the value is the 20 m raster interpolated at the fine pixel's centre.
    with rasterio.open(swir) as src:
        source = src.read(1).astype(np.float64)
    col, row = (x - swir_transform.c) / 20, (swir_transform.f - y) / 20
    expected = map_coordinates(source, [row - 0.5, col - 0.5], order=1, mode="nearest")
    np.testing.assert_allclose(fine, expected, rtol=0, atol=1e-3)


def test_class_fractions_are_area_fractions_and_sum_to_one(built, tmp_path: Path) -> None:
    out, _, _, _ = built
    fractions = read(out)[0][1:]
    x, y = fine_centres()
    lookup = map_lookup(tmp_path / "landcover_10m.tif")
    for k, cls in enumerate((1, 2, 3)):  # the map is 5 m off: each fine pixel is four quarters
        expected = area_mean(lambda xx, yy: lookup(xx, yy) == cls, X0, Y0, 10.0, x.shape)
        np.testing.assert_allclose(fractions[k], expected, atol=1e-6)
    np.testing.assert_allclose(fractions.sum(axis=0), 1.0, atol=1e-6)
    assert set(np.unique(fractions)) <= {0.0, 0.25, 0.5, 0.75, 1.0}
    # A class constant over an LST pixel stays pure over its inner fine pixels.
    assert (fractions.max(axis=0) == 1.0).mean() > 0.8


def test_mode_of_a_whole_pixel_offset_map_is_the_class_everywhere(tmp_path: Path) -> None:
    lst = write_lst(tmp_path)
    classes = write_classes(tmp_path, offset=10.0)  # nests in the 10 m grid, not in the 30 m one
    out = tmp_path / "g.tif"
    build_guidance(lst, [parse_source(f"lc={classes}", categorical=True)], out,
                   GuidanceOptions(scale=3, classes="mode"))
    data, _, names, _ = read(out)
    x, y = fine_centres()
    assert names == ["lc"]
    np.testing.assert_array_equal(data[0], block_class(x, y).astype(np.float32))


@pytest.mark.parametrize("storage", ["north_up", "south_up"])
def test_dem_in_another_crs_is_reprojected(tmp_path: Path, storage: str) -> None:
    """QA: a south-up geographic source (as netCDF exports often are) was an internal error:
    its bounds, bottom above top, read as an inverted latitude range."""
    lst = write_lst(tmp_path)
    lons, lats = transform_points(UTM, "EPSG:4326", [X0 - 200, X0 + LR_W * 30 + 200], [Y0 + 200, Y0 - LR_H * 30 - 200])
    lon0, lat1, lon1, lat0 = lons[0], lats[0], lons[1], lats[1]
    res = 0.0003  # about 20 m x 33 m
    cols, rows = int((lon1 - lon0) / res) + 1, int((lat1 - lat0) / res) + 1
    lon_c = lon0 + (np.arange(cols) + 0.5) * res
    lat_c = lat1 - (np.arange(rows) + 0.5) * res

    def dem_at(lon, lat):  # linear in lon/lat: bilinear interpolation is exact for it
        return 100.0 + 4000.0 * (lon - lon0) + 2500.0 * (lat - lat0)

    dem = dem_at(lon_c[None, :], lat_c[:, None]).astype(np.float32)
    dem_path = tmp_path / "dem_wgs84.tif"
    transform = Affine(res, 0, lon0, 0, -res, lat1)
    if storage == "south_up":  # bottom row first: origin at the bottom edge, positive y size
        dem, transform = dem[::-1], Affine(res, 0, lon0, 0, res, lat1 - rows * res)
    write_raster(dem_path, np.ascontiguousarray(dem), crs=CRS.from_epsg(4326), transform=transform,
                 descriptions=["dem"], units="m")
    out = tmp_path / "g.tif"
    build_guidance(lst, [parse_source(str(dem_path))], out, GuidanceOptions(scale=3))
    data, profile, names, units = read(out)
    assert profile["crs"] == UTM and names == ["dem"] and units == ["m"]
    x, y = fine_centres()
    lon, lat = transform_points(UTM, "EPSG:4326", x.ravel(), y.ravel())
    expected = dem_at(np.array(lon), np.array(lat)).reshape(x.shape)
    # One fine pixel (10 m) of misplacement would be an error of 0.4-0.6 m here.
    assert np.abs(data[0] - expected).max() < 0.01


def test_nodata_propagates_and_partial_cover_warns(tmp_path: Path) -> None:
    lst = write_lst(tmp_path)
    swir, transform = write_swir(tmp_path, nodata_box=(10, 14, 10, 16))
    classes = write_classes(tmp_path, nodata_box=(20, 30, 0, 200))
    out = tmp_path / "g.tif"
    with pytest.warns(GuidanceWarning, match=r"has data on (97.2|81.2)%"):  # the holes
        build_guidance(lst, [parse_source(str(swir)), parse_source(str(classes), categorical=True)], out,
                       GuidanceOptions(scale=3))
    data = read(out)[0]
    x, y = fine_centres()
    col, row = (x - transform.c) / 20, (transform.f - y) / 20
    in_hole = (row >= 10) & (row < 14) & (col >= 10) & (col < 16)  # centre inside a nodata pixel
    far = (row < 8) | (row >= 16) | (col < 8) | (col >= 18)
    assert in_hole.sum() > 0 and np.isnan(data[0][in_hole]).all() and np.isfinite(data[0][far]).all()
    # Class map (5 m off): nodata rows 20-29 of the map cover fine rows 17-25 fully, 16 and 26 half.
    fractions = data[1:]
    assert np.isnan(fractions[:, 17:26]).all() and np.isfinite(fractions[:, :16]).all()
    np.testing.assert_allclose(fractions[:, [16, 26]].sum(axis=0), 1.0, atol=1e-6)
    # A source covering part of the footprint: NaN outside, and a warning.
    small = tmp_path / "small.tif"
    write_raster(small, np.ones((10, 10), np.float32), crs=UTM, transform=Affine(30, 0, X0, 0, -30, Y0),
                 descriptions=["small"])
    with pytest.warns(GuidanceWarning, match="small.tif has data on 26.0% of the LST footprint"):
        build_guidance(lst, [parse_source(str(small))], tmp_path / "g2.tif", GuidanceOptions(scale=3))
    part = read(tmp_path / "g2.tif")[0][0]
    assert (part[:30, :30] == 1).all() and np.isnan(part[30:]).all() and np.isnan(part[:, 30:]).all()


def test_a_hole_in_one_band_of_a_multi_band_source_is_nan_in_that_band_only(tmp_path: Path) -> None:
    """QA: GDAL's warp took a pixel as nodata only where every band was, so a -9999 hole in one
    band of a multi-band source became data (and -9999 smeared into its neighbours)."""
    lst = write_lst(tmp_path)
    swir, transform = write_swir(tmp_path)
    with rasterio.open(swir) as src:
        profile, band = src.profile, src.read(1)
    holed = band.copy()
    holed[10:14, 10:16] = -9999.0
    two = tmp_path / "two_bands.tif"
    with rasterio.open(two, "w", **{**profile, "count": 2}) as dst:
        dst.write(np.stack([band, holed]))
    build_guidance(lst, [parse_source(str(two))], tmp_path / "g.tif", GuidanceOptions(scale=3))
    whole, with_hole = read(tmp_path / "g.tif")[0]
    x, y = fine_centres()
    col, row = (x - transform.c) / 20, (transform.f - y) / 20
    in_hole = (row >= 10) & (row < 14) & (col >= 10) & (col < 16)
    near = (row >= 9) & (row < 15) & (col >= 9) & (col < 17)
    assert in_hole.sum() > 0 and np.isnan(with_hole[in_hole]).all() and np.isfinite(whole).all()
    np.testing.assert_array_equal(with_hole[~near], whole[~near])  # the band's data is untouched
    assert np.nanmin(with_hole) >= np.min(whole) - 1e-3  # no -9999 mixed in anywhere


def test_coarsening_averages_and_strips_equal_one_pass(tmp_path: Path) -> None:
    lst = write_lst(tmp_path)
    swir, _ = write_swir(tmp_path)
    classes = write_classes(tmp_path, offset=0.0)
    sources = [parse_source(str(swir)), parse_source(str(classes), categorical=True)]
    one = tmp_path / "one.tif"
    report = build_guidance(lst, sources, one, GuidanceOptions(res=15.0))  # x2: the 10 m map is averaged
    strips = tmp_path / "strips.tif"
    build_guidance(lst, sources, strips, GuidanceOptions(res=15.0, strip_rows=3))
    a, b = read(one)[0], read(strips)[0]
    np.testing.assert_array_equal(a, b)
    assert report.bands[0]["resampling"] == "bilinear" and report.scale == 2
    lookup = map_lookup(classes)
    expected = area_mean(lambda xx, yy: lookup(xx, yy) == 2, X0, Y0, 15.0, (LR_H * 2, LR_W * 2))
    np.testing.assert_allclose(a[2], expected, atol=1e-6)


def test_indices_from_named_bands(tmp_path: Path) -> None:
    lst = write_lst(tmp_path)
    rng = np.random.default_rng(1)
    paths = {}
    for name in ("red", "nir", "green"):
        paths[name] = tmp_path / f"{name}.tif"
        write_raster(paths[name], rng.uniform(0.02, 0.5, (LR_H * 3, LR_W * 3)), crs=UTM,
                     transform=Affine(10, 0, X0, 0, -10, Y0), descriptions=["b1"])
    out = tmp_path / "g.tif"
    sources = [parse_source(f"{n}={p}") for n, p in paths.items()]
    build_guidance(lst, sources, out, GuidanceOptions(scale=3, indices=("ndvi", "ndwi", "ndmvi"), strip_rows=4))
    data, _, names, _ = read(out)
    assert names == ["red", "nir", "green", "ndvi", "ndwi", "ndmvi"]
    red, nir, green = data[:3]
    np.testing.assert_allclose(data[3], indices.ndvi(red, nir), atol=1e-6)
    np.testing.assert_allclose(data[4], indices.ndwi(green, nir), atol=1e-6)
    np.testing.assert_allclose(data[5], indices.ndmvi(red, nir), atol=1e-6)  # scene minima across strips


def test_cli_json_cog_and_overviews(tmp_path: Path, capsys) -> None:
    from rio_cogeo.cogeo import cog_validate

    lst = tmp_path / "big_lst.tif"
    write_raster(lst, np.full((200, 220), 300.0), crs=UTM, transform=Affine(30, 0, X0, 0, -30, Y0),
                 descriptions=["lst"], units="K")
    source = tmp_path / "src.tif"
    write_raster(source, np.random.default_rng(0).uniform(0, 1, (300, 330)), crs=UTM,
                 transform=Affine(20, 0, X0 - 15, 0, -20, Y0 + 5), descriptions=["swir"])
    out = tmp_path / "g.tif"
    assert run(["guidance", str(lst), str(source), "--scale", "3", "--cog", "-o", str(out), "--json"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["output"] == str(out) and line["grid"] == "660x600 px at 10 m (LST/3)"
    valid, errors, _ = cog_validate(str(out), quiet=True)
    assert valid, errors
    with rasterio.open(out) as src:
        assert src.overviews(1) == [2] and src.descriptions == ("swir",) and np.isnan(src.nodata)
    plain = tmp_path / "plain.tif"
    assert run(["-q", "guidance", str(lst), str(source), "--scale", "3", "--overviews", "-o", str(plain)]) == 0
    with rasterio.open(plain) as src:
        assert src.overviews(1) == [2] and src.tags(ns="rio_overview") == {"resampling": "average"}
    assert capsys.readouterr().out.strip() == str(plain)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
@pytest.mark.parametrize("case, problem", [
    ("no_crs", "has no georeferencing (no geotransform and no CRS)"),  # as downscale says it
    ("far", "does not overlap the LST footprint"),
    ("res", "does not split the LST's 30 m pixels"),
    ("both", "give either --scale or --res"),
    ("index", "ndvi needs bands named red and nir; missing red, nir"),
    ("duplicate", "two guidance bands have this name"),
    ("continuous_as_classes", "not a class map"),
    ("missing", "file not found"),
])
def test_bad_sources_exit_2_one_line_no_output(tmp_path: Path, capsys, case: str, problem: str) -> None:
    lst = write_lst(tmp_path)
    swir, _ = write_swir(tmp_path)
    args = ["guidance", str(lst), str(swir), "--scale", "3"]
    if case == "no_crs":
        bare = tmp_path / "bare.tif"
        with rasterio.open(bare, "w", driver="GTiff", width=4, height=4, count=1, dtype="float32") as dst:
            dst.write(np.ones((1, 4, 4), np.float32))
        args = ["guidance", str(lst), str(bare), "--scale", "3"]
    elif case == "far":
        far = tmp_path / "far.tif"
        write_raster(far, np.ones((4, 4)), crs=UTM, transform=Affine(20, 0, X0 + 1e5, 0, -20, Y0),
                     descriptions=["far"])
        args.append(str(far))
    elif case == "res":
        args = ["guidance", str(lst), str(swir), "--res", "7"]
    elif case == "both":
        args += ["--res", "10"]
    elif case == "index":
        args += ["--index", "ndvi"]
    elif case == "duplicate":
        args.append(f"swir={swir}")
    elif case == "continuous_as_classes":
        args = ["guidance", str(lst), "--categorical", str(swir), "--scale", "3"]
    elif case == "missing":
        args.append(str(tmp_path / "nope.tif"))
    out = tmp_path / "g.tif"
    assert run([*args, "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert problem in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(".g.tif*"))


@pytest.fixture
def landsat_guidance(tmp_path_factory):
    if not SHARED.is_dir():
        pytest.skip(f"no real data in {SHARED}")
    folder = tmp_path_factory.mktemp("muenster")
    lst = next(SHARED.glob("LC08_*20240813*_ST_B10.TIF"))
    out = folder / "muenster_guidance.tif"
    with pytest.warns(GuidanceWarning, match="S2_B11_20m.tif has data on 99.9%"):
        build_guidance(lst, [parse_source(f"swir1={SHARED / 'S2_B11_20m.tif'}"),
                             parse_source(f"landcover={SHARED / 'S2_landcover_rf_10m.tif'}", categorical=True)],
                       out, GuidanceOptions(scale=3))
    return lst, out


def test_real_sentinel2_onto_landsat_pixel_is_point_grid(landsat_guidance) -> None:
    lst_path, out = landsat_guidance
    with rasterio.open(lst_path) as lst, rasterio.open(out) as g:
        assert lst.tags()["AREA_OR_POINT"] == "Point"  # GDAL reads it shifted to area semantics
        assert g.tags()["AREA_OR_POINT"] == "Area"
        assert g.crs == lst.crs and g.bounds == lst.bounds
        assert g.transform == lst.transform @ Affine.scale(1 / 3) and (g.width, g.height) == (1830, 1590)
        assert g.descriptions == ("swir1", "landcover_1", "landcover_2", "landcover_3", "landcover_4")
        data = g.read()
    swir, fractions = data[0], data[1:]
    # B11 starts 15 m right of and ends 5 m above the Landsat grid's edges: the first fine column
    # and the last fine row (centres outside B11) are nodata, the rest is not.
    assert np.isnan(swir[:, 0]).all() and np.isnan(swir[-1]).all() and np.isfinite(swir[:-1, 1:]).all()
    assert 1075 <= np.nanmin(swir) and np.nanmax(swir) <= 16243
    np.testing.assert_allclose(fractions.sum(axis=0), 1.0, atol=1e-5)
    # Sealed surfaces (class 1) are the brightest in B11 and water (class 2) the darkest.
    pure = {c: swir[fractions[c - 1] == 1.0] for c in (1, 2, 3, 4)}
    means = {c: float(np.nanmean(v)) for c, v in pure.items()}
    assert means[1] == max(means.values()) and means[2] == min(means.values())
    # Both S2 products were resampled from different grids; they line up best without a shift.
    sealed = fractions[0]

    def corr(shift: int) -> float:
        a = swir[5:-5, 5:-5]
        b = sealed[5 + shift:sealed.shape[0] - 5 + shift, 5 + shift:sealed.shape[1] - 5 + shift]
        return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])

    scores = {shift: corr(shift) for shift in (-2, -1, 0, 1, 2)}
    assert max(scores, key=scores.get) == 0, scores


def test_fixed_class_values_and_cubic_refinement(tmp_path: Path) -> None:
    lst = write_lst(tmp_path)
    swir, _ = write_swir(tmp_path)
    classes = write_classes(tmp_path, offset=10.0)
    out = tmp_path / "g.tif"
    report = build_guidance(lst, [parse_source(str(swir)), parse_source(f"lc={classes}", categorical=True)],
                            out, GuidanceOptions(scale=3, refine="cubic", class_values=(1, 2, 3, 4)))
    data, _, names, _ = read(out)
    assert names == ["swir", "lc_1", "lc_2", "lc_3", "lc_4"] and report.bands[0]["resampling"] == "cubic"
    assert (data[4] == 0).all()  # a class absent from this scene keeps its (empty) band
    np.testing.assert_array_equal(data[1:].sum(axis=0), 1.0)
    x, y = fine_centres()
    far = np.minimum((x - X0) % BLOCK_M, BLOCK_M - (x - X0) % BLOCK_M) >= 50
    far &= np.minimum((Y0 - y) % BLOCK_M, BLOCK_M - (Y0 - y) % BLOCK_M) >= 50
    np.testing.assert_allclose(data[0][far], block_value(x, y)[far], atol=1e-3)  # cubic: 4 px support


def test_a_south_up_or_rotated_source_gives_the_same_guidance_as_north_up(tmp_path: Path) -> None:
    lst = write_lst(tmp_path)
    swir, transform = write_swir(tmp_path)
    with rasterio.open(swir) as src:
        data, profile = src.read(1), src.profile
    flipped = tmp_path / "swir_south_up.tif"
    # the same pixels stored bottom row first: origin at the bottom edge, positive y pixel size
    profile.update(transform=Affine(transform.a, 0, transform.c, 0, -transform.e,
                                    transform.f + transform.e * data.shape[0]))
    with rasterio.open(flipped, "w", **profile) as dst:
        dst.write(data[::-1], 1)
        dst.set_band_description(1, "swir")
    transposed = tmp_path / "swir_transposed.tif"  # file pixel (col, row) is map pixel (row, col)
    profile.update(transform=transform @ Affine(0, 1, 0, 1, 0, 0), width=data.shape[0],
                   height=data.shape[1])
    with rasterio.open(transposed, "w", **profile) as dst:
        dst.write(np.ascontiguousarray(data.T), 1)
        dst.set_band_description(1, "swir")
    names = ("north.tif", "south.tif", "transposed.tif")
    for source, out in zip((swir, flipped, transposed), names):
        build_guidance(lst, [parse_source(str(source))], tmp_path / out, GuidanceOptions(scale=3))
    north, south, rotated = (rasterio.open(tmp_path / n).read(1) for n in names)
    assert np.isfinite(north).all()
    np.testing.assert_allclose(south, north, atol=1e-4)
    np.testing.assert_allclose(rotated, north, atol=1e-4)


@pytest.mark.parametrize("classes_as", ["fractions", "mode"])
@pytest.mark.parametrize("storage", ["south_up", "transposed"])
def test_a_flipped_or_rotated_class_map_gives_the_same_guidance_as_north_up(
        tmp_path: Path, storage: str, classes_as: str) -> None:
    lst = write_lst(tmp_path)
    # The mode of a map offset by half a pixel has ties, which GDAL breaks in scan order.
    north = write_classes(tmp_path, offset=5.0 if classes_as == "fractions" else 10.0)
    with rasterio.open(north) as src:
        data, profile, t = src.read(1), src.profile, src.transform
    if storage == "south_up":  # bottom row first: origin at the bottom edge, positive y size
        stored, transform = data[::-1], Affine(t.a, 0, t.c, 0, -t.e, t.f + t.e * data.shape[0])
    else:  # columns stored as rows: pixel (col, row) of the file is pixel (row, col) of the map
        stored, transform = data.T, t @ Affine(0, 1, 0, 1, 0, 0)
    other = tmp_path / f"landcover_{storage}.tif"
    profile.update(transform=transform, width=stored.shape[1], height=stored.shape[0])
    with rasterio.open(other, "w", **profile) as dst:
        dst.write(np.ascontiguousarray(stored), 1)
    outputs = []
    for source in (north, other):
        out = tmp_path / f"g_{source.stem}.tif"
        build_guidance(lst, [parse_source(f"lc={source}", categorical=True)], out,
                       GuidanceOptions(scale=3, classes=classes_as))
        outputs.append(read(out))
    (expected, _, names, _), (got, _, got_names, _) = outputs
    assert got_names == names and np.isfinite(expected).all()
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_footprints_disjoint_whatever_the_orientation() -> None:
    from pipelines.grids import footprints_disjoint

    north_up, south_up = (0.0, 0.0, 10.0, 10.0), (5.0, 15.0, 15.0, 5.0)
    assert not footprints_disjoint(north_up, south_up)
    assert footprints_disjoint(north_up, (20.0, 15.0, 30.0, 5.0))
    assert footprints_disjoint(north_up, (10.0, 0.0, 20.0, 10.0))  # sharing an edge: no area


def test_res_on_non_square_lst_pixels_is_refused_and_scale_keeps_their_shape(tmp_path: Path, capsys) -> None:
    """QA L2b: --res 10 on 30 x 40 m pixels wrote 10 x 13.33 m pixels. Every LST pixel is split
    N x N, so no --res gives the square pixels asked for: refused, pointing to --scale."""
    lst = tmp_path / "lst.tif"
    write_raster(lst, np.full((LR_H, LR_W), 300.0), crs=UTM, transform=Affine(30, 0, X0, 0, -40, Y0),
                 descriptions=["lst"])
    swir, _ = write_swir(tmp_path)
    out = tmp_path / "g.tif"
    assert run(["guidance", str(lst), str(swir), "--res", "10", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and not out.exists()
    assert "the LST's pixels are 30 x 40 m (not square)" in err
    assert "--scale 3 for 10 x 13.3333 m pixels" in err
    with pytest.warns(GuidanceWarning, match="has data on 87.5%"):  # the source ends above the 640 m LST
        report = build_guidance(lst, [parse_source(str(swir))], out, GuidanceOptions(scale=3))
    with rasterio.open(out) as dst:
        assert dst.res == pytest.approx((10.0, 40 / 3)) and (report.width, report.height) == (3 * LR_W, 3 * LR_H)
