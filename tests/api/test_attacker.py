"""The attacker suite: every route, every kind of actor, generated requests against non-open data.

Closed datasets here hold rows no open dataset has (their own station ids, place, time and row
count), so any trace of them in a response to someone outside the grant is a leak. Grantees are
driven through the same routes to prove the traces would be seen if they leaked.
"""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, quote_plus

import pytest
from api.support import ATMO, air_batch, bearer, client_for, frame_of, publish_catalogue
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.catalogue import publish
from hub.models import utcnow

ROWS = 307  # a count no other dataset has: it must not show up for outsiders either
SECRET_START = datetime(2019, 7, 14, tzinfo=UTC)
MARKERS = ("SECRET-ST", "Hidden site", "5.4321", "43.2109", "2019-07-1", "SECRET-BAD")
COUNT = re.compile(rf"(?<![\w.]){ROWS}(?![\w.])")
# The markers are sought where they could stand, not inside a longer number nor in a time's
# fraction of a second: 18:36:15.432101 holds "5.4321" by chance (a CI run failed on it).
TRACES = [re.compile(rf"(?<![0-9]){re.escape(marker)}") for marker in MARKERS]
TIMES_OF_DAY = re.compile(r"[0-9]{2}:[0-9]{2}:[0-9]{2}[.,][0-9]+")
EXAMPLES = 1000  # per access level; the note of the access issue reports the total
ATTEMPTS: dict[str, int] = {}


def secret_rows() -> list[dict[str, str]]:
    rows = []
    for index in range(ROWS):
        moment = (SECRET_START + timedelta(minutes=15 * index)).strftime("%Y-%m-%dT%H:%M:%SZ")
        rows.append(
            {
                "station_id": f"SECRET-ST-{index % 5}",
                "station_name": "Hidden site",
                "pollutant": "no2",
                "value": f"{index % 40}.25",
                "unit": "µg/m³",
                "averaging_period": "PT15M",
                "observed_at": moment,
                "longitude": f"5.4321{index % 10}",
                "latitude": f"43.2109{index % 10}",
                "quality_flag": "unverified",
            }
        )
    rows += [
        {**rows[0], "station_id": "SECRET-BAD-1", "value": "-9"},
        {**rows[1], "station_id": "SECRET-BAD-2", "pollutant": "pm3"},
    ]
    return rows


@pytest.fixture
def hidden(engine, tmp_path, monkeypatch) -> dict[str, str]:
    """One closed dataset per level, with rows found nowhere else."""
    publish_catalogue(engine, tmp_path / "charters", monkeypatch)
    ids = {}
    for level in ("restricted", "personal", "crisis"):
        ids[level] = f"hidden-{level}"
        publish(
            air_batch(
                ids[level],
                f"atmo-demo-{level}",
                f"Hidden {level} sites",
                frame_of(secret_rows()),
                ATMO,
                [level],
            ),
            engine=engine,
        )
    return ids


def actors(engine) -> dict[str, dict[str, str]]:
    """Everyone who is not a grantee of Atmo Démo's closed datasets, plus forged credentials."""
    revoked = bearer(engine, "agency", "metropole-civil-protection")
    from sqlmodel import Session

    from hub import tokens

    with Session(engine) as session:
        tokens.revoke(session, revoked["Authorization"].split(".")[1])
    real = bearer(engine, "operator", "atmo-demo")["Authorization"]
    return {
        "anonymous": {},
        "forged": {"Authorization": "Bearer hub.0123456789abcdef." + "A" * 43},
        "truncated": {"Authorization": real[:-3]},
        "expired": bearer(engine, "operator", "atmo-demo", expires=utcnow() - timedelta(1)),
        "revoked-member": revoked,
        "other-agency": bearer(engine, "agency", "another-org"),
        "other-operator": bearer(engine, "operator", "another-operator"),
        "subject": bearer(engine, "subject"),
        "service": bearer(engine, "service", "some-app"),
        "crisis-cell": bearer(engine, "crisis-cell", "prefecture"),
        "admin": bearer(engine, "admin"),
        "ckan-raw-forged": {"Authorization": "hub.0123456789abcdef." + "B" * 43},
        "ckan-key-forged": {"X-CKAN-API-Key": "not-a-token"},
    }


# Grantees by level: members of restricted_to read restricted data; nobody else reads personal
# or crisis data yet (their issues add subjects, consents and crises).
MEMBERS = {"restricted": ("agency", "metropole-civil-protection")}

ROUTES = [
    "/api/v1/datasets",
    "/api/v1/datasets/{id}",
    "/api/v1/datasets/{id}/records",
    "/api/v1/datasets/{id}/runs",
    "/api/v1/datasets/{id}/validation",
    "/api/v1/datasets/{id}/quarantine",
    "/api/v1/access-log",
    "/api/3/action/package_show",
    "/api/3/action/package_search",
    "/api/action/package_search",
    "/api/3/action/resource_show",
    "/api/3/action/organization_show",
    "/api/3/action/group_show",
    "/api/3/action/package_list",
    "/api/3/action/tag_list",
    "/",
    "/datasets/{id}",
]

texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
moments = st.one_of(
    st.none(),
    st.sampled_from(
        ["2019-07-14", "2019-07-14T03:00Z", "2026-03-01", "1900-01-01", "9999-12-31T23:59:59Z"]
    ),
    texts,
)
boxes = st.one_of(
    st.none(),
    st.sampled_from(
        ["5.43,43.21,5.44,43.22", "-180,-90,180,90", "5.4,43.2,5.5,43.3", "179,-10,-179,10"]
    ),
    texts,
)
params = st.fixed_dictionaries(
    {},
    optional={
        "from": moments,
        "to": moments,
        "bbox": boxes,
        "limit": st.one_of(st.integers(-5, 20_000).map(str), texts),
        "cursor": st.one_of(
            st.sampled_from(["WyIyMDE5LTA3LTE0VDAwOjAwOjAwKzAwOjAwIiwgMV0", "WzAsIDFd"]), texts
        ),
        "format": st.sampled_from(["json", "csv", "geojson", "xml"]),
        "run": st.one_of(st.integers(-1, 20).map(str), texts),
        "offset": st.one_of(st.integers(0, 400).map(str), texts),
        "q": st.one_of(
            st.sampled_from(
                [
                    "SECRET",
                    "hidden",
                    f"extras_record_count:{ROWS}",
                    "temporal_start:[* TO *]",
                    "extras_bbox:*",
                    "Hidden",
                ]
            ),
            texts,
        ),
        "fq": st.sampled_from(
            [
                "access:restricted",
                "extras_temporal_start:2019*",
                f"record_count:{ROWS}",
                "groups:air-quality",
            ]
        ),
        "sort": st.sampled_from(["record_count desc", "metadata_modified desc", "name asc"]),
        "rows": st.integers(0, 1000).map(str),
        "include_datasets": st.sampled_from(["true"]),
        "dataset": texts,
        "after": st.integers(0, 5).map(str),
    },
)


def leaks(text: str) -> list[str]:
    """Traces of the hidden rows in a response body."""
    text = TIMES_OF_DAY.sub("", text)
    found = [m for m, trace in zip(MARKERS, TRACES, strict=True) if trace.search(text)]
    return found + (["row count"] if COUNT.search(text) else [])


def without_echo(text: str, query: dict[str, str]) -> str:
    """The response without what the caller sent (a search page shows its own query back).

    A value that is part of a trace (q=SECRET) is left in: removing it could hide a leak.
    """
    for value in sorted((v for v in query.values() if isinstance(v, str)), key=len, reverse=True):
        if any(value in marker for marker in MARKERS):
            continue
        for form in {
            value,
            html.escape(value),
            html.escape(value, quote=False),
            json.dumps(value)[1:-1],
            quote(value, safe=""),  # inside a link back to the same page (the language switch)
            quote_plus(value, safe=""),
            quote(quote(value, safe=""), safe=""),  # a query string inside a link's query
        }:
            if len(form) > 2:
                text = text.replace(form, "")
    return text


def call(client, route: str, dataset_id: str, query: dict[str, str], headers: dict[str, str]):
    path = route.format(id=dataset_id)
    if "action/" in route:
        query = {
            **query,
            "id": {
                "resource_show": f"{dataset_id}-records",
                "organization_show": "atmo-demo",
                "group_show": "air-quality",
            }.get(route.rsplit("/", 1)[1], dataset_id),
        }
    return client.get(path, params=query, headers=headers)


@pytest.mark.parametrize("level", ["restricted", "personal", "crisis"])
def test_no_trace_of_closed_rows_reaches_anyone_outside_the_grant(engine, hidden, level):
    people = actors(engine)
    dataset_id = hidden[level]
    with client_for(engine) as client:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(who=st.sampled_from(sorted(people)), route=st.sampled_from(ROUTES), query=params)
        def attempt(who: str, route: str, query: dict[str, str]) -> None:
            ATTEMPTS[level] = ATTEMPTS.get(level, 0) + 1
            response = call(client, route, dataset_id, query, people[who])
            assert response.status_code < 500, (who, route, query, response.text[:300])
            found = leaks(without_echo(response.text, query))
            assert not found, (who, route, query, found)

        attempt()
    assert ATTEMPTS[level] >= EXAMPLES


def test_the_traces_are_seen_by_grantees_so_the_suite_can_see_a_leak(engine, hidden):
    member = bearer(engine, *MEMBERS["restricted"])
    operator = bearer(engine, "operator", "atmo-demo")
    with client_for(engine) as client:
        for headers, level in (
            (member, "restricted"),
            (operator, "personal"),
            (operator, "crisis"),
        ):
            dataset_id = hidden[level]
            for route in (
                "/api/v1/datasets/{id}/records",
                "/api/v1/datasets/{id}",
                "/api/v1/datasets/{id}/quarantine",
                "/datasets/{id}",
            ):
                response = call(client, route, dataset_id, {}, headers)
                assert response.status_code == 200 and leaks(response.text), (level, route)
            package = call(client, "/api/3/action/package_show", dataset_id, {}, headers)
            assert COUNT.search(package.text)
