"""Fetch a feed's bytes to a local file: `file://` urls, plain paths and `http(s)://`.

Urls in source files may use two placeholders, expanded before fetching:

- `{samples}`: the shared sample-data folder (`HUB_SAMPLES_DIR`), so bundled source files can
  point at real sample files without hard-coding where they live;
- `{data}`: the hub's data folder (`HUB_DATA_DIR`), where the offline demo writes its feeds.

A relative `file:` url or plain path is resolved against the source file's folder. A fetched
`*.gz` file is decompressed.

Credentials (`pipelines.credentials`) go to the source's own origin only, redirects included; urls
in errors and logs are redacted (`hub.redaction`), httpx's own request log too.
"""

from __future__ import annotations

import gzip
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

import httpx

from hub.config import get_settings
from hub.redaction import RedactingFilter, redact_text, redact_url
from pipelines.credentials import NO_CREDENTIALS, Credentials

log = logging.getLogger(__name__)
# httpx logs every request's full url at INFO: keys in query strings and user:password@ included.
logging.getLogger("httpx").addFilter(RedactingFilter())

MAX_BYTES = 1024 * 1024 * 1024  # 1 GiB: a feed larger than this is a mistake, not a batch
BACKOFF_SECONDS = 0.5
CHUNK_BYTES = 1024 * 1024


class FetchError(RuntimeError):
    """A feed that could not be fetched."""


def expand_url(url: str, base: Path | None = None) -> str:
    """Expand `{samples}` / `{data}` and make a relative file url absolute against `base`."""
    settings = get_settings()
    expanded = url.strip()
    expanded = expanded.replace("{samples}", settings.samples_dir.resolve().as_posix())
    expanded = expanded.replace("{data}", settings.data_dir.resolve().as_posix())
    if _scheme(expanded) in ("http", "https"):
        return expanded
    path = _local_path(expanded)
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    return path.resolve().as_uri()


def fetch(
    url: str,
    dest_dir: Path,
    *,
    base: Path | None = None,
    max_bytes: int = MAX_BYTES,
    credentials: Credentials = NO_CREDENTIALS,
) -> Path:
    """Fetch `url` into `dest_dir` and return the local file (see the module doc for urls)."""
    full = expand_url(url, base)
    dest_dir.mkdir(parents=True, exist_ok=True)
    if _scheme(full) in ("http", "https"):
        fetched = _fetch_http(full, dest_dir, max_bytes, credentials)
    else:
        fetched = _copy_file(_local_path(full), dest_dir, max_bytes)
    return _gunzip(fetched, max_bytes) if fetched.suffix == ".gz" else fetched


def _gunzip(path: Path, max_bytes: int) -> Path:
    """Decompress a `.gz` feed (OpenAQ's archive serves them), capped against gzip bombs."""
    target = path.with_suffix("")
    try:
        with gzip.open(path, "rb") as src, _writing(target) as dst:
            size = 0
            while chunk := src.read(CHUNK_BYTES):
                size += len(chunk)
                if size > max_bytes:
                    raise FetchError(f"{path} decompresses to over {max_bytes} bytes")
                dst.write(chunk)
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise FetchError(f"{path} is not a readable gzip file: {exc}") from exc
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


def _copy_file(path: Path, dest_dir: Path, max_bytes: int) -> Path:
    """Copy a local feed so the batch keeps its own snapshot even if the file changes."""
    if not path.is_file():
        raise FetchError(f"no such file: {path}")
    size = path.stat().st_size
    if size > max_bytes:
        raise FetchError(f"{path} is {size} bytes, over the {max_bytes}-byte limit")
    target = dest_dir / path.name
    if target.resolve() == path.resolve():
        return target
    with path.open("rb") as src, _writing(target) as dst:
        shutil.copyfileobj(src, dst, CHUNK_BYTES)
    log.info("fetched %s (%d bytes)", path, size)
    return target


def _fetch_http(url: str, dest_dir: Path, max_bytes: int, credentials: Credentials) -> Path:
    """Download with retries on network errors and 5xx answers, never on 4xx."""
    settings = get_settings()
    attempts = 1 + max(0, settings.fetch_retries)
    target = dest_dir / (Path(urlsplit(url).path).name or "download")
    hooks = {"request": [_credentials_stay_home(url, credentials)]}
    with httpx.Client(timeout=settings.fetch_timeout, follow_redirects=True,
                      event_hooks=hooks) as client:
        for attempt in range(1, attempts + 1):
            try:
                _download(client, url, target, max_bytes, credentials)
                return target
            except _Retryable as exc:
                shown = redact_url(url)
                if attempt == attempts:
                    raise FetchError(f"{shown}: {exc} (gave up after {attempts} attempts)") from exc
                delay = BACKOFF_SECONDS * 2 ** (attempt - 1)
                log.warning("fetch %s failed (%s); retry %d in %.1fs", shown, exc, attempt, delay)
                time.sleep(delay)
    raise AssertionError("unreachable")


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


def _download(client: httpx.Client, url: str, target: Path, max_bytes: int,
              credentials: Credentials) -> None:
    """One attempt: stream the body to a temporary file, then move it into place."""
    shown = redact_url(url)
    try:
        with client.stream("GET", url, headers=credentials.headers) as response:
            if response.status_code >= 500:
                raise _Retryable(f"HTTP {response.status_code}")
            if response.status_code >= 400:
                raise FetchError(f"{shown}: HTTP {response.status_code} {response.reason_phrase}")
            declared = int(response.headers.get("content-length") or 0)
            if declared > max_bytes:
                raise FetchError(f"{shown} is {declared} bytes, over the {max_bytes}-byte limit")
            with _writing(target) as dst:
                size = 0
                for chunk in response.iter_bytes(CHUNK_BYTES):
                    size += len(chunk)
                    if size > max_bytes:
                        raise FetchError(f"{shown} is over the {max_bytes}-byte limit")
                    dst.write(chunk)
            log.info("fetched %s (%d bytes)", shown, size)
    except httpx.TransportError as exc:  # timeouts, refused connections, broken streams
        raise _Retryable(_described(exc, credentials)) from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:  # too many redirects, a malformed url
        raise FetchError(f"{shown}: {_described(exc, credentials)}") from exc


def _described(exc: Exception, credentials: Credentials) -> str:
    """An httpx error as text, with the urls and secrets it may quote redacted."""
    return redact_text(f"{type(exc).__name__}: {exc}", credentials.secrets)


@contextmanager
def _writing(target: Path) -> Iterator[BinaryIO]:
    """A temporary file beside `target`, moved into place only if the block succeeds."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    tmp = Path(name)
    try:
        with open(fd, "wb") as file:
            yield file
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
