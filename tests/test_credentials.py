"""Private operators: secrets named in source files, sent to their origin only, shown nowhere."""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from hub.app import create_app
from hub.config import get_settings
from hub.models import Dataset, HarvestRun, Resource
from pipelines import fetch as fetch_module
from pipelines.credentials import (
    NO_CREDENTIALS,
    CredentialError,
    Credentials,
    credentials_for,
    resolve_credentials,
)
from pipelines.fetch import FetchError, fetch
from pipelines.harvesting import harvest_source
from pipelines.sources import Auth, load_source

# Every secret holds SEKRET, so one search finds any of them wherever it leaks.
KEY, PASSWORD, TOKEN, APIKEY = "hdr-SEKRET-4f1c", "pw-SEKRET-77aa", "tok-SEKRET-90be", "SEKRET"
USERINFO = "user:pass-SEKRET"
CSV = (
    "station_id,station_name,pollutant,value,unit,averaging_period,observed_at,longitude,"
    "latitude,quality_flag\n"
    "fr-001,Centre,no2,21.5,µg/m³,PT1H,2026-03-01T10:00:00Z,3.87,43.61,valid\n"
    "fr-001,Centre,no2,23.0,µg/m³,PT1H,2026-03-01T11:00:00Z,3.87,43.61,valid\n"
    "fr-002,Nord,pm25,8.25,µg/m³,PT1H,2026-03-01T11:00:00Z,3.88,43.64,unverified\n"
).encode()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Operator(ThreadingHTTPServer):
    """A private operator's server: a small CSV behind each kind of credential."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.seen: list[tuple[str, dict[str, str]]] = []  # path and headers of each request
        self.status = 200  # what /query answers once its credentials pass
        self.redirect_to = ""  # where /moved sends clients

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def headers_seen(self, route: str) -> list[dict[str, str]]:
        return [headers for path, headers in self.seen if path.startswith(f"/{route}/")]


class Handler(BaseHTTPRequestHandler):
    server: Operator

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.seen.append((self.path, headers))
        parts = urlsplit(self.path)
        route = parts.path.strip("/").split("/")[0]
        if route == "moved":
            return self._answer(302, b"", {"Location": self.server.redirect_to})
        given = headers.get("authorization", "")
        allowed = {
            "header": headers.get("x-api-key") == KEY,
            "basic": given == basic("harvester", PASSWORD),
            "bearer": given == f"Bearer {TOKEN}",
            "query": headers.get("x-api-key") == KEY
            and given == basic("user", "pass-SEKRET")
            and parse_qs(parts.query).get("apikey") == [APIKEY],
            "open": True,
        }
        if not allowed.get(route, False):
            return self._answer(401, b"unauthorised", {"WWW-Authenticate": "Basic"})
        status = self.server.status if route == "query" else 200
        self._answer(status, CSV if status == 200 else b"down")

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # keep test output quiet


@pytest.fixture
def operator() -> Iterator[Operator]:
    yield from serve()


@pytest.fixture
def elsewhere() -> Iterator[Operator]:
    """A second server: another origin (same host, other port) that a redirect may point to."""
    yield from serve()


def serve() -> Iterator[Operator]:
    server = Operator()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def secrets_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator's secrets, where a deployment keeps them: in the environment."""
    monkeypatch.setenv("ATMO_KEY", KEY)
    monkeypatch.setenv("ATMO_PASSWORD", PASSWORD)
    monkeypatch.setenv("ATMO_TOKEN", TOKEN)
    monkeypatch.setattr(fetch_module, "BACKOFF_SECONDS", 0.01)
    monkeypatch.setenv("HUB_FETCH_RETRIES", "1")
    monkeypatch.setenv("HUB_FETCH_ALLOW_PRIVATE", "127.0.0.1")  # the operators serve locally
    get_settings.cache_clear()


def source_file(folder: Path, url: str, auth: str, source_id: str = "atmo-private-no2") -> Path:
    """A private operator's source file under the demo observatory's open charter."""
    path = folder / f"{source_id}.yaml"
    path.write_text(
        f"""\
id: {source_id}
title: NO2, private feed of Atmo Demo
operator: {{id: atmo-demo, name: Atmo Demo, kind: private}}
theme: air-quality
format: csv
url: {url}
schema: air-quality-observation
charter: atmo-demo-open
{auth}
""",
        encoding="utf-8",
    )
    return path


AUTHS = {
    "header": "auth: {header: X-API-Key, secret: env:ATMO_KEY}",
    "basic": "auth: {basic: harvester, secret: env:ATMO_PASSWORD}",
    "bearer": "auth: {bearer: env:ATMO_TOKEN}",
}


@pytest.mark.parametrize("kind", sorted(AUTHS))
def test_each_auth_form_fetches_the_private_feed(
    operator: Operator, tmp_path: Path, kind: str
) -> None:
    source = load_source(source_file(tmp_path, f"{operator.url}/{kind}/no2.csv", AUTHS[kind]))
    credentials = resolve_credentials(source)
    got = fetch(source.url, tmp_path / "dl", credentials=credentials)
    assert got.read_bytes() == CSV
    with pytest.raises(FetchError, match="authentication required .HTTP 401") as caught:
        fetch(source.url, tmp_path / "dl2")  # without them, the operator says no
    assert "SEKRET" not in str(caught.value)


