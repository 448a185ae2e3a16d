"""pipelines.sources: harvest source files, checked with file and line, found across folders."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from hub import charters, schemas
from hub.config import get_settings
from pipelines.readers import kind_of, known_formats
from pipelines.serve import scheduled_sources
from pipelines.sources import (
    Auth,
    Operator,
    SourceError,
    find_sources,
    load_source,
    resolve_source,
    survey_sources,
)

GOOD = """\
id: demo-test-no2
title: NO2 test feed
operator: {id: atmo-demo, name: Atmo Demo, kind: public}
theme: air-quality
format: csv
url: file:feed.csv
schema: air-quality-observation
charter: atmo-demo-open
schedule: "*/15 * * * *"
options:
  delimiter: ";"
  columns: {station_id: code}
description: >
  A feed for tests.
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def use_territory(monkeypatch: pytest.MonkeyPatch, *folders: Path) -> None:
    monkeypatch.setenv("HUB_SOURCES_PATH", ":".join(str(f) for f in folders))
    get_settings.cache_clear()


def test_load_source_reads_every_key(tmp_path: Path) -> None:
    source = load_source(write(tmp_path, "s.yaml", GOOD))
    assert source.id == "demo-test-no2"
    assert source.operator == Operator(id="atmo-demo", name="Atmo Demo", kind="public")
    assert (source.theme, source.format, source.schema) == ("air-quality", "csv", source.schema)
    assert source.schedule == "*/15 * * * *"
    assert source.options == {"delimiter": ";", "columns": {"station_id": "code"}}
    assert source.enabled is True
    assert source.description == "A feed for tests."
    assert source.path == (tmp_path / "s.yaml").resolve()
    assert source.base_dir == tmp_path.resolve()


@pytest.mark.parametrize(
    ("change", "message", "line"),
    [
        (("title: NO2 test feed\n", ""), "missing required key 'title'", 1),
        (("theme: air-quality\n", "theme: air-quality\ncolour: red\n"), "unknown key 'colour'", 5),
        (
            ("format: csv", "format: shapefile"),
            "unknown format 'shapefile'.*known readers: .*\\bcsv\\b",
            5,
        ),
        (("kind: public", "kind: secret"), "operator kind 'secret' must be public or private", 3),
        (("kind: public", "kind: public, phone: x"), "unknown key 'phone' in operator", 3),
        (
            ("kind: public", "kind: public, email: x"),
            "operator email 'x' is not an e-mail address",
            3,
        ),
        (("theme: air-quality", "theme: weather"), "theme 'weather' is not one of", 4),
        (("id: demo-test-no2", "id: Demo Test"), "id 'Demo Test' must be lower-case", 1),
        (('"*/15 * * * *"', "every hour"), "must be a cron expression", 9),
        (('"*/15 * * * *"', '"61 25 * * *"'), "not a cron expression Prefect can run", 9),
        (('"*/15 * * * *"', '"0 0 30 13 *"'), "month 1-12", 9),
    ],
)
def test_broken_source_files_say_what_and_where(
    tmp_path: Path, change: tuple[str, str], message: str, line: int
) -> None:
    path = write(tmp_path, "s.yaml", GOOD.replace(*change))
    with pytest.raises(SourceError, match=message) as caught:
        load_source(path)
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert caught.value.line == line


@pytest.mark.parametrize(
    ("change", "message", "line"),
    [
        (
            ("schema: air-quality-observation", "schema: air-quality-observaton"),
            "unknown schema 'air-quality-observaton'; known schemas: .*air-quality-observation",
            7,
        ),
        (
            ("charter: atmo-demo-open", "charter: atmo-demo-opne"),
            "unknown charter 'atmo-demo-opne'; known charters: .*atmo-demo-open",
            8,
        ),
        (
            ("  delimiter:", "  delimter:"),
            "unknown option\\(s\\) delimter \\(known for csv: .*delimiter",
            11,
        ),
    ],
)
def test_what_a_harvest_would_refuse_is_refused_by_a_strict_load(
    tmp_path: Path, change: tuple[str, str], message: str, line: int
) -> None:
    """Listing and scheduling load strictly; a harvest of the file records the refusal in its
    run history instead, so a plain load lets it through."""
    path = write(tmp_path, "s.yaml", GOOD.replace(*change))
    with pytest.raises(SourceError, match=message) as caught:
        load_source(path, strict=True)
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert load_source(path).path == path.resolve()


