"""pipelines.fetch: local files and http(s) with retries, against a local HTTP server."""

from __future__ import annotations

import gzip
import io
import tarfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hub.config import get_settings
from pipelines import archives
from pipelines import fetch as fetch_module
from pipelines.fetch import FetchError, expand_url, fetch

OPENAQ = "air/openaq_location_3145071_measurements.csv"
SENSOR = "air/2018-12-25_sds011_sensor_15092.csv"


class Operator(ThreadingHTTPServer):
    """An operator's web server: serves the sample files, and misbehaves on request."""

    daemon_threads = True

    def __init__(self, samples: Path):
        super().__init__(("127.0.0.1", 0), Handler)
        self.samples = samples
        self.hits: Counter[str] = Counter()
        self.failures_left = 0

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that timed out leaves a broken pipe behind: expected here

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: Operator

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        route, _, rest = self.path.lstrip("/").partition("/")
        self.server.hits[route] += 1
        if route == "flaky" and self.server.failures_left > 0:
            self.server.failures_left -= 1
            return self._answer(503, b"busy")
        if route == "slow":
            time.sleep(2)
        if route == "gz":
            plain = self.server.samples / rest.removesuffix(".gz")
            return self._answer(200, gzip.compress(plain.read_bytes()))
        path = self.server.samples / rest
        if route not in ("files", "flaky", "slow") or not path.is_file():
            return self._answer(404, b"not found")
        self._answer(200, path.read_bytes())

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # keep test output quiet


