"""The API server's log: access lines without credentials, and (`hub serve`) every line with its
time and level.

A token sent in a query string is refused (hub.api.auth), but uvicorn writes the request line
before anyone reads it: its access log would keep the token. `create_app` puts a filter on
uvicorn's access logger, so this holds under `hub serve` and under plain
`uvicorn --factory hub.app:create_app` alike (a filter on a logger survives uvicorn's own
logging configuration). Other servers log requests under loggers of their own: configure theirs.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from hub.redaction import REDACTED, redact_url

ACCESS_LOGGER = "uvicorn.access"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"  # as the CLI's own lines (hub.cli)
# A hub token anywhere in a request line (a path, a parameter of any name): its id is kept, it
# names the token in `hub token list` without proving anything.
TOKEN = re.compile(r"\b(hub\.[0-9a-f]{16}\.)[A-Za-z0-9_-]{20,}")
# One character of a request target as the app reads it: itself, or percent-escaped once or more
# (`%2E`, `%2e` and `%252E` are dots): the log holds the target still escaped.
CHARACTER = re.compile(r"%(?:25)*([0-9A-Fa-f]{2})|.", re.DOTALL)


def redact_target(target: str) -> str:
    """A request target with credential-named parameters' values and hub tokens REDACTED, a
    token found however its characters are escaped."""
    raw = redact_url(target)
    if "%" not in raw:  # most lines: nothing escaped, nothing to decode (60 µs a line otherwise)
        return TOKEN.sub(rf"\1{REDACTED}", raw)
    characters = list(CHARACTER.finditer(raw))
    decoded = "".join(chr(int(c.group(1), 16)) if c.group(1) else c.group(0) for c in characters)
    pieces, done = [], 0
    for token in TOKEN.finditer(decoded):  # its id kept as written, its secret cut out
        start, end = characters[token.end(1)].start(), characters[token.end() - 1].end()
        pieces += [raw[done:start], REDACTED]
        done = end
    return "".join(pieces) + raw[done:]


class AccessRedactor(logging.Filter):
    """Rewrites an access record's request target (uvicorn logs it as one of the record's
    arguments); never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact every text argument, or the message when it comes already formatted."""
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                redact_target(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        elif not record.args and isinstance(record.msg, str):
            record.msg = redact_target(record.msg)
        return True


def redact_access_log() -> None:
    """Put the redactor on uvicorn's access logger, and QuietCuts on its error logger, once per
    process."""
    access = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, AccessRedactor) for f in access.filters):
        access.addFilter(AccessRedactor())
    errors = logging.getLogger(ERROR_LOGGER)
    if not any(isinstance(f, QuietCuts) for f in errors.filters):
        errors.addFilter(QuietCuts())


ERROR_LOGGER = "uvicorn.error"


class QuietCuts(logging.Filter):
    """Drops uvicorn's "Exception in ASGI application" for a download the server's stop cut
    (hub.api.downloads.DownloadCut): an ordinary end of a stop, which the hub logs at INFO."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a record of a cut download only."""
        from hub.api.downloads import DownloadCut

        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, DownloadCut)


def uvicorn_config() -> dict[str, Any]:
    """`hub serve`'s logging configuration for uvicorn: its own has no time on a line. Its
    messages on stderr and requests on stdout, as uvicorn does."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": FORMAT}},
        "handlers": {
            name: {"class": "logging.StreamHandler", "formatter": "plain", "stream": stream}
            for name, stream in (("default", "ext://sys.stderr"), ("access", "ext://sys.stdout"))
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            ACCESS_LOGGER: {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }
