"""Redaction: urls and texts with credentials and secret-looking query values taken out."""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote, quote_plus, unquote_plus

from hub.config import PROJECT_ROOT, get_settings

REDACTED = "REDACTED"
SECRET_PARAMS = frozenset(
    {
        "key",
        "token",
        "apikey",
        "api_key",
        "access_token",
        "auth",
        "authorization",
        "bearer",
        "signature",
        "sig",
        "password",
        "passwd",
        "secret",
        "client_secret",
        "code",
        "session",
    }
)
SECRET_PARTS = ("key", "token", "secret", "password")
# A url inside free text ends at whitespace, a quote or an angle bracket (as in reprs and HTML);
# punctuation right after it ("…/feed.csv: HTTP 404") belongs to the sentence.
URL_IN_TEXT = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>`]+")
TRAILING = ".,:;!?)]}"


def is_secret_param(name: str) -> bool:
    """Whether a query parameter's name says its value is a credential."""
    lowered = unquote_plus(name).strip().lower()
    return lowered in SECRET_PARAMS or any(part in lowered for part in SECRET_PARTS)


def redact_url(url: str) -> str:
    """The url without its user:password@ and with secret-looking query values REDACTED."""
    head, hash_mark, fragment = url.partition("#")
    head, question_mark, query = head.partition("?")
    # Only the authority may hold userinfo: the text between "//" and the next "/".
    scheme_end = head.find("://")
    if scheme_end > 0:
        start = scheme_end + 3
        slash = head.find("/", start)
        end = len(head) if slash < 0 else slash
        userinfo_end = head.rfind("@", start, end)
        if userinfo_end >= 0:
            head = head[:start] + head[userinfo_end + 1 :]
    # OAuth's implicit flow puts tokens in the fragment, written like a query.
    return (
        head
        + question_mark
        + _redact_params(query)
        + hash_mark
        + (_redact_params(fragment) if "=" in fragment else fragment)
    )


def _redact_params(query: str) -> str:
    """`a=1&key=x` with the values of secret-looking names replaced, the rest byte-identical."""
    parts = []
    for part in query.split("&"):
        name, equals, _value = part.partition("=")
        parts.append(f"{name}={REDACTED}" if equals and is_secret_param(name) else part)
    return "&".join(parts)


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """The text with every known secret value and every url in it redacted."""
    redacted = URL_IN_TEXT.sub(_redact_match, text)
    # Longest first, so a secret that contains another is replaced whole.
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            redacted = redacted.replace(form, REDACTED)
    return redacted


def _redact_match(match: re.Match[str]) -> str:
    url = match.group(0).rstrip(TRAILING)
    return redact_url(url) + match.group(0)[len(url) :]


class RedactingFilter(logging.Filter):
    """A logging filter that redacts urls in a record's message (httpx logs full request urls)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message when it holds something to redact; never drop it."""
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


QUOTED_MAX = 100  # characters of a caller's value a message quotes back (an id is at most 100)


def clipped(value: object, limit: int = QUOTED_MAX) -> str:
    """A value as a message may quote it: cut to `limit` characters, an ellipsis marking the
    cut, so that a 100 kB parameter is not answered back whole."""
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= limit else f"{text[:limit]}…"


def without_folders(text: str, extra: Iterable[Path] = (), flattened: Iterable[Path] = ()) -> str:
    """`text` with the hub's own folders cut out (run errors are public for open datasets):
    samples and data as `{samples}/` and `{data}/`, the others and `extra` to relative paths,
    and a folder of `flattened` with its first subfolder, so only a file name is left."""
    settings = get_settings()
    named = [(settings.samples_dir, "{samples}/"), (settings.data_dir, "{data}/")]
    plain = [
        *settings.source_dirs,
        *settings.schema_dirs,
        *settings.charter_dirs,
        *settings.file_roots,
        PROJECT_ROOT,
        *extra,
    ]
    shown: dict[str, str] = {}
    for folder, replacement in [*named, *((folder, "") for folder in plain)]:
        for form in _spellings(folder):
            shown.setdefault(form, replacement)
    # A `file://` URL of a folder cut to a relative path is spelt `file:path` (as source files
    # write relative files): `file://var/x.csv` would read as a host named `var`.
    prefix = "(file://)?"
    pairs = [(re.compile(prefix + re.escape(form + os.sep)), repl) for form, repl in shown.items()]
    for folder in flattened:
        for form in _spellings(folder):
            pairs.append((re.compile(prefix + re.escape(form + os.sep) + r"[^/\s'\"]+/"), ""))
    for pattern, replacement in sorted(pairs, key=lambda p: len(p[0].pattern), reverse=True):
        text = pattern.sub(functools.partial(_cut, replacement=replacement), text)  # deepest first
    return text


def _cut(found: re.Match[str], *, replacement: str) -> str:
    if not found.group(1):
        return replacement
    return f"file://{replacement}" if replacement.startswith("{") else f"file:{replacement}"


def _spellings(folder: Path) -> set[str]:
    """The ways a folder may be spelt in a message: as configured, absolute and resolved."""
    forms = {str(folder.absolute()), str(folder.resolve())}
    if folder.is_absolute():
        forms.add(str(folder))
    return {form.rstrip(os.sep) for form in forms if form.rstrip(os.sep)}
