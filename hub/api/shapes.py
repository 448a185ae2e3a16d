"""Public shapes of the catalogue: the response models the REST API and the UI share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from hub import access, catalogue, citations, freshness, gridsubsets, models
from hub.api.authorship import CitationOut, CreditsOut, citation_out, credits_out
from hub.api.rudi import RudiMetadata, has_coordinates, rudi_of
from hub.charters import PersonalTerms
from hub.config import get_settings
from hub.models import Dataset, HarvestRun, Organization, Resource
from hub.origins import origin_of

Day = date  # a field named `date` cannot be annotated with the name it shadows

THEMES = {
    "air-quality": "Air quality",
    "energy": "Energy",
    "biodiversity": "Biodiversity",
    "risk": "Risks",
}

# How long without new data before a dataset counts as stale: air and risk feeds are
# near-real-time, energy balances are daily, biodiversity surveys arrive by the season.
STALE_AFTER = {
    "air-quality": timedelta(days=1),
    "risk": timedelta(days=1),
    "energy": timedelta(days=3),
    "biodiversity": timedelta(days=120),
}
DEFAULT_STALE_AFTER = timedelta(days=7)
# Closed vocabularies, declared as `enum` in the OpenAPI document (their values stay plain
# strings: a new value is a new version of the contract).
ACCESS_LEVELS = ["open", "restricted", "personal", "crisis"]
RUN_STATUSES = ["running", "succeeded", "partial", "failed", "refused"]
ORGANIZATION_KINDS = ["public", "private"]


def one_of(values: list[str]) -> dict[str, Any]:
    """The json_schema_extra of a field whose values are `values`."""
    return {"enum": list(values)}


class OrganizationOut(BaseModel):
    """The operator that shares a dataset."""

    id: str
    name: str
    kind: str = Field(description="public | private", json_schema_extra=one_of(ORGANIZATION_KINDS))
    email: str | None = Field(default=None, description="whom to write to; null: undeclared")
    website: str | None = Field(default=None, description="its website; null: undeclared")


class LicenceOut(BaseModel):
    """The licence a charter grants."""

    id: str
    title: str
    url: str


class CharterSummary(BaseModel):
    """The terms a dataset is shared under."""

    id: str
    version: str
    access: str = Field(
        description="open | restricted | personal | crisis", json_schema_extra=one_of(ACCESS_LEVELS)
    )
    licence: LicenceOut
    mandatory_mention: str = Field(description="attribution every reuse must show")


class MatchingDataOut(BaseModel):
    """One value a person gives once, to the producer's check, to prove their subject key."""

    code: str
    label: dict[str, str] = Field(description="what to ask for, by language (fr, en)")
    help: dict[str, str] | None = Field(default=None, description="where to find it")
    type: str = Field(description="string, integer, number, boolean or date")
    pattern: str | None = Field(default=None, description="the form a value must have")
    required: bool


class PersonalDataTerms(BaseModel):
    """How a personal charter ties rows to their data subjects (what a subject needs to know)."""

    subject_field: str = Field(description="the field holding each row's pseudonymous key")
    legal_basis: str = Field(description="GDPR article 6(1) basis of the processing")
    matching_data: list[MatchingDataOut] = Field(
        description="what a person gives once, to the producer's check, to prove their key"
    )
    matching_url: str | None = Field(description="the producer's matching service")
    retention_days: int = Field(description="rows older than this are deleted")
    min_group_size: int = Field(
        description="public aggregates hide any cell of fewer distinct subjects"
    )

    @classmethod
    def of(cls, terms: PersonalTerms) -> PersonalDataTerms:
        """The public shape of a charter's personal-data terms."""
        return cls(
            subject_field=terms.subject_field,
            legal_basis=terms.legal_basis,
            matching_data=[
                MatchingDataOut(
                    code=m.code,
                    label=dict(m.label),
                    help=dict(m.help) if m.help else None,
                    type=m.type,
                    pattern=m.pattern,
                    required=m.required,
                )
                for m in terms.matching_data
            ],
            matching_url=terms.matching_url,
            retention_days=terms.retention_days,
            min_group_size=terms.min_group_size,
        )


class Signature(BaseModel):
    """The signature of the agreement a charter transcribes."""

    date: Day = Field(description="the day it was signed")
    document_hash: str = Field(description="ALGORITHM:HEX of the signed document")


class UpcomingVersion(BaseModel):
    """A charter version written to take over on a later day: its public terms."""

    version: str
    valid_from: date = Field(description="the day it replaces the version in force")
    valid_until: date | None
    access: str = Field(description="open | restricted | personal | crisis")
    licence: LicenceOut


class CharterDocument(CharterSummary):
    """The public part of the charter version a dataset is shared under: never who it is
    restricted to. Fields beyond the summary are null when the charter file is gone."""

    title: str | None
    producer: str | None
    purposes: list[str] = Field(default_factory=list)
    gdpr_sensitive: bool | None
    personal_data: PersonalDataTerms | None
    valid_from: date | None
    valid_until: date | None = Field(
        description="this version's own last day (included); null: no end. A newer version "
        "may end the sharing sooner or later: see `shared_until`"
    )
    shared_until: date | None = Field(
        default=None,
        description="the last day the records are shared under the charter as all its versions "
        "decide today (the territory's days, HUB_TIMEZONE): the end of the version in force, the "
        "eve of `upcoming`, or the day sharing ended; null: no end",
    )
    upcoming: UpcomingVersion | None = Field(
        default=None,
        description="the version written to take over on a later day, with its terms; null: none",
    )
    in_force: bool | None = Field(
        description="whether the charter is in force today (the territory's day), in this version "
        "or a newer one that renewed or amended it: if not, only open records are read"
    )
    version_in_force: str | None = Field(
        default=None,
        description="the version in force today when it is not `version` (a renewal or an "
        "amendment since the last harvest: reads must be allowed by both versions' terms)",
    )
    file_access: str | None = Field(
        default=None,
        description="the access level the charter file says now when it differs from `access` "
        "(the one the records are shared at, which reads follow): the file was edited in place; "
        "the next harvest moves the dataset to it (personal records excepted)",
    )
    signed: Signature | None
    themes: list[str] = Field(default_factory=list)
    schemas: list[str] | None = Field(description="the schemas it covers; null: every one")


class FieldOut(BaseModel):
    """One Table Schema field."""

    name: str
    type: str
    format: str | None = None
    title: str | None = None
    description: str | None = None
    constraints: dict[str, Any] = Field(default_factory=dict)


class SchemaSummary(BaseModel):
    """The Table Schema a dataset's records follow."""

    name: str
    version: str
    fields: list[FieldOut] = Field(default_factory=list)


class Freshness(BaseModel):
    """When a dataset last changed and what span of time and space its records cover."""

    published_at: datetime | None = Field(description="last batch that stored or changed rows")
    modified_at: datetime = Field(
        description="last change to the metadata or the data (rows published, updated or "
        "withdrawn; grid replaced): what updated_since compares"
    )
    time_min: datetime | None = Field(description="earliest record (null when withheld)")
    time_max: datetime | None
    bbox: list[float] | None = Field(
        description="minlon, minlat, maxlon, maxlat (WGS84); null "
        "when withheld from callers who may not read every row"
    )
    stale: bool = Field(
        description="the data (its latest covered time, or its last batch if earlier) is older "
        "than the theme expects"
    )


class OriginalOut(BaseModel):
    """The dataset this one re-publishes, as the portal it was harvested from describes it."""

    identifier: str | None = Field(
        description="its identifier on that portal (dct:identifier, CKAN's id, RUDI's "
        "global_id); null when the portal gives none or when withheld from callers who may "
        "not read every row"
    )
    iri: str | None = Field(
        description="its IRI (the DCAT node, CKAN's `uri` or ckanext-dcat's dataset URI); null "
        "as identifier"
    )
    issued: datetime | None = Field(description="when the portal first released it")
    modified: datetime | None = Field(description="when the portal last changed it")


class RunSummary(BaseModel):
    """How one batch went through the gate."""

    id: int
    status: str = Field(
        description="running | succeeded | partial | failed | refused",
        json_schema_extra=one_of(RUN_STATUSES),
    )
    started_at: datetime
    finished_at: datetime | None
    rows_read: int | None = Field(description="null when withheld under the charter")
    rows_published: int | None
    rows_updated: int | None
    rows_quarantined: int | None
    rows_skipped: int | None


class RunOut(RunSummary):
    """One run in a dataset's history, with the schema and charter it was checked against."""

    source_id: str | None
    schema_name: str
    schema_version: str
    charter_id: str
    charter_version: str
    error: str


