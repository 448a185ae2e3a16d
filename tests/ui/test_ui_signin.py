"""Signing in to the catalogue with a token: the session cookie, CSRF, and how sessions end."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from api.support import client_for
from pagetext import form_token, page, sign_in
from sqlmodel import Session

from hub import signins, tokens
from hub.ui import visitors
from hub.ui.signin import safe_next


def issue(engine, role: str, *organizations: str, expires: datetime | None = None) -> tokens.Issued:
    with Session(engine) as session:
        return tokens.issue(session, role, list(organizations), f"test {role}", expires)


def test_an_operator_signs_in_and_the_cookie_is_a_session_not_the_token(engine, client):
    issued = issue(engine, "operator", "atmo-demo")
    answer = sign_in(client, issued.token)
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{visitors.SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert issued.token not in cookie and issued.token.split(".")[2] not in cookie
    home = page(client, "/")
    assert "Signed in as test operator (operator)" in home.words
    assert "/dashboard" in home.links


def test_signed_in_agencies_see_the_restricted_records_they_are_granted(engine, client, published):
    restricted = published.closed["restricted"]
    before = page(client, f"/datasets/{restricted}")
    assert "Records not shown" in before.words or "records not shown" in before.words.lower()
    issued = issue(engine, "agency", "metropole-civil-protection")
    assert sign_in(client, issued.token, next=f"/datasets/{restricted}").status_code == 303
    after = page(client, f"/datasets/{restricted}")
    assert after.rows > 20 and "Records not shown" not in after.words


def test_a_bad_token_is_refused_plainly_and_opens_no_session(client):
    answer = sign_in(client, "hub.0123456789abcdef.not-a-secret-not-a-secret-not-a-secret-xx")
    assert answer.status_code == 401
    assert "This token is not valid" in answer.text
    in_french = sign_in(client, "hub.0123456789abcdef.wrong", language="fr")
    assert "Ce jeton n’est pas valide" in in_french.text
    assert visitors.SESSION_COOKIE not in answer.headers.get("set-cookie", "")


def test_sign_in_without_the_form_token_is_refused(engine, client):
    issued = issue(engine, "operator", "atmo-demo")
    client.get("/signin")
    answer = client.post(
        "/signin", data={"token": issued.token, "csrf": "forged" * 8}, follow_redirects=False
    )
    assert answer.status_code == 400 and "set-cookie" not in answer.headers


def test_sign_out_needs_the_session_form_token_then_ends_the_session(engine, client):
    issued = issue(engine, "operator", "atmo-demo")
    sign_in(client, issued.token)
    refused = client.post("/signout", data={"csrf": "x" * 40}, follow_redirects=False)
    assert refused.status_code == 400
    assert "Signed in as" in page(client, "/").words
    home = client.get("/", headers={"Accept-Language": "en"})
    done = client.post("/signout", data={"csrf": form_token(home.text)}, follow_redirects=False)
    assert done.status_code == 303
    assert "Signed in as" not in page(client, "/").words


def test_revoking_the_token_ends_its_sessions_at_once(engine, client):
    issued = issue(engine, "operator", "atmo-demo")
    sign_in(client, issued.token)
    assert "Signed in as" in page(client, "/").words
    with Session(engine) as session:
        tokens.revoke(session, issued.row.id)
    assert "Signed in as" not in page(client, "/").words


def test_a_session_ends_with_its_token(engine):
    soon = datetime.now(UTC) + timedelta(minutes=5)
    value = visitors.session_cookie("a-sign-in", visitors.session_end(soon.timestamp()))
    assert visitors.session_of(value) is not None
    assert visitors.session_of(value, now=soon.timestamp() + 1) is None
    lasting = visitors.session_cookie("a-sign-in", visitors.session_end(None, now=time.time()))
    assert visitors.session_of(lasting, now=time.time() + visitors.SESSION_SECONDS + 1) is None


def test_forged_and_tampered_session_cookies_are_anonymous(engine, published):
    issued = issue(engine, "operator", "atmo-demo")
    until = visitors.session_end(None)
    with Session(engine) as session:
        genuine = visitors.session_cookie(signins.start(session, issued.row.id, far()), until)
    body, mac = genuine.rsplit(".", 1)
    other = issue(engine, "admin")
    with Session(engine) as session:
        theirs = visitors.session_cookie(signins.start(session, other.row.id, far()), until)
    swapped = theirs.rsplit(".", 1)[0] + "." + mac
    for forged in (f"{body}.{'0' * 64}", swapped, "garbage", f"{body}."):
        with client_for(engine) as client:
            client.cookies.set(visitors.SESSION_COOKIE, forged)
            assert "Signed in as" not in page(client, "/").words


def far() -> datetime:
    return datetime.now(UTC) + timedelta(hours=1)


def test_signing_out_ends_the_session_for_every_copy_of_its_cookie(engine, client):
    issued = issue(engine, "agency", "metropole-civil-protection")
    sign_in(client, issued.token)
    copied = client.cookies[visitors.SESSION_COOKIE]  # a shared computer, a proxy's log …
    home = client.get("/", headers={"Accept-Language": "en"})
    assert client.post("/signout", data={"csrf": form_token(home.text)}).status_code == 200
    with client_for(engine) as other:
        other.cookies.set(visitors.SESSION_COOKIE, copied)
        assert "Signed in as" not in page(other, "/").words
    # the token itself still works, and signing in again opens a new session
    assert sign_in(client, issued.token).status_code == 303
    assert "Signed in as" in page(client, "/").words


def test_sign_in_goes_back_only_to_local_pages():
    at_root: dict = {"root_path": ""}
    assert safe_next(at_root, "/datasets/x?q=1") == "/datasets/x?q=1"
    for outside in ("https://evil.example/", "//evil.example/", "/\\evil.example", "", None):
        assert safe_next(at_root, outside) == "/"


def test_sign_in_goes_back_only_to_pages_under_the_hubs_prefix():
    """Published under /hub/, the hub's pages are there: anything else leaves the hub."""
    under = {"root_path": "/hub"}
    assert safe_next(under, "/hub/datasets/x?q=1") == "/hub/datasets/x?q=1"
    assert safe_next(under, "/hub/") == "/hub/"
    assert safe_next(under, None, "/dashboard") == "/hub/dashboard"
    assert safe_next(under, "/elsewhere", "") == ""
    for outside in (
        "/datasets/x",
        "/hubx/",
        "/hub",
        "//evil.example/",
        "/hub/\\evil",
        "https://e/",
    ):
        assert safe_next(under, outside) == "/hub/", outside


def test_repeated_bad_tokens_are_throttled(client):
    for _ in range(20):
        sign_in(client, "hub.0123456789abcdef.wrong")
    answer = sign_in(client, "hub.0123456789abcdef.wrong")
    assert answer.status_code == 429 and int(answer.headers["retry-after"]) > 0


def test_a_valid_token_signs_in_while_its_address_is_throttled(client, engine):
    # Behind one proxy everyone shares an address: one typist must not lock the others out.
    for _ in range(21):
        sign_in(client, "hub.0123456789abcdef.wrong")
    with Session(engine) as session:
        issued = tokens.issue(session, "crisis-cell", ["metropole-civil-protection"], "cell")
    answer = sign_in(client, issued.token)
    assert answer.status_code == 303, answer.text
    assert sign_in(client, "hub.0123456789abcdef.wrong").status_code == 429
