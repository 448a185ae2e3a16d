"""The publish gate: valid rows stored once, invalid rows quarantined, refusals store nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import polars as pl
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from hub import catalogue, records, search
from hub.batches import Chunk, RowProblem
from hub.bus import get_bus
from hub.catalogue import Batch, Publisher, PublishRefused, publish
from hub.models import Dataset, Event, HarvestRun, QuarantinedRow

FIELDS = [
    "station_id",
    "station_name",
    "pollutant",
    "value",
    "unit",
    "averaging_period",
    "observed_at",
    "longitude",
    "latitude",
    "quality_flag",
]
ATMO = Publisher("atmo-demo", "Atmo Démo", "public")


def observations(
    n: int, *, start_row: int = 2, bad: dict[int, dict[str, str]] | None = None, value: str = "21.5"
) -> pl.DataFrame:
    """n schema-shaped string rows (hourly NO2 at one station); `bad` overrides cells by index."""
    rows = []
    for i in range(n):
        row = {
            "station_id": "FR-DEMO-01",
            "station_name": "Comédie",
            "pollutant": "no2",
            "value": value,
            "unit": "µg/m³",
            "averaging_period": "PT1H",
            "observed_at": f"2025-09-{1 + i // 24:02d}T{i % 24:02d}:00:00Z",
            "longitude": "3.8800",
            "latitude": "43.6100",
            "quality_flag": "valid",
        }
        row.update((bad or {}).get(i, {}))
        rows.append(row)
    frame = pl.DataFrame(rows, schema={f: pl.Utf8 for f in FIELDS})
    return frame.with_columns(pl.Series("_row", range(start_row, start_row + n), dtype=pl.Int64))


def batch(
    *chunks: pl.DataFrame | Chunk,
    charter: str | None = "atmo-demo-open",
    publisher=ATMO,
    theme: str = "air-quality",
    schema: str = "air-quality-observation",
    dataset_id: str = "demo-no2",
) -> Batch:
    return Batch(
        dataset_id=dataset_id,
        title="NO2, demo station",
        publisher=publisher,
        theme=theme,
        schema=schema,
        charter=charter,
        chunks=list(chunks),
        source_url="file:///demo.csv",
    )


def stored_count(engine, dataset_id: str = "demo-no2") -> int:
    with Session(engine) as session:
        dataset = session.get(Dataset, dataset_id)
        if dataset is None:
            return 0
        resource = catalogue.resource_of(session, dataset_id)
    with engine.connect() as connection:
        return connection.execute(sa.text(f'SELECT count(*) FROM "{resource.table_name}"')).scalar()


def test_a_valid_batch_is_stored_with_its_schema_and_charter_versions(engine):
    run = publish(batch(observations(48)))
    assert (run.status, run.rows_read, run.rows_published, run.rows_quarantined) == (
        "succeeded",
        48,
        48,
        0,
    )
    with Session(engine) as session:
        dataset = catalogue.get(session, "demo-no2")
    assert dataset.record_count == 48 and dataset.access == "open"
    assert dataset.schema_name == "air-quality-observation" and dataset.schema_version
    assert dataset.charter_id == "atmo-demo-open" and dataset.charter_version
    assert (run.schema_version, run.charter_version) == (
        dataset.schema_version,
        dataset.charter_version,
    )
    assert dataset.time_min.isoformat().startswith("2025-09-01T00:00")
    assert dataset.bbox == pytest.approx([3.88, 43.61, 3.88, 43.61])
    assert stored_count(engine) == 48


def test_publishing_the_same_rows_twice_adds_nothing(engine):
    publish(batch(observations(30)))
    again = publish(batch(observations(30)))
    assert (again.rows_published, again.rows_updated, again.rows_skipped) == (0, 0, 30)
    assert stored_count(engine) == 30


def test_a_corrected_value_updates_in_place(engine):
    publish(batch(observations(10)))
    corrected = publish(batch(observations(10, value="30")))
    assert (corrected.rows_published, corrected.rows_updated) == (0, 10)
    assert stored_count(engine) == 10


def test_invalid_rows_are_quarantined_with_their_reasons(engine):
    bad = {3: {"value": "high"}, 7: {"pollutant": "radon"}, 9: {"value": "-4"}}
    run = publish(batch(observations(20, bad=bad)))
    assert (run.status, run.rows_published, run.rows_quarantined) == ("partial", 17, 3)
    with Session(engine) as session:
        rows = catalogue.quarantined(session, "demo-no2")
    assert [r.row_number for r in rows] == [5, 9, 11]
    assert [r.errors[0]["type"] for r in rows] == [
        "type-error",
        "constraint-error",
        "constraint-error",
    ]
    assert rows[0].cells["value"] == "high" and rows[0].errors[0]["fieldName"] == "value"
    task = run.report["tasks"][0]
    assert run.report["valid"] is False and task["stats"]["errors"] == 3
    assert [e["rowNumber"] for e in task["errors"]] == [5, 9, 11]


def test_rows_that_failed_normalisation_are_quarantined_not_dropped(engine):
    problem = RowProblem(3, "observed_at", "timestamp without time zone")
    run = publish(batch(Chunk(observations(4), [problem])))
    assert (run.rows_published, run.rows_quarantined) == (3, 1)
    with Session(engine) as session:
        (row,) = catalogue.quarantined(session, "demo-no2")
    assert row.row_number == 3 and row.errors[0]["type"] == "normalisation-error"
    assert row.errors[0]["note"] == "timestamp without time zone"
    assert row.errors[0]["fieldName"] == "observed_at"


def test_duplicate_primary_keys_inside_a_batch_are_quarantined(engine):
    chunk = pl.concat([observations(5), observations(2, start_row=7)])
    run = publish(batch(chunk))
    assert (run.rows_published, run.rows_quarantined) == (5, 2)
    with Session(engine) as session:
        types = {r.errors[0]["type"] for r in catalogue.quarantined(session, "demo-no2")}
    assert types == {"primary-key"}


def assert_refused_and_nothing_stored(engine, refused_batch: Batch, reason: str) -> None:
    with pytest.raises(PublishRefused, match=reason) as caught:
        publish(refused_batch)
    with Session(engine) as session:
        run = session.get(HarvestRun, caught.value.run_id)
        assert run.status == "refused" and run.error
        assert session.exec(select(Dataset)).all() == []
        assert session.exec(select(QuarantinedRow)).all() == []
    with engine.connect() as connection:
        assert not [t for t in sa.inspect(connection).get_table_names() if t.startswith("rec_")]


def test_a_batch_without_a_charter_is_refused(engine):
    assert_refused_and_nothing_stored(engine, batch(observations(3), charter=None), "no charter")


def test_an_unknown_charter_is_refused_and_the_known_ones_listed(engine):
    assert_refused_and_nothing_stored(
        engine, batch(observations(3), charter="nope"), "atmo-demo-open"
    )


def test_another_producers_charter_is_refused(engine):
    intruder = Publisher("someone-else", "Someone else")
    assert_refused_and_nothing_stored(
        engine, batch(observations(3), publisher=intruder), "someone-else|atmo-demo"
    )


def test_a_charter_that_does_not_cover_the_theme_is_refused(engine):
    assert_refused_and_nothing_stored(
        engine, batch(observations(3), theme="energy", schema="energy-mix"), "energy"
    )


def test_an_unknown_schema_is_refused_and_the_known_ones_listed(engine):
    assert_refused_and_nothing_stored(
        engine, batch(observations(3), schema="nope"), "air-quality-observation"
    )


def test_rows_that_do_not_match_the_schema_are_refused(engine):
    wrong = observations(3).rename({"value": "valeur"})
    assert_refused_and_nothing_stored(engine, batch(wrong), "do not match")


def test_a_batch_that_breaks_midway_changes_nothing(engine):
    publish(batch(observations(10)))

    def chunks() -> Iterator[pl.DataFrame]:
        yield observations(10, value="99")  # would update all ten …
        raise OSError("connection reset while reading")  # … but the feed breaks

    broken = Batch(
        dataset_id="demo-no2",
        title="NO2",
        publisher=ATMO,
        theme="air-quality",
        schema="air-quality-observation",
        charter="atmo-demo-open",
        chunks=chunks(),
    )
    with pytest.raises(catalogue.PublishFailed, match="connection reset") as caught:
        publish(broken)
    assert isinstance(caught.value.__cause__, OSError) and caught.value.run_id
    with Session(engine) as session:
        runs = catalogue.runs_of(session, "demo-no2")
        dataset = catalogue.get(session, "demo-no2")
    assert runs[0].status == "failed" and "connection reset" in runs[0].error
    assert dataset.record_count == 10
    with Session(engine) as session:
        resource_table = catalogue.layout_of(session.exec(select(catalogue.Resource)).one()).table
    with engine.connect() as connection:
        values = connection.execute(sa.select(resource_table.c.value)).scalars().all()
    assert set(values) == {21.5}


def test_a_published_batch_is_announced_and_logged(engine):
    sub = get_bus().subscribe()
    run = publish(batch(observations(5)))
    event = sub.get(1.0)
    assert event["event"] == "dataset" and event["dataset"] == "demo-no2"
    assert event["published"] == 5 and event["run"] == run.id
    with Session(engine) as session:
        logged = session.exec(select(Event)).all()
    assert [(e.kind, e.payload["published"]) for e in logged] == [("dataset", 5)]


def test_search_finds_datasets_by_words_and_theme(engine):
    publish(batch(observations(3)))
    publish(batch(observations(3), dataset_id="demo-pm10"))
    with Session(engine) as session:
        assert search.find(session, search.Query("no2 demo")).total == 2
        assert search.find(session, search.Query("pm10")).ids == ["demo-pm10"]
        assert search.find(session, search.Query(filters={"theme": ["energy"]})).total == 0
        found = search.find(session, search.Query(filters={"theme": ["air-quality"]}, limit=1))
        assert found.total == 2 and len(found.ids) == 1
        with pytest.raises(catalogue.NotFound):
            catalogue.get(session, "missing")


def territory_charter(
    folder, *, version: str, valid_from: str, valid_until: str, name: str = "atmo-demo-open"
) -> None:
    """Write a territory's own version of the demo charter into `folder`."""
    folder.mkdir(exist_ok=True)
    (folder / f"{name}@{version}.yaml").write_text(
        f"""
id: {name}
version: "{version}"
title: Open air-quality data, version {version}
producer: atmo-demo
licence: {{id: etalab-2.0, label: Licence Ouverte 2.0, uri: https://www.etalab.gouv.fr/licence-ouverte-open-licence/}}
access: open
purposes: [public-information]
gdpr_sensitive: false
valid_from: "{valid_from}"
valid_until: "{valid_until}"
themes: [air-quality]
""",
        encoding="utf-8",
    )


