"""DCAT-AP 3 documents: checked against the official SHACL shapes, paged, negotiated, redacted."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyshacl
import pytest
import sqlalchemy as sa
from api.support import Published, bearer
from fastapi.testclient import TestClient
from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import DCTERMS, FOAF, OWL, RDF, RDFS, SH, SKOS
from sourcefiles import OPENAQ_SAMPLE, openaq_source_file
from sqlalchemy import Engine
from sqlmodel import Session, select

from hub.api.dcat import documents, routes, terms, vocabularies
from hub.batches import FileResource, GridBatch, GridVariable, MetadataBatch, PortalDataset
from hub.batches import Publisher as Operator
from hub.catalogue import publish
from hub.config import get_settings
from hub.models import Dataset
from pipelines.harvesting import harvest_source
from pipelines.sources import load_source

HYDRA = vocabularies.HYDRA
# Plain namespaces: rdflib's closed DCAT and XSD warn when pytest probes module attributes.
DCAT = Namespace("http://www.w3.org/ns/dcat#")
XSD = Namespace("http://www.w3.org/2001/XMLSchema#")
SHAPES = Path("reference") / "dcat-ap" / "dcat-ap-3.0.0-SHACL.ttl"
USGS = Operator("usgs", "U.S. Geological Survey")
GRID = "winds"
RIVERS, DAMS = "portal--rivers", "portal--dams"
THEME = "http://publications.europa.eu/resource/authority/data-theme/"
RIGHT = "http://publications.europa.eu/resource/authority/access-right/"
FILE_TYPE = "http://publications.europa.eu/resource/authority/file-type/"
SUFFIXES = {"jsonld": "json-ld", "ttl": "turtle", "rdf": "xml"}
BASE = "http://testserver/"


@pytest.fixture(scope="module")
def shapes() -> Graph:
    """The official DCAT-AP 3.0.0 shapes, from the shared reference folder."""
    path = get_settings().samples_dir.parent / SHAPES
    assert path.is_file(), f"DCAT-AP shapes not found at {path}"
    return Graph().parse(path)


@pytest.fixture
def air(published: Published) -> dict[str, str]:
    """The air datasets only (records with coordinates), one per access level."""
    return {"records": published.open_id, **published.closed}


@pytest.fixture
def kinds(engine: Engine, published: Published, samples: Path) -> dict[str, str]:
    """Besides the air datasets (records with coordinates), a grid and a portal's listing."""
    publish(
        GridBatch(
            dataset_id=GRID,
            title="Winds",
            publisher=USGS,
            theme="risk",
            charter="usgs-public-domain",
            source_id=GRID,
            source_url="https://example.org/winds.nc",
            path=samples / "grids" / "xarray-data_eraint_uvz.nc",
            variables=[GridVariable("u", "m s**-1", "U component of wind", ("month", "level"))],
            dimensions={"month": 2, "level": 3, "latitude": 241, "longitude": 480},
            bbox=[-180.0, -90.0, 179.25, 90.0],
            time_min=datetime(2000, 1, 1, tzinfo=UTC),
            time_max=datetime(2000, 7, 1, tzinfo=UTC),
        )
    )
    publish(
        MetadataBatch(
            dataset_id="portal",
            title="A portal",
            publisher=USGS,
            theme="risk",
            charter="usgs-public-domain",
            source_id="portal",
            source_url="https://portal.example.org",
            datasets=[
                PortalDataset(
                    id=RIVERS,
                    title="Rivers\x0b of the \x01basin",  # control characters: no XML 1.0
                    description="Gauges along the rivers.",
                    keywords=["flood", "rivers"],
                    landing_page="https://portal.example.org/dataset/rivers",
                    resources=[
                        FileResource("gauges.csv", "https://portal.example.org/gauges.csv",
                                     "text/csv; charset=utf-8", "Gauges", size=2048),
                        FileResource("odd", 'https://portal.example.org/a b>"<x.zip', "ZIP"),
                        FileResource("script", "javascript:alert(1)", "HTML"),
                        FileResource("local", "file:///etc/passwd", "Esri Shapefile"),
                        FileResource("mystery", "https://portal.example.org/m.bin", "weird"),
                    ],
                ),
                PortalDataset(id=DAMS, title="Dams", landing_page="https://x.example.org/d"),
            ],
            complete=True,
        )
    )  # fmt: skip
    return {
        "records": published.open_id,
        "personal": published.closed["personal"],
        "restricted": published.closed["restricted"],
        "crisis": published.closed["crisis"],
        "grid": GRID,
        "files": RIVERS,
        "bare": DAMS,
    }


def parse(response: Any, suffix: str) -> Graph:
    """A response body as a graph, in the syntax its suffix names."""
    assert response.status_code == 200, response.text
    return Graph().parse(data=response.content, format=SUFFIXES[suffix], publicID=BASE)


