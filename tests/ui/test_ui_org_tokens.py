"""The Tokens page of an operator: its organization's tokens, a form to issue one that shows its
secret once, revoke buttons; forms without the session's CSRF token change nothing."""

from __future__ import annotations

import re

from api.support import client_for
from pagetext import Page, form_token, page, sign_in
from sqlmodel import Session, select

from hub import tokens
from hub.models import ApiToken

PAGE = "/dashboard/tokens"
EN = {"Accept-Language": "en"}


def issue(engine, role: str, *orgs: str, name: str) -> tokens.Issued:
    with Session(engine) as session:
        return tokens.issue(session, role, list(orgs), name, tokens.parse_expiry("30d"))


def rows(engine) -> dict[str, ApiToken]:
    with Session(engine) as session:
        return {row.id: row for row in session.exec(select(ApiToken)).all()}


def post(client, url: str, data: dict, csrf: str | None = None):
    token = form_token(client.get(PAGE, headers=EN).text) if csrf is None else csrf
    return client.post(url, data={"csrf": token, **data}, headers=EN, follow_redirects=False)


def test_an_operator_issues_a_token_sees_its_secret_once_and_revokes_the_old_one(engine):
    old = issue(engine, "operator", "atmo-demo", name="harvester 2025")
    issue(engine, "operator", "openaq", name="someone else's")
    issue(engine, "agency", "atmo-demo", name="an agency of ours")
    with client_for(engine) as browser, client_for(engine) as api:
        sign_in(browser, old.token)
        assert PAGE in page(browser, "/dashboard").links
        board = page(browser, PAGE)
        assert "harvester 2025 signed in with it" in board.words
        assert "someone else's" not in board.words and "an agency of ours" not in board.words

        made = post(browser, PAGE, {"name": "harvester 2026", "expires": "2099-01-01"})
        assert (
            made.status_code == 400
            and "Choose an end date between tomorrow" in Page(made.text).words
        )
        answer = post(browser, PAGE, {"name": "harvester 2026", "expires": "90d"})
        assert answer.status_code == 200 and answer.headers["cache-control"] == "private, no-store"
        secret = re.search(r'id="new-secret"[^>]*value="([^"]+)"', answer.text).group(1)
        assert "shown only this once" in Page(answer.text).words
        # the secret's notice takes focus once loaded (errors.js), so it is heard first
        assert 'id="new-token" tabindex="-1" data-outcome' in answer.text
        assert "errors.js" in answer.text and "<title>Error" not in answer.text
        assert (
            api.get("/api/v1/org/tokens", headers={"Authorization": f"Bearer {secret}"}).status_code
            == 200
        )
        again = browser.get(PAGE, headers=EN).text
        assert secret not in again and "harvester 2026" in Page(again).words

        (new_id,) = [i for i, r in rows(engine).items() if r.name == "harvester 2026"]
        other = issue(engine, "operator", "atmo-demo", name="laptop")
        gone = post(browser, f"{PAGE}/{other.row.id}/revoke", {})
        assert gone.status_code == 303 and "flash=revoked" in gone.headers["location"]
        assert "The token is revoked" in page(browser, PAGE + "?flash=revoked").words
        assert (
            api.get(
                "/api/v1/org/tokens", headers={"Authorization": f"Bearer {other.token}"}
            ).status_code
            == 401
        )
        # another organization's token is unknown here
        foreign = issue(engine, "operator", "openaq", name="foreign")
        unknown = post(browser, f"{PAGE}/{foreign.row.id}/revoke", {})
        assert "flash=unknown" in unknown.headers["location"]
        assert rows(engine)[foreign.row.id].revoked_at is None
        # the token signed in with: the session ends with it
        own = post(browser, f"{PAGE}/{old.row.id}/revoke", {})
        assert own.status_code == 303 and own.headers["location"].startswith("/signin")
        assert browser.get(PAGE, follow_redirects=False).headers["location"].startswith("/signin")
        assert rows(engine)[new_id].revoked_at is None


def test_forms_without_the_sessions_own_csrf_token_change_nothing(engine):
    mine = issue(engine, "operator", "atmo-demo", name="mine")
    target = issue(engine, "operator", "atmo-demo", name="target")
    with client_for(engine) as browser, client_for(engine) as other:
        sign_in(browser, mine.token)
        sign_in(other, issue(engine, "operator", "atmo-demo", name="colleague").token)
        theirs = form_token(other.get(PAGE, headers=EN).text)
        before = rows(engine)
        for url, data in (
            (PAGE, {"name": "forged", "expires": "30d"}),
            (f"{PAGE}/{target.row.id}/revoke", {}),
        ):
            for forged in ({}, {"csrf": theirs}, {"csrf": "x" * 43}, {"csrf": "é" * 43}):
                answer = browser.post(
                    url, data={**data, **forged}, headers=EN, follow_redirects=False
                )
                assert answer.status_code == 400, (url, forged)
                assert "nothing was changed" in Page(answer.text).words
            # a bearer token (no session, so no form token) posts no form either
            bare = other.post(
                url,
                data={**data, "csrf": ""},
                headers={"Authorization": f"Bearer {mine.token}", **EN},
                follow_redirects=False,
            )
            assert bare.status_code == 400
        assert rows(engine).keys() == before.keys()
        assert rows(engine)[target.row.id].revoked_at is None


def test_who_may_not_open_the_page_and_the_page_in_french(engine):
    with client_for(engine) as browser:
        assert browser.get(PAGE, follow_redirects=False).headers["location"].startswith("/signin")
        sign_in(browser, issue(engine, "agency", "atmo-demo", name="agency").token)
        assert "does not open it" in page(browser, PAGE, status=403).words
    with client_for(engine) as browser:
        sign_in(browser, issue(engine, "operator", "atmo-demo", name="op").token)
        french = page(browser, PAGE, language="fr")
        assert (
            "Émettre un jeton" in french.words
            and "Les jetons de votre organisation" in french.words
        )


def test_the_page_names_each_tokens_issuer_and_revokes_a_leaked_one_with_what_it_minted(engine):
    from hub import orgtokens

    signed = issue(engine, "operator", "atmo-demo", name="office")
    leaked = issue(engine, "operator", "atmo-demo", name="leaked laptop")
    with Session(engine) as session:
        thief = tokens.check(session, leaked.token)
        minted = orgtokens.issue(session, thief, "thief's", tokens.parse_expiry("3d"), "t")
        minted_id = minted.row.id
    with client_for(engine) as browser:
        sign_in(browser, signed.token)
        board = browser.get(PAGE, headers=EN).text
        row = Page(re.search(rf'<tr id="token-{minted_id}">.*?</tr>', board, re.S).group(0))
        assert f"leaked laptop {leaked.row.id}" in row.words
        office = re.search(rf'<tr id="token-{signed.row.id}">.*?</tr>', board, re.S).group(0)
        assert "the hub's administrator" in Page(office).words
        assert 'name="with_issued"' not in office  # it issued nothing
        leaked_row = re.search(rf'<tr id="token-{leaked.row.id}">.*?</tr>', board, re.S).group(0)
        assert 'name="with_issued"' in leaked_row

        gone = post(browser, f"{PAGE}/{leaked.row.id}/revoke", {"with_issued": "yes"})
        assert gone.status_code == 303 and "flash=revoked-issued" in gone.headers["location"]
        assert "every token it issued are revoked" in page(browser, gone.headers["location"]).words
        assert rows(engine)[minted_id].revoked_at is not None
        assert rows(engine)[signed.row.id].revoked_at is None