# Expressions on both sides of Prefect's rule: steps, names, L and #, seconds, random and hashed.
CRONS = [
    "*/15 * * * *", "61 25 * * *", "0 0 * * 7", "0 0 * * 8", "0 0 31 2 *", "0 0 * * MON-FRI",
    "0 0 0 * *", "* * * * * *", "* * * * * 61", "0 0 L * *", "0 0 * * 5#3", "0 0 * * 5L",
    "0 0 * 13 *", "*/0 * * * *", "0 0 ? * *", "R * * * *", "h 0 * * *", "0 0 1 1 * 2027",
]  # fmt: skip


@pytest.mark.parametrize("cron", CRONS)
def test_a_schedule_is_refused_exactly_when_prefect_refuses_it(tmp_path: Path, cron: str) -> None:
    from prefect._internal.schemas.validators import validate_cron_string

    try:
        validate_cron_string(cron)
        prefect_runs_it = True
    except ValueError:
        prefect_runs_it = False
    path = write(tmp_path, "s.yaml", GOOD.replace('"*/15 * * * *"', f'"{cron}"'))
    try:
        load_source(path)
        loaded = True
    except SourceError as error:
        assert "schedule" in str(error)
        loaded = False
    assert loaded == prefect_runs_it


def test_reading_source_files_leaves_prefect_unimported() -> None:
    """The API process surveys sources for its dashboard; Prefect's imports cost it 0.8 s.
    Their schema and charter names are checked by file name, without parsing charters."""
    code = (
        "import sys; from pipelines.sources import survey_sources; "
        "survey = survey_sources(); assert any(s.schedule for s in survey.sources); "
        "print('prefect' in sys.modules, 'hub.charters' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_each_formats_options_are_those_its_reader_declares() -> None:
    """Source files are checked against the table, harvests against the readers: they agree."""
    import importlib

    from pipelines.readers import MODULES, OPTIONS

    assert set(OPTIONS) == set(MODULES)
    for name, (module, _) in MODULES.items():
        reader = importlib.import_module(f"pipelines.readers.{module}").READER
        assert sorted(OPTIONS[name]) == sorted(reader.options), name


def test_a_source_naming_what_its_harvest_would_refuse_is_listed_as_a_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unknown schema, unknown charter, misspelt option: left out and never scheduled, with the
    reason the harvest gives, at the line at fault."""
    write(tmp_path, "good.yaml", GOOD)
    faults = {
        "schema": ("schema: air-quality-observation", "schema: no-such-schema"),
        "charter": ("charter: atmo-demo-open", "charter: no-such-charter"),
        "option": ("  delimiter:", "  delimter:"),
    }
    for name, change in faults.items():
        text = GOOD.replace("demo-test-no2", f"bad-{name}").replace(*change)
        write(tmp_path, f"bad-{name}.yaml", text)
    use_territory(monkeypatch, tmp_path)
    survey = survey_sources()
    problems = {Path(str(p.path)).name: str(p) for p in survey.problems}
    assert set(problems) == {"bad-schema.yaml", "bad-charter.yaml", "bad-option.yaml"}
    assert ":7: unknown schema 'no-such-schema'" in problems["bad-schema.yaml"]
    assert ":8: unknown charter 'no-such-charter'" in problems["bad-charter.yaml"]
    assert ":11: unknown option(s) delimter" in problems["bad-option.yaml"]
    ids = {s.id for s in survey.sources}
    assert "demo-test-no2" in ids and not ids & {f"bad-{name}" for name in faults}
    scheduled = {s.id for s in scheduled_sources()}
    assert "demo-test-no2" in scheduled and not scheduled & {f"bad-{name}" for name in faults}


def test_invalid_yaml_reports_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "s.yaml", GOOD.replace("theme: air-quality", "theme: [air-quality"))
    with pytest.raises(SourceError, match="not valid YAML") as caught:
        load_source(path)
    assert caught.value.path == path and caught.value.line is not None and caught.value.line > 3


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "s.yaml", GOOD + "url: file:other.csv\n")
    with pytest.raises(SourceError, match="duplicate key 'url' \\(first on line 6\\)") as caught:
        load_source(path)
    assert caught.value.line == 15


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="must be a YAML mapping"):
        load_source(write(tmp_path, "s.yaml", "- just\n- a list\n"))


def test_wrong_types_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="enabled must be a bool, got 'sometimes'"):
        load_source(write(tmp_path, "a.yaml", GOOD + "enabled: sometimes\n"))
    with pytest.raises(SourceError, match="options must be a mapping"):
        bad = GOOD.replace(
            'options:\n  delimiter: ";"\n  columns: {station_id: code}', "options: [a]"
        )
        load_source(write(tmp_path, "b.yaml", bad))


def test_bundled_sources_are_found_and_well_formed() -> None:
    found = {s.id: s for s in find_sources()}
    expected = {
        "demo-atmo-montpellier-no2", "demo-atmo-montpellier-pm",
        "demo-atmo-montpellier-stations", "openaq-toronto-pm25", "openaq-toronto-pm25-live",
        "sensor-community-aberdeen", "sensor-community-aberdeen-live",
    }  # fmt: skip
    assert expected <= set(found)
    assert all(s.format in known_formats() for s in found.values())
    assert not found["openaq-toronto-pm25-live"].enabled
    assert not found["sensor-community-aberdeen-live"].enabled
    assert found["openaq-toronto-pm25"].url.startswith("file://{samples}/")
    demo = [s for s in found.values() if s.id.startswith("demo-")]
    assert {(s.operator.id, s.charter, s.theme) for s in demo} == {
        ("atmo-demo", "atmo-demo-open", "air-quality"),
        ("grid-demo", "grid-demo-load-curves", "energy"),
        ("telecom-demo", "telecom-outages-crisis", "risk"),
    }


def test_bundled_sources_name_schemas_and_charters_that_let_them_publish() -> None:
    for source in find_sources():
        # grids and portal listings have no table schema; record formats must name one
        schema = schemas.load_schema(source.schema).name if source.schema else None
        assert (schema is None) == (kind_of(source.format) != "records"), source.id
        charter = charters.load_charter(source.charter, on=date(2027, 6, 1))
        charters.check_publication(
            charter,
            producer=source.operator.id,
            theme=source.theme,
            schema=schema,
            on=date(2027, 6, 1),
        )


def test_a_territory_file_shadows_the_bundled_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundled = resolve_source("openaq-toronto-pm25")
    territory = tmp_path / "territory"
    text = bundled.path.read_text(encoding="utf-8")  # type: ignore[union-attr]
    write(territory, "mine.yaml", text.replace("title: PM2.5, Toronto (OpenAQ)", "title: Ours"))
    use_territory(monkeypatch, territory)
    found = [s for s in find_sources() if s.id == "openaq-toronto-pm25"]
    assert len(found) == 1 and found[0].title == "Ours"
    assert resolve_source("openaq-toronto-pm25").path == (territory / "mine.yaml").resolve()


def test_two_files_with_one_id_in_a_folder_are_both_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Neither file is meant more than the other, and the id is not taken from a later folder:
    the territory meant to replace the bundled source, not to harvest it."""
    bundled = resolve_source("openaq-toronto-pm25").path.read_text(encoding="utf-8")  # type: ignore[union-attr]
    write(tmp_path, "a.yaml", bundled)
    write(tmp_path, "b.yml", bundled.replace("title: PM2.5", "title: Ours"))
    use_territory(monkeypatch, tmp_path)
    survey = survey_sources()
    assert "openaq-toronto-pm25" not in {s.id for s in survey.sources}
    assert len(survey.problems) == 2
    assert all("id 'openaq-toronto-pm25' is also used by" in str(p) for p in survey.problems)
    assert {p.path.name for p in survey.problems if p.path} == {"a.yaml", "b.yml"}


def test_a_broken_source_file_is_named_and_never_stops_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = write(tmp_path, "good.yaml", GOOD)
    write(
        tmp_path,
        "typo.yaml",
        GOOD.replace("id: demo-test-no2", "id: typo").replace("format: csv", "format: cvs"),
    )
    write(tmp_path, "torn.yaml", "id: [unclosed\n")
    use_territory(monkeypatch, tmp_path)
    survey = survey_sources()
    assert sorted(p.path.name for p in survey.problems if p.path) == ["torn.yaml", "typo.yaml"]
    assert any("unknown format 'cvs'" in str(p) for p in survey.problems)
    ids = {s.id for s in find_sources()}
    assert {"demo-test-no2", "openaq-toronto-pm25"} <= ids and "typo" not in ids
    assert resolve_source("demo-test-no2").path == good.resolve()
    assert resolve_source("openaq-toronto-pm25").id == "openaq-toronto-pm25"
    with pytest.raises(SourceError, match="no source with id 'typo'.*unreadable: .*typo.yaml"):
        resolve_source("typo")
    assert "demo-test-no2" in {s.id for s in scheduled_sources()}  # hub serve schedules it


def test_resolve_source_by_path_and_by_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "s.yaml", GOOD)
    assert resolve_source(str(path)).id == "demo-test-no2"
    assert resolve_source(path).id == "demo-test-no2"
    with pytest.raises(SourceError, match="no source with id 'demo-test-no2'.*openaq-toronto"):
        resolve_source("demo-test-no2")
    use_territory(monkeypatch, tmp_path)
    assert resolve_source("demo-test-no2").path == path.resolve()
    with pytest.raises(SourceError, match="no such source file"):
        resolve_source(str(tmp_path / "missing.yaml"))


