"""Requests that used to exhaust or crash the hub: each answers its route's own error shape.

CKAN routes answer CKAN's shapes (409 Validation Error, 400 Search Query Error, the bare-string
400), native routes a 400 whose `detail` says why; bodies over the limit are a 413 before they
are read. None of them may be a 500.
"""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator

from api.support import bearer, live_server
from api.test_ckan_actions import failed, ok

from hub.config import get_settings

SEARCH = "/api/action/package_search"
RECORDS = "/api/v1/datasets/atmo-demo-air/records"


def post_raw(client, path: str, text: str):
    """POST a JSON body written by hand (Python's json cannot write 1e400)."""
    return client.post(path, content=text.encode(), headers={"content-type": "application/json"})


BAD_NUMBERS = [
    "1e400",
    "-1e400",
    "NaN",
    "Infinity",
    str(10**30),
    "-1",
    "1.5",
    "true",
    "false",
    "[1]",
    '{"a": 1}',
    '"ten"',
    '"1e400"',
    '"' + "9" * 5000 + '"',
]


def test_bad_numbers_are_ckan_validation_errors(client):
    for action, key in [
        ("package_search", "rows"),
        ("package_search", "start"),
        ("package_search", "facet.mincount"),
        ("package_list", "limit"),
        ("package_list", "offset"),
        ("organization_list", "limit"),
        ("group_list", "offset"),
    ]:
        for value in BAD_NUMBERS:
            response = post_raw(client, f"/api/3/action/{action}", f'{{"{key}": {value}}}')
            error = failed(response, 409, "Validation Error")
            assert key in error and isinstance(error[key], list), (action, key, value)


def test_facet_limit_takes_negative_numbers_but_no_other_bad_number(client):
    for value in ["1e400", "NaN", str(10**30), str(-(10**30)), "1.5", "true", "[1]"]:
        failed(post_raw(client, SEARCH, f'{{"facet.limit": {value}}}'), 409, "Validation Error")
    assert ok(post_raw(client, SEARCH, '{"facet.limit": -1}'))["count"] == 4


def test_numbers_ckan_accepts_still_work(client):
    assert len(ok(post_raw(client, SEARCH, '{"rows": 2.0, "start": "1"}'))["results"]) == 2
    assert len(ok(post_raw(client, SEARCH, '{"rows": null}'))["results"]) == 4  # the default
    assert len(ok(post_raw(client, SEARCH, '{"rows": 5000}'))["results"]) == 4  # capped, as CKAN
    assert ok(client.get(SEARCH, params={"rows": "3", "start": str(2**31 - 1)}))["results"] == []


HUGE_QUERIES = [
    "(" * 5000 + "x" + ")" * 5000,
    "NOT " * 3000 + "x",
    " OR ".join(["air"] * 40_000),
    "(" * 40 + "x" + ")" * 40,
    "NOT " * 40 + "x",
    "-" * 200 + "x",
    "+-" * 100 + "x",
    "tags:(" + " OR ".join(["no2"] * 1100) + ")",
    " OR ".join(["air"] * 1100),
]


def test_queries_past_the_bounds_are_search_query_errors(client):
    for q in HUGE_QUERIES:
        for data in ({"q": q}, {"fq": q}, {"fq_list": [q]}):
            error = failed(client.post(SEARCH, json=data), 400, "Search Query Error")
            assert error["message"].startswith("Search Query is invalid: ")


def test_queries_within_the_bounds_still_work(client, published):
    nested = "(" * 30 + "rennes" + ")" * 30
    assert ok(client.post(SEARCH, json={"q": nested}))["count"] == 1
    wide = " OR ".join(["rennes"] * 256)
    assert ok(client.post(SEARCH, json={"q": wide}))["count"] == 1
    failed(client.post(SEARCH, json={"q": wide + " OR rennes"}), 400, "Search Query Error")
    assert ok(client.post(SEARCH, json={"q": "name:atmo-demo-a*"}))["count"] == 1
    failed(client.post(SEARCH, json={"q": "name:" + "*a" * 60}), 400, "Search Query Error")
    assert ok(client.post(SEARCH, json={"q": "NOT " * 3 + "rennes"}))["count"] == 3
    failed(
        client.post(SEARCH, json={"q": "x", "fq_list": ["a OR b"] * 600}), 400, "Search Query Error"
    )  # the bounds hold for q and all filters together


