"""My data's consent form as the citizen sent it: a refused consent comes back with their
choices, so the field flagged invalid shows what they typed, and a too-late end date with the
latest day it may have (WCAG 3.3.1, 3.3.3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlmodel import Session

from hub.models import Dataset
from hub.selfdata import consents, links


@dataclass(frozen=True)
class Draft:
    """What the consent form shows: the citizen's last choices, or the form's defaults."""

    until: str  # the end day as the date field holds it (YYYY-MM-DD), "" when it held none
    service: str = ""
    purpose: str = ""
    datasets: tuple[str, ...] | None = None  # None: the form's default (a lone dataset checked)


def sent(service: str, datasets: list[str], purpose: str, expires: str) -> dict[str, object]:
    """The query a refused consent's redirect carries back to the form: the choices only, which
    name no matching value (those never leave the link form's POST)."""
    chosen = list(dict.fromkeys(datasets))[: consents.MAX_DATASETS]
    return {"service": service, "purpose": purpose, "until": expires.strip(), "datasets": chosen}


def draft(service: str, datasets: list[str], purpose: str, until: str) -> Draft:
    """The form as sent (read from the redirect's query); a day that is no day shows empty, as
    the browser's date field would show it."""
    return Draft(
        until=until if is_day(until) else "",
        service=service,
        purpose=purpose,
        datasets=tuple(datasets[: consents.MAX_DATASETS]),
    )


def is_day(text: str) -> bool:
    """Whether `text` is a day as a date field holds it (YYYY-MM-DD, nothing else)."""
    try:
        return date.fromisoformat(text).isoformat() == text
    except ValueError:
        return False


def latest_day(session: Session, account: str, dataset_ids: tuple[str, ...] | None) -> date:
    """The last day a consent given now to those of `dataset_ids` the account is linked to may
    hold through: the consent's longest term, or the end of a dataset's charter if sooner (the
    limit hub.selfdata.consents.give refuses past)."""
    held = links.held(session, account)
    found = [session.get(Dataset, d) for d in dataset_ids or () if d in held]
    latest, _ = consents.latest_expiry([d for d in found if d], datetime.now(UTC))
    return (latest - timedelta(days=1)).date()  # a day's consent ends at the next midnight
