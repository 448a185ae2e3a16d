"""Housekeeping (hub.housekeeping): link attempts, sign-ins and ended tokens go after their
documented periods; what is still in use stays, and the append-only access log is untouched."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from hub import audit, housekeeping, signins, tokens
from hub.cli import app
from hub.models import ApiToken, LinkAttempt, SignIn, utcnow

NOW = utcnow()


def test_link_attempts_go_once_no_limit_counts_them(engine: Engine):
    with Session(engine) as session:
        for account, dataset_id, age in (
            ("alice", "curves-a", timedelta(hours=2)),  # at a dataset nobody tries any more
            ("bob", "curves-b", timedelta(days=40)),
            ("alice", "curves-a", timedelta(minutes=10)),  # still counted by the limits
        ):
            session.add(LinkAttempt(account=account, dataset_id=dataset_id, at=NOW - age))
        session.commit()
    swept = housekeeping.sweep(engine, NOW)
    assert swept.link_attempts == 2
    with Session(engine) as session:
        assert [(a.account, a.dataset_id) for a in session.exec(select(LinkAttempt))] == [
            ("alice", "curves-a")
        ]


def test_tokens_ended_long_ago_go_with_their_sign_ins(engine: Engine, monkeypatch):
    with Session(engine) as session:
        live = tokens.issue(session, "operator", ["atmo-demo"], name="live").row.id
        soon = tokens.issue(session, "admin", expires=NOW + timedelta(days=1)).row.id
        expired = tokens.issue(session, "admin", expires=NOW - timedelta(days=91)).row.id
        recent = tokens.issue(session, "operator", ["atmo-demo"], name="recently revoked").row.id
        revoked = tokens.issue(session, "agency", ["metropole-civil-protection"], "old").row.id
        # a subject's token stays: it tells the subject's own reads from others' in their history
        phone = tokens.issue(session, "subject", name="Alice's phone").row.id
        for token_id, age in ((recent, 10), (revoked, 100), (phone, 100)):
            row = session.get(ApiToken, token_id)
            row.revoked_at = NOW - timedelta(days=age)
            session.add(row)
        session.commit()
        kept_in = signins.start(session, live, NOW + timedelta(hours=8))
        session.add(SignIn(id="old", token_id=expired, expires_at=NOW + timedelta(hours=1)))
        session.add(SignIn(id="over", token_id=live, expires_at=NOW - timedelta(minutes=1)))
        session.commit()
    reads = audit.append(  # a read by the token about to go: its entry stays as written
        engine,
        audit.Entry(revoked, "agency", "", "curves", "grid-demo", "granted", "subjects", "/me"),
    )
    assert reads is not None
    swept = housekeeping.sweep(engine, NOW)
    assert (swept.tokens, swept.sign_ins) == (2, 1)
    with Session(engine) as session:
        assert set(session.exec(select(ApiToken.id))) == {live, soon, recent, phone}
        assert list(session.exec(select(SignIn.id).order_by(col(SignIn.id)))) == [kept_in]
    verified = audit.verify(engine)
    assert verified.intact and verified.checked == 1
    monkeypatch.setenv("HUB_KEEP_TOKENS_DAYS", "0")  # the setting: ended tokens go at once
    from hub.config import get_settings

    get_settings.cache_clear()
    assert housekeeping.sweep(engine, NOW).tokens == 1
    get_settings.cache_clear()


def test_the_cli_sweeps_with_the_retention_purge(engine: Engine):
    with Session(engine) as session:
        session.add(LinkAttempt(account="alice", dataset_id="curves", at=NOW - timedelta(days=3)))
        session.commit()
    result = CliRunner().invoke(app, ["db", "purge-expired"])
    assert result.exit_code == 0, result.output
    assert "1 link attempt(s), 0 expired sign-in(s) and 0 token(s) ended over 90 days" in (
        result.stdout
    )
    with Session(engine) as session:
        assert session.exec(select(LinkAttempt)).all() == []


def test_tombstones_are_listed_a_year_then_go(engine: Engine, monkeypatch):
    from hub.models import WithdrawnDataset

    with Session(engine) as session:
        for name, age in (("dropped-last-month", 30), ("dropped-long-ago", 366)):
            session.add(
                WithdrawnDataset(
                    id=name,
                    title=name,
                    organization_id="portal",
                    theme="air",
                    withdrawn_at=NOW - timedelta(days=age),
                )
            )
        session.commit()
    swept = housekeeping.sweep(engine, NOW)
    assert swept.tombstones == 1 and "1 tombstone(s) of datasets withdrawn over 365" in swept.note
    with Session(engine) as session:
        assert list(session.exec(select(WithdrawnDataset.id))) == ["dropped-last-month"]
    monkeypatch.setenv("HUB_KEEP_TOMBSTONES_DAYS", "7")
    from hub.config import get_settings

    get_settings.cache_clear()
    try:
        assert housekeeping.sweep(engine, NOW).tombstones == 1
    finally:
        get_settings.cache_clear()