@pytest.fixture
def territory_charters(tmp_path, monkeypatch):
    folder = tmp_path / "charters"
    folder.mkdir()
    monkeypatch.setenv("HUB_CHARTERS_PATH", str(folder))
    from hub.config import get_settings

    get_settings.cache_clear()
    return folder


def test_an_expired_charter_is_refused(engine, territory_charters):
    territory_charter(
        territory_charters, version="1.0", valid_from="2020-01-01", valid_until="2024-12-31"
    )
    assert_refused_and_nothing_stored(engine, batch(observations(3)), "(?i)expired")


def test_a_charter_not_yet_in_force_is_refused(engine, territory_charters):
    territory_charter(
        territory_charters, version="1.0", valid_from="2099-01-01", valid_until="2099-12-31"
    )
    assert_refused_and_nothing_stored(
        engine, batch(observations(3)), "(?i)not (yet )?(valid|in force)"
    )


def test_a_new_charter_version_applies_to_new_batches_and_shows_in_history(
    engine, territory_charters
):
    from datetime import date

    territory_charter(
        territory_charters, version="1.0", valid_from="2025-01-01", valid_until="2025-12-31"
    )
    territory_charter(
        territory_charters, version="2.0", valid_from="2026-01-01", valid_until="2027-12-31"
    )
    first = publish(batch(observations(5)), on=date(2025, 6, 1))
    second = publish(batch(observations(8)), on=date(2026, 6, 1))
    assert (first.charter_version, second.charter_version) == ("1.0", "2.0")
    with Session(engine) as session:
        history = catalogue.runs_of(session, "demo-no2")
        dataset = catalogue.get(session, "demo-no2")
    assert [r.charter_version for r in history] == ["2.0", "1.0"]
    assert dataset.charter_version == "2.0"


