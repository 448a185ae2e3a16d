"""/api/v1/org/tokens: an operator (or a service or crisis-cell token) lists, issues and revokes
its own organization's tokens of its role, and nothing else; every issue and revoke is logged."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
from api.support import client_for
from sqlmodel import Session, select
from ui.pagetext import sign_in

from hub import tokens
from hub.config import get_settings
from hub.models import AccessEvent, ApiToken, as_utc
from hub.selfdata import services

ORG = "/api/v1/org/tokens"


def issue(engine, role: str, *orgs: str, name: str = "", service: str | None = None):
    with Session(engine) as session:
        return tokens.issue(session, role, list(orgs), name or f"test {role}", service=service)


def bearer(issued: tokens.Issued) -> dict[str, str]:
    return {"Authorization": f"Bearer {issued.token}"}


def token_count(engine) -> int:
    with Session(engine) as session:
        return len(session.exec(select(ApiToken.id)).all())


def logged(engine) -> list[AccessEvent]:
    with Session(engine) as session:
        return list(session.exec(select(AccessEvent).where(AccessEvent.scope == "token")).all())


def test_an_operator_rotates_its_token_and_the_old_one_ends_with_its_sessions(engine):
    old = issue(engine, "operator", "atmo-demo", name="harvester 2025")
    colleague = issue(engine, "operator", "atmo-demo", name="colleague")
    with client_for(engine) as client, client_for(engine) as browser:
        listed = client.get(ORG, headers=bearer(old)).json()
        assert {t["id"] for t in listed} == {old.row.id, colleague.row.id}
        assert [t["id"] for t in listed if t["current"]] == [old.row.id]
        assert old.token not in str(listed) and "secret" not in str(listed)

        made = client.post(
            ORG, json={"name": "harvester 2026", "expires": "90d"}, headers=bearer(old)
        )
        assert made.status_code == 201, made.text
        assert made.headers["cache-control"] == "private, no-store"
        new = made.json()
        assert (new["role"], new["organization"], new["name"]) == (
            "operator",
            "atmo-demo",
            "harvester 2026",
        )
        expires = datetime.fromisoformat(new["expires"])
        assert timedelta(days=89) < expires - datetime.now(UTC) <= timedelta(days=90)
        fresh = {"Authorization": f"Bearer {new['token']}"}
        relisted = client.get(ORG, headers=fresh).json()
        assert [t["id"] for t in relisted if t["current"]] == [new["id"]]
        assert new["token"] not in str(relisted)

        assert sign_in(browser, old.token).status_code == 303  # a session opened with the old one
        assert browser.get(ORG).status_code == 200
        assert client.delete(f"{ORG}/{old.row.id}", headers=fresh).status_code == 204
        assert client.get(ORG, headers=bearer(old)).status_code == 401
        assert browser.get(ORG).status_code == 401
        assert client.get(ORG, headers=bearer(colleague)).status_code == 200
        # its own token too: then it is refused as well
        assert client.delete(f"{ORG}/{new['id']}", headers=fresh).status_code == 204
        assert client.get(ORG, headers=fresh).status_code == 401
        # the organization's access log says who issued and revoked what
        log = client.get("/api/v1/access-log", headers=bearer(colleague)).json()["entries"]
    minted = [e for e in log if e["scope"] == "token" and e["outcome"] == "granted"]
    assert [(e["actor_id"], e["reason"].split()[0]) for e in minted] == [
        (old.row.id, "issued"),
        (new["id"], "revoked"),
        (new["id"], "revoked"),
    ]
    # and the two requests made with a token already revoked, against that token
    tried = [(e["actor_id"], e["outcome"]) for e in log if e["outcome"] == "refused"]
    assert tried == [(old.row.id, "refused"), (new["id"], "refused")]
    assert new["id"] in minted[0]["reason"] and old.row.id in minted[1]["reason"]
    assert {e["route"] for e in minted} == {ORG, f"{ORG}/{old.row.id}", f"{ORG}/{new['id']}"}


def test_no_token_of_another_organization_or_role_is_listed_revoked_or_minted(engine):
    mine = issue(engine, "operator", "atmo-demo")
    others = [
        issue(engine, "operator", "openaq"),  # another organization
        issue(engine, "service", "atmo-demo"),  # another role of the same organization
        issue(engine, "crisis-cell", "atmo-demo"),
        issue(engine, "agency", "atmo-demo"),
        issue(engine, "admin"),
    ]
    with client_for(engine) as client:
        assert [t["id"] for t in client.get(ORG, headers=bearer(mine)).json()] == [mine.row.id]
        # guessed ids and others' ids get the same 404 as ids that do not exist
        guesses = [o.row.id for o in others] + [secrets.token_hex(8) for _ in range(5)]
        for guess in guesses:
            answer = client.delete(f"{ORG}/{guess}", headers=bearer(mine))
            assert answer.status_code == 404, guess
            assert answer.json()["detail"] == (f"no token {guess!r} in this organization and role")
        # a body naming another organization or role mints nothing
        before = token_count(engine)
        for forged in (
            {"organization": "openaq"},
            {"organizations": ["openaq"]},
            {"role": "admin"},
            {"org": "openaq"},
            {"service": "snoop"},
        ):
            body = {"name": "forged", "expires": "30d", **forged}
            refused = client.post(ORG, json=body, headers=bearer(mine))
            assert refused.status_code == 400 and next(iter(forged)) in refused.text, refused.text
        assert token_count(engine) == before
        for other in others:  # every other token still works
            assert client.get("/api/v1/access-log", headers=bearer(other)).status_code != 401
    with Session(engine) as session:
        assert all(session.get(ApiToken, o.row.id).revoked_at is None for o in others)
    assert logged(engine) == []


def test_a_service_and_a_crisis_cell_manage_only_their_own(engine):
    with Session(engine) as session:
        for name in ("coach", "rival"):
            services.register(session, name, f"https://{name}.example.org", name, "atmo-demo")
    coach = issue(engine, "service", "atmo-demo", service="coach")
    rival = issue(engine, "service", "atmo-demo", service="rival")
    cell = issue(engine, "crisis-cell", "prefecture")
    with client_for(engine) as client:
        assert [t["id"] for t in client.get(ORG, headers=bearer(coach)).json()] == [coach.row.id]
        assert client.delete(f"{ORG}/{rival.row.id}", headers=bearer(coach)).status_code == 404
        made = client.post(ORG, json={"name": "n", "expires": "7d"}, headers=bearer(coach)).json()
        assert (made["role"], made["organization"]) == ("service", "atmo-demo")
        with Session(engine) as session:
            assert session.get(ApiToken, made["id"]).service_id == "coach"  # the same service
        celled = client.post(ORG, json={"name": "n", "expires": "7d"}, headers=bearer(cell))
        assert celled.json()["role"] == "crisis-cell"
        assert celled.json()["organization"] == "prefecture"


def test_other_tokens_and_anonymous_callers_are_refused_as_elsewhere(engine):
    with client_for(engine) as client:
        assert client.get(ORG).status_code == 401
        assert "WWW-Authenticate" in client.get(ORG).headers
        assert client.post(ORG, json={"name": "n", "expires": "7d"}).status_code == 401
        assert client.delete(f"{ORG}/{secrets.token_hex(8)}").status_code == 401
        for refused in (
            issue(engine, "subject"),
            issue(engine, "admin"),
            issue(engine, "agency", "atmo-demo"),
            issue(engine, "crisis-cell"),  # a cell of no organization has no team
        ):
            for answer in (
                client.get(ORG, headers=bearer(refused)),
                client.post(ORG, json={"name": "n", "expires": "7d"}, headers=bearer(refused)),
                client.delete(f"{ORG}/{refused.row.id}", headers=bearer(refused)),
            ):
                assert answer.status_code == 403, (refused.row.role, answer.text)


@pytest.mark.parametrize(
    ("expires", "says"),
    [
        ("366d", "at most 365 days (HUB_MAX_TOKEN_DAYS)"),
        ("53w", "at most 365 days"),
        ("2999-01-01", "at most 365 days"),
        ("never", "an expiry is required"),
        ("", "an expiry is required"),
        ("2020-01-01", "already past"),
        ("tomorrow", "neither a duration"),
    ],
)
def test_an_expiry_is_required_and_capped(engine, expires, says):
    caller = issue(engine, "operator", "atmo-demo")
    before = token_count(engine)
    with client_for(engine) as client:
        answer = client.post(ORG, json={"name": "n", "expires": expires}, headers=bearer(caller))
        assert answer.status_code == 400 and says in answer.json()["detail"], answer.text
        missing = client.post(ORG, json={"name": "n"}, headers=bearer(caller))
        assert missing.status_code == 400 and "expires" in missing.text
    assert token_count(engine) == before


def test_the_cap_follows_the_setting_and_a_date_is_taken(engine, monkeypatch):
    caller = issue(engine, "operator", "atmo-demo")
    monkeypatch.setenv("HUB_MAX_TOKEN_DAYS", "30")
    get_settings.cache_clear()
    day = (datetime.now(UTC) + timedelta(days=20)).date()
    with client_for(engine) as client:
        post = lambda expires: client.post(  # noqa: E731
            ORG, json={"name": "n", "expires": expires}, headers=bearer(caller)
        )
        assert "at most 30 days" in post("31d").json()["detail"]
        assert post("30d").status_code == 201
        dated = post(day.isoformat())
        assert dated.status_code == 201
        assert dated.json()["expires"].startswith(f"{day.isoformat()}T00:00:00")


def test_a_leaked_token_is_revoked_with_every_token_it_minted_and_rotation_keeps_them(engine):
    leaked = issue(engine, "operator", "atmo-demo", name="leaked laptop")
    admin_made = issue(engine, "operator", "atmo-demo", name="colleague")
    with client_for(engine) as client:

        def mint(by: dict[str, str], name: str) -> dict:
            made = client.post(ORG, json={"name": name, "expires": "30d"}, headers=by)
            assert made.status_code == 201, made.text
            return made.json()

        child = mint(bearer(leaked), "minted by the thief")
        grandchild = mint({"Authorization": f"Bearer {child['token']}"}, "and by that one")
        sibling = mint(bearer(admin_made), "minted by a colleague")
        listed = {
            t["id"]: t["issued_by"] for t in client.get(ORG, headers=bearer(admin_made)).json()
        }
        assert listed == {
            leaked.row.id: None,
            admin_made.row.id: None,
            child["id"]: leaked.row.id,
            grandchild["id"]: child["id"],
            sibling["id"]: admin_made.row.id,
        }
        # a plain revoke is a rotation: what the token issued keeps working
        rotated = mint(bearer(admin_made), "rotated")
        assert (
            client.delete(f"{ORG}/{admin_made.row.id}", headers=bearer(leaked)).status_code == 204
        )
        assert (
            client.get(ORG, headers={"Authorization": f"Bearer {sibling['token']}"}).status_code
            == 200
        )

        gone = client.delete(
            f"{ORG}/{leaked.row.id}", params={"with_issued": "true"}, headers=bearer(leaked)
        )
        assert gone.status_code == 204
        for made in (child, grandchild):
            headers = {"Authorization": f"Bearer {made['token']}"}
            assert client.get(ORG, headers=headers).status_code == 401
        survivor = {"Authorization": f"Bearer {rotated['token']}"}
        assert client.get(ORG, headers=survivor).status_code == 200
        assert (
            client.get(ORG, headers={"Authorization": f"Bearer {sibling['token']}"}).status_code
            == 200
        )
    revoked = [e.reason.split()[3] for e in logged(engine) if e.reason.startswith("revoked")]
    assert revoked == [admin_made.row.id, leaked.row.id, child["id"], grandchild["id"]]


def test_with_issued_reaches_no_token_of_another_team(engine):
    own = issue(engine, "operator", "atmo-demo", name="ours")
    other = issue(engine, "operator", "openaq", name="theirs")
    with client_for(engine) as client:
        theirs = client.post(ORG, json={"name": "x", "expires": "3d"}, headers=bearer(other)).json()
        refused = client.delete(
            f"{ORG}/{other.row.id}", params={"with_issued": "true"}, headers=bearer(own)
        )
        assert refused.status_code == 404
        assert (
            client.get(ORG, headers={"Authorization": f"Bearer {theirs['token']}"}).status_code
            == 200
        )


def test_a_token_issued_with_a_token_expires_no_later_than_it(engine):
    with Session(engine) as session:
        cell = tokens.issue(
            session,
            "crisis-cell",
            ["prefecture-herault-cell"],
            "issued by the authority for 30 days",
            tokens.parse_expiry("30d"),
        )
    with Session(engine) as session:
        ceiling = as_utc(session.get(ApiToken, cell.row.id).expires_at)
    with client_for(engine) as client:
        longer = client.post(
            ORG, json={"name": "my own copy", "expires": "365d"}, headers=bearer(cell)
        )
        assert longer.status_code == 201  # brought back to the issuing token's own end
        assert datetime.fromisoformat(longer.json()["expires"]) == ceiling
        shorter = client.post(ORG, json={"name": "a shift", "expires": "7d"}, headers=bearer(cell))
        assert datetime.fromisoformat(shorter.json()["expires"]) < ceiling
        ckan = client.post(
            "/api/3/action/api_token_create",
            json={"user": "prefecture-herault-cell", "name": "x", "expires_in": 300},
            headers=bearer(cell),
        )
        assert ckan.status_code == 200
    with Session(engine) as session:
        minted = [r for r in session.exec(select(ApiToken)).all() if r.id != cell.row.id]
        assert len(minted) == 3 and all(as_utc(r.expires_at) <= ceiling for r in minted)


def test_a_revoked_or_expired_token_still_tried_is_logged_a_forged_one_is_not(engine):
    with Session(engine) as session:
        cut_off = tokens.issue(session, "crisis-cell", ["prefecture-herault-cell"], "cut off")
        tokens.revoke(session, cut_off.row.id)
        lapsed = tokens.issue(
            session, "operator", ["atmo-demo"], "lapsed", datetime.now(UTC) - timedelta(days=1)
        )
        cut_off_id, lapsed_id = cut_off.row.id, lapsed.row.id
    forged = f"{tokens.PREFIX}.{cut_off_id}.{secrets.token_urlsafe(32)}"
    before = len(logged(engine))
    with client_for(engine) as client:
        for presented in (cut_off.token, lapsed.token, forged):
            answer = client.get(
                "/api/v1/datasets", headers={"Authorization": f"Bearer {presented}"}
            )
            assert answer.status_code == 401
    refusals = [e for e in logged(engine)[before:] if e.outcome == "refused"]
    assert [(e.actor_id, e.producer, e.route) for e in refusals] == [
        (cut_off_id, "prefecture-herault-cell", "GET /api/v1/datasets"),
        (lapsed_id, "atmo-demo", "GET /api/v1/datasets"),
    ]  # the forged one proves no holder: nothing to log against
    assert "was revoked" in refusals[0].reason and "expired on" in refusals[1].reason
