"""Derived alerts: the rule files, and the CAP alerts the hub raises from published measurements
(once per episode, cancelled when it ends), published through the gate like harvested ones."""

from __future__ import annotations

import dataclasses
import random
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from api.support import client_for
from sqlalchemy import Engine
from sqlmodel import Session, select
from test_alerts_cap import CAP, cap_xsd, current_keys

from hub import catalogue
from hub.alerts import current, derived, document, moments
from hub.alerts.atom import atom_index
from hub.alerts.episodes import Episode, Period, episodes_by_series, period_frame, period_start
from hub.alerts.messages import expiry_of, grace
from hub.alerts.rules import BUNDLED, Rule, RuleError, load_rules, read_rule
from hub.batches import Batch, Publisher
from hub.config import get_settings
from hub.models import Dataset, Event
from hub.reading import Caller
from pipelines.demo import generate
from pipelines.flows import harvest_source
from pipelines.sources import resolve_source

PARIS = ZoneInfo("Europe/Paris")
ATOM = "{http://www.w3.org/2005/Atom}"
FIELDS = [
    "station_id", "station_name", "pollutant", "value", "unit", "averaging_period",
    "observed_at", "longitude", "latitude", "quality_flag",
]  # fmt: skip
ATMO = Publisher("atmo-demo", "Atmo Démo")
STORED = "%Y-%m-%dT%H:%M:%SZ"
DEMO_NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
DAY = datetime(2026, 3, 2, tzinfo=PARIS)  # a local day; hourly values stamped at hour end


# --- rule files --------------------------------------------------------------------------------


def test_the_bundled_rules_load() -> None:
    rules = {rule.id: rule for rule in load_rules([BUNDLED])}
    assert {"pm10-daily-information", "no2-hourly-information", "river-vigilance-orange"} <= set(
        rules
    )
    pm10 = rules["pm10-daily-information"]
    assert (pm10.schema, pm10.aggregation, pm10.comparison, pm10.threshold) == (
        "air-quality-observation",
        "daily-mean",
        ">",
        50.0,
    )
    assert rules["river-vigilance-orange"].field == "vigilance_level"


GOOD = (BUNDLED / "no2-hourly-information.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("aggregation: hourly-mean", "aggregation: weekly-mean", r"field 'aggregation': 'weekly-mean' is not one of"),  # noqa: E501
        ("  severity: Moderate", "  severity: Bad", r"field 'alert\.severity': 'Bad' is not one"),
        ("threshold: 200", "treshold: 200", r"field 'treshold': unknown field"),
        ("threshold: 200", "threshold: high", r"field 'threshold': 'high' is not of type 'number'"),
        ("field: value", "field: valeur", r"field 'field': 'valeur' is not a field of air-quality-observation"),  # noqa: E501
        ("field: value", "field: unit", r"field 'field': 'unit' is a string, no number"),
        ("series: [station_id, pollutant]", "series: [station]", r"field 'series': 'station' is not a field"),  # noqa: E501
        ("timezone: Europe/Paris", "timezone: Mars/Olympus", r"field 'timezone': 'Mars/Olympus' is not a known time zone"),  # noqa: E501
        ("comparison: \">\"", "comparison: \"=>\"", r"field 'comparison': '=>' is not one of"),
        ("schema: air-quality-observation\n", "", r"field 'schema': missing"),
        ("id: no2-hourly-information", "id: [no2", r"not valid YAML"),
        ("expires_after: PT3H", "expires_after: 3h", r"field 'alert\.expires_after': '3h' does not match"),  # noqa: E501
    ],
    ids=[
        "aggregation", "severity", "typo", "threshold-type", "unknown-field", "text-field",
        "series", "timezone", "comparison", "missing", "yaml", "expiry",
    ],
)  # fmt: skip
def test_a_malformed_rule_file_names_the_file_and_the_field(
    tmp_path: Path, old: str, new: str, words: str
) -> None:
    assert old in GOOD
    path = tmp_path / "broken.yaml"
    path.write_text(GOOD.replace(old, new), encoding="utf-8")
    with pytest.raises(RuleError, match=words) as caught:
        read_rule(path)
    assert str(caught.value).startswith(f"{path}: ")
    good = tmp_path / "good.yaml"
    good.write_text(GOOD.replace("no2-hourly-information", "no2-copy"), encoding="utf-8")
    with pytest.raises(RuleError, match=words):
        load_rules([tmp_path])


