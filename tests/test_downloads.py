"""Downloaded feeds are deleted once their batch is settled (kept N days by setting, never for a
personal feed), and the public run history never shows the hub's own folders."""

from __future__ import annotations

import gzip
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from hub.config import PROJECT_ROOT, get_settings
from hub.models import HarvestRun
from pipelines.harvesting import Outcome, harvest_source
from pipelines.roots import without_paths
from pipelines.sources import load_source

HEADER = (
    "station_id,station_name,pollutant,value,unit,averaging_period,observed_at,longitude,"
    "latitude,quality_flag"
)
ROW = "FR-D-1,Comédie,no2,11.5,µg/m³,PT1H,2025-09-01T00:00:00Z,3.88,43.61,valid"
DAY = 86_400


def source_file(folder: Path, url: str, source_id: str = "dl-air", **extra: Any) -> Path:
    data = {
        "id": source_id,
        "title": "Downloads test",
        "theme": "air-quality",
        "format": "csv",
        "url": url,
        "operator": {"id": "atmo-demo", "name": "Atmo Demo", "kind": "public"},
        "schema": "air-quality-observation",
        "charter": "atmo-demo-open",
        **extra,
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{source_id}.yaml"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def harvest(path: Path) -> Outcome:
    return harvest_source(load_source(path))


def downloaded(hub_env: Path, source_id: str = "dl-air") -> list[str]:
    folder = hub_env / "downloads" / source_id
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def keep_days(monkeypatch: pytest.MonkeyPatch, days: int) -> None:
    monkeypatch.setenv("HUB_KEEP_DOWNLOADS_DAYS", str(days))
    get_settings.cache_clear()


@pytest.fixture
def feed(tmp_path: Path) -> Path:
    """A source file and its good feed, in the source's folder."""
    folder = tmp_path / "sources"
    folder.mkdir()
    (folder / "no2.csv").write_text(f"{HEADER}\n{ROW}\n", encoding="utf-8")
    return source_file(folder, "no2.csv")


def age(path: Path, days: float) -> None:
    when = time.time() - days * DAY
    os.utime(path, (when, when))


# --- 5. downloads purged after publication ---------------------------------------------------


def test_a_published_feed_is_deleted_and_its_original_kept(
    engine: Engine, feed: Path, hub_env: Path
) -> None:
    outcome = harvest(feed)
    assert (outcome.status, outcome.published) == ("succeeded", 1), outcome
    assert downloaded(hub_env) == []
    assert (feed.parent / "no2.csv").is_file()  # the operator's file is not the hub's to delete


@pytest.mark.parametrize(
    ("setting", "status"),
    [
        ({"charter": "no-such-charter"}, "refused"),
        ({"options": {"columns": {"valeur": "value"}}}, "failed"),  # a misconfigured mapping
    ],
)
def test_a_refused_or_failed_feed_is_deleted(
    engine: Engine, tmp_path: Path, hub_env: Path, setting: dict[str, Any], status: str
) -> None:
    (tmp_path / "no2.csv").write_text(f"{HEADER}\n{ROW}\n", encoding="utf-8")
    outcome = harvest(source_file(tmp_path, "no2.csv", **setting))
    assert outcome.status == status, outcome
    assert downloaded(hub_env) == []


def test_kept_downloads_are_purged_after_the_setting_s_days(
    engine: Engine, feed: Path, hub_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keep_days(monkeypatch, 2)
    assert harvest(feed).status == "succeeded"
    assert downloaded(hub_env) == ["no2.csv"]
    other = hub_env / "downloads" / "other-source"
    other.mkdir()
    for name, days in (("old.csv", 3), ("recent.csv", 1)):
        (other / name).write_text("x")
        age(other / name, days)
    age(hub_env / "downloads" / "dl-air" / "no2.csv", 2.5)  # kept from an earlier harvest

    assert harvest(feed).status == "succeeded"  # writes a fresh no2.csv, then purges
    assert downloaded(hub_env) == ["no2.csv"]
    assert downloaded(hub_env, "other-source") == ["recent.csv"]


def test_with_nothing_kept_leftovers_of_dead_harvests_go_after_a_day(
    engine: Engine, feed: Path, hub_env: Path
) -> None:
    other = hub_env / "downloads" / "other-source"
    other.mkdir(parents=True)
    (other / "crashed.csv").write_text("x")
    age(other / "crashed.csv", 1.5)
    (other / "in-progress.csv").write_text("x")  # another harvest's, being read right now
    assert harvest(feed).status == "succeeded"
    assert downloaded(hub_env, "other-source") == ["in-progress.csv"]


def test_personal_feeds_are_never_kept(
    engine: Engine, tmp_path: Path, hub_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keep_days(monkeypatch, 30)
    (tmp_path / "curves.csv").write_text("meter,kwh\nM-1,3.2\n", encoding="utf-8")
    personal = source_file(
        tmp_path,
        "curves.csv",
        "dl-curves",
        theme="energy",
        schema="energy-consumption",
        charter="grid-demo-load-curves",
        operator={"id": "grid-demo", "name": "Grid Demo", "kind": "private"},
    )
    outcome = harvest(personal)
    assert outcome.run_id is not None and "FetchError" not in outcome.message, outcome
    assert downloaded(hub_env, "dl-curves") == []  # fetched, read, then deleted all the same
    (tmp_path / "no2.csv").write_text(f"{HEADER}\n{ROW}\n", encoding="utf-8")
    assert harvest(source_file(tmp_path, "no2.csv")).status == "succeeded"
    assert downloaded(hub_env) == ["no2.csv"]  # the same setting keeps an open feed


def test_a_decompressed_feed_leaves_neither_archive_nor_copy(
    engine: Engine, tmp_path: Path, hub_env: Path
) -> None:
    (tmp_path / "no2.csv.gz").write_bytes(gzip.compress(f"{HEADER}\n{ROW}\n".encode()))
    assert harvest(source_file(tmp_path, "no2.csv.gz")).status == "succeeded"
    assert downloaded(hub_env) == []


# --- 6. no internal path in public run errors ------------------------------------------------


def run_error(engine: Engine, outcome: Outcome) -> str:
    with Session(engine) as session:
        run = session.get(HarvestRun, outcome.run_id)
        assert run is not None and run.error
        return run.error


def assert_no_internal_path(text: str, *folders: Path) -> None:
    for folder in (*folders, get_settings().data_dir, PROJECT_ROOT):
        assert str(folder.resolve()) not in text and str(folder) not in text, text


def test_a_missing_file_is_named_relative_to_the_source(
    engine: Engine, tmp_path: Path, hub_env: Path
) -> None:
    outcome = harvest(source_file(tmp_path / "sources", "exports/missing.csv"))
    assert outcome.message == "FetchError: no such file: exports/missing.csv"
    assert run_error(engine, outcome) == outcome.message
    assert_no_internal_path(outcome.message, tmp_path)


def test_a_missing_sample_is_named_under_its_placeholder(engine: Engine, tmp_path: Path) -> None:
    outcome = harvest(source_file(tmp_path, "file://{samples}/air/nothing.csv"))
    assert outcome.message == "FetchError: no such file: {samples}/air/nothing.csv"
    assert_no_internal_path(outcome.message, get_settings().samples_dir)


def test_a_reader_error_names_the_file_not_the_download_folder(
    engine: Engine, tmp_path: Path, hub_env: Path
) -> None:
    (tmp_path / "no2.csv").write_bytes(b"PK\x03\x04\x00\x00" + bytes(range(256)) * 40)
    outcome = harvest(source_file(tmp_path, "no2.csv"))
    assert outcome.status == "failed"
    error = run_error(engine, outcome)
    assert error.startswith("TableReadError: no2.csv: not a CSV text file"), error
    assert_no_internal_path(error, tmp_path)


def test_an_unreadable_archive_is_named_by_its_file_name(
    engine: Engine, tmp_path: Path, hub_env: Path
) -> None:
    (tmp_path / "no2.csv.gz").write_bytes(b"\x1f\x8b\x08\x00 not really gzip")
    outcome = harvest(source_file(tmp_path, "no2.csv.gz"))
    assert outcome.message.startswith("FetchError: no2.csv.gz is not a readable gzip file")
    assert_no_internal_path(run_error(engine, outcome), tmp_path)
    assert downloaded(hub_env) == []


def test_a_missing_secret_names_the_source_file_not_its_folder(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DL_TEST_KEY", raising=False)
    path = source_file(
        tmp_path / "territory" / "sources",
        "https://feeds.example.org/no2.csv",
        auth={"header": "X-Key", "secret": "env:DL_TEST_KEY"},
    )
    outcome = harvest(path)
    assert outcome.message == (
        "CredentialError: dl-air.yaml: auth secret env:DL_TEST_KEY: "
        "environment variable DL_TEST_KEY is not set"
    )
    assert_no_internal_path(run_error(engine, outcome), tmp_path)


def test_without_paths_cuts_every_hub_folder(tmp_path: Path, hub_env: Path) -> None:
    settings = get_settings()
    base = tmp_path / "sources"
    download = settings.data_dir / "downloads" / "some-source" / "feed.csv"
    text = (
        f"{download}: bad; {settings.data_dir / 'demo' / 'x.csv'}; "
        f"{settings.samples_dir / 'air' / 'y.csv'}; {base / 'feeds' / 'z.csv'}; "
        f"{PROJECT_ROOT / 'schemas' / 'a.schema.json'}:3; /etc/hosts"
    )
    assert without_paths(text, base) == (
        "feed.csv: bad; {data}/demo/x.csv; {samples}/air/y.csv; feeds/z.csv; "
        "a.schema.json:3; /etc/hosts"
    )
    # as file URLs: a relative one is spelt file:path, never file://path (a host named path)
    urls = f"{(base / 'feeds' / 'z.csv').as_uri()} {(settings.samples_dir / 'y.csv').as_uri()}"
    assert without_paths(urls, base) == "file:feeds/z.csv file://{samples}/y.csv"