class DatasetSummary(BaseModel):
    """A dataset as listed in search results."""

    id: str
    title: str
    description: str
    theme: str = Field(json_schema_extra=one_of(list(THEMES)))
    keywords: list[str]
    organization: OrganizationOut
    access: str = Field(json_schema_extra=one_of(ACCESS_LEVELS))
    licence: LicenceOut
    record_count: int | None = Field(
        description="null when withheld from callers who may not read every row"
    )
    freshness: Freshness
    url: str = Field(description="this dataset in the native API")


class GridSummary(BaseModel):
    """What a dataset's grid holds (its records are none: `record_count` stays 0)."""

    variables: list[str] = Field(description="its data variables")
    dimensions: dict[str, int] | None = Field(
        description="the size of each dimension; null when withheld, as record_count"
    )
    cells: int | None = Field(
        description="values held by all its variables together, as `/grid` counts them; "
        "null when withheld, as record_count"
    )


LINKS_DESCRIPTION = (
    "what the dataset serves, by name: always self, charter, runs, ckan and page; records, csv, "
    "datapackage, schema and quarantine for a dataset with records, geojson when they have "
    "coordinates; grid (its description) for a grid, grid_netcdf and grid_json when the whole "
    "grid fits in one such answer; validation once a run checked rows"
)


class DatasetDetail(DatasetSummary):
    """A dataset with its charter, schema, freshness and last run."""

    charter: CharterSummary
    schema_: SchemaSummary = Field(alias="schema", serialization_alias="schema")
    last_run: RunSummary | None
    grid: GridSummary | None = Field(default=None, description="null: the dataset has no grid")
    links: dict[str, str] = Field(description=LINKS_DESCRIPTION)
    rudi: RudiMetadata = Field(description="the dataset in RUDI's metadata names")
    original: OriginalOut | None = Field(
        default=None,
        description="the dataset of another portal (ckan, dcat, rudi) this one re-publishes: "
        "aggregators harvesting both deduplicate on it; null for a dataset no portal lists",
    )
    credits: CreditsOut = Field(description="whom to ask about it, who made it, how to cite it")
    citation: CitationOut = Field(description="how to cite it, as its licence asks")

    model_config = {"populate_by_name": True}


class FacetCount(BaseModel):
    """One value of a facet and how many matching datasets have it."""

    value: str
    count: int


class DatasetPage(BaseModel):
    """One page of a dataset search."""

    count: int = Field(description="datasets matching, over all pages")
    datasets: list[DatasetSummary]
    next: str | None
    facets: dict[str, list[FacetCount]] = Field(
        default_factory=dict,
        description="per facet (theme, organization, licence, access, format, tag), its values "
        "over the matching datasets, most frequent first; a facet is counted without its own "
        "filter, so that its other values show what choosing them would give",
    )
    suggestion: str | None = Field(
        default=None,
        description="when nothing matched: the words corrected from the catalogue's own "
        "vocabulary (`innondation` → `inondation`), offered only when they find datasets",
    )


class RecordsPage(BaseModel):
    """One page of records and the URL of the next one."""

    records: list[dict[str, Any]]
    next: str | None
    total: int | None = Field(
        default=None, description="records matching over all pages (only with total=true)"
    )


class RunsPage(BaseModel):
    """A dataset's history of runs, newest first."""

    dataset: str
    runs: list[RunOut]


class QuarantinedRowOut(BaseModel):
    """A row the gate refused, with its cells as read and why."""

    row: int = Field(description="row number in the source (header is row 1)")
    cells: dict[str, Any]
    errors: list[dict[str, Any]]


class QuarantinePage(BaseModel):
    """Quarantined rows of one run."""

    dataset: str
    run: int | None
    count: int = Field(description="rows quarantined by this run")
    rows: list[QuarantinedRowOut]
    next: str | None


def as_utc(moment: datetime | None) -> datetime | None:
    """A stored time, if any, as timezone-aware UTC."""
    return None if moment is None else models.as_utc(moment)


def is_stale(dataset: Dataset, now: datetime | None = None) -> bool:
    """Whether a dataset's data is older than its theme expects: its latest covered time, or its
    last batch if earlier (`hub.freshness`)."""
    last = freshness.data_moment(dataset.published_at, dataset.time_max)
    if last is None:
        return True
    limit = STALE_AFTER.get(dataset.theme, DEFAULT_STALE_AFTER)
    return (now or datetime.now(UTC)) - last > limit


def summarise_organization(
    organization: Organization | None, organization_id: str
) -> OrganizationOut:
    """The public view of an organization (its id alone if the row is gone)."""
    if organization is None:
        return OrganizationOut(id=organization_id, name=organization_id, kind="public")
    return OrganizationOut(
        id=organization.id,
        name=organization.name,
        kind=organization.kind,
        email=organization.email or None,
        website=organization.website or None,
    )


