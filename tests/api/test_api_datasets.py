"""/api/v1/datasets: search, metadata, runs, validation reports and quarantine."""

from __future__ import annotations

import csv
import io
import uuid

import pytest
from api.support import FIELDS, air_batch, energy_mix_batch, observation_rows

from hub.catalogue import PublishRefused, publish


def test_the_list_counts_and_describes_every_dataset(client, published):
    body = client.get("/api/v1/datasets").json()
    assert body["count"] == 4 and body["next"] is None
    found = {d["id"]: d for d in body["datasets"]}
    assert set(found) == {published.open_id, *published.closed.values()}
    air = found[published.open_id]
    assert air["organization"] == {
        "id": "atmo-demo",
        "name": "Atmo Démo",
        "kind": "public",
        "email": None,
        "website": None,
    }
    assert air["access"] == "open" and air["licence"]["id"] == "etalab-2.0"
    assert air["record_count"] == published.valid_rows
    assert air["freshness"]["time_min"] == "2026-03-01T00:00:00Z"
    assert air["url"] == f"http://testserver/api/v1/datasets/{published.open_id}"


def test_the_list_filters_by_words_theme_and_organization(client, published):
    assert client.get("/api/v1/datasets", params={"q": "crisis"}).json()["count"] == 1
    assert client.get("/api/v1/datasets", params={"q": "rennes atmo"}).json()["count"] == 1
    assert client.get("/api/v1/datasets", params={"q": "nothing-like-this"}).json()["count"] == 0
    assert client.get("/api/v1/datasets", params={"theme": "air-quality"}).json()["count"] == 4
    assert client.get("/api/v1/datasets", params={"theme": "energy"}).json()["count"] == 0
    assert client.get("/api/v1/datasets", params={"organization": "atmo-demo"}).json()["count"] == 4
    assert client.get("/api/v1/datasets", params={"organization": "nobody"}).json()["count"] == 0


def test_the_list_pages_with_a_next_url(client):
    seen = []
    url = "/api/v1/datasets?limit=3"
    while url:
        body = client.get(url).json()
        assert body["count"] == 4
        seen += [d["id"] for d in body["datasets"]]
        url = body["next"]
    assert len(seen) == len(set(seen)) == 4


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "offset=-1", "limit=many"])
def test_the_list_refuses_out_of_bounds_paging(client, query):
    response = client.get(f"/api/v1/datasets?{query}")
    assert response.status_code == 400
    assert response.json()["errors"][0]["loc"][-1] in ("limit", "offset")
    assert response.json()["detail"].startswith(("limit ", "offset "))


def test_a_dataset_shows_its_charter_schema_freshness_and_last_run(client, published):
    body = client.get(f"/api/v1/datasets/{published.open_id}").json()
    assert body["charter"]["id"] == "atmo-demo-open" and body["charter"]["version"] == "1.0"
    assert body["charter"]["access"] == "open"
    assert body["charter"]["mandatory_mention"].startswith("Source: Atmo Demo")
    assert body["charter"]["licence"]["url"].startswith("https://")
    assert body["schema"]["name"] == "air-quality-observation" and body["schema"]["version"]
    assert [f["name"] for f in body["schema"]["fields"]] == FIELDS
    pollutant = next(f for f in body["schema"]["fields"] if f["name"] == "pollutant")
    assert "no2" in pollutant["constraints"]["enum"] and pollutant["type"] == "string"
    freshness = body["freshness"]
    assert freshness["time_min"] == "2026-03-01T00:00:00Z"
    assert freshness["time_max"] == "2026-03-01T23:00:00Z"
    assert freshness["bbox"] == pytest.approx([-1.68, 48.08, -1.2, 48.3])
    # received just now, but its rows end in March 2026: late for air quality (hub.freshness)
    assert freshness["published_at"] and freshness["stale"] is True
    assert body["record_count"] == published.valid_rows
    run = body["last_run"]
    assert run["id"] == published.run_id and run["status"] == "partial"
    assert (run["rows_read"], run["rows_published"], run["rows_quarantined"]) == (
        published.valid_rows + published.bad_rows,
        published.valid_rows,
        published.bad_rows,
    )
    assert body["links"]["csv"].endswith(f"/api/v1/datasets/{published.open_id}/records?format=csv")


