"""The demo grid operator's households: their load curves, its matching service, and a citizen's
journey from the generated feed through the publish gate to their own rows."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from hub import cli, tokens
from hub.app import create_app
from hub.config import PROJECT_ROOT, get_settings
from hub.models import ApiToken, Service
from hub.pseudonyms import pseudonym
from pipelines.demo import generate as generate_demo
from pipelines.demo import households as hh
from pipelines.demo.matching import serving
from pipelines.flows import harvest_source
from pipelines.sources import resolve_source

WINTER = datetime(2026, 1, 21, 10, 7, tzinfo=UTC)  # a Wednesday
LOCAL_TIME = "%Y-%m-%d %H:%M:%S%:z"


def feed(folder: Path, count: int = 12, days: int = 14, **kwargs: object) -> pl.DataFrame:
    """A small generated feed, read back as the operator wrote it, with local hour and day."""
    path, _ = hh.generate(folder, count=count, days=days, **kwargs)  # type: ignore[arg-type]
    frame = pl.read_csv(path, separator=";", schema_overrides={"identifiant_pdl": pl.Utf8})
    local = pl.col("horodate_debut").str.to_datetime(LOCAL_TIME).dt.convert_time_zone(hh.LOCAL)
    return frame.with_columns(
        local.dt.hour().alias("hour"), (local.dt.weekday() >= 6).alias("weekend")
    )


def test_every_half_hour_of_every_household_up_to_now(tmp_path: Path) -> None:
    frame = feed(tmp_path, now=WINTER)
    assert frame.columns[:4] == list(hh.HEADER)
    assert frame.group_by("identifiant_pdl").len()["len"].to_list() == [14 * 48] * 12
    starts = frame.select(pl.col("horodate_debut").str.to_datetime(LOCAL_TIME)).to_series()
    ends = frame.select(pl.col("horodate_fin").str.to_datetime(LOCAL_TIME)).to_series()
    assert ((ends - starts).dt.total_minutes() == 30).all()
    one = starts.head(14 * 48)
    assert (one.diff().drop_nulls().dt.total_minutes() == 30).all()  # no gap, no repeat
    assert ends.max() == datetime(2026, 1, 21, 10, 0, tzinfo=UTC)  # the last whole half hour
    assert frame["energie_active_wh"].min() > 0  # type: ignore[operator]


def test_meter_numbers_are_distinct_pdls_with_montpellier_postcodes(tmp_path: Path) -> None:
    frame = feed(tmp_path, count=40, days=1, now=WINTER)
    register = hh.read_register(tmp_path / hh.REGISTER)
    meters = frame["identifiant_pdl"].unique().to_list()
    assert sorted(meters) == sorted(register) and len(register) == 40
    assert all(re.fullmatch(r"[0-9]{14}", meter) for meter in register)
    assert set(register.values()) <= set(hh.POSTCODES) and len(set(register.values())) > 5


def test_evening_and_morning_peaks_above_the_night(tmp_path: Path) -> None:
    frame = feed(tmp_path, count=30, days=28, now=WINTER)
    weekdays = frame.filter(~pl.col("weekend"))

    def mean(rows: pl.DataFrame, hours: list[int]) -> float:
        return rows.filter(pl.col("hour").is_in(hours))["energie_active_wh"].mean()  # type: ignore[return-value]

    night = mean(weekdays, [2, 3, 4])
    assert mean(weekdays, [19, 20]) > 1.8 * night
    assert mean(weekdays, [7]) > 1.4 * night
    # People sleep in at the weekend: their 7 o'clock is quieter, their late morning busier.
    weekend = frame.filter(pl.col("weekend"))
    assert mean(weekend, [7]) < mean(weekdays, [7])
    assert mean(weekend, [10, 11]) > mean(weekdays, [10, 11])


def test_winter_heating_and_summer_holidays(tmp_path: Path) -> None:
    homes = hh.households(60)
    slots = hh.slots(datetime(2026, 12, 31, 23, 30, tzinfo=UTC), 365)
    energy = hh.curves(homes, slots)
    assert energy.shape == (60, 365 * 48)
    month = slots["start"].dt.convert_time_zone(hh.LOCAL).dt.month().to_numpy()
    winter = energy[:, np.isin(month, [12, 1, 2])].mean(axis=1)
    spring = energy[:, np.isin(month, [4, 5, 6])].mean(axis=1)
    ratio = winter / spring
    # A share of the homes heat with electricity: their winter is far above their spring.
    heated = ratio > 1.6
    assert 0.15 < heated.mean() < 0.6
    assert np.median(ratio[~heated]) < 1.4
    # Holidays: most homes have a run of days far below their own usual day.
    days = energy.reshape(60, 365, 48).sum(axis=2)
    low = days < 0.6 * np.median(days, axis=1, keepdims=True)
    assert (low.sum(axis=1) >= 5).mean() > 0.7
    # Each home its own size.
    assert days.mean(axis=1).max() > 2.5 * days.mean(axis=1).min()


def test_the_same_seed_gives_the_same_feed(tmp_path: Path) -> None:
    first = hh.generate(tmp_path / "a", WINTER, 5, 3, seed=4)
    again = hh.generate(tmp_path / "b", WINTER, 5, 3, seed=4)
    other = hh.generate(tmp_path / "c", WINTER, 5, 3, seed=5)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in again]
    assert first[0].read_bytes() != other[0].read_bytes()
    assert first[1].read_bytes() != other[1].read_bytes()
    with pytest.raises(ValueError, match="at least one household"):
        hh.generate(tmp_path / "d", WINTER, 0, 3)


def test_the_demo_feeds_include_the_load_curves_when_asked(tmp_path: Path) -> None:
    plain = generate_demo(tmp_path / "a", now=WINTER)
    with_homes = generate_demo(tmp_path / "b", now=WINTER, households=3, household_days=2)
    assert [p.name for p in with_homes] == [p.name for p in plain] + [hh.FEED, hh.REGISTER]


def test_the_matching_service_answers_as_the_protocol_says() -> None:
    register = {"30001234567890": "34000", "30009876543210": "34970"}
    with serving(register, port=0) as url, httpx.Client(timeout=5) as client:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/matching")

        def ask(matching: object, dataset: object = "demo-grid-load-curves") -> httpx.Response:
            return client.post(url, json={"dataset": dataset, "matching": matching})

        found = ask({"meter_number": "30001234567890", "postcode": "34000"})
        assert (found.status_code, found.json()) == (200, {"subject_key": "30001234567890"})
        assert ask({"meter_number": "30001234567890", "postcode": "34970"}).status_code == 404
        assert ask({"meter_number": "30005555555555", "postcode": "34000"}).status_code == 404
        assert ask({"meter_number": 30001234567890, "postcode": "34000"}).status_code == 404
        assert ask({"postcode": "34000"}).status_code == 404
        # the register is of demo-grid-load-curves' households: no data elsewhere, same 404
        other = ask(
            {"meter_number": "30001234567890", "postcode": "34000"}, "sceaux-household-load-curve"
        )
        assert (other.status_code, other.json()) == (404, ask({"postcode": "x"}).json())
        assert ask("30001234567890").status_code == 400
        assert ask({"meter_number": "30001234567890"}, dataset=None).status_code == 400
        assert client.post(url, content=b"not json").status_code == 400
        assert client.get(url).status_code == 405
    with pytest.raises(httpx.ConnectError):  # stopped with the block
        httpx.post(url, json={}, timeout=2)


def test_a_taken_port_is_said() -> None:
    with serving({}, port=0) as url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        with pytest.raises(OSError, match="could not listen"), serving({}, port=port):
            pass


@pytest.fixture
def linked_world(
    engine: Engine, hub_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, dict[str, str]]]:
    """12 households × 14 days harvested through the real gate from the bundled source, the
    bundled charter pointed at the real matching service on a free port."""
    hh.generate(hub_env / "demo", count=12, days=14)
    register = hh.read_register(hub_env / "demo" / hh.REGISTER)
    with serving(register, port=0) as url:
        charters = tmp_path / "charters"
        charters.mkdir()
        bundled = PROJECT_ROOT / "charters" / "grid-demo-load-curves@2.0.yaml"
        text = bundled.read_text(encoding="utf-8")
        assert "matching_url: http://127.0.0.1:8765/matching" in text
        (charters / bundled.name).write_text(
            text.replace("http://127.0.0.1:8765/matching", url), encoding="utf-8"
        )
        monkeypatch.setenv("HUB_CHARTERS_PATH", str(charters))
        get_settings.cache_clear()
        outcome = harvest_source(resolve_source("demo-grid-load-curves"))
        assert (outcome.status, outcome.published) == ("succeeded", 12 * 14 * 48), outcome.message
        yield url, register


def test_a_citizen_links_and_reads_only_their_household(
    engine: Engine, linked_world: tuple[str, dict[str, str]]
) -> None:
    _, register = linked_world
    (meter, postcode), (other, other_postcode) = list(register.items())[:2]
    with Session(engine) as session:
        citizen = tokens.issue(session, "subject", [], "citizen", account="demo-citizen-1")
        neighbour = tokens.issue(session, "subject", [], "neighbour")
    mine = {"Authorization": f"Bearer {citizen.token}"}
    theirs = {"Authorization": f"Bearer {neighbour.token}"}
    records = "/api/v1/datasets/demo-grid-load-curves/records?limit=200"  # pages
    with TestClient(create_app()) as client:
        unlinked = client.get(records, headers=mine)
        assert unlinked.status_code == 403 and "POST /api/v1/me/links" in unlinked.text
        wrong = {"meter_number": meter, "postcode": other_postcode}
        linking = {"dataset": "demo-grid-load-curves", "matching": wrong}
        assert client.post("/api/v1/me/links", json=linking, headers=mine).status_code == 404
        linking["matching"] = {"meter_number": meter, "postcode": postcode}
        made = client.post("/api/v1/me/links", json=linking, headers=mine)
        assert made.status_code == 201, made.text
        rows = _all_rows(client, records, mine)
        assert len(rows) == 14 * 48
        assert {row["subject_key"] for row in rows} == {pseudonym("grid-demo", meter)}
        assert meter not in made.text and all(meter not in str(row) for row in rows)
        # The neighbour, unlinked, still reads nothing; linked, only their own home.
        assert client.get(records, headers=theirs).status_code == 403
        linking["matching"] = {"meter_number": other, "postcode": other_postcode}
        assert client.post("/api/v1/me/links", json=linking, headers=theirs).status_code == 201
        their_rows = _all_rows(client, records, theirs)
        assert {row["subject_key"] for row in their_rows} == {pseudonym("grid-demo", other)}
        assert len(their_rows) == 14 * 48


def _all_rows(client: TestClient, url: str, headers: dict[str, str]) -> list[dict[str, object]]:
    """Every row a reader gets, page after page."""
    rows: list[dict[str, object]] = []
    while url:
        page = client.get(url, headers=headers)
        assert page.status_code == 200, page.text
        body = page.json()
        rows += body["records"]
        url = body.get("next") or ""
    return rows


def test_hub_demo_reuses_its_self_data_tokens(
    engine: Engine, hub_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = hub_env / "demo"
    hh.generate(folder, count=3, days=1)
    cli._say_self_data(folder, "http://127.0.0.1:8000")
    kept = hub_env / cli.DEMO_TOKENS  # outside demo/, which sources may read
    first = kept.read_text(encoding="utf-8")
    cli._say_self_data(folder, "http://127.0.0.1:8000")
    assert kept.read_text(encoding="utf-8") == first  # reused, not issued again
    assert kept.stat().st_mode & 0o077 == 0
    issued = json.loads(first)
    with Session(engine) as session:
        assert len(session.exec(select(ApiToken)).all()) == 3
        assert session.get(Service, cli.DEMO_SERVICE[0]) is not None
        actor = tokens.check(session, issued["citizen-1"])
        assert (actor.role, actor.account) == ("subject", "demo-citizen-1")
        coach = tokens.check(session, issued["coach"])
        assert (coach.role, coach.service) == ("service", cli.DEMO_SERVICE[0])
        tokens.revoke(session, issued["coach"].split(".")[1])
    cli._say_self_data(folder, "http://127.0.0.1:8000")
    again = json.loads(kept.read_text(encoding="utf-8"))
    assert again["citizen-1"] == issued["citizen-1"] and again["coach"] != issued["coach"]
    meter, postcode = next(iter(hh.read_register(folder / hh.REGISTER).items()))
    said = capsys.readouterr().err
    assert f"meter_number {meter}, postcode {postcode}" in said
    assert again["coach"] in said and "purpose=energy-saving-advice" in said
