"""`hub token create | list | revoke`: a token printed once, listed without secrets, revocable."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from hub import tokens
from hub.cli import app
from hub.models import Organization

runner = CliRunner()


def test_create_prints_the_token_once_as_json(engine):
    result = runner.invoke(
        app,
        [
            "token",
            "create",
            "--role",
            "operator",
            "--org",
            "atmo-demo",
            "--name",
            "harvester",
            "--expires",
            "30d",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    made = json.loads(result.stdout)
    assert set(made) == {"id", "token", "role", "org", "expires"}
    assert (made["role"], made["org"]) == ("operator", "atmo-demo")
    assert made["expires"].endswith("Z")
    with Session(engine) as session:
        assert tokens.check(session, made["token"]).organizations == {"atmo-demo"}


def test_an_agency_of_several_organizations_and_a_token_that_never_expires(engine):
    result = runner.invoke(
        app,
        [
            "token",
            "create",
            "--role",
            "agency",
            "--org",
            "a",
            "--org",
            "b",
            "--expires",
            "never",
            "--json",
        ],
    )
    made = json.loads(result.stdout)
    assert made["org"] == ["a", "b"] and made["expires"] is None


def test_list_shows_no_secret_and_revoke_takes_effect(engine):
    made = json.loads(runner.invoke(app, ["token", "create", "--role", "admin", "--json"]).stdout)
    listed = runner.invoke(app, ["token", "list"])
    assert listed.exit_code == 0 and made["id"] in listed.stdout and "active" in listed.stdout
    assert made["token"].split(".")[2] not in listed.stdout
    assert runner.invoke(app, ["token", "revoke", made["id"]]).exit_code == 0
    assert "revoked" in runner.invoke(app, ["token", "list"]).stdout
    unknown = runner.invoke(app, ["token", "revoke", "nope"])
    assert unknown.exit_code == 1 and "no token" in unknown.output


def test_bad_requests_exit_2_with_the_reason(engine):
    for args, words in (
        (["--role", "operator"], "exactly 1 organization"),
        (["--role", "wizard"], "unknown role"),
        (["--role", "admin", "--expires", "soon"], "not a duration"),
        (["--role", "admin", "--expires", "100000d"], "'100000d' is too long"),
        (["--role", "admin", "--org", "x"], "an admin token takes no organization (got 1: drop"),
        (["--role", "agency"], "an agency token takes between 1 and 50 organizations (got 0: add"),
    ):
        result = runner.invoke(app, ["token", "create", *args])
        assert result.exit_code == 2 and words in result.output, result.output


def test_a_token_for_an_organization_nobody_knows_is_issued_with_a_warning(engine):
    for role, org in (("operator", "nosuch-org"), ("crisis-cell", "nosuchcell")):
        result = runner.invoke(app, ["token", "create", "--role", role, "--org", org])
        assert result.exit_code == 0, result.output
        assert f"warning: no organization '{org}' is known yet" in result.output
    with Session(engine) as session:  # as its first harvest does
        session.add(Organization(id="atmo-demo", name="Atmo Demo"))
        session.commit()
    result = runner.invoke(app, ["token", "create", "--role", "operator", "--org", "atmo-demo"])
    assert result.exit_code == 0 and "warning" not in result.output, result.output


def test_a_short_secret_key_stops_the_command(engine, monkeypatch):
    from hub.config import get_settings

    monkeypatch.setenv("HUB_SECRET_KEY", "too-short")
    get_settings.cache_clear()
    result = runner.invoke(app, ["token", "create", "--role", "admin"])
    assert result.exit_code == 2 and "at least 32" in result.output


def test_create_and_revoke_are_entries_of_the_access_log(engine):
    from sqlmodel import select

    from hub import audit
    from hub.models import AccessEvent

    made = runner.invoke(
        app, ["token", "create", "--role", "operator", "--org", "atmo-demo", "--json"]
    )
    token_id = json.loads(made.stdout)["id"]
    assert runner.invoke(app, ["token", "revoke", token_id]).exit_code == 0
    with Session(engine) as session:
        entries = session.exec(select(AccessEvent).where(AccessEvent.scope == "token")).all()
    assert [(e.actor_id, e.actor_role, e.producer, e.route) for e in entries] == [
        ("cli", "admin", "atmo-demo", "hub token create"),
        ("cli", "admin", "atmo-demo", "hub token revoke"),
    ]
    assert all(token_id in e.reason for e in entries)
    assert audit.verify(engine).intact


def test_revoke_with_issued_ends_what_a_leaked_token_minted_and_list_names_the_issuer(engine):
    from hub import orgtokens
    from hub.access import Actor

    made = json.loads(
        runner.invoke(
            app, ["token", "create", "--role", "operator", "--org", "atmo-demo", "--json"]
        ).stdout
    )
    with Session(engine) as session:
        leaked = tokens.check(session, made["token"])
        child = orgtokens.issue(session, leaked, "minted", tokens.parse_expiry("3d"), "test")
        child_id = child.row.id
        minter = Actor(id=child_id, role="operator", organizations=frozenset({"atmo-demo"}))
        grandchild = orgtokens.issue(
            session, minter, "minted again", tokens.parse_expiry("3d"), "t"
        )
        grandchild_id = grandchild.row.id
    listed = runner.invoke(app, ["token", "list"]).stdout
    (child_line,) = [line for line in listed.splitlines() if line.startswith(f"│ {child_id}")]
    assert made["id"] in child_line  # the child's row names its issuer
    result = runner.invoke(app, ["token", "revoke", made["id"], "--with-issued"])
    assert result.exit_code == 0, result.output
    assert f"Token {grandchild_id} (issued by {child_id}) revoked." in result.output
    with Session(engine) as session:
        for token in (made["token"], child.token, grandchild.token):
            with pytest.raises(tokens.InvalidToken, match="revoked"):
                tokens.check(session, token)