def test_closed_datasets_keep_public_metadata(client, published):
    for level, dataset_id in published.closed.items():
        response = client.get(f"/api/v1/datasets/{dataset_id}")
        assert response.status_code == 200
        assert response.json()["access"] == level
        assert response.json()["charter"]["version"] == "2.1"
        assert client.get(f"/api/v1/datasets/{dataset_id}/runs").status_code == 200


def test_an_unknown_dataset_is_a_404_that_names_it(client):
    for path in ("", "/records", "/runs", "/validation", "/quarantine"):
        response = client.get(f"/api/v1/datasets/no-such-thing{path}")
        assert response.status_code == 404
        assert "no-such-thing" in response.json()["detail"]


def test_runs_tell_the_history_with_schema_and_charter_versions(client, published, engine):
    with pytest.raises(PublishRefused):
        publish(
            air_batch(
                published.open_id,
                "atmo-demo-open",
                "Air quality, Rennes (Atmo Démo)",
                observation_rows().head(3).rename({"value": "valeur"}),
            ),
            engine=engine,
        )
    runs = client.get(f"/api/v1/datasets/{published.open_id}/runs").json()["runs"]
    assert [r["status"] for r in runs] == ["refused", "partial"]
    refused, first = runs
    assert "valeur" in refused["error"] or "value" in refused["error"]
    assert first["id"] == published.run_id
    assert (first["schema_name"], first["charter_id"], first["charter_version"]) == (
        "air-quality-observation",
        "atmo-demo-open",
        "1.0",
    )
    assert first["schema_version"] and first["finished_at"]


def test_the_validation_report_is_frictionless_shaped(client, published, engine):
    body = client.get(f"/api/v1/datasets/{published.open_id}/validation").json()
    assert body["valid"] is False and body["stats"]["errors"] >= published.bad_rows
    task = body["tasks"][0]
    assert task["stats"]["rows"] == published.valid_rows + published.bad_rows
    assert task["labels"] == FIELDS
    assert {e["rowNumber"] for e in task["errors"]} == {
        published.valid_rows + 2 + i for i in range(published.bad_rows)
    }
    assert all(e["type"] for e in task["errors"])


def test_the_validation_report_of_another_run_and_after_a_refusal(client, published, engine):
    clean = publish(
        air_batch(
            published.open_id, "atmo-demo-open", "Air quality, Rennes", observation_rows().head(6)
        ),
        engine=engine,
    )
    latest = client.get(f"/api/v1/datasets/{published.open_id}/validation").json()
    assert latest["valid"] is True and latest["stats"]["errors"] == 0
    first = client.get(
        f"/api/v1/datasets/{published.open_id}/validation", params={"run": published.run_id}
    ).json()
    assert first["valid"] is False
    with pytest.raises(PublishRefused):
        renamed = observation_rows().head(3).rename({"unit": "unité"})
        publish(air_batch(published.open_id, "atmo-demo-open", "Air", renamed), engine=engine)
    # a refused batch checked no rows: the newest report is still the clean run's
    again = client.get(f"/api/v1/datasets/{published.open_id}/validation").json()
    assert again == latest and clean.status == "succeeded"


def test_a_run_of_another_dataset_or_unknown_is_a_404(client, published):
    other = client.get(f"/api/v1/datasets/{published.closed['crisis']}/runs").json()["runs"][0]
    for run in (other["id"], 999_999):
        response = client.get(
            f"/api/v1/datasets/{published.open_id}/validation", params={"run": run}
        )
        assert response.status_code == 404 and str(run) in response.json()["detail"]


