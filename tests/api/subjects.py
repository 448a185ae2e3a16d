"""Self-data test world: an operator's matching service (a real HTTP server), personal charters
naming it, load curves of a few households published through the gate, subject and service
tokens."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from hub import tokens
from hub.catalogue import Batch, Publisher, publish
from hub.pseudonyms import pseudonym
from hub.selfdata import services

# Households: meter number (the operator's subject key) and postcode (the second proof).
ALICE = ("30001234567890", "35000")
BOB = ("30009876543210", "35200")
CAROL = ("30005555555555", "35700")
HOURS = 6
GRID, OTHER = "grid-test", "grid-other"
CURVES, MORE_CURVES, OTHER_CURVES = "test-curves", "test-curves-heating", "other-curves"
PURPOSES = ("self-data", "energy-saving-advice")


def shown(value: str, text: str) -> bool:
    """Whether a subject's number appears in `text` as a number of its own (no digit on either
    side): a time's microseconds (15:21:27.835000) may hold a postcode's digits by chance."""
    return re.search(rf"(?<![0-9]){re.escape(value)}(?![0-9])", text) is not None


@dataclass
class MatchingService:
    """The operator's matching service: answers its households' subject keys, or 404; in a
    `mode` it misbehaves (garbage, slow, 500, huge, redirect, unreachable)."""

    people: dict[tuple[str, str], str]
    mode: str = "normal"
    calls: list[Any] = field(default_factory=list)
    url: str = ""
    slow_seconds: float = 3.0


def _handler(service: MatchingService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"null")
            service.calls.append(body)
            mode = service.mode
            if mode == "slow":
                time.sleep(service.slow_seconds)
            if mode == "drop":  # hang up without a word
                self.close_connection = True
                return None
            if mode == "error":
                return self._answer(500, b'{"error": "database down"}')
            if mode == "garbage":
                return self._answer(200, b"<html>not json</html>")
            if mode == "no-key":
                return self._answer(200, b'{"subject": 42}')
            if mode == "huge":
                return self._answer(200, b'{"subject_key": "' + b"9" * 100_000 + b'"}')
            if mode == "redirect":
                self.send_response(307)
                self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            matching = body.get("matching", {}) if isinstance(body, dict) else {}
            key = service.people.get(
                (str(matching.get("meter_number")), str(matching.get("postcode")))
            )
            if key is None:
                return self._answer(404, b'{"detail": "not found"}')
            return self._answer(200, json.dumps({"subject_key": key}).encode())

        def _answer(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass  # quiet

    return Handler


@contextmanager
def matching_service(people: dict[tuple[str, str], str]) -> Iterator[MatchingService]:
    """The matching service, served on a free 127.0.0.1 port until the block ends."""
    service = MatchingService(people)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(service))
    server.daemon_threads = True
    service.url = f"http://127.0.0.1:{server.server_address[1]}/matching"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield service
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def write_charter(folder: Path, charter_id: str, producer: str, url: str) -> None:
    """A personal charter of `producer`'s load curves whose matching service is `url`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{charter_id}.yaml").write_text(
        f'id: {charter_id}\nversion: "1.0"\ntitle: Load curves of {producer}, for their homes\n'
        f"producer: {producer}\nlicence:\n  id: custom\n  label: Self-data terms\n"
        "  uri: https://example.org/terms\naccess: personal\n"
        f"purposes: [{', '.join(PURPOSES)}]\ngdpr_sensitive: true\n"
        "personal_data:\n  subject_field: subject_key\n  legal_basis: consent\n"
        "  matching_data:\n"
        "    - code: meter_number\n      label: {fr: Numéro de PDL, en: Meter number}\n"
        '      type: string\n      pattern: "^[0-9]{14}$"\n      required: true\n'
        "    - code: postcode\n      label: {fr: Code postal, en: Postcode}\n"
        '      type: string\n      pattern: "^[0-9]{5}$"\n      required: true\n'
        f"  matching_url: {url}\n  retention_days: 3650\n"
        'valid_from: "2026-01-01"\nvalid_until: "2030-12-31"\n'
        "themes: [energy]\nschemas: [energy-consumption]\n",
        encoding="utf-8",
    )


def curve_rows(keys: list[str], hours: int = HOURS, circuit: str = "main") -> pl.DataFrame:
    """Hourly energy of each household, keyed by its meter number as the operator sends it."""
    rows = []
    for key in keys:
        for hour in range(hours):
            start = datetime(2026, 3, 1, hour, tzinfo=UTC)
            rows.append(
                {
                    "subject_key": key,
                    "period_start": f"{start:%Y-%m-%dT%H:%M:%SZ}",
                    "period_end": f"{start + timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}",
                    "circuit": circuit,
                    "quantity": "energy",
                    "value": f"{hour + int(key[-2:]) / 100:.2f}",
                    "unit": "kWh",
                    "quality": "measured",
                }
            )
    frame = pl.DataFrame(rows, schema={k: pl.Utf8 for k in rows[0]})
    return frame.with_columns(pl.Series("_row", range(2, 2 + len(rows)), dtype=pl.Int64))


