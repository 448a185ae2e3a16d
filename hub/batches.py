"""What the publish gate takes: record, metadata and grid batches, and the record chunks.

A reader's findings travel as typed `RowProblem`s beside each chunk, never as JSON in a cell;
the gate turns them into frictionless-style error descriptors for the report and quarantine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import polars as pl


@dataclass(frozen=True)
class Publisher:
    """The operator a batch comes from."""

    id: str
    name: str
    kind: str = "public"
    email: str = ""  # declared contact ("" leaves the organization's as it is)
    website: str = ""


@dataclass(frozen=True)
class RowProblem:
    """A source row a reader or normalisation could not put in the hub's shape, and why."""

    row: int  # the source row number, as frictionless counts it (header = 1)
    field: str | None  # the target field at fault, if one is
    note: str  # what is wrong, for people: "coordinates … lie outside the area of use of …"


@dataclass
class Chunk:
    """Rows of a record batch: one Utf8 column per target field, then `_row` (Int64).

    A frame read by `hub.validation.tables` also carries that module's `_error` column (the
    table's own structure: extra and missing cells); readers pass it on untouched.
    """

    frame: pl.DataFrame
    problems: list[RowProblem] = field(default_factory=list)
    # Rows of the feed the reader did not pass on by design, counted by why ("no air
    # pollutant: temperature"): nothing is dropped unsaid, the run's report states them.
    left_out: dict[str, int] = field(default_factory=dict)
    # Fields the source does not give at all (mapped to nothing, no column of that name): their
    # cells are empty, and the gate's upsert leaves a stored row's values of them as they are.
    unprovided: frozenset[str] = frozenset()
    # Columns of the feed that fill no schema field (a Darwin Core term the schema lacks): the
    # run's report lists them, so that nothing a publisher sent is dropped unsaid either.
    unmapped: tuple[str, ...] = ()


@dataclass
class About:
    """Dataset metadata a feed itself declares (a DwC-A's EML, a portal's record)."""

    title: str = ""
    description: str = ""
    keywords: list[str] = field(default_factory=list)
    licence: str = ""  # as the feed writes it (a name or a uri): shown, never trusted for access
    creator: str = ""
    contact_name: str = ""
    contact_email: str = ""
    citation: str = ""  # the citation the producer asks for
    doi: str = ""  # the dataset's DOI, as written (a doi.org link, `doi:…` or `10.…`)


@dataclass
class _Common:
    """What every batch says about where it comes from and under which charter."""

    dataset_id: str
    title: str
    publisher: Publisher
    theme: str
    charter: str | None
    description: str = ""
    source_id: str | None = None
    source_url: str = ""
    keywords: list[str] = field(default_factory=list)
    # What the feed declares of the dataset's authorship (hub.credits.Credits.stored()).
    credits: dict[str, str] | None = None


@dataclass
class Batch(_Common):
    """Rows from one source, shaped by its schema, on their way into the catalogue."""

    schema: str = ""
    chunks: Iterable[Chunk | pl.DataFrame] = ()  # a bare frame: pushed rows, no problems
    # The licence the feed declares for its data (EML intellectualRights): the gate refuses
    # the batch when the charter's licence does not cover it.
    declared_licence: str = ""
    max_invalid_share: float | None = None  # None: the hub's setting
    quarantine_cap: int | None = None  # None: the hub's setting


@dataclass(frozen=True)
class GridVariable:
    """One data variable of a grid: its name, unit, long name and dimensions."""

    name: str
    units: str
    long_name: str
    dimensions: tuple[str, ...]


@dataclass
class GridBatch(_Common):
    """A gridded resource (NetCDF): the file, and what it holds, read from its own metadata."""

    path: Path = Path()
    variables: list[GridVariable] = field(default_factory=list)
    dimensions: dict[str, int] = field(default_factory=dict)
    bbox: list[float] | None = None  # [min lon, min lat, max lon, max lat], WGS84
    time_min: datetime | None = None
    time_max: datetime | None = None
    attributes: dict[str, str] = field(default_factory=dict)  # global attributes (title, …)


@dataclass(frozen=True)
class FileResource:
    """A file a portal's dataset links to."""

    name: str
    url: str
    format: str = ""
    description: str = ""
    size: int | None = None
    modified: datetime | None = None


@dataclass
class PortalDataset:
    """One dataset of another catalogue, as its portal describes it."""

    id: str  # stable in the hub: the source's prefix and the portal's own name or id
    title: str
    description: str = ""
    keywords: list[str] = field(default_factory=list)
    licence: str = ""
    modified: datetime | None = None
    landing_page: str = ""
    # The original's identity and release date, kept as the dataset's origin (hub.origins):
    # aggregators harvesting both the portal and the hub deduplicate on them.
    identifier: str = ""  # the portal's own: dct:identifier, CKAN's id, RUDI's global_id
    iri: str = ""  # the original's IRI (the DCAT node, CKAN's `uri`), where the portal has one
    issued: datetime | None = None
    organization: str = ""  # the portal's organization name, shown (the charter decides access)
    credits: dict[str, str] | None = None  # its declared creator, contact (hub.credits)
    bbox: list[float] | None = None
    resources: list[FileResource] = field(default_factory=list)


@dataclass
class MetadataBatch(_Common):
    """Datasets of a portal (CKAN, DCAT, RUDI): metadata and file resources, no rows."""

    datasets: list[PortalDataset] = field(default_factory=list)
    complete: bool = False  # the whole portal (not an increment): datasets gone are withdrawn
    position: str = ""  # where the next increment starts (the latest modification listed)


AnyBatch = Batch | GridBatch | MetadataBatch
Progress = Callable[[int], None]


def problems_by_row(problems: Iterable[RowProblem]) -> dict[int, list[RowProblem]]:
    """Problems grouped by source row, in the order they were found."""
    grouped: dict[int, list[RowProblem]] = {}
    for problem in problems:
        grouped.setdefault(problem.row, []).append(problem)
    return grouped
