"""`hub service register | list` and the principals of tokens: a subject token speaks for an
account, a service token for a registered service."""

from __future__ import annotations

import json

from sqlmodel import Session
from typer.testing import CliRunner

from hub import tokens
from hub.cli import app

runner = CliRunner()


def create(*args: str) -> dict:
    result = runner.invoke(app, ["token", "create", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_service_is_registered_then_given_a_token(engine):
    result = runner.invoke(
        app, ["service", "register", "--name", "Energy Coach", "--url", "https://coach.example"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "energy-coach"
    made = create("--role", "service", "--service", "energy-coach")
    assert made["service"] == "energy-coach" and "account" not in made
    with Session(engine) as session:
        actor = tokens.check(session, made["token"])
    assert (actor.role, actor.service, actor.account) == ("service", "energy-coach", "")
    listed = runner.invoke(app, ["service", "list"])
    assert listed.exit_code == 0 and "energy-coach" in listed.output
    again = runner.invoke(
        app, ["service", "register", "--name", "Energy Coach", "--url", "https://x.example"]
    )
    assert again.exit_code == 2 and "already registered" in again.output


def test_services_and_principals_the_cli_refuses(engine):
    for args, words in (
        (["--name", "App", "--url", "ftp://app.example"], "http(s) URL"),
        (["--name", "", "--url", "https://app.example"], "name"),
        (["--name", "App", "--url", "https://app.example", "--id", "Bad Id"], "service id"),
    ):
        result = runner.invoke(app, ["service", "register", *args])
        assert result.exit_code == 2 and words in result.output, result.output
    for args, words in (
        (["--role", "service", "--service", "nobody"], "no registered service"),
        (["--role", "operator", "--org", "x", "--service", "nobody"], "only a service token"),
        (["--role", "agency", "--org", "x", "--account", "alice"], "only a subject token"),
        (["--role", "subject", "--account", "Alice Smith"], "not an account id"),
    ):
        result = runner.invoke(app, ["token", "create", *args])
        assert result.exit_code == 2 and words in result.output, result.output


def test_subject_tokens_speak_for_an_account(engine):
    first = create("--role", "subject")
    assert first["account"].startswith("acct-")
    second = create("--role", "subject", "--account", first["account"])
    third = create("--role", "subject")
    with Session(engine) as session:
        accounts = [tokens.check(session, made["token"]).account for made in (first, second, third)]
    assert accounts[0] == accounts[1] != accounts[2]
    # a service token tied to no service still works, and reads no consented rows
    loose = create("--role", "service", "--org", "some-app")
    with Session(engine) as session:
        assert tokens.check(session, loose["token"]).service == ""
