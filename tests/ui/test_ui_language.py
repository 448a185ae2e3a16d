"""French by default, English on request: negotiation, the switch, formats, complete catalogues."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pagetext import Page
from typer.testing import CliRunner

from hub.cli import app
from hub.config import SettingsError, get_settings
from hub.ui import i18n


def test_pages_speak_french_by_default(client):
    answer = client.get("/")
    assert answer.headers["content-language"] == "fr"
    assert '<html lang="fr">' in answer.text
    words = Page(answer.text).words
    assert "Jeux de données" in words and "Aller au contenu" in words
    assert "Accept-Language" in answer.headers["vary"]


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("en", "en"),
        ("en-GB,en;q=0.9", "en"),
        ("de-DE,de;q=0.9,en;q=0.5", "en"),
        ("en;q=0.3,fr;q=0.8", "fr"),
        ("es", "fr"),
        ("", "fr"),
        ("en;q=0", "fr"),
        ("en;q=banana", "fr"),
    ],
)
def test_accept_language_picks_the_best_language_we_speak(header, language):
    assert i18n.negotiate(None, header) == language


def test_the_switch_is_remembered_and_wins_over_the_browser(client):
    switched = client.get("/language/en", params={"next": "/?q=air"}, follow_redirects=False)
    assert switched.status_code == 303 and switched.headers["location"] == "/?q=air"
    cookie = switched.headers["set-cookie"]
    assert cookie.startswith("hub_lang=en") and "SameSite=lax" in cookie
    answer = client.get("/", headers={"Accept-Language": "fr"})
    assert answer.headers["content-language"] == "en" and "Datasets" in answer.text
    back = client.get("/language/fr", follow_redirects=False)
    assert back.headers["location"] == "/"
    assert client.get("/").headers["content-language"] == "fr"


def test_the_switch_goes_nowhere_else_and_ignores_unknown_languages(client):
    away = client.get(
        "/language/en", params={"next": "https://evil.example/"}, follow_redirects=False
    )
    assert away.headers["location"] == "/"
    unknown = client.get("/language/xx", follow_redirects=False)
    assert unknown.status_code == 303 and "set-cookie" not in unknown.headers


def test_every_page_offers_the_other_language(client):
    page = Page(client.get("/?q=air").text)
    assert any(link.startswith("/language/en?next=/") for link in page.links)


def test_times_are_the_territorys_with_their_offset_and_days_its_days(monkeypatch):
    # RTE's December starts at 2021-12-01T00:00+01:00, stored as 2021-11-30T23:00Z.
    first = datetime(2021, 11, 30, 23, 0, tzinfo=UTC)
    summer = datetime(2026, 7, 14, 10, 0, tzinfo=UTC)
    with i18n.speaking("fr"):
        assert i18n.moment(first) == "1er déc. 2021 00:00 UTC+1"
        assert i18n.day(first) == i18n.day("2021-11-30T23:00:00Z") == "1er décembre 2021"
        assert i18n.moment(summer) == "14 juil. 2026 12:00 UTC+2"  # summer time
    monkeypatch.setenv("HUB_TIMEZONE", "America/Cayenne")
    get_settings.cache_clear()
    with i18n.speaking("fr"):
        assert i18n.moment(first) == "30 nov. 2021 20:00 UTC−3"
        assert i18n.day(first) == "30 novembre 2021"
    monkeypatch.setenv("HUB_TIMEZONE", "UTC")
    get_settings.cache_clear()
    with i18n.speaking("en"):
        assert i18n.moment(first) == "Nov 30, 2021 23:00 UTC"


@pytest.mark.parametrize("zone", ["Europe/Pariss", "paris", "../etc/passwd", "+01:00"])
def test_an_unknown_time_zone_stops_the_start_naming_the_variable(monkeypatch, zone):
    monkeypatch.setenv("HUB_TIMEZONE", zone)
    get_settings.cache_clear()
    with pytest.raises(SettingsError, match="HUB_TIMEZONE"):
        get_settings()


def test_numbers_and_dates_follow_the_language():
    moment = datetime(2026, 3, 1, 14, 5, tzinfo=UTC)
    with i18n.speaking("fr"):
        assert i18n.number(1234567.5) == "1\u202f234\u202f567,5"
        # the territory's time (HUB_TIMEZONE, Europe/Paris by default) with its offset
        assert i18n.moment(moment) == "1er mars 2026 15:05 UTC+1"  # the first as an ordinal
        assert i18n.day(moment) == "1er mars 2026"
        assert i18n.day(datetime(2026, 3, 11, tzinfo=UTC)) == "11 mars 2026"
        assert i18n.ago(moment, now=datetime(2026, 3, 1, 17, 5, tzinfo=UTC)) == "il y a 3 heures"
    with i18n.speaking("en"):
        assert i18n.number(1234567.5) == "1,234,567.5"
        assert i18n.moment(moment) == "Mar 1, 2026 15:05 UTC+1"
        assert i18n.day(moment) == "March 1, 2026"
        assert i18n.ago(moment, now=datetime(2026, 3, 1, 17, 5, tzinfo=UTC)) == "3 hours ago"
        assert i18n.ago(None) == "never"


def test_no_message_lacks_a_translation():
    gaps = i18n.missing()
    assert not gaps, "\n".join(f"{lang} {problem}: {msgid!r}" for lang, msgid, problem in gaps)
    assert len(i18n.used_messages()) > 40


def test_hub_i18n_check_names_what_is_missing(tmp_path, monkeypatch):
    assert CliRunner().invoke(app, ["i18n", "check"]).exit_code == 0
    copy = tmp_path / "locales"
    for language in i18n.LANGUAGES:
        (copy / language / "LC_MESSAGES").mkdir(parents=True)
    monkeypatch.setattr(i18n, "LOCALES_DIR", copy)
    result = CliRunner().invoke(app, ["i18n", "check"])
    assert result.exit_code == 1
    assert "untranslated in fr: 'Territorial data hub'" in result.output


def test_hub_i18n_check_fails_on_a_template_it_cannot_parse(tmp_path, monkeypatch):
    """A broken template lends no message to the extractor: the check must not pass over it."""
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "broken.html").write_text(
        "<p>{% trans %}Hello{% endtrans %}</p>\n{% if %}\n", encoding="utf-8"
    )
    monkeypatch.setattr(i18n, "HERE", tmp_path)
    result = CliRunner().invoke(app, ["i18n", "check"])
    assert result.exit_code == 1
    assert "a template cannot be read" in result.output and "broken.html:2" in result.output


def test_a_translation_with_a_placeholder_the_message_lacks_is_caught(tmp_path, monkeypatch):
    for language in i18n.LANGUAGES:
        folder = tmp_path / language / "LC_MESSAGES"
        folder.mkdir(parents=True)
        for part in (i18n.LOCALES_DIR / language / "LC_MESSAGES").glob("*.po"):
            text = part.read_text(encoding="utf-8")
            if language == "fr" and part.name == "common.po":
                text = text.replace('msgstr "Jeton"', 'msgstr "Jeton %(oops)s"')
            (folder / part.name).write_text(text, encoding="utf-8")
    monkeypatch.setattr(i18n, "LOCALES_DIR", tmp_path)
    caught = [(lang, problem) for lang, msgid, problem in i18n.missing() if msgid == "Token"]
    assert len(caught) == 1 and caught[0][0] == "fr"
    assert caught[0][1].endswith("unknown placeholder") and "signin.html" in caught[0][1]


def _marked_english(html: str) -> list[str]:
    """The texts of the elements a page marks lang="en", but for <html> and the language switch."""
    import re

    found = re.findall(r'<([a-z0-9]+)([^>]*) lang="en"([^>]*)>(.*?)</\1>', html, re.S)
    return [
        re.sub(r"<[^>]+>", "", text).strip()
        for tag, before, after, text in found
        if tag != "html" and "hreflang" not in before + after
    ]


def test_english_metadata_on_a_french_page_is_marked_english(client):
    french = client.get("/datasets/atmo-demo-air", headers={"Accept-Language": "fr"}).text
    marked = _marked_english(french)
    for text in (
        "Air quality, Rennes (Atmo Démo)",  # the title: its description tells its language
        "Source: Atmo Demo, demonstration air-quality observatory",  # the mandatory mention
        "Open air-quality data of the demo observatory (Atmo Demo)",  # the charter
        "Station identifier",  # a schema field's title: the hub's schemas are in English
    ):
        assert text in marked, (text, marked)
    assert any(t.startswith("Air quality, Rennes (Atmo Démo): hourly") for t in marked)
    english = client.get("/datasets/atmo-demo-air", headers={"Accept-Language": "en"}).text
    assert _marked_english(english) == []
    results = _marked_english(client.get("/?q=rennes", headers={"Accept-Language": "fr"}).text)
    assert "Air quality, Rennes (Atmo Démo)" in results
    charter = client.get("/charters/atmo-demo-open", headers={"Accept-Language": "fr"}).text
    assert "Source: Atmo Demo, demonstration air-quality observatory" in _marked_english(charter)


def test_a_maps_name_joins_its_title_and_summary_as_a_sentence_in_french_too(client):
    french = client.get("/datasets/atmo-demo-air", headers={"Accept-Language": "fr"}).text
    assert 'aria-label="Carte des enregistrements. ' in french
    assert "enregistrements: " not in french  # the template's own colon, without its space
