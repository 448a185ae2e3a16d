"""Self data (issue 10): a subject's one-month load curve through the token, the grant, the
consent and the access log, beside the same SQL without them, in the same run; and the public
aggregates by day over a month, beside the plain GROUP BY.

    .venv/bin/python bench/selfdata.py [--households 1000] [--days 365] [--subjects 8]
                                       [--requests 200] [--aggregate-requests 20]
                                       [--database-url postgresql://…]
                                       [--rebuild] [--build-only] [--profile 50]

The store: the demo grid operator's half-hourly load curves (`pipelines.demo.households`,
`--households` × `--days` × 48 rows: 17.5 M by default) read by the real source's reader
(`demo-grid-load-curves`) and published through the real gate, so subject keys are the hub's
keyed pseudonyms as in production. It is built once into
bench/out/selfdata-{households}x{days}/ (SQLite, or the `--database-url` store, its tables dropped
first) and reused while that folder's `built.json` says the same parameters; `--rebuild` builds
it again.

Each run then serves, each in its own process group, stopped however the bench ends:

  hub       the hub's app under uvicorn, as `hub serve` runs it, its charter pointing at
  matching  the demo operator's matching service (`pipelines.demo.matching`, in this process on
            a free port: the bundled charter copied with that address, HUB_CHARTERS_PATH);
  bare      a minimal Starlette app (this file's `bare_app`) under uvicorn that runs the
            baseline SQL and answers the same JSON, with no token, grant, consent or log.

`--subjects` households are linked to fresh subject accounts through `POST /api/v1/me/links`
(the hub asks the matching service), each consents to a bench service for
`energy-saving-advice` (`POST /api/v1/me/consents`), and at the end the consents are revoked,
the links removed and the tokens revoked. Then, at random (subject, 30-day window) picks, every
kind in turn (the order rotating), after WARMUP requests each:

  subject   GET /records?from&to&limit=1500 with the subject's token
  service   GET /records?from&to&limit=1500&purpose=energy-saving-advice&subject_key=PSEUDONYM
            with the service's token (its consents decide)
  SQL       the same rows by plain SQL on the record table (pseudonym, window), in this process
  bare      the same SQL as JSON over HTTP (bare_app)
  and the public aggregates by day over the window, with and without group=circuit, beside the
  plain SQL GROUP BY (no suppression) in this process and over HTTP (bare_app).

`--profile N` also profiles N subject reads in this process (cProfile, the app under
httpx's ASGI transport, on one thread) and prints where the time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from api_common import (
    HERE,
    ROOT,
    WARMUP,
    Children,
    free_port,
    load_average,
    percentiles,
    start_hub,
    wait_until_up,
)
from sqlmodel import Session

from hub import catalogue, tokens
from hub.config import get_settings
from hub.db import get_engine, reset_engines, upgrade
from hub.pseudonyms import pseudonym

SOURCE = ROOT / "pipelines" / "sources" / "demo-grid-load-curves.yaml"
DATASET = "demo-grid-load-curves"
PRODUCER = "grid-demo"
CHARTER = ROOT / "charters" / "grid-demo-load-curves@2.0.yaml"
BUNDLED_MATCHING = "http://127.0.0.1:8765/matching"
SERVICE = ("bench-selfdata-coach", "Energy coach (bench)", "https://coach.bench.example.org")
PURPOSE = "energy-saving-advice"
WINDOW_DAYS = 30
LIMIT = 1500  # a page holds a 31-day month of half hours (1 488)
GOAL_RATIO = 1.5
GOAL_P95_MS = 50.0
SEED = 20261203


# --- the store -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Store:
    home: Path  # bench/out/selfdata-…: the data folder (var/), the marker, the logs
    url: str  # the hub's database URL

    @property
    def data(self) -> Path:
        return self.home / "var"

    @property
    def marker(self) -> Path:
        return self.home / "built.json"


def store_for(args: argparse.Namespace) -> Store:
    home = HERE / "out" / f"selfdata-{args.households}x{args.days}"
    if args.database_url:
        home = home.with_name(home.name + "-pg")
    url = args.database_url or f"sqlite:///{home / 'var' / 'hub.db'}"
    return Store(home, url)


def use_store(store: Store) -> None:
    """Point the hub's settings (here and in the servers started) at the store, every other
    HUB_ setting unset."""
    for name in [n for n in os.environ if n.startswith("HUB_")]:
        os.environ.pop(name)
    os.environ.update({"HUB_DATA_DIR": str(store.data), "HUB_DATABASE_URL": store.url})
    get_settings.cache_clear()
    reset_engines()


def wanted(args: argparse.Namespace) -> dict[str, Any]:
    """What the marker must say for a built store to be reused."""
    return {
        "households": args.households,
        "days": args.days,
        "database": args.database_url or "sqlite",
        "source": SOURCE.read_text(encoding="utf-8"),
    }


def built(store: Store, args: argparse.Namespace) -> dict[str, Any] | None:
    """The marker of a store built with these parameters, if there is one."""
    try:
        marker = json.loads(store.marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return marker if marker.get("parameters") == wanted(args) else None


def build(store: Store, args: argparse.Namespace) -> dict[str, Any]:
    """Generate the demo feed, read it with the source's reader, publish it through the gate;
    the marker."""
    from pipelines.demo import households
    from pipelines.harvesting import batch_for
    from pipelines.readers import Fetched
    from pipelines.sources import load_source

    try:  # whatever it was built with: a PostgreSQL store is emptied only if the bench built it
        previous = json.loads(store.marker.read_text(encoding="utf-8"))["parameters"]["database"]
    except (OSError, ValueError, KeyError, TypeError):
        previous = None
    store.marker.unlink(missing_ok=True)
    if not args.database_url:
        shutil.rmtree(store.data, ignore_errors=True)
    store.data.mkdir(parents=True, exist_ok=True)
    use_store(store)
    engine = get_engine()
    if args.database_url:  # a store of its own: start from empty tables
        with engine.begin() as connection:
            meta = sa.MetaData()
            meta.reflect(connection)
            if meta.tables and previous != args.database_url:
                raise SystemExit(
                    f"{args.database_url} holds tables this bench did not build there: "
                    "give it an empty database of its own"
                )
            meta.drop_all(connection)
    upgrade(engine)
    spent: dict[str, float] = {}
    started = time.perf_counter()
    now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    feed, _ = households.generate(store.data / "demo", now, args.households, args.days)
    spent["generate"] = time.perf_counter() - started
    size = feed.stat().st_size
    print(f"  feed generated: {size / 1e6:,.0f} MB in {spent['generate']:.0f} s", flush=True)
    started = time.perf_counter()
    # The source's reader and the publish gate, as harvest_source runs them, on the feed where
    # it lies: a year of 1,000 households (1.2 GB) is past the fetch's 1 GiB guard on a feed.
    source = load_source(SOURCE)
    run = catalogue.publish(batch_for(source, Fetched(path=feed, url=source.url)))
    spent["reader + gate"] = time.perf_counter() - started
    rows = args.households * args.days * 48
    if (run.status, run.rows_published) != ("succeeded", rows):
        raise SystemExit(f"the gate gave {run.status} {run.rows_published} rows: expected {rows:,}")
    feed.unlink()  # the register stays: the matching service reads it
    if not args.database_url:
        started = time.perf_counter()
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        spent["checkpoint"] = time.perf_counter() - started
    reset_engines()
    marker = {
        "parameters": wanted(args),
        "rows": rows,
        "now": now.isoformat(),
        "feed_bytes": size,
        "seconds": spent,
        "built_at": datetime.now(UTC).isoformat(),
    }
    store.marker.write_text(json.dumps(marker, indent=1), encoding="utf-8")
    return marker


# --- the baseline's server -----------------------------------------------------------------------


def records_sql(table: str, dialect: str) -> str:
    """The baseline: a subject's rows in a window, in the hub's order, by plain SQL."""
    del dialect  # the same text on both stores
    return (
        "SELECT subject_key, period_start, period_end, circuit, quantity, value, unit, quality "
        f'FROM "{table}" WHERE subject_key = :subject AND period_start >= :start '
        "AND period_start < :end ORDER BY period_start, _id LIMIT :limit"
    )


def daily_sql(table: str, dialect: str, group: bool) -> str:
    """The baseline of the aggregates: sum, mean and distinct subjects per UTC day (and
    circuit), no suppression."""
    day = (
        "substr(period_start, 1, 10)"
        if dialect == "sqlite"
        else "date_trunc('day', period_start AT TIME ZONE 'UTC')"
    )
    by = f"{day}, circuit" if group else day
    return (
        f'SELECT {by}, sum(value), avg(value), count(DISTINCT subject_key) FROM "{table}" '
        f"WHERE period_start >= :start AND period_start < :end GROUP BY {by} ORDER BY {by}"
    )


def bound(moment: datetime, dialect: str) -> Any:
    """A UTC instant as the record table compares it (SQLAlchemy's DateTime text on SQLite)."""
    if dialect == "sqlite":
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f")
    return moment


def iso(value: Any) -> Any:
    """A stored instant as the API writes it (ISO 8601, UTC, Z); anything else as it is."""
    if isinstance(value, str) and len(value) == 26 and value[10] == " ":  # SQLite's text
        return value[:10] + "T" + value[11:19] + "Z"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


FIELDS = (
    *("subject_key", "period_start", "period_end", "circuit", "quantity", "value", "unit"),
    "quality",
)


def bare_app() -> Any:
    """The baseline over HTTP: the same SQL on the hub's engine, as JSON, nothing else (no
    token, grant, consent, access log, response model). BENCH_SELFDATA_TABLE names the table."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    engine = get_engine()
    table = os.environ["BENCH_SELFDATA_TABLE"]
    dialect = engine.dialect.name
    select_rows = sa.text(records_sql(table, dialect))
    daily = {g: sa.text(daily_sql(table, dialect, g)) for g in (False, True)}

    def window(request: Request) -> dict[str, Any]:
        start = datetime.fromisoformat(request.query_params["from"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(request.query_params["to"].replace("Z", "+00:00"))
        return {"start": bound(start, dialect), "end": bound(end, dialect)}

    def rows(request: Request) -> Response:
        params = {
            **window(request),
            "subject": request.query_params["subject"],
            "limit": int(request.query_params["limit"]),
        }
        with engine.connect() as connection:
            found = connection.execute(select_rows, params).all()
        body = {"records": [dict(zip(FIELDS, map(iso, row), strict=True)) for row in found]}
        return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")

    def aggregates(request: Request) -> Response:
        group = "group" in request.query_params
        with engine.connect() as connection:
            found = connection.execute(daily[group], window(request)).all()
        names: tuple[str, ...] = ("bucket", "sum", "mean", "subjects")
        if group:
            names = ("bucket", "group", "sum", "mean", "subjects")
        cells = [dict(zip(names, map(iso, row), strict=True)) for row in found]
        return Response(
            json.dumps({"cells": cells}, separators=(",", ":")), media_type="application/json"
        )

    return Starlette(routes=[Route("/rows", rows), Route("/aggregates", aggregates)])


def start_bare(children: Children, workdir: Path, env: dict[str, str]) -> str:
    port = free_port()
    log = workdir / "bare.log"
    process = children.start(
        [sys.executable, "-m", "uvicorn", "--app-dir", str(HERE), "--factory", "selfdata:bare_app"]
        + ["--host", "127.0.0.1", "--port", str(port), "--log-level", "info"],
        env,
        log,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_up(url, "/rows?from=2000-01-01&to=2000-01-02&subject=x&limit=1", process, log)
    return url


# --- subjects, links, consents -------------------------------------------------------------------


@dataclass
class Subject:
    meter: str
    pseudonym: str
    token: str
    token_id: str
    link: str = ""
    consent: str = ""


@dataclass
class World:
    subjects: list[Subject]
    service_token: str
    service_token_id: str


@contextmanager
def matching_charter(store: Store) -> Iterator[Path]:
    """The demo matching service on a free port, and a charters folder whose copy of the
    bundled charter names it (the hub reads it from HUB_CHARTERS_PATH)."""
    from pipelines.demo import households, matching

    with matching.serving(store.data / "demo" / households.REGISTER, port=0) as url:
        folder = store.home / "charters"
        folder.mkdir(exist_ok=True)
        text = CHARTER.read_text(encoding="utf-8")
        if BUNDLED_MATCHING not in text:
            raise SystemExit(f"{CHARTER} no longer names {BUNDLED_MATCHING}")
        (folder / CHARTER.name).write_text(text.replace(BUNDLED_MATCHING, url), encoding="utf-8")
        yield folder


def issue_tokens(store: Store, count: int) -> World:
    """`count` households' subject tokens (fresh accounts) and the bench service's token."""
    from hub.selfdata import services
    from pipelines.demo import households

    register = list(households.read_register(store.data / "demo" / households.REGISTER).items())
    chosen = random.Random(SEED).sample(register, count)
    run = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    expiry = tokens.parse_expiry("1d")
    with Session(get_engine()) as session:
        try:
            services.find(session, SERVICE[0])
        except services.UnknownService:
            services.register(session, SERVICE[1], SERVICE[2], SERVICE[0], PRODUCER)
        subjects = []
        for number, (meter, _) in enumerate(chosen):
            issued = tokens.issue(
                session,
                "subject",
                [],
                f"bench/selfdata {run} citizen {number}",
                expiry,
                account=f"bench-selfdata-{run}-{number}",
            )
            subjects.append(
                Subject(meter, pseudonym(PRODUCER, meter), issued.token, issued.row.id or "")
            )
        coach = tokens.issue(
            session, "service", [], f"bench/selfdata {run} coach", expiry, service=SERVICE[0]
        )
    return World(subjects, coach.token, coach.row.id or "")


def link_and_consent(hub: httpx.Client, store: Store, world: World, until: str) -> None:
    """Each subject links through the hub (which asks the matching service) and consents."""
    from pipelines.demo import households

    register = households.read_register(store.data / "demo" / households.REGISTER)
    for subject in world.subjects:
        auth = {"Authorization": f"Bearer {subject.token}"}
        matching = {"meter_number": subject.meter, "postcode": register[subject.meter]}
        body = {"dataset": DATASET, "matching": matching}
        made = hub.post("/api/v1/me/links", json=body, headers=auth)
        if made.status_code != 201:
            raise SystemExit(f"link: {made.status_code} {made.text[:300]}")
        subject.link = made.json()["id"]
        if made.json()["pseudonym"] != subject.pseudonym:
            raise SystemExit("the link's pseudonym is not the gate's")
        consent = {"service": SERVICE[0], "datasets": [DATASET], "purpose": PURPOSE}
        given = hub.post("/api/v1/me/consents", json={**consent, "expires": until}, headers=auth)
        if given.status_code != 201:
            raise SystemExit(f"consent: {given.status_code} {given.text[:300]}")
        subject.consent = given.json()["id"]


def undo(hub: httpx.Client | None, world: World) -> None:
    """Revoke the consents, remove the links, revoke the tokens (whatever happened before)."""
    for subject in world.subjects:
        auth = {"Authorization": f"Bearer {subject.token}"}
        if hub is not None and subject.consent:
            hub.delete(f"/api/v1/me/consents/{subject.consent}", headers=auth)
        if hub is not None and subject.link:
            hub.delete(f"/api/v1/me/links/{subject.link}", headers=auth)
    with Session(get_engine()) as session:
        for token_id in [s.token_id for s in world.subjects] + [world.service_token_id]:
            if token_id:
                tokens.revoke(session, token_id)


# --- the picks and the kinds ---------------------------------------------------------------------


@dataclass(frozen=True)
class Pick:
    subject: Subject
    start: datetime
    end: datetime


def picks(world: World, first: datetime, last: datetime, count: int, seed: int) -> list[Pick]:
    """`count` random (subject, 30-day window starting at a UTC midnight inside the data)."""
    rng = random.Random(seed)
    day0 = (first + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    days = (last - day0).days - WINDOW_DAYS
    found = []
    for _ in range(count):
        start = day0 + timedelta(days=rng.randrange(max(days, 1)))
        found.append(Pick(rng.choice(world.subjects), start, start + timedelta(days=WINDOW_DAYS)))
    return found


def z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Kinds:
    """Every kind of read: a function of a pick that returns the rows or cells it got."""

    def __init__(
        self, hub: httpx.Client, bare: httpx.Client, engine: sa.Engine, table: str, world: World
    ) -> None:
        self.hub, self.bare, self.engine, self.world = hub, bare, engine, world
        self.dialect = engine.dialect.name
        self.rows_sql = sa.text(records_sql(table, self.dialect))
        self.daily_sql = {g: sa.text(daily_sql(table, self.dialect, g)) for g in (False, True)}
        self.path = f"/api/v1/datasets/{DATASET}"

    def _get(self, client: httpx.Client, path: str, params: Any, token: str = "") -> bytes:
        """The body of a 200 (anything else ends the bench), not decoded: the client's JSON
        parsing is no part of the server's time."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = client.get(path, params=params, headers=headers)
        if response.status_code != 200:
            raise SystemExit(f"GET {response.url}: {response.status_code} {response.text[:300]}")
        return response.content

    def window(self, pick: Pick) -> dict[str, str]:
        return {"from": z(pick.start), "to": z(pick.end)}

    def subject(self, pick: Pick) -> bytes:
        params = {**self.window(pick), "limit": str(LIMIT)}
        return self._get(self.hub, f"{self.path}/records", params, pick.subject.token)

    def subject_one(self, pick: Pick) -> bytes:
        params = {**self.window(pick), "limit": "1"}
        return self._get(self.hub, f"{self.path}/records", params, pick.subject.token)

    def bare_one(self, pick: Pick) -> bytes:
        params = {**self.window(pick), "limit": "1", "subject": pick.subject.pseudonym}
        return self._get(self.bare, "/rows", params)

    def service(self, pick: Pick) -> bytes:
        params = {**self.window(pick), "limit": str(LIMIT), "purpose": PURPOSE}
        params["subject_key"] = pick.subject.pseudonym
        return self._get(self.hub, f"{self.path}/records", params, self.world.service_token)

    def sql(self, pick: Pick) -> list[Any]:
        params = {
            "subject": pick.subject.pseudonym,
            "start": bound(pick.start, self.dialect),
            "end": bound(pick.end, self.dialect),
            "limit": LIMIT,
        }
        with self.engine.connect() as connection:
            return list(connection.execute(self.rows_sql, params).all())

    def bare_rows(self, pick: Pick) -> bytes:
        params = {**self.window(pick), "limit": str(LIMIT), "subject": pick.subject.pseudonym}
        return self._get(self.bare, "/rows", params)

    def aggregates(self, pick: Pick, group: bool = False) -> bytes:
        params = {**self.window(pick), "by": "day", **({"group": "circuit"} if group else {})}
        return self._get(self.hub, f"{self.path}/aggregates", params)

    def aggregates_grouped(self, pick: Pick) -> bytes:
        return self.aggregates(pick, True)

    def daily(self, pick: Pick, group: bool = False) -> list[Any]:
        params = {"start": bound(pick.start, self.dialect), "end": bound(pick.end, self.dialect)}
        with self.engine.connect() as connection:
            return list(connection.execute(self.daily_sql[group], params).all())

    def daily_grouped(self, pick: Pick) -> list[Any]:
        return self.daily(pick, True)

    def bare_daily(self, pick: Pick) -> bytes:
        return self._get(self.bare, "/aggregates", self.window(pick))


RECORD_KINDS = {
    "subject": ("hub, subject token", "subject"),
    "service": ("hub, service token + consent (?purpose=)", "service"),
    "bare": ("baseline: same SQL over HTTP (bare Starlette)", "bare_rows"),
    "sql": ("baseline: plain SQL in-process", "sql"),
    "subject 1 row": ("hub, subject token, limit=1 (fixed cost)", "subject_one"),
    "bare 1 row": ("baseline over HTTP, limit=1 (fixed cost)", "bare_one"),
}
AGGREGATE_KINDS = {
    "day": ("hub aggregates by=day", "aggregates"),
    "day+circuit": ("hub aggregates by=day&group=circuit", "aggregates_grouped"),
    "bare day": ("baseline: GROUP BY day over HTTP (bare)", "bare_daily"),
    "sql day": ("baseline: GROUP BY day, plain SQL", "daily"),
    "sql day+circuit": ("baseline: GROUP BY day, circuit, plain SQL", "daily_grouped"),
}


def agree(kinds: Kinds, chosen: list[Pick]) -> tuple[list[int], list[tuple[int, ...]]]:
    """The hub's rows for the subject and the service are the SQL's, for each pick; the
    number of rows of each, and the sizes of the subject's, service's and bare bodies."""
    counts: list[int] = []
    sizes: list[tuple[int, ...]] = []
    for pick in chosen:
        plain = kinds.sql(pick)
        bodies = [call(pick) for call in (kinds.subject, kinds.service, kinds.bare_rows)]
        sizes.append(tuple(len(body) for body in bodies))
        pages = [json.loads(body) for body in bodies]
        if any(page.get("next") for page in pages):
            raise SystemExit(f"a {WINDOW_DAYS}-day window does not fit a page of {LIMIT}")
        mine, theirs, bare = (page["records"] for page in pages)
        expected = [(iso(r[1]), r[5]) for r in plain]
        for side, got in (("subject", mine), ("service", theirs), ("bare", bare)):
            if [(r["period_start"], r["value"]) for r in got] != expected:
                raise SystemExit(f"{side}: not the SQL's rows for {pick}")
            if {r["subject_key"] for r in got} != {pick.subject.pseudonym}:
                raise SystemExit(f"{side}: rows of another subject for {pick}")
        if len(plain) < WINDOW_DAYS * 48 - 4:  # a DST day may hold two half hours less
            raise SystemExit(f"only {len(plain)} rows for {pick}")
        counts.append(len(plain))
    return counts, sizes


def timed(
    kinds: Kinds, names: dict[str, tuple[str, str]], chosen: list[Pick], warmup: int
) -> dict[str, list[float]]:
    """Every kind at every pick, interleaved, the order rotating; seconds after `warmup`."""
    samples: dict[str, list[float]] = {name: [] for name in names}
    order = list(names)
    for step, pick in enumerate(chosen):
        turn = order[step % len(order) :] + order[: step % len(order)]
        for name in turn:
            call = getattr(kinds, names[name][1])
            started = time.perf_counter()
            call(pick)
            spent = time.perf_counter() - started
            if step >= warmup:
                samples[name].append(spent)
    return samples


def plans(kinds: Kinds, pick: Pick, table: str) -> list[str]:
    """The query plans of the hub's records query for a subject (captured as the hub sends
    it, in this process) and of the baseline."""
    from hub import records

    sent: list[tuple[str, Any]] = []

    def capture(*a: Any) -> None:
        sent.append((a[2], a[3]))

    engine = kinds.engine
    sa.event.listen(engine, "before_cursor_execute", capture, named=False)
    try:
        with engine.connect() as connection:
            layout = catalogue.layout_of_dataset(connection, DATASET)
            within = layout.table.c[layout.subject or ""].in_([pick.subject.pseudonym])
            records.query(
                connection, layout, start=pick.start, end=pick.end, limit=LIMIT, within=within
            )
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    hub_sql, hub_params = sent[-1]
    lines = []
    with engine.connect() as connection:
        explain = "EXPLAIN QUERY PLAN " if kinds.dialect == "sqlite" else "EXPLAIN "
        plan = connection.exec_driver_sql(explain + hub_sql, hub_params).all()
        lines.append("hub: " + "; ".join(str(step[-1]) for step in plan))
        params = {
            "subject": pick.subject.pseudonym,
            "start": bound(pick.start, kinds.dialect),
            "end": bound(pick.end, kinds.dialect),
            "limit": LIMIT,
        }
        baseline = sa.text(explain + records_sql(table, kinds.dialect))
        plan = connection.execute(baseline, params).all()
        lines.append("baseline: " + "; ".join(str(step[-1]) for step in plan))
    return lines


# --- the profile ---------------------------------------------------------------------------------


def profile(chosen: list[Pick], charters: Path, count: int) -> str:
    """cProfile of `count` subject reads through the hub's app in this process, on one thread:
    the app driven by httpx's ASGI transport in this thread's event loop, and anyio's worker
    threads (where FastAPI runs sync routes and dependencies) replaced by a direct call, so the
    profile sees the route's work. The top of the cumulative and own times."""
    import asyncio

    import anyio.to_thread

    from hub.app import create_app

    os.environ["HUB_CHARTERS_PATH"] = str(charters)
    get_settings.cache_clear()
    reset_engines()
    profiler = cProfile.Profile()

    async def inline(func: Any, *args: Any, **_: Any) -> Any:
        return func(*args)

    async def run() -> None:
        app = create_app()
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://hub.bench") as client,
        ):
            for number, pick in enumerate(chosen[: count + 5]):
                params = {"from": z(pick.start), "to": z(pick.end), "limit": str(LIMIT)}
                auth = {"Authorization": f"Bearer {pick.subject.token}"}
                if number >= 5:  # after a few warm-up reads
                    profiler.enable()
                response = await client.get(
                    f"/api/v1/datasets/{DATASET}/records", params=params, headers=auth
                )
                profiler.disable()
                if response.status_code != 200:
                    raise SystemExit(f"profile: {response.status_code} {response.text[:300]}")

    threaded = anyio.to_thread.run_sync
    anyio.to_thread.run_sync = inline  # type: ignore[assignment]
    try:
        asyncio.run(run())
    finally:
        anyio.to_thread.run_sync = threaded
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    out.write("where a subject read's time goes (cumulative ms a read, under cProfile):\n")
    for label, place, name in STAGES:
        spent = sum(
            row[3]
            for (path, _, function), row in stats.stats.items()  # type: ignore[attr-defined]
            if path.endswith(place) and function == name
        )
        out.write(f"  {label:<58}{spent / count * 1e3:>8.1f}\n")
    stats.strip_dirs()
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(20)
    return out.getvalue()