def summarise(
    dataset: Dataset, organization: Organization | None, base_url: str, whole: bool = True
) -> DatasetSummary:
    """A dataset as a search result; `whole` False withholds what is computed from its rows."""
    return DatasetSummary(
        id=dataset.id,
        title=dataset.title,
        description=dataset.description,
        theme=dataset.theme,
        keywords=list(dataset.keywords or []),
        organization=summarise_organization(organization, dataset.organization_id),
        access=access.shared_level(dataset),
        licence=licence_of(dataset),
        record_count=dataset.record_count if whole else None,
        freshness=freshness_of(dataset, whole),
        url=f"{base_url}api/v1/datasets/{dataset.id}",
    )


def describe(
    session: Session, dataset: Dataset, base_url: str, whole: bool = True
) -> DatasetDetail:
    """A dataset with everything its page and the API show about it (see `summarise`)."""
    organization = session.get(Organization, dataset.organization_id)
    summary = summarise(dataset, organization, base_url, whole)
    latest = catalogue.runs_of(session, dataset.id, limit=1)
    stored = session.exec(
        select(Resource).where(Resource.dataset_id == dataset.id).order_by(col(Resource.position))
    ).all()
    grid = next((r for r in stored if r.kind == "grid"), None)
    return DatasetDetail(
        **summary.model_dump(),
        charter=CharterSummary(
            id=dataset.charter_id,
            version=dataset.charter_version,
            access=access.shared_level(dataset),
            licence=licence_of(dataset),
            mandatory_mention=dataset.mandatory_mention,
        ),
        schema=schema_of(session, dataset),
        last_run=summarise_run(latest[0], whole) if latest else None,
        grid=summarise_grid(grid, whole) if grid else None,
        links=links_of(dataset.id, base_url, served_by(session, dataset.id, stored, whole)),
        rudi=rudi_of(session, dataset, organization, base_url, whole),
        original=original_of(dataset, whole),
        credits=credits_out(dataset, organization),
        citation=citation_out(
            dataset, organization, citations.version_of(session, dataset.id), base_url
        ),
    )


def original_of(dataset: Dataset, whole: bool = True) -> OriginalOut | None:
    """The original a portal's dataset re-publishes; its identity withheld as its source URL."""
    origin = origin_of(dataset)
    if origin is None:
        return None
    return OriginalOut(
        identifier=(origin.identifier or None) if whole else None,
        iri=(web_url(origin.iri) or None) if whole else None,
        issued=origin.issued,
        modified=origin.modified,
    )


def licence_of(dataset: Dataset) -> LicenceOut:
    """The licence recorded on a dataset from its charter."""
    return LicenceOut(
        id=dataset.licence_id,
        title=dataset.licence_title or dataset.licence_id,
        url=dataset.licence_url,
    )


def freshness_of(dataset: Dataset, whole: bool = True) -> Freshness:
    """When a dataset last changed and, for readers of every row, what its rows cover."""
    return Freshness(
        published_at=as_utc(dataset.published_at),
        modified_at=as_utc(dataset.modified_at) or datetime.now(UTC),
        time_min=as_utc(dataset.time_min) if whole else None,
        time_max=as_utc(dataset.time_max) if whole else None,
        bbox=dataset.bbox if whole else None,
        stale=is_stale(dataset),
    )


def schema_of(session: Session, dataset: Dataset) -> SchemaSummary:
    """The schema a dataset is stored with, fields included."""
    try:
        descriptor = catalogue.resource_of(session, dataset.id).schema_descriptor
    except catalogue.NotFound:
        descriptor = {}
    fields = [
        FieldOut(
            name=f["name"],
            type=f.get("type", "string"),
            format=f.get("format"),
            title=f.get("title"),
            description=f.get("description"),
            constraints=f.get("constraints") or {},
        )
        for f in descriptor.get("fields", [])
    ]
    return SchemaSummary(name=dataset.schema_name, version=dataset.schema_version, fields=fields)


def summarise_run(run: HarvestRun, whole: bool = True) -> RunSummary:
    """The status of a run, and its row counts for readers of every row."""
    counts = {
        name: getattr(run, name) if whole else None
        for name in (
            "rows_read",
            "rows_published",
            "rows_updated",
            "rows_quarantined",
            "rows_skipped",
        )
    }
    return RunSummary(
        id=run.id or 0,
        status=run.status,
        started_at=as_utc(run.started_at) or run.started_at,
        finished_at=as_utc(run.finished_at),
        **counts,
    )


