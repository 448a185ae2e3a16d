"""Schemathesis over the whole OpenAPI document, CKAN actions included: no server error, ever.

Every operation of the schema is run over the published test catalogue, anonymously (valid and
invalid data) and with a producer's token (valid data), deterministically and with a bounded
number of cases per operation, so the suite stays fast and its failures reproducible.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest
import schemathesis
from api.support import Published, bearer
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)
from sqlalchemy import Engine

from hub.api.ckan.actions import ACTIONS
from hub.api.ckan.docs import ACTION_DOCS
from hub.app import create_app

# Cases per operation and run: 32 operations × 3 runs stay well under 2 minutes; set
# HUB_SCHEMATHESIS_EXAMPLES higher for a deeper search on demand.
EXAMPLES = int(os.environ.get("HUB_SCHEMATHESIS_EXAMPLES", "20"))
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
# The feed stream never ends by itself: schemathesis reads an event stream until its request
# timeout (10 s by default). Nothing is published while these tests run, so once its opening
# lines are out (sent as soon as the client is registered) a stream is silent until its first
# heartbeat (15 s): a shorter read gets the same bytes, without waiting 10 s a case.
STREAM_PATH = "/api/v1/feeds/stream"
STREAM_READ_SECONDS = 3.0
# The three runs are three tests, so that parallel workers share them.
RUNS = ["anonymous/positive", "anonymous/negative", "producer/positive"]


def test_every_read_action_is_described_in_the_schema() -> None:
    """A new CKAN action gets its parameters in the OpenAPI document, or this fails."""
    assert set(ACTION_DOCS) == set(ACTIONS)
    paths = create_app().openapi()["paths"]
    for name in ACTIONS:
        assert set(paths[f"/api/3/action/{name}"]) == {"get", "post"}


@pytest.mark.parametrize("run", RUNS)
def test_schemathesis_finds_no_server_error(engine: Engine, published: Published, run: str) -> None:
    """Generated requests on every operation: no 5xx, answers as documented."""
    app = create_app()
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 32  # 8 native routes, 2 generic and 22 documented CKAN operations
    label, mode_name = run.split("/")
    mode = GenerationMode(mode_name)
    headers = bearer(engine, "operator", "atmo-demo") if label == "producer" else {}
    dataset_id = {
        "anonymous/positive": published.open_id,
        "anonymous/negative": None,
        "producer/positive": published.closed["restricted"],
    }[run]
    cases: Counter[str] = Counter()
    failures: list[str] = []
    try:
        for operation in operations:
            fixed = (
                {"dataset_id": dataset_id}
                if dataset_id and any(p.name == "dataset_id" for p in operation.path_parameters)
                else None
            )
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=fixed)
            try:
                exercise(strategy, headers, cases, operation.label)
            except Unsatisfiable:
                pass  # nothing of it can be made invalid (no parameter, or any string goes)
            # FailureGroup is a BaseExceptionGroup: one operation's failures must not hide
            # the others'
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{label}/{mode.value} {operation.label}:\n{exc}")
    finally:
        shutdown_lifespans()
    print(f"schemathesis {run}: {len(operations)} operations, {sum(cases.values())} cases")
    if mode is GenerationMode.POSITIVE:  # valid data can be made for every operation
        missing = [op.label for op in operations if not cases[op.label]]
        assert not missing, f"operations never exercised: {missing}"
    assert not failures, "\n\n".join(failures)


def exercise(strategy: Any, headers: dict[str, str], cases: Counter[str], label: str) -> None:
    """Run one operation's cases through the app and its checks."""

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        cases[label] += 1
        stream = case.operation.path == STREAM_PATH
        response = case.call(
            headers=headers, **({"timeout": STREAM_READ_SECONDS} if stream else {})
        )
        case.validate_response(response, checks=CHECKS, headers=headers)

    run()


# What schemathesis found on PostgreSQL, which takes no NUL in text: each was a 500 there.
NUL_URLS = [
    "/api/v1/datasets/a%00b",
    "/api/v1/datasets/a%00b/records",
    "/api/v1/datasets?q=a%00b",
    "/api/v1/datasets?organization=%00",
    "/datasets/a%00b",
    "/?q=a%00b",
]
NUL_ACTIONS = ["package_show", "resource_show", "organization_show", "package_search"]


def test_a_nul_in_a_url_is_a_400_in_the_route_shape(client: TestClient) -> None:
    for url in NUL_URLS:
        response = client.get(url)
        assert response.status_code == 400, url
        assert response.json() == {"detail": "NUL characters (%00) are not allowed in a URL"}
    for name in NUL_ACTIONS:
        for prefix in ("/api/3/action/", "/api/action/"):
            response = client.get(f"{prefix}{name}?id=a%00b&q=%00")
            assert response.status_code == 400
            assert response.json() == "Bad request: NUL characters (%00) are not allowed in a URL"


def test_a_nul_in_a_ckan_body_is_a_bare_400(client: TestClient) -> None:
    for name in NUL_ACTIONS:
        for sent in (
            {"json": {"id": "a\x00b"}},
            {"data": {"id": "a\x00b"}},
            {"json": {"fq_list": ["x", {"k\x00": 1}]}},
        ):
            response = client.post(f"/api/3/action/{name}", **sent)
            assert response.status_code == 400, (name, sent)
            assert "NUL characters" in response.json()
    assert (
        client.post("/api/3/action/package_show", json={"id": "atmo-demo-air"}).json()["success"]
        is True
    )
