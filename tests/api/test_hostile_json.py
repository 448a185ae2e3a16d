"""JSON an attacker shapes: nested thousands deep, or holding NUL characters.

Deep JSON made Python's decoder raise RecursionError, which routes catching ValueError let
through as a 500 (four of the six routes without a token); a NUL in a JSON string was a 500 on
PostgreSQL, which takes none in text. Each must be the route's own clear answer, on both stores
(run these with HUB_TEST_DATABASE_URL set for PostgreSQL).
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest
from api.support import bearer

from hub import jsontext

DEEP = "[" * 100_000 + "]" * 100_000
JUST_TOO_DEEP = "[" * (jsontext.MAX_DEPTH + 1) + "]" * (jsontext.MAX_DEPTH + 1)
RESOURCE = "atmo-demo-air-records"
CONSENT = {"datasets": ["x"], "purpose": "research", "expires": "2030-01-01"}


def posted(client, path: str, body: str | bytes, headers: dict[str, str] | None = None):
    """POST a JSON body written by hand."""
    sent = body.encode() if isinstance(body, str) else body
    return client.post(
        path, content=sent, headers={"content-type": "application/json"} | (headers or {})
    )


def detail(response, status: int = 400) -> str:
    """The `detail` of a native route's error."""
    assert response.status_code == status, response.text
    text = response.json()["detail"]
    assert isinstance(text, str)
    return text


def test_the_limit_is_exact_and_beyond_it_is_a_value_error():
    assert jsontext.loads("[" * jsontext.MAX_DEPTH + "]" * jsontext.MAX_DEPTH) is not None
    assert jsontext.loads(
        '{"a":' * (jsontext.MAX_DEPTH - 1) + "{}" + "}" * (jsontext.MAX_DEPTH - 1)
    )
    for text in (DEEP, nested(3000)[1], JUST_TOO_DEEP, '{"a":' * 64 + "[]" + "}" * 64):
        with pytest.raises(jsontext.TooDeep):
            jsontext.loads(text)
    for text in ('"\\u0000"', '{"a\\u0000": 1}', '[1, {"b": ["x\\u0000y"]}]'):
        with pytest.raises(jsontext.HoldsNul):
            jsontext.loads(text)
    assert jsontext.loads('"a\\\\u0000"') == "a\\u0000"  # an escaped backslash: no NUL


def nested(depth: int) -> tuple[str, str]:
    """An array and an object nested `depth` deep."""
    return "[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize("depth", [100_000, 3000, jsontext.MAX_DEPTH + 1])
def test_deep_json_on_the_anonymous_routes_is_their_malformed_json_answer(client, depth):
    array, deep_object = nested(depth)
    # the feed stream, by POST (the body, or `within` inside it) and by GET (within=)
    body = detail(posted(client, "/api/v1/feeds/stream", array))
    assert body == "the body must be a JSON object of filters"
    polygon = '{"within": {"type": "Polygon", "coordinates": ' + array + "}}"
    assert detail(posted(client, "/api/v1/feeds/stream", polygon)).startswith(
        ("the body", "within")
    )
    if depth > 3000:
        return  # the query's and the id's cases below fit a URL at 3000
    within = detail(client.get(f"/api/v1/feeds/stream?within={quote(array)}"))
    assert within.startswith("within must be")
    # an alert id that decodes to deep JSON is no alert's id
    alert = base64.urlsafe_b64encode(array.encode()).decode().rstrip("=")
    assert client.get(f"/api/v1/alerts/{alert}.cap").status_code == 404
    # CKAN's datastore_search: its filters and q, CKAN's Validation Error, not a 500 envelope
    for name in ("filters", "q"):
        answer = client.get(
            f"/api/3/action/datastore_search?resource_id={RESOURCE}&{name}={quote(deep_object)}"
        )
        assert answer.status_code == 409, answer.text
        assert answer.json()["error"][name] == ["not a JSON object"]


