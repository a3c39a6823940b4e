"""Pairing LST and guidance grids: scale, nesting, overlap, the chosen output grid."""

from __future__ import annotations

import math

import numpy as np
import pytest
from affine import Affine
from rasterio.crs import CRS
from rasterio.io import MemoryFile

from pipelines.errors import InputError
from pipelines.grids import Grid, check_north_up, pair_grids, refine_grid
from pipelines.mosaic import StreamingMosaic
from pipelines.tiling import WEIGHT_FLOOR, blend_weights, tile_grid, tile_starts

UTM = CRS.from_epsg(32647)


def lst_grid(w: int = 10, h: int = 8) -> Grid:
    return Grid(UTM, Affine(30, 0, 1000, 0, -30, 5000), w, h)


def pair(guidance: Grid, scale: int | None = 3):
    return pair_grids(lst_grid(), guidance, scale=scale, lst_path="l.tif", guidance_path="g.tif")


def test_identical_footprints_give_the_guidance_grid() -> None:
    g = Grid(UTM, Affine(10, 0, 1000, 0, -10, 5000), 30, 24)
    p = pair(g)
    assert p.output == g and p.guidance_factor == 1
    assert (p.lr_window.width, p.lr_window.height) == (10, 8)


def test_guidance_larger_than_lst_is_cropped_to_lst() -> None:
    g = Grid(UTM, Affine(10, 0, 970, 0, -10, 5030), 36, 30)
    p = pair(g)
    assert p.output.transform == Affine(10, 0, 1000, 0, -10, 5000)
    assert (p.guidance_window.col_off, p.guidance_window.row_off) == (3, 3)
    assert (p.output.width, p.output.height) == (30, 24)


def test_guidance_offset_by_part_of_an_lr_pixel_keeps_whole_lr_pixels() -> None:
    g = Grid(UTM, Affine(10, 0, 1010, 0, -10, 5000), 30, 24)  # starts 1/3 into LR column 0
    p = pair(g)
    assert p.lr_window.col_off == 1 and p.lr_window.width == 9
    assert p.guidance_window.col_off == 2
    assert p.output.transform.c == 1030


def test_finer_guidance_is_averaged_and_scale_derived() -> None:
    g = Grid(UTM, Affine(5, 0, 1000, 0, -5, 5000), 60, 48)
    assert pair(g, scale=3).guidance_factor == 2
    assert pair(g, scale=None).scale == 6
    with pytest.raises(InputError, match="x6 but the model downscales x4"):
        pair(g, scale=4)


@pytest.mark.parametrize(
    "guidance, message",
    [
        (Grid(UTM, Affine(10, 0, 1004, 0, -10, 5000), 30, 24), "does not nest"),
        (Grid(UTM, Affine(10, 0, 9000, 0, -10, 5000), 30, 24), "does not cover"),
        (Grid(CRS.from_epsg(32648), Affine(10, 0, 1000, 0, -10, 5000), 30, 24), "differs"),
        (Grid(UTM, Affine(7, 0, 1000, 0, -7, 5000), 30, 24), "not an integer multiple"),
        (Grid(UTM, Affine(10, 0, 1000, 0, 10, 5000), 30, 24), "rotated or flipped"),
    ],
)
def test_bad_pairs(guidance: Grid, message: str) -> None:
    with pytest.raises(InputError, match=message):
        pair(guidance)


def test_a_far_guidance_origin_must_nest_as_exactly_as_a_close_one() -> None:
    """Half a guidance pixel off is off wherever the guidance starts (a mosaic 1000 px west used
    to pass: the tolerance grew with the offset)."""
    far = Grid(UTM, Affine(10, 0, 1000 - 10_000 + 5, 0, -10, 5000), 1030, 24)
    with pytest.raises(InputError, match=r"does not nest.*offset of 0\.50 guidance pixel in x"):
        pair(far)
    noise = Grid(UTM, Affine(10, 0, 1000 - 10_000 + 1e-4, 0, -10, 5000 + 1e-4), 1030, 24)
    assert pair(noise).output.transform.c == 1000  # reprojection noise of 1e-5 px still nests


