"""/api/v1/alerts.atom and /api/v1/alerts/{id}.cap over HTTP: what anyone and an agency see."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from api.support import bearer, client_for
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from test_alerts_cap import cap_alert, cap_source, cap_xsd, harvested

from hub.alerts import current
from hub.config import PROJECT_ROOT
from pipelines.sources import load_source

ATOM = "{http://www.w3.org/2005/Atom}"
RESTRICTED = {
    "operator": "{id: metropole-demo, name: Metropolis}",
    "charter": "metropole-risk-restricted",
}
SIGNED = "risk/cap_seychelles_sc_valid_signed.xml"


@pytest.fixture
def alerts(engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    """An open alert, a restricted one (the metropolis' river warning), the signed sample."""
    now = datetime.now(UTC).replace(microsecond=0)
    later = now + timedelta(hours=6)
    harvested(cap_source(tmp_path, "cap-open", [cap_alert("urn:test:open.1", now, expires=later)]))
    river = cap_alert("urn:test:river.1", now, expires=later, sender="crues@metropole.example")
    harvested(cap_source(tmp_path, "cap-river", [river], **RESTRICTED))
    harvested(
        load_source(PROJECT_ROOT / "pipelines/sources/cap-seychelles-aldabra-winds-signed.yaml")
    )
    with client_for(engine) as client:
        yield client


def entries(client: TestClient, **headers: str) -> dict[str, str]:
    """The index's entries as {CAP document link: title}."""
    answer = client.get("/api/v1/alerts.atom", headers=headers)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(answer.content)
    return {
        entry.find(f"{ATOM}link[@type='application/cap+xml']").get("href", ""): entry.findtext(
            f"{ATOM}title", ""
        )
        for entry in feed.iter(f"{ATOM}entry")
    }


def path_of(link: str) -> str:
    return "/" + link.split("/", 3)[3]


def test_anyone_reads_the_open_alerts_only(alerts: TestClient) -> None:
    listed = entries(alerts)
    assert list(listed.values()) == ["Strong Winds over Mahé"]  # 2024's sample has expired
    (link,) = listed
    answer = alerts.get(path_of(link))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/cap+xml")
    cap_xsd().validate(answer.content)
    assert b"urn:test:open.1" in answer.content


def test_a_restricted_alert_is_unknown_to_anyone_and_read_by_its_agency(
    alerts: TestClient, engine: Engine
) -> None:
    river = current.alert_id("cap-river", "crues@metropole.example", "urn:test:river.1")
    assert alerts.get(f"/api/v1/alerts/{river}.cap").status_code == 404
    agency = bearer(engine, "agency", "metropole-civil-protection")
    listed = entries(alerts, **agency)
    assert len(listed) == 2
    assert any(link.endswith(f"/alerts/{river}.cap") for link in listed)
    answer = alerts.get(f"/api/v1/alerts/{river}.cap", headers=agency)
    assert answer.status_code == 200
    cap_xsd().validate(answer.content)
    other = bearer(engine, "agency", "regional-water-board")
    assert alerts.get(f"/api/v1/alerts/{river}.cap", headers=other).status_code == 404
    assert len(entries(alerts, **other)) == 1


def test_a_signed_alert_is_served_byte_for_byte(alerts: TestClient, samples: Path) -> None:
    raw = (samples / SIGNED).read_bytes()
    original = ET.fromstring(raw)
    cap = "{urn:oasis:names:tc:emergency:cap:1.2}"
    signed = current.alert_id(
        "cap-seychelles-aldabra-winds-signed",
        original.findtext(f"{cap}sender") or "",
        original.findtext(f"{cap}identifier") or "",
    )
    answer = alerts.get(f"/api/v1/alerts/{signed}.cap")
    assert answer.status_code == 200 and answer.content == raw
    everything = alerts.get("/api/v1/alerts.atom?status=all")
    assert everything.status_code == 200


@pytest.mark.parametrize(
    "alert_id", ["nope", "W10", "bm9wZQ", "WyJhIl0", current.alert_id("x", "y", "z")]
)
def test_an_unknown_id_is_a_404(alerts: TestClient, alert_id: str) -> None:
    assert alerts.get(f"/api/v1/alerts/{alert_id}.cap").status_code == 404


def test_a_bad_status_filter_is_refused(alerts: TestClient) -> None:
    assert alerts.get("/api/v1/alerts.atom?status=Whatever").status_code == 400