def test_an_empty_batch_is_recorded_and_stores_nothing(engine):
    empty = observations(0)
    run = publish(batch(empty))
    assert (run.status, run.rows_read, run.rows_published) == ("succeeded", 0, 0)
    run = publish(batch())  # no chunk at all: a feed that had nothing new
    assert (run.status, run.rows_read) == ("succeeded", 0)
    assert stored_count(engine) == 0


def test_a_new_version_opening_a_restricted_dataset_opens_it_at_its_next_harvest(
    engine, territory_charters
):
    """The producer's new version decides how its dataset is shared, for earlier rows too;
    until it is harvested, reads need both versions (tests/test_access.py)."""
    (territory_charters / "atmo-demo-open@1.0.yaml").write_text(
        """
id: atmo-demo-open
version: "1.0"
title: Air-quality data restricted to the metropole's agencies
producer: atmo-demo
licence: {id: custom, label: Agreement, uri: https://example.org/agreement}
access: restricted
restricted_to: [metropole-civil-protection]
purposes: [crisis-management]
gdpr_sensitive: false
valid_from: "2025-01-01"
valid_until: "2030-12-31"
themes: [air-quality]
""",
        encoding="utf-8",
    )
    publish(batch(observations(5)))  # restricted
    (territory_charters / "atmo-demo-open@2.0.yaml").write_text(
        (territory_charters / "atmo-demo-open@1.0.yaml")
        .read_text(encoding="utf-8")
        .replace('version: "1.0"', 'version: "2.0"')
        .replace('valid_from: "2025-01-01"', 'valid_from: "2026-01-01"')
        .replace("access: restricted\nrestricted_to: [metropole-civil-protection]", "access: open"),
        encoding="utf-8",
    )
    publish(batch(observations(6)))
    with Session(engine) as session:
        moved = catalogue.get(session, "demo-no2")
        assert (moved.access, moved.charter_version) == ("open", "2.0")
    assert stored_count(engine) == 6


