"""The controlled vocabularies DCAT-AP asks for: EU data themes, access rights, file types,
licences, languages and frequencies.

The hub's own words (a theme, a charter's access level, a resource's format) map here to the EU
Publications Office's authority tables and IANA media types, the values data.europa.eu expects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from cronsim import CronSim, CronSimError
from rdflib import Namespace, URIRef

from hub import licences

VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
GSP = Namespace("http://www.opengis.net/ont/geosparql#")
ADMS = Namespace("http://www.w3.org/ns/adms#")
AUTHORITY = "http://publications.europa.eu/resource/authority/"
DATA_THEME = URIRef(f"{AUTHORITY}data-theme")
IANA = "https://www.iana.org/assignments/media-types/"


@dataclass(frozen=True)
class Concept:
    """A term of an authority table: its URI and its English label."""

    uri: URIRef
    label: str


def _theme(code: str, label: str) -> Concept:
    return Concept(URIRef(f"{AUTHORITY}data-theme/{code}"), label)


ENVIRONMENT = _theme("ENVI", "Environment")
ENERGY = _theme("ENER", "Energy")
HEALTH = _theme("HEAL", "Health")
SAFETY = _theme("JUST", "Justice, legal system and public safety")

# The hub's themes as EU data themes. Air quality is also HEAL: the ambient air directives
# exist to protect health, and the hub's air data (PM2.5, NO2 against WHO guideline values) is
# exposure data. Risk is also JUST, which holds public safety: the hub's risk data (alerts,
# floods, earthquakes, wildfires, network outages in a crisis) serves civil protection.
# HEAL is not given to risk: a hazard is not a health record.
THEMES: dict[str, tuple[Concept, ...]] = {
    "air-quality": (ENVIRONMENT, HEALTH),
    "biodiversity": (ENVIRONMENT,),
    "energy": (ENERGY,),
    "risk": (ENVIRONMENT, SAFETY),
}


def _access(code: str, label: str) -> Concept:
    return Concept(URIRef(f"{AUTHORITY}access-right/{code}"), label)


PUBLIC = _access("PUBLIC", "public")
RESTRICTED = _access("RESTRICTED", "restricted")
NON_PUBLIC = _access("NON_PUBLIC", "non-public")
# A charter's access level as an EU access right; crisis data opens to crisis cells only.
ACCESS_RIGHTS = {
    "open": PUBLIC,
    "restricted": RESTRICTED,
    "crisis": RESTRICTED,
    "personal": NON_PUBLIC,
}


def themes_of(theme: str) -> tuple[Concept, ...]:
    """The EU data themes of a hub theme (none for a theme the hub does not know)."""
    return THEMES.get(theme, ())


def access_right_of(access: str) -> Concept:
    """The EU access right of a charter's access level; an unknown level is never public."""
    return ACCESS_RIGHTS.get(access, NON_PUBLIC)


@dataclass(frozen=True)
class FileType:
    """A format as the EU file-type table names it, and its IANA media type if registered."""

    code: str
    media_type: str | None

    @property
    def uri(self) -> URIRef:
        """The file type's URI in the EU authority table."""
        return URIRef(f"{AUTHORITY}file-type/{self.code}")

    @property
    def media_type_uri(self) -> URIRef | None:
        """The media type's URI in IANA's registry, if it has one."""
        return URIRef(f"{IANA}{self.media_type}") if self.media_type else None


