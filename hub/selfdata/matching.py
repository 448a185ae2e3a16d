"""The operator's matching service (RUDI's protocol): given a person's matching values, the
subject key they prove, or nothing.

`POST {matching_url}` with `{"dataset": ID, "matching": {code: value, …}}`, answered
`200 {"subject_key": "…"}` or `404` (a wrong answer and "no data" alike). The values go to the
operator and nowhere else: they are not stored, logged, or quoted in any error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

import httpx

from hub import __version__, jsontext

log = logging.getLogger(__name__)

TIMEOUT = httpx.Timeout(5.0, connect=3.0)  # each step: connect, send, every read
DEADLINE = 10.0  # seconds for the whole answer (a service that trickles bytes is cut)
MAX_ANSWER = 16 * 1024  # bytes: a subject key fits with room to spare
MAX_KEY = 200  # characters of a subject key


class NoMatch(LookupError):
    """The operator knows no subject by these values (or has no data for them)."""


class MatchingUnavailable(RuntimeError):
    """The matching service could not answer: `down` when it could not be reached in time,
    else it answered something that is no answer of the protocol."""

    def __init__(self, reason: str, *, down: bool) -> None:
        super().__init__(reason)
        self.reason, self.down = reason, down


def ask(url: str, dataset_id: str, values: Mapping[str, object]) -> str:
    """The subject key the operator's service finds for `values`; NoMatch or MatchingUnavailable."""
    payload = {"dataset": dataset_id, "matching": dict(values)}
    headers = {"Accept": "application/json", "User-Agent": f"territorial-data-hub/{__version__}"}
    try:
        # No redirects: the values go to the address the charter names, nowhere else.
        with (
            httpx.Client(timeout=TIMEOUT, follow_redirects=False) as client,
            client.stream("POST", url, json=payload, headers=headers) as response,
        ):
            status = response.status_code
            if status == 404:
                raise NoMatch("the operator found no data for these matching values")
            if status != 200:
                log.warning("matching service of %s answered HTTP %d", dataset_id, status)
                raise MatchingUnavailable(
                    f"it answered HTTP {status}", down=status in (502, 503, 504)
                )
            body = _read(response)
    except httpx.TimeoutException:
        log.warning("matching service of %s timed out", dataset_id)
        raise MatchingUnavailable("it did not answer in time", down=True) from None
    except httpx.HTTPError as exc:
        log.warning("matching service of %s unreachable (%s)", dataset_id, type(exc).__name__)
        raise MatchingUnavailable("it could not be reached", down=True) from None
    return _subject_key(body)


def _read(response: httpx.Response) -> bytes:
    """The answer's body, cut off past MAX_ANSWER bytes or DEADLINE seconds."""
    started, parts, size = time.monotonic(), [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_ANSWER:
            raise MatchingUnavailable(f"its answer is over {MAX_ANSWER} bytes", down=False)
        if time.monotonic() - started > DEADLINE:
            raise MatchingUnavailable("it did not answer in time", down=True)
        parts.append(chunk)
    return b"".join(parts)


def _subject_key(body: bytes) -> str:
    """The subject key of a 200 answer, or MatchingUnavailable for anything else."""
    try:
        answer = jsontext.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MatchingUnavailable("its answer is not JSON", down=False) from None
    key = answer.get("subject_key") if isinstance(answer, dict) else None
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY or not key.isprintable():
        raise MatchingUnavailable("its answer holds no usable subject_key", down=False)
    return key.strip()
