"""Derived alerts in several languages, crediting their source: one CAP info per language of a
rule (French first for the bundled rules), each carrying the attribution its source dataset's
charter requires; no alert from data whose licence asks more than attribution."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import shapely
from sqlalchemy import Engine
from sqlmodel import Session
from test_alert_rules import (
    NO2_START,
    Clock,
    clock,
    days,
    derived_rows,
    hourly,
    publish_air,
    referenced,
)
from test_alerts_cap import CAP, cap_xsd, current_keys

from hub import charters
from hub.alerts import attribution, cancellation, current, derived, document
from hub.alerts.atom import ATOM, atom_index
from hub.alerts.messages import Series, cancel_row
from hub.alerts.rules import BUNDLED, RuleError, load_rules, read_rule
from hub.config import PROJECT_ROOT, get_settings
from hub.reading import Caller
from hub.ui.situation_alerts import alerts_over
from hub.ui.situation_rows import Perimeter

__all__ = ["clock"]  # the fixture, used by name

ATMO_MENTION = "Source: Atmo Demo, demonstration air-quality observatory"


def infos(body: bytes) -> list[ET.Element]:
    return list(ET.fromstring(body).iter(f"{CAP}info"))


def served(engine: Engine, row: dict[str, object]) -> bytes:
    """The CAP document of the message a row belongs to."""
    with Session(engine) as session:
        alert_id = current.alert_id(derived.DATASET, str(row["sender"]), str(row["identifier"]))
        return document.cap_document(current.find_alert(session, Caller(), alert_id).rows)


def test_each_message_of_a_chain_has_a_french_then_an_english_info_that_credit_the_source(
    engine: Engine, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alert → Update → Cancel of an NO2 episode: every message is one CAP document (valid
    CAP 1.2) of two infos, fr-FR then en-GB, each naming Atmo's mention, its licence and a link
    to the data; the chain references each message once, and the index holds one entry."""
    monkeypatch.setenv("HUB_PUBLIC_URL", "https://hub.example.org")
    get_settings.cache_clear()
    clock.now = (NO2_START + timedelta(hours=2, minutes=20)).astimezone(UTC)
    publish_air(engine, hourly("FR011", "no2", [120, 250], NO2_START))
    clock.now += timedelta(hours=1)
    publish_air(engine, hourly("FR011", "no2", [120, 250, 270], NO2_START))
    assert len(current_keys(engine, clock.now)) == 1  # the Update, once for its two infos
    with Session(engine) as session:
        found = current.current_alerts(session, Caller(), clock.now)
    feed = ET.fromstring(atom_index(found, "http://hub.test/", clock.now))
    (entry,) = feed.iter(f"{{{ATOM}}}entry")
    assert "270 µg/m³" in (entry.findtext(f"{{{ATOM}}}title") or "")
    clock.now += timedelta(hours=1)
    publish_air(engine, hourly("FR011", "no2", [120, 250, 270, 90], NO2_START))
    alert, update, cancel = derived_rows(engine, "en")
    french = derived_rows(engine, "fr")
    assert [row["msgType"] for row in french] == ["Alert", "Update", "Cancel"]
    assert [len(derived_rows(engine, None)), current_keys(engine, clock.now)] == [6, []]
    assert update["references"] == referenced(alert)
    assert cancel["references"] == f"{referenced(alert)} {referenced(update)}"
    for row in (alert, update, cancel):
        body = served(engine, row)
        cap_xsd().validate(body)
        (fr, en) = infos(body)
        assert [fr.findtext(f"{CAP}language"), en.findtext(f"{CAP}language")] == [
            "fr-FR",
            "en-GB",
        ]
        for info in (fr, en):
            described = info.findtext(f"{CAP}description") or ""
            assert ATMO_MENTION in described
            assert "Licence Ouverte / Open Licence 2.0 (Etalab)" in described
            assert "https://www.etalab.gouv.fr/licence-ouverte-open-licence/" in described
            link = "https://hub.example.org/datasets/air-atmo-demo-open"
            assert info.findtext(f"{CAP}web") == link and link in described
    (fr, en) = infos(served(engine, alert))
    assert fr.findtext(f"{CAP}event") == "Épisode de pollution au dioxyde d'azote (NO2)"
    assert "moyenne horaire de 250 µg/m³" in (fr.findtext(f"{CAP}headline") or "")
    assert "Licence :" in (fr.findtext(f"{CAP}description") or "")
    assert en.findtext(f"{CAP}event") == "Nitrogen dioxide (NO2) episode"
    (fr, en) = infos(served(engine, cancel))
    assert (fr.findtext(f"{CAP}headline") or "").startswith("Fin d'épisode : NO2")
    assert (en.findtext(f"{CAP}headline") or "").startswith("Ended: NO2 hourly mean")
    # the records carry the attribution as the documents do
    for row in derived_rows(engine, None):
        assert ATMO_MENTION in str(row["description"])
    get_settings.cache_clear()