def test_quarantined_rows_come_with_their_reasons(client, published):
    body = client.get(f"/api/v1/datasets/{published.open_id}/quarantine").json()
    assert body["run"] == published.run_id and body["count"] == published.bad_rows
    assert body["next"] is None
    rows = {r["cells"]["station_id"]: r for r in body["rows"]}
    assert set(rows) == {"bad-0", "bad-1", "bad-2"}
    assert rows["bad-0"]["cells"]["value"] == "-5"
    assert rows["bad-1"]["cells"]["pollutant"] == "pm3"
    assert rows["bad-0"]["row"] == published.valid_rows + 2
    assert all(r["errors"] for r in body["rows"])
    paged = client.get(f"/api/v1/datasets/{published.open_id}/quarantine?limit=2").json()
    assert len(paged["rows"]) == 2 and "cursor=" in paged["next"]
    rest = client.get(paged["next"]).json()
    assert rest["next"] is None
    assert [r["row"] for r in paged["rows"] + rest["rows"]] == [r["row"] for r in body["rows"]]


def test_quarantined_rows_download_as_csv(client, published):
    response = client.get(f"/api/v1/datasets/{published.open_id}/quarantine?format=csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(response.text)))
    assert table[0] == ["_row", *FIELDS, "_errors"]
    assert len(table) == 1 + published.bad_rows
    by_station = {row[1]: row for row in table[1:]}
    assert by_station["bad-1"][3] == "pm3" and by_station["bad-1"][-1]
    assert int(by_station["bad-0"][0]) == published.valid_rows + 2


def test_a_later_clean_run_has_no_quarantine(client, published, engine):
    again = observation_rows().head(6)
    clean = publish(air_batch(published.open_id, "atmo-demo-open", "Air", again), engine=engine)
    latest = client.get(f"/api/v1/datasets/{published.open_id}/quarantine").json()
    assert (latest["run"], latest["count"], latest["rows"]) == (clean.id, 0, [])
    first = client.get(
        f"/api/v1/datasets/{published.open_id}/quarantine", params={"run": published.run_id}
    ).json()
    assert first["count"] == published.bad_rows


@pytest.mark.parametrize("level", ["restricted", "personal", "crisis"])
def test_closed_records_and_quarantine_ask_anonymous_callers_for_a_token(client, published, level):
    dataset_id = published.closed[level]
    for path in (
        "/records",
        "/records?format=csv",
        "/records?format=geojson",
        "/quarantine",
        "/quarantine?format=csv",
        "/validation",
        f"/quarantine?run={published.run_id}",
    ):
        response = client.get(f"/api/v1/datasets/{dataset_id}{path}")
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert dataset_id in response.json()["detail"]


def test_the_openapi_document_lists_the_routes_with_summaries(client):
    spec = client.get("/openapi.json").json()
    for path in (
        "/api/v1/datasets",
        "/api/v1/datasets/{dataset_id}",
        "/api/v1/datasets/{dataset_id}/records",
        "/api/v1/datasets/{dataset_id}/runs",
        "/api/v1/datasets/{dataset_id}/validation",
        "/api/v1/datasets/{dataset_id}/quarantine",
    ):
        assert spec["paths"][path]["get"]["summary"], path
    assert client.get("/docs").status_code == 200


def test_the_open_validation_report_keeps_its_cell_values(client, published):
    opened = client.get(f"/api/v1/datasets/{published.open_id}/validation").json()
    assert "pm3" in str(opened) and all("cells" in e for e in opened["tasks"][0]["errors"])


def test_run_errors_of_closed_datasets_do_not_quote_their_rows(client, published, engine):
    from sqlmodel import Session

    from hub.models import HarvestRun

    dataset_id = published.closed["personal"]
    with Session(engine) as session:
        session.add(
            HarvestRun(
                dataset_id=dataset_id,
                status="failed",
                error="ReaderError: row 3 'HOUSEHOLD-SECRET-7' is not a number",
            )
        )
        session.commit()
    runs = client.get(f"/api/v1/datasets/{dataset_id}/runs").json()["runs"]
    assert "HOUSEHOLD-SECRET-7" not in str(runs)
    assert any(r["error"].startswith("ReaderError (details withheld") for r in runs)
    page = client.get(f"/datasets/{dataset_id}", headers={"Accept-Language": "en"}).text
    assert "HOUSEHOLD-SECRET-7" not in page and "details withheld" in page


def test_the_search_counts_facets_beside_their_filters(client, published):
    body = client.get("/api/v1/datasets", params={"access": "open"}).json()
    assert body["count"] == 1
    access_levels = {f["value"]: f["count"] for f in body["facets"]["access"]}
    assert access_levels["open"] == 1 and sum(access_levels.values()) == 4
    assert body["facets"]["theme"] == [{"value": "air-quality", "count": 1}]
    assert {"licence", "organization", "format", "tag"} <= set(body["facets"])


def test_the_search_filters_by_area_dates_and_sorts(client, published):
    inside = client.get("/api/v1/datasets", params={"bbox": "-180,-90,180,90"}).json()
    assert [d["id"] for d in inside["datasets"]] == [published.open_id]  # the others are closed
    far = client.get("/api/v1/datasets", params={"from": "2099-01-01T00:00:00Z"}).json()
    assert far["count"] == 0
    covered = client.get("/api/v1/datasets", params={"from": "2026-03-01T00:00:00Z"}).json()
    assert [d["id"] for d in covered["datasets"]] == [published.open_id]
    names = [d["id"] for d in client.get("/api/v1/datasets?sort=name").json()["datasets"]]
    assert names == sorted(names)
    assert [d["id"] for d in client.get("/api/v1/datasets?sort=-name").json()["datasets"]] == (
        names[::-1]
    )


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("sort=colour", "colour"),
        ("bbox=1,2,3", "bbox"),
        ("station_id=X", "station_id"),
        ("themes=energy", "themes"),
    ],
)
def test_the_search_refuses_what_it_cannot_honour(client, query, named):
    response = client.get(f"/api/v1/datasets?{query}")
    assert response.status_code == 400
    assert named in response.json()["detail"]