# (what, file, function): the steps of a subject's read, as the profile names them
STAGES = [
    ("the whole request (ASGI app, middleware included)", "fastapi/applications.py", "__call__"),
    (
        "  the caller: token checked (hub.api.auth.current_caller)",
        "hub/api/auth.py",
        "current_caller",
    ),
    ("  the dataset found (guards.find_dataset)", "hub/api/guards.py", "find_dataset"),
    ("  the route (hub.api.records.read_records)", "hub/api/records.py", "read_records"),
    ("    the read (hub.reading.read_records)", "hub/reading.py", "read_records"),
    ("      grant: links, consents, crises (reading.admit)", "hub/reading.py", "admit"),
    ("        of which selfdata.scopes.readable", "hub/selfdata/scopes.py", "readable"),
    ("      the record table's layout (reading.layout)", "hub/reading.py", "layout"),
    ("      the ETag (reading.version)", "hub/reading.py", "version"),
    ("      the query (records.query: SQL, fetch, rows to dicts)", "hub/records.py", "query"),
    ("        of which rows to dicts (records.to_records)", "hub/records.py", "to_records"),
    ("      the access log (reading.record → audit.append)", "hub/reading.py", "record"),
    (
        "  response model + JSON (fastapi serialize_response)",
        "fastapi/routing.py",
        "serialize_response",
    ),
]


