"""Portal readers (`ckan`, `dcat`, `rudi`): local portals serving the real EnviDat answers and
ckanext-dcat catalogues, and a RUDI node built from RUDI-PRODUCER 1.3's documented fields."""

from __future__ import annotations

import ast
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import yaml
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import DCTERMS
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from hub.batches import MetadataBatch, PortalDataset
from hub.config import get_settings
from hub.models import Dataset, Resource, SourceCursor
from pipelines import portal
from pipelines.fetch import fetch
from pipelines.harvesting import harvest_source
from pipelines.readers import Fetched, ReaderError, check_options, ckan, dcat, reader_for
from pipelines.sources import Auth, Operator, Source, load_source

SEARCH = "ckan/envidat_package_search.json"
SHOW = "ckan/envidat_package_show.json"
POD = "ckan/ckanext-dcat_catalog_pod.jsonld"
GOV_DE = "ckan/ckanext-dcat_dataset_gov_de.rdf"
AVALANCHES = "fatal-avalanche-accidents-in-switzerland-since-1936-37"
PERMAFROST = "the-importance-of-hot-summers-and-individual-heatwaves-for-permafrost-warming-an"
VPD = "dataset-for-canopy-scale-vpd-reduction-in-a-mature-forest-alters-stomatal-respon"
ROSTOCK = "c1be4007-d811-48fb-8818-2cb358b06a63"
ENVIDAT = Operator("envidat", "EnviDat (WSL)")
LOCN_GEOMETRY = URIRef("http://www.w3.org/ns/locn#geometry")


# --- local servers: a portal at the network's edge, started and stopped by each test ---


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, Any]
    headers: dict[str, str]


Answer = tuple[int, str, bytes, dict[str, str]]  # status, content type, body, more headers


class Server(ThreadingHTTPServer):
    """A local web server answering each request with `route`, and keeping what it was asked."""

    daemon_threads = True

    def __init__(self, route: Callable[[Request], Answer]) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.route = route
        self.requests: list[Request] = []

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that timed out leaves a broken pipe behind: expected here

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: Server

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        parts = urlsplit(self.path)
        self._answer(Request("GET", parts.path, dict(parse_qsl(parts.query)), dict(self.headers)))

    def do_POST(self) -> None:  # noqa: N802 - ckanapi posts its parameters as JSON
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        params = json.loads(body) if body else {}
        self._answer(Request("POST", urlsplit(self.path).path, params, dict(self.headers)))

    def _answer(self, request: Request) -> None:
        self.server.requests.append(request)
        status, kind, body, headers = self.server.route(request)
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def as_json(status: int, value: object) -> Answer:
    return status, "application/json;charset=utf-8", json.dumps(value).encode(), {}


@pytest.fixture
def serve(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[[Callable[[Request], Answer]], Server]]:
    """Start local servers (loopback allowed to the hub's fetches); all stop after the test."""
    monkeypatch.setenv("HUB_FETCH_ALLOW_PRIVATE", "127.0.0.1")
    get_settings.cache_clear()
    started: list[Server] = []

    def start(route: Callable[[Request], Answer]) -> Server:
        server = Server(route)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


# --- a CKAN portal serving EnviDat's recorded answers ---


@dataclass
class Ckan:
    """CKAN's package_search over the EnviDat packages, with ways to misbehave."""

    packages: list[dict[str, Any]]
    mode: str = "normal"  # normal | loop | error | html | search-error | slow

    def route(self, request: Request) -> Answer:
        if not request.path.endswith("/action/package_search"):
            return 400, "application/json", b'"Bad request: Action name not known"', {}
        if self.mode == "error":
            error = {"__type": "Internal Server Error", "message": "Internal Server Error"}
            return as_json(500, {"help": "", "success": False, "error": error})
        if self.mode == "html":
            return 200, "text/html", b"<html><body>Service unavailable</body></html>", {}
        if self.mode == "search-error":
            error = {"__type": "Search Query Error", "message": "Search Query is invalid: 'fq'"}
            return as_json(400, {"help": "", "success": False, "error": error})
        if self.mode == "slow":
            time.sleep(2)
        found = sorted(
            (p for p in self.packages if matches(p, request.params.get("fq", ""))),
            key=lambda p: (p["metadata_modified"], p["id"]),
        )
        start = 0 if self.mode == "loop" else int(request.params.get("start", 0))
        page = found[start : start + int(request.params.get("rows", 10))]
        result = {"count": len(found), "results": page, "sort": request.params.get("sort")}
        return as_json(200, {"success": True, "result": result | {"facets": {}}})


def matches(package: dict[str, Any], fq: str) -> bool:
    """The two Solr filters the reader sends: an organization and a metadata_modified range."""
    for term in filter(None, (t.strip("() ") for t in fq.split(" AND "))):
        field_name, _, value = term.partition(":")
        if field_name == "organization":
            organization = package["organization"]
            if isinstance(organization, str):  # EnviDat's recorded search writes its repr
                organization = ast.literal_eval(organization)
            if organization["name"] != value:
                return False
        elif field_name == "metadata_modified":
            since = datetime.fromisoformat(value.removeprefix("[").split(" TO ")[0])
            modified = datetime.fromisoformat(package["metadata_modified"]).replace(tzinfo=UTC)
            if modified < since:
                return False
        else:
            raise AssertionError(f"unexpected filter {term!r}")
    return True


@pytest.fixture
def envidat(samples: Path) -> list[dict[str, Any]]:
    """The three EnviDat packages of the samples: the search's two and package_show's one."""
    search = json.loads((samples / SEARCH).read_text(encoding="utf-8"))["result"]["results"]
    show = json.loads((samples / SHOW).read_text(encoding="utf-8"))["result"]
    return [*search, show]


def ckan_source(url: str, **options: Any) -> Source:
    return Source(
        id="envidat", title="EnviDat", operator=ENVIDAT, theme="risk", format="ckan", url=url,
        schema="", charter="envidat-dataset-licences", options=options,
    )  # fmt: skip


def read_portal(source: Source, since: str = "") -> MetadataBatch:
    """What the harvest reads from a portal that pages itself (no file fetched first)."""
    reader = reader_for(source)
    check_options(source, reader)
    assert reader.kind == "metadata" and reader.fetches_itself
    batch: MetadataBatch = reader.read(source, Fetched(Path(), url=source.url, since=since))
    return batch