def document(client: TestClient, dataset_id: str, suffix: str = "ttl", **headers: str) -> Graph:
    """A dataset's DCAT document."""
    return parse(
        client.get(f"/api/v1/datasets/{dataset_id}/dcat.{suffix}", headers=headers), suffix
    )


def check(data: Graph, shapes: Graph) -> list[str]:
    """The SHACL results that are not violations (warnings, infos); fails on any violation."""
    _, report, text = pyshacl.validate(data, shacl_graph=shapes, inference="none")
    results = list(report.subjects(RDF.type, SH.ValidationResult))
    violations = [r for r in results if report.value(r, SH.resultSeverity) == SH.Violation]
    assert not violations, text
    return [f"{report.value(r, SH.resultSeverity)}: {report.value(r, SH.resultMessage)}"
            for r in results]  # fmt: skip


def uri(base: str, dataset_id: str) -> URIRef:
    return URIRef(f"{base}datasets/{dataset_id}")


# --- conformance ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["records", "personal", "crisis", "grid", "files", "bare"])
def test_every_kind_of_dataset_conforms_to_dcat_ap_3(client, kinds, shapes, kind):
    for suffix in SUFFIXES:
        graph = document(client, kinds[kind], suffix)
        assert (uri(BASE, kinds[kind]), RDF.type, DCAT.Dataset) in graph
        assert check(graph, shapes) == []  # no warnings either


def test_the_shapes_catch_what_dcat_ap_requires(client, air, shapes):
    """The check is no formality: a dataset without a title, or an untyped licence, fails."""
    graph = document(client, air["records"])
    node = uri(BASE, air["records"])
    untitled = Graph() + graph
    untitled.remove((node, DCTERMS.title, None))
    untyped = Graph() + graph
    untyped.remove((None, RDF.type, DCTERMS.LicenseDocument))
    for broken in (untitled, untyped):
        conforms, _, _ = pyshacl.validate(broken, shacl_graph=shapes, inference="none")
        assert not conforms


def test_catalogue_pages_conform_and_carry_every_dataset(client, engine, kinds, shapes):
    for suffix in SUFFIXES:
        graph = parse(client.get(f"/catalog.{suffix}"), suffix)
        assert check(graph, shapes) == []
        catalog = URIRef(f"{BASE}catalog")
        assert (catalog, RDF.type, DCAT.Catalog) in graph
        assert set(graph.objects(catalog, DCAT.dataset)) == {
            uri(BASE, d) for d in stored_ids(engine)
        }
        assert graph.value(catalog, HYDRA.totalItems).toPython() == len(stored_ids(engine))
        standards = {
            (str(graph.value(s, DCTERMS.title)), str(graph.value(s, OWL.versionInfo))): s
            for s in graph.subjects(OWL.versionInfo, None)
        }
        with Session(engine) as session:
            on_schemas = session.exec(
                select(Dataset.id, Dataset.schema_name, Dataset.schema_version).where(
                    Dataset.schema_name != ""
                )
            ).all()
        assert len(on_schemas) > len(standards)  # datasets on one schema share its standard
        for dataset_id, name, version in on_schemas:  # one IRI per schema name and version
            standard = standards[(f"Table Schema {name}", version)]
            assert graph.value(uri(BASE, dataset_id), DCTERMS.conformsTo) == standard