# --- the report ----------------------------------------------------------------------------------


def table_of(
    samples: dict[str, list[float]], names: dict[str, tuple[str, str]], against: list[str]
) -> list[str]:
    """One line per kind: p50, p95, and each ratio to the baselines `against` (p50, p95)."""
    head = f"{'kind':<48}{'p50 ms':>8}{'p95 ms':>8}"
    for base in against:
        head += f"{'÷ ' + base + ' p50':>16}{'p95':>7}"
    lines = [head]
    cut = {name: percentiles(samples[name]) for name in names}
    for name, (label, _) in names.items():
        p50, p95 = cut[name]
        line = f"{label[:47]:<48}{p50:>8.1f}{p95:>8.1f}"
        for base in against:
            b50, b95 = cut[base]
            line += f"{p50 / b50:>15.2f}×{p95 / b95:>6.2f}×"
        lines.append(line)
    return lines


def measure(store: Store, args: argparse.Namespace, marker: dict[str, Any]) -> None:
    workdir = store.home / "run"
    workdir.mkdir(exist_ok=True)
    engine = get_engine()
    # The hub migrates (and builds what a migration adds) as it starts: done here first, timed,
    # so the server's start stays within its readiness wait however long that takes once.
    started = time.perf_counter()
    upgrade(engine)
    print(f"store at the latest migration ({time.perf_counter() - started:.1f} s)", flush=True)
    with engine.connect() as connection:
        layout = catalogue.layout_of_dataset(connection, DATASET)
        table = layout.table.name
        first, last = connection.execute(
            sa.text(f'SELECT min(period_start), max(period_start) FROM "{table}"')
        ).one()
        rows = connection.execute(
            sa.text("SELECT record_count FROM dataset WHERE id = :d"), {"d": DATASET}
        ).scalar_one()
    first, last = (
        (m if isinstance(m, datetime) else datetime.fromisoformat(m)).replace(tzinfo=UTC)
        for m in (first, last)
    )
    last += timedelta(minutes=30)  # the last half hour's end (period_start is indexed)
    print(f"{rows:,} rows from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC", flush=True)
    world = issue_tokens(store, args.subjects)
    children = Children()
    hub: httpx.Client | None = None
    try:
        with matching_charter(store) as charters:
            env = {**os.environ, "HUB_CHARTERS_PATH": str(charters), "BENCH_SELFDATA_TABLE": table}
            base, _ = start_hub(children, workdir, env)
            bare_url = start_bare(children, workdir, env)
            hub = httpx.Client(base_url=base, timeout=120, trust_env=False)
            until = f"{(datetime.now(UTC) + timedelta(days=2)).date()}"
            link_and_consent(hub, store, world, until)
        # the matching service has done its part: links are made once
        print(f"{len(world.subjects)} subjects linked and consenting", flush=True)
        with httpx.Client(base_url=bare_url, timeout=120, trust_env=False) as bare:
            kinds = Kinds(hub, bare, engine, table, world)
            checked = picks(world, first, last, 6, seed=1)
            counts, sizes = agree(kinds, checked)
            print(
                f"same rows on {len(checked)} picks ({min(counts)}–{max(counts)} rows each; "
                f"bodies of the first: subject {sizes[0][0]:,} B, service {sizes[0][1]:,} B, "
                f"bare {sizes[0][2]:,} B)",
                flush=True,
            )
            plan_lines = plans(kinds, checked[0], table)
            count = WARMUP + args.requests
            print(f"timing {args.requests} reads per kind after {WARMUP} warm-up …", flush=True)
            record_samples = timed(kinds, RECORD_KINDS, picks(world, first, last, count, 2), WARMUP)
            report_records(args, marker, rows, record_samples, plan_lines)
            aggregate_samples: dict[str, list[float]] = {}
            cells: list[dict[str, Any]] = []
            if args.aggregate_requests:
                warm = 3
                count = warm + args.aggregate_requests
                print(f"timing {args.aggregate_requests} aggregates per kind …", flush=True)
                aggregate_samples = timed(
                    kinds, AGGREGATE_KINDS, picks(world, first, last, count, 3), warm
                )
                cells = json.loads(kinds.aggregates(checked[0]))["cells"]
        profiled = (
            profile(picks(world, first, last, args.profile + 5, 4), charters, args.profile)
            if args.profile
            else ""
        )
    finally:
        if hub is not None:
            undo(hub, world)
            hub.close()
        else:
            undo(None, world)
        children.stop_all()
    if aggregate_samples:
        report_aggregates(args, aggregate_samples)
        suppressed = sum(1 for cell in cells if cell.get("suppressed"))
        print(
            f"aggregates: {len(cells)} cells a window, {suppressed} suppressed (k from the "
            f"charter); load average at the end {load_average()}"
        )
    if profiled:
        print(f"\nprofile of {args.profile} subject reads in-process, one thread:\n{profiled}")


