"""Alerts of exercises: simulated data raises Exercise alerts (never Actual ones), the crisis
authority cancels a hub alert sent in error with a CAP Cancel, and each Atom entry says its CAP
status."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta

import pytest
from api.support import bearer, client_for
from sqlalchemy import Engine
from sqlmodel import Session
from test_alert_rules import DAY, Clock, clock, days, derived_rows, hourly, publish_air
from typer.testing import CliRunner

from hub import charters
from hub.alerts import cancellation, current
from hub.alerts.atom import ATOM, STATUS_SCHEME, atom_index
from hub.config import PROJECT_ROOT, get_settings
from hub.reading import Caller

__all__ = ["clock"]  # the fixture, used by name


@pytest.fixture
def simulated(tmp_path, monkeypatch) -> None:
    """The bundled charters, the demo air observatory's saying its data is an exercise's."""
    folder = tmp_path / "charters"
    shutil.copytree(PROJECT_ROOT / "charters", folder)
    charter = folder / "atmo-demo-open.yaml"
    charter.write_text(charter.read_text() + "data_status: exercise\n")
    monkeypatch.setenv("HUB_CHARTERS_PATH", str(folder))
    monkeypatch.setattr(charters, "STAMP_SECONDS", 0.0)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def atom_statuses(engine: Engine, status: str, now: datetime) -> list[list[str]]:
    """The status categories of each entry of the Atom index at `now` (`status`: or all)."""
    with Session(engine) as session:
        alerts = current.current_alerts(session, Caller(), now, None if status == "all" else status)
    body = atom_index(alerts, "http://hub.test/", now)
    return [
        [
            c.get("term", "")
            for c in entry.iter(f"{{{ATOM}}}category")
            if c.get("scheme") == STATUS_SCHEME
        ]
        for entry in ET.fromstring(body).iter(f"{{{ATOM}}}entry")
    ]


def test_exercise_data_raises_exercise_alerts_never_actual(engine, clock: Clock, simulated):
    publish_air(engine, hourly("FR001", "pm10", days(30, 70)))
    (alert,) = derived_rows(engine)
    assert alert["status"] == "Exercise"
    assert atom_statuses(engine, "Actual", clock.now) == []
    assert atom_statuses(engine, "all", clock.now) == [["Exercise"]]
    # its Cancel, when the episode ends, is an Exercise message too
    clock.now = (DAY + timedelta(days=3, minutes=30)).astimezone(clock.now.tzinfo)
    publish_air(engine, hourly("FR001", "pm10", days(40), DAY + timedelta(days=2)))
    assert [row["status"] for row in derived_rows(engine)] == ["Exercise", "Exercise"]


def test_actual_data_raises_actual_alerts_with_their_status_in_atom(engine, clock: Clock):
    publish_air(engine, hourly("FR001", "pm10", days(30, 70)))
    (alert,) = derived_rows(engine)
    assert alert["status"] == "Actual"
    assert atom_statuses(engine, "Actual", clock.now) == [["Actual"]]


def test_the_authority_cancels_a_hub_alert_sent_in_error(engine, clock: Clock):
    publish_air(engine, hourly("FR001", "pm10", days(30, 70)))
    (alert,) = derived_rows(engine)
    alert_id = current.alert_id(
        "hub-derived-alerts", str(alert["sender"]), str(alert["identifier"])
    )
    with client_for(engine) as client:
        path = f"/api/v1/alerts/{alert_id}/cancel"
        assert client.post(path).status_code == 401
        assert client.post(path, headers=bearer(engine, "operator", "hub")).status_code == 403
        made = client.post(path, json={"reason": "exercise data"}, headers=bearer(engine, "admin"))
        assert made.status_code == 201, made.text
        assert made.json()["identifier"] == f"{alert['identifier']}.end"
        again = client.post(path, headers=bearer(engine, "admin"))
        assert again.status_code == 409 and "cancelled already" in again.json()["detail"]
        assert (
            client.post(
                "/api/v1/alerts/hub.nope/cancel", headers=bearer(engine, "admin")
            ).status_code
            == 404
        )
        cap = client.get(f"/api/v1/alerts/{made.json()['id']}.cap").text
    assert "<msgType>Cancel</msgType>" in cap and str(alert["identifier"]) in cap
    _, cancel = derived_rows(engine)
    assert cancel["msgType"] == "Cancel" and "sent in error" in str(cancel["description"])
    assert "exercise data" in str(cancel["description"])
    assert atom_statuses(engine, "all", clock.now) == []  # the alert left the index
    # the rules never raise that episode again
    clock.now += timedelta(hours=1)
    publish_air(engine, hourly("FR001", "pm10", days(30, 75)))
    assert len(derived_rows(engine)) == 2


def test_the_cli_cancels_by_cap_identifier(engine, clock: Clock, monkeypatch):
    from hub import cli

    monkeypatch.setattr(cli, "_store", lambda: engine)
    publish_air(engine, hourly("FR001", "pm10", days(30, 70)))
    (alert,) = derived_rows(engine)
    done = CliRunner().invoke(cli.app, ["alert", "cancel", str(alert["identifier"])])
    assert done.exit_code == 0, done.output
    assert f"{alert['identifier']}.end" in done.output
    again = CliRunner().invoke(cli.app, ["alert", "cancel", str(alert["identifier"])])
    assert again.exit_code == 1 and "cancelled already" in again.output
    with pytest.raises(cancellation.NoSuchAlert):
        cancellation.cancel_in_error(engine, "hub.nothing.X.20260101T0000Z", by="test")