def test_a_guidance_pixel_size_slightly_off_is_refused_when_it_slides_the_grid() -> None:
    """10.0099 m pixels beside 30 m: read by index they slide 0.6 px over 600 guidance pixels."""
    drifting = Grid(UTM, Affine(10.0099, 0, 1000, 0, -10.0099, 5000), 600, 600)
    with pytest.raises(InputError, match="LST pixel size 30 m is not an integer multiple of the "
                                         "guidance pixel size 10.0099 m"):
        pair(drifting)
    rounding = Grid(UTM, Affine(10 + 1e-9, 0, 1000, 0, -(10 + 1e-9), 5000), 600, 600)
    assert pair(rounding).output.width == 30  # float noise in the pixel size slides nothing


def test_guidance_in_another_crs_is_pointed_at_the_tools_that_align_it() -> None:
    with pytest.raises(InputError) as refused:
        pair(Grid(CRS.from_epsg(32648), Affine(10, 0, 1000, 0, -10, 5000), 30, 24))
    assert "groklst guidance" in refused.value.hint and "--align" in refused.value.hint


def test_pixel_sizes_are_named_in_the_crs_unit() -> None:
    geographic = Grid(CRS.from_epsg(4326), Affine(0.003, 0, 7.5, 0, -0.003, 52.0), 10, 8)
    guidance = Grid(CRS.from_epsg(4326), Affine(0.002, 0, 7.5, 0, -0.002, 52.0), 15, 12)
    with pytest.raises(InputError, match="LST pixel size 0.003 deg is not an integer multiple of "
                                         "the guidance pixel size 0.002 deg"):
        pair_grids(geographic, guidance, scale=None, lst_path="l.tif", guidance_path="g.tif")


def test_refined_lst_grid_keeps_crs_origin_and_extent() -> None:
    p = refine_grid(lst_grid(), 4, lst_path="l.tif")
    assert p.output == Grid(UTM, Affine(7.5, 0, 1000, 0, -7.5, 5000), 40, 32)
    assert (p.scale, p.guidance_factor, p.ratio) == (4, 1, 4)
    assert (p.lr_window.col_off, p.lr_window.row_off, p.lr_window.width, p.lr_window.height) == (0, 0, 10, 8)
    assert p.describe(None) == "output grid: the LST grid refined x4 (40x32 px at 7.5 m)"


def test_description_names_the_crs_unit() -> None:
    """A geographic LST's pixels are described in degrees, a US-feet CRS's in feet, not metres."""
    geographic = Grid(CRS.from_epsg(4326), Affine(0.0015, 0, 7.5, 0, -0.0015, 52.0), 10, 8)
    assert refine_grid(geographic, 4, lst_path="l.tif").describe(None).endswith(
        "(40x32 px at 0.000375 deg)")
    feet = Grid(CRS.from_epsg(2227), Affine(90, 0, 6e6, 0, -90, 2e6), 10, 8)
    assert refine_grid(feet, 3, lst_path="l.tif").describe(None).endswith("(30x24 px at 30 US survey foot)")


def test_description_gives_both_sizes_of_non_square_pixels() -> None:
    """QA: 30 x 40 m LST pixels refined x3 were described as square 10 m pixels."""
    oblong = Grid(UTM, Affine(30, 0, 1000, 0, -40, 5000), 10, 8)
    assert refine_grid(oblong, 3, lst_path="l.tif").describe(None).endswith("(30x24 px at 10x13.3333 m)")


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_a_raster_placed_only_by_gcps_is_told_to_warp(tmp_path) -> None:
    """QA: a GCP-only LST (with a CRS on its GCPs) was said to have no georeferencing and no CRS."""
    import rasterio
    from rasterio.control import GroundControlPoint

    path = tmp_path / "gcp.tif"
    gcps = [GroundControlPoint(r, c, 500000 + 30 * c, 4e6 - 30 * r) for r, c in ((0, 0), (0, 9), (9, 0), (9, 9))]
    with rasterio.open(path, "w", driver="GTiff", width=10, height=10, count=1, dtype="float32") as dst:
        dst.gcps = (gcps, CRS.from_epsg(32647))
    with rasterio.open(path) as src:
        grid = Grid.of(src)
    assert grid.placed_by == "GCPs"
    with pytest.raises(InputError, match="has no geotransform, only GCPs") as refused:
        check_north_up(path, grid)
    assert refused.value.hint == "warp it onto a grid first: gdalwarp -r near IN.tif OUT.tif (onto the GCPs' CRS)"