def test_the_forms_make_the_headers_operators_expect(monkeypatch: pytest.MonkeyPatch) -> None:
    assert credentials_for(Auth("header", "env:ATMO_KEY", "X-API-Key")) == Credentials(
        {"X-API-Key": KEY}, (KEY,)
    )
    token = basic("harvester", PASSWORD).removeprefix("Basic ")
    assert credentials_for(Auth("basic", "env:ATMO_PASSWORD", "harvester")) == Credentials(
        {"Authorization": f"Basic {token}"}, (PASSWORD, token)
    )
    assert credentials_for(Auth("bearer", "env:ATMO_TOKEN")) == Credentials(
        {"Authorization": f"Bearer {TOKEN}"}, (TOKEN,)
    )
    monkeypatch.setenv("ATMO_TOKEN", "tok-SEKRET\r\nX-Injected: 1")
    with pytest.raises(CredentialError, match="holds control characters") as caught:
        credentials_for(Auth("bearer", "env:ATMO_TOKEN"))
    assert "SEKRET" not in str(caught.value)


def test_a_wrong_secret_is_refused_by_the_operator_and_not_repeated(
    engine, operator: Operator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATMO_TOKEN", "old-SEKRET-token")
    source = load_source(source_file(tmp_path, f"{operator.url}/bearer/no2.csv", AUTHS["bearer"]))
    with pytest.raises(FetchError, match="authentication refused .HTTP 401 Unauthorized") as caught:
        fetch(source.url, tmp_path / "dl", credentials=resolve_credentials(source))
    assert "SEKRET" not in str(caught.value)
    outcome = harvest_source(source)  # the run says so, not a parse error
    assert outcome.status == "failed" and "authentication refused" in outcome.message
    assert "SEKRET" not in outcome.message


def test_a_missing_env_var_names_the_source_file_and_the_variable(
    operator: Operator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ATMO_KEY")
    path = source_file(tmp_path, f"{operator.url}/header/no2.csv", AUTHS["header"])
    source = load_source(path)  # listing and checking sources needs no secret at hand
    with pytest.raises(CredentialError) as caught:
        resolve_credentials(source)
    assert str(caught.value) == (
        f"{path.resolve()}: auth secret env:ATMO_KEY: environment variable ATMO_KEY is not set"
    )
    assert operator.seen == []


def test_a_source_without_auth_sends_no_credentials(operator: Operator, tmp_path: Path) -> None:
    source = load_source(source_file(tmp_path, f"{operator.url}/open/no2.csv", ""))
    assert resolve_credentials(source) is NO_CREDENTIALS
    fetch(source.url, tmp_path / "dl")
    assert "authorization" not in operator.headers_seen("open")[0]


@pytest.mark.parametrize("kind", ["header", "bearer", "basic"])
def test_credentials_follow_redirects_to_their_own_origin_only(
    operator: Operator, elsewhere: Operator, tmp_path: Path, kind: str
) -> None:
    source = load_source(source_file(tmp_path, f"{operator.url}/moved/no2.csv", AUTHS[kind]))
    credentials = resolve_credentials(source)
    operator.redirect_to = f"{operator.url}/{kind}/no2.csv"
    assert fetch(source.url, tmp_path / "home", credentials=credentials).read_bytes() == CSV

    operator.redirect_to = f"{elsewhere.url}/open/no2.csv"
    assert fetch(source.url, tmp_path / "abroad", credentials=credentials).read_bytes() == CSV
    (sent,) = elsewhere.headers_seen("open")
    assert "x-api-key" not in sent and "authorization" not in sent
    assert "SEKRET" not in repr(sent)


def test_a_harvest_shows_no_secret_in_catalogue_reports_errors_logs_or_apis(
    operator: Operator, engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    host = operator.url.removeprefix("http://")
    url = f"http://{USERINFO}@{host}/query/no2.csv?apikey={APIKEY}&x=1"
    source = load_source(source_file(tmp_path, url, AUTHS["header"]))
    shown = f"http://{host}/query/no2.csv?apikey=REDACTED&x=1"

    first = harvest_source(source)
    assert (first.status, first.published) == ("succeeded", 3)
    operator.status = 500  # the operator's server breaks: the next run fails while fetching
    second = harvest_source(source)
    assert second.status == "failed"
    assert second.message == (f"FetchError: {shown}: HTTP 500 (gave up after 2 attempts)")

    with Session(engine) as session:
        dataset = session.exec(select(Dataset)).one()
        resource = session.exec(select(Resource)).one()
        runs = session.exec(select(HarvestRun).order_by(HarvestRun.id)).all()
    assert dataset.source_url == resource.url == shown
    assert runs[0].report is not None and runs[0].report["tasks"][0]["place"] == shown
    assert runs[1].error == second.message
    stored = [
        dataset.source_url,
        resource.url,
        repr(runs[0].report),
        runs[1].error,
        first.message,
        second.message,
    ]
    assert not [text for text in stored if "SEKRET" in text or "user:" in text]

    with TestClient(create_app()) as client:
        answers = [
            client.get(f"/api/v1/datasets/{source.id}"),
            client.get(f"/api/v1/datasets/{source.id}/runs"),
            client.get(f"/api/v1/datasets/{source.id}/validation"),
            client.get("/api/3/action/package_show", params={"id": source.id}),
        ]
    assert [a.status_code for a in answers] == [200, 200, 200, 200]
    assert "apikey=REDACTED" in answers[3].text and "HTTP 500" in answers[1].text
    assert not [a.url for a in answers if "SEKRET" in a.text or "user:" in a.text]

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "HTTP Request: GET" in logged and "apikey=REDACTED" in logged  # httpx's own log
    assert "SEKRET" not in logged and "SEKRET" not in caplog.text and "user:" not in logged