def test_sorts_and_lists_are_bounded(client):
    failed(
        client.post(SEARCH, json={"sort": ", ".join(["name asc"] * 50)}), 400, "Search Query Error"
    )
    failed(client.post(SEARCH, json={"facet.field": ["tags"] * 2000}), 409, "Validation Error")
    failed(client.post(SEARCH, json={"fl": [{"a": 1}]}), 409, "Validation Error")
    failed(client.post(SEARCH, json={"q": {"a": 1}}), 409, "Validation Error")
    failed(client.post(SEARCH, json={"facet.field": "[" * 100_000}), 409, "Validation Error")


def bare_json_error(response) -> str:
    assert response.status_code == 400, response.text[:300]
    assert response.headers["content-type"] == "application/json;charset=utf-8"
    message = response.json()
    assert isinstance(message, str) and message.startswith("Bad request: JSON Error: ")
    return message


BAD_BODIES = [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"q": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b'{"a": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_001,
    b'{"rows": 1' + b"0" * 5000 + b"}",
    b'{"q": "\xff\xfe"}',
    b"[" + b"1, " * 200_000 + b"1]",
]


def test_json_bodies_nested_too_deep_or_unreadable_are_bare_json_errors(client):
    for body in BAD_BODIES:
        message = bare_json_error(
            client.post(SEARCH, content=body, headers={"content-type": "application/json"})
        )
        assert len(message) < 1000  # the bad body is quoted, but only its start