def describe_run(run: HarvestRun, whole: bool = True, error: str | None = None) -> RunOut:
    """A run with the schema and charter versions it was checked against."""
    return RunOut(
        **summarise_run(run, whole).model_dump(),
        source_id=run.source_id,
        schema_name=run.schema_name,
        schema_version=run.schema_version,
        charter_id=run.charter_id,
        charter_version=run.charter_version,
        error=run.error if error is None else error,
    )


WEB_SCHEMES = ("http", "https", "ftp")


def web_url(url: str | None) -> str:
    """A source's URL as callers may see it: a web address, or "" for a file the hub reads from
    its own folders (`file://{samples}/…` means nothing outside, and is no place to fetch)."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    return url if parts.scheme.lower() in WEB_SCHEMES and parts.hostname else ""


def summarise_grid(grid: Resource, whole: bool = True) -> GridSummary:
    """What a stored grid holds, from what its harvest recorded (its sizes to readers of all)."""
    details = grid.details or {}
    sizes = {str(k): int(v) for k, v in (details.get("dimensions") or {}).items()}
    variables = [v for v in details.get("variables") or [] if isinstance(v, dict)]
    return GridSummary(
        variables=[str(v.get("name", "")) for v in variables],
        dimensions=sizes if whole else None,
        cells=gridsubsets.recorded_cells(details) if whole else None,
    )


@dataclass(frozen=True)
class Served:
    """What a dataset serves beside its metadata."""

    records: bool = False
    coordinates: bool = False  # its records have longitude and latitude
    grid: bool = False
    grid_formats: tuple[str, ...] = ()  # those (netcdf, json) that may hold the whole grid
    validation: bool = False  # a run checked rows and kept its report


def served_by(
    session: Session, dataset_id: str, stored: Sequence[Resource], whole: bool = True
) -> Served:
    """What a dataset serves, from its stored resources and runs (`whole`: the caller may see
    the grid's size)."""
    table = next((r for r in stored if r.kind == "records"), None)
    grid = next((r for r in stored if r.kind == "grid"), None)
    return Served(
        records=table is not None,
        coordinates=table is not None and has_coordinates(table),
        grid=grid is not None,
        grid_formats=tuple(gridsubsets.fitting_formats(grid, whole)) if grid else (),
        validation=catalogue.has_report(session, dataset_id),
    )


def grid_download(dataset_id: str, base_url: str, grid: Resource, whole: bool = True) -> str | None:
    """The URL that downloads a stored grid whole, as NetCDF; None when no one answer may hold
    it (it is then read cut, from its description at `/grid`). CKAN and DCAT both give it."""
    if "netcdf" not in gridsubsets.fitting_formats(grid, whole):
        return None
    return f"{base_url}api/v1/datasets/{dataset_id}/grid?format=netcdf"


def links_of(dataset_id: str, base_url: str, served: Served = Served()) -> dict[str, str]:
    """Where a dataset can be read: native API, exports, reports, CKAN and the UI; only what
    it serves (a grid has no records, a portal's files neither, a table without coordinates
    no GeoJSON), so that no link answers 404 or 400."""
    api = f"{base_url}api/v1/datasets/{dataset_id}"
    zone = quote(get_settings().timezone, safe="")
    links = {"self": api}
    if served.records:
        links |= {
            "records": f"{api}/records",
            "csv": f"{api}/records?format=csv",
            # For people of the territory: their spreadsheets' times in its zone.
            "csv_excel_fr": f"{api}/records?format=csv&dialect=excel-fr&tz={zone}",
            "xlsx": f"{api}/records?format=xlsx&tz={zone}",
            **({"geojson": f"{api}/records?format=geojson"} if served.coordinates else {}),
            "datapackage": f"{api}/datapackage.zip",
            "schema": f"{api}/schema",
        }
    if served.grid:
        links["grid"] = f"{api}/grid"  # its description: what it holds, how to cut it
        links |= {f"grid_{kind}": f"{api}/grid?format={kind}" for kind in served.grid_formats}
    links["charter"] = f"{api}/charter"
    if served.validation:
        links["validation"] = f"{api}/validation"
    links["runs"] = f"{api}/runs"
    if served.records:
        links["quarantine"] = f"{api}/quarantine"
    return links | {
        "ckan": f"{base_url}api/3/action/package_show?id={dataset_id}",
        "page": f"{base_url}datasets/{dataset_id}",
    }
