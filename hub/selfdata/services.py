"""Registered services: the applications a data subject may consent to (name, URL, operator)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from hub.models import Service

_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


class ServiceRequestError(ValueError):
    """A service that cannot be registered as asked (bad id, name or URL, id taken)."""


class UnknownService(LookupError):
    """No registered service with that id."""


def register(
    session: Session, name: str, url: str, service_id: str | None = None, organization: str = ""
) -> Service:
    """Register a service under `service_id` (default: its name in lower case, hyphenated)."""
    name = name.strip()
    if not name or len(name) > 200:
        raise ServiceRequestError("a service needs a name of 1 to 200 characters")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 500:
        raise ServiceRequestError(
            f"the service's URL must be an absolute http(s) URL of at most 500 characters: {url!r}"
        )
    chosen = service_id or re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64]
    if not _ID.match(chosen):
        raise ServiceRequestError(
            f"service id {chosen!r}: 1 to 64 lower-case letters, digits and hyphens"
        )
    row = Service(id=chosen, name=name, url=url.strip(), organization=organization)
    session.add(row)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise ServiceRequestError(f"a service {chosen!r} is already registered") from None
    session.refresh(row)
    return row


def find(session: Session, service_id: str) -> Service:
    """A registered service, or UnknownService."""
    row = session.get(Service, service_id) if service_id else None
    if row is None:
        raise UnknownService(f"no registered service {service_id!r}")
    return row


def listing(session: Session) -> list[Service]:
    """Every registered service, by id."""
    return list(session.exec(select(Service).order_by(col(Service.id))).all())