def test_deep_json_bodies_with_a_token_are_their_malformed_json_answer(client, engine):
    admin, citizen = bearer(engine, "admin"), bearer(engine, "subject")
    for depth_text in (DEEP, JUST_TOO_DEEP):
        crisis = detail(posted(client, "/api/v1/crises", depth_text, admin))
        assert crisis.startswith("the body must be JSON")
        link = detail(posted(client, "/api/v1/me/links", depth_text, citizen))
        assert link == "the body must be JSON: {dataset, matching}"


def test_fastapis_own_body_parsing_answers_deep_json_with_a_400(client, engine):
    citizen = bearer(engine, "subject")
    deep = detail(posted(client, "/api/v1/me/consents", DEEP, citizen))
    assert deep == "There was an error parsing the body"  # FastAPI's, for RecursionError
    # under the decoder's limit: FastAPI reads it, the model refuses it
    under = json.dumps({"service": "s", **CONSENT, "datasets": json.loads("[" * 500 + "]" * 500)})
    assert "datasets" in detail(posted(client, "/api/v1/me/consents", under, citizen))


NUL = "NUL characters (\\u0000) are not allowed in request data"


def test_a_nul_in_an_api_json_body_is_a_400_before_any_route(client, engine):
    citizen = bearer(engine, "subject")
    assert detail(posted(client, "/api/v1/feeds/stream", '{"within":"crisis:a\\u0000"}')) == NUL
    link = '{"dataset":"a\\u0000","matching":{"x":"y"}}'
    assert detail(posted(client, "/api/v1/me/links", link, citizen)) == NUL
    in_a_key = '{"dataset":"a","matching":{"x\\u0000":"y"}}'
    assert detail(posted(client, "/api/v1/me/links", in_a_key, citizen)) == NUL
    consent = json.dumps({"service": "a\x00", **CONSENT})
    assert detail(posted(client, "/api/v1/me/consents", consent, citizen)) == NUL
    # whatever the content type says, and in the UTF-16 Python's decoder reads too
    as_text = client.post("/api/v1/me/links", content=link.encode(), headers=citizen)
    assert detail(as_text) == NUL
    wide = posted(client, "/api/v1/me/links", link.encode("utf-16"), citizen)
    assert detail(wide) == NUL
    crisis = json.dumps({"name": "x", "area": {"type": "Polygon\x00"}})
    assert detail(posted(client, "/api/v1/crises", crisis, bearer(engine, "admin"))) == NUL


def test_text_that_only_spells_a_nul_reaches_the_route(client):
    # `\\u0000` is a backslash and "u0000", no NUL: the route answers it as it would any name
    spelled = detail(posted(client, "/api/v1/feeds/stream", '{"within":"crisis:a\\\\u0000"}'))
    assert spelled == "within: no crisis 'a\\\\u0000'"


def test_a_nul_in_json_carried_by_a_query_or_an_id_is_refused(client):
    polygon = quote('{"type":"Polygon\\u0000","coordinates":[]}')
    assert detail(client.get(f"/api/v1/feeds/stream?within={polygon}")).startswith("within must be")
    for name, value in (("filters", '{"station_id":"st-a\\u0000"}'), ("q", '{"x":"a\\u0000"}')):
        answer = client.get(
            f"/api/3/action/datastore_search?resource_id={RESOURCE}&{name}={quote(value)}"
        )
        assert answer.status_code == 409, answer.text
        assert answer.json()["error"][name] == ["not a JSON object"]
    held = json.dumps(["atmo-demo-air\x00", "sender", "id"]).encode()
    alert = base64.urlsafe_b64encode(held).decode().rstrip("=")
    assert client.get(f"/api/v1/alerts/{alert}.cap").status_code == 404


def test_a_body_without_nul_still_reaches_its_route_whole(client, engine):
    citizen = bearer(engine, "subject")
    unknown = detail(
        posted(client, "/api/v1/me/links", '{"dataset":"nope","matching":{"x":"y"}}', citizen), 404
    )
    assert unknown == "no dataset 'nope'"