def test_the_situation_page_shows_a_derived_alert_in_the_visitor_s_language(
    engine: Engine, clock: Clock
) -> None:
    publish_air(engine, hourly("FR001", "pm10", days(30, 70)))
    montpellier = shapely.box(3.7, 43.5, 4.0, 43.7)
    shapely.prepare(montpellier)
    perimeter = Perimeter(montpellier, (3.7, 43.5, 4.0, 43.7))
    with Session(engine) as session:
        (french,) = alerts_over(session, Caller(), perimeter, clock.now, "fr")
        (english,) = alerts_over(session, Caller(), perimeter, clock.now, "en")
    assert french.language == "fr-FR" and french.headline.startswith("PM10 : moyenne journa")
    assert english.language == "en-GB" and english.headline.startswith("PM10 daily mean 70")
    assert french.id == english.id


def test_an_alert_cancelled_in_error_is_cancelled_in_every_language(
    engine: Engine, clock: Clock
) -> None:
    publish_air(engine, hourly("FR001", "pm10", days(30, 70)))
    (alert,) = derived_rows(engine)
    cancellation.cancel_in_error(engine, str(alert["identifier"]), by="the prefect", reason="x")
    cancel = derived_rows(engine, None)[-2:]
    assert [(row["msgType"], row["language"]) for row in cancel] == [
        ("Cancel", "fr-FR"),
        ("Cancel", "en-GB"),
    ]
    body = served(engine, cancel[0])
    cap_xsd().validate(body)
    (fr, en) = infos(body)
    assert (fr.findtext(f"{CAP}headline") or "").startswith("Annulée, envoyée par erreur : PM10")
    assert "Motif : x" in (fr.findtext(f"{CAP}description") or "")
    assert (en.findtext(f"{CAP}headline") or "").startswith("Cancelled, sent in error: PM10")
    assert current_keys(engine, clock.now) == []


@pytest.fixture
def charter_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the bundled charters the test may add to."""
    folder = tmp_path / "charters"
    shutil.copytree(PROJECT_ROOT / "charters", folder)
    monkeypatch.setenv("HUB_CHARTERS_PATH", str(folder))
    monkeypatch.setattr(charters, "STAMP_SECONDS", 0.0)
    get_settings.cache_clear()
    yield folder
    get_settings.cache_clear()


def test_no_alert_is_derived_from_share_alike_or_unlicensed_data(
    engine: Engine, clock: Clock, charter_folder: Path
) -> None:
    """The same PM10 episode under the ODbL (share-alike) or with no licence stated raises no
    alert: the hub's Etalab-2.0 alerts could not honour the first, nothing grants the second."""
    atmo = (charter_folder / "atmo-demo-open.yaml").read_text()
    for charter, licence in (("air-odbl", "ODbL-1.0"), ("air-unstated", "notspecified")):
        (charter_folder / f"{charter}.yaml").write_text(
            atmo.replace("id: atmo-demo-open", f"id: {charter}").replace(
                "  id: etalab-2.0", f"  id: {licence}"
            )
        )
    for charter in ("air-odbl", "air-unstated"):
        publish_air(engine, hourly("FR001", "pm10", days(30, 70)), charter=charter)
        assert derived_rows(engine, None) == []
    publish_air(engine, hourly("FR001", "pm10", days(30, 70)))  # Licence Ouverte: derived
    assert len(derived_rows(engine, None)) == 2