def test_an_alert_expires_its_rule_grace_after_the_end_of_its_last_period(tmp_path: Path) -> None:
    rules = {rule.id: rule for rule in load_rules([BUNDLED])}
    assert grace(rules["pm10-daily-information"]) == timedelta(days=1)
    assert grace(rules["no2-hourly-information"]) == timedelta(hours=3)
    river = rules["river-vigilance-orange"]  # declares none: one period, at least 3 hours
    assert river.alert.expires_after is None and grace(river) == timedelta(hours=3)
    undeclared = dataclasses.replace(
        rules["pm10-daily-information"],
        alert=dataclasses.replace(rules["pm10-daily-information"].alert, expires_after=None),
    )
    assert grace(undeclared) == timedelta(days=1)
    for old, new, hours in [("PT3H", "P1DT12H", 36), ("PT3H", "PT90M", 1.5)]:
        (tmp_path / "rule.yaml").write_text(GOOD.replace(old, new), encoding="utf-8")
        assert grace(read_rule(tmp_path / "rule.yaml")) == timedelta(hours=hours)
    older = GOOD.replace("expires_after: PT3H", "expires_hours: 2")  # the spelling before 2026-12
    (tmp_path / "older.yaml").write_text(older, encoding="utf-8")
    assert grace(read_rule(tmp_path / "older.yaml")) == timedelta(hours=2)
    # A daily period ends at the next local midnight, 23 hours later on the spring clock change.
    spring = datetime(2026, 3, 29, tzinfo=PARIS)
    pm10 = rules["pm10-daily-information"]
    episode = Episode((Period(spring.astimezone(UTC), 60.0, 23, spring),), None)
    assert expiry_of(pm10, episode) == (spring + timedelta(days=2)).astimezone(UTC)


# --- measurements that cross a threshold -------------------------------------------------------


def hourly(
    station: str, pollutant: str, values: list[float], start: datetime = DAY
) -> list[dict[str, str]]:
    """Hourly values of one station from `start` (local), each stamped at the end of its hour."""
    return [
        {
            "station_id": station,
            "station_name": f"Montpellier {station}",
            "pollutant": pollutant,
            "value": f"{value}",
            "unit": "µg/m³",
            "averaging_period": "PT1H",
            "observed_at": (start + timedelta(hours=n + 1)).astimezone(UTC).isoformat(),
            "longitude": "3.8767",
            "latitude": "43.6109",
            "quality_flag": "valid",
        }
        for n, value in enumerate(values)
    ]


def air_chunk(rows: list[dict[str, str]]) -> pl.DataFrame:
    """Air-quality rows as a reader hands them to the gate: text, `_row` numbered."""
    return pl.DataFrame(rows, schema=dict.fromkeys(FIELDS, pl.Utf8)).with_columns(
        pl.Series("_row", range(2, 2 + len(rows)), dtype=pl.Int64)
    )


def air_batch(chunks: list[pl.DataFrame], charter: str = "atmo-demo-open") -> Batch:
    """A batch of dataset `air-<charter>`."""
    return Batch(
        dataset_id=f"air-{charter}",
        title=f"Air quality ({charter})",
        publisher=ATMO,
        theme="air-quality",
        schema="air-quality-observation",
        charter=charter,
        chunks=chunks,
    )


def publish_air(engine: Engine, rows: list[dict[str, str]], charter: str = "atmo-demo-open") -> int:
    """Publish air-quality rows through the gate (dataset `air-<charter>`); the run's id."""
    run = catalogue.publish(air_batch([air_chunk(rows)], charter), engine=engine)
    assert run.status == "succeeded", run.error
    return run.id or 0


def derived_rows(engine: Engine, language: str | None = "en") -> list[dict[str, object]]:
    """The hub's derived alerts as anyone reads them, in the order they were published: the
    info in `language` of each (the bundled rules write French, then English), or every info
    row (None)."""
    with Session(engine) as session:
        if session.get(Dataset, derived.DATASET) is None:
            return []
        alerts = current.readable_alerts(session, Caller(), datetime(2000, 1, 1, tzinfo=UTC))
    rows = [
        row
        for alert in alerts
        for row in alert.rows
        if language is None or str(row["language"]).startswith(language)
    ]
    return sorted(rows, key=lambda row: (str(row["sent"]), str(row["msgType"])))


def days(*means: float) -> list[float]:
    """24 hourly values per day, each day's values averaging the given mean."""
    return [mean + (5 if hour % 2 else -5) for mean in means for hour in range(24)]


