"""Fetch a feed's bytes to a local file: `file://` urls, plain paths and `http(s)://`.

Urls in source files may use two placeholders, expanded before fetching:

- `{samples}`: the shared sample-data folder (`HUB_SAMPLES_DIR`), so bundled source files can
  point at real sample files without hard-coding where they live;
- `{data}`: the hub's data folder (`HUB_DATA_DIR`), where the offline demo writes its feeds.

A relative `file:` url or plain path is resolved against the source file's folder, and read only
under an allowed root once links and `..` are resolved (`pipelines.roots`). An http(s) fetch
reaches public addresses only, each redirect hop included, unless `HUB_FETCH_ALLOW_PRIVATE` says
otherwise (`pipelines.transport`), and ends by its deadline (`options.deadline`, default
`HUB_FETCH_DEADLINE`), retries included. A fetched `*.gz` file is decompressed. Errors name a
path relative to a known folder, never the hub's own folders.

Credentials (`pipelines.credentials`) go to the source's own origin only, redirects included; urls
in errors and logs are redacted (`hub.redaction`), httpx's own request log too.
"""

from __future__ import annotations

import gzip
import logging
import shutil
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

from hub.config import get_settings
from hub.redaction import RedactingFilter, redact_text, redact_url
from pipelines import archives
from pipelines.credentials import NO_CREDENTIALS, Credentials
from pipelines.partial import writing
from pipelines.roots import ROOTS_RULE, root_of, without_paths
from pipelines.transport import AddressRefused, Allowance, Deadline, guarded_transport

log = logging.getLogger(__name__)
# httpx logs every request's full url at INFO: keys in query strings and user:password@ included.
logging.getLogger("httpx").addFilter(RedactingFilter())

BACKOFF_SECONDS = 0.5
CHUNK_BYTES = 1024 * 1024


class FetchError(RuntimeError):
    """A feed that could not be fetched."""


class Unchanged(FetchError):
    """The server says the feed has not changed since the copy last published (HTTP 304)."""


@dataclass
class Conditions:
    """HTTP validators: those of the copy last published (sent), then those of this fetch."""

    etag: str = ""
    last_modified: str = ""

    def headers(self) -> dict[str, str]:
        """The conditional request headers these validators make."""
        sent = {"If-None-Match": self.etag, "If-Modified-Since": self.last_modified}
        return {name: value for name, value in sent.items() if value}


def expand_url(url: str, base: Path | None = None) -> str:
    """Expand `{samples}` / `{data}` and make a relative file url absolute against `base`."""
    settings = get_settings()
    expanded = url.strip()
    if _scheme(expanded) in ("http", "https"):
        return expanded  # placeholders name local folders: never sent to a server
    expanded = expanded.replace("{samples}", settings.samples_dir.resolve().as_posix())
    expanded = expanded.replace("{data}", settings.data_dir.resolve().as_posix())
    path = _local_path(expanded)
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    return path.resolve().as_uri()


def check_readable(url: str, base: Path | None = None) -> None:
    """Refuse a local feed outside the allowed roots as its fetch would (FetchError); an
    http(s) url passes (its fetch has checks of its own)."""
    full = expand_url(url, base)
    if _scheme(full) not in ("http", "https"):
        _readable_path(url, full, base)


def fetch(
    url: str,
    dest_dir: Path,
    *,
    base: Path | None = None,
    max_bytes: int | None = None,
    credentials: Credentials = NO_CREDENTIALS,
    deadline: float | None = None,
    conditions: Conditions | None = None,
) -> Path:
    """Fetch `url` into `dest_dir` and return the local file (see the module doc for urls).

    With `conditions`, an http(s) fetch is conditional (Unchanged on a 304) and the
    validators of what it fetched are written back into them. `max_bytes` defaults to the
    HUB_FETCH_MAX_BYTES setting.
    """
    if max_bytes is None:
        max_bytes = get_settings().fetch_max_bytes
    full = expand_url(url, base)
    dest_dir.mkdir(parents=True, exist_ok=True)
    if _scheme(full) in ("http", "https"):
        seconds = get_settings().fetch_deadline if deadline is None else deadline
        fetched = _fetch_http(
            full, dest_dir, max_bytes, credentials, Deadline(seconds), conditions or Conditions()
        )
    else:
        fetched = _copy_file(_readable_path(url, full, base), dest_dir, max_bytes, base)
    # A gzipped tar stays whole: `pipelines.archives` opens it, its ratio cap measured on it.
    if fetched.suffix != ".gz" or archives.is_tar(fetched):
        return fetched
    try:
        return _gunzip(fetched, max_bytes)
    finally:
        fetched.unlink(missing_ok=True)  # our copy of the archive: the batch reads what it holds