def by_name(batch: MetadataBatch) -> dict[str, PortalDataset]:
    return {d.id.split("--", 1)[1]: d for d in batch.datasets}


def test_ckan_pages_through_envidat(
    serve: Callable[..., Server], envidat: list[dict[str, Any]]
) -> None:
    ckan = Ckan(envidat)
    server = serve(ckan.route)
    batch = read_portal(ckan_source(server.url, rows=2))
    assert [(r.method, r.path, r.params["start"], r.params["rows"]) for r in server.requests] == [
        ("POST", "/api/action/package_search", 0, 2),
        ("POST", "/api/action/package_search", 2, 2),
    ]
    assert server.requests[0].params["sort"] == "metadata_modified asc, id asc"
    assert "fq" not in server.requests[0].params
    assert batch.complete and (batch.dataset_id, batch.publisher.id) == ("envidat", "envidat")
    found = by_name(batch)
    assert sorted(found) == sorted([AVALANCHES, PERMAFROST, VPD])
    avalanches = found[AVALANCHES]
    assert avalanches.id == f"envidat--{AVALANCHES}"
    assert avalanches.title == "Fatal avalanche accidents in Switzerland since 1936/37"
    assert avalanches.licence == "Other (Specified in the description)"
    assert avalanches.modified == datetime(2025, 12, 15, 13, 58, 11, 26778, tzinfo=UTC)
    assert avalanches.organization == "Snow Avalanches and Prevention"
    assert avalanches.landing_page == f"{server.url}/dataset/{AVALANCHES}"
    assert avalanches.bbox == [5.95587, 45.81802, 10.49203, 47.80838]
    assert len(avalanches.keywords) == 5 and "AVALANCHE ACCIDENTS" in avalanches.keywords
    assert [r.name for r in avalanches.resources] == [
        "avalanche_accidents_fatal_switzerland_since_1936.csv",
        "Version 2 Fatal avalanche accidents in Switzerland since 1936/37",
        "Fatal avalanche accidents in Switzerland since 1936/37",
    ]
    first = avalanches.resources[0]
    assert (first.format, first.size) == ("CSV", 185231)
    assert first.url.startswith("https://www.envidat.ch/dataset/91c9414e-13ce-49c2-9b1e-")
    assert first.modified == datetime(2025, 12, 15, 14, 58, 10, 543000, tzinfo=UTC)
    # The recorded search holds organization and tags as text: read all the same.
    permafrost = found[PERMAFROST]
    assert permafrost.organization == "CRYOS"
    assert permafrost.licence == "Creative Commons Attribution (CC-BY 4.0)"
    assert permafrost.bbox == [7.834626, 46.558292, 7.834626, 46.558292]
    assert "ATMOSPHERIC HEATWAVES" in permafrost.keywords and len(permafrost.keywords) == 6
    assert [(r.format, r.size) for r in permafrost.resources] == [("ZIP", 10004794304)]
    assert [r.name for r in found[VPD].resources] == [
        "file2_physiological_60min.csv", "file4_leaf_gas_exchange.csv",
        "file1_environmental_10min.csv", "file3_water_potential_bar.csv",
    ]  # fmt: skip
    assert sum(len(d.resources) for d in batch.datasets) == 8
    assert batch.position == "2026-08-04T07:19:14.753556+00:00"  # the cursor handed back


def test_ckan_increment_and_filter(
    serve: Callable[..., Server], envidat: list[dict[str, Any]]
) -> None:
    server = serve(Ckan(envidat).route)
    since = read_portal(ckan_source(server.url), since="2026-08-01T00:00:00Z")
    assert server.requests[-1].params["fq"] == "metadata_modified:[2026-08-01T00:00:00Z TO *]"
    assert sorted(by_name(since)) == sorted([PERMAFROST, VPD]) and not since.complete
    assert since.position == "2026-08-04T07:19:14.753556+00:00"
    both = read_portal(
        ckan_source(server.url, fq="organization:cryos", since="2026-08-01T02:00+02:00")
    )
    assert server.requests[-1].params["fq"] == (
        "(organization:cryos) AND metadata_modified:[2026-08-01T00:00:00Z TO *]"
    )
    assert list(by_name(both)) == [PERMAFROST]
    nothing_new = read_portal(ckan_source(server.url), since="2026-08-05T00:00:00+00:00")
    assert nothing_new.datasets == [] and nothing_new.position == "2026-08-05T00:00:00+00:00"
    one_organization = read_portal(
        ckan_source(f"{server.url}/api/3/action/", fq="organization:cryos")
    )
    assert server.requests[-1].path == "/api/action/package_search"
    assert one_organization.complete and list(by_name(one_organization)) == [PERMAFROST]


