"""The names a dataset's records give, kept for the search: its places and its taxa.

A journalist searches `Lattes`, a naturalist `Quercus` or `chêne vert`; neither word is in a
title. So each time a dataset's rows change (`hub.catalogue.refresh_extent`), the distinct values
of its fields that name a place (station, commune, locality, river) or a taxon (scientific and
vernacular name, genus, family) are kept in its record resource's `details["names"]`, and
`hub.searchindex` indexes them with its words, as it does its schema's labels. Bounded: at most
MAX_PER_FIELD values of each field, each cut at MAX_CHARS, so a table of millions of rows adds a
few thousand words at most. They are indexed only for open datasets: a search must not tell who
may not read the rows which places or species they hold.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from hub.records import Layout

# Field names (the schemas' and Darwin Core's) whose values are places or taxa.
PLACE_FIELDS = frozenset(
    {
        *("station_name", "commune", "municipality", "locality", "place", "district"),
        *("sub_district", "river", "basin", "section_name", "area_desc"),
    }
)
TAXON_FIELDS = frozenset({"scientificName", "vernacularName", "genus", "family"})
NAMING_FIELDS = PLACE_FIELDS | TAXON_FIELDS
MAX_PER_FIELD = 500
MAX_CHARS = 100


def names(connection: Connection, layout: Layout) -> list[str]:
    """The distinct place and taxon names of a record table, sorted (bounded, see above)."""
    found: set[str] = set()
    for field, column in layout.columns.items():
        if field not in NAMING_FIELDS or layout.types.get(field) != "string":
            continue
        cell = layout.table.c[column]
        values = sa.select(cell).where(cell.is_not(None), cell != "").distinct()
        for (value,) in connection.execute(values.limit(MAX_PER_FIELD)):
            found.add(str(value).strip()[:MAX_CHARS])
    return sorted(found - {""})


def of(resources: list[Any]) -> list[str]:
    """The names kept in a dataset's record resources."""
    kept: list[str] = []
    for resource in resources:
        held = (resource.details or {}).get("names") if resource.kind == "records" else None
        kept += [n for n in held or [] if isinstance(n, str)]
    return kept
