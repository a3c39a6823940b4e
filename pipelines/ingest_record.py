"""What the ingest of one SDGSAT-1 product scene did, as ``groklst prepare`` records it in info.json.

The ingest reports its outcomes (TIS B3-to-B2 registration, MII saturation, B2 destriping,
TIS-MII coregistration, the DEM or its constant fill, the LST method) as tags of the pair it
writes and as warnings. Both are gone after a prepare run (the pair is temporary, the warnings
scroll by), so each ingested scene's entry in info.json keeps a copy.

It also says what a complete pair is, for ``--skip-existing``
(:mod:`pipelines.finished_outputs`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pipelines.finished_outputs import FinishedKind
from pipelines.geotiff import open_raster
from pipelines.sample_scene import BAND_NAMES

GDAL_TAGS = frozenset({"AREA_OR_POINT"})  # written by GDAL itself, not by the ingest
GENERATOR = "groklst ingest"  # the generator tag of the pair the ingest writes
# the ingest's tags a downscaled output keeps: how the LST was retrieved and placed (and that it is
# approximate), the TIS and MII saturation found, the MII's coverage, where the DEM came from
LST_PROVENANCE = ("coregistration", "tis_band_registration", "tis_destriping", "tis_saturation", "mii_coverage",
                  "lst_method", "approximate")
GUIDANCE_PROVENANCE = ("mii_saturation", "dem_source")


@dataclass(frozen=True)
class IngestRecord:
    """One ingested scene: the product folders it came from (absolute), the tags the ingest
    wrote on its pair and the warnings it raised, each as the ingest worded it."""

    products: list[str]
    tags: dict[str, str]
    warnings: list[str]


def pair_tags(lst_path: Path, guidance_path: Path) -> dict[str, str]:
    """The tags of the guidance and the LST as one mapping, sorted by name (those both carry,
    such as ``coregistration``, the ingest writes alike on both)."""
    tags: dict[str, str] = {}
    for path in (guidance_path, lst_path):
        with open_raster(path) as src:
            tags.update(src.tags())
    return {key: value for key, value in sorted(tags.items()) if key not in GDAL_TAGS}


def ingest_record(folders: Iterable[Path], lst_path: Path, guidance_path: Path,
                  warnings: Iterable[str]) -> IngestRecord:
    """The record of a scene ingested from ``folders`` into ``lst_path`` and ``guidance_path``."""
    return IngestRecord([str(Path(f).resolve()) for f in folders], pair_tags(lst_path, guidance_path),
                        list(warnings))


def provenance_tags(lst_tags: Mapping[str, str], guidance_tags: Mapping[str, str] | None) -> dict[str, str]:
    """The provenance tags a downscaled output keeps from its LST and guidance (their tags), each
    only from a raster the ingest wrote (its ``generator`` tag): an output made in one command
    from product folders and one made from the ingested pair say alike how the LST was made,
    and a user's own LST or guidance gives none of its tags, whatever they are named."""
    kept: dict[str, str] = {}
    for tags, names in ((lst_tags, LST_PROVENANCE), (guidance_tags or {}, GUIDANCE_PROVENANCE)):
        if tags.get("generator") == GENERATOR:
            kept.update({name: tags[name] for name in names if name in tags})
    return kept


# The pair ``groklst ingest`` writes: NAME_lst.tif and NAME_guidance.tif, both tagged as its own.
INGESTED_LST = FinishedKind("an ingested LST", "finished ingest", ("lst",), GENERATOR)
INGESTED_GUIDANCE = FinishedKind("an ingested guidance", "finished ingest", BAND_NAMES, GENERATOR)