CSV = FileType("CSV", "text/csv")
JSON = FileType("JSON", "application/json")
GEOJSON = FileType("GEOJSON", "application/geo+json")
NETCDF = FileType("NETCDF", None)  # application/x-netcdf is in use but not registered
_KNOWN = (
    CSV,
    JSON,
    GEOJSON,
    NETCDF,
    FileType("XML", "application/xml"),
    FileType("ZIP", "application/zip"),
    FileType("PDF", "application/pdf"),
    FileType("HTML", "text/html"),
    FileType("TXT", "text/plain"),
    FileType("TSV", "text/tab-separated-values"),
    FileType("XLS", "application/vnd.ms-excel"),
    FileType("XLSX", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    FileType("ODS", "application/vnd.oasis.opendocument.spreadsheet"),
    FileType("KML", "application/vnd.google-earth.kml+xml"),
    FileType("KMZ", "application/vnd.google-earth.kmz"),
    FileType("GML", "application/gml+xml"),
    FileType("GPKG", "application/geopackage+sqlite3"),
    FileType("SHP", None),
    FileType("JSON_LD", "application/ld+json"),
    FileType("RDF_XML", "application/rdf+xml"),
    FileType("RDF_TURTLE", "text/turtle"),
    FileType("PARQUET", None),
    FileType("TIFF", "image/tiff"),
    FileType("GEOTIFF", None),
    FileType("ATOM", "application/atom+xml"),
)
# What portals write in a resource's format (a name, a suffix or a media type), lower-cased.
_ALIASES = {
    "geo+json": GEOJSON,
    "nc": NETCDF,
    "netcdf4": NETCDF,
    "application/x-netcdf": NETCDF,
    "application/netcdf": NETCDF,
    "text/xml": FileType("XML", "application/xml"),
    "xhtml": FileType("HTML", "text/html"),
    "jsonld": FileType("JSON_LD", "application/ld+json"),
    "json-ld": FileType("JSON_LD", "application/ld+json"),
    "rdf": FileType("RDF_XML", "application/rdf+xml"),
    "ttl": FileType("RDF_TURTLE", "text/turtle"),
    "turtle": FileType("RDF_TURTLE", "text/turtle"),
    "shapefile": FileType("SHP", None),
    "esri shapefile": FileType("SHP", None),
    "geopackage": FileType("GPKG", "application/geopackage+sqlite3"),
    "tif": FileType("TIFF", "image/tiff"),
    "txt": FileType("TXT", "text/plain"),
}
_BY_NAME = {
    **{t.code.lower(): t for t in _KNOWN},
    **{t.media_type: t for t in _KNOWN if t.media_type},
    **_ALIASES,
}


def file_type_of(format_name: str) -> FileType | None:
    """The EU file type of a format as a portal or the hub writes it, None when unknown."""
    name = format_name.strip().lower().split(";", 1)[0].strip().lstrip(".")
    return _BY_NAME.get(name)


# Licences the EU licence table names that no charter id stands for (hub.licences has the rest).
EXTRA_LICENCES = {"apache-2.0": "APACHE_2_0", "apache.org/licenses/license-2.0": "APACHE_2_0"}


def licence_of(licence_id: str, url: str = "") -> URIRef | None:
    """The EU licence table's IRI of a licence, by its id or its URL; None when neither maps
    (a bespoke licence, public domain, none stated: the publisher's URL says it alone)."""
    known = licences.recognised(licence_id) or (licences.recognised(url) if url else None)
    bare = url.strip().lower().split("://", 1)[-1].removeprefix("www.").rstrip("/")
    code = (
        known.eu_code
        if known is not None
        else EXTRA_LICENCES.get(licence_id.strip().lower()) or EXTRA_LICENCES.get(bare)
    )
    return URIRef(f"{AUTHORITY}licence/{code}") if code else None


def language_iri(code: str) -> URIRef | None:
    """The EU language table's IRI of an ISO 639-1 code the hub tells apart (fr, en)."""
    named = {"fr": "FRA", "en": "ENG"}.get(code)
    return URIRef(f"{AUTHORITY}language/{named}") if named else None


# A schedule's interval as an EU frequency: the table's codes that name an exact interval.
FREQUENCIES = {
    timedelta(minutes=1): "1MIN",
    timedelta(minutes=5): "5MIN",
    timedelta(minutes=10): "10MIN",
    timedelta(minutes=15): "15MIN",
    timedelta(minutes=30): "30MIN",
    timedelta(hours=1): "HOURLY",
    timedelta(hours=2): "BIHOURLY",
    timedelta(hours=3): "TRIHOURLY",
    timedelta(hours=12): "12HRS",
    timedelta(days=1): "DAILY",
    timedelta(weeks=1): "WEEKLY",
    timedelta(weeks=2): "BIWEEKLY",
}
MONTHS = {1: "MONTHLY", 3: "QUARTERLY", 12: "ANNUAL"}


def frequency_of(cron: str) -> URIRef | None:
    """The EU frequency of a cron schedule whose runs are evenly spaced (months by their
    number); None for an uneven or unreadable one, or an interval the table has no code for."""
    try:
        runs = CronSim(cron, datetime(2025, 1, 1))
        times = [next(runs) for _ in range(25)]
    except (CronSimError, StopIteration, ValueError):
        return None
    gaps = {later - earlier for earlier, later in pairwise(times)}
    code = FREQUENCIES.get(gaps.pop()) if len(gaps) == 1 else None
    if code is None and times[0].time() == times[1].time() and times[0].day == times[1].day:
        months = {(b.year - a.year) * 12 + b.month - a.month for a, b in pairwise(times)}
        code = MONTHS.get(months.pop()) if len(months) == 1 else None
    return URIRef(f"{AUTHORITY}frequency/{code}") if code else None
