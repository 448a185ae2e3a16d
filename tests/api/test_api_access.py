"""Who reads what over HTTP: tokens, grants on every route, withheld metadata, the access log."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from api.support import CITY_BOX, VALID_ROWS, bearer, client_for
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from hub import tokens
from hub.models import AccessEvent, utcnow

MEMBER = "metropole-civil-protection"
ROW_ROUTES = (
    "/records",
    "/records?format=csv",
    "/records?format=geojson",
    f"/records?bbox={CITY_BOX}&from=2026-03-01T02:00Z&to=2026-03-01T05:00Z",
    "/quarantine",
    "/quarantine?format=csv",
    "/validation",
)


@pytest.fixture
def restricted(published) -> str:
    return published.closed["restricted"]


def log_of(engine, dataset_id: str) -> list[AccessEvent]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(AccessEvent)
                .where(AccessEvent.dataset_id == dataset_id)
                .order_by(AccessEvent.id)
            ).all()
        )


def test_the_producers_operator_reads_its_restricted_dataset_on_every_route(
    client, engine, restricted, published
):
    operator = bearer(engine, "operator", "atmo-demo")
    for path in ROW_ROUTES:
        response = client.get(f"/api/v1/datasets/{restricted}{path}", headers=operator)
        assert response.status_code == 200, (path, response.text)
    records = client.get(
        f"/api/v1/datasets/{restricted}/records?limit=1000", headers=operator
    ).json()["records"]
    assert len(records) == VALID_ROWS
    quarantine = client.get(f"/api/v1/datasets/{restricted}/quarantine", headers=operator).json()
    assert quarantine["count"] == published.bad_rows and "pm3" in str(quarantine["rows"])
    csv = client.get(f"/api/v1/datasets/{restricted}/records?format=csv", headers=operator).text
    assert csv.count("\n") == VALID_ROWS + 1


def test_a_member_agency_reads_records_and_another_organization_cannot(client, engine, restricted):
    member = bearer(engine, "agency", "a-town", MEMBER)
    outsider = bearer(engine, "agency", "another-org")
    for path in ROW_ROUTES:
        url = f"/api/v1/datasets/{restricted}{path}"
        assert client.get(url, headers=member).status_code == 200, path
        refused = client.get(url, headers=outsider)
        assert refused.status_code == 403, path
        assert "restricted" in refused.json()["detail"]
        assert client.get(url).status_code == 401, path


@pytest.mark.parametrize(
    "role,orgs",
    [
        ("subject", ()),
        ("admin", ()),
        ("service", ()),
        ("crisis-cell", ()),
        ("operator", ("another-op",)),
    ],
)
def test_tokens_that_are_not_members_read_no_row(client, engine, restricted, role, orgs):
    headers = bearer(engine, role, *orgs)
    for path in ROW_ROUTES:
        assert (
            client.get(f"/api/v1/datasets/{restricted}{path}", headers=headers).status_code == 403
        ), path


def test_what_is_computed_from_rows_goes_to_grantees_only(client, engine, restricted):
    member = bearer(engine, "agency", MEMBER)
    outsider = bearer(engine, "agency", "another-org")
    for headers in ({}, outsider):
        shown = client.get(f"/api/v1/datasets/{restricted}", headers=headers).json()
        assert shown["record_count"] is None
        assert shown["freshness"]["bbox"] is None and shown["freshness"]["time_min"] is None
        assert shown["last_run"]["rows_read"] is None and shown["title"]
        listed = client.get("/api/v1/datasets", params={"q": "restricted"}, headers=headers)
        assert listed.json()["datasets"][0]["record_count"] is None
        runs = client.get(f"/api/v1/datasets/{restricted}/runs", headers=headers).json()["runs"]
        assert all(r["rows_published"] is None for r in runs)
        package = client.get(
            "/api/3/action/package_show", params={"id": restricted}, headers=headers
        ).json()["result"]
        extras = {e["key"] for e in package["extras"]}
        assert not extras & {
            "record_count",
            "temporal_start",
            "temporal_end",
            "bbox",
            "spatial",
            "source_url",
        }
        assert package["resources"][0]["record_count"] is None
        page = client.get(f"/datasets/{restricted}", headers=headers).text
        # the count as a number of its own: a time's 16:02:39.014459 holds "144" by chance
        assert "-1.68" not in page and "2026-03-01 23:00" not in page
        assert not re.search(r"(?<![0-9.])144(?![0-9])", page)
    granted = client.get(f"/api/v1/datasets/{restricted}", headers=member).json()
    assert granted["record_count"] == VALID_ROWS and granted["freshness"]["bbox"]
    package = client.get(
        "/api/3/action/package_show", params={"id": restricted}, headers=member
    ).json()["result"]
    assert {e["key"]: e["value"] for e in package["extras"]}["record_count"] == str(VALID_ROWS)


def test_ckan_search_by_computed_extras_finds_nothing_for_outsiders(client, engine, restricted):
    query = {"q": f"extras_record_count:{VALID_ROWS}", "rows": 100}
    anonymous = client.get("/api/3/action/package_search", params=query).json()["result"]
    assert restricted not in [p["name"] for p in anonymous["results"]]
    member = client.get(
        "/api/3/action/package_search", params=query, headers=bearer(engine, "agency", MEMBER)
    ).json()["result"]
    assert restricted in [p["name"] for p in member["results"]]


def test_ckan_routes_take_the_raw_token_and_x_ckan_api_key(client, engine, restricted):
    raw = bearer(engine, "agency", MEMBER)["Authorization"].removeprefix("Bearer ")
    for headers in ({"Authorization": raw}, {"X-CKAN-API-Key": raw}):
        package = client.get(
            "/api/3/action/package_show", params={"id": restricted}, headers=headers
        ).json()["result"]
        assert package["resources"][0]["record_count"] == VALID_ROWS
    # The raw form is CKAN's alone: the native API wants `Bearer`.
    native = client.get(f"/api/v1/datasets/{restricted}/records", headers={"Authorization": raw})
    assert native.status_code == 401


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1],
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
        lambda t: t + "x",
        lambda t: t.replace("hub.", "hub.0", 1),
        lambda t: "hub." + "0" * 16 + "." + "A" * 43,
        lambda t: "",
        lambda t: "Bearer",
        lambda t: t.upper(),
    ],
)
def test_forged_and_truncated_tokens_are_401(client, engine, restricted, mangle):
    token = bearer(engine, "operator", "atmo-demo")["Authorization"].removeprefix("Bearer ")
    response = client.get(
        f"/api/v1/datasets/{restricted}/records",
        headers={"Authorization": f"Bearer {mangle(token)}"},
    )
    assert response.status_code == 401
    assert "records" not in response.text and "st-a" not in response.text
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_expired_and_revoked_tokens_stop_on_the_next_request(client, engine, restricted):
    headers = bearer(engine, "operator", "atmo-demo")
    url = f"/api/v1/datasets/{restricted}/records"
    assert client.get(url, headers=headers).status_code == 200
    token_id = headers["Authorization"].split(".")[1]
    with Session(engine) as session:
        tokens.revoke(session, token_id)
    refused = client.get(url, headers=headers)
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    expired = bearer(engine, "operator", "atmo-demo", expires=utcnow() - timedelta(seconds=1))
    refused = client.get(url, headers=expired)
    assert refused.status_code == 401 and "expired" in refused.json()["detail"]


def test_tokens_in_a_query_string_are_refused(client, engine, restricted):
    token = bearer(engine, "operator", "atmo-demo")["Authorization"].removeprefix("Bearer ")
    for name in ("token", "access_token", "api_key", "apikey"):
        response = client.get(f"/api/v1/datasets/{restricted}/records", params={name: token})
        assert response.status_code == 400 and "query string" in response.json()["detail"]
        ckan = client.get("/api/3/action/package_show", params={"id": restricted, name: token})
        assert ckan.status_code == 400 and ckan.json()["success"] is False


def test_a_client_guessing_tokens_gets_429_without_slowing_others(engine, published):
    restricted = published.closed["restricted"]
    url = f"/api/v1/datasets/{restricted}/records"
    operator = bearer(engine, "operator", "atmo-demo")
    with client_for(engine) as attacker:
        statuses = [
            attacker.get(
                url, headers={"Authorization": f"Bearer hub.{i:016x}.{'A' * 43}"}
            ).status_code
            for i in range(40)
        ]
        assert statuses[:20] == [401] * 20 and set(statuses[20:]) == {429}
        last = attacker.get(url, headers={"Authorization": "Bearer nope"})
        assert last.status_code == 429 and int(last.headers["retry-after"]) >= 1
        # Anonymous reads of open data from the same client still work.
        assert attacker.get("/api/v1/datasets").status_code == 200
        other = TestClient(attacker.app, client=("192.0.2.7", 5000))
        assert other.get(url, headers=operator).status_code == 200


def test_a_valid_token_is_never_refused_for_bad_ones_from_its_address(engine, published):
    # Everyone behind one proxy shares an address: 20 typos there must not lock the rest out.
    restricted = published.closed["restricted"]
    url = f"/api/v1/datasets/{restricted}/records"
    operator = bearer(engine, "operator", "atmo-demo")
    ckan = {"X-CKAN-API-Key": operator["Authorization"].split()[1]}
    search = f"/api/3/action/datastore_search?resource_id={restricted}-records"
    with client_for(engine) as shared:
        for guess in range(20):
            bad = shared.get(url, headers={"Authorization": f"Bearer hub.{guess:016x}.{'A' * 43}"})
            assert bad.status_code == 401
        assert shared.get(url, headers={"Authorization": "Bearer nope"}).status_code == 429
        assert shared.get(url, headers=operator).status_code == 200
        assert shared.get(search, headers=ckan).json()["success"] is True
        assert shared.get(search, headers={"X-CKAN-API-Key": "nope"}).status_code == 429


def test_every_read_and_refusal_of_non_open_data_is_logged(client, engine, restricted, published):
    operator = bearer(engine, "operator", "atmo-demo")
    outsider = bearer(engine, "agency", "another-org")
    client.get(
        f"/api/v1/datasets/{restricted}/records?limit=5",
        headers={**operator, "X-Purpose": "network planning"},
    )
    client.get(f"/api/v1/datasets/{restricted}/records")
    client.get(f"/api/v1/datasets/{restricted}/quarantine?format=csv", headers=outsider)
    client.get(f"/api/v1/datasets/{published.open_id}/records")  # open: nobody's secret
    granted, anonymous, refused = log_of(engine, restricted)
    assert (granted.outcome, granted.scope, granted.rows) == ("granted", "all", 5)
    assert granted.actor_role == "operator" and granted.organization == "atmo-demo"
    assert granted.purpose == "network planning" and granted.route.endswith("/records")
    assert (anonymous.outcome, anonymous.actor_id, anonymous.scope) == (
        "denied",
        "anonymous",
        "none",
    )
    assert refused.outcome == "denied" and refused.actor_role == "agency"
    assert log_of(engine, published.open_id) == []


def test_operators_read_the_log_of_their_datasets_and_admins_all(client, engine, restricted):
    operator = bearer(engine, "operator", "atmo-demo")
    other_operator = bearer(engine, "operator", "another-op")
    client.get(f"/api/v1/datasets/{restricted}/records", headers=operator)
    client.get(f"/api/v1/datasets/{restricted}/records")
    mine = client.get("/api/v1/access-log", headers=operator).json()["entries"]
    assert [e["outcome"] for e in mine] == ["granted", "denied"]
    assert client.get("/api/v1/access-log", headers=other_operator).json()["entries"] == []
    admin = client.get("/api/v1/access-log", headers=bearer(engine, "admin")).json()["entries"]
    # both reads of records, then the two operators' reads of the log
    assert [e["scope"] for e in admin] == ["all", "none", "log", "log"]
    assert admin[1]["prev_hash"] == admin[0]["hash"]
    one = client.get(
        "/api/v1/access-log", params={"dataset": restricted, "limit": 1}, headers=operator
    ).json()
    assert len(one["entries"]) == 1 and "after=" in one["next"]
    assert client.get(one["next"], headers=operator).json()["entries"][0]["id"] == 2
    assert client.get("/api/v1/access-log").status_code == 401
    for role, orgs in (("agency", ("atmo-demo",)), ("subject", ()), ("crisis-cell", ())):
        assert (
            client.get("/api/v1/access-log", headers=bearer(engine, role, *orgs)).status_code == 403
        )


def test_reads_of_the_access_log_are_logged_in_it(client, engine, restricted):
    operator = bearer(engine, "operator", "atmo-demo")
    client.get(f"/api/v1/datasets/{restricted}/records", headers=operator)
    query = {"dataset": restricted, "from": "2020-01-01T00:00:00Z"}
    assert (
        len(client.get("/api/v1/access-log", params=query, headers=operator).json()["entries"]) == 1
    )
    with Session(engine) as session:
        operator_id = tokens.check(session, operator["Authorization"][7:]).id
    read = log_of(engine, restricted)[-1]
    assert (read.actor_id, read.actor_role, read.scope, read.rows) == (
        operator_id,
        "operator",
        "log",
        1,
    )
    assert read.producer == "atmo-demo" and read.outcome == "granted"
    assert read.route.startswith("/api/v1/access-log?") and f"dataset={restricted}" in read.route
    assert "from=2020-01-01" in read.route
    # the operator sees their read of the log in it; another operator does not
    seen = client.get("/api/v1/access-log", headers=operator).json()["entries"]
    assert seen[-1]["scope"] == "log" and seen[-1]["actor_id"] == operator_id
    other = bearer(engine, "operator", "another-op")
    assert client.get("/api/v1/access-log", headers=other).json()["entries"] == []
    # an admin's read of everything is logged too, naming no dataset
    admin = bearer(engine, "admin")
    client.get("/api/v1/access-log", headers=admin)
    with Session(engine) as session:
        last = session.exec(select(AccessEvent).order_by(AccessEvent.id.desc())).first()
    assert (last.actor_role, last.scope, last.dataset_id, last.route) == (
        "admin",
        "log",
        "*",
        "/api/v1/access-log",
    )


def test_no_read_of_closed_data_is_served_when_the_log_cannot_be_written(
    client, engine, restricted, published
):
    operator = bearer(engine, "operator", "atmo-demo")
    with engine.begin() as connection:
        # drops its guard triggers too, and on PostgreSQL the subject index's foreign key
        cascade = " CASCADE" if connection.dialect.name == "postgresql" else ""
        connection.exec_driver_sql(f"DROP TABLE accessevent{cascade}")
    for path in ("/records", "/records?format=csv", "/quarantine", "/validation"):
        response = client.get(f"/api/v1/datasets/{restricted}{path}", headers=operator)
        assert response.status_code == 503, path
        assert "st-a" not in response.text and "access log" in response.json()["detail"]
    page = client.get(f"/datasets/{restricted}", headers=operator)
    assert page.status_code == 503 and "st-a" not in page.text
    assert client.get(f"/api/v1/datasets/{published.open_id}/records").status_code == 200


def test_an_auditors_misspelt_filter_is_a_400_not_the_whole_log(client, engine, restricted):
    operator, admin = bearer(engine, "operator", "atmo-demo"), bearer(engine, "admin")
    client.get(f"/api/v1/datasets/{restricted}/records")  # a refused read: the log has an entry
    with Session(engine) as session:
        before = len(session.exec(select(AccessEvent)).all())
    for query in ("organization=telecom-demo", "producer=telecom-demo", "cursor='", "cursor=x"):
        for headers in (operator, admin):
            answer = client.get(f"/api/v1/access-log?{query}", headers=headers)
            assert answer.status_code == 400, (query, answer.text)
            name = query.split("=")[0]
            assert answer.json()["detail"] == (
                f"unknown parameter {name!r}: the access log takes dataset, from, to, after, limit"
            )
    for bad in ("after=garbage", "after=-1", "limit=0"):  # its own paging parameter, checked
        assert client.get(f"/api/v1/access-log?{bad}", headers=admin).status_code == 400
    with Session(engine) as session:  # a refused read of the log took nothing: nothing logged
        assert len(session.exec(select(AccessEvent)).all()) == before
    assert client.get("/api/v1/access-log?dataset=x&after=0", headers=admin).status_code == 200
