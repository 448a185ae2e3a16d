"""Incremental harvests: conditional requests from the stored cursor; linked documents."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from hub.config import get_settings
from hub.cursors import load_cursor
from hub.models import HarvestRun, SourceCursor
from pipelines import fetch as fetch_module
from pipelines.harvesting import harvest_source
from pipelines.sources import Source, load_source

OPENAQ = "air/openaq_location_3145071_measurements.csv"


class Feed(ThreadingHTTPServer):
    """An operator's server that honours ETag / If-None-Match, as most feed servers do."""

    daemon_threads = True

    def __init__(self, files: dict[str, bytes]) -> None:
        super().__init__(("127.0.0.1", 0), FeedHandler)
        self.files = files
        self.conditional: list[str | None] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def etag(self, name: str) -> str:
        return f'"{hash(self.files[name]) & 0xFFFFFFFF:x}"'


class FeedHandler(BaseHTTPRequestHandler):
    server: Feed

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        name = self.path.lstrip("/")
        if name not in self.server.files:
            self.send_response(404)
            self.end_headers()
            return
        asked = self.headers.get("If-None-Match")
        self.server.conditional.append(asked)
        etag = self.server.etag(name)
        if asked == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        body = self.server.files[name]
        self.send_response(200)
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", "Wed, 02 Dec 2026 06:00:00 GMT")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def feed(samples: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Feed]:
    monkeypatch.setattr(fetch_module, "BACKOFF_SECONDS", 0.01)
    monkeypatch.setenv("HUB_FETCH_ALLOW_PRIVATE", "127.0.0.1")
    get_settings.cache_clear()
    server = Feed({"openaq.csv": (samples / OPENAQ).read_bytes()})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def write_source(folder: Path, url: str, fmt: str = "openaq-csv", **fields: Any) -> Source:
    lines = {
        "id": "toronto",
        "title": "PM2.5, Toronto",
        "operator": {"id": "openaq", "name": "OpenAQ", "kind": "public"},
        "theme": "air-quality",
        "format": fmt,
        "url": url,
        "schema": "air-quality-observation",
        "charter": "openaq-cc-by",
        **fields,
    }
    path = folder / "toronto.yaml"
    path.write_text("\n".join(f"{k}: {json.dumps(v)}" for k, v in lines.items()) + "\n")
    return load_source(path)


def test_an_unchanged_feed_is_neither_read_nor_published_again(
    engine, feed: Feed, tmp_path: Path
) -> None:
    source = write_source(tmp_path, f"{feed.url}/openaq.csv")
    first = harvest_source(source)
    assert (first.status, first.read, first.published) == ("succeeded", 1000, 1000)
    cursor = load_cursor("toronto")
    assert cursor.etag == feed.etag("openaq.csv")
    assert cursor.last_modified == "Wed, 02 Dec 2026 06:00:00 GMT"

    second = harvest_source(source)
    assert (second.status, second.read, second.published) == ("succeeded", 0, 0)
    assert "has not changed since the last harvest (HTTP 304)" in second.message
    assert feed.conditional == [None, feed.etag("openaq.csv")]
    with Session(engine) as session:
        runs = session.exec(select(HarvestRun).order_by(col(HarvestRun.id))).all()
    assert [(r.status, r.rows_read) for r in runs] == [("succeeded", 1000), ("succeeded", 0)]
    assert "HTTP 304" in runs[1].error


def test_a_changed_feed_is_fetched_whole_and_moves_the_cursor(
    engine, feed: Feed, tmp_path: Path
) -> None:
    source = write_source(tmp_path, f"{feed.url}/openaq.csv")
    harvest_source(source)
    lines = feed.files["openaq.csv"].splitlines(keepends=True)
    feed.files["openaq.csv"] = b"".join(lines[:501])  # the operator rewrote its file
    again = harvest_source(source)
    assert (again.status, again.read, again.skipped) == ("succeeded", 500, 500)
    assert load_cursor("toronto").etag == feed.etag("openaq.csv")


def test_a_failed_harvest_leaves_the_cursor_where_it_was(
    engine, feed: Feed, tmp_path: Path
) -> None:
    source = write_source(tmp_path, f"{feed.url}/openaq.csv")
    harvest_source(source)
    before = load_cursor("toronto").etag
    feed.files["openaq.csv"] = b"not,an,openaq,file\n1,2,3,4\n"
    failed = harvest_source(source)
    assert failed.status in ("failed", "refused")
    assert load_cursor("toronto").etag == before  # the next harvest fetches the file again
    with Session(engine) as session:
        assert session.get(SourceCursor, "toronto") is not None


def test_an_unreachable_linked_document_fails_the_harvest_clearly(
    engine, feed: Feed, tmp_path: Path
) -> None:
    source = write_source(
        tmp_path,
        f"{feed.url}/openaq.csv",
        options={"linked": {"stations": f"{feed.url}/missing.csv"}},
    )
    outcome = harvest_source(source)
    assert outcome.status == "failed" and "HTTP 404" in outcome.message
    assert outcome.read == 0


@pytest.mark.parametrize(
    "linked, message",
    [
        ("stations.csv", "options.linked must map names to urls"),
        ({"../up": "file:x.csv"}, "is not a plain name"),
    ],
)
def test_malformed_linked_options_are_refused(
    engine, feed: Feed, tmp_path: Path, linked: Any, message: str
) -> None:
    source = write_source(tmp_path, f"{feed.url}/openaq.csv", options={"linked": linked})
    outcome = harvest_source(source)
    assert outcome.status == "failed" and message in outcome.message


def test_credentials_go_to_linked_documents_on_the_feeds_own_server_only(
    engine, feed: Feed, samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = Feed({"stations.csv": b"id,name\n1,x\n"})
    thread = threading.Thread(target=other.serve_forever, daemon=True)
    thread.start()
    seen: dict[str, str | None] = {}
    original = FeedHandler.do_GET

    def spy(handler: FeedHandler) -> None:
        seen[f"{handler.server.url}{handler.path}"] = handler.headers.get("X-Key")
        original(handler)

    monkeypatch.setattr(FeedHandler, "do_GET", spy)
    monkeypatch.setenv("FEED_KEY", "s3cret-value")
    feed.files["stations.csv"] = b"id,name\n1,x\n"
    try:
        source = write_source(
            tmp_path,
            f"{feed.url}/openaq.csv",
            auth={"header": "X-Key", "secret": "env:FEED_KEY"},
            options={
                "linked": {
                    "home": f"{feed.url}/stations.csv",
                    "abroad": f"{other.url}/stations.csv",
                }
            },
        )
        outcome = harvest_source(source)
    finally:
        other.shutdown()
        other.server_close()
    assert outcome.status == "succeeded"
    assert seen[f"{feed.url}/openaq.csv"] == "s3cret-value"
    assert seen[f"{feed.url}/stations.csv"] == "s3cret-value"
    assert seen[f"{other.url}/stations.csv"] is None  # another server never gets the key
