"""CKAN's api_token_create, api_token_list and api_token_revoke through the real ckanapi client:
an operator rotates its token and pushes with the new one; the `user` is its organization, and
no other organization's or role's token is listed, revoked or minted."""

from __future__ import annotations

import secrets

import ckanapi
import httpx
import pytest
from api.support import bearer, live_server
from api.test_ckan_writes import ROWS, new_package
from sqlmodel import Session, select

from hub.models import AccessEvent, ApiToken


def token(engine, role: str, *organizations: str) -> str:
    return bearer(engine, role, *organizations)["Authorization"].split()[1]


def token_id(text: str) -> str:
    return text.split(".")[1]


@pytest.fixture
def hub_url(engine, published):
    with live_server() as url:
        yield url


def test_an_operator_rotates_its_token_and_pushes_with_the_new_one(hub_url, engine):
    old = token(engine, "operator", "atmo-demo")
    before = ckanapi.RemoteCKAN(hub_url, apikey=old)
    made = before.action.api_token_create(
        user="atmo-demo", name="harvester 2026", expires_in=90, unit=86400
    )
    assert set(made) == {"token"}
    after = ckanapi.RemoteCKAN(hub_url, apikey=made["token"])
    after.action.package_create(**new_package())
    pushed = after.action.datastore_create(
        resource={"package_id": "push-air-rennes"}, schema="air-quality-observation", records=ROWS
    )
    assert pushed["published"] == len(ROWS)
    listed = after.action.api_token_list(user_id="atmo-demo")
    assert {t["id"] for t in listed} == {token_id(old), token_id(made["token"])}
    assert {t["user_id"] for t in listed} == {"atmo-demo"} and made["token"] not in str(listed)
    assert after.action.api_token_revoke(jti=token_id(old)) is None
    with pytest.raises(ckanapi.NotAuthorized):
        before.action.api_token_list(user_id="atmo-demo")
    refused = httpx.post(f"{hub_url}/api/action/package_list", headers={"Authorization": old})
    assert refused.status_code == 401
    # revoked by the token itself, as CKAN also takes it
    third = after.action.api_token_create(user="atmo-demo", name="spare", expires="30d")["token"]
    after.action.api_token_revoke(token=third)
    assert [t["id"] for t in after.action.api_token_list(user="atmo-demo")] == [
        token_id(made["token"])
    ]
    with Session(engine) as session:
        entries = session.exec(select(AccessEvent).where(AccessEvent.scope == "token")).all()
    granted = [e for e in entries if e.outcome == "granted"]
    assert [(e.reason.split()[0], e.route, e.producer) for e in granted] == [
        ("issued", "/api/action/api_token_create", "atmo-demo"),
        ("revoked", "/api/action/api_token_revoke", "atmo-demo"),
        ("issued", "/api/action/api_token_create", "atmo-demo"),
        ("revoked", "/api/action/api_token_revoke", "atmo-demo"),
    ]
    # the two calls still made with the revoked token, against it
    tried = [(e.actor_id, e.route) for e in entries if e.outcome == "refused"]
    assert tried == [
        (token_id(old), "POST /api/action/api_token_list"),
        (token_id(old), "POST /api/action/package_list"),
    ]


def test_no_other_organizations_or_roles_tokens_are_listed_revoked_or_minted(hub_url, engine):
    operator = ckanapi.RemoteCKAN(hub_url, apikey=token(engine, "operator", "atmo-demo"))
    others = [
        token(engine, "operator", "openaq"),
        token(engine, "service", "atmo-demo"),
        token(engine, "agency", "atmo-demo"),
    ]
    with Session(engine) as session:
        count = len(session.exec(select(ApiToken.id)).all())
    with pytest.raises(ckanapi.NotAuthorized):
        operator.action.api_token_create(user="openaq", name="x", expires_in=7)
    with pytest.raises(ckanapi.NotAuthorized):
        operator.action.api_token_list(user_id="openaq")
    for guess in [token_id(t) for t in others] + [secrets.token_hex(8)]:
        with pytest.raises(ckanapi.NotFound):
            operator.action.api_token_revoke(jti=guess)
    with pytest.raises(ckanapi.NotFound):
        operator.action.api_token_revoke(token=others[0])
    for who in (ckanapi.RemoteCKAN(hub_url), ckanapi.RemoteCKAN(hub_url, apikey=others[2])):
        with pytest.raises(ckanapi.NotAuthorized):
            who.action.api_token_create(user="atmo-demo", name="x", expires_in=7)
        with pytest.raises(ckanapi.NotAuthorized):
            who.action.api_token_list(user_id="atmo-demo")
    with pytest.raises(ckanapi.ValidationError) as unbounded:
        operator.action.api_token_create(user="atmo-demo", name="x")
    assert "expiry is required" in str(unbounded.value.error_dict["expires_in"])
    with pytest.raises(ckanapi.ValidationError) as too_long:
        operator.action.api_token_create(user="atmo-demo", name="x", expires_in=366)
    assert "HUB_MAX_TOKEN_DAYS" in str(too_long.value.error_dict["expires_in"])
    with Session(engine) as session:
        assert len(session.exec(select(ApiToken.id)).all()) == count
        assert all(
            row.revoked_at is None
            for row in session.exec(select(ApiToken)).all()
            if row.id in {token_id(t) for t in others}
        )
