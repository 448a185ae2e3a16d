"""Redaction: urls and texts with credentials and secret-looking query values taken out."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus, unquote_plus

REDACTED = "REDACTED"
SECRET_PARAMS = frozenset(
    {
        "key",
        "token",
        "apikey",
        "api_key",
        "access_token",
        "auth",
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


def without_folders(text: str) -> str:
    """`text` with the hub's own folders cut out (run errors are public for open datasets)."""
    from hub.config import PROJECT_ROOT, get_settings  # settings change between calls (tests)

    settings = get_settings()
    named = [(settings.samples_dir, "{samples}/"), (settings.data_dir, "{data}/")]
    plain = [
        (folder, "")
        for folder in (
            *settings.schema_dirs,
            *settings.charter_dirs,
            *settings.source_dirs,
            *settings.file_roots,
            PROJECT_ROOT,
        )
    ]
    forms: dict[str, str] = {}
    for folder, shown in [*named, *plain]:
        for form in {str(folder), str(folder.absolute()), str(folder.resolve())}:
            if form.strip("/"):
                forms.setdefault(form.rstrip("/") + "/", shown)
    for form in sorted(forms, key=len, reverse=True):  # the deepest folder first
        text = text.replace(form, forms[form])
    return text