def test_legacy_form_json_nested_too_deep_is_a_bare_json_error(client):
    legacy = "[" * 100_000 + "]" * 100_000
    bare_json_error(
        client.post(
            SEARCH,
            content=f"{legacy}=1".encode(),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    )


BAD_FORMS = [
    ("multipart/form-data", b"no boundary here"),
    ("multipart/form-data; boundary=xyz", b"--xyz\r\nContent-Disposition: form-data\r\n\r\n1"),
    ("application/x-www-form-urlencoded", "&".join(f"f{i}=1" for i in range(1500)).encode()),
    (
        "multipart/form-data; boundary=xyz",
        b"".join(
            b'--xyz\r\nContent-Disposition: form-data; name="f%d"\r\n\r\n1\r\n' % i
            for i in range(1500)
        )
        + b"--xyz--\r\n",
    ),
]


def test_form_parsing_errors_answer_ckan_not_fastapi(client):
    for content_type, body in BAD_FORMS:
        response = client.post(SEARCH, content=body, headers={"content-type": content_type})
        assert "detail" not in response.text, content_type
        bare_json_error(response)


def test_unknown_routes_under_ckan_prefixes_answer_ckan_not_found(client):
    for path in (
        "/api/3/action/",
        "/api/3/nothing",
        "/api/action/a/b",
        "/api/3/action/package_show/extra",
        "/api/action",
    ):
        for response in (client.get(path), client.post(path, json={})):
            assert response.status_code == 404, path
        body = response.json()
        assert body["success"] is False and body["help"].startswith("http://testserver/api/3/")
        assert body["error"]["__type"] == "Not Found Error"


def test_other_methods_on_ckan_routes_answer_the_envelope(client):
    response = client.put("/api/3/action/package_list", json={})
    assert response.status_code == 405 and "POST" in response.headers["allow"]
    assert response.json()["error"]["__type"] == "Method Not Allowed"
    assert response.json()["help"].endswith("help_show?name=package_list")


def test_native_routes_keep_fastapi_shapes(client):
    assert client.get("/api/v1/nothing").json() == {"detail": "Not Found"}
    assert client.get("/api/2/action/package_list").json() == {"detail": "Not Found"}


BIG = str(2**63)
INT32 = 2**31  # ids are INTEGER columns: 32-bit on PostgreSQL


NATIVE_BAD_INTEGERS = [
    f"/api/v1/datasets?offset={BIG}",
    f"/api/v1/datasets?limit={BIG}",
    f"/api/v1/datasets?offset={10**30}",
    "/api/v1/datasets?offset=-1",
    f"/api/v1/datasets/atmo-demo-air/validation?run={BIG}",
    "/api/v1/datasets/atmo-demo-air/validation?run=-5",
    f"/api/v1/datasets/atmo-demo-air/validation?run={INT32}",
    f"/api/v1/datasets/atmo-demo-air/quarantine?run={INT32}",
    f"/api/v1/access-log?after={INT32}",
    f"/api/v1/datasets/atmo-demo-air/quarantine?run={BIG}",
    f"/api/v1/datasets/atmo-demo-air/quarantine?offset={BIG}",
    f"/api/v1/datasets/atmo-demo-air/quarantine?offset={BIG}&format=csv",
    f"/api/v1/access-log?after={BIG}",
    f"{RECORDS}?limit={BIG}",
]


def test_native_integers_past_the_column_range_are_client_errors(client):
    for url in NATIVE_BAD_INTEGERS:
        response = client.get(url)
        assert response.status_code == 400, (url, response.text[:300])
        assert "detail" in response.json()


def test_the_largest_accepted_numbers_answer_empty_pages(client, engine, published):
    body = client.get(f"/api/v1/datasets?offset={2**62}").json()
    assert body["datasets"] == [] and body["next"] is None
    page = client.get(
        f"/api/v1/datasets/{published.open_id}/quarantine", params={"offset": 2**62}
    ).json()
    assert page["rows"] == []
    for route in ("validation", "quarantine"):
        assert (
            client.get(
                f"/api/v1/datasets/{published.open_id}/{route}", params={"run": INT32 - 1}
            ).status_code
            == 404
        )
    log = client.get(
        "/api/v1/access-log", params={"after": INT32 - 1}, headers=bearer(engine, "admin")
    )
    assert log.status_code == 200 and log.json()["entries"] == []


def encoded(position: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


FORGED_CURSORS = [
    encoded([None, 10**30]),
    encoded([None, 2**63]),
    encoded([None, INT32]),
    encoded([None, -INT32 - 1]),
    encoded(["2026-01-01", True]),
    encoded([None, False]),
    encoded([1.5, 2]),
    encoded(["x", -1]),
    encoded([True, 1]),
    encoded([["2026"], 1]),
    encoded([None, 1.0]),
    encoded(["0001-01-01T00:00:00+01:00", 1]),
    encoded([None, 1, 2]),
    encoded({"a": 1}),
    "A" * 60_000,
    base64.urlsafe_b64encode(b"\xff\xfe[null, 1]").decode(),
    "é" * 10,
    base64.urlsafe_b64encode(b"[" * 5000).decode(),
]


def test_forged_cursors_are_400(client):
    for cursor in FORGED_CURSORS:
        response = client.get(RECORDS, params={"cursor": cursor})
        assert response.status_code == 400, (cursor[:100], response.text[:300])
        assert response.json() == {"detail": "invalid cursor"}


def test_cursors_at_the_edge_of_the_id_range_are_read(client):
    for position in ([None, INT32 - 1], [None, -INT32], ["2026-03-01T00:00:00", INT32 - 1]):
        assert client.get(RECORDS, params={"cursor": encoded(position)}).status_code == 200


def test_a_body_over_the_limit_is_a_413_before_any_route(client):
    big = b"x" * (5 * 1024 * 1024)
    response = client.post(SEARCH, content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413
    body = response.json()
    assert body["success"] is False and body["error"]["__type"] == "Request Entity Too Large"
    assert body["help"] == "http://testserver/api/3/action/help_show?name=package_search"
    native = client.post("/api/v1/datasets", content=big)
    assert native.status_code == 413 and "at most 1048576 bytes" in native.json()["detail"]


def chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """A body sent without Content-Length (chunked transfer)."""
    for _ in range(total // size):
        yield b" " * size


def test_a_chunked_body_over_the_limit_is_a_413(client):
    response = client.post(
        SEARCH, content=chunks(2 * 1024 * 1024), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["__type"] == "Request Entity Too Large"
    form = client.post(
        SEARCH,
        content=chunks(2 * 1024 * 1024),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 413


def test_a_body_under_the_limit_is_read(client):
    padded = json.dumps({"q": "rennes", "pad": "x" * 1_000_000})
    assert (
        ok(
            client.post(
                SEARCH, content=padded.encode(), headers={"content-type": "application/json"}
            )
        )["count"]
        == 1
    )


def exchange(port: int, request: bytes) -> bytes:
    """Send raw bytes to the live hub and read its whole answer (it closes the connection)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_the_live_server_refuses_a_declared_huge_body_without_waiting_for_it(
    engine, published, monkeypatch
):
    monkeypatch.setenv("HUB_MAX_BODY_BYTES", "1000")
    get_settings.cache_clear()
    with live_server() as url:
        port = int(url.rsplit(":", 1)[1])
        declared = exchange(
            port,
            b"POST /api/action/package_search HTTP/1.1\r\n"
            b"Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 300000000\r\n\r\n",
        )
        assert declared.startswith(b"HTTP/1.1 413 ")
        assert b'"Request Entity Too Large"' in declared
        body = b'{"q": "' + b"x" * 1500 + b'"}'
        chunked = exchange(
            port,
            b"POST /api/action/package_search HTTP/1.1\r\n"
            b"Host: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"%x\r\n%s\r\n0\r\n\r\n"
            % (len(body), body),
        )
        assert chunked.startswith(b"HTTP/1.1 413 ")
        assert b"at most 1000 bytes" in chunked