@pytest.mark.parametrize(
    ("licence", "derived"),
    [
        ("etalab-2.0", True),
        ("CC-BY-4.0", True),
        ("CC0-1.0", True),
        ("public-domain", True),
        ("ODbL-1.0", False),
        ("CC-BY-SA-4.0", False),
        ("CC-BY-NC-4.0", False),
        ("notspecified", False),
        ("custom", False),
    ],
)
def test_only_licences_asking_at_most_attribution_are_derived(licence: str, derived: bool):
    assert (attribution.refusal(licence) is None) == derived


RULE = """
id: pm10-two-words
title: PM10
schema: air-quality-observation
series: [station_id]
field: value
aggregation: daily-mean
comparison: ">"
threshold: 50
alert:
  event: PM10
  category: Env
  severity: Moderate
  urgency: Immediate
  certainty: Observed
"""


def test_a_rule_writes_its_texts_in_one_language_or_several(tmp_path: Path) -> None:
    path = tmp_path / "rule.yaml"
    path.write_text(RULE + '  headline: "PM10 at {station}"\n  language: en\n')
    (only,) = read_rule(path).alert.wordings  # an older rule file: one info
    assert (only.language, only.headline, only.event) == ("en", "PM10 at {station}", "PM10")
    path.write_text(
        RULE
        + "  languages:\n"
        + '    - {language: fr-FR, headline: "PM10 à {station}", event: Particules}\n'
        + '    - {language: en-GB, headline: "PM10 at {station}"}\n'
    )
    fr, en = read_rule(path).alert.wordings
    assert (fr.language, fr.event, en.language, en.event) == (
        "fr-FR",
        "Particules",
        "en-GB",
        "PM10",
    )
    path.write_text(RULE)
    with pytest.raises(RuleError, match="needs a `headline` or `languages`"):
        read_rule(path)
    path.write_text(
        RULE
        + "  languages:\n"
        + '    - {language: fr, headline: "a"}\n'
        + '    - {language: FR, headline: "b"}\n'
    )
    with pytest.raises(RuleError, match="a language is given twice"):
        read_rule(path)


def test_alerts_name_the_source_s_own_page_when_the_hub_has_no_public_address(
    engine: Engine, clock: Clock
) -> None:
    """Without HUB_PUBLIC_URL no absolute link to the hub exists: the credit names the mention
    and the licence, and `web` is left out rather than made relative (CAP wants a full URI)."""
    publish_air(engine, hourly("FR001", "pm10", days(30, 70)))
    (alert,) = derived_rows(engine)
    assert alert["web"] is None
    assert str(alert["description"]).endswith(
        f"{ATMO_MENTION}. Licence: Licence Ouverte / Open Licence 2.0 (Etalab) "
        "(https://www.etalab.gouv.fr/licence-ouverte-open-licence/)."
    )


def test_an_alert_sent_in_english_only_before_is_ended_in_each_language_of_its_rule() -> None:
    """An Alert stored before its rule wrote French (one `en` info) is cancelled in French and
    English: the English info keeps the old headline, the French one names the French event."""
    (rule,) = [r for r in load_rules([BUNDLED]) if r.id == "pm10-daily-information"]
    old = {
        "msgType": "Alert",
        "identifier": "hub.pm10-daily-information.FR1.pm10.20260301T2300Z",
        "sender": "hub@localhost",
        "sent": "2026-03-03T10:00:00Z",
        "status": "Actual",
        "language": "en",
        "info_index": "0",
        "headline": "PM10 daily mean 70 µg/m³ at Montpellier: information threshold exceeded",
        "onset": "2026-03-01T23:00:00Z",
        "expires": "2026-03-04T23:00:00Z",
    }
    series = Series(("FR1", "pm10"), "Montpellier", 3.8, 43.6)
    fr, en = cancel_row(rule, series, [old], None, datetime(2026, 3, 4, tzinfo=UTC))
    assert fr["headline"] == "Fin d'épisode : Épisode de pollution aux particules (PM10)"
    assert en["headline"] == f"Ended: {old['headline']}"
    assert (
        fr["references"]
        == en["references"]
        == "hub@localhost,{},{}".format(old["identifier"], "2026-03-03T10:00:00+00:00")
    )