def _gunzip(path: Path, max_bytes: int) -> Path:
    """Decompress a `.gz` feed (OpenAQ's archive serves them), capped against gzip bombs."""
    target = path.with_suffix("")
    try:
        with gzip.open(path, "rb") as src, writing(target) as dst:
            size = 0
            while chunk := src.read(CHUNK_BYTES):
                size += len(chunk)
                if size > max_bytes:
                    raise FetchError(f"{path.name} decompresses to over {max_bytes} bytes")
                dst.write(chunk)
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise FetchError(f"{path.name} is not a readable gzip file: {exc}") from exc
    return target


def _scheme(url: str) -> str:
    scheme = urlsplit(url).scheme.lower()
    # A one-letter scheme is a Windows drive ("C:\\data"), not a url.
    return "" if len(scheme) == 1 else scheme


def _local_path(url: str) -> Path:
    """The path named by a `file:` url or a plain path."""
    scheme = _scheme(url)
    if scheme == "":
        return Path(url)
    if scheme != "file":
        raise FetchError(
            f"unsupported url scheme {scheme!r} in {redact_url(url)!r} (use file:// or http(s)://)"
        )
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise FetchError(
            f"file url {redact_url(url)!r} names a remote host {parts.hostname or ''!r}"
        )
    return Path(unquote(parts.path))


def _readable_path(url: str, full: str, base: Path | None) -> Path:
    """The real path of a local feed, refused unless it lies under an allowed root."""
    path = _local_path(full)
    real = path.resolve()  # links and `..` resolved: a link out of a root is judged by its target
    if root_of(real, base) is None:
        # Named as the source file wrote it: the resolved path may be the hub's own.
        raise FetchError(f"{redact_url(url.strip())!r} is refused: {ROOTS_RULE}")
    return real


def _copy_file(path: Path, dest_dir: Path, max_bytes: int, base: Path | None) -> Path:
    """Copy a local feed so the batch keeps its own snapshot even if the file changes."""
    shown = without_paths(str(path), base)
    if not path.is_file():
        raise FetchError(f"no such file: {shown}")
    size = path.stat().st_size
    if size > max_bytes:
        raise FetchError(f"{shown} is {size} bytes, over the {max_bytes}-byte limit")
    target = dest_dir / path.name
    with path.open("rb") as src, writing(target) as dst:
        shutil.copyfileobj(src, dst, CHUNK_BYTES)
    log.info("fetched %s (%d bytes)", shown, size)
    return target


def _fetch_http(
    url: str,
    dest_dir: Path,
    max_bytes: int,
    credentials: Credentials,
    deadline: Deadline,
    conditions: Conditions,
) -> Path:
    """Download with retries on network errors and 5xx answers, never on 4xx, until `deadline`."""
    settings = get_settings()
    attempts = 1 + max(0, settings.fetch_retries)
    # A leading dot would hide the file among partial ones; ".." would name the parent folder.
    target = dest_dir / (Path(urlsplit(url).path).name.lstrip(".") or "download")
    hooks = {"request": [_only_http, _credentials_stay_home(url, credentials)]}
    transport = guarded_transport(Allowance.parse(settings.fetch_allow_private), deadline)
    shown = redact_url(url)
    # trust_env=False: a proxy from the environment would resolve hosts past the address check,
    # and ~/.netrc would hand its passwords to whichever host a redirect names.
    with httpx.Client(
        timeout=settings.fetch_timeout,
        follow_redirects=True,
        event_hooks=hooks,
        transport=transport,
        trust_env=False,
    ) as client:
        for attempt in range(1, attempts + 1):
            try:
                _download(client, url, target, max_bytes, credentials, conditions)
                return target
            except _Retryable as exc:
                delay = BACKOFF_SECONDS * 2 ** (attempt - 1)
                if deadline.remaining() <= delay:
                    raise FetchError(
                        f"{shown}: {exc} (abandoned at the {deadline.seconds:g} s "
                        f"deadline, after {attempt} attempt(s))"
                    ) from exc
                if attempt == attempts:
                    raise FetchError(f"{shown}: {exc} (gave up after {attempts} attempts)") from exc
                log.warning("fetch %s failed (%s); retry %d in %.1fs", shown, exc, attempt, delay)
                time.sleep(delay)
            except (AddressRefused, _SchemeRefused) as exc:
                raise FetchError(f"{shown}: {exc}") from None
    raise AssertionError("unreachable")


