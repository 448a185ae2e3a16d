"""Sources that reach where they must not: local files outside the allowed roots, private and
metadata addresses, redirects that leave http(s) — each refused with a clear error.

Nothing here sends a packet beyond loopback: every connection a fetch attempts is seen by an
audit hook (`connections`), which refuses any that is not to 127.0.0.0/8 or ::1.
"""

from __future__ import annotations

import ipaddress
import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from hub.config import get_settings
from hub.models import Dataset, HarvestRun
from pipelines.fetch import FetchError, expand_url, fetch
from pipelines.harvesting import harvest_source
from pipelines.sources import load_source
from pipelines.transport import AddressRefused, Allowance, checked_addresses, refusal_kind

CSV = b"a,b\n1,2\n"
ROOTS_RULE = "is refused: local feeds are read only under the source file's folder"

# --- every connection attempted, seen by an audit hook ----------------------------------------

_attempts: list[tuple[str, int]] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event != "socket.connect" or _attempts is None or not isinstance(args[1], tuple):
        return
    host, port = str(args[1][0]), int(args[1][1])
    _attempts.append((host, port))
    if not ipaddress.ip_address(host.partition("%")[0]).is_loopback:
        raise ConnectionRefusedError(f"test: no packet may leave loopback ({host})")


sys.addaudithook(_audit)  # hooks cannot be removed: it watches only inside `connections`


@pytest.fixture
def connections() -> Iterator[list[tuple[str, int]]]:
    """The (address, port) of every connection attempted during the test."""
    global _attempts
    _attempts = []
    try:
        yield _attempts
    finally:
        _attempts = None


# --- local servers --------------------------------------------------------------------------


class Server(ThreadingHTTPServer):
    """A local operator: serves CSV at /feed.csv, redirects /to?url=… wherever it is told."""

    daemon_threads = True

    def __init__(self, host: str = "127.0.0.1"):
        super().__init__((host, 0), Handler)
        self.hits = 0

    @property
    def url(self) -> str:
        return f"http://{self.server_address[0]}:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: Server

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.server.hits += 1
        if self.path.startswith("/to?url="):
            self.send_response(302)
            self.send_header("Location", self.path.removeprefix("/to?url="))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(CSV)))
        self.end_headers()
        self.wfile.write(CSV)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def serve(host: str = "127.0.0.1") -> Iterator[Server]:
    server = Server(host)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    yield from serve()


@pytest.fixture
def other() -> Iterator[Server]:
    """A second loopback server, on another address of 127.0.0.0/8."""
    yield from serve("127.0.0.2")