@pytest.mark.parametrize(
    "words", ["", "crisis", "rennes atmo", "hourly", "no2", "nitrogen dioxide"]
)
def test_rest_ckan_and_the_pages_find_the_same_datasets(client, words):
    rest = client.get("/api/v1/datasets", params={"q": words, "limit": 1000}).json()
    ckan = client.get("/api/3/action/package_search", params={"q": words, "rows": 1000}).json()
    page = client.get("/", params={"q": words}, headers={"Accept-Language": "en"}).text
    assert {d["id"] for d in rest["datasets"]} == {p["name"] for p in ckan["result"]["results"]}
    assert rest["count"] == ckan["result"]["count"]
    assert f"<strong>{rest['count']}</strong> dataset" in page


# --- RUDI's metadata names (rudi_selfdata.md §1.3) -------------------------------------------

RUDI_FIELDS = {
    *("global_id", "local_id", "resource_title", "synopsis", "theme", "keywords", "producer"),
    *("access_condition", "dataset_dates", "available_formats", "storage_status"),
    *("temporal_spread", "geography"),
}


def test_the_detail_names_an_open_dataset_as_rudi_does(client, published):
    body = client.get(f"/api/v1/datasets/{published.open_id}").json()
    rudi = body["rudi"]
    assert set(rudi) == RUDI_FIELDS
    url = f"http://testserver/api/v1/datasets/{published.open_id}"
    assert rudi["global_id"] == str(uuid.uuid5(uuid.NAMESPACE_URL, url))
    assert (rudi["local_id"], rudi["resource_title"]) == (published.open_id, body["title"])
    assert rudi["synopsis"] == [{"lang": "en", "text": body["description"]}]
    assert (rudi["theme"], rudi["keywords"]) == ("environment", ["no2", "pm25", "rennes"])
    assert rudi["producer"]["organization_id"] == "atmo-demo"
    assert rudi["producer"]["organization_name"] == "Atmo Démo"
    condition = rudi["access_condition"]
    assert condition["confidentiality"] == {"restricted_access": False, "gdpr_sensitive": False}
    assert condition["licence"] == {
        "licence_type": "STANDARD", "licence_label": "etalab-2.0",
        "custom_licence_label": None, "custom_licence_uri": None,
    }  # fmt: skip
    assert condition["mandatory_mention"] == [
        {"lang": "en", "text": "Source: Atmo Demo, demonstration air-quality observatory"}
    ]
    assert condition["usage_constraint"] == [
        {"lang": "en", "text": "public-information, research, service-development"}
    ]
    assert condition["access_constraint"][0]["text"].startswith("open: anyone")
    dates = rudi["dataset_dates"]
    assert dates["published"] == body["freshness"]["published_at"]
    assert dates["updated"] == body["freshness"]["modified_at"] and dates["created"]
    assert rudi["temporal_spread"] == {
        "start_date": "2026-03-01T00:00:00Z", "end_date": "2026-03-01T23:00:00Z"
    }  # fmt: skip
    box = rudi["geography"]["bounding_box"]
    corners = ("west_longitude", "south_latitude", "east_longitude", "north_latitude")
    assert [box[k] for k in corners] == pytest.approx(body["freshness"]["bbox"])
    assert rudi["geography"]["projection"] == "WGS 84 (EPSG:4326)"
    assert rudi["storage_status"] == "online"


