"""What the portal readers share: a guarded HTTP client, and the hub's shape for their datasets.

ckanapi speaks `requests`, not httpx, so the portal client is a `requests.Session` held to the
rules of `pipelines.fetch`: each connection resolves its host once, checks every address with
`pipelines.transport.checked_addresses` (HUB_FETCH_ALLOW_PRIVATE) and connects to a checked
address, so neither a redirect nor a DNS answer changed in between reaches a private network;
every request has a timeout (HUB_FETCH_TIMEOUT) and the whole harvest a deadline
(`options.deadline` or HUB_FETCH_DEADLINE); answers are capped in size; proxies and ~/.netrc
from the environment are ignored; and the source's credentials go to the portal's own origin
only, redirects included.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpcore
import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection

from hub.batches import MetadataBatch, PortalDataset
from hub.config import get_settings
from hub.models import as_utc
from hub.redaction import redact_text, redact_url
from pipelines.credentials import Credentials, resolve_credentials
from pipelines.readers.base import Fetched, ReaderError, batch_header
from pipelines.sources import Source
from pipelines.transport import AddressRefused, Allowance, Deadline, checked_addresses

log = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 100 * 1024 * 1024  # one page of a listing: CKAN's 1000 rows fit many times
CHUNK_BYTES = 1024 * 1024
MAX_REDIRECTS = 5
RELIST_HOURS = 24  # a whole listing at least daily: withdrawn datasets leave within a day
ID_LIMIT = 100  # Dataset.id's length in the catalogue
UNSAFE_IN_ID = re.compile(r"[^a-z0-9._-]+")
WEB_SCHEMES = ("http", "https", "ftp")


def _connect(conn: HTTPConnection) -> socket.socket:
    """A socket to a checked address of the connection's host (urllib3's `_new_conn`)."""
    allowance = Allowance.parse(get_settings().fetch_allow_private)
    try:
        addresses = checked_addresses(conn._dns_host, conn.port, allowance)
    except httpcore.ConnectError as exc:  # the host does not resolve
        raise NewConnectionError(conn, str(exc)) from exc
    failure: OSError | None = None
    for address in addresses:
        try:
            return connection.create_connection(
                (address, conn.port), conn.timeout, conn.source_address, conn.socket_options
            )
        except OSError as exc:  # try the host's next address
            failure = exc
    if isinstance(failure, TimeoutError):
        raise ConnectTimeoutError(conn, f"connecting to {conn.host} timed out")
    raise NewConnectionError(conn, f"cannot connect to {conn.host}: {failure}")


class _GuardedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _connect(self)


class _GuardedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:  # TLS still checks the certificate against the host
        return _connect(self)


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


def _origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port: what "the same site" means for a credential."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or ""), parts.port or {"http": 80, "https": 443}.get(scheme)


class _GuardedAdapter(HTTPAdapter):
    """Connections to checked addresses only, and credentials for the home origin only."""

    def __init__(self, home: str, credentials: Credentials) -> None:
        self._home = _origin(home)
        self._credentials = credentials
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _GuardedHTTPPool,
            "https": _GuardedHTTPSPool,
        }

    def add_headers(self, request: requests.PreparedRequest, **kwargs: Any) -> None:
        # A redirected request is a copy of the first one: strip what it carried abroad.
        names = {"authorization", *(name.lower() for name in self._credentials.headers)}
        if _origin(request.url or "") == self._home:
            request.headers.update(self._credentials.headers)
            return
        for name in [n for n in request.headers if n.lower() in names]:
            del request.headers[name]


@dataclass
class PortalClient:
    """A session to one portal, every request bounded by one deadline."""

    session: requests.Session
    deadline: Deadline
    timeout: float
    secrets: tuple[str, ...] = ()
    last: requests.Response | None = None

    def keep(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """A response hook: read the (streamed) answer, capped in size and by the deadline."""
        body = bytearray()
        for chunk in response.iter_content(CHUNK_BYTES):
            body += chunk
            if len(body) > MAX_ANSWER_BYTES:
                response.close()
                raise ReaderError(
                    f"{redact_url(response.url)}: answer over {MAX_ANSWER_BYTES} bytes, abandoned"
                )
            if self.deadline.remaining() <= 0:  # a trickling server answers each read in time
                response.close()
                raise ReaderError(
                    f"{redact_url(response.url)}: answer abandoned at the harvest's "
                    f"{self.deadline.seconds:g} s deadline"
                )
        response._content = bytes(body)
        self.last = response  # to say what was wrong with it

    def timeouts(self) -> tuple[float, float]:
        """Connect and read timeouts of the next request, shortened to the deadline."""
        left = self.deadline.remaining()
        if left <= 0:
            raise ReaderError(f"the harvest's {self.deadline.seconds:g} s deadline has passed")
        return min(self.timeout, left), min(self.timeout, left)

    def get_json(self, url: str, params: dict[str, Any]) -> Any:
        """GET a JSON answer, or ReaderError saying what came instead."""
        try:
            response = self.session.get(url, params=params, timeout=self.timeouts())
        except (requests.RequestException, AddressRefused) as exc:
            raise ReaderError(f"{redact_url(url)}: {self.described(exc)}") from None
        if response.status_code >= 400:
            raise ReaderError(f"{redact_url(url)}: {self.answer()}")
        try:
            return response.json()
        except ValueError:
            raise ReaderError(f"{redact_url(url)}: not JSON: {self.answer()}") from None

    def described(self, exc: Exception) -> str:
        """A network failure as text, urls and secrets redacted."""
        if isinstance(exc, requests.Timeout) and self.deadline.remaining() <= 0:
            return f"no answer by the harvest's {self.deadline.seconds:g} s deadline"
        if isinstance(exc, requests.Timeout):
            return f"no answer within {self.timeout:g} s ({type(exc).__name__})"
        return redact_text(f"{type(exc).__name__}: {exc}", self.secrets)

    def answer(self) -> str:
        """The last answer in a few words: status, content type and its first characters."""
        if self.last is None:
            return "no answer"
        response = self.last
        kind = response.headers.get("content-type", "no content type")
        start = redact_text(" ".join(response.text[:160].split()), self.secrets)
        return f"HTTP {response.status_code} ({kind}): {start!r}"


@contextmanager
def portal_client(source: Source) -> Iterator[PortalClient]:
    """A guarded client to the portal at `source.url` (an http(s) url), closed after use."""
    if urlsplit(source.url).scheme.lower() not in ("http", "https"):
        raise ReaderError(
            f"format {source.format!r} reads a portal's API: its url must be http(s)://, "
            f"got {redact_url(source.url)!r}"
        )
    settings = get_settings()
    credentials = resolve_credentials(source)
    deadline = Deadline(source.deadline or settings.fetch_deadline)
    session = requests.Session()
    session.trust_env = False  # an environment proxy would connect past the address check
    session.max_redirects = MAX_REDIRECTS
    session.stream = True  # bodies are read by `PortalClient.keep`, capped
    adapter = _GuardedAdapter(source.url, credentials)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    client = PortalClient(session, deadline, settings.fetch_timeout, credentials.secrets)
    session.hooks["response"].append(client.keep)
    try:
        yield client
    finally:
        session.close()


def relisting_due(source: Source, listed_at: datetime | None, now: datetime) -> bool:
    """Whether a portal's next harvest lists it whole, not from its stored position.

    Only a whole listing withdraws the datasets a portal stopped listing, and an increment
    cannot see a deletion: so the portal is listed whole again `options.relist_hours` after the
    last whole listing (default 24; 0: every harvest is a whole listing).
    """
    value = source.options.get("relist_hours", RELIST_HOURS)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ReaderError(f"options.relist_hours must be a number of hours from 0, got {value!r}")
    if listed_at is None:
        return True
    return now - as_utc(listed_at) >= timedelta(hours=value)


def since_of(source: Source, fetched: Fetched) -> datetime | None:
    """Where an increment starts: the stored position, or `options.since` (None: everything)."""
    value = fetched.since or source.options.get("since")
    if value is None or value == "":
        return None
    moment = parse_time(value if isinstance(value, str) else str(value))
    if moment is None:
        raise ReaderError(f"options.since must be an ISO 8601 time, got {value!r}")
    return moment


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 time or date in UTC (portals write UTC without an offset), or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def hub_dataset_id(source_id: str, name: str) -> str:
    """`{source}--{portal name}`: lower case, [a-z0-9._-], at most 100 characters.

    A name that had to be changed or cut gets a hash of the original, so two portal names
    never end up as one hub id.
    """
    lowered = name.strip().lower()
    slug = UNSAFE_IN_ID.sub("-", lowered).strip("-.")
    full = f"{source_id}--{slug}"
    if slug and slug == lowered and len(full) <= ID_LIMIT:
        return full
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:10]
    return f"{full[: ID_LIMIT - len(digest) - 1].rstrip('-.')}-{digest}"


def web_link(url: object) -> str:
    """`url` if it is an absolute http(s)/ftp link, else "" (a javascript: link is no file)."""
    if not isinstance(url, str):
        return ""
    parts = urlsplit(url.strip())
    return url.strip() if parts.scheme.lower() in WEB_SCHEMES and parts.netloc else ""


def bbox_of_geojson(value: object) -> list[float] | None:
    """[min lon, min lat, max lon, max lat] of a GeoJSON geometry or feature (or its text)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return None
    try:
        return box_of(list(_positions(value)))
    except RecursionError:
        return None