PRIVATE = GOOD.replace("url: file:feed.csv", "url: https://api.example.org/no2.csv")


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        (
            "auth: {header: X-API-Key, secret: env:ATMO_KEY}\n",
            Auth("header", "env:ATMO_KEY", "X-API-Key"),
        ),
        (
            "auth:\n  basic: harvester\n  secret: prefect:atmo-password\n",
            Auth("basic", "prefect:atmo-password", "harvester"),
        ),
        ("auth: {bearer: env:ATMO_TOKEN}\n", Auth("bearer", "env:ATMO_TOKEN")),
    ],
)
def test_auth_names_its_secret(tmp_path: Path, auth: str, expected: Auth) -> None:
    assert load_source(write(tmp_path, "s.yaml", PRIVATE + auth)).auth == expected
    assert load_source(write(tmp_path, "open.yaml", PRIVATE)).auth is None


@pytest.mark.parametrize(
    ("auth", "message", "line"),
    [
        (
            "auth: {header: X-API-Key, secret: SEKRET-4f1c}",
            "auth.secret must name a secret as "
            "env:VAR or prefect:BLOCK; a secret written in a source file is refused",
            15,
        ),
        ("auth:\n  basic: harvester\n  secret: 'env:SEKRET PASSWORD'", "auth.secret must name", 17),
        ("auth: {bearer: SEKRET-token}", "auth.bearer must name a secret", 15),
        ("auth: {bearer: 12345}", "auth.bearer must name a secret", 15),
        (
            "auth: {token: env:X, secret: SEKRET}",
            "unknown auth form with keys secret, token "
            r"\(use \{header: NAME, secret: env:VAR\} or \{basic: USER",
            15,
        ),
        ("auth: {header: X-Key, bearer: env:X, secret: env:Y}", "unknown auth form", 15),
        ("auth: SEKRET", "auth must be a mapping", 15),
        ("auth: {header: 'X Key', secret: env:X}", "auth.header must be a header name", 15),
        ("auth: {basic: '', secret: env:X}", "auth.basic must be a user name", 15),
    ],
)
def test_literal_secrets_and_unknown_auth_forms_are_refused_unrepeated(
    tmp_path: Path, auth: str, message: str, line: int
) -> None:
    path = write(tmp_path, "s.yaml", PRIVATE + auth + "\n")
    with pytest.raises(SourceError, match=message) as caught:
        load_source(path)
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert "SEKRET" not in str(caught.value)


def test_auth_is_for_http_sources_only(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="auth applies to http\\(s\\) urls only"):
        load_source(write(tmp_path, "s.yaml", GOOD + "auth: {bearer: env:ATMO_TOKEN}\n"))