def test_rudi_formats_are_the_hubs_services_with_their_media_types(client, published):
    formats = client.get(f"/api/v1/datasets/{published.open_id}").json()["rudi"]
    media = formats["available_formats"]
    api = f"http://testserver/api/v1/datasets/{published.open_id}"
    assert [(m["file_type"], m["connector"]["url"], m["connector"]["interface_contract"])
            for m in media] == [
        ("application/json", f"{api}/records", "api"),
        ("text/csv", f"{api}/records?format=csv", "dwnl"),
        ("application/geo+json", f"{api}/records?format=geojson", "dwnl"),
        ("application/zip", f"{api}/datapackage.zip", "dwnl"),
    ]  # fmt: skip
    assert {m["media_type"] for m in media} == {"SERVICE"}
    assert {m["api_documentation_url"] for m in media} == {"http://testserver/docs"}
    ids = [m["media_id"] for m in media]
    assert len(set(ids)) == 4 and all(uuid.UUID(i).version == 5 for i in ids)
    assert client.get(media[1]["connector"]["url"]).status_code == 200


def test_rudi_global_ids_are_stable_and_follow_the_public_url(engine, published, monkeypatch):
    from api.support import client_for

    from hub.config import get_settings

    with client_for(engine) as first:
        before = {
            d: first.get(f"/api/v1/datasets/{d}").json()["rudi"]["global_id"]
            for d in (published.open_id, *published.closed.values())
        }
    with client_for(engine) as restarted:
        again = restarted.get(f"/api/v1/datasets/{published.open_id}").json()["rudi"]
    assert again["global_id"] == before[published.open_id]
    assert len(set(before.values())) == 4
    monkeypatch.setenv("HUB_PUBLIC_URL", "https://data.example.org/hub/")
    get_settings.cache_clear()
    with client_for(engine) as public:
        shown = public.get(f"/api/v1/datasets/{published.open_id}").json()["rudi"]
    url = f"https://data.example.org/hub/api/v1/datasets/{published.open_id}"
    assert shown["global_id"] == str(uuid.uuid5(uuid.NAMESPACE_URL, url))


