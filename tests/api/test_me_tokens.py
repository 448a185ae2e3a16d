"""A citizen ends what their token opened: signing out ends the session for every copy of its
cookie (the UI and the API's GET routes alike), and they revoke their own tokens — through the API
or the /me page — by the same path as `hub token revoke`."""

from __future__ import annotations

import pytest
from api.support import client_for
from sqlmodel import Session
from ui.pagetext import form_token, sign_in

from hub import tokens
from hub.ui import visitors

ME = "/api/v1/me"


@pytest.fixture
def citizens(engine):
    """Two tokens of Alice's account, one of Bob's."""
    made = {}
    for who, name, account in (
        ("alice", "phone", "alice"),
        ("alice-laptop", "laptop", "alice"),
        ("bob", "bob", "bob"),
    ):
        with Session(engine) as session:  # one each: a commit expires the rows before it
            made[who] = tokens.issue(session, "subject", name=name, account=account)
    return made


def bearer(issued: tokens.Issued) -> dict[str, str]:
    return {"Authorization": f"Bearer {issued.token}"}


def test_a_copied_session_cookie_stops_working_at_sign_out(engine, citizens):
    with client_for(engine) as browser, client_for(engine) as thief:
        assert sign_in(browser, citizens["alice"].token).status_code == 303
        thief.cookies.set(visitors.SESSION_COOKIE, browser.cookies[visitors.SESSION_COOKIE])
        assert thief.get(ME).json()["account"] == "alice"
        assert thief.get(f"{ME}/access-log").status_code == 200
        me = browser.get("/me", headers={"Accept-Language": "en"})
        out = browser.post("/signout", data={"csrf": form_token(me.text)}, follow_redirects=False)
        assert out.status_code == 303
        for path in (ME, f"{ME}/access-log", f"{ME}/export"):
            assert thief.get(path).status_code == 401, path
        assert thief.get("/me", follow_redirects=False).headers["location"].startswith("/signin")
        # the token itself was not revoked: signing out ends a session, not the token
        assert browser.get(ME, headers=bearer(citizens["alice"])).status_code == 200


def test_a_citizen_lists_and_revokes_their_own_tokens(engine, citizens):
    alice, laptop, bob = citizens["alice"], citizens["alice-laptop"], citizens["bob"]
    with client_for(engine) as client, client_for(engine) as browser:
        listed = client.get(f"{ME}/tokens", headers=bearer(alice)).json()
        assert {t["id"] for t in listed} == {alice.row.id, laptop.row.id}
        assert [t["current"] for t in listed if t["id"] == alice.row.id] == [True]
        assert "secret" not in str(listed) and alice.token not in str(listed)
        # another account's token is unknown here, as one that does not exist
        refused = client.delete(f"{ME}/tokens/{bob.row.id}", headers=bearer(alice))
        assert refused.status_code == 404
        assert client.get(ME, headers=bearer(bob)).status_code == 200
        assert client.delete(f"{ME}/tokens/nope", headers=bearer(alice)).status_code == 404
        # a session opened with the laptop's token ends with it
        assert sign_in(browser, laptop.token).status_code == 303
        assert browser.get(ME).status_code == 200
        gone = client.delete(f"{ME}/tokens/{laptop.row.id}", headers=bearer(alice))
        assert gone.status_code == 204
        assert client.get(ME, headers=bearer(laptop)).status_code == 401
        assert browser.get(ME).status_code == 401
        assert client.get(ME, headers=bearer(alice)).status_code == 200
        # its own token too; then nothing more
        assert (
            client.delete(f"{ME}/tokens/{alice.row.id}", headers=bearer(alice)).status_code == 204
        )
        assert client.get(ME, headers=bearer(alice)).status_code == 401
        # a service or operator token has no account tokens to manage
        with Session(engine) as session:
            admin = tokens.issue(session, "admin")
        assert client.get(f"{ME}/tokens", headers=bearer(admin)).status_code == 403


def test_a_signed_in_citizen_revokes_the_token_they_signed_in_with(engine, citizens):
    alice = citizens["alice"]
    with client_for(engine) as browser, client_for(engine) as thief:
        assert sign_in(browser, alice.token).status_code == 303
        thief.cookies.set(visitors.SESSION_COOKIE, browser.cookies[visitors.SESSION_COOKIE])
        me = browser.get("/me", headers={"Accept-Language": "en"})
        assert "Revoke my token and sign out" in me.text
        forged = browser.post("/signout/revoke", data={"csrf": "x" * 40}, follow_redirects=False)
        assert forged.status_code == 400
        assert browser.get(ME, headers=bearer(alice)).status_code == 200
        done = browser.post(
            "/signout/revoke", data={"csrf": form_token(me.text)}, follow_redirects=False
        )
        assert done.status_code == 303
        assert thief.get(ME).status_code == 401
        assert browser.get(ME, headers=bearer(alice)).status_code == 401
        with Session(engine) as session:
            assert tokens.lookup(session, alice.row.id).revoked_at is not None
            # the laptop's token is another: it still works
            assert tokens.check(session, citizens["alice-laptop"].token).account == "alice"