def test_personal_rows_are_refused_under_a_charter_that_is_not_personal(engine, territory_charters):
    (territory_charters / "grid-demo-open.yaml").write_text(
        """
id: grid-demo-open
version: "1.0"
title: Grid data shared openly
producer: grid-demo
licence: {id: etalab-2.0, label: Licence Ouverte 2.0, uri: https://www.etalab.gouv.fr/licence-ouverte-open-licence/}
access: open
purposes: [public-information]
gdpr_sensitive: false
valid_from: "2025-01-01"
valid_until: "2030-12-31"
themes: [energy]
""",
        encoding="utf-8",
    )
    household = Publisher("grid-demo", "Grid demo")
    with pytest.raises(PublishRefused, match="holds personal data"):
        publish(
            batch(
                theme="energy",
                schema="energy-consumption",
                charter="grid-demo-open",
                publisher=household,
                dataset_id="load-curves",
            )
        )
    run = publish(
        batch(
            theme="energy",
            schema="energy-consumption",
            charter="grid-demo-load-curves",
            publisher=household,
            dataset_id="load-curves",
        )
    )
    assert run.status == "succeeded"


def test_a_long_error_list_is_cut_in_the_report_but_counted_whole(engine, monkeypatch):
    monkeypatch.setattr(catalogue, "REPORT_ERROR_CAP", 2)
    run = publish(batch(observations(12, bad={i: {"value": "x"} for i in range(5)})))
    task = run.report["tasks"][0]
    assert run.report["valid"] is False and task["stats"]["errors"] == 5
    assert len(task["errors"]) == 2 and "5 errors" in task["warnings"][0]
    assert task["stats"]["rows"] == 12 and task["name"] == "demo-no2"


# --- schema versions ------------------------------------------------------------------------


@pytest.fixture
def older_schema(tmp_path, monkeypatch):
    """Shadow the bundled observation schema with an older version of it, without
    `station_name`; returns a function that puts back (or rewrites) the bundled one."""
    import json
    from pathlib import Path

    from hub.config import get_settings

    bundled = (
        Path(__file__).resolve().parents[1] / "schemas" / "air-quality-observation.schema.json"
    )
    descriptor = json.loads(bundled.read_text(encoding="utf-8"))
    folder = tmp_path / "territory-schemas"
    folder.mkdir()
    shadow = folder / bundled.name

    def write(change=None) -> None:
        version = json.loads(json.dumps(descriptor))
        if change:
            change(version)
        shadow.write_text(json.dumps(version), encoding="utf-8")

    def older(d: dict) -> None:
        d.update(version="1.0.0", fields=[f for f in d["fields"] if f["name"] != "station_name"])

    write(older)
    monkeypatch.setenv("HUB_SCHEMAS_PATH", str(folder))
    get_settings.cache_clear()
    return write