def allow(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("HUB_FETCH_ALLOW_PRIVATE", value)
    monkeypatch.setenv("HUB_FETCH_RETRIES", "0")
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def no_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_FETCH_RETRIES", "0")
    get_settings.cache_clear()


# --- 1. local files only under the allowed roots --------------------------------------------


@pytest.fixture
def sources_dir(tmp_path: Path) -> Path:
    """A source file's folder, with one feed in it."""
    folder = tmp_path / "territory" / "sources"
    (folder / "feeds").mkdir(parents=True)
    (folder / "feeds" / "no2.csv").write_bytes(CSV)
    return folder


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "/etc/passwd",
        "../../../../../../../../etc/passwd",
        "file:../../../../../../../../etc/passwd",
        "feeds/../../../../../../../../../etc/passwd",
        "file://localhost/etc/passwd",
    ],
)
def test_files_outside_the_roots_are_refused_naming_the_rule(
    url: str, sources_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(FetchError, match=ROOTS_RULE) as caught:
        fetch(url, tmp_path / "dl", base=sources_dir)
    assert str(caught.value).startswith(repr(url))  # as the source file wrote it
    assert not (tmp_path / "dl").exists() or list((tmp_path / "dl").iterdir()) == []


def test_a_link_out_of_a_root_is_refused_without_saying_where_it_points(
    sources_dir: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "elsewhere" / "secret.csv"
    secret.parent.mkdir()
    secret.write_bytes(b"password\nhunter2\n")
    (sources_dir / "feeds" / "link.csv").symlink_to(secret)
    (sources_dir / "linked-dir").symlink_to(secret.parent, target_is_directory=True)
    for url in ("feeds/link.csv", "linked-dir/secret.csv"):
        with pytest.raises(FetchError, match=ROOTS_RULE) as caught:
            fetch(url, tmp_path / "dl", base=sources_dir)
        assert "elsewhere" not in str(caught.value)


def test_links_and_dots_that_stay_inside_a_root_are_followed(
    sources_dir: Path, tmp_path: Path
) -> None:
    (sources_dir / "latest.csv").symlink_to(sources_dir / "feeds" / "no2.csv")
    assert fetch("latest.csv", tmp_path / "a", base=sources_dir).read_bytes() == CSV
    assert fetch("feeds/../feeds/no2.csv", tmp_path / "b", base=sources_dir).read_bytes() == CSV
    absolute = (sources_dir / "feeds" / "no2.csv").as_uri()
    assert fetch(absolute, tmp_path / "c", base=sources_dir).read_bytes() == CSV


def test_a_source_file_at_the_filesystem_root_opens_nothing(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match=ROOTS_RULE):
        fetch("etc/passwd", tmp_path / "dl", base=Path("/"))


def test_the_data_folder_is_closed_even_inside_a_root(hub_env: Path, tmp_path: Path) -> None:
    """`hub harvest ./x.yaml` beside ./var: the database and key stay out of reach."""
    hub_env.mkdir(parents=True, exist_ok=True)
    (hub_env / "secret.key").write_bytes(b"k" * 32)
    assert hub_env.is_relative_to(tmp_path)  # the source's own folder holds the data folder
    for url in (
        "var/secret.key",
        "file://{data}/secret.key",
        "{data}/hub.db",
        "file://{data}/downloads/other/feed.csv",
        "file://{data}/demo/../secret.key",
    ):
        with pytest.raises(FetchError, match=ROOTS_RULE):
            fetch(url, tmp_path / "dl", base=tmp_path)
    (hub_env / "demo").mkdir()
    (hub_env / "demo" / "no2.csv").write_bytes(CSV)
    assert fetch("file://{data}/demo/no2.csv", tmp_path / "dl", base=tmp_path).read_bytes() == CSV


def test_file_roots_sources_path_and_samples_are_roots(
    tmp_path: Path, sources_dir: Path, samples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "exports"
    shared.mkdir()
    (shared / "no2.csv").write_bytes(CSV)
    url = (shared / "no2.csv").as_uri()
    with pytest.raises(FetchError, match=ROOTS_RULE):
        fetch(url, tmp_path / "dl", base=sources_dir)
    monkeypatch.setenv("HUB_FILE_ROOTS", f"{tmp_path / 'nothing'}:{shared}")
    get_settings.cache_clear()
    assert fetch(url, tmp_path / "dl", base=sources_dir).read_bytes() == CSV

    monkeypatch.delenv("HUB_FILE_ROOTS")
    monkeypatch.setenv("HUB_SOURCES_PATH", str(shared))
    get_settings.cache_clear()
    assert fetch(url, tmp_path / "dl2", base=sources_dir).read_bytes() == CSV
    sample = "file://{samples}/air/2018-12-25_sds011_sensor_15092.csv"
    assert fetch(sample, tmp_path / "dl3", base=None).stat().st_size > 0


def test_placeholders_are_never_sent_to_a_server() -> None:
    for url in ("https://feeds.example.org/{data}/x.csv", "http://example.org/?p={samples}"):
        assert expand_url(url) == url


def write_source(folder: Path, url: str, **extra: Any) -> Path:
    """A source file that maps a file's first two columns onto an observation."""
    data = {
        "id": "stolen",
        "title": "Stolen",
        "theme": "air-quality",
        "format": "csv",
        "url": url,
        "operator": {"id": "atmo-demo", "name": "Atmo Demo", "kind": "public"},
        "schema": "air-quality-observation",
        "charter": "atmo-demo-open",
        "options": {"delimiter": ":", "columns": {"station_id": "root", "station_name": "x"}},
        **extra,
    }
    path = folder / "stolen.yaml"
    path.write_text(json.dumps(data), encoding="utf-8")  # JSON is YAML
    return path


def test_a_harvest_of_etc_passwd_publishes_nothing_and_records_why(
    engine: Engine, tmp_path: Path
) -> None:
    source = load_source(write_source(tmp_path, "file:///etc/passwd"))
    outcome = harvest_source(source)
    assert outcome.status == "failed" and outcome.published == 0
    assert outcome.message.startswith("FetchError: 'file:///etc/passwd' is refused: local feeds")
    with Session(engine) as session:
        assert session.get(Dataset, "stolen") is None
        run = session.exec(select(HarvestRun)).one()
    assert run.status == "failed" and run.error == outcome.message


# --- 2. private, loopback, link-local and metadata addresses ---------------------------------


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.169.254", "link-local"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("100.64.0.1", "shared (CGNAT)"),
        ("100.127.255.254", "shared (CGNAT)"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "private"),
        ("198.18.0.1", "private"),
        ("2001:db8::1", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("64:ff9b::a00:1", "private"),
        ("2002:a00:1::1", "private"),  # NAT64, 6to4 of 10.0.0.1
    ],
)
def test_non_public_addresses_are_named_for_what_they_are(address: str, kind: str) -> None:
    assert refusal_kind(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "2606:4700::1111", "64:ff9b::808:808", "151.101.1.1"]
)
def test_public_addresses_pass(address: str) -> None:
    assert refusal_kind(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://10.0.0.1/no2.csv",
        "http://192.168.0.1:8080/no2.csv",
        "https://172.31.255.255/x",
        "http://[fe80::1]/x",
        "http://[fd00::1]/x",
        "http://[::ffff:169.254.169.254]/x",
        "http://100.64.0.1/x",
        "http://0.0.0.0:9/x",
        "http://224.0.0.251/x",
    ],
)
def test_a_private_address_is_refused_before_any_connection(
    url: str, tmp_path: Path, connections: list[tuple[str, int]]
) -> None:
    with pytest.raises(
        FetchError,
        match=r"refused: .* is a .+ address; a fetch may reach it only "
        r"if HUB_FETCH_ALLOW_PRIVATE lists",
    ):
        fetch(url, tmp_path / "dl")
    assert connections == []