def test_rudi_names_of_closed_datasets_withhold_what_rows_tell(client, published, engine):
    from api.support import bearer

    for level, dataset_id in published.closed.items():
        rudi = client.get(f"/api/v1/datasets/{dataset_id}").json()["rudi"]
        assert rudi["temporal_spread"] is None and rudi["geography"] is None, level
        condition = rudi["access_condition"]
        assert condition["confidentiality"] == {
            "restricted_access": True, "gdpr_sensitive": level == "personal"
        }  # fmt: skip
        assert condition["licence"] == {
            "licence_type": "CUSTOM", "licence_label": None,
            "custom_licence_label": [{"lang": "en", "text": "Agreement for tests"}],
            "custom_licence_uri": "https://example.org/agreement",
        }  # fmt: skip
        assert condition["mandatory_mention"][0]["text"] == f"Source: Atmo Démo ({level})"
        assert condition["access_constraint"][0]["text"].startswith(
            {"restricted": "restricted", "personal": "personal", "crisis": "crisis"}[level]
        )
        assert "2026-03-01" not in str(rudi) and "-1.68" not in str(rudi)
    producer = bearer(engine, "operator", "atmo-demo")
    restricted = published.closed["restricted"]
    rudi = client.get(f"/api/v1/datasets/{restricted}", headers=producer).json()["rudi"]
    assert rudi["temporal_spread"]["start_date"] == "2026-03-01T00:00:00Z"
    assert rudi["geography"]["bounding_box"]["west_longitude"] == pytest.approx(-1.68)


def test_rudi_texts_say_their_language(client, published, engine):
    batch = air_batch(
        "montpellier-air", "atmo-demo-open", "Qualité de l'air à Montpellier", observation_rows()
    )
    batch.description = (
        "Mesures horaires du dioxyde d'azote et des particules, validées par le hub."
    )
    publish(batch, engine=engine)
    rudi = client.get("/api/v1/datasets/montpellier-air").json()["rudi"]
    assert rudi["synopsis"] == [{"lang": "fr", "text": batch.description}]
    # the charter's mention says nothing of its language: the description's is taken
    assert rudi["access_condition"]["mandatory_mention"][0]["lang"] == "fr"
    english = client.get(f"/api/v1/datasets/{published.open_id}").json()["rudi"]
    assert english["synopsis"][0]["lang"] == "en"


def test_rudi_formats_of_a_grid_and_of_a_portals_files(client, published, engine, samples):
    from datetime import UTC, datetime

    from hub.batches import (
        FileResource,
        GridBatch,
        GridVariable,
        MetadataBatch,
        PortalDataset,
        Publisher,
    )

    usgs = Publisher(id="usgs", name="U.S. Geological Survey")
    common = dict(publisher=usgs, theme="risk", charter="usgs-public-domain")
    publish(
        GridBatch(
            dataset_id="winds", title="Winds", source_id="winds",
            source_url="https://example.org/winds.nc",
            path=samples / "grids" / "xarray-data_eraint_uvz.nc",
            variables=[GridVariable("u", "m s**-1", "U component of wind", ("month",))],
            dimensions={"month": 2}, bbox=[-180.0, -90.0, 179.25, 90.0],
            time_min=datetime(2000, 1, 1, tzinfo=UTC), **common,
        )
    )  # fmt: skip
    portal = PortalDataset(
        id="portal--rivers", title="Rivers", description="About rivers.", keywords=["flood"],
        landing_page="https://portal.example.org/dataset/rivers",
        resources=[FileResource(name="a.csv", url="https://portal.example.org/a.csv",
                                format="CSV"),
                   FileResource(name="b", url="https://portal.example.org/b", format="")],
    )  # fmt: skip
    publish(
        MetadataBatch(dataset_id="portal", title="A portal", source_id="portal",
                      source_url="https://portal.example.org", datasets=[portal], **common)
    )  # fmt: skip
    winds = client.get("/api/v1/datasets/winds").json()
    assert winds["rudi"]["theme"] == "environment"
    assert [(m["media_name"], m["file_type"], m["connector"]["url"])
            for m in winds["rudi"]["available_formats"]] == [
        ("Grid (NetCDF)", "application/x-netcdf",
         "http://testserver/api/v1/datasets/winds/grid?format=netcdf"),
        ("Grid (JSON)", "application/json",
         "http://testserver/api/v1/datasets/winds/grid?format=json"),
    ]  # fmt: skip
    assert winds["links"]["grid"] == "http://testserver/api/v1/datasets/winds/grid"
    assert "grid" not in client.get(f"/api/v1/datasets/{published.open_id}").json()["links"]
    files = client.get("/api/v1/datasets/portal--rivers").json()["rudi"]["available_formats"]
    assert [(m["media_type"], m["file_type"], m["connector"]) for m in files] == [
        ("FILE", "text/csv", {"url": "https://portal.example.org/a.csv",
                              "interface_contract": "dwnl"}),
        ("FILE", "application/octet-stream", {"url": "https://portal.example.org/b",
                                              "interface_contract": "dwnl"}),
    ]  # fmt: skip