def test_a_minor_schema_version_adds_its_fields_to_the_stored_rows(engine, older_schema):
    old_rows = observations(3).drop("station_name")
    assert publish(batch(old_rows)).status == "succeeded"
    older_schema()  # the bundled 1.0.1, which adds the optional station_name
    run = publish(batch(observations(5)))
    assert (run.status, run.rows_published, run.rows_updated) == ("succeeded", 2, 3)
    with Session(engine) as session:
        dataset = session.get(Dataset, "demo-no2")
        assert dataset is not None and dataset.schema_version == "1.0.1"
    with engine.connect() as connection:
        layout = catalogue.layout_of_dataset(connection, "demo-no2")
        rows = connection.execute(sa.select(layout.table).order_by(layout.table.c["_id"])).all()
    assert [row.station_name for row in rows] == ["Comédie"] * 5  # the old rows updated too
    assert len(rows) == 5


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda d: d["fields"][3].update(type="integer", example="12"),
         "the stored field 'value' is now 'integer'"),
        (lambda d: d["fields"].pop(9), "the stored field 'quality_flag' is gone"),
        (lambda d: d.update(primaryKey=["station_id", "observed_at"]), "the primary key changed"),
        (lambda d: d["fields"][1].setdefault("constraints", {}).update(required=True),
         "the new field 'station_name' is required"),
    ],
)  # fmt: skip
def test_other_schema_changes_are_refused_and_change_nothing(engine, older_schema, change, why):
    assert publish(batch(observations(3).drop("station_name"))).status == "succeeded"
    older_schema(change)
    with pytest.raises(PublishRefused, match=why):
        publish(batch(observations(4)))
    with Session(engine) as session:
        dataset = session.get(Dataset, "demo-no2")
        assert dataset is not None and dataset.schema_version == "1.0.0"
    assert stored_count(engine) == 3


def _narrowed(version: str, field: int, **constraints) -> Callable[[dict], None]:
    """A change to the schema: `version`, and constraints set on its field number `field`."""

    def change(d: dict) -> None:
        d["version"] = version
        d["fields"][field].setdefault("constraints", {}).update(constraints)

    return change


def _without_nh3(d: dict) -> None:
    d["version"] = "1.1.0"
    pollutant = d["fields"][2]
    pollutant["constraints"]["enum"].remove("nh3")
    pollutant["categories"] = [c for c in pollutant["categories"] if c["value"] != "nh3"]


def _with_doubtful(d: dict) -> None:
    d["version"] = "1.1.0"
    flag = d["fields"][9]
    flag["constraints"]["enum"].append("doubtful")
    flag["categories"].append({"value": "doubtful", "label": "doubtful value"})


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda d: d.update(version="2.0.0"), "2.0.0 is a MAJOR version after 1.0.0"),
        (lambda d: d.update(version="0.9.0"), "0.9.0 is older than 1.0.0"),
        (_narrowed("1.1.0", 3, maximum=1000), r"field 'value' \(maximum 1000 \(was none\)\)"),
        (_narrowed("1.0.2", 3, minimum=1), r"narrows field 'value' \(minimum 1 \(was 0\)\)"),
        (_narrowed("1.1.0", 8, maximum=43.6), "narrows field 'latitude'.*mislabelled as 1.1.0"),
        (_narrowed("1.1.0", 9, required=True), "'quality_flag' \\(is now required\\)"),
        (_without_nh3, "enum drops 'nh3'"),
        (_narrowed("1.1.0", 0, pattern="XX-.*"),
         "changes the pattern of field 'station_id' to 'XX-.\\*', which stored values do not "
         "match \\('FR-DEMO-01'\\)"),
    ],
)  # fmt: skip
def test_a_major_an_older_or_a_narrowing_version_is_refused_for_stored_rows(
    engine, older_schema, change, why
):
    """The stored rows were checked against 1.0.0 only: a version they may not satisfy is
    refused before any row is read, so no row is both published and quarantined under it."""
    assert publish(batch(observations(3).drop("station_name"))).status == "succeeded"
    older_schema(change)
    with pytest.raises(
        PublishRefused, match=f"stays on schema air-quality-observation 1.0.0: .*{why}"
    ):
        publish(batch(observations(4)))
    with Session(engine) as session:
        dataset = session.get(Dataset, "demo-no2")
        assert dataset is not None and dataset.schema_version == "1.0.0"
        assert catalogue.resource_of(session, "demo-no2").schema_descriptor["version"] == "1.0.0"
        assert session.exec(select(QuarantinedRow)).all() == []
    assert stored_count(engine) == 3


