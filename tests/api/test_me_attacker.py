"""Generated self-data histories (hypothesis): links with right and wrong details, consents to
registered and unknown services for allowed and refused purposes, expired, revoked, unlinked;
after each, every actor reads every personal dataset for every purpose, and no row leaves except
to its own linked subject or to a service holding a live consent for that purpose."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from api.subjects import (
    ALICE,
    BOB,
    CAROL,
    CURVES,
    GRID,
    MORE_CURVES,
    OTHER,
    OTHER_CURVES,
    PURPOSES,
    consent,
    link,
    world_fixture,  # noqa: F401 - the fixture
)
from api.support import client_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from hub.selfdata import attempts, consents

SUBJECTS = {"alice": ALICE, "bob": BOB, "carol": CAROL}
DATASETS = {CURVES: GRID, MORE_CURVES: GRID, OTHER_CURVES: OTHER}
SERVICES = {"coach": "energy-coach", "snoop": "snoop"}
ASKED = (None, *PURPOSES, "marketing")
EXAMPLES = 25
HOLDERS = {
    CURVES: ("alice", "bob", "carol"),
    MORE_CURVES: ("alice", "bob"),
    OTHER_CURVES: ("alice",),
}

households = st.sampled_from([ALICE, BOB, CAROL, (ALICE[0], BOB[1])])
linking = st.tuples(
    st.just("link"), st.sampled_from(list(SUBJECTS)), st.sampled_from(list(DATASETS)), households
)
consenting = st.tuples(
    st.just("consent"),
    st.sampled_from(list(SUBJECTS)),
    st.lists(st.sampled_from(list(DATASETS)), min_size=1, max_size=2, unique=True),
    st.sampled_from([*SERVICES.values(), "nobody"]),
    st.sampled_from([*PURPOSES, "marketing"]),
    st.sampled_from(["future", "past", "expired"]),
)
undoing = st.tuples(
    st.sampled_from(["revoke", "unlink"]), st.sampled_from(list(SUBJECTS)), st.integers(0, 3)
)
histories = st.lists(st.one_of(linking, consenting, undoing), min_size=1, max_size=8)


@pytest.fixture
def client(engine, world, monkeypatch):
    monkeypatch.setattr(attempts, "PER_ACCOUNT", attempts.Limit(10_000, timedelta(hours=1)))
    monkeypatch.setattr(attempts, "PER_DATASET", attempts.Limit(10_000, timedelta(hours=1)))
    with client_for(engine) as client:
        yield client


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=histories)
def test_no_personal_row_leaves_but_to_its_subject_or_a_live_consent(
    client, world, engine, history
):
    forget(engine)
    accounts = {
        who: client.get("/api/v1/me", headers=world.headers[who]).json()["account"]
        for who in SUBJECTS
    }
    for step in history:
        play(client, world, engine, accounts, step)
    allowed = expected(engine)
    readers = [
        *SUBJECTS,
        *SERVICES,
        "unregistered",
        "agency",
        "admin",
        "operator",
        "other-operator",
        None,
    ]
    for reader in readers:
        headers = world.headers[reader] if reader else {}
        for dataset, producer in DATASETS.items():
            for purpose in ASKED if reader in SERVICES or reader == "unregistered" else (None,):
                query = f"&purpose={purpose}" if purpose else ""
                response = client.get(
                    f"/api/v1/datasets/{dataset}/records?limit=1000{query}", headers=headers
                )
                keys = {r["subject_key"] for r in response.json().get("records", [])}
                if (
                    reader == "operator"
                    and producer == GRID
                    or reader == "other-operator"
                    and producer == OTHER
                ):
                    assert response.status_code == 200 and keys
                    continue
                may = may_read(allowed, accounts, reader, dataset, purpose)
                assert keys <= may, (reader, dataset, purpose, history)
                if not may:  # no grant at all: refused, and said so
                    assert response.status_code in (401, 403), (reader, dataset, purpose)
                else:  # every row the grant opens, and those only
                    present = {world.of(producer, SUBJECTS[h]) for h in HOLDERS[dataset]}
                    assert response.status_code == 200 and keys == may & present, (
                        reader,
                        dataset,
                        purpose,
                    )


def forget(engine) -> None:
    """A fresh history: no link, consent or attempt (the access log keeps everything)."""
    with engine.begin() as connection:
        for table in ("consentlink", "consentdataset", "consent", "subjectlink", "linkattempt"):
            connection.execute(sa.text(f"DELETE FROM {table}"))


def play(client, world, engine, accounts, step) -> None:
    """One generated step, through the API (an expired consent through the domain, dated back)."""
    kind, who = step[0], step[1]
    headers = world.headers[who]
    if kind == "link":
        _, _, dataset, household = step
        answer = link(client, world, who, dataset, household)
        known = household in (ALICE, BOB, CAROL)
        assert answer.status_code == (201 if known else 404), answer.text
        if known:
            assert answer.json()["pseudonym"] == world.of(DATASETS[dataset], household)
    elif kind == "consent":
        _, _, datasets, service, purpose, when = step
        if when == "expired":
            # refused as the API would refuse it (no link, unknown service, purpose)
            with Session(engine) as session, contextlib.suppress(consents.ConsentRefused):
                consents.give(
                    session,
                    accounts[who],
                    service,
                    datasets,
                    purpose,
                    datetime.now(UTC) - timedelta(seconds=1),
                    "http://testserver/",
                    now=datetime.now(UTC) - timedelta(days=1),
                )
            return
        expires = "2020-01-01" if when == "past" else None
        answer = consent(client, world, who, datasets, purpose, service, expires)
        assert answer.status_code in (201, 400, 403), answer.text
    else:
        listed = client.get("/api/v1/me", headers=headers).json()
        items = listed["consents" if kind == "revoke" else "links"]
        if items:
            item = items[step[2] % len(items)]
            path = "consents" if kind == "revoke" else "links"
            assert client.delete(
                f"/api/v1/me/{path}/{item['id']}", headers=headers
            ).status_code in (200, 204)


def expected(engine) -> dict[str, object]:
    """The model: links and live consents as the database holds them now."""
    now = datetime.now(UTC)
    with engine.connect() as connection:
        link_rows = connection.execute(
            sa.text("SELECT account, dataset_id, pseudonym FROM subjectlink")
        ).all()
        consent_rows = connection.execute(
            sa.text(
                "SELECT c.account, c.service_id, c.purpose, c.expires_at, c.revoked_at, "
                "d.dataset_id FROM consent c JOIN consentdataset d ON d.consent_id = c.id"
            )
        ).all()
    live = {
        (account, service, purpose, dataset)
        for account, service, purpose, expires, revoked, dataset in consent_rows
        if revoked is None and _aware(expires) > now
    }
    return {"links": {(a, d, p) for a, d, p in link_rows}, "live": live}


def may_read(allowed, accounts, reader, dataset, purpose) -> set[str]:
    """The pseudonyms `reader` may read in `dataset` for `purpose`, by the model."""
    links = allowed["links"]
    if reader in SUBJECTS:
        return {p for a, d, p in links if a == accounts[reader] and d == dataset}
    if reader in SERVICES and purpose:
        service = SERVICES[reader]
        return {
            p
            for a, d, p in links
            if d == dataset and (a, service, purpose, dataset) in allowed["live"]
        }
    return set()


def _aware(moment) -> datetime:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