def report_records(
    args: argparse.Namespace,
    marker: dict[str, Any],
    rows: int,
    record_samples: dict[str, list[float]],
    plan_lines: list[str],
) -> None:
    """The records' table and goals (printed before the aggregates are timed)."""
    store = args.database_url.split("@")[-1] if args.database_url else "SQLite"
    print(
        f"\nself data on {rows:,} rows ({args.households} households × {args.days} days × 48, "
        f"{store}; built {marker['built_at'][:16]}): {args.requests} random (subject of "
        f"{args.subjects}, {WINDOW_DAYS}-day window) picks per kind, one keep-alive client per "
        "server, kinds interleaved; ms\n"
    )
    for line in table_of(record_samples, RECORD_KINDS, ["bare", "sql"]):
        print(line)
    o50, _ = percentiles(record_samples["subject 1 row"])
    n50, _ = percentiles(record_samples["bare 1 row"])
    s50, s95 = percentiles(record_samples["subject"])
    b50, b95 = percentiles(record_samples["bare"])
    v50, v95 = percentiles(record_samples["service"])
    q50, q95 = percentiles(record_samples["sql"])
    for who, _p50, p95 in (("subject", s50, s95), ("service", v50, v95)):
        ratio = p95 / b95
        met = ratio <= GOAL_RATIO and p95 <= GOAL_P95_MS
        print(
            f"goal ({who}): ≤ {GOAL_RATIO}× the same SQL over HTTP and p95 ≤ {GOAL_P95_MS:.0f} ms:"
            f" {'met' if met else 'NOT met'} (p95 {p95:.1f} ms, {ratio:.2f}× bare; "
            f"{p95 / q95:.2f}× the SQL alone)"
        )
    print(
        f"split (p50): a read of one row costs the hub {o50:.1f} ms, the bare baseline "
        f"{n50:.1f} ms (token, grant, consent, log, framework: {o50 - n50:+.1f} ms); the rest of "
        f"a month's read, {s50 - o50:.1f} ms in the hub against {b50 - n50:.1f} ms bare, is "
        "the rows: the query, converting them, the JSON"
    )
    print(f"plans: {' | '.join(plan_lines)}")
    print(f"load average after the records: {load_average()}\n", flush=True)