def test_ckan_stops_when_a_portal_ignores_paging(
    serve: Callable[..., Server], envidat: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    server = serve(Ckan(envidat, mode="loop").route)
    with caplog.at_level(logging.WARNING):
        batch = read_portal(ckan_source(server.url, rows=2))
    assert len(server.requests) == 2
    assert "ignores paging" in caplog.text
    assert sorted(by_name(batch)) == sorted([AVALANCHES, VPD])
    assert not batch.complete and batch.position == ""  # nothing withdrawn, nothing skipped


@pytest.mark.parametrize(
    ("mode", "said"),
    [
        ("error", "HTTP 500, Internal Server Error: Internal Server Error"),
        ("html", "not CKAN's JSON: HTTP 200 (text/html): '<html><body>Service unavailable"),
        ("search-error", "SearchQueryError: 'fq'"),
    ],
)
def test_ckan_portal_errors_are_reader_errors(
    serve: Callable[..., Server], envidat: list[dict[str, Any]], mode: str, said: str
) -> None:
    server = serve(Ckan(envidat, mode=mode).route)
    with pytest.raises(ReaderError, match="package_search failed") as failure:
        read_portal(ckan_source(server.url))
    assert said in str(failure.value)


def test_ckan_timeouts_size_cap_and_refusals(
    serve: Callable[..., Server], envidat: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    ckan = Ckan(envidat, mode="slow")
    server = serve(ckan.route)
    monkeypatch.setenv("HUB_FETCH_TIMEOUT", "0.5")
    get_settings.cache_clear()
    with pytest.raises(ReaderError, match=r"no answer within 0.5 s \(ReadTimeout\)"):
        read_portal(ckan_source(server.url))
    monkeypatch.delenv("HUB_FETCH_TIMEOUT")
    get_settings.cache_clear()
    with pytest.raises(ReaderError, match="no answer by the harvest's 1 s deadline"):
        read_portal(ckan_source(server.url, deadline=1))
    monkeypatch.setattr(portal, "MAX_ANSWER_BYTES", 20_000)  # a page of EnviDat is 27 kB
    ckan.mode = "normal"
    with pytest.raises(ReaderError, match="answer over 20000 bytes, abandoned"):
        read_portal(ckan_source(server.url))
    monkeypatch.delenv("HUB_FETCH_ALLOW_PRIVATE")
    get_settings.cache_clear()
    asked = len(server.requests)
    with pytest.raises(ReaderError, match="refused: 127.0.0.1 is a loopback address"):
        read_portal(ckan_source(server.url))
    assert len(server.requests) == asked  # refused before connecting
    with pytest.raises(ReaderError, match="its url must be http"):
        read_portal(ckan_source("file:///etc/passwd"))
    with pytest.raises(ReaderError, match="options.rows must be a whole number from 1 to 1000"):
        read_portal(ckan_source(server.url, rows=5000))
    with pytest.raises(ReaderError, match="options.since must be an ISO 8601 time"):
        read_portal(ckan_source(server.url, since="last tuesday"))
    with pytest.raises(ReaderError, match="unknown option"):
        read_portal(ckan_source(server.url, row=10))


def test_ckan_credentials_go_to_the_portal(
    serve: Callable[..., Server], envidat: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENVIDAT_TEST_TOKEN", "tok-3f9a")
    server = serve(Ckan(envidat).route)
    source = ckan_source(server.url)
    source.auth = Auth("header", "env:ENVIDAT_TEST_TOKEN", "Authorization")
    assert len(read_portal(source).datasets) == 3
    assert server.requests[0].headers["Authorization"] == "tok-3f9a"


def test_hub_ids_of_portal_names(envidat: list[dict[str, Any]]) -> None:
    names = [p["name"] for p in envidat]
    assert portal.hub_dataset_id("envidat", PERMAFROST) == f"envidat--{PERMAFROST}"
    long_ids = [
        portal.hub_dataset_id("envidat-slf-snow-avalanches-and-prevention", n) for n in names
    ]
    assert long_ids[2] == f"envidat-slf-snow-avalanches-and-prevention--{AVALANCHES}"  # 98 long
    for hub_id, name in zip(long_ids[:2], names[:2], strict=True):  # too long: cut, then hashed
        assert len(hub_id) <= 100 and re.fullmatch(r"[a-z0-9._-]+-[0-9a-f]{10}", hub_id)
        assert hub_id.startswith(f"envidat-slf-snow-avalanches-and-prevention--{name[:40]}")
    assert long_ids[0] != long_ids[1]
    odd = portal.hub_dataset_id("rostock", f"urn:uuid:{ROSTOCK}")  # changed: hashed
    assert re.fullmatch(f"rostock--urn-uuid-{ROSTOCK}-[0-9a-f]{{10}}", odd)


# ckan/ckanext-dcat, examples/ckan/ckan_dataset_multilingual.json (ckanext-fluent fields), cut
FLUENT = {
    "name": "test-dataset-multilingual",
    "title": "Test DCAT dataset",
    "title_translated": {
        "en": "Test DCAT dataset",
        "ca": "Conjunt de dades de prova DCAT",
        "es": "Conjunto de datos de prueba DCAT",
    },
    "notes": "Some description",
    "notes_translated": {
        "en": "Some description",
        "ca": "Una descripció qualsevol",
        "es": "Una descripción cualquiera",
    },
    "resources": [
        {
            "name": "Resource 1",
            "name_translated": {"en": "Resource 1", "ca": "Recurs 1", "es": "Recurso 1"},
            "url": "https://example.com/data.csv",
            "format": "CSV",
        }
    ],
}


def test_ckan_multilingual_fields_in_the_chosen_language() -> None:
    english = ckan.dataset_of("t", "https://portal.example", FLUENT)
    assert (english.title, english.description) == ("Test DCAT dataset", "Some description")
    spanish = ckan.dataset_of("t", "https://portal.example", FLUENT, ["es", "en"])
    assert spanish.title == "Conjunto de datos de prueba DCAT"
    assert spanish.description == "Una descripción cualquiera"
    assert spanish.resources[0].name == "Recurso 1"
    # opendata.swiss writes `title` itself as {de, fr, it, en} (multilingual_text preset of
    # opendata-swiss/ckanext-switzerland-ng, ckanext/switzerland/dcat-ap-switzerland_scheming.json)
    # and an organization's title as JSON text; before, the title fell back to the slug.
    swiss = {
        "name": "luftqualitaet",
        "title": {"de": "Luftqualität", "fr": "Qualité de l'air", "it": "", "en": ""},
        "notes": {"de": "Messwerte", "fr": "Mesures", "it": "", "en": ""},
        "organization": {"name": "bafu", "title": '{"de": "BAFU", "fr": "OFEV", "en": ""}'},
    }
    french = ckan.dataset_of("t", "https://portal.example", swiss, ["fr", "en"])
    assert (french.title, french.description, french.organization) == (
        "Qualité de l'air",
        "Mesures",
        "OFEV",
    )
    first_given = ckan.dataset_of("t", "https://portal.example", swiss)  # no English: first one
    assert (first_given.title, first_given.organization) == ("Luftqualität", "BAFU")


def test_ckan_format_given_as_a_vocabulary_iri() -> None:
    # ckan/ckanext-dcat, examples/ckan/ckan_full_dataset_dcat_us_vocabularies.json, a resource
    package = {
        "name": "test-dataset-shacl",
        "resources": [
            {
                "url": "https://example.com/data.csv",
                "format": "https://resources.data.gov/vocab/file-type/TODO/CSV",
                "mimetype": "http://www.iana.org/assignments/media-types/text/csv",
            }
        ],
    }
    resource = ckan.dataset_of("t", "https://portal.example", package).resources[0]
    assert (resource.name, resource.format) == ("data.csv", "CSV")


# --- DCAT catalogues: ckanext-dcat's JSON-LD and RDF/XML examples ---


def dcat_source(url: str, **options: Any) -> Source:
    return Source(
        id="catalog", title="A DCAT catalogue", operator=Operator("rostock", "Rostock"),
        theme="risk", format="dcat", url=url, schema="", charter="portal-test-open",
        options=options,
    )  # fmt: skip


def read_catalog(path: Path, **options: Any) -> MetadataBatch:
    source = dcat_source(path.as_uri(), **options)
    reader = reader_for(source)
    check_options(source, reader)
    batch: MetadataBatch = reader.read(source, Fetched(path, url=source.url))
    return batch


def test_dcat_json_ld_catalogue(samples: Path) -> None:
    batch = read_catalog(samples / POD)
    assert batch.complete and len(batch.datasets) == 1
    widgets = batch.datasets[0]
    assert widgets.id == "catalog--widgets-data"
    assert widgets.title == "U.S. Widget Manufacturing Statistics"
    assert (
        widgets.description
        == "This dataset provides national statistics on the production of widgets"
    )
    assert widgets.keywords == ["factory", "manufacturing", "widget"]
    assert widgets.licence == "http://creativecommons.org/publicdomain/zero/1.0/"
    assert widgets.modified == datetime(2011, 11, 19, 12, 0, tzinfo=UTC)
    assert widgets.landing_page == "http://agency.gov/widgets/data"
    assert widgets.organization == "Widget Services"
    assert widgets.bbox is None  # dct:spatial is the text "United States"
    assert len(widgets.resources) == 4
    csv = next(r for r in widgets.resources if r.name == "widgets.csv")
    assert csv.url == "https://data.agency.gov/datasets/widgets-statistics/widgets.csv"
    assert (csv.format, csv.description) == ("CSV", "Widgets data as a CSV file")
    api = next(r for r in widgets.resources if r.format == "API")
    assert api.url == "https://data.agency.gov/api/widgets-statistics/"  # an accessURL only


def test_dcat_rdf_xml_catalogue(samples: Path) -> None:
    batch = read_catalog(samples / GOV_DE)
    assert len(batch.datasets) == 1
    rostock = batch.datasets[0]
    assert rostock.id == f"catalog--{ROSTOCK}"
    assert rostock.title == "Liefer- und Abholservices (Gastronomie)"
    assert rostock.description.startswith("Dieser Datensatz umfasst die Standorte")
    assert len(rostock.keywords) == 8 and "ökonomie" in rostock.keywords
    assert rostock.licence == "http://dcat-ap.de/def/licenses/cc-zero"  # from its distributions
    assert rostock.modified == datetime(2024, 5, 8, 4, 11, 24, 309486, tzinfo=UTC)
    assert rostock.organization == "Hanse- und Universitätsstadt Rostock"
    assert rostock.landing_page == f"https://www.opendata-hro.de/dataset/{ROSTOCK}"
    assert (rostock.identifier, rostock.iri) == (ROSTOCK, rostock.landing_page)  # its node's IRI
    assert rostock.issued == datetime(2020, 4, 21, 11, 59, 39, 642528, tzinfo=UTC)
    assert rostock.bbox == [11.9936, 54.0486, 12.3045, 54.2466]
    assert len(rostock.resources) == 9
    formats = {r.url.rsplit("/", 1)[-1]: (r.format, r.size) for r in rostock.resources}
    assert formats["lieferservices.json"] == ("GEOJSON", 147253)
    assert formats["lieferservices.csv"] == ("CSV", 60744)
    assert formats["wms"] == ("WMS", None)
    assert {r.modified for r in rostock.resources} == {datetime(2024, 5, 7, 11, 58, 19, tzinfo=UTC)}
    assert batch.position == "2024-05-08T04:11:24.309486+00:00"


def test_dcat_turtle_languages_and_syntax_detection(samples: Path, tmp_path: Path) -> None:
    graph = Graph().parse(samples / GOV_DE, format="xml")
    dataset = URIRef(f"https://www.opendata-hro.de/dataset/{ROSTOCK}")
    graph.add(
        (dataset, DCTERMS.title, Literal("Services de livraison et de vente à emporter", lang="fr"))
    )
    graph.add((dataset, DCTERMS.title, Literal("Delivery and take-away services", lang="en")))
    turtle = tmp_path / "catalog.ttl"
    turtle.write_text(graph.serialize(format="turtle"), encoding="utf-8")
    assert read_catalog(turtle).datasets[0].title == "Delivery and take-away services"
    french = read_catalog(turtle, language="fr").datasets[0]
    assert french.title == "Services de livraison et de vente à emporter"
    assert french.bbox == [11.9936, 54.0486, 12.3045, 54.2466] and len(french.resources) == 9
    unnamed = tmp_path / "catalog"  # no suffix: the syntax comes from the first character
    unnamed.write_bytes((samples / POD).read_bytes())
    assert read_catalog(unnamed).datasets[0].title == "U.S. Widget Manufacturing Statistics"
    misnamed = tmp_path / "catalog.rdf"
    misnamed.write_bytes(turtle.read_bytes())
    assert len(read_catalog(misnamed, rdf_format="text/turtle").datasets[0].resources) == 9
    with pytest.raises(ReaderError, match="not well-formed RDF/XML"):
        read_catalog(misnamed)
    with pytest.raises(ReaderError, match="options.rdf_format 'n3' is not one of"):
        read_catalog(misnamed, rdf_format="n3")


XXE = """<?xml version="1.0"?>
<!DOCTYPE rdf:RDF [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
  xmlns:dcat="http://www.w3.org/ns/dcat#" xmlns:dct="http://purl.org/dc/terms/">
  <dcat:Dataset rdf:about="https://example.org/dataset/1"><dct:title>&secret;</dct:title></dcat:Dataset>
</rdf:RDF>"""
LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE rdf:RDF [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
  xmlns:dcat="http://www.w3.org/ns/dcat#" xmlns:dct="http://purl.org/dc/terms/">
  <dcat:Dataset rdf:about="https://example.org/dataset/1"><dct:title>&lol3;</dct:title></dcat:Dataset>
</rdf:RDF>"""


def test_dcat_refuses_hostile_documents(serve: Callable[..., Server], tmp_path: Path) -> None:
    server = serve(lambda request: as_json(200, {"@context": {}}))
    external = XXE.replace(
        '[<!ENTITY secret SYSTEM "file:///etc/passwd">]', f'SYSTEM "{server.url}/evil.dtd"'
    ).replace("&secret;", "x")
    remote_context = {"@context": f"{server.url}/context.jsonld", "@type": "dcat:Dataset"}
    cases = {
        "xxe.rdf": (XXE, "DTD"),
        "laughs.rdf": (LAUGHS, "DTD"),
        "external.rdf": (external, "DTD"),
        "remote.jsonld": (json.dumps(remote_context), "remote @context is refused"),
        "broken.rdf": ("<rdf:RDF><unclosed></rdf:RDF>", "not well-formed RDF/XML"),
    }
    for name, (text, said) in cases.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ReaderError, match=said):
            read_catalog(path)
    assert server.requests == []  # neither the DTD nor the context was fetched


def test_dcat_geometries_wkt_and_geojson(samples: Path) -> None:
    graph = Graph().parse(samples / GOV_DE, format="xml")
    geometries = sorted(str(g) for g in graph.objects(None, LOCN_GEOMETRY))
    assert len(geometries) == 2 and geometries[0].startswith("POLYGON")
    rostock = [11.9936, 54.0486, 12.3045, 54.2466]
    assert [dcat._geometry_box(g) for g in geometries] == [rostock, rostock]
    # The same polygon in EPSG:4326, which GeoSPARQL writes latitude first.
    swapped = ", ".join(" ".join(reversed(p.split())) for p in geometries[0][10:-2].split(", "))
    epsg = f"<http://www.opengis.net/def/crs/EPSG/0/4326> POLYGON (({swapped}))"
    assert dcat._geometry_box(epsg) == rostock
    lambert = "<http://www.opengis.net/def/crs/EPSG/0/2154> POINT (351000 6789000)"
    assert dcat._geometry_box(lambert) is None  # only WGS84 boxes are kept


# ckan/ckanext-dcat, examples/dcat/dataset_gob_es.ttl (datos.gob.es), the distribution, cut
GOB_ES = """@prefix dcat: <http://www.w3.org/ns/dcat#> .
@prefix dct: <http://purl.org/dc/terms/> .
@prefix rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
<https://datos.gob.es/catalogo/l01280796-estudio> a dcat:Dataset ;
    dct:identifier "https://datos.madrid.es/egob/catalogo/300676-0-deporte-encuesta-escuelas" ;
    dct:title "Estudio de Satisfacción con el Programa de Escuelas Municipales"@es ;
    dcat:distribution <https://datos.gob.es/catalogo/l01280796-estudio/resource/8d3c2ada> .
<https://datos.gob.es/catalogo/l01280796-estudio/resource/8d3c2ada> a dcat:Distribution ;
    dct:format <https://datos.gob.es/catalogo/l01280796-estudio/resource/8d3c2ada/format> ;
    dct:title "Estudio de satisfacción temporada 2023-2024"@es ;
    dcat:accessURL "https://datos.madrid.es/egob/catalogo/300676-0-deporte-encuesta-escuelas.xlsx" ;
    dcat:byteSize 43008.0 .
<https://datos.gob.es/catalogo/l01280796-estudio/resource/8d3c2ada/format> a dct:IMT ;
    rdfs:label "XLS" ;
    rdf:value "application/vnd.ms-excel" .
"""


def test_dcat_format_described_by_its_own_node(tmp_path: Path) -> None:
    path = tmp_path / "gob_es.ttl"
    path.write_text(GOB_ES, encoding="utf-8")
    dataset = read_catalog(path, language="es").datasets[0]
    assert dataset.id == "catalog--300676-0-deporte-encuesta-escuelas"
    (file,) = dataset.resources
    assert (file.format, file.size) == ("XLS", 43008)  # not the IRI's last segment, "format"


def test_dcat_us_data_json_is_refused_not_read_as_an_empty_catalogue(tmp_path: Path) -> None:
    # The head of a Project Open Data data.json (DCAT-US 1.1), as data.gov's publishers serve it
    head = {
        "conformsTo": "https://project-open-data.cio.gov/v1.1/schema",
        "describedBy": "https://project-open-data.cio.gov/v1.1/schema/catalog.json",
        "@type": "dcat:Catalog",
        "dataset": [{"@type": "dcat:Dataset", "title": "Air Quality System", "identifier": "x"}],
    }
    context = "https://project-open-data.cio.gov/v1.1/schema/catalog.jsonld"
    for name, document in (("plain.json", head), ("context.json", {"@context": context, **head})):
        path = tmp_path / name
        path.write_text(json.dumps(document), encoding="utf-8")
        # before: the plain one read as a whole catalogue of no dataset, withdrawing them all
        with pytest.raises(ReaderError, match="DCAT-US .Project Open Data. data.json"):
            read_catalog(path)
    empty = tmp_path / "empty.ttl"
    empty.write_text("@prefix dcat: <http://www.w3.org/ns/dcat#> .\n", encoding="utf-8")
    with pytest.raises(ReaderError, match="no dcat:Dataset in the catalogue$"):
        read_catalog(empty)


def test_dcat_paged_catalogue_is_an_increment(samples: Path, tmp_path: Path) -> None:
    graph = Graph().parse(samples / GOV_DE, format="xml")
    page = URIRef("https://www.opendata-hro.de/catalog.xml?page=1")
    graph.add((page, URIRef("http://www.w3.org/ns/hydra/core#nextPage"), Literal(f"{page}2")))
    paged = tmp_path / "page.ttl"
    paged.write_text(graph.serialize(format="turtle"), encoding="utf-8")
    batch = read_catalog(paged)
    assert not batch.complete and len(batch.datasets) == 1


def test_dcat_fetched_over_http(
    serve: Callable[..., Server], samples: Path, tmp_path: Path
) -> None:
    files = {"/catalog.jsonld": samples / POD, "/dataset.rdf": samples / GOV_DE}
    server = serve(lambda r: (200, "application/octet-stream", files[r.path].read_bytes(), {}))
    for name, title in (("catalog.jsonld", "U.S. Widget"), ("dataset.rdf", "Liefer- und")):
        url = f"{server.url}/{name}"
        path = fetch(url, tmp_path / name.split(".")[0])
        source = dcat_source(url)
        batch: MetadataBatch = reader_for(source).read(source, Fetched(path, url=url))
        assert batch.datasets[0].title.startswith(title)
    assert [r.path for r in server.requests] == ["/catalog.jsonld", "/dataset.rdf"]


# --- a RUDI producer node: its catalogue API, paged by limit and offset ---


def rudi_record(
    node: str, number: int, title: str, theme: str, keywords: list[str], updated: str,
    licence: dict[str, Any], media: list[dict[str, Any]], box: tuple[float, ...] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """A resource as a RUDI node lists it (RUDI-PRODUCER 1.3.0 `Metadata`, required fields)."""
    record: dict[str, Any] = {
        "global_id": f"5f1e6c0a-8a7b-4c1d-9e2f-00000000000{number}",
        "local_id": f"rm-risques-{number}",
        "resource_title": title,
        "synopsis": [{"lang": "fr", "text": f"{title} (Rennes Métropole)"}],
        "summary": [
            {"lang": "fr", "text": f"Jeu de données « {title} » publié par Rennes Métropole."},
            {"lang": "en", "text": f"Dataset “{title}” published by Rennes Métropole."},
        ],
        "theme": theme,
        "keywords": keywords,
        "producer": {
            "organization_id": "0c4b7d2e-0d41-4b4e-9a52-7b6d1b8f1a01",
            "organization_name": "Rennes Métropole",
            "organization_address": "4 avenue Henri Fréville, 35200 Rennes",
        },
        "contacts": [{"contact_id": "c0ffee00-0000-4000-8000-000000000001",
                      "contact_name": "Service des risques majeurs",
                      "email": "risques@rennesmetropole.fr"}],
        "available_formats": media,
        "dataset_dates": {"created": "2021-04-06T09:00:00+02:00", "updated": updated},
        "storage_status": "online",
        "access_condition": {
            "confidentiality": {"restricted_access": False, "gdpr_sensitive": False},
            "licence": licence,
        },
        "metadata_info": {"api_version": "1.3.0"},
    }  # fmt: skip
    if box:
        record["geography"] = {
            "bounding_box": dict(zip(
                ("west_longitude", "south_latitude", "east_longitude", "north_latitude"), box,
                strict=True,
            )),
            "projection": "WGS 84 (EPSG:4326)",
        }  # fmt: skip
    return record


def media_file(node: str, number: int, name: str, mime: str, size: int) -> dict[str, Any]:
    media_id = f"9a8b7c6d-0000-4000-8000-0000000000{number:02d}"
    return {
        "media_type": "FILE", "media_id": media_id, "media_name": name,
        "media_dates": {"created": "2021-04-06T09:00:00+02:00",
                        "updated": "2026-07-30T06:00:00+02:00"},
        "connector": {"url": f"{node}/media/download/{media_id}", "interface_contract": "dwnl"},
        "file_type": mime, "file_size": size,
        "checksum": {"algo": "SHA-256", "hash": f"{number:064x}"},
    }  # fmt: skip


def media_service(node: str, number: int, name: str, contract: str) -> dict[str, Any]:
    return {
        "media_type": "SERVICE", "media_id": f"9a8b7c6d-0000-4000-8000-0000000001{number:02d}",
        "media_name": name,
        "media_caption": [{"lang": "fr", "text": f"Service {contract.upper()}"}],
        "connector": {"url": f"{node}/geoserver/risques/{contract}",
                      "interface_contract": contract},
    }  # fmt: skip


ETALAB = {"licence_type": "STANDARD", "licence_label": "etalab-2.0"}
ODBL = {"licence_type": "STANDARD", "licence_label": "odbl-1.0"}
CUSTOM = {
    "licence_type": "CUSTOM",
    "custom_licence_label": [
        {"lang": "fr", "text": "Conditions de réutilisation de Rennes Métropole"}
    ],
    "custom_licence_uri": "https://data.rennesmetropole.fr/page/licence/",
}
RENNES = (-1.7525, 48.0769, -1.6244, 48.1549)


def rudi_listing(node: str) -> list[dict[str, Any]]:
    """Five resources of a node sharing Rennes Métropole's risk data."""
    return [
        rudi_record(node, 1, "Zones inondables du PPRI de la Vilaine", "environment",
                    ["inondation", "risques naturels"], "2026-07-30T06:00:00+02:00", ETALAB,
                    [media_file(node, 1, "zones_inondables.geojson", "application/geo+json",
                                4812337),
                     media_service(node, 1, "Zones inondables (WMS)", "wms")],
                    (-1.85, 47.95, -1.45, 48.25)),
        rudi_record(node, 2, "Sirènes du réseau d'alerte", "publicSpace",
                    ["alerte", "sécurité civile"], "2026-06-12T09:30:00+02:00", ODBL,
                    [media_file(node, 2, "sirenes.csv", "text/csv", 5120)], RENNES),
        rudi_record(node, 3, "Lieux d'hébergement d'urgence", "citizenship",
                    ["hébergement", "plan communal de sauvegarde"], "2026-08-02T14:15:00+02:00",
                    CUSTOM, [media_file(node, 3, "hebergements.json", "application/json", 20480)],
                    RENNES),
        rudi_record(node, 4, "Hauteurs d'eau de la Vilaine au pont de Bretagne", "environment",
                    ["inondation", "hydrométrie"], "2026-08-05T00:10:00Z", ETALAB,
                    [media_file(node, 4, "hauteurs_vilaine.csv", "text/csv", 812003)], RENNES),
        rudi_record(node, 5, "Arrêtés de catastrophe naturelle", "citizenship",
                    ["catastrophe naturelle"], "2025-11-03T10:00:00+01:00", ETALAB,
                    [media_file(node, 5, "arretes_catnat.csv", "text/csv", 3301)]),
    ]  # fmt: skip


@dataclass
class Rudi:
    """A RUDI node's `GET /api/v1/resources` over a listing, with ways to misbehave."""

    items: list[dict[str, Any]] = field(default_factory=list)
    mode: str = "normal"  # normal | loop | error | html | redirect
    redirect_to: str = ""

    def route(self, request: Request) -> Answer:
        if request.path != "/api/v1/resources":
            return 404, "text/plain", b"not found", {}
        if self.mode == "redirect":
            query = "&".join(f"{k}={v}" for k, v in request.params.items())
            return 302, "text/plain", b"", {"Location": f"{self.redirect_to}{request.path}?{query}"}
        if self.mode == "error":
            return 500, "text/plain", b"MongoServerError: connection pool cleared", {}
        if self.mode == "html":
            return 200, "text/html", b"<html>Maintenance</html>", {}
        after = request.params.get("updated_after")
        found = [i for i in self.items if not after or updated(i) > datetime.fromisoformat(after)]
        offset = 0 if self.mode == "loop" else int(request.params.get("offset", 0))
        page = found[offset : offset + int(request.params.get("limit", 100))]
        return as_json(200, {"total": len(found), "items": page})


def updated(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(item["dataset_dates"]["updated"])


def rudi_source(url: str, **options: Any) -> Source:
    return Source(
        id="rennes-risques", title="Rennes Métropole, risques", theme="risk", format="rudi",
        operator=Operator("rennes-metropole", "Rennes Métropole"), url=url, schema="",
        charter="portal-test-open", options=options,
    )  # fmt: skip


def test_rudi_pages_until_a_short_page(serve: Callable[..., Server]) -> None:
    node = Rudi()
    server = serve(node.route)
    node.items = rudi_listing(server.url)
    batch = read_portal(rudi_source(server.url, limit=2))
    assert [(r.params["offset"], r.params["limit"]) for r in server.requests] == [
        ("0", "2"),
        ("2", "2"),
        ("4", "2"),
    ]
    assert batch.complete and len(batch.datasets) == 5
    flood = next(d for d in batch.datasets if d.title == "Zones inondables du PPRI de la Vilaine")
    assert flood.id == "rennes-risques--5f1e6c0a-8a7b-4c1d-9e2f-000000000001"
    assert (
        flood.description
        == "Dataset “Zones inondables du PPRI de la Vilaine” published by Rennes Métropole."
    )
    assert flood.keywords == ["inondation", "risques naturels", "environment"]
    assert (flood.licence, flood.organization) == ("etalab-2.0", "Rennes Métropole")
    assert flood.modified == datetime(2026, 7, 30, 4, 0, tzinfo=UTC)
    assert flood.bbox == [-1.85, 47.95, -1.45, 48.25]
    assert (
        flood.landing_page == f"{server.url}/api/v1/resources/5f1e6c0a-8a7b-4c1d-9e2f-000000000001"
    )
    geojson, wms = flood.resources
    assert (geojson.name, geojson.format, geojson.size) == (
        "zones_inondables.geojson",
        "application/geo+json",
        4812337,
    )
    assert geojson.url == f"{server.url}/media/download/9a8b7c6d-0000-4000-8000-000000000001"
    assert geojson.modified == datetime(2026, 7, 30, 4, 0, tzinfo=UTC)
    assert (wms.format, wms.url, wms.description) == (
        "WMS",
        f"{server.url}/geoserver/risques/wms",
        "Service WMS",
    )
    shelters = next(d for d in batch.datasets if d.title == "Lieux d'hébergement d'urgence")
    assert shelters.licence == "https://data.rennesmetropole.fr/page/licence/"
    decrees = next(d for d in batch.datasets if d.title == "Arrêtés de catastrophe naturelle")
    assert decrees.bbox is None
    assert batch.position == "2026-08-05T00:10:00+00:00"
    full_last_page = read_portal(rudi_source(server.url, limit=5, language="fr"))
    assert [r.params["offset"] for r in server.requests[3:]] == ["0", "5"]  # then an empty page
    french = next(d for d in full_last_page.datasets if d.id == flood.id)
    assert (
        french.description
        == "Jeu de données « Zones inondables du PPRI de la Vilaine » publié par Rennes Métropole."
    )


def test_rudi_increment_since(serve: Callable[..., Server]) -> None:
    node = Rudi()
    server = serve(node.route)
    node.items = rudi_listing(server.url)
    batch = read_portal(rudi_source(server.url), since="2026-07-01T00:00:00+00:00")
    assert server.requests[0].params["updated_after"] == "2026-07-01T00:00:00Z"
    assert sorted(d.title for d in batch.datasets) == [
        "Hauteurs d'eau de la Vilaine au pont de Bretagne", "Lieux d'hébergement d'urgence",
        "Zones inondables du PPRI de la Vilaine",
    ]  # fmt: skip
    assert not batch.complete and batch.position == "2026-08-05T00:10:00+00:00"


def test_rudi_misbehaving_nodes(
    serve: Callable[..., Server], caplog: pytest.LogCaptureFixture
) -> None:
    node = Rudi(mode="loop")
    server = serve(node.route)
    node.items = rudi_listing(server.url)
    with caplog.at_level(logging.WARNING):
        looped = read_portal(rudi_source(server.url, limit=2))
    assert "ignores paging" in caplog.text and len(server.requests) == 2
    assert len(looped.datasets) == 2 and not looped.complete
    node.mode = "error"
    with pytest.raises(ReaderError, match=r"HTTP 500 \(text/plain\): 'MongoServerError"):
        read_portal(rudi_source(server.url))
    node.mode = "html"
    with pytest.raises(ReaderError, match=r"not JSON: HTTP 200 \(text/html\)"):
        read_portal(rudi_source(server.url))
    with pytest.raises(ReaderError, match="options.limit must be a whole number from 1 to 500"):
        read_portal(rudi_source(server.url, limit=0))


def test_rudi_credentials_stay_with_the_node(
    serve: Callable[..., Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUDI_TEST_KEY", "k-77c1")
    elsewhere = Rudi()
    other = serve(elsewhere.route)
    elsewhere.items = rudi_listing(other.url)
    node = serve(Rudi(mode="redirect", redirect_to=other.url).route)
    source = rudi_source(node.url)
    source.auth = Auth("header", "env:RUDI_TEST_KEY", "X-Rudi-Key")
    assert len(read_portal(source).datasets) == 5
    assert node.requests[0].headers["X-Rudi-Key"] == "k-77c1"
    assert all("X-Rudi-Key" not in r.headers for r in other.requests)


# --- end to end: source files harvested into the catalogue ---


TEST_CHARTER = {
    "id": "portal-test-open", "version": "1.0", "title": "Test portals, open",
    "licence": {"id": "etalab-2.0", "label": "Licence Ouverte 2.0",
                "uri": "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"},
    "access": "open", "purposes": ["public-information"], "gdpr_sensitive": False,
    "valid_from": "2026-01-01", "valid_until": "2030-12-31", "themes": ["risk"],
}  # fmt: skip


def write_source(folder: Path, source: Source) -> Path:
    """A source file as an operator would write it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{source.id}.yaml"
    data = {
        "id": source.id, "title": source.title, "theme": source.theme, "format": source.format,
        "operator": {"id": source.operator.id, "name": source.operator.name},
        "url": source.url, "charter": source.charter,
        "options": source.options,
    }  # fmt: skip
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def use_test_charters(folder: Path, producer: str, monkeypatch: pytest.MonkeyPatch) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    charter = TEST_CHARTER | {"producer": producer}
    (folder / "portal-test-open.yaml").write_text(yaml.safe_dump(charter), encoding="utf-8")
    monkeypatch.setenv("HUB_CHARTERS_PATH", str(folder))
    get_settings.cache_clear()


def files_of(engine: Engine, dataset_id: str) -> list[Resource]:
    with Session(engine) as session:
        found = select(Resource).where(Resource.dataset_id == dataset_id, Resource.kind == "file")
        return list(session.exec(found.order_by(col(Resource.position))).all())


def test_ckan_source_harvested(
    engine: Engine, serve: Callable[..., Server], envidat: list[dict[str, Any]], tmp_path: Path
) -> None:
    ckan = Ckan(envidat)
    server = serve(ckan.route)
    path = write_source(tmp_path / "sources", ckan_source(server.url, rows=2))
    outcome = harvest_source(load_source(path))
    assert (outcome.status, outcome.read, outcome.published) == ("succeeded", 3, 3), outcome.message
    with Session(engine) as session:
        avalanches = session.get(Dataset, f"envidat--{AVALANCHES}")
        assert avalanches is not None and avalanches.charter_id == "envidat-dataset-licences"
        assert avalanches.bbox == [5.95587, 45.81802, 10.49203, 47.80838]
    assert len(files_of(engine, f"envidat--{AVALANCHES}")) == 3
    assert [f.name for f in files_of(engine, f"envidat--{VPD}")][
        0
    ] == "file2_physiological_60min.csv"
    asked = len(server.requests)
    again = harvest_source(load_source(path))  # from the stored position: an increment
    assert (again.status, again.read, again.published, again.skipped) == (
        "succeeded", 1, 0, 1
    ), again.message  # fmt: skip
    assert [r.params.get("fq") for r in server.requests[asked:]] == [
        "metadata_modified:[2026-08-04T07:19:14Z TO *]"
    ]
    ckan.mode = "error"  # a broken portal: the run fails, the catalogue keeps what it had
    broken = harvest_source(load_source(path))
    assert broken.status == "failed" and "HTTP 500" in broken.message
    with Session(engine) as session:
        kept = session.exec(select(Dataset).where(Dataset.organization_id == "envidat")).all()
        assert len(kept) == 3


def test_a_portal_is_listed_whole_again_and_its_dropped_datasets_withdrawn(
    engine: Engine, serve: Callable[..., Server], envidat: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Increments cannot see a deletion: after `relist_hours` the next harvest lists the
    portal whole, and a dataset it no longer lists leaves the catalogue."""
    ckan = Ckan(list(envidat))
    server = serve(ckan.route)
    path = write_source(tmp_path / "sources", ckan_source(server.url, rows=2, relist_hours=6))
    assert harvest_source(load_source(path)).published == 3
    with Session(engine) as session:
        cursor = session.get(SourceCursor, "envidat")
        assert cursor is not None and cursor.listed_at is not None
        first_listing = cursor.listed_at
    ckan.packages = [p for p in envidat if p["name"] != AVALANCHES]  # the portal drops one
    increment = harvest_source(load_source(path))
    assert "metadata_modified" in server.requests[-1].params["fq"]
    assert increment.status == "succeeded"
    with Session(engine) as session:  # an increment withdraws nothing
        assert session.get(Dataset, f"envidat--{AVALANCHES}") is not None
        cursor = session.get(SourceCursor, "envidat")
        assert cursor is not None and cursor.listed_at == first_listing
        cursor.listed_at = first_listing - timedelta(hours=7)  # the last whole listing is old
        session.add(cursor)
        session.commit()
    whole = harvest_source(load_source(path))
    assert "fq" not in server.requests[-1].params
    assert whole.status == "succeeded", whole.message
    with Session(engine) as session:
        assert session.get(Dataset, f"envidat--{AVALANCHES}") is None
        assert session.get(Dataset, f"envidat--{VPD}") is not None
        cursor = session.get(SourceCursor, "envidat")
        assert cursor is not None and cursor.listed_at is not None
        assert cursor.listed_at > first_listing


@pytest.mark.parametrize("hours", [-1, "daily", True, None])
def test_a_wrong_relisting_interval_fails_the_harvest_clearly(
    engine: Engine, serve: Callable[..., Server], envidat: list[dict[str, Any]], tmp_path: Path,
    hours: object,
) -> None:  # fmt: skip
    server = serve(Ckan(envidat).route)
    path = write_source(tmp_path / "sources", ckan_source(server.url, relist_hours=hours))
    outcome = harvest_source(load_source(path))
    assert outcome.status == "failed"
    assert "options.relist_hours must be a number of hours from 0" in outcome.message
    assert server.requests == []


def test_dcat_source_harvested(
    engine: Engine, serve: Callable[..., Server], samples: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    server = serve(lambda r: (200, "application/ld+json", (samples / POD).read_bytes(), {}))
    use_test_charters(tmp_path / "charters", "rostock", monkeypatch)
    path = write_source(tmp_path / "sources", dcat_source(f"{server.url}/catalog.jsonld"))
    outcome = harvest_source(load_source(path))
    assert (outcome.status, outcome.published) == ("succeeded", 1), outcome.message
    files = files_of(engine, "catalog--widgets-data")
    assert len(files) == 4
    assert "https://data.agency.gov/datasets/widgets-statistics/widgets.csv" in {
        f.url for f in files
    }


def test_rudi_source_harvested(
    engine: Engine, serve: Callable[..., Server], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = Rudi()
    server = serve(node.route)
    node.items = rudi_listing(server.url)
    use_test_charters(tmp_path / "charters", "rennes-metropole", monkeypatch)
    path = write_source(tmp_path / "sources", rudi_source(server.url, limit=2))
    outcome = harvest_source(load_source(path))
    assert (outcome.status, outcome.read, outcome.published) == ("succeeded", 5, 5), outcome.message
    flood = "rennes-risques--5f1e6c0a-8a7b-4c1d-9e2f-000000000001"
    assert [f.format for f in files_of(engine, flood)] == ["application/geo+json", "WMS"]
    again = harvest_source(load_source(path))  # nothing updated after the stored position
    assert server.requests[-1].params["updated_after"] == "2026-08-05T00:10:00Z"
    assert (again.status, again.read, again.published) == ("succeeded", 0, 0)
