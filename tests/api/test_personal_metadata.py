"""A personal dataset shows the public only what its operator declared: no row, no exact count,
no time range, no extent computed from its rows — through the REST API, CKAN's actions, DCAT and
the UI, to an anonymous caller, an agency or another operator alike. Its own operator, as a
check that the values looked for would be found, sees them all."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from api.support import bearer
from loadcurves import curves, frame_of, reading
from rdflib import Graph, Literal

from hub.catalogue import publish
from hub.pseudonyms import pseudonym

START = datetime(2026, 7, 13, 5, tzinfo=UTC)  # rows from 2026-07-13 05:00 to 07-14 00:00
METERS = ("30002512345678", "30002598765432")
COUNT = 37  # 20 hours of one household, 17 of the other
CURVES = "household-curves"
SECRETS = ("2026-07-13", "2026-07-14", *METERS, *(pseudonym("grid-demo", m) for m in METERS))


@pytest.fixture
def personal(engine, published) -> dict[str, str]:
    """Load curves of two households beside the support catalogue; their path per surface."""
    rows = [reading(METERS[0], hour, START) for hour in range(20)]
    rows += [reading(METERS[1], hour, START) for hour in range(17)]
    assert publish(curves(frame_of(rows)), engine=engine).rows_published == COUNT
    return {
        "rest": f"/api/v1/datasets/{CURVES}",
        "search": "/api/v1/datasets?q=household",
        "ckan": f"/api/3/action/package_show?id={CURVES}",
        "ckan-search": "/api/3/action/package_search?q=household",
        "resource": f"/api/3/action/resource_show?id={CURVES}-records",
        "runs": f"/api/v1/datasets/{CURVES}/runs",
        "dcat": f"/api/v1/datasets/{CURVES}/dcat.ttl",
        "catalog": "/catalog.ttl",
        "catalog-jsonld": "/catalog.jsonld",
        "page": f"/datasets/{CURVES}",
    }


def outsiders(engine) -> dict[str, dict[str, str]]:
    return {
        "anonymous": {},
        "agency": bearer(engine, "agency", "metropole-civil-protection", "regional-health-agency"),
        "other operator": bearer(engine, "operator", "atmo-demo"),
    }


def numbers_in(value: Any) -> list[float]:
    """Every number of a decoded JSON document (booleans aside)."""
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [value]
    if isinstance(value, dict):
        return [n for item in value.values() for n in numbers_in(item)]
    if isinstance(value, list):
        return [n for item in value for n in numbers_in(item)]
    return []


def count_in_text(text: str) -> bool:
    """Whether the exact row count stands alone in a text (not inside a time or a hash)."""
    return re.search(rf"(?<![\w.:-]){COUNT}(?![\w.:])", text) is not None


def test_outsiders_see_no_row_count_time_or_extent(client, engine, personal):
    for who, headers in outsiders(engine).items():
        for surface, path in personal.items():
            response = client.get(path, headers=headers)
            assert response.status_code == 200, (who, surface, response.text)
            text = response.text
            for secret in SECRETS:
                assert secret not in text, (who, surface, secret)
            if response.headers["content-type"].startswith("application/json") or path.endswith(
                ".jsonld"
            ):
                assert COUNT not in numbers_in(response.json()), (who, surface)
            elif path.endswith(".ttl"):
                graph = Graph().parse(data=text, format="turtle")
                assert Literal(COUNT) not in set(graph.objects()), (who, surface)
            else:
                assert not count_in_text(text), (who, surface)


def test_outsiders_get_nulls_where_the_operator_gets_values(client, engine, personal):
    operator = bearer(engine, "operator", "grid-demo")
    own = client.get(personal["rest"], headers=operator).json()
    assert own["record_count"] == COUNT
    assert own["freshness"]["time_min"] == "2026-07-13T05:00:00Z"
    assert own["last_run"]["rows_published"] == COUNT
    for who, headers in outsiders(engine).items():
        seen = client.get(personal["rest"], headers=headers).json()
        assert seen["record_count"] is None, who
        freshness = seen["freshness"]
        assert (freshness["time_min"], freshness["time_max"], freshness["bbox"]) == (None,) * 3
        assert {k: v for k, v in seen["last_run"].items() if k.startswith("rows_")} == {
            "rows_read": None,
            "rows_published": None,
            "rows_updated": None,
            "rows_quarantined": None,
            "rows_skipped": None,
        }
        rudi = seen["rudi"]
        assert (rudi.get("dataset_size"), rudi.get("temporal_spread"), rudi.get("geography")) == (
            None,
            None,
            None,
        )
        package = client.get(personal["ckan"], headers=headers).json()["result"]
        assert [r["record_count"] for r in package["resources"]] == [None], who
        extras = {e["key"] for e in package["extras"]}
        assert not extras & {"record_count", "temporal_start", "temporal_end", "spatial"}, who
        records = client.get(f"{personal['rest']}/records", headers=headers)
        assert records.status_code in (401, 403) and METERS[0] not in records.text


def test_the_operator_check_finds_what_outsiders_do_not_get(client, engine, personal):
    """The same scan over the producer's own view finds the values: the scan is not blind."""
    operator = bearer(engine, "operator", "grid-demo")
    found = {surface: client.get(path, headers=operator).text for surface, path in personal.items()}
    for surface in ("rest", "search", "ckan", "dcat", "catalog", "catalog-jsonld", "page"):
        assert "2026-07-13" in found[surface] and "2026-07-14" in found[surface], surface
    for surface in ("rest", "ckan", "ckan-search", "resource"):
        assert COUNT in numbers_in(json.loads(found[surface])), surface
    assert count_in_text(found["page"])


def test_a_personal_dataset_with_coordinates_keeps_its_extent_to_itself(client, engine, published):
    personal = published.closed["personal"]  # air observations, one station per subject
    operator = client.get(
        f"/api/v1/datasets/{personal}", headers=bearer(engine, "operator", "atmo-demo")
    ).json()
    assert operator["freshness"]["bbox"] is not None and operator["record_count"] == 144
    for who, headers in outsiders(engine).items():
        if who == "other operator":
            headers = bearer(engine, "operator", "grid-demo")
        detail = client.get(f"/api/v1/datasets/{personal}", headers=headers).json()
        assert (detail["record_count"], detail["freshness"]["bbox"]) == (None, None), who
        document = client.get(f"/api/v1/datasets/{personal}/dcat.ttl", headers=headers).text
        page = client.get(f"/datasets/{personal}", headers=headers).text
        for text in (json.dumps(detail), document, page):
            for coordinate in operator["freshness"]["bbox"]:
                assert f"{coordinate}" not in text, (who, coordinate)
            assert "Rennes Centre" not in text and "Saint-Aubin" not in text