def publish_curves(
    engine: Engine, dataset_id: str, producer: str, charter: str, keys: list[str]
) -> None:
    """A personal dataset of load curves, through the gate (which pseudonymises the keys)."""
    run = publish(
        Batch(
            dataset_id=dataset_id,
            title=f"Household load curves ({dataset_id})",
            publisher=Publisher(producer, producer.title()),
            theme="energy",
            schema="energy-consumption",
            charter=charter,
            chunks=[curve_rows(keys)],
            description="Load curves, each household's for itself.",
            source_url="https://example.org/curves.csv",
        ),
        engine=engine,
    )
    assert run.status == "succeeded", run.error


@dataclass(frozen=True)
class World:
    """What the self-data fixtures set up."""

    matching: MatchingService
    headers: dict[str, dict[str, str]]  # who -> Authorization header

    def of(self, producer: str, household: tuple[str, str]) -> str:
        """The pseudonym the gate stored for a household's rows at `producer`."""
        return pseudonym(producer, household[0])


def setup_world(engine: Engine, charters: Path, matching: MatchingService) -> World:
    """Two producers' personal load curves, and tokens: Alice, Bob, Carol (subjects), a
    registered service, an operator of each producer, an admin."""
    write_charter(charters, "test-curves-charter", GRID, matching.url)
    write_charter(charters, "other-curves-charter", OTHER, matching.url)
    households = [ALICE[0], BOB[0], CAROL[0]]
    publish_curves(engine, CURVES, GRID, "test-curves-charter", households)
    publish_curves(engine, MORE_CURVES, GRID, "test-curves-charter", [ALICE[0], BOB[0]])
    publish_curves(engine, OTHER_CURVES, OTHER, "other-curves-charter", [ALICE[0]])
    headers = {}
    with Session(engine) as session:
        coach = services.register(session, "Energy Coach", "https://coach.example.org")
        services.register(session, "Snoop", "https://snoop.example.org")
        made = {
            "alice": tokens.issue(session, "subject", [], "alice"),
            "bob": tokens.issue(session, "subject", [], "bob"),
            "carol": tokens.issue(session, "subject", [], "carol"),
            "coach": tokens.issue(session, "service", [], "coach", service=coach.id),
            "snoop": tokens.issue(session, "service", [], "snoop", service="snoop"),
            "unregistered": tokens.issue(session, "service", ["some-app"], "app"),
            "operator": tokens.issue(session, "operator", [GRID], "grid operator"),
            "other-operator": tokens.issue(session, "operator", [OTHER], "other operator"),
            "admin": tokens.issue(session, "admin", [], "admin"),
            "agency": tokens.issue(session, "agency", ["a-town"], "agency"),
        }
    for who, issued in made.items():
        headers[who] = {"Authorization": f"Bearer {issued.token}"}
    return World(matching, headers)


def values(household: tuple[str, str]) -> dict[str, str]:
    """A household's matching values."""
    return {"meter_number": household[0], "postcode": household[1]}


def link(client: Any, world: World, who: str, dataset: str, household: tuple[str, str]) -> Any:
    """POST a link with a household's matching values."""
    return client.post(
        "/api/v1/me/links",
        json={"dataset": dataset, "matching": values(household)},
        headers=world.headers[who],
    )


def consent(
    client: Any,
    world: World,
    who: str,
    datasets: list[str],
    purpose: str = "energy-saving-advice",
    service: str = "energy-coach",
    expires: str | None = None,
) -> Any:
    """POST a consent."""
    until = expires or f"{datetime.now(UTC).date() + timedelta(days=30)}"
    return client.post(
        "/api/v1/me/consents",
        json={"service": service, "datasets": datasets, "purpose": purpose, "expires": until},
        headers=world.headers[who],
    )


def rows_of(client: Any, dataset: str, headers: dict[str, str], query: str = "") -> Any:
    """GET a dataset's records (every page's worth at once)."""
    return client.get(f"/api/v1/datasets/{dataset}/records?limit=1000{query}", headers=headers)


PEOPLE = {ALICE: ALICE[0], BOB: BOB[0], CAROL: CAROL[0]}


@pytest.fixture(name="world")
def world_fixture(engine: Engine, published: Any, tmp_path: Path) -> Iterator[World]:
    """The self-data world on top of the API tests' catalogue."""
    with matching_service(PEOPLE) as matching:
        yield setup_world(engine, tmp_path / "charters", matching)
