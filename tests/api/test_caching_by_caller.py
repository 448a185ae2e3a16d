"""Answers that differ with the caller never reach another caller through a shared cache: every
dynamic answer names the caller's headers in `Vary`, and an answer to a caller who showed a
token or the session cookie is `private` unless its route said how it may be cached."""

from __future__ import annotations

import pytest
from api.subjects import (
    ALICE,
    CURVES,
    consent,
    link,
    world_fixture,  # noqa: F401 - the fixture
)
from api.support import bearer, client_for
from ui.pagetext import sign_in


def _vary(response) -> set[str]:
    return {v.strip() for v in response.headers.get("vary", "").split(",") if v.strip()}


# Routes whose answer carries more for a member of the restricted dataset's charter than for a
# visitor (its extent, time range and counts, or the dataset itself in a search).
ROUTES = [
    "/catalog.ttl",
    "/catalog.jsonld",
    "/api/v1/datasets?q=air",
    "/api/3/action/package_search?q=air",
    "/api/3/action/package_show?id={restricted}",
    "/api/v1/datasets/{restricted}/dcat.ttl",
]


@pytest.mark.parametrize("route", ROUTES)
def test_answers_that_depend_on_the_caller_vary_on_the_callers_headers(
    client, engine, published, route
):
    path = route.format(restricted=published.closed["restricted"])
    anonymous = client.get(path)
    assert anonymous.status_code == 200
    assert {"Authorization", "Cookie"} <= _vary(anonymous)
    member = bearer(engine, "agency", "metropole-civil-protection")
    answer = client.get(path, headers=member)
    assert answer.status_code == 200 and answer.content != anonymous.content
    assert {"Authorization", "Cookie"} <= _vary(answer)
    assert answer.headers["cache-control"] == "private, no-cache"
    if path.startswith("/api/3/"):
        assert "X-CKAN-API-Key" in _vary(answer)
        key = member["Authorization"].split()[1]
        by_key = client.get(path, headers={"X-CKAN-API-Key": key})
        assert by_key.headers["cache-control"] == "private, no-cache"


def test_a_signed_in_visitors_answers_are_private(client, engine, published):
    member = bearer(engine, "agency", "metropole-civil-protection")
    assert sign_in(client, member["Authorization"].split()[1]).status_code == 303
    answer = client.get("/catalog.ttl")  # the session cookie alone
    assert answer.headers["cache-control"] == "private, no-cache"
    assert "Cookie" in _vary(answer)


def test_static_files_and_declared_caching_are_left_alone(client, engine, published):
    member = bearer(engine, "agency", "metropole-civil-protection")
    asset = client.get("/static/hub.css", headers=member)
    assert asset.status_code == 200
    assert "Cookie" not in _vary(asset) and "private" not in asset.headers.get("cache-control", "")
    # an open dataset's records: the same for everyone, as their route says
    records = client.get(f"/api/v1/datasets/{published.open_id}/records?limit=1", headers=member)
    assert records.headers["cache-control"] == "no-cache"
    # personal pages keep their own, stricter rule
    closed = client.get(f"/datasets/{published.closed['restricted']}/map.geojson", headers=member)
    assert closed.headers["cache-control"] == "private, no-store"


def test_answers_carrying_personal_data_are_stored_by_no_cache(engine, world):
    """A subject's rows, export, links, consents and access log, and a service's read of them,
    are `no-store`: no browser or app cache keeps them on disk, as the UI's /me."""
    with client_for(engine) as client:
        alice, coach = world.headers["alice"], world.headers["coach"]
        assert link(client, world, "alice", CURVES, ALICE).status_code == 201
        assert consent(client, world, "alice", [CURVES]).status_code == 201
        advice = "purpose=energy-saving-advice"
        raw = {"Authorization": coach["Authorization"].split()[1]}
        answers = [
            client.get(f"/api/v1/datasets/{CURVES}/records?limit=1", headers=alice),
            client.get(f"/api/v1/datasets/{CURVES}/records?format=csv", headers=alice),
            client.get(f"/api/v1/datasets/{CURVES}/records?{advice}", headers=coach),
            client.get(f"/api/v1/datasets/{CURVES}/datapackage.zip?{advice}", headers=coach),
            client.get(
                f"/api/3/action/datastore_search?resource_id={CURVES}-records&{advice}",
                headers=raw,
            ),
            client.get("/api/v1/me", headers=alice),
            client.get("/api/v1/me/consents", headers=alice),
            client.get("/api/v1/me/access-log", headers=alice),
            client.get("/api/v1/me/export", headers=alice),
        ]
        for answer in answers:
            assert answer.status_code == 200, (answer.url, answer.text)
            assert answer.headers["cache-control"] == "private, no-store", answer.url
        # a 304 of personal rows says the same
        tag = answers[0].headers["ETag"]
        again = client.get(
            f"/api/v1/datasets/{CURVES}/records?limit=1", headers={**alice, "If-None-Match": tag}
        )
        assert again.status_code == 304 and again.headers["cache-control"] == "private, no-store"
        # the UI's session cookie on /api/v1/me is personal too
        assert sign_in(client, alice["Authorization"].split()[1]).status_code == 303
        assert client.get("/api/v1/me").headers["cache-control"] == "private, no-store"