@pytest.fixture
def operator(samples: Path) -> Iterator[Operator]:
    server = Operator(samples)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries wait a few milliseconds, not seconds; two retries; the local operator reachable."""
    monkeypatch.setattr(fetch_module, "BACKOFF_SECONDS", 0.01)
    monkeypatch.setenv("HUB_FETCH_RETRIES", "2")
    monkeypatch.setenv("HUB_FETCH_ALLOW_PRIVATE", "127.0.0.1")
    get_settings.cache_clear()


def test_http_download_is_byte_identical(operator: Operator, samples: Path, tmp_path: Path) -> None:
    got = fetch(f"{operator.url}/files/{OPENAQ}", tmp_path / "dl")
    assert got == tmp_path / "dl" / Path(OPENAQ).name
    assert got.read_bytes() == (samples / OPENAQ).read_bytes()
    assert [p.name for p in (tmp_path / "dl").iterdir()] == [got.name]  # no temporary left


def test_503_then_200_is_retried(operator: Operator, samples: Path, tmp_path: Path) -> None:
    operator.failures_left = 2
    got = fetch(f"{operator.url}/flaky/{SENSOR}", tmp_path)
    assert got.read_bytes() == (samples / SENSOR).read_bytes()
    assert operator.hits["flaky"] == 3


def test_5xx_beyond_the_retries_fails(operator: Operator, tmp_path: Path) -> None:
    operator.failures_left = 10
    with pytest.raises(FetchError, match="HTTP 503 \\(gave up after 3 attempts\\)"):
        fetch(f"{operator.url}/flaky/{SENSOR}", tmp_path)
    assert operator.hits["flaky"] == 3
    assert list(tmp_path.iterdir()) == []


def test_404_fails_at_once(operator: Operator, tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch(f"{operator.url}/files/air/nothing-here.csv", tmp_path)
    assert operator.hits["files"] == 1


def test_a_timeout_is_retried_then_reported(
    operator: Operator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_FETCH_TIMEOUT", "0.2")
    monkeypatch.setenv("HUB_FETCH_RETRIES", "1")
    get_settings.cache_clear()
    with pytest.raises(FetchError, match="ReadTimeout.*gave up after 2 attempts"):
        fetch(f"{operator.url}/slow/{SENSOR}", tmp_path)
    assert operator.hits["slow"] == 2


def test_a_refused_connection_is_a_fetch_error(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    server.server_close()  # nothing listens on that port any more
    with pytest.raises(FetchError, match="ConnectError.*gave up after 3 attempts"):
        fetch(f"http://127.0.0.1:{port}/files/x.csv", tmp_path)


def test_size_cap_stops_the_download(operator: Operator, tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="over the 1000-byte limit"):
        fetch(f"{operator.url}/files/{OPENAQ}", tmp_path, max_bytes=1000)
    assert list(tmp_path.iterdir()) == []


def test_gzip_feeds_are_decompressed(operator: Operator, samples: Path, tmp_path: Path) -> None:
    got = fetch(f"{operator.url}/gz/{SENSOR}.gz", tmp_path)
    assert got.name == Path(SENSOR).name
    assert got.read_bytes() == (samples / SENSOR).read_bytes()


def test_gzip_bombs_are_capped(tmp_path: Path) -> None:
    bomb = tmp_path / "feed.csv.gz"
    bomb.write_bytes(gzip.compress(b"0" * 1_000_000))
    with pytest.raises(FetchError, match="decompresses to over 10000 bytes"):
        fetch(str(bomb), tmp_path / "dl", max_bytes=10_000, base=tmp_path)
    # A gzipped tar stays whole, so that the archive code holds it to its ratio cap
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w") as packed:
        member = tarfile.TarInfo("zeros.csv")
        member.size = 8_000_000
        packed.addfile(member, io.BytesIO(b"0" * member.size))
    tar_bomb = tmp_path / "feed.tar.gz"
    tar_bomb.write_bytes(gzip.compress(tar.getvalue()))
    kept = fetch(str(tar_bomb), tmp_path / "tar", base=tmp_path)
    assert kept.name == "feed.tar.gz"
    with pytest.raises(archives.ArchiveError, match="archive bomb"):
        archives.extract(kept, tmp_path / "tar" / "members", 1 << 30)
    not_gzip = tmp_path / "broken.csv.gz"
    not_gzip.write_bytes(b"plain text")
    with pytest.raises(FetchError, match="not a readable gzip file"):
        fetch(str(not_gzip), tmp_path / "dl", base=tmp_path)
    assert list((tmp_path / "dl").iterdir()) == []  # neither the archives nor a partial file


def test_local_paths_and_file_urls_are_copied(samples: Path, tmp_path: Path) -> None:
    original = (samples / SENSOR).read_bytes()
    assert fetch(str(samples / SENSOR), tmp_path / "a").read_bytes() == original
    assert fetch((samples / SENSOR).as_uri(), tmp_path / "b").read_bytes() == original


def test_samples_placeholder_expands_to_the_samples_dir(samples: Path, tmp_path: Path) -> None:
    assert expand_url("file://{samples}/" + SENSOR) == (samples / SENSOR).resolve().as_uri()
    got = fetch("file://{samples}/" + OPENAQ, tmp_path)
    assert got.read_bytes() == (samples / OPENAQ).read_bytes()


def test_data_placeholder_expands_to_the_data_dir(hub_env: Path, tmp_path: Path) -> None:
    (hub_env / "demo").mkdir(parents=True)
    (hub_env / "demo" / "feed.csv").write_text("a,b\n1,2\n")
    assert fetch("file://{data}/demo/feed.csv", tmp_path / "dl").read_text() == "a,b\n1,2\n"


def test_relative_file_urls_resolve_against_the_source_folder(tmp_path: Path) -> None:
    folder = tmp_path / "sources"
    (folder / "feeds").mkdir(parents=True)
    (folder / "feeds" / "x.csv").write_text("a\n1\n")
    assert fetch("file:feeds/x.csv", tmp_path / "dl", base=folder).read_text() == "a\n1\n"
    assert fetch("feeds/x.csv", tmp_path / "dl2", base=folder).read_text() == "a\n1\n"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "file:///no/such/feed.csv",
            "'file:///no/such/feed.csv' is refused: local feeds are read only under",
        ),
        ("file://{samples}/no/such/feed.csv", "no such file: {samples}/no/such/feed.csv"),
        ("file://fileserver/share/feed.csv", "names a remote host 'fileserver'"),
        ("ftp://example.org/feed.csv", "unsupported url scheme 'ftp'"),
    ],
)
def test_bad_local_urls_are_clear_errors(url: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(FetchError, match=message):
        fetch(url, tmp_path)


def test_local_size_cap(samples: Path, tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="over the 100-byte limit"):
        fetch(str(samples / SENSOR), tmp_path, max_bytes=100)


def test_fetch_errors_and_logs_show_redacted_urls(
    operator: Operator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    host = operator.url.removeprefix("http://")
    secret_url = f"http://user:pw-SEKRET@{host}/files/air/none.csv?token=SEKRET&x=1"
    with pytest.raises(FetchError) as caught:
        fetch(secret_url, tmp_path)
    assert str(caught.value) == (
        f"http://{host}/files/air/none.csv?token=REDACTED&x=1: HTTP 404 Not Found"
    )
    operator.failures_left = 10
    with pytest.raises(FetchError, match=r"\?key=REDACTED: HTTP 503 \(gave up"):
        fetch(f"http://u:pw-SEKRET@{host}/flaky/{SENSOR}?key=SEKRET", tmp_path)
    with pytest.raises(FetchError, match="names a remote host 'fileserver'") as remote:
        fetch("file://u:pw-SEKRET@fileserver/share/feed.csv", tmp_path)
    assert "SEKRET" not in str(remote.value)
    assert any(r.name == "httpx" for r in caplog.records)  # httpx's own request log, filtered
    assert "SEKRET" not in caplog.text