class _SchemeRefused(RuntimeError):
    """A redirect to a url that is not http(s)."""


def _only_http(request: httpx.Request) -> None:
    """A request hook refusing a redirect to anything but http(s): file://, ftp:// …"""
    if request.url.scheme not in ("http", "https"):
        raise _SchemeRefused(f"refused: a redirect to a {request.url.scheme}:// url")


def _credentials_stay_home(url: str, credentials: Credentials) -> Callable[[httpx.Request], None]:
    """A request hook that strips credentials from requests redirected to another origin."""
    home = _origin(httpx.URL(url))
    # httpx itself drops only Authorization, and keeps it on an http -> https hop.
    names = {"authorization", *(name.lower() for name in credentials.headers)}

    def strip_abroad(request: httpx.Request) -> None:
        if _origin(request.url) != home:
            for name in names:
                request.headers.pop(name, None)

    return strip_abroad


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    """Scheme, host and port: what "the same site" means for a credential."""
    default = {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, url.port or default


class _Retryable(Exception):
    """A failure that may go away: a network error or a 5xx answer."""


def _download(
    client: httpx.Client,
    url: str,
    target: Path,
    max_bytes: int,
    credentials: Credentials,
    conditions: Conditions,
) -> None:
    """One attempt: stream the body to a temporary file, then move it into place."""
    shown = redact_url(url)
    headers = {**conditions.headers(), **credentials.headers}
    try:
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 304:
                raise Unchanged(f"{shown} has not changed since the last harvest (HTTP 304)")
            if response.status_code >= 500:
                raise _Retryable(f"HTTP {response.status_code}")
            if response.status_code in (401, 403) and credentials.headers:
                raise FetchError(
                    f"{shown}: authentication refused (HTTP {response.status_code} "
                    f"{response.reason_phrase}): check the secret the source's auth names"
                )
            if response.status_code in (401, 403):
                raise FetchError(
                    f"{shown}: authentication required (HTTP {response.status_code} "
                    f"{response.reason_phrase}): the source names no auth"
                )
            if response.status_code >= 400:
                raise FetchError(f"{shown}: HTTP {response.status_code} {response.reason_phrase}")
            declared = int(response.headers.get("content-length") or 0)
            if declared > max_bytes:
                raise FetchError(f"{shown} is {declared} bytes, over the {max_bytes}-byte limit")
            with writing(target) as dst:
                size = 0
                for chunk in response.iter_bytes(CHUNK_BYTES):
                    size += len(chunk)
                    if size > max_bytes:
                        raise FetchError(f"{shown} is over the {max_bytes}-byte limit")
                    dst.write(chunk)
            log.info("fetched %s (%d bytes)", shown, size)
            conditions.etag = response.headers.get("etag", "")
            conditions.last_modified = response.headers.get("last-modified", "")
    except httpx.TransportError as exc:  # timeouts, refused connections, broken streams
        raise _Retryable(_described(exc, credentials)) from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:  # too many redirects, a malformed url
        raise FetchError(f"{shown}: {_described(exc, credentials)}") from exc


def _described(exc: Exception, credentials: Credentials) -> str:
    """An httpx error as text, with the urls and secrets it may quote redacted."""
    return redact_text(f"{type(exc).__name__}: {exc}", credentials.secrets)