class Clock:
    """The time the hub judges derived alerts at, as a test sets it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    @property
    def stored(self) -> str:
        return self.now.astimezone(UTC).strftime(STORED)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The hub's clock for derived alerts: half an hour after DAY's second day unless moved."""
    ticking = Clock((DAY + timedelta(days=2, minutes=30)).astimezone(UTC))
    monkeypatch.setattr(derived, "utcnow", ticking)
    return ticking


def test_a_pm10_episode_raises_one_alert_then_its_cancel(engine: Engine, clock: Clock) -> None:
    first = hourly("FR001", "pm10", days(30, 70))  # day 2 over 50 µg/m³: an episode
    publish_air(engine, first)
    (alert,) = derived_rows(engine)
    assert (alert["msgType"], alert["event"], alert["severity"]) == (
        "Alert",
        "Particulate matter (PM10) episode",
        "Moderate",
    )
    assert alert["sender"] == "hub@localhost"
    assert alert["onset"] == (DAY + timedelta(days=1)).astimezone(UTC).strftime(STORED)
    assert "70 µg/m³ at Montpellier FR001" in str(alert["headline"])
    assert current_keys(engine, clock.now) == [(alert["identifier"], "Alert")]
    # The same data harvested again, or again with a value changed inside the episode: one alert.
    clock.now += timedelta(hours=1)
    publish_air(engine, first)
    publish_air(engine, hourly("FR001", "pm10", days(30, 72)))
    assert len(derived_rows(engine)) == 1
    # The next day is back under the threshold: the episode ends, its alert is cancelled.
    clock.now = (DAY + timedelta(days=3, minutes=30)).astimezone(UTC)
    publish_air(engine, hourly("FR001", "pm10", days(40), DAY + timedelta(days=2)))
    alert, cancel = derived_rows(engine)
    assert cancel["msgType"] == "Cancel" and cancel["urgency"] == "Past"
    sent = document.cap_time(alert["sent"])
    assert cancel["references"] == f"{alert['sender']},{alert['identifier']},{sent}"
    assert current_keys(engine, clock.now) == []
    publish_air(engine, hourly("FR001", "pm10", days(30, 70, 40)))
    assert len(derived_rows(engine)) == 2  # re-harvested whole: nothing new
    for row in (alert, cancel):
        body = served_derived(engine, str(row["identifier"]))
        cap_xsd().validate(body)
        circles = [c.text for c in ET.fromstring(body).iter(f"{CAP}circle")]
        assert circles == ["43.6109,3.8767 1"] * 2  # the area of each info, French and English


def served_derived(engine: Engine, identifier: str) -> bytes:
    with Session(engine) as session:
        alert_id = current.alert_id(derived.DATASET, "hub@localhost", identifier)
        return document.cap_document(current.find_alert(session, Caller(), alert_id).rows)


def test_derived_alerts_go_through_the_gate_into_the_catalogue_and_event_log(
    engine: Engine,
) -> None:
    publish_air(engine, hourly("FR002", "no2", [120, 250, 90]))  # one hour over 200: ended
    alert, cancel = derived_rows(engine)
    assert (alert["msgType"], cancel["msgType"]) == ("Alert", "Cancel")
    with Session(engine) as session:
        dataset = catalogue.get(session, derived.DATASET)
        assert (dataset.organization_id, dataset.charter_id, dataset.access) == (
            "hub",
            "hub-derived-alerts",
            "open",
        )
        # two messages, each one row per language (French, English)
        assert dataset.schema_name == "risk-alert" and dataset.record_count == 4
        logged = session.exec(select(Event).where(Event.dataset_id == derived.DATASET)).all()
    assert logged, "the derived alerts' batch is in the event log"


def test_a_station_without_a_place_still_raises_its_alert(engine: Engine) -> None:
    """An unlocated alert's longitude and latitude, the last fields of risk-alert, are empty
    cells: once null cells, they made the gate see rows cut short and quarantine the alerts."""
    placeless = [
        {**row, "longitude": "", "latitude": ""} for row in hourly("FR003", "no2", [120, 250, 90])
    ]
    publish_air(engine, placeless)
    alert, cancel = derived_rows(engine)
    assert (alert["msgType"], cancel["msgType"]) == ("Alert", "Cancel")
    assert (alert["longitude"], alert["latitude"], alert["area"]) == (None, None, None)
    body = served_derived(engine, str(alert["identifier"]))
    assert not list(ET.fromstring(body).iter(f"{CAP}circle"))