@pytest.mark.parametrize(
    "change",
    [
        _narrowed("1.1.0", 3, minimum=-10),  # widened
        _narrowed("1.1.0", 0, pattern="[A-Z]{2}-.*"),  # a new pattern every stored value meets
        _with_doubtful,  # an enum value more
    ],
)  # fmt: skip
def test_a_widening_version_or_a_pattern_the_stored_rows_meet_is_taken(
    engine, older_schema, change
):
    rows = observations(3).drop("station_name")
    assert publish(batch(rows)).status == "succeeded"
    with Session(engine) as session:
        first = catalogue.resource_of(session, "demo-no2").modified_at

    def only(d: dict) -> None:  # the change alone: without the field 1.0.1 adds
        change(d)
        d["fields"] = [f for f in d["fields"] if f["name"] != "station_name"]

    older_schema(only)
    run = publish(batch(rows))
    assert (run.status, run.rows_skipped) == ("succeeded", 3)
    with Session(engine) as session:
        dataset = session.get(Dataset, "demo-no2")
        assert dataset is not None and dataset.schema_version == "1.1.0"
        # no row changed, yet the distribution's schema did: DCAT's dct:modified moves
        assert catalogue.resource_of(session, "demo-no2").modified_at > first


def test_a_first_load_builds_the_key_index_and_the_later_row_of_one_instant_wins(engine):
    """An empty table is loaded with plain inserts and gets its key index afterwards; a naive
    and an aware stamp of one instant are two keys to the validator but one to the table."""
    later = observations(1, start_row=4, bad={0: {"observed_at": "2025-09-01T00:00:00"}})
    run = publish(batch(observations(2), later.with_columns(value=pl.lit("30"))))
    assert run.status == "succeeded", run.error
    assert (run.rows_read, run.rows_published, run.rows_updated) == (3, 2, 1)
    with engine.connect() as connection:
        layout = catalogue.layout_of_dataset(connection, "demo-no2")
        values = connection.execute(
            sa.select(layout.table.c.observed_at, layout.table.c.value).order_by("observed_at")
        ).all()
        indexes = {
            index["name"]: index["unique"]
            for index in sa.inspect(connection).get_indexes(layout.table.name)
        }
    assert [value for _, value in values] == [30.0, 21.5]  # the later row of the instant
    assert indexes[f"{layout.table.name}_key"] in (1, True)
    assert {f"{layout.table.name}_time", f"{layout.table.name}_lonlat"} <= set(indexes)
    again = publish(batch(observations(4)))  # upserts on the index the load built
    assert (again.rows_published, again.rows_updated, again.rows_skipped) == (2, 1, 1)


def test_a_first_load_sorts_its_indexes_in_helper_threads_then_restores_the_connection(engine):
    """SQLite builds a loaded table's indexes with helper threads sorting runs of
    SORT_RUN_KIB; the connection goes back to one thread and its own cache afterwards."""
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's own sorter (PostgreSQL sorts with maintenance_work_mem)")
    seen: dict[str, tuple[int, int]] = {}  # each index as last created (the table's are
    # created with it, dropped for the load, built again once loaded)

    def note(connection, cursor, statement, parameters, context, many):
        if statement.lstrip().upper().startswith("CREATE") and " INDEX " in statement.upper():
            pragmas = connection.connection.driver_connection
            threads = pragmas.execute("PRAGMA threads").fetchone()[0]
            cache = pragmas.execute("PRAGMA cache_size").fetchone()[0]
            seen[statement.split(" ON ")[0].split()[-1]] = (threads, cache)

    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        run = publish(batch(observations(3)))
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)
    assert run.status == "succeeded", run.error
    built = {name: pragmas for name, pragmas in seen.items() if name.startswith("rec_")}
    assert {name.rsplit("_", 1)[1] for name in built} == {"key", "time", "lonlat"}
    with engine.connect() as connection:
        after = connection.connection.driver_connection
        assert after.execute("PRAGMA threads").fetchone()[0] == 0
        assert after.execute("PRAGMA cache_size").fetchone()[0] == -records.SQLITE_CACHE_KIB
    for name, pragmas in built.items():
        assert pragmas == (records.SORT_THREADS, -records.SORT_RUN_KIB), name


