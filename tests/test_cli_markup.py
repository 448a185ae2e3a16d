"""Text from users and operators is printed by `hub` as it is: a `[/]` or `[bold]` in a token's,
a crisis's or a service's name, or in a feed's header, is never read as Rich markup (it would
end the command, every row of a listing with it, in a MarkupError)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from crisisdata import AREA_A, CELL_A
from sqlmodel import Session
from typer.testing import CliRunner

from hub.cli import app
from hub.config import get_settings
from hub.selfdata import services

runner = CliRunner()
MARKED = "[/] [b]x"  # short: a listing wraps long names


def ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    assert "MarkupError" not in result.output and "Traceback" not in result.output
    return result.output


def test_marked_up_names_are_listed_as_they_are(engine, tmp_path):
    ok("token", "create", "--role", "admin", "--name", MARKED)
    assert MARKED in ok("token", "list")

    made = ok("service", "register", "--name", f"Coach {MARKED}", "--url", "https://c.example")
    assert f"Coach {MARKED}" in made and "registered" in made
    with Session(engine) as session:
        assert len(services.listing(session)) == 1  # stored once, and said so
    assert f"Coach {MARKED}" in ok("service", "list")

    area = tmp_path / "area.geojson"
    area.write_text(json.dumps(AREA_A), encoding="utf-8")
    start = datetime.now(UTC)
    declared = ok(
        "crisis", "declare", "--name", MARKED, "--area", str(area),
        "--from", start.isoformat(), "--until", (start + timedelta(days=2)).isoformat(),
        "--cells", CELL_A,
    )  # fmt: skip
    assert MARKED in declared
    assert MARKED in ok("crisis", "list")


def test_a_feed_header_with_markup_is_quoted_as_it_is(engine, tmp_path, monkeypatch):
    feed = tmp_path / "obs.csv"
    feed.write_text("code;nom;val[/]eur\nS1;Centre;12\n", encoding="utf-8")
    (tmp_path / "marked.yaml").write_text(
        "id: marked\ntitle: Marked\noperator: {id: atmo-demo, name: Atmo Demo, kind: public}\n"
        f"theme: air-quality\nformat: csv\nurl: file://{feed}\n"
        "schema: air-quality-observation\ncharter: atmo-demo-open\n"
        'options: {delimiter: ";", columns: {station_id: code, value: valeur}}\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("HUB_SOURCES_PATH", str(tmp_path))
    monkeypatch.setenv("HUB_FILE_ROOTS", str(tmp_path))
    get_settings.cache_clear()
    result = runner.invoke(app, ["harvest", "marked"])
    assert result.exit_code == 1, result.output
    assert "Harvest summary" in result.output and "MarkupError" not in result.output
    assert "val[/]eur" in result.output  # the file's columns, named in the error