def _positions(node: object) -> Iterator[tuple[float, float]]:
    if isinstance(node, dict):
        for key in ("geometries", "features", "geometry", "coordinates"):
            if key in node:
                yield from _positions(node[key])
    elif isinstance(node, list):
        if len(node) >= 2 and all(_is_number(v) for v in node[:2]):
            yield float(node[0]), float(node[1])
        else:
            for item in node:
                yield from _positions(item)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def box_of(positions: Iterable[tuple[float, float]]) -> list[float] | None:
    """The box around lon/lat positions, or None if there are none or one is off the globe."""
    points = list(positions)
    if not points:
        return None
    lons, lats = [p[0] for p in points], [p[1] for p in points]
    box = [min(lons), min(lats), max(lons), max(lats)]
    if not all(math.isfinite(v) for v in box) or not (
        -180 <= box[0] <= box[2] <= 180 and -90 <= box[1] <= box[3] <= 90
    ):
        log.info("bounding box %s is not WGS84 longitude/latitude: dropped", box)
        return None
    return box


def metadata_batch(
    source: Source, datasets: list[PortalDataset], since: datetime | None, whole: bool
) -> MetadataBatch:
    """The batch of a portal's datasets, listed `since` a time (an increment) or all of them.

    `whole` says the listing was read to its end as the portal counted it. Only then does the
    position move on, to the latest modification listed: had a dataset been stepped over while
    the portal reordered its pages, the next increment still starts early enough to find it.
    """
    ids = [d.id for d in datasets]
    if len(set(ids)) != len(ids):
        raise ReaderError(f"source {source.id!r}: two datasets of the portal share a hub id")
    latest = max((d.modified for d in datasets if d.modified), default=None)
    position = max((t for t in (latest, since) if t), default=None) if whole else since
    batch = MetadataBatch(
        **batch_header(source),
        datasets=sorted(datasets, key=lambda d: d.id),
        complete=since is None and whole,
        position=position.isoformat() if position else "",
    )
    log.info(
        "%s: %d datasets (%s); next increment from %s",
        source.id,
        len(datasets),
        "the whole portal" if batch.complete else "an increment",
        batch.position or "the start",
    )
    return batch