def stored_ids(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return list(session.exec(select(Dataset.id)).all())


# --- what each document says ------------------------------------------------------------------


def test_a_record_dataset_has_its_formats_licence_themes_and_coverage(client, air):
    node = uri(BASE, air["records"])
    graph = document(client, air["records"])
    formats = {graph.value(d, DCTERMS.format): d for d in graph.objects(node, DCAT.distribution)}
    assert set(formats) == {URIRef(f"{FILE_TYPE}{c}") for c in ("CSV", "JSON", "GEOJSON")}
    csv = formats[URIRef(f"{FILE_TYPE}CSV")]
    records = f"{BASE}api/v1/datasets/{air['records']}/records"
    assert graph.value(csv, DCAT.downloadURL) == URIRef(f"{records}?format=csv")
    assert graph.value(csv, DCAT.mediaType) == URIRef(
        "https://www.iana.org/assignments/media-types/text/csv"
    )
    geojson = formats[URIRef(f"{FILE_TYPE}GEOJSON")]
    assert graph.value(geojson, DCAT.downloadURL) == URIRef(f"{records}?format=geojson")
    assert graph.value(formats[URIRef(f"{FILE_TYPE}JSON")], DCAT.downloadURL) is None  # paged
    licence = graph.value(csv, DCTERMS.license)
    assert str(licence).endswith("/licence/ETALAB_2_0")
    assert (licence, RDF.type, DCTERMS.LicenseDocument) in graph
    version = client.get(f"/api/v1/datasets/{air['records']}/schema").json()["version"]
    schema = URIRef(f"{BASE}api/v1/schemas/air-quality-observation/{version}")
    assert graph.value(node, DCTERMS.conformsTo) == schema
    assert graph.value(csv, DCTERMS.conformsTo) == schema
    assert (schema, RDF.type, DCTERMS.Standard) in graph
    assert graph.value(schema, OWL.versionInfo) == Literal(version)
    assert graph.value(schema, DCTERMS.isVersionOf) == URIRef(
        f"{BASE}api/v1/schemas/air-quality-observation"
    )
    answered = client.get(str(schema).removeprefix(BASE.rstrip("/")))  # the registry's route
    assert answered.status_code == 200 and answered.json()["fields"][0]["name"] == "station_id"
    assert answered.json()["version"] == version
    assert set(graph.objects(node, DCAT.theme)) == {URIRef(f"{THEME}ENVI"), URIRef(f"{THEME}HEAL")}
    assert graph.value(node, DCTERMS.accessRights) == URIRef(f"{RIGHT}PUBLIC")
    publisher = graph.value(node, DCTERMS.publisher)
    assert str(graph.value(publisher, FOAF.name)) == "Atmo Démo"
    contact = graph.value(node, DCAT.contactPoint)
    assert str(graph.value(contact, vocabularies.VCARD.fn)) == "Atmo Démo"
    assert graph.value(contact, vocabularies.VCARD.hasURL) == URIRef(
        f"{BASE}?organization=atmo-demo"
    )
    period = graph.value(node, DCTERMS.temporal)
    assert graph.value(period, DCAT.startDate) == Literal(
        "2026-03-01T00:00:00Z", datatype=XSD.dateTime
    )
    place = graph.value(node, DCTERMS.spatial)
    assert "POLYGON((-1.68 48.08" in str(graph.value(place, DCAT.bbox))
    assert {str(k) for k in graph.objects(node, DCAT.keyword)} == {"no2", "pm25", "rennes"}


@pytest.mark.parametrize(
    ("kind", "right"),
    [("personal", "NON_PUBLIC"), ("restricted", "RESTRICTED"), ("crisis", "RESTRICTED")],
)
def test_closed_datasets_say_their_access_right_and_carry_nothing_computed(
    client, air, kind, right
):
    node = uri(BASE, air[kind])
    for suffix in SUFFIXES:
        response = client.get(f"/api/v1/datasets/{air[kind]}/dcat.{suffix}")
        graph = parse(response, suffix)
        assert graph.value(node, DCTERMS.accessRights) == URIRef(f"{RIGHT}{right}")
        assert graph.value(node, DCTERMS.temporal) is None
        assert graph.value(node, DCTERMS.spatial) is None
        assert not list(graph.subjects(DCAT.byteSize, None))
        assert b"2026-03-01T00" not in response.content and b"48.08" not in response.content
        # … and the metadata the operator declared is all there
        assert graph.value(node, DCTERMS.title) is not None
        assert len(list(graph.objects(node, DCAT.distribution))) == 3


def test_the_catalogue_withholds_computed_coverage_per_dataset(client, air):
    graph = parse(client.get("/catalog.ttl"), "ttl")
    assert graph.value(uri(BASE, air["records"]), DCTERMS.temporal) is not None
    for kind in ("personal", "restricted", "crisis"):
        assert graph.value(uri(BASE, air[kind]), DCTERMS.temporal) is None
        assert graph.value(uri(BASE, air[kind]), DCTERMS.spatial) is None


def test_readers_of_every_row_see_the_coverage_others_do_not(client, engine, air):
    operator = bearer(engine, "operator", "atmo-demo")
    member = bearer(engine, "agency", "metropole-civil-protection")
    stranger = bearer(engine, "agency", "elsewhere")
    personal, restricted = air["personal"], air["restricted"]
    assert document(client, personal, **operator).value(uri(BASE, personal), DCTERMS.temporal)
    assert document(client, restricted, **member).value(uri(BASE, restricted), DCTERMS.spatial)
    assert (
        document(client, restricted, **stranger).value(uri(BASE, restricted), DCTERMS.spatial)
        is None
    )
    assert document(client, personal, **member).value(uri(BASE, personal), DCTERMS.temporal) is None


def test_a_grid_is_one_netcdf_distribution_the_hub_serves(client, kinds):
    node = uri(BASE, GRID)
    graph = document(client, GRID)
    (grid,) = graph.objects(node, DCAT.distribution)
    assert graph.value(grid, DCTERMS.format) == URIRef(f"{FILE_TYPE}NETCDF")
    assert graph.value(grid, DCAT.mediaType) is None  # IANA registers no NetCDF type
    assert graph.value(grid, DCAT.accessURL) == URIRef(f"{BASE}api/v1/datasets/{GRID}/grid")
    download = graph.value(grid, DCAT.downloadURL)
    assert download == URIRef(f"{BASE}api/v1/datasets/{GRID}/grid?format=netcdf")
    answer = client.get(str(download).removeprefix(BASE.rstrip("/")))
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/x-netcdf"
    assert graph.value(grid, DCAT.byteSize) is None  # re-encoded: not the harvested file's size
    assert graph.value(node, DCTERMS.conformsTo) is None  # no Table Schema for a grid
    assert set(graph.objects(node, DCAT.theme)) == {URIRef(f"{THEME}ENVI"), URIRef(f"{THEME}JUST")}
    assert graph.value(graph.value(node, DCTERMS.temporal), DCAT.endDate) == Literal(
        "2000-07-01T00:00:00Z", datatype=XSD.dateTime
    )


def test_a_portal_dataset_keeps_its_files_and_drops_what_is_unsafe(client, kinds, shapes):
    node = uri(BASE, RIVERS)
    for suffix in SUFFIXES:
        response = client.get(f"/api/v1/datasets/{RIVERS}/dcat.{suffix}")
        graph = parse(response, suffix)
        assert b"javascript:" not in response.content and b"/etc/passwd" not in response.content
        assert str(graph.value(node, DCTERMS.title)) == "Rivers of the basin"
        assert graph.value(node, DCAT.landingPage) == URIRef(
            "https://portal.example.org/dataset/rivers"
        )
        files = {
            str(graph.value(d, DCTERMS.title)): d for d in graph.objects(node, DCAT.distribution)
        }
        assert set(files) == {"gauges.csv", "odd", "script", "local", "mystery"}
        gauges = files["gauges.csv"]
        assert graph.value(gauges, DCAT.downloadURL) == URIRef(
            "https://portal.example.org/gauges.csv"
        )
        assert graph.value(gauges, DCTERMS.format) == URIRef(f"{FILE_TYPE}CSV")
        assert graph.value(gauges, DCAT.byteSize) == Literal(2048, datatype=XSD.nonNegativeInteger)
        assert graph.value(files["odd"], DCAT.downloadURL) == URIRef(
            "https://portal.example.org/a%20b%3E%22%3Cx.zip"
        )
        for unsafe in ("script", "local"):  # reached through the hub's page instead
            assert graph.value(files[unsafe], DCAT.accessURL) == node
            assert graph.value(files[unsafe], DCAT.downloadURL) is None
        assert graph.value(files["local"], DCTERMS.format) == URIRef(f"{FILE_TYPE}SHP")
        assert graph.value(files["mystery"], DCTERMS.format) is None
        assert graph.value(node, DCTERMS.conformsTo) is None
        check(graph, shapes)


def test_every_download_url_serves_its_media_type_and_is_the_ckan_resource(client, kinds):
    """A harvester reading DCAT gets the files a CKAN harvester gets: same URL, format and
    media type, and each download URL answers that media type (the whole GeoJSON in one)."""
    for kind in ("records", "grid", "files"):
        graph = document(client, kinds[kind])
        package = client.get(f"/api/3/action/package_show?id={kinds[kind]}").json()["result"]
        ckan = {r["url"]: r for r in package["resources"]}
        downloads = {
            str(graph.value(d, DCAT.downloadURL)): d
            for d in graph.objects(uri(BASE, kinds[kind]), DCAT.distribution)
            if graph.value(d, DCAT.downloadURL) is not None
        }
        for url, resource in ckan.items():
            if not url:
                continue  # no web URL (javascript:, file:): no download either
            distribution = downloads[str(terms.web_iri(url))]  # the same URL, escaped for RDF
            media = graph.value(distribution, DCAT.mediaType)
            if media is not None:
                assert str(media).rsplit("media-types/", 1)[1] == resource["mimetype"], url
            file_type = vocabularies.file_type_of(resource["format"])
            said = graph.value(distribution, DCTERMS.format)
            assert said == (file_type.uri if file_type else None), url
        for url, distribution in downloads.items():
            if not url.startswith(BASE):
                continue  # a portal's file, not served here
            answer = client.get(url.removeprefix(BASE.rstrip("/")))
            assert answer.status_code == 200, url
            served = answer.headers["content-type"].split(";")[0]
            media = graph.value(distribution, DCAT.mediaType)
            expected = str(media).rsplit("media-types/", 1)[1] if media else "application/x-netcdf"
            assert served == expected, url
            if served == "application/geo+json":
                body = answer.json()
                assert (
                    body.get("next") is None
                    and "attachment" in answer.headers["content-disposition"]
                )
                assert len(body["features"]) == package_count(package)


def package_count(package: dict[str, Any]) -> int:
    """A package's record count, from its extras."""
    return int(next(e["value"] for e in package["extras"] if e["key"] == "record_count"))


# --- DCAT-AP's recommended properties ----------------------------------------------------------

LICENCE = "http://publications.europa.eu/resource/authority/licence/"
LANGUAGE = "http://publications.europa.eu/resource/authority/language/"
FREQUENCY = "http://publications.europa.eu/resource/authority/frequency/"


def test_the_catalogue_says_its_homepage_languages_and_licence(client, kinds, monkeypatch):
    catalog = URIRef(f"{BASE}catalog")
    graph = parse(client.get("/catalog.ttl"), "ttl")
    assert graph.value(catalog, FOAF.homepage) == URIRef(BASE)
    assert set(graph.objects(catalog, DCTERMS.language)) == {URIRef(f"{LANGUAGE}ENG")}
    licence = graph.value(catalog, DCTERMS.license)
    assert licence == URIRef(f"{LICENCE}ETALAB_2_0")
    assert (licence, RDF.type, DCTERMS.LicenseDocument) in graph
    monkeypatch.setenv("HUB_CATALOGUE_LICENCE", "https://example.org/metadata-terms")
    get_settings.cache_clear()
    graph = parse(client.get("/catalog.ttl"), "ttl")
    assert graph.value(catalog, DCTERMS.license) == URIRef("https://example.org/metadata-terms")


def test_licences_are_the_eu_tables_keeping_the_publishers_text(client, air):
    graph = document(client, air["records"])
    csv = next(
        d
        for d in graph.objects(uri(BASE, air["records"]), DCAT.distribution)
        if graph.value(d, DCAT.downloadURL) is not None
    )
    licence = graph.value(csv, DCTERMS.license)
    assert licence == URIRef(f"{LICENCE}ETALAB_2_0")
    assert str(graph.value(licence, RDFS.seeAlso)).startswith("https://www.etalab.gouv.fr/")
    assert vocabularies.licence_of("CC-BY-4.0") == URIRef(f"{LICENCE}CC_BY_4_0")
    assert vocabularies.licence_of("ODbL-1.0") == URIRef(f"{LICENCE}ODC_BL")
    by_url = vocabularies.licence_of("custom", "https://creativecommons.org/licenses/by-sa/3.0/")
    assert by_url == URIRef(f"{LICENCE}CC_BYSA_3_0")
    assert vocabularies.licence_of("custom", "https://www.amprion.net/") is None


def test_a_dataset_says_its_language_when_its_words_tell_it(client, kinds, shapes):
    assert document(client, kinds["records"]).value(
        uri(BASE, kinds["records"]), DCTERMS.language
    ) == URIRef(f"{LANGUAGE}ENG")
    publish(
        MetadataBatch(
            dataset_id="portail",
            title="Un portail",
            publisher=USGS,
            theme="risk",
            charter="usgs-public-domain",
            source_id="portail",
            datasets=[
                PortalDataset(
                    id="portail--crues",
                    title="Crues",
                    description="Les hauteurs d'eau des stations sur la Lez.",
                ),
                PortalDataset(id="portail--x", title="X-17", description="X-17"),
            ],
        )
    )
    french = document(client, "portail--crues")
    assert french.value(uri(BASE, "portail--crues"), DCTERMS.language) == URIRef(f"{LANGUAGE}FRA")
    assert check(french, shapes) == []
    mute = document(client, "portail--x")  # nothing to tell it by: no language said
    assert mute.value(uri(BASE, "portail--x"), DCTERMS.language) is None
    catalog = parse(client.get("/catalog.ttl"), "ttl")
    assert set(catalog.objects(URIRef(f"{BASE}catalog"), DCTERMS.language)) == {
        URIRef(f"{LANGUAGE}ENG"),
        URIRef(f"{LANGUAGE}FRA"),
    }


def test_a_dataset_is_as_frequent_as_its_operators_source_schedule(
    client, air, tmp_path, monkeypatch, shapes
):
    folder = tmp_path / "sources"
    folder.mkdir()
    url = "file:///nowhere.csv"
    openaq_source_file(folder, air["records"], url, operator="atmo-demo", schedule="*/15 * * * *")
    openaq_source_file(folder, air["restricted"], url, operator="elsewhere", schedule="0 3 * * *")
    monkeypatch.setenv("HUB_SOURCES_PATH", str(folder))
    get_settings.cache_clear()
    graph = document(client, air["records"])
    frequency = graph.value(uri(BASE, air["records"]), DCTERMS.accrualPeriodicity)
    assert frequency == URIRef(f"{FREQUENCY}15MIN")
    assert (frequency, RDF.type, DCTERMS.Frequency) in graph
    assert check(graph, shapes) == []
    other = document(client, air["restricted"])  # a source of another operator: not its schedule
    assert other.value(uri(BASE, air["restricted"]), DCTERMS.accrualPeriodicity) is None
    assert (
        document(client, air["personal"]).value(
            uri(BASE, air["personal"]), DCTERMS.accrualPeriodicity
        )
        is None
    )  # no source file: no schedule known


@pytest.mark.parametrize(
    ("cron", "code"),
    [("*/15 * * * *", "15MIN"), ("0 * * * *", "HOURLY"), ("0 8,20 * * *", "12HRS"),
     ("0 3 * * *", "DAILY"), ("0 3 * * 1", "WEEKLY"), ("0 3 1 * *", "MONTHLY"),
     ("0 0 1 */3 *", "QUARTERLY"), ("0 3 1 1 *", "ANNUAL"), ("0 8,9 * * *", None),
     ("*/7 * * * *", None), ("not a cron", None)],
)  # fmt: skip
def test_schedules_map_to_eu_frequencies_only_when_evenly_spaced(cron, code):
    found = vocabularies.frequency_of(cron)
    assert found == (URIRef(f"{FREQUENCY}{code}") if code else None)


# --- paging -----------------------------------------------------------------------------------


def walk(client: TestClient, suffix: str) -> tuple[list[URIRef], list[Graph]]:
    """Follow hydra:next from the first page; the datasets of every page, and the pages."""
    seen: list[URIRef] = []
    pages: list[Graph] = []
    url: str | None = f"/catalog.{suffix}"
    while url:
        graph = parse(client.get(url), suffix)
        pages.append(graph)
        seen += list(graph.objects(URIRef(f"{BASE}catalog"), DCAT.dataset))
        (view,) = graph.subjects(RDF.type, HYDRA.PartialCollectionView)
        following = graph.value(view, HYDRA.next)
        url = str(following).removeprefix(BASE.rstrip("/")) if following else None
        assert len(pages) < 20
    return seen, pages


@pytest.mark.parametrize("suffix", list(SUFFIXES))
def test_every_dataset_is_on_exactly_one_page(client, engine, kinds, monkeypatch, suffix):
    monkeypatch.setattr(routes, "PAGE_SIZE", 3)
    seen, pages = walk(client, suffix)
    ids = stored_ids(engine)
    assert len(ids) == 7 and len(pages) == 3
    assert sorted(seen) == sorted(uri(BASE, d) for d in ids)
    first, middle, last = pages
    view = next(middle.subjects(RDF.type, HYDRA.PartialCollectionView))
    assert str(view) == f"{BASE}catalog.{suffix}?page=2"
    assert str(middle.value(view, HYDRA.previous)) == f"{BASE}catalog.{suffix}?page=1"
    assert str(middle.value(view, HYDRA.first)) == f"{BASE}catalog.{suffix}?page=1"
    assert str(middle.value(view, HYDRA.last)) == f"{BASE}catalog.{suffix}?page=3"
    assert next(last.subjects(HYDRA.next, None), None) is None
    assert next(first.subjects(HYDRA.previous, None), None) is None
    for graph, size in zip(pages, (3, 3, 1), strict=True):
        assert graph.value(URIRef(f"{BASE}catalog"), HYDRA.totalItems).toPython() == 7
        assert len(list(graph.subjects(RDF.type, DCAT.Dataset))) == size


def test_paging_answers_link_headers_and_refuses_pages_past_the_end(client, kinds, monkeypatch):
    monkeypatch.setattr(routes, "PAGE_SIZE", 3)
    response = client.get("/catalog.ttl?page=2")
    assert response.headers["content-type"] == "text/turtle; charset=utf-8"
    assert f'<{BASE}catalog.ttl?page=3>; rel="next"' in response.headers["link"]
    assert f'<{BASE}catalog.ttl?page=1>; rel="prev"' in response.headers["link"]
    assert client.get("/catalog.ttl?page=4").status_code == 404
    assert client.get(f"/catalog.ttl?page={routes.MAX_PAGE}").status_code == 404
    for bad in ("0", "-1", "two", str(routes.MAX_PAGE + 1), "1e3"):
        assert client.get(f"/catalog.ttl?page={bad}").status_code == 400, bad


def test_modified_since_narrows_the_catalogue_and_its_links(client, engine, kinds, monkeypatch):
    with Session(engine) as session:
        grid = session.get(Dataset, GRID)
        assert grid is not None
        grid.modified_at = datetime(2031, 1, 1, tzinfo=UTC)
        session.add(grid)
        session.commit()
    response = client.get("/catalog.jsonld", params={"modified_since": "2030-12-31T00:00:00Z"})
    graph = parse(response, "jsonld")
    assert list(graph.objects(URIRef(f"{BASE}catalog"), DCAT.dataset)) == [uri(BASE, GRID)]
    (view,) = graph.subjects(RDF.type, HYDRA.PartialCollectionView)
    assert "modified_since=2030-12-31T00%3A00%3A00%2B00%3A00" in str(view)
    assert client.get("/catalog.ttl", params={"modified_since": "soon"}).status_code == 400


def test_a_page_costs_the_same_few_queries_whatever_its_size(client, engine, kinds, monkeypatch):
    counts = []
    for size in (1, 7):
        monkeypatch.setattr(routes, "PAGE_SIZE", size)
        statements: list[str] = []

        def capture(_conn, _cursor, statement, *_args, seen=statements) -> None:
            seen.append(statement)

        sa.event.listen(engine, "before_cursor_execute", capture)
        try:
            assert client.get("/catalog.ttl").status_code == 200
        finally:
            sa.event.remove(engine, "before_cursor_execute", capture)
        counts.append(len(statements))
    assert counts[0] == counts[1] and counts[0] <= 6, counts


# --- syntaxes, negotiation, URLs --------------------------------------------------------------


@pytest.mark.parametrize("kind", ["records", "personal", "grid", "files"])
def test_the_three_syntaxes_are_the_same_graph(client, kinds, kind):
    graphs = [document(client, kinds[kind], suffix) for suffix in SUFFIXES]
    assert len(graphs[0]) > 20
    assert isomorphic(graphs[0], graphs[1]) and isomorphic(graphs[0], graphs[2])


def test_catalogue_pages_are_the_same_graph_in_every_syntax_but_their_own_links(client, kinds):
    graphs = []
    for suffix in SUFFIXES:
        graph = parse(client.get(f"/catalog.{suffix}"), suffix)
        (view,) = graph.subjects(RDF.type, HYDRA.PartialCollectionView)
        assert {str(o) for _, p, o in graph.triples((view, None, None)) if p != RDF.type} == {
            f"{BASE}catalog.{suffix}?page=1"
        }
        graph.remove((view, None, None))
        graph.remove((None, HYDRA.view, view))
        graphs.append(graph)
    assert isomorphic(graphs[0], graphs[1]) and isomorphic(graphs[0], graphs[2])


def test_json_ld_carries_its_context_inline(client, air):
    body = client.get("/catalog.jsonld").json()
    assert isinstance(body["@context"], dict)
    assert body["@context"]["dcat"] == str(DCAT)


NEGOTIATED = [
    ("text/turtle", "ttl"),
    ("application/ld+json", "jsonld"),
    ("application/rdf+xml", "rdf"),
    ("text/html;q=0.5, text/turtle", "ttl"),
    ("application/ld+json;q=0.9, text/html;q=0.1", "jsonld"),
]
BROWSERS = [
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8",
    "*/*",
    "",
    "text/turtle;q=0, text/html",
    "text/turtle;q=abc",
    "text/html, text/turtle",  # a tie keeps the default
]


def test_the_dataset_page_answers_its_document_by_accept(client, air):
    for accept, suffix in NEGOTIATED:
        response = client.get(f"/datasets/{air['records']}", headers={"Accept": accept})
        media_type = documents.SYNTAXES[suffix].media_type
        assert response.headers["content-type"].startswith(media_type), accept
        assert "Accept" in {v.strip() for v in response.headers["vary"].split(",")}
        assert isomorphic(parse(response, suffix), document(client, air["records"], suffix))


def test_html_stays_the_default_for_browsers(client, air):
    for accept in BROWSERS:
        response = client.get(f"/datasets/{air['records']}", headers={"Accept": accept})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html"), accept
        assert "Accept" in {v.strip() for v in response.headers["vary"].split(",")}
        assert b"<html" in response.content


def test_negotiation_keeps_access_rules_and_404s(client, air):
    response = client.get(f"/datasets/{air['personal']}", headers={"Accept": "text/turtle"})
    assert b"2026-03-01T00" not in response.content
    assert parse(response, "ttl").value(uri(BASE, air["personal"]), DCTERMS.temporal) is None
    missing = client.get("/datasets/no-such-dataset", headers={"Accept": "text/turtle"})
    assert missing.status_code == 404
    assert client.get("/api/v1/datasets/no-such-dataset/dcat.ttl").status_code == 404
    for suffix in ("xml", "n3", "ttl.bak", ""):
        assert client.get(f"/api/v1/datasets/{air['records']}/dcat.{suffix}").status_code == 404
        assert client.get(f"/catalog.{suffix}").status_code == 404


def test_the_host_header_cannot_change_the_urls(client, air, monkeypatch):
    for path in ("/catalog.ttl", f"/api/v1/datasets/{air['records']}/dcat.ttl"):
        response = client.get(path, headers={"Host": "evil.example"})
        assert b"evil.example" not in response.content
    monkeypatch.setenv("HUB_PUBLIC_URL", "https://data.example.org/hub")
    get_settings.cache_clear()
    response = client.get("/catalog.ttl", headers={"Host": "evil.example"})
    assert b"evil.example" not in response.content and b"testserver" not in response.content
    graph = Graph().parse(data=response.content, format="turtle")
    root = "https://data.example.org/hub/"
    assert (URIRef(f"{root}catalog"), RDF.type, DCAT.Catalog) in graph
    assert (URIRef(f"{root}catalog"), DCAT.dataset, uri(root, air["records"])) in graph
    assert "evil" not in response.headers["link"] and root in response.headers["link"]


def test_the_catalogues_iri_dereferences_to_its_documents(client, air):
    """The IRI the documents give the catalogue, `{root}catalog`, answers: 303 to a document in
    the syntax asked for (its query kept), to the home page for a browser."""
    root = "http://testserver/"
    for accept, target in (
        ("text/turtle", f"{root}catalog.ttl?page=1"),
        ("application/ld+json", f"{root}catalog.jsonld?page=1"),
        ("application/rdf+xml;q=0.9, text/html;q=0.5", f"{root}catalog.rdf?page=1"),
        ("text/html,application/xhtml+xml,*/*;q=0.8", root),
        ("*/*", root),
    ):
        answer = client.get("/catalog?page=1", headers={"Accept": accept}, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == target, accept
        assert "Accept" in answer.headers["vary"]
    graph = Graph().parse(data=client.get(f"{root}catalog.ttl").content, format="turtle")
    assert (URIRef(f"{root}catalog"), RDF.type, DCAT.Catalog) in graph


def test_tokens_in_the_query_string_are_refused(client, air):
    assert client.get("/catalog.ttl?token=abc").status_code == 400
    assert client.get(f"/api/v1/datasets/{air['records']}/dcat.ttl?api_key=x").status_code == 400


# --- vocabularies -----------------------------------------------------------------------------


def test_access_levels_map_to_eu_access_rights_and_never_fall_open():
    assert vocabularies.access_right_of("open").uri == URIRef(f"{RIGHT}PUBLIC")
    assert vocabularies.access_right_of("crisis").uri == URIRef(f"{RIGHT}RESTRICTED")
    assert vocabularies.access_right_of("personal").uri == URIRef(f"{RIGHT}NON_PUBLIC")
    assert vocabularies.access_right_of("whatever").uri == URIRef(f"{RIGHT}NON_PUBLIC")


def test_themes_map_to_eu_data_themes():
    codes = {t: {c.uri.rsplit("/", 1)[1] for c in vocabularies.themes_of(t)}
             for t in ("air-quality", "energy", "biodiversity", "risk", "other")}  # fmt: skip
    assert codes == {
        "air-quality": {"ENVI", "HEAL"},
        "energy": {"ENER"},
        "biodiversity": {"ENVI"},
        "risk": {"ENVI", "JUST"},
        "other": set(),
    }


@pytest.mark.parametrize(
    ("written", "code"),
    [("CSV", "CSV"), ("text/csv; charset=utf-8", "CSV"), (".geojson", "GEOJSON"),
     ("NetCDF", "NETCDF"), ("application/x-netcdf", "NETCDF"), ("XLSX", "XLSX"),
     ("Esri Shapefile", "SHP"), ("", None), ("weird", None)],
)  # fmt: skip
def test_formats_map_to_eu_file_types(written, code):
    found = vocabularies.file_type_of(written)
    assert (found.code if found else None) == code


def test_accept_headers_are_read_with_their_qualities():
    assert documents.negotiate("text/turtle") is documents.SYNTAXES["ttl"]
    assert documents.negotiate("text/*") is None  # text/html ties with Turtle
    assert documents.negotiate("application/*, text/html;q=0.5") is None  # xhtml ties
    assert documents.negotiate("application/rdf+xml;q=0.4, text/html;q=0.3") is not None
    assert documents.negotiate("text/turtle;q=2") is None  # out of range: dropped
    assert documents.negotiate("nonsense, ,;;, text/turtle") is documents.SYNTAXES["ttl"]
    assert documents.negotiate("text/turtle;q=nan") is None


def test_the_theme_concepts_are_labelled_in_their_scheme(client, air):
    graph = document(client, air["records"])
    for theme in graph.objects(uri(BASE, air["records"]), DCAT.theme):
        assert graph.value(theme, SKOS.prefLabel) is not None
        assert graph.value(theme, SKOS.inScheme) == vocabularies.DATA_THEME


def test_keywords_are_the_datas_not_the_name_of_the_reader(client, samples, tmp_path):
    """A harvested source publishes its theme as a keyword, never its reader (`openaq-csv`)."""
    path = openaq_source_file(tmp_path, "openaq-keywords", f"file://{samples / OPENAQ_SAMPLE}")
    outcome = harvest_source(load_source(path))
    assert outcome.published > 0, outcome
    graph = document(client, "openaq-keywords")
    keywords = {str(k) for k in graph.objects(uri(BASE, "openaq-keywords"), DCAT.keyword)}
    assert keywords == {"air-quality"}
    tags = client.get("/api/3/action/tag_list").json()["result"]
    assert "openaq-csv" not in tags and "air-quality" in tags