def test_a_short_day_is_not_judged_and_a_restricted_dataset_never(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish_air(engine, hourly("FR003", "pm10", [90.0] * 10))  # 10 h < min_count 18: not judged
    assert derived_rows(engine) == []
    charters = tmp_path / "charters"
    charters.mkdir()
    text = (get_settings().charter_dirs[-1] / "atmo-demo-open.yaml").read_text(encoding="utf-8")
    text = text.replace("id: atmo-demo-open", "id: atmo-demo-closed").replace(
        "access: open", "access: restricted\nrestricted_to: [metropole-civil-protection]"
    )
    (charters / "atmo-demo-closed.yaml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("HUB_CHARTERS_PATH", str(charters))
    get_settings.cache_clear()
    publish_air(engine, hourly("FR004", "pm10", days(30, 90)), charter="atmo-demo-closed")
    assert derived_rows(engine) == []  # an open alert would tell what the restricted rows hold


def test_a_territory_rule_folder_adds_rules(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    text = (BUNDLED / "no2-hourly-information.yaml").read_text(encoding="utf-8")
    rule = text.replace("id: no2-hourly-information", "id: pm25-hourly-high")
    rule = rule.replace("pollutant: no2", "pollutant: pm25").replace(
        "threshold: 200", "threshold: 60"
    )
    (folder / "pm25.yaml").write_text(rule, encoding="utf-8")
    (folder / "broken.yaml").write_text("id: [", encoding="utf-8")  # logged, the others used
    monkeypatch.setenv("HUB_ALERT_RULES_PATH", str(folder))
    get_settings.cache_clear()
    publish_air(engine, hourly("FR005", "pm25", [20, 80, 85]))
    (alert,) = derived_rows(engine)
    assert str(alert["identifier"]).startswith("hub.pm25-hourly-high.FR005.pm25.")


def test_an_open_alert_whose_data_is_corrected_is_withdrawn(engine: Engine) -> None:
    publish_air(engine, hourly("FR006", "no2", [120, 250]))
    (alert,) = derived_rows(engine)
    publish_air(engine, hourly("FR006", "no2", [120, 150]))  # the operator corrects hour 2
    alert, cancel = derived_rows(engine)
    assert cancel["msgType"] == "Cancel" and "Withdrawn" in str(cancel["description"])
    assert cancel["references"].startswith(f"hub@localhost,{alert['identifier']},")


NO2_START = datetime(2026, 3, 2, 8, tzinfo=PARIS)  # hourly values from 08:00 local


def stored(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(STORED)


def referenced(row: dict[str, object]) -> str:
    """The `references` triple naming a stored message, with the `sent` it was stored with."""
    return f"{row['sender']},{row['identifier']},{document.cap_time(row['sent'])}"


def judge_again(engine: Engine, run_id: int, now: datetime) -> list[dict[str, str | None]]:
    """What judging a run's rows again at `now` gives (a restart, a retried harvest)."""
    rules = [rule for rule in load_rules([BUNDLED]) if rule.schema == "air-quality-observation"]
    return derived.judge(engine, "air-atmo-demo-open", run_id, rules, now)


def test_an_alert_is_sent_when_the_hub_judges_and_tells_the_data_times_in_onset_and_effective(
    engine: Engine, clock: Clock
) -> None:
    """CAP `sent` is when the message was originated: harvested at 10:20, an NO2 hour of
    09:00-10:00 over 200 µg/m³ is an Alert sent 10:20, so an Atom reader polling for what was
    updated since its last visit meets it; the hour is its onset and effective time."""
    clock.now = (NO2_START + timedelta(hours=2, minutes=20)).astimezone(UTC)
    run = publish_air(engine, hourly("FR010", "no2", [120, 250], NO2_START))
    (alert,) = derived_rows(engine)
    hour = NO2_START + timedelta(hours=1)
    assert alert["sent"] == clock.stored
    assert alert["onset"] == alert["effective"] == stored(hour)
    assert alert["expires"] == stored(hour + timedelta(hours=1 + 3))  # the hour's end + PT3H
    assert alert["urgency"] == "Immediate"
    body = served_derived(engine, str(alert["identifier"]))
    cap_xsd().validate(body)
    served = ET.fromstring(body)
    assert served.findtext(f"{CAP}sent") == document.cap_time(clock.now)
    for name in ("onset", "effective"):
        assert served.findtext(f"{CAP}info/{CAP}{name}") == document.cap_time(hour)
    with Session(engine) as session:
        found = current.current_alerts(session, Caller(), clock.now)
    feed = ET.fromstring(atom_index(found, "http://hub.test/", clock.now))
    (entry,) = feed.iter(f"{ATOM}entry")
    for name in ("updated", "published"):
        assert entry.findtext(f"{ATOM}{name}") == clock.stored
    # Judged again later (a restart), or re-harvested with a value changed: nothing new.
    clock.now += timedelta(hours=1)
    assert judge_again(engine, run, clock.now) == []
    publish_air(engine, hourly("FR010", "no2", [120, 255], NO2_START))
    assert derived_rows(engine) == [alert]


def test_an_ongoing_episode_is_pushed_forward_by_an_update_and_cancelled_with_each_sent(
    engine: Engine, clock: Clock
) -> None:
    """An NO2 episode that runs on: each newer hour over 200 µg/m³ moves the alert's expiry
    forward with an Update that replaces it in the index; the Cancel names the Alert and the
    Update, each with the `sent` it was stored with."""
    clock.now = (NO2_START + timedelta(hours=2, minutes=20)).astimezone(UTC)
    publish_air(engine, hourly("FR011", "no2", [120, 250], NO2_START))
    (alert,) = derived_rows(engine)
    clock.now += timedelta(hours=1)
    run = publish_air(engine, hourly("FR011", "no2", [120, 250, 270], NO2_START))
    alert, update = derived_rows(engine)
    assert (update["msgType"], update["sent"]) == ("Update", clock.stored)
    expires = (NO2_START + timedelta(hours=3 + 3)).astimezone(UTC)
    assert update["expires"] == stored(expires)
    assert update["identifier"] == f"{alert['identifier']}.until{expires:%Y%m%dT%H%M%S}Z"
    assert update["onset"] == alert["onset"] and update["urgency"] == "Immediate"
    assert update["effective"] == stored(NO2_START + timedelta(hours=2))  # the newer hour
    assert update["references"] == referenced(alert)
    assert "270 µg/m³" in str(update["headline"])
    assert current_keys(engine, clock.now) == [(update["identifier"], "Update")]
    assert judge_again(engine, run, clock.now + timedelta(minutes=5)) == []
    clock.now += timedelta(hours=1)
    publish_air(engine, hourly("FR011", "no2", [120, 250, 270, 90], NO2_START))  # back under
    alert, update, cancel = derived_rows(engine)
    assert (cancel["msgType"], cancel["sent"]) == ("Cancel", clock.stored)
    assert cancel["references"] == f"{referenced(alert)} {referenced(update)}"
    assert cancel["effective"] == stored(NO2_START + timedelta(hours=3))  # the hour back under
    assert current_keys(engine, clock.now) == []
    for row in (alert, update, cancel):
        body = ET.fromstring(served_derived(engine, str(row["identifier"])))
        cap_xsd().validate(body)
        assert body.findtext(f"{CAP}sent") == document.cap_time(row["sent"])
    triples = (body.findtext(f"{CAP}references") or "").split()
    assert [t.rsplit(",", 1)[1] for t in triples] == [
        document.cap_time(alert["sent"]),
        document.cap_time(update["sent"]),
    ]


def test_an_episode_of_old_data_is_recorded_but_never_current(engine: Engine, clock: Clock) -> None:
    """A backfill of October 2024 NO2 judged in December 2026: its Alert is history (urgency
    Past, expired in 2024) and not in alerts.atom. Neither is one whose data came an hour after
    its expiry, within the 48 h an expired alert stays listed: it was never in force."""
    clock.now = datetime(2026, 12, 4, 22, 57, tzinfo=UTC)
    october = datetime(2024, 10, 27, 5, tzinfo=PARIS)
    publish_air(engine, hourly("FR12345", "no2", [150, 240, 230], october))
    (old,) = derived_rows(engine)
    assert old["identifier"] == "hub.no2-hourly-information.FR12345.no2.20241027T0500Z"
    assert (old["sent"], old["urgency"]) == (clock.stored, "Past")
    assert old["expires"] == "2024-10-27T10:00:00Z"  # 07:00 (the end of the last hour) + PT3H
    cap_xsd().validate(served_derived(engine, str(old["identifier"])))
    late = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=8)
    clock.now = late + timedelta(hours=2 + 3 + 1)  # an hour after its expiry
    publish_air(engine, hourly("FR12346", "no2", [150, 240], late))
    recent = [row for row in derived_rows(engine) if "FR12346" in str(row["identifier"])]
    assert [row["urgency"] for row in recent] == ["Past"]
    assert current_keys(engine, clock.now) == []
    with client_for(engine) as client:
        answer = client.get("/api/v1/alerts.atom")
    assert answer.status_code == 200
    assert list(ET.fromstring(answer.content).iter(f"{ATOM}entry")) == []


def test_the_demo_pm10_episode_raises_derived_alerts(
    engine: Engine, hub_env: Path, clock: Clock
) -> None:
    clock.now = DEMO_NOW  # harvested as the demo's data is made
    generate(hub_env / "demo", now=DEMO_NOW)
    outcome = harvest_source(resolve_source("demo-atmo-montpellier-pm"))
    assert outcome.status in ("succeeded", "partial"), outcome
    with Session(engine) as session:
        raised = current.current_alerts(session, Caller(), DEMO_NOW)
    assert raised, "the demo's particulate episode raises at least one alert"
    for alert in raised:
        assert alert.identifier.startswith("hub.pm10-daily-information.")
        cap_xsd().validate(document.cap_document(alert.rows))
    again = harvest_source(resolve_source("demo-atmo-montpellier-pm"))
    assert again.status in ("succeeded", "partial", "unchanged"), again
    with Session(engine) as session:
        assert len(current.current_alerts(session, Caller(), DEMO_NOW)) == len(raised)


def test_a_gauge_at_orange_vigilance_raises_a_flood_alert_until_it_falls_back(
    engine: Engine, clock: Clock
) -> None:
    fields = [
        "station_id", "station_name", "river", "quantity", "value", "unit", "observed_at",
        "longitude", "latitude", "vigilance_level", "quality_flag",
    ]  # fmt: skip
    start = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    levels = [1, 2, 3, 3, 4, 2]
    rows = [
        {
            "station_id": "Y321002101", "station_name": "Le Lez à Montpellier", "river": "Lez",
            "quantity": "water-level", "value": f"{1.0 + level / 2}", "unit": "m",
            "observed_at": (start + timedelta(minutes=30 * n)).isoformat(),
            "longitude": "3.8983", "latitude": "43.6062", "vigilance_level": str(level),
            "quality_flag": "unverified",
        }
        for n, level in enumerate(levels)
    ]  # fmt: skip
    frame = pl.DataFrame(rows, schema=dict.fromkeys(fields, pl.Utf8)).with_columns(
        pl.Series("_row", range(2, 2 + len(rows)), dtype=pl.Int64)
    )
    catalogue.publish(
        Batch(
            dataset_id="vigicrues-lez",
            title="Le Lez, water levels",
            publisher=Publisher("vigicrues", "Vigicrues"),
            theme="risk",
            schema="hydrometry-observation",
            charter="vigicrues-etalab",
            chunks=[frame],
        ),
        engine=engine,
    )
    alert, cancel = derived_rows(engine)
    assert (alert["msgType"], alert["event"], alert["severity"]) == (
        "Alert",
        "River flood",
        "Severe",
    )
    assert alert["onset"] == (start + timedelta(hours=1)).strftime(STORED)  # the first orange
    assert cancel["msgType"] == "Cancel" and cancel["sent"] == clock.stored
    assert cancel["effective"] == (start + timedelta(hours=2, minutes=30)).strftime(STORED)
    cap_xsd().validate(served_derived(engine, str(cancel["identifier"])))


def test_a_daily_mean_counts_the_hours_of_local_days_across_a_clock_change() -> None:
    (rule,) = [r for r in load_rules([BUNDLED]) if r.id == "pm10-daily-information"]
    spring = datetime(2026, 3, 29, tzinfo=PARIS)  # 23 hours long in Paris
    ends = [spring.astimezone(UTC) + timedelta(hours=n + 1) for n in range(23 + 24)]
    frame = one_series([(end, 60.0 if n < 23 else 40.0) for n, end in enumerate(ends)])
    found = period_frame(rule, frame)
    assert list(zip(found["start"], found["count"], strict=True)) == [
        (spring.astimezone(UTC), 23),
        (datetime(2026, 3, 30, tzinfo=PARIS).astimezone(UTC), 24),
    ]
    ((episode,),) = episodes_by_series(rule, frame).values()
    assert episode.start == spring.astimezone(UTC)
    assert episode.end is not None and episode.end.start == found["start"][1]


def one_series(values: list[tuple[datetime, float]], number: int = 0) -> pl.DataFrame:
    return pl.DataFrame(
        [(number, moment, value) for moment, value in values],
        schema={"series": pl.Int64, "time": pl.Datetime("us", "UTC"), "value": pl.Float64},
        orient="row",
    )


def periods_alone(rule: Rule, observations: list[tuple[datetime, float]]) -> list[Period]:
    """The oracle: one series' judged periods, one observation at a time in plain Python."""
    gathered: dict[datetime, list[tuple[datetime, float]]] = {}
    for moment, value in observations:
        gathered.setdefault(period_start(rule, moment), []).append((moment, value))
    found = []
    for start in sorted(gathered):
        values = gathered[start]
        if len(values) >= rule.min_count:
            mean = sum(v for _, v in values) / len(values)
            found.append(Period(start, mean, len(values), max(m for m, _ in values)))
    return found


def episodes_alone(rule: Rule, periods: list[Period]) -> list[Episode]:
    """The oracle: runs of consecutive periods over the threshold, and the period ending each."""
    found: list[Episode] = []
    running: list[Period] = []
    for period in periods:
        if rule.exceeds(period.value):
            running.append(period)
        elif running:
            found.append(Episode(tuple(running), period))
            running = []
    if running:
        found.append(Episode(tuple(running), None))
    return found


RULE_VARIANTS = {
    "daily, stamped at the end, 18 values": {},
    "daily, stamped at the start": {"stamped": "start", "min_count": 1},
    "hourly, at or under": {"aggregation": "hourly-mean", "comparison": "<=", "min_count": 2},
    "each value, at or over": {"aggregation": "none", "comparison": ">=", "min_count": 1},
    "hourly, half-hour zone": {
        "aggregation": "hourly-mean",
        "timezone": "Asia/Kolkata",
        "min_count": 1,
    },
    "daily, midnight clock change": {"timezone": "America/Santiago", "min_count": 3},
}


@pytest.mark.parametrize("changes", RULE_VARIANTS.values(), ids=list(RULE_VARIANTS))
def test_many_series_judged_at_once_give_what_each_judged_alone_gives(changes: dict) -> None:
    """`judge` gathers periods and episodes of every series of a run in polars; each series
    must get exactly the periods and episodes of a one-series oracle in plain Python: across
    clock changes, in zones with half-hour offsets, with values on the threshold, times on
    period boundaries, repeated times and periods too thin to judge."""
    (rule,) = [r for r in load_rules([BUNDLED]) if r.id == "pm10-daily-information"]
    rule = dataclasses.replace(rule, **changes)
    rng = random.Random(20261203)
    starts = [datetime(2026, 3, 27, tzinfo=UTC), datetime(2026, 10, 23, tzinfo=UTC)]
    starts += [datetime(2026, 4, 3, tzinfo=UTC), datetime(2026, 9, 4, tzinfo=UTC)]  # Santiago
    series: dict[int, list[tuple[datetime, float]]] = {}
    for number in range(30):
        moment = rng.choice(starts) + timedelta(minutes=rng.choice([0, 15, 30, 59]))
        values = series.setdefault(number, [])
        for _ in range(rng.randint(0, 200)):
            moment += rng.choice([timedelta(0), timedelta(hours=1), timedelta(hours=1)] * 3 + [
                timedelta(hours=rng.randint(2, 30)), timedelta(microseconds=1)
            ])  # fmt: skip
            values.append((moment, rng.choice([50.0, 10.0, 49.9, 80.0, rng.uniform(0, 100)])))
    frame = pl.concat([one_series(values, n) for n, values in series.items()])
    at_once = episodes_by_series(rule, frame)
    judged = 0
    for number, values in series.items():
        alone = episodes_alone(rule, periods_alone(rule, values))
        assert _shapes(at_once.get(number, [])) == _shapes(alone), number
        judged += len(alone)
    assert judged > 20  # the data gives episodes to compare, ended and running


@pytest.mark.parametrize(
    "stored",
    [
        ["2026-03-29 00:59:59.999999", "2026-03-29 01:00:00.000000", None],  # SQLite's own
        ["2026-03-29T02:30:00+02:00", "2026-03-29 01:00:00", "2026-03-29T01:00:00Z"],
        [datetime(2026, 3, 29, 3, tzinfo=PARIS), datetime(2026, 3, 29, 1, 30, tzinfo=PARIS)],
        [datetime(2026, 3, 29, 1), datetime(2026, 3, 29, 1, 0, 0, 5)],  # naive: UTC
    ],
    ids=["sqlite-text", "mixed-text", "aware", "naive"],
)
def test_stored_times_are_read_at_once_as_instant_reads_each(stored: list) -> None:
    times = moments.instants(pl.Series("time", stored, strict=False))
    assert times.dtype == pl.Datetime("us", "UTC")
    assert times.to_list() == [moments.instant(value) for value in stored]


def _shapes(episodes: list[Episode]) -> list[tuple]:
    """Episodes as comparable tuples: means equal to 1e-9 (polars adds in another order)."""
    return [
        (
            [(p.start, p.count, p.last_seen, round(p.value, 9)) for p in episode.periods],
            None if episode.end is None else (episode.end.start, round(episode.end.value, 9)),
        )
        for episode in episodes
    ]


def test_the_series_a_run_touched_are_found_within_the_span_the_gate_gives(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gate hands the rules the first and last time of the chunks that changed rows, so
    the run's rows are found through the time index; chunks out of time order, an unchanged
    chunk and rows stored by earlier runs change nothing in what is found."""
    earlier = hourly("FR009", "pm10", days(20, 20, 20))  # another run's rows, before and after
    publish_air(engine, earlier)
    spans: list[tuple[datetime, datetime] | None] = []
    judged = derived.judge

    def judge(engine, dataset_id, run_id, rules, now, span=None):  # type: ignore[no-untyped-def]
        spans.append(span)
        return judged(engine, dataset_id, run_id, rules, now, span)

    monkeypatch.setattr(derived, "judge", judge)
    late = hourly("FR001", "pm10", days(70), DAY + timedelta(days=1))
    early = hourly("FR002", "pm10", days(30), DAY)
    same = hourly("FR009", "pm10", days(20), DAY + timedelta(days=2))  # stored already
    chunks = [air_chunk(rows) for rows in (late, early, same)]
    run = catalogue.publish(air_batch(chunks), engine=engine)
    assert run.status == "succeeded" and run.rows_skipped == 24, run.error
    (span,) = spans
    assert span == (DAY + timedelta(hours=1), DAY + timedelta(days=2)), span
    (rule,) = [r for r in load_rules([BUNDLED]) if r.id == "pm10-daily-information"]
    with Session(engine) as session:
        dataset = session.get(Dataset, "air-atmo-demo-open")
        assert dataset is not None
        layout = catalogue.layout_of(catalogue.resource_of(session, dataset.id))
        connection = session.connection()
        within = derived.touched(connection, layout, rule, run.id or 0, span)
        scanned = derived.touched(connection, layout, rule, run.id or 0)
    assert within == scanned
    assert sorted(key for key, _, _ in within) == [("FR001", "pm10"), ("FR002", "pm10")]
    (alert,) = [row for row in derived_rows(engine) if row["msgType"] == "Alert"]
    assert "FR001" in str(alert["headline"])


@pytest.mark.parametrize(
    ("few", "wide"),
    [(32, 0.25), (0, 0.25), (1_000, 0.0), (1_000, 2.0)],
    ids=["as-shipped", "no-key-list", "key-list-one-pass", "key-list-time-index"],
)
def test_each_series_of_a_run_is_judged_on_its_own_rows_however_they_are_read(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, few: int, wide: float
) -> None:
    """The series of a run are read together, by their keys or not, in one pass over the table
    or through its time index: each station's episode is judged on its own values and named
    after its own station, history before the run and another pollutant's rows mix in nothing."""
    monkeypatch.setattr(derived, "FEW", few)
    monkeypatch.setattr(derived, "WIDE", wide)
    stations = [f"FR{n:03d}" for n in range(40)]
    before = DAY - timedelta(days=10)  # an episode no rule judged then, long before the run
    history = [row for s in stations for row in hourly(s, "pm10", days(20, 80), before)]
    with monkeypatch.context() as rules_off:
        rules_off.setattr(derived, "read_rules", lambda: ([], []))
        publish_air(engine, history)
    assert derived_rows(engine) == []
    rows = []
    for n, station in enumerate(stations):  # day 2 over 50 µg/m³ at two stations in three
        rows += hourly(station, "pm10", days(30, 60 if n % 3 else 40))
    rows += hourly("FR000", "no2", days(150, 150))  # over 50, but no PM10 value
    daily = hourly("FR003", "pm10", [500, 500], DAY + timedelta(minutes=30))  # the rule's
    rows += [{**row, "averaging_period": "P1D"} for row in daily]  # `where` leaves them out
    publish_air(engine, rows)
    alerts = [row for row in derived_rows(engine) if row["msgType"] == "Alert"]
    named = sorted(str(row["headline"]).split(" at ")[1].split(":")[0] for row in alerts)
    assert named == [f"Montpellier {s}" for n, s in enumerate(stations) if n % 3]
    onset = (DAY + timedelta(days=1)).astimezone(UTC).strftime(STORED)
    assert {row["onset"] for row in alerts} == {onset}
    assert all("60 µg/m³" in str(row["headline"]) for row in alerts)