def test_rows_a_reader_left_out_are_counted_in_the_runs_report(engine):
    rows = observations(3)
    chunks = [
        Chunk(rows.head(2), left_out={"no air pollutant: temperature": 3}),
        Chunk(rows.tail(1), left_out={"no air pollutant: temperature": 2}),
    ]
    run = publish(batch(*chunks))
    assert run.status == "succeeded" and run.rows_read == 3
    assert run.report["tasks"][0]["warnings"] == [
        "5 rows of the feed left out by its reader, as documented: "
        "no air pollutant: temperature (5)"
    ]


# --- foreign keys into the dataset's own rows -----------------------------------------------


@pytest.fixture
def referencing_schema(tmp_path, monkeypatch):
    """The observation schema with an optional `reference_station`, a foreign key into the
    table's own `station_id` (a station compared with another one of the same dataset)."""
    import json
    from pathlib import Path

    from hub.config import get_settings

    bundled = (
        Path(__file__).resolve().parents[1] / "schemas" / "air-quality-observation.schema.json"
    )
    descriptor = json.loads(bundled.read_text(encoding="utf-8"))
    descriptor["fields"].append(
        {
            "name": "reference_station",
            "type": "string",
            "title": "Reference station",
            "description": "A station of the same dataset this one is compared with.",
            "example": "FR-DEMO-01",
        }
    )
    descriptor["foreignKeys"] = [
        {"fields": "reference_station", "reference": {"resource": "", "fields": "station_id"}}
    ]
    folder = tmp_path / "territory-schemas"
    folder.mkdir()
    (folder / bundled.name).write_text(json.dumps(descriptor), encoding="utf-8")
    monkeypatch.setenv("HUB_SCHEMAS_PATH", str(folder))
    get_settings.cache_clear()


def referencing(n: int, station: str, reference: str, start: int = 0) -> pl.DataFrame:
    rows = observations(n, bad={i: {"station_id": station} for i in range(n)})
    rows = rows.with_columns(
        pl.col("observed_at").str.replace("2025-09-01", f"2025-09-{10 + start:02d}"),
        reference_station=pl.lit(reference),
    )
    return rows.select(*FIELDS, "reference_station", "_row")


def test_a_foreign_key_into_the_dataset_is_checked_in_the_batch_and_the_stored_rows(
    engine, referencing_schema
):
    first = pl.concat(
        [
            referencing(1, "FR-DEMO-02", "FR-DEMO-01"),  # refers to a later row of the batch
            referencing(1, "FR-DEMO-01", ""),
            referencing(1, "FR-DEMO-03", "FR-NOWHERE"),
        ]
    ).with_columns(pl.Series("_row", [2, 3, 4], dtype=pl.Int64))
    run = publish(batch(first))
    assert (run.rows_published, run.rows_quarantined) == (2, 1)
    with Session(engine) as session:
        (held,) = session.exec(select(QuarantinedRow)).all()
    assert held.row_number == 4 and [e["type"] for e in held.errors] == ["foreign-key"]
    assert 'values "FR-NOWHERE" not found' in held.errors[0]["note"]

    later = referencing(1, "FR-DEMO-04", "FR-DEMO-02", start=1)  # a stored row's station
    run = publish(batch(later))
    assert (run.rows_published, run.rows_quarantined) == (1, 0)
    assert stored_count(engine) == 3


def test_a_foreign_key_into_another_resource_is_refused_when_the_schema_loads(tmp_path):
    import json

    from hub import schemas

    bundled = schemas.find_schema("air-quality-observation")
    descriptor = json.loads(bundled.read_text(encoding="utf-8"))
    descriptor["foreignKeys"] = [
        {"fields": "station_id", "reference": {"resource": "air-quality-station", "fields": "id"}}
    ]
    path = tmp_path / bundled.name
    path.write_text(json.dumps(descriptor, indent=1), encoding="utf-8")
    with pytest.raises(schemas.SchemaFileError, match="'air-quality-station' cannot be checked"):
        schemas.load_schema(path)
