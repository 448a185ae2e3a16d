"""Pages that report an error say so in their title and, in a browser, put focus on the message
(WCAG 3.3.1, 4.1.3; RGAA 8.6, 7.5): a refused sign-in, a link or consent refused on My data, a
page the visitor may not open, a search address that cannot be read; and a form's success puts
focus on the message that reports it."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from api.subjects import ALICE, CURVES, World, world_fixture  # noqa: F401 - the fixture
from api.support import client_for, live_server
from fastapi.testclient import TestClient
from pagetext import form_token, sign_in
from sqlmodel import Session
from ui.test_ui_browser import ARGS, chromium  # noqa: F401 - the fixture

from hub import tokens

HUB = {"en": "Territorial data hub", "fr": "Hub territorial de données"}


def title(client: TestClient, url: str, status: int, language: str = "en") -> str:
    answer = client.get(url, headers={"Accept-Language": language})
    assert answer.status_code == status, answer.text[:300]
    found = re.search(r"<title>(.*?)</title>", answer.text, re.S)
    assert found
    return found.group(1).replace("&#39;", "'")


def token_of(world: World, who: str) -> str:
    return world.headers[who]["Authorization"].removeprefix("Bearer ")


def test_a_refused_sign_in_is_an_error_in_the_title(client):
    assert title(client, "/signin", 200) == f"Sign in — {HUB['en']}"
    for language, said in (("en", "Error: Sign in"), ("fr", "Erreur\u00a0: Se connecter")):
        answer = sign_in(client, "hub.wrong.token", language=language)
        assert answer.status_code == 401
        assert f"<title>{said} — {HUB[language]}</title>" in answer.text, language
        assert 'id="signin-error" tabindex="-1" data-error-summary' in answer.text
        assert "errors.js" in answer.text


def test_pages_that_cannot_be_shown_say_error_in_their_title(engine, client):
    assert title(client, "/?bbox=abc", 400) == f"Error: Datasets — {HUB['en']}"
    assert title(client, "/?bbox=abc", 400, "fr").startswith("Erreur\u00a0: Jeux de données")
    assert title(client, "/", 200) == f"Datasets — {HUB['en']}"
    with Session(engine) as session:
        agency = tokens.issue(session, "agency", ["metropole"], "test agency").token
    sign_in(client, agency)
    assert title(client, "/dashboard", 403) == f"Error: Dashboard — {HUB['en']}"
    assert title(client, "/datasets/no-such-dataset", 404) == f"Error: Not found — {HUB['en']}"


def test_my_data_says_error_in_its_title_after_a_refused_form_only(engine, world):
    with client_for(engine) as client:
        sign_in(client, token_of(world, "alice"))
        assert title(client, "/me", 200) == f"My data — {HUB['en']}"
        assert title(client, "/me?flash=linked", 200) == f"My data — {HUB['en']}"
        assert title(client, "/me?flash=link-nomatch", 200) == f"Error: My data — {HUB['en']}"
        french = title(client, "/me?flash=consent-expiry-late", 200, "fr")
        assert french == f"Erreur\u00a0: Mes données — {HUB['fr']}"


FOCUSED = "() => [document.activeElement.id, document.activeElement.tagName, document.title]"


@pytest.mark.browser
def test_focus_moves_to_the_error_message_after_a_refused_form(engine, world, chromium):  # noqa: F811
    from playwright.sync_api import sync_playwright

    with client_for(engine) as client:  # Alice links once, so her page has the consent form
        sign_in(client, token_of(world, "alice"))
        page_html = client.get("/me").text
        client.post(
            "/me/links",
            data={
                "csrf": form_token(page_html),
                "dataset": CURVES,
                "m-meter_number": ALICE[0],
                "m-postcode": ALICE[1],
            },
        )
    with live_server() as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=ARGS)
        try:
            page = browser.new_page(locale="en-GB")
            page.goto(f"{url}/signin")
            page.fill("#token", "hub.wrong.token")
            page.press("#token", "Enter")
            page.wait_for_load_state("load")
            wrong_token = page.evaluate(FOCUSED)

            page.fill("#token", token_of(world, "alice"))
            page.press("#token", "Enter")
            page.wait_for_url("**/me")
            signed_in = page.evaluate(FOCUSED)
            page.select_option("#consent-service", "energy-coach")
            page.select_option("#consent-purpose", "energy-saving-advice")
            page.fill("#consent-expires", "2099-06-01")
            page.get_by_role("button", name="Give this consent").click()
            page.wait_for_url("**/me?flash=consent-expiry-late*")
            page.wait_for_load_state("load")
            refused = page.evaluate(FOCUSED)
            kept = page.input_value("#consent-expires")

            soon = (date.today() + timedelta(days=30)).isoformat()
            page.fill("#consent-expires", soon)
            page.get_by_role("button", name="Give this consent").click()
            page.wait_for_url("**/me?flash=consent-given*")
            page.wait_for_load_state("load")
            given = page.evaluate(FOCUSED)
            said = page.evaluate("() => document.activeElement.textContent.trim()")
        finally:
            browser.close()
    assert wrong_token[:2] == ["signin-error", "DIV"]
    assert wrong_token[2].startswith("Error: Sign in")
    assert signed_in[1] == "BODY" and not signed_in[2].startswith("Error")  # no error, no move
    assert refused[:2] == ["give-error", "P"] and refused[2].startswith("Error: My data")
    assert kept == "2099-06-01"
    # a success is focused too, so that it is heard first (not the page again from its top)
    assert given[:2] == ["flash", "DIV"] and not given[2].startswith("Error")
    assert said.startswith("Your consent is recorded")