def test_loopback_is_refused_until_allowed(
    server: Server,
    tmp_path: Path,
    connections: list[tuple[str, int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"{server.url}/feed.csv"
    with pytest.raises(FetchError, match="refused: 127.0.0.1 is a loopback address"):
        fetch(url, tmp_path / "dl")
    assert (connections, server.hits) == ([], 0)
    for allowed in ("127.0.0.1", "10.0.0.0/8, 127.0.0.0/8", "127.0.0.1/32 ::1"):
        allow(monkeypatch, allowed)
        assert fetch(url, tmp_path / "dl").read_bytes() == CSV
    assert server.hits == 3 and len(connections) == 3  # the hook does see connections


def test_a_host_name_is_checked_after_resolution(
    server: Server,
    tmp_path: Path,
    connections: list[tuple[str, int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"http://localhost:{server.server_address[1]}/feed.csv"
    with pytest.raises(FetchError, match="refused: localhost resolves to a loopback address"):
        fetch(url, tmp_path / "dl")
    assert connections == []
    allow(monkeypatch, "LOCALHOST.")  # by host name, as written in a url or not
    assert fetch(url, tmp_path / "dl").read_bytes() == CSV
    assert {address for address, _ in connections} <= {"127.0.0.1", "::1"}


def test_every_address_of_a_host_is_checked() -> None:
    # localhost may have several addresses (127.0.0.1, ::1): allowing one network is not enough
    # unless it holds them all, and the refusal never quotes an address of the hub's network.
    found = checked_addresses("localhost", 80, Allowance.parse(["127.0.0.0/8", "::1"]))
    assert found and all(ipaddress.ip_address(a).is_loopback for a in found)
    with pytest.raises(AddressRefused) as caught:
        checked_addresses("localhost", 80, Allowance.parse(["10.0.0.0/8"]))
    assert "127.0.0.1" not in str(caught.value) and "::1" not in str(caught.value)


def test_allowance_words_parse_hosts_and_networks(caplog: pytest.LogCaptureFixture) -> None:
    allowance = Allowance.parse(["feeds.intranet", "10.0.0.0/8", "fd00::/8", "10.0.0.0/33"])
    assert allowance.hosts == frozenset({"feeds.intranet"})
    assert allowance.allows("FEEDS.intranet.", ipaddress.ip_address("192.168.1.1"))
    assert allowance.allows("x", ipaddress.ip_address("10.9.9.9"))
    assert allowance.allows("x", ipaddress.ip_address("::ffff:10.9.9.9"))
    assert not allowance.allows("x", ipaddress.ip_address("172.16.0.1"))
    assert "10.0.0.0/33" in caplog.text  # a mistyped network is said, not taken for a host


def test_settings_split_the_allow_list_on_spaces_and_commas(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HUB_FETCH_ALLOW_PRIVATE", "127.0.0.1, feeds.intranet 10.0.0.0/8")
    get_settings.cache_clear()
    assert get_settings().fetch_allow_private == ["127.0.0.1", "feeds.intranet", "10.0.0.0/8"]


# --- redirects -------------------------------------------------------------------------------


def test_a_redirect_to_a_private_address_is_refused(
    server: Server,
    other: Server,
    tmp_path: Path,
    connections: list[tuple[str, int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    allow(monkeypatch, "127.0.0.1")  # the first hop only: 127.0.0.2 is not listed
    with pytest.raises(FetchError, match="refused: 127.0.0.2 is a loopback address"):
        fetch(f"{server.url}/to?url={other.url}/feed.csv", tmp_path / "dl")
    assert other.hits == 0 and all(address == "127.0.0.1" for address, _ in connections)
    for target in ("http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/"):
        with pytest.raises(FetchError, match="is a link-local address"):
            fetch(f"{server.url}/to?url={target}", tmp_path / "dl")
    assert all(address == "127.0.0.1" for address, _ in connections)
    allow(monkeypatch, "127.0.0.1 127.0.0.2")
    assert fetch(f"{server.url}/to?url={other.url}/feed.csv", tmp_path / "dl").read_bytes() == CSV


@pytest.mark.parametrize(
    "target", ["file:///etc/passwd", "ftp://127.0.0.1/feed.csv", "gopher://127.0.0.1:70/x"]
)
def test_a_redirect_out_of_http_is_refused(
    target: str, server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    allow(monkeypatch, "127.0.0.1")
    scheme = target.partition(":")[0]
    with pytest.raises(FetchError, match=rf"refused: a redirect to a {scheme}:// url"):
        fetch(f"{server.url}/to?url={target}", tmp_path / "dl")
    assert server.hits == 1  # refused at once, not retried
    assert list((tmp_path / "dl").iterdir()) == []
