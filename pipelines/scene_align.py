"""``downscale --align``: one scene's guidance resampled onto its LST grid for as long as the
scene runs.

Each scene aligns its own copy (as ``groklst guidance`` would, at the model's scale or the
pixel-size ratio), so scenes on different grids can share one guidance raster, a failure is
that scene's alone, and a scene on a dask worker needs nothing from the others. The copy is a
hidden file beside the scene's output (the same disk), made under a name no other file has and
removed when the scene ends, whatever happens; it is locked while the scene uses it, so copies a
killed run left behind are removed by the next run of the same output (or a ``--skip-existing``
run that skips it) once they are a day old, and a live run's never, however long it runs. A
failure to write the copy (a full disk, a file-size limit) is reported against the output, whose
disk it fills: the copy is a temporary the user never named.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.atomic import ALIGNED_SUFFIX, aligned_copies, held_while_in_use, remove_stale
from pipelines.errors import InputError, unmistakable_path
from pipelines.raster_names import display_name

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pipelines.downscale import DownscaleOptions
    from pipelines.guidance import GuidanceReport
    from pipelines.infer import ModelSource

_made: dict[str, str] = {}  # each copy this process made (as opened, and absolute) -> its guidance as given
_made_lock = threading.Lock()  # scenes align side by side in a dask worker's threads


@dataclass(frozen=True)
class AlignedGuidance:
    """The resampled guidance, the output tags that say where it came from, and a log line."""

    path: Path
    tags: dict[str, str]
    description: str


@contextmanager
def aligned_guidance(lst: Path, guidance: Path, output: Path,
                     scale: int | None = None) -> Iterator[AlignedGuidance]:
    """``guidance`` resampled onto ``lst``'s grid refined by ``scale`` (default: the rounded
    pixel-size ratio), in a hidden file beside ``output`` that is removed on leaving."""
    from pipelines.guidance import align_scale  # GDAL warping: only when asked

    scale = scale or align_scale(lst, guidance)
    output.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(output.parent, aligned_copies(output))
    handle, name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=ALIGNED_SUFFIX, dir=output.parent)
    os.close(handle)
    path = Path(name)
    with held_while_in_use(path), _removed_on_leaving(path):
        report = _align(lst, guidance, path, scale, output)  # its warnings reach the caller
        _remember(path, guidance)
        how = ", ".join(sorted({band["resampling"] for band in report.bands}))
        yield AlignedGuidance(
            path,
            {"guidance_source": str(guidance.resolve()),
             "guidance_aligned": f"{how} onto LST/{scale} (--align)"},
            f"aligned {guidance} onto the LST grid: {report.grid}, {how}",
        )


def _align(lst: Path, guidance: Path, copy: Path, scale: int, output: Path) -> GuidanceReport:
    """``guidance`` aligned into ``copy``; a failure to write it (a full disk, a file-size
    limit, a copy that reads back truncated) named as ``output``'s, as README promises for
    every write: the error named the hidden copy, already removed (QA s9)."""
    from pipelines.guidance import align_guidance

    try:
        return align_guidance(lst, guidance, copy, scale)
    except InputError as exc:
        named = exc.path is not None and os.path.abspath(exc.path) == os.path.abspath(unmistakable_path(copy))
        if not (named and exc.problem.startswith(_WRITE_FAILED)):
            raise
        problem = exc.problem.replace(_WRITE_FAILED, "writing its aligned guidance (--align) failed", 1)
        raise InputError(output, problem, exc.hint) from exc


_WRITE_FAILED = "writing failed"  # how every write error starts (pipelines.geotiff, pipelines.atomic)


@contextmanager
def _removed_on_leaving(path: Path) -> Iterator[None]:
    """Run the block; then remove the copy ``path``, whatever happens (before its lock goes)."""
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def check_before_aligning(lst: Path, guidance: Path, source: ModelSource, options: DownscaleOptions) -> None:
    """Refuse from the files' headers what the scene would refuse once :func:`aligned_guidance`
    made its copy: a scale the guidance cannot give, guidance bands that are not the model's
    (a wrong checkpoint), an output above ``--force``'s limit. Aligning a large scene takes
    minutes and a copy as large on disk, all for an error the headers tell at once. Unnamed bands
    are left to the scene: the copy names them b1..bN, and it is refused in those words."""
    from pipelines.downscale import check_output_size, match_bands
    from pipelines.geotiff import guidance_names, open_raster
    from pipelines.grids import Grid, pair_grids
    from pipelines.guidance import align_scale, fine_grid

    scale = source.scale or align_scale(lst, guidance)  # as aligned_guidance takes it
    with open_raster(guidance) as src:
        names, named = guidance_names(src, guidance, options.guidance_bands)
    if named:  # as the scene matches the copy's bands, which keep these names
        match_bands(guidance, names, source.bands(names), model_path=source.checkpoint_path)
    with open_raster(lst) as src:
        lst_grid = Grid.of(src)
    copy_grid, _ = fine_grid(lst_grid, lst, scale=scale, res=None)  # the grid the copy is written on
    grids = pair_grids(lst_grid, copy_grid, scale=source.scale, lst_path=lst, guidance_path=guidance)
    check_output_size(grids, options.max_output_pixels, lst)


def check_before_aligning_fit(guidance: Path, guidance_bands: Sequence[str] | None) -> None:
    """Refuse from the guidance's header what ``downscale --fit`` would refuse once it is aligned
    (:func:`check_before_aligning`, for a fit): a ``--guidance-bands`` that does not name every
    band, an alpha band, two bands of one name."""
    from pipelines.geotiff import guidance_names, open_raster
    from pipelines.guidance import DISTINCT_BANDS_HINT, check_distinct_bands

    with open_raster(guidance) as src:
        names, _ = guidance_names(src, guidance, guidance_bands)
    check_distinct_bands(guidance, names, DISTINCT_BANDS_HINT)  # as the fit reads the copy's bands


def _remember(copy: Path, guidance: Path) -> None:
    """Name ``copy`` as ``guidance`` in messages from now on (:func:`named_as_guidance`): once
    written, the copy is the guidance the scene reads, and what is wrong with it (bands, values,
    nodata) is wrong with the user's file. Kept after the copy is removed, because a scene's
    error is worded after its block has ended; one short entry a scene."""
    with _made_lock:
        for form in {str(copy), str(copy.absolute())}:
            _made[form] = display_name(guidance)


def named_as_guidance(text: str) -> str:
    """``text`` naming each aligned copy made in this process as the guidance it was made from
    (as given to :func:`aligned_guidance`): the copy is a hidden temporary the user never saw.

    A text naming no copy (one without its suffix: nearly all) is returned at once, so an
    archive run's thousands of entries cost nothing per message."""
    if ALIGNED_SUFFIX not in text:
        return text
    with _made_lock:
        made = sorted(_made.items(), key=lambda item: -len(item[0]))  # a path before its prefixes
    for copy, guidance in made:
        text = text.replace(copy, guidance)
    return text
