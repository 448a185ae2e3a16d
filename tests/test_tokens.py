"""Tokens: random, stored as a keyed hash, checked in constant time, expiring and revocable."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from hub import tokens
from hub.models import ApiToken, utcnow


def test_a_token_is_random_shown_once_and_stored_only_as_a_hash(engine):
    with Session(engine) as session:
        first = tokens.issue(session, "agency", ["metropole", "a-town"], "GIS team")
        second = tokens.issue(session, "agency", ["metropole"])
        rows = session.exec(select(ApiToken)).all()
    assert first.token != second.token and first.token.startswith("hub.")
    secret = first.token.split(".", 2)[2]
    assert len(secret) == 43  # 32 random bytes, base64url: 256 bits
    stored = " ".join(str(r.model_dump()) for r in rows)
    assert secret not in stored and first.token not in stored
    assert first.row.organizations == ["a-town", "metropole"]


def test_a_token_proves_its_role_and_organizations(engine):
    with Session(engine) as session:
        issued = tokens.issue(session, "operator", ["atmo-demo"], "harvester")
        actor = tokens.check(session, issued.token)
    assert (actor.id, actor.role, actor.organizations) == (
        issued.row.id,
        "operator",
        frozenset({"atmo-demo"}),
    )


@pytest.mark.parametrize(
    "role,orgs,words",
    [
        ("operator", [], "exactly 1"),
        ("operator", ["a", "b"], "exactly 1"),
        ("agency", [], "between 1"),
        ("subject", ["a"], "no organization"),
        ("admin", ["a"], "no organization"),
        ("superuser", [], "unknown role"),
    ],
)
def test_tokens_that_make_no_sense_are_not_issued(engine, role, orgs, words):
    with Session(engine) as session, pytest.raises(tokens.TokenRequestError, match=words):
        tokens.issue(session, role, orgs)


def test_a_token_of_another_hub_key_is_refused(engine, monkeypatch):
    from hub.config import get_settings

    with Session(engine) as session:
        issued = tokens.issue(session, "admin")
        monkeypatch.setenv("HUB_SECRET_KEY", "k" * 40)
        get_settings.cache_clear()
        with pytest.raises(tokens.InvalidToken):
            tokens.check(session, issued.token)


def test_expiry_and_revocation(engine):
    with Session(engine) as session:
        soon = tokens.issue(session, "admin", expires=utcnow() + timedelta(hours=1))
        tokens.check(session, soon.token)
        with pytest.raises(tokens.InvalidToken, match="expired"):
            tokens.check(session, soon.token, now=utcnow() + timedelta(hours=2))
        tokens.revoke(session, soon.row.id)
        with pytest.raises(tokens.InvalidToken, match="revoked"):
            tokens.check(session, soon.token)
        with pytest.raises(tokens.UnknownToken):
            tokens.revoke(session, "0" * 16)


@pytest.mark.parametrize(
    "text,hours", [("90d", 90 * 24), ("12h", 12), ("30m", 0.5), ("2w", 14 * 24)]
)
def test_expiry_durations(text, hours):
    now = utcnow()
    assert tokens.parse_expiry(text, now) == now + timedelta(hours=hours)
    assert tokens.parse_expiry("never") is None


@pytest.mark.parametrize("text", ["0d", "90", "ninety days", "-1d", "1y"])
def test_bad_expiry_durations_are_refused(text):
    with pytest.raises(tokens.TokenRequestError, match="not a duration"):
        tokens.parse_expiry(text)
