"""Credentials of private operators: a source's `auth:` references resolved into HTTP headers.

Source files name secrets (`env:VAR`, `prefect:BLOCK`), never hold them; they are read here, at
fetch time, so listing or checking sources needs no secret at hand.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from hub.redaction import redact_text
from pipelines.sources import Auth, Source, SourceError


class CredentialError(SourceError):
    """A secret a source file names but that cannot be read; says which, never its value."""


@dataclass(frozen=True)
class Credentials:
    """Headers to send to a source's own origin, and the values to redact everywhere else."""

    headers: dict[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()


NO_CREDENTIALS = Credentials()
DEFAULT_PORTS = {"http": 80, "https": 443}


def resolve_credentials(source: Source) -> Credentials:
    """The headers a source's `auth:` asks for, with its secrets read now."""
    if source.auth is None:
        return NO_CREDENTIALS
    try:
        return credentials_for(source.auth)
    except CredentialError as exc:
        raise CredentialError(str(exc), source.path) from None


def origin_of(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port: what "the same server" means for a credential."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or DEFAULT_PORTS.get(scheme)


def credentials_towards(credentials: Credentials, home: str, url: str) -> Credentials:
    """The source's credentials for a url of its own origin; none for another server's."""
    return credentials if origin_of(url) == origin_of(home) else NO_CREDENTIALS


def credentials_for(auth: Auth) -> Credentials:
    """The headers of one `auth:` mapping (header, basic or bearer)."""
    secret = read_secret(auth.secret)
    if auth.kind != "basic" and not secret.isascii():  # basic's value goes base64-encoded
        raise CredentialError(
            f"auth secret {auth.secret} holds non-ASCII characters, which an "
            "HTTP header cannot carry"
        )
    if auth.kind == "header":
        return Credentials({auth.name: secret}, (secret,))
    if auth.kind == "basic":
        token = base64.b64encode(f"{auth.name}:{secret}".encode()).decode("ascii")
        return Credentials({"Authorization": f"Basic {token}"}, (secret, token))
    return Credentials({"Authorization": f"Bearer {secret}"}, (secret,))


def read_secret(reference: str) -> str:
    """The value a reference names: `env:VAR` or `prefect:BLOCK` (a Prefect Secret block)."""
    where, _, name = reference.partition(":")
    value = _from_env(name) if where == "env" else _from_prefect(name)
    if not value.isprintable():  # a line break would end the header it is sent in
        raise CredentialError(f"auth secret {reference} holds control characters")
    return value


def _from_env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise CredentialError(f"auth secret env:{name}: environment variable {name} is not set")
    return value


def _from_prefect(name: str) -> str:
    # Imported here: only sources with a prefect: secret need Prefect's client.
    from prefect.blocks.system import Secret

    try:
        # Called from sync code, `load` returns the block itself, not a coroutine.
        value = Secret.load(name).get()  # type: ignore[union-attr]
    except Exception as exc:  # noqa: BLE001 — no block, no API: either way, say which secret
        raise CredentialError(
            f"auth secret prefect:{name}: cannot load the Prefect Secret "
            f"block ({type(exc).__name__}: {redact_text(str(exc))})"
        ) from None
    if not isinstance(value, str) or not value:
        raise CredentialError(f"auth secret prefect:{name}: the block's value is not a string")
    return value
