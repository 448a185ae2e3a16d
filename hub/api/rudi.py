"""A dataset in RUDI's metadata names (RUDI producer API 1.3, `Metadata`): the `rudi` object of
the dataset detail, which a RUDI client reads field for field.

Only what the hub knows is given: `global_id`, `local_id`, `resource_title`, `synopsis`,
`theme`, `keywords`, `producer`, `access_condition` (the charter), `dataset_dates`,
`available_formats`, `storage_status`, and — to callers who may read every row, as the rest of
the detail — `temporal_spread` and `geography`. Texts carry a language tag as RUDI's
DictionaryEntry does; the hub keeps no language with a text, so it is told from its words.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from hub import access, catalogue, charters, gridsubsets, models
from hub.languages import language_of
from hub.models import Dataset, Organization, Resource

# RUDI's theme thesaurus (Themes.js) has no air, risk or biodiversity: its nearest concepts.
THEMES = {
    "air-quality": "environment",
    "biodiversity": "environment",
    "risk": "environment",
    "energy": "energyNetworks",
}
# RUDI's licence codes (scheme-licence), by the hub's licence ids as charters write them.
STANDARD_LICENCES = {
    "etalab-1.0": "etalab-1.0",
    "etalab-2.0": "etalab-2.0",
    "odbl-1.0": "odbl-1.0",
    "cc0-1.0": "public-domain-cc0",
    "public-domain-cc0": "public-domain-cc0",
    "cc-by-nd-4.0": "cc-by-nd-4.0",
    "mit": "mit",
    "apache-2.0": "apache-2.0",
    "gpl-3.0": "gpl-3.0",
}
ACCESS_TERMS = {
    "open": "open: anyone may read the records",
    "restricted": "restricted: the organizations or roles the charter names read the records, "
    "with a token; the metadata is public",
    "personal": "personal data: each data subject reads their own rows, and services read "
    "them with the subject's consent; the public sees aggregates of large enough groups",
    "crisis": "crisis: crisis cells read the records while a declared crisis covers them",
}
MEDIA_TYPES = {
    "csv": "text/csv",
    "json": "application/json",
    "geojson": "application/geo+json",
    "netcdf": "application/x-netcdf",
    "nc": "application/x-netcdf",
    "xml": "application/xml",
    "zip": "application/zip",
    "pdf": "application/pdf",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "shp": "application/x-shapefile",
    "kml": "application/vnd.google-earth.kml+xml",
    "txt": "text/plain",
    "html": "text/html",
}


class DictionaryEntry(BaseModel):
    """A text and the language it is written in (RUDI's DictionaryEntry)."""

    lang: str = Field(description="ISO 639-1 code")
    text: str


class RudiOrganization(BaseModel):
    """The producer (RUDI's Organization)."""

    organization_id: str
    organization_name: str
    organization_summary: str | None = None


class RudiConfidentiality(BaseModel):
    """RUDI's confidentiality: restricted (anything but open) and whether it is personal."""

    restricted_access: bool
    gdpr_sensitive: bool


class RudiLicence(BaseModel):
    """RUDI's licence: a STANDARD code of its thesaurus, or a CUSTOM label and uri."""

    licence_type: Literal["STANDARD", "CUSTOM"]
    licence_label: str | None = Field(default=None, description="the code, when STANDARD")
    custom_licence_label: list[DictionaryEntry] | None = None
    custom_licence_uri: str | None = None


class RudiAccessCondition(BaseModel):
    """The charter in RUDI's terms."""

    confidentiality: RudiConfidentiality
    licence: RudiLicence
    mandatory_mention: list[DictionaryEntry]
    access_constraint: list[DictionaryEntry]
    usage_constraint: list[DictionaryEntry] = Field(description="the purposes the charter names")


class RudiDates(BaseModel):
    """RUDI's ReferenceDates of the dataset."""

    created: datetime
    updated: datetime = Field(
        description="last change to the metadata or the data (rows published, updated or "
        "withdrawn; grid replaced)"
    )
    published: datetime | None = Field(description="last batch that stored or changed data")


class RudiConnector(BaseModel):
    """Where a medium is read, and how (RUDI's interface contracts: dwnl, api)."""

    url: str
    interface_contract: str


class RudiMedia(BaseModel):
    """One way to get the data (RUDI's Media): a hub service, or a file a portal links to."""

    media_id: str = Field(description="UUID, stable: derived from the connector's URL")
    media_type: Literal["SERVICE", "FILE"]
    media_name: str
    file_type: str = Field(description="media type (MIME) of what the connector answers")
    connector: RudiConnector
    api_documentation_url: str | None = None


class RudiTemporalSpread(BaseModel):
    """The span of time the data covers."""

    start_date: datetime
    end_date: datetime | None


class RudiBoundingBox(BaseModel):
    """RUDI's bounding box, WGS84 degrees (west > east: it crosses 180°)."""

    west_longitude: float
    east_longitude: float
    south_latitude: float
    north_latitude: float


class RudiGeography(BaseModel):
    """The area the data covers."""

    bounding_box: RudiBoundingBox
    projection: str = "WGS 84 (EPSG:4326)"


class RudiMetadata(BaseModel):
    """The dataset in RUDI's metadata names, for RUDI clients and portals."""

    global_id: str = Field(description="UUID, stable: derived from the hub's URL and the id")
    local_id: str = Field(description="the dataset's id in this hub")
    resource_title: str
    synopsis: list[DictionaryEntry]
    theme: str = Field(description="RUDI theme code (environment, energyNetworks, …)")
    keywords: list[str]
    producer: RudiOrganization
    access_condition: RudiAccessCondition
    dataset_dates: RudiDates
    available_formats: list[RudiMedia]
    storage_status: Literal["online"] = "online"
    temporal_spread: RudiTemporalSpread | None = Field(
        description="null when withheld from callers who may not read every row"
    )
    geography: RudiGeography | None = Field(description="null when withheld, or unknown")


def rudi_of(
    session: Session,
    dataset: Dataset,
    organization: Organization | None,
    base_url: str,
    whole: bool = True,
) -> RudiMetadata:
    """A dataset in RUDI's names; `whole` False withholds what is computed from its rows."""
    url = f"{base_url}api/v1/datasets/{dataset.id}"
    lang = language_of(f"{dataset.title}. {dataset.description}")
    return RudiMetadata(
        global_id=str(uuid.uuid5(uuid.NAMESPACE_URL, url)),
        local_id=dataset.id,
        resource_title=dataset.title[:150],
        synopsis=[DictionaryEntry(lang=lang, text=dataset.description or dataset.title)],
        theme=THEMES.get(dataset.theme, dataset.theme),
        keywords=list(dataset.keywords or []),
        producer=RudiOrganization(
            organization_id=dataset.organization_id,
            organization_name=organization.name if organization else dataset.organization_id,
            organization_summary=(organization.description or None) if organization else None,
        ),
        access_condition=access_condition_of(dataset, lang),
        dataset_dates=RudiDates(
            created=models.as_utc(dataset.created_at),
            updated=models.as_utc(dataset.modified_at),
            published=models.as_utc(dataset.published_at) if dataset.published_at else None,
        ),
        available_formats=media_of(session, dataset, url, base_url, whole),
        temporal_spread=(
            RudiTemporalSpread(
                start_date=models.as_utc(dataset.time_min),
                end_date=models.as_utc(dataset.time_max) if dataset.time_max else None,
            )
            if whole and dataset.time_min
            else None
        ),
        geography=geography_of(dataset.bbox) if whole else None,
    )


def access_condition_of(dataset: Dataset, lang: str) -> RudiAccessCondition:
    """The charter's licence, confidentiality, mention and purposes in RUDI's terms."""
    charter = _charter(dataset)
    code = STANDARD_LICENCES.get(dataset.licence_id.lower())
    licence = (
        RudiLicence(licence_type="STANDARD", licence_label=code)
        if code
        else RudiLicence(
            licence_type="CUSTOM",
            custom_licence_label=[
                DictionaryEntry(
                    lang=language_of(dataset.licence_title, lang),
                    text=dataset.licence_title or dataset.licence_id,
                )
            ],
            custom_licence_uri=dataset.licence_url or None,
        )
    )
    mention = dataset.mandatory_mention
    purposes = charter.purposes if charter else []
    return RudiAccessCondition(
        confidentiality=RudiConfidentiality(
            restricted_access=access.shared_level(dataset) != "open",
            gdpr_sensitive=charter.gdpr_sensitive if charter else dataset.access == "personal",
        ),
        licence=licence,
        mandatory_mention=[DictionaryEntry(lang=language_of(mention, lang), text=mention)]
        if mention
        else [],
        access_constraint=[
            DictionaryEntry(
                lang="en",
                text=ACCESS_TERMS.get(
                    access.shared_level(dataset), f"{dataset.access}: refused to all"
                ),
            )
        ],
        usage_constraint=[DictionaryEntry(lang="en", text=", ".join(purposes))] if purposes else [],
    )


def _charter(dataset: Dataset) -> charters.Charter | None:
    """The charter version the dataset is shared under, if its file can still be read."""
    try:
        versions = charters.charter_versions(dataset.charter_id)
    except charters.CharterError:
        return None
    chosen = [c for c in versions if c.version == dataset.charter_version]
    return chosen[0] if chosen else None


def media_of(
    session: Session, dataset: Dataset, url: str, base_url: str, whole: bool = True
) -> list[RudiMedia]:
    """The ways to get the data: the hub's own services, then the files a portal links to."""
    docs = f"{base_url}docs"
    found: list[RudiMedia] = []
    resources = session.exec(
        select(Resource).where(Resource.dataset_id == dataset.id).order_by(col(Resource.position))
    ).all()
    for resource in resources:
        if resource.kind == "records":
            found += [
                _service("Records (JSON)", "application/json", f"{url}/records", "api", docs),
                _service("Records (CSV)", "text/csv", f"{url}/records?format=csv", "dwnl", docs),
            ]
            if has_coordinates(resource):
                found.append(
                    _service(
                        "Records (GeoJSON)",
                        "application/geo+json",
                        f"{url}/records?format=geojson",
                        "dwnl",
                        docs,
                    )
                )
            found.append(
                _service("Data package", "application/zip", f"{url}/datapackage.zip", "dwnl", docs)
            )
        elif resource.kind == "grid":
            found += grid_media(resource, url, docs, whole)
        else:
            found.append(
                RudiMedia(
                    media_id=str(uuid.uuid5(uuid.NAMESPACE_URL, resource.url or resource.id)),
                    media_type="FILE",
                    media_name=resource.name or resource.url,
                    file_type=media_type_of(resource.format),
                    connector=RudiConnector(url=resource.url, interface_contract="dwnl"),
                )
            )
    return found


def grid_media(grid: Resource, url: str, docs: str, whole: bool = True) -> list[RudiMedia]:
    """A grid whole, in each format whose answers may hold it (a larger one is read cut); to a
    caller its size is withheld from, every format (which format fits would tell the size)."""
    fits = gridsubsets.fitting_formats(grid, whole)
    media = [
        ("netcdf", "Grid (NetCDF)", "application/x-netcdf", "dwnl"),
        ("json", "Grid (JSON)", "application/json", "api"),
    ]
    return [
        _service(name, media_type, f"{url}/grid?format={kind}", contract, docs)
        for kind, name, media_type, contract in media
        if kind in fits
    ]


def _service(name: str, media: str, url: str, contract: str, docs: str) -> RudiMedia:
    return RudiMedia(
        media_id=str(uuid.uuid5(uuid.NAMESPACE_URL, url)),
        media_type="SERVICE",
        media_name=name,
        file_type=media,
        connector=RudiConnector(url=url, interface_contract=contract),
        api_documentation_url=docs,
    )


def has_coordinates(resource: Resource) -> bool:
    """Whether a record table has longitude and latitude (GeoJSON needs them)."""
    if not resource.table_name:
        return False
    layout = catalogue.layout_of(resource)
    return bool(layout.lon and layout.lat)


def media_type_of(declared: str) -> str:
    """A portal's format (`CSV`, `.xlsx`, `text/csv`) as a media type."""
    text = (declared or "").strip().lower()
    if "/" in text:
        return text
    return MEDIA_TYPES.get(text.lstrip("."), "application/octet-stream")


def geography_of(bbox: list[float] | None) -> RudiGeography | None:
    """A hub bbox [west, south, east, north] as RUDI's geography."""
    if not bbox or len(bbox) != 4:
        return None
    west, south, east, north = (float(v) for v in bbox)
    return RudiGeography(
        bounding_box=RudiBoundingBox(
            west_longitude=west, east_longitude=east, south_latitude=south, north_latitude=north
        )
    )