def report_aggregates(args: argparse.Namespace, samples: dict[str, list[float]]) -> None:
    print(f"\naggregates by day over a {WINDOW_DAYS}-day window (all households), ms")
    for line in table_of(samples, AGGREGATE_KINDS, ["sql day"]):
        print(line)
    print(f"({args.aggregate_requests} picks per kind after 3 warm-up)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--subjects", type=int, default=8, help="households linked and read")
    parser.add_argument("--requests", type=int, default=200, help="timed reads per kind")
    parser.add_argument(
        "--aggregate-requests", type=int, default=20, help="timed per kind (0: none, or ≥ 2)"
    )
    parser.add_argument("--database-url", help="a PostgreSQL store instead of SQLite")
    parser.add_argument("--rebuild", action="store_true", help="build the store even if kept")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--profile", type=int, default=0, help="profile N subject reads")
    args = parser.parse_args()
    if args.days < WINDOW_DAYS + 1:
        raise SystemExit(f"--days must be over {WINDOW_DAYS}")
    if args.requests < 2 or args.aggregate_requests == 1 or args.profile < 0:
        raise SystemExit("--requests needs 2 or more, --aggregate-requests 0 or 2 or more")
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    print(f"load average at start: {load_average()} ({os.cpu_count()} cores)", flush=True)
    store = store_for(args)
    store.home.mkdir(parents=True, exist_ok=True)
    marker = None if args.rebuild else built(store, args)
    if marker is None:
        rows = args.households * args.days * 48
        print(f"building {rows:,} rows into {store.home} …", flush=True)
        marker = build(store, args)
        print(f"built in {sum(marker['seconds'].values()):.0f} s: {marker['seconds']}", flush=True)
    else:
        print(f"reusing the store built {marker['built_at']} in {store.home}", flush=True)
    use_store(store)
    if args.build_only:
        return
    measure(store, args, marker)


if __name__ == "__main__":
    main()