RECORD_LINKS = ["records", "csv", "csv_excel_fr", "xlsx", "geojson", "datapackage", "schema"]
ALWAYS = {"self", "charter", "runs", "ckan", "page"}


def test_a_datasets_links_name_only_what_it_serves_and_each_answers(client, published, engine):
    """A table without coordinates has no GeoJSON link (it answered 400), a portal's files no
    records links (they answered 404), and every link named answers 200."""
    from hub.batches import FileResource, MetadataBatch, PortalDataset, Publisher

    publish(energy_mix_batch("rte-mix"), engine=engine)
    portal = PortalDataset(
        id="portal--rivers", title="Rivers", description="About rivers.", keywords=[],
        landing_page="https://portal.example.org/dataset/rivers",
        resources=[FileResource(name="a.csv", url="https://portal.example.org/a.csv")],
    )  # fmt: skip
    publish(
        MetadataBatch(dataset_id="portal", title="A portal", source_id="portal",
                      source_url="https://portal.example.org", datasets=[portal],
                      publisher=Publisher(id="usgs", name="USGS"), theme="risk",
                      charter="usgs-public-domain")
    )  # fmt: skip
    shown = {
        dataset_id: client.get(f"/api/v1/datasets/{dataset_id}").json()["links"]
        for dataset_id in (published.open_id, "rte-mix", "portal--rivers")
    }
    assert list(shown[published.open_id]) == [
        "self", *RECORD_LINKS, "charter", "validation", "runs", "quarantine", "ckan", "page"
    ]  # fmt: skip
    assert set(shown["rte-mix"]) == ALWAYS | set(RECORD_LINKS) - {"geojson"} | {
        "validation", "quarantine"
    }  # fmt: skip
    assert set(shown["portal--rivers"]) == ALWAYS
    for dataset_id, links in shown.items():
        for name, url in links.items():
            assert client.get(url).status_code == 200, (dataset_id, name, url)
    geojson = client.get("/api/v1/datasets/rte-mix/records?format=geojson")
    assert geojson.status_code == 400  # what the link would have given
    resource = client.get("/api/3/action/package_show?id=rte-mix").json()["result"]["resources"][0]
    assert "GeoJSON" not in resource["description"]


def test_the_list_finds_the_places_records_name_and_suggests_for_typos(client, published):
    """Station names come from the rows (open datasets only); a search that finds nothing is
    offered a correction from the catalogue's words; old data harvested today is stale."""
    found = client.get("/api/v1/datasets", params={"q": "Saint-Aubin"}).json()
    assert [d["id"] for d in found["datasets"]] == [published.open_id]
    assert found["suggestion"] is None
    typo = client.get("/api/v1/datasets", params={"q": "Saint-Aubn"}).json()
    assert typo["count"] == 0 and typo["suggestion"] == "saint aubin"
    assert client.get("/api/v1/datasets", params={"q": "saint aubin"}).json()["count"] == 1
    freshness = found["datasets"][0]["freshness"]
    assert freshness["time_max"] == "2026-03-01T23:00:00Z" and freshness["stale"] is True


def test_only_open_datasets_keep_the_names_their_rows_give(engine, published):
    """Closed datasets' place and taxon names are neither indexed nor even kept."""
    from sqlmodel import Session

    from hub.models import Resource

    with Session(engine) as session:
        kept = {
            dataset_id: (session.get(Resource, f"{dataset_id}-records").details or {}).get("names")
            for dataset_id in [published.open_id, *published.closed.values()]
        }
    assert "Saint-Aubin" in kept.pop(published.open_id)
    assert all(not names for names in kept.values()), kept