@pytest.mark.parametrize(
    "lst, message",
    [
        (Grid(None, Affine(30, 0, 1000, 0, -30, 5000), 10, 8), "has no CRS"),
        (Grid(UTM, Affine(30, 0, 1000, 0, 30, 5000), 10, 8), "rotated or flipped"),
    ],
)
def test_refining_refuses_grids_without_crs_or_north_up(lst: Grid, message: str) -> None:
    with pytest.raises(InputError, match=message):
        refine_grid(lst, 3, lst_path="l.tif")


@pytest.mark.parametrize("length", [41, 99, 100, 101, 333, 1000, 3333])
@pytest.mark.parametrize(("tile", "overlap"), [(40, 10), (170, 21), (64, 0)])
def test_tiles_cover_with_the_overlap_and_little_waste(length: int, tile: int, overlap: int) -> None:
    size, starts = tile_starts(length, tile, overlap)
    assert size <= tile and starts[0] == 0 and starts[-1] + size == length
    assert all(b - a <= size - overlap for a, b in zip(starts, starts[1:]))  # overlap kept
    fewest = 1 + math.ceil((length - tile) / (tile - overlap)) if length > tile else 1
    assert len(starts) == fewest
    assert len(starts) * size <= length + len(starts) * (overlap + 1)  # no tile larger than needed


def test_tiles_have_equal_size() -> None:
    assert tile_starts(100, 40, 10) == (40, [0, 30, 60])
    assert tile_starts(333, 170, 21) == (125, [0, 104, 208])
    assert tile_starts(30, 40, 10) == (30, [0])
    rows = tile_grid(100, 30, 40, 10)
    assert {(t.rows, t.cols) for r in rows for t in r} == {(40, 30)}
    assert rows[0][0].top is False and rows[0][0].bottom is True and rows[-1][0].bottom is False


def test_blend_weights_are_one_inside_and_floor_at_shared_borders() -> None:
    rows = tile_grid(100, 100, 40, 16)
    w = blend_weights(rows[1][1], scale=2, overlap=16)  # interior tile: neighbours on all sides
    assert w.shape == (74, 74)  # 4 tiles of 37 LR px cover 100 px with >= 16 px overlap
    assert w[37, 37] == 1.0
    assert w[0, 37] == WEIGHT_FLOOR and w[37, 73] == WEIGHT_FLOOR
    edge = blend_weights(rows[0][0], scale=2, overlap=16)  # scene corner: no ramp at the edge
    assert edge[0, 0] == 1.0


def test_a_tiles_edge_never_biases_what_its_neighbour_covers_and_fills_its_nodata() -> None:
    """Two tiles side by side: the right tile's edge holds a padding artefact (+5 K) in the
    floor-weighted quarter of the overlap. Where the left tile has a value the mosaic is
    exactly the left tile's; where the left tile has nodata, the right tile's edge fills it."""
    left, right = tile_grid(1, 40, 24, 8)[0]
    wl, wr = blend_weights(left, 1, 8), blend_weights(right, 1, 8)
    assert wr[0, 0] == WEIGHT_FLOOR
    pl = np.full((1, left.cols), 300.0, np.float32)
    pl[0, right.col] = np.nan  # the left tile's nodata, inside the right tile's floor strip
    pr = np.full((1, right.cols), 300.0, np.float32)
    pr[0, :2] = 305.0  # the right tile's edge artefact
    with MemoryFile() as memory, memory.open(driver="GTiff", width=40, height=1, count=1,
                                             dtype="float32") as dst:
        mosaic = StreamingMosaic(dst)
        mosaic.add(0, left.col, pl, wl)
        mosaic.add(0, right.col, pr, wr)
        mosaic.close()
        out = dst.read(1)[0]
    assert out[right.col] == 305.0  # filled by the only tile that has a value there
    assert np.all(out[np.arange(40) != right.col] == 300.0)  # exact: the artefact weighs nothing
