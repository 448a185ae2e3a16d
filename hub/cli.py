"""The `hub` command: demo, serve, harvest, sources, validate, tokens, services, db upgrade."""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from sqlalchemy import Engine

from hub.config import SettingsError, get_settings

if TYPE_CHECKING:
    from hub.audit import Verification
    from pipelines.orchestration import Orchestration
    from pipelines.orchestrator import Orchestrator
    from pipelines.sources import SourceError

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


class HubCommand(typer.Typer):
    """The `hub` app; run as a program of its own (not inside a test runner) it guards children."""

    own_process = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the command line (the console script's entry point)."""
        HubCommand.own_process = True
        # A harvest runs through a running Prefect server or in-process, never through a
        # temporary server started for one command (its start costs more than most harvests);
        # without a server, a `prefect:` secret then fails its source with a clear message.
        os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_ENABLED", "false")
        try:
            return super().__call__(*args, **kwargs)
        except SystemExit as done:  # how every command ends, typer's standalone mode
            _leave(done.code)


def _leave(code: object) -> NoReturn:
    """Exit now: exit handlers run (Prefect's last logs and events, the watchdog's notice),
    but not the interpreter's teardown of Prefect's, polars' and pydantic's modules, which
    costs a harvest over a second for nothing."""
    if code is not None and not isinstance(code, int):
        sys.stderr.write(f"{code}\n")
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more to say
            stream.flush()
    atexit._run_exitfuncs()
    os._exit(code or 0)


def _guard_children() -> None:
    """No orphan process: the Prefect server `hub serve` starts ends with it, however it ends."""
    if HubCommand.own_process:
        from hub.watchdog import guard_children

        guard_children()


app = HubCommand(help="The territorial data hub.", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
token_app = typer.Typer(help="Issue, list and revoke API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")
audit_app = typer.Typer(help="The access log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
crisis_app = typer.Typer(help="Declare, close and list crises.", no_args_is_help=True)
app.add_typer(crisis_app, name="crisis")
alert_app = typer.Typer(help="The hub's own CAP alerts.", no_args_is_help=True)
app.add_typer(alert_app, name="alert")
service_app = typer.Typer(
    help="Register the services data subjects may consent to.", no_args_is_help=True
)
app.add_typer(service_app, name="service")
i18n_app = typer.Typer(help="The catalogue UI's languages.", no_args_is_help=True)
app.add_typer(i18n_app, name="i18n")
charters_app = typer.Typer(help="Check the charters.", no_args_is_help=True)
app.add_typer(charters_app, name="charters")
console = Console(stderr=True, soft_wrap=True)  # never split FILE:LINE in logs


# Names, messages, paths and a feed's columns come from users and operators: a `[/]` in one,
# read as Rich markup, would end the command (every row of a listing) in a MarkupError.
def _say_error(problem: object) -> None:
    """`error: PROBLEM` on the console, the problem's text shown as it is."""
    console.print(f"[red]error:[/] {escape(str(problem))}", highlight=False)


def _add_plain_row(table: Table, *cells: str | Text) -> None:
    """A table row whose text cells are shown as they are, never read as markup."""
    table.add_row(*(Text(cell) if isinstance(cell, str) else cell for cell in cells))


Host = Annotated[str, typer.Option(help="Interface to listen on.")]
Port = Annotated[int, typer.Option(help="Port to listen on.")]


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    """Harvest, validate, catalogue and serve a territory's environmental and crisis data."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",  # hub.serverlog.FORMAT
    )
    try:  # every command reads them: an unusable one is said once, plainly, before any work
        _check_writable(get_settings().data_dir)
    except SettingsError as exc:
        _say_error(exc)
        raise typer.Exit(2) from exc


def _check_writable(folder: Path) -> None:
    """HUB_DATA_DIR must be writable (its database, keys, downloads), or the folder that will
    hold it: a read-only one is a settings error, not a traceback from the first write."""
    existing = next((p for p in (folder, *folder.parents) if p.exists()), folder)
    if not os.access(existing, os.W_OK | os.X_OK):
        reason = "read-only" if existing == folder else f"not creatable ({existing} is read-only)"
        raise SettingsError(f"HUB_DATA_DIR {folder} is {reason}: the hub writes its data there")


@app.command()
def serve(host: Host = "127.0.0.1", port: Port = 8000) -> None:
    """Serve the catalogue UI and the APIs, with a Prefect server running the schedules."""
    from pipelines.orchestrator import beside

    _store()  # a store that cannot be used is one line and exit 2, before any Prefect child
    _guard_children()
    with beside(_data_dir()) as orchestrator:
        _say_orchestrator(orchestrator)
        _serve_api(host, port)


def _serve_api(host: str, port: int) -> None:
    """The API, at once: Prefect's server comes up beside it, never before it."""
    import uvicorn

    from hub.api.origin import PublicUrlError, configured_root
    from hub.app import create_app
    from hub.bus import BusUnreachable, get_bus
    from hub.serverlog import uvicorn_config

    try:  # before uvicorn, whose failed start would print the lifespan's traceback
        get_bus()
    except BusUnreachable as exc:
        _say_error(exc)
        raise typer.Exit(3) from exc
    console.print(f"[bold]Serving the hub on http://{escape(host)}:{port}[/] (API docs at /docs)")
    with contextlib.suppress(PublicUrlError):  # the app's start says why, and stops
        if public := configured_root():  # its path is the root path (hub.api.origin)
            console.print(f"Published at {escape(public)} (HUB_PUBLIC_URL)")
    # Open feed streams never end by themselves: on stop, give them 5 s, then close them.
    uvicorn.run(
        create_app(),
        host=host,
        port=port,
        log_config=uvicorn_config(),
        log_level="info",
        timeout_graceful_shutdown=5,
        **proxy_options(),
    )


def proxy_options() -> dict[str, Any]:
    """uvicorn's X-Forwarded-For / -Proto handling: believed only from HUB_TRUSTED_PROXIES.
    uvicorn's default believes them from 127.0.0.1, so any local client, or one behind a proxy
    that passes the header on, could name its address (and dodge or aim hub.api.auth's
    bad-token limit)."""
    proxies = get_settings().trusted_proxies
    if not proxies:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": proxies}


def _say_orchestrator(orchestrator: Orchestrator | None) -> None:
    """Say where the hub's Prefect server listens (or why this command started none)."""
    if orchestrator is not None:
        base = orchestrator.url.removesuffix("/api")
        console.print(f"Prefect server starting beside the API at {base} (schedules, harvests)")
    elif os.environ.get("PREFECT_API_URL", "").strip():
        console.print("Prefect server: the one PREFECT_API_URL names (its workers run schedules)")
    else:
        console.print("Prefect server: already running for this hub (another `hub serve`)")


def _data_dir() -> Path:
    return get_settings().data_dir


@app.command()
def demo(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve")] = True,
    homes: Annotated[
        int, typer.Option("--households", help="Households of the demo grid operator.", min=1)
    ] = 300,  # pipelines.demo.households.HOUSEHOLDS (not imported: the CLI starts fast)
    days: Annotated[
        int, typer.Option("--household-days", help="Days of their curves.", min=1)
    ] = 365,
) -> None:
    """Generate the offline demo feeds, harvest every bundled source, and serve."""
    from datetime import UTC, datetime

    from pipelines import demo as demo_feeds
    from pipelines.demo import households, live
    from pipelines.orchestration import choose_orchestration

    if serve_after and not _port_free(host, port):  # before any work: nothing to leave behind
        _say_error(f"{host}:{port} is taken by another process: serve on another with --port")
        raise typer.Exit(2)
    _say_matching_port()
    _store()  # migrated before any work: an unusable store is one line, and exit 2
    _guard_children()
    # Chosen before this command's own Prefect server starts: the first page never waits for it.
    orchestration = choose_orchestration(_data_dir())
    folder = get_settings().data_dir / "demo"
    now = datetime.now(UTC)
    written = demo_feeds.generate(folder, now=now, households=homes, household_days=days)
    console.print(f"Generated {len(written)} demo feed file(s) in {escape(str(folder))}")
    sources = _demo_sources()
    base = f"http://{host}:{port}"
    with _demo_matching(folder / households.REGISTER):
        if not serve_after:
            _say_failures(_harvest(sources, orchestration, patient=True))
            _say_self_data(folder, base, serving=False)
            _say_crisis(base, serving=False)
            return
        ticker = live.Ticker(folder, demo_feeds.DEFAULT_SEED, anchor=now)

        def harvested() -> None:
            ticker.start()  # after the first harvest: it never competes with the first page
            _say_self_data(folder, base)
            _say_crisis(base)
            console.print(
                f"[bold]Live[/]: {live.SOURCE_ID} publishes its micro-sensors' new readings "
                "every minute while this command runs."
            )

        try:
            _serve_while_harvesting(host, port, sources, orchestration, harvested)
        finally:  # Ctrl-C included: no tick outlives the command
            ticker.stop()


def _serve_while_harvesting(
    host: str,
    port: int,
    sources: list[str],
    orchestration: Orchestration,
    harvested: Callable[[], None] | None = None,
) -> None:
    """Serve at once; harvest beside the API, then start the Prefect server (its first start
    migrates its database: on two cores it would slow the harvest the first page shows)."""
    from pipelines.orchestrator import orchestrator_for

    # The store was migrated once by `demo` before the API and the harvest would both migrate.
    orchestrator = orchestrator_for(_data_dir())

    def harvest_then_orchestrate() -> None:
        try:
            _say_failures(_harvest(sources, orchestration, live=False, patient=True))
            if harvested is not None:
                harvested()
            if orchestrator is not None:
                orchestrator.start()
                _say_orchestrator(orchestrator)
        except (KeyboardInterrupt, SystemExit):  # stopped with the server: its summary is said
            return

    harvester = threading.Thread(target=harvest_then_orchestrate, name="demo-harvest", daemon=True)
    harvester.start()
    try:
        _serve_api(host, port)
    finally:
        _stop_harvest(harvester)
        if orchestrator is not None:
            orchestrator.stop()


def _stop_harvest(harvester: threading.Thread) -> None:
    """Stop a harvest still running beside the server that stopped (SIGTERM, Ctrl-C), as `hub
    harvest` stops: its sources end interrupted, nothing kept, and the summary is said. Not
    waited for, a daemon thread died with the process and left its runs running."""
    from pipelines.orchestration import GRACE_SECONDS, raise_in

    if harvester.is_alive():
        raise_in(harvester, KeyboardInterrupt)
        harvester.join(timeout=4 * GRACE_SECONDS)  # the sources' grace, then their stop


def _port_free(host: str, port: int) -> bool:
    """Whether a server could listen on host:port now (as uvicorn binds: SO_REUSEADDR)."""
    import socket

    try:
        with socket.create_server((host, port), reuse_port=False) as _:
            return True
    except OSError:
        return False


def _say_matching_port() -> None:
    """Say before any work that the demo grid operator's matching service cannot listen."""
    from pipelines.demo import matching

    if not _port_free(matching.HOST, matching.PORT):
        console.print(
            f"[yellow]warning:[/] {matching.HOST}:{matching.PORT}, the demo grid operator's "
            "matching service's fixed port, is taken by another process (another `hub demo`?): "
            "citizens who link their meter in this demo reach that process's service, not "
            "this demo's households.",
            highlight=False,
        )


@contextlib.contextmanager
def _demo_matching(register: Path) -> Iterator[None]:
    """The demo grid operator's matching service on 127.0.0.1:8765, in a thread of this
    process, for as long as the command runs (Ctrl-C included)."""
    from pipelines.demo import matching

    try:
        serving = matching.serving(register)
        url = serving.__enter__()
    except OSError as exc:
        console.print(
            f"[yellow]{escape(str(exc))}[/] (is another `hub demo` running?): "
            "citizens link through that one."
        )
        yield
        return
    console.print(f"Demo grid operator's matching service at {url}")
    try:
        yield
    finally:
        serving.__exit__(None, None, None)


DEMO_SERVICE = ("demo-energy-coach", "Energy coach (demo)", "https://coach.demo.example.org")
DEMO_TOKENS = "demo-self-data-tokens.json"  # the demo's own tokens, reused while they are valid
DEMO_DATASET = "demo-grid-load-curves"


def _say_self_data(folder: Path, base: str, serving: bool = True) -> None:
    """Register the demo energy coach, issue (or reuse) two citizens' and its tokens, and say
    how to try the self-data journey with them."""
    from datetime import timedelta

    from sqlmodel import Session

    from hub.models import utcnow
    from hub.selfdata import services
    from pipelines.demo import households

    service_id, name, url = DEMO_SERVICE
    with Session(_store()) as session:
        try:
            services.find(session, service_id)
        except services.UnknownService:
            services.register(session, name, url, service_id, "grid-demo")
        # In the data folder, not demo/: sources may read demo/, never the rest of it.
        issued = _demo_tokens(
            session,
            _data_dir() / DEMO_TOKENS,
            {
                "citizen-1": ("subject", [], {"account": "demo-citizen-1"}),
                "citizen-2": ("subject", [], {"account": "demo-citizen-2"}),
                "coach": ("service", [], {"service": service_id}),
            },
        )
    homes = list(households.read_register(folder / households.REGISTER).items())[:2]
    until = f"{(utcnow() + timedelta(days=30)).date()}"
    api = f"{base}/api/v1"
    lines = [f"\n[bold]Self data[/]: two demo citizens of the demo grid operator ({DEMO_DATASET})"]
    for number, (meter, postcode) in enumerate(homes, 1):
        lines.append(
            f"  citizen {number}: meter_number {meter}, postcode {postcode}\n"
            f"    export C{number}={issued[f'citizen-{number}']}"
        )
    lines += [
        f"  {name}: service {service_id}\n    export COACH={issued['coach']}",
        "Link citizen 1 to their load curve (through the operator's matching service):",
        f'  curl -X POST {api}/me/links -H "Authorization: Bearer $C1" '
        f'-H \'Content-Type: application/json\' -d \'{{"dataset": "{DEMO_DATASET}", '
        f'"matching": {{"meter_number": "{homes[0][0]}", "postcode": "{homes[0][1]}"}}}}\'',
        "Read their own rows (nobody else's):",
        f'  curl -H "Authorization: Bearer $C1" "{api}/datasets/{DEMO_DATASET}/records?limit=48"',
        "Grant the energy coach a consent (revoke: DELETE /api/v1/me/consents/ID):",
        f'  curl -X POST {api}/me/consents -H "Authorization: Bearer $C1" '
        f'-H \'Content-Type: application/json\' -d \'{{"service": "{service_id}", '
        f'"datasets": ["{DEMO_DATASET}"], "purpose": "energy-saving-advice", '
        f'"expires": "{until}"}}\'',
        "Read as the coach (only the consenting households' rows, for that purpose):",
        f'  curl -H "Authorization: Bearer $COACH" '
        f'"{api}/datasets/{DEMO_DATASET}/records?purpose=energy-saving-advice&limit=48"',
        f"Then: {api}/me/access-log, {api}/me/export, {api}/me/consents (citizen's token).",
    ]
    if not serving:
        lines.append("(Run `hub demo` without --no-serve to serve the API and matching service.)")
    console.print("\n".join(lines), highlight=False)


def _demo_tokens(
    session: Any, kept: Path, wanted: dict[str, tuple[str, list[str], dict[str, str]]]
) -> dict[str, str]:
    """The demo's tokens `wanted` (who: role, organizations, account or service): those kept
    from an earlier run while they are still valid, else new ones (the stale one revoked), so
    repeated runs do not pile them up. The file keeps the others' tokens too. Each issue and
    revoke is an entry of the access log, as `hub token`'s are: the demo's cell token reads
    crisis data, and whoever audits those reads must find where the token came from."""
    from hub import orgtokens, reading, tokens
    from hub.access import Actor

    engine = reading.engine_of(session)
    demo = Actor(id="cli", role="admin", name="hub demo")

    try:
        previous = json.loads(kept.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        previous = {}
    previous = previous if isinstance(previous, dict) else {}
    issued: dict[str, str] = {}
    for who, (role, orgs, principal) in wanted.items():
        old = previous.get(who)
        if isinstance(old, str):
            try:
                actor = tokens.check(session, old)
                speaks = actor.account or actor.service
                if (
                    actor.role == role
                    and actor.organizations == frozenset(orgs)
                    and (speaks in principal.values() if principal else not speaks)
                ):
                    issued[who] = old
                    continue
            except tokens.InvalidToken:
                pass
            with contextlib.suppress(tokens.UnknownToken):
                stale = tokens.revoke(session, old.split(".")[1] if old.count(".") == 2 else "")
                orgtokens.record(engine, demo, stale, "revoked", "hub demo")
        made = tokens.issue(
            session, role, orgs, f"hub demo: {who}", tokens.parse_expiry("90d"), **principal
        )
        orgtokens.record(engine, demo, made.row, "issued", "hub demo")
        issued[who] = made.token
    kept.write_text(json.dumps({**previous, **issued}), encoding="utf-8")
    kept.chmod(0o600)
    return issued


def _say_crisis(base: str, serving: bool = True) -> None:
    """Declare the demo crisis (or find it still active), issue (or reuse) its cell's token,
    and say how to follow the area live and read Telecom Demo's crisis data."""
    from sqlmodel import Session

    from hub.models import as_utc
    from pipelines.demo import telecom

    engine = _store()
    crisis, declared = telecom.declare_crisis(engine)
    cell = telecom.CRISIS_CELL
    with Session(engine) as session:
        token = _demo_tokens(
            session, _data_dir() / DEMO_TOKENS, {"crisis-cell": ("crisis-cell", [cell], {})}
        )["crisis-cell"]
    api, box = f"{base}/api/v1", telecom.CRISIS_BBOX
    lines = [
        f"\n[bold]Crisis[/]: {escape(crisis.name)} ({crisis.id}, "
        f"{'declared now' if declared else 'active'}), {as_utc(crisis.starts_at):%Y-%m-%d %H:%M}"
        f" to {as_utc(crisis.ends_at):%Y-%m-%d %H:%M} UTC, area bbox {box}; crisis cell {cell}",
        f"  export CELL={token}",
        "Follow the area live (observations, alerts, the crisis itself):",
        f'  curl -N -H "Authorization: Bearer $CELL" "{api}/feeds/stream?bbox={box}"',
        "Read Telecom Demo's outages and vulnerable sites (crisis data: inside the area, only "
        "while the crisis lasts):",
        f'  curl -H "Authorization: Bearer $CELL" "{api}/datasets/demo-telecom-outages/records"',
        f'  curl -H "Authorization: Bearer $CELL" '
        f'"{api}/datasets/demo-telecom-vulnerable-sites/records"',
        f"Or sign in at {base}/signin with that token and open {base}/situation/{crisis.id}",
        f"End it: hub crisis close {crisis.id}",
    ]
    if not serving:
        lines.append("(Run `hub demo` without --no-serve to serve the API and the live feed.)")
    console.print("\n".join(lines), highlight=False)


def _say_failures(failures: int) -> None:
    if failures:
        console.print(f"[yellow]{failures} source(s) did not harvest; the rest are served.[/]")


def _demo_sources() -> list[str]:
    """The enabled sources' files, without those built on sample files that are absent."""
    from pipelines.sources import survey_sources

    samples = get_settings().samples_dir
    survey = survey_sources()
    _say_unreadable(survey.problems)
    sources = [s for s in survey.sources if s.enabled]
    if not samples.is_dir():  # sources built on the shared sample files need them beside the repo
        skipped = [s.id for s in sources if "{samples}" in s.url]
        sources = [s for s in sources if "{samples}" not in s.url]
        if skipped:
            console.print(
                f"Skipped {', '.join(skipped)}: no sample files at {escape(str(samples))} "
                "(set HUB_SAMPLES_DIR to harvest them)."
            )
    return [str(s.path) for s in sources]


@app.command()
def harvest(
    sources: Annotated[
        list[str] | None,
        typer.Argument(help="Source ids or source-file paths (default: every enabled source)."),
    ] = None,
) -> None:
    """Harvest sources into the catalogue, with progress and a summary."""
    from pipelines.orchestration import choose_orchestration
    from pipelines.sources import survey_sources

    unreadable = 0
    if not sources:  # every enabled source: a broken file is named, the others are harvested
        survey = survey_sources()
        sources = [str(s.path) for s in survey.sources if s.enabled]
        unreadable = _say_unreadable(survey.problems)
    refs = list(dict.fromkeys(sources))
    if not refs:
        console.print("No enabled sources found.")
        raise typer.Exit(1)
    _reach_store()
    _guard_children()
    failures = _harvest(refs, choose_orchestration(_data_dir()))
    raise typer.Exit(1 if failures or unreadable else 0)


def _say_unreadable(problems: list[SourceError]) -> int:
    """Name each source file left out, and why; how many there were."""
    for problem in problems:
        console.print(f"[red]left out[/] {escape(str(problem))}", highlight=False)
    return len(problems)


LOCKED = "locked by another writer"  # hub.db.DatabaseLocked's message


def _harvest(
    refs: list[str], orchestration: Orchestration, live: bool = True, patient: bool = False
) -> int:
    """Harvest `refs` under `orchestration`; print a summary; return how many did not publish.

    `live`: a progress line while harvesting (not beside a server's own log lines); `patient`:
    sources locked out by another writer are harvested again once the others are done."""
    import httpx
    from rich.progress import Progress, SpinnerColumn, TextColumn

    from pipelines.orchestration import Tally, run_harvests

    console.print(f"orchestration: {escape(orchestration.describe())}", highlight=False)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        console=console,
        transient=True,
        disable=not live,
    ) as bar:
        task = bar.add_task("Harvesting…", total=None)

        def tick(rows: int) -> None:
            bar.update(task, description=f"Harvesting… {rows:,} rows read")

        tally = Tally(tick)
        try:
            outcomes = run_harvests(refs, orchestration, tally)
            # The demo on SQLite (one writer): a source that waited out a long batch's lock (a
            # year of household curves) gets its turn now that the others are done.
            locked = [
                i for i, o in enumerate(outcomes) if patient and LOCKED in (o["message"] or "")
            ]
            if locked:  # outcomes come in the order of `refs`
                names = ", ".join(outcomes[i]["source"] for i in locked)
                console.print(f"Harvesting again, now that the others are done: {escape(names)}")
                again = run_harvests([refs[i] for i in locked], orchestration, tally)
                for i, outcome in zip(locked, again, strict=True):
                    outcomes[i] = outcome
        except (KeyboardInterrupt, SystemExit) as stop:
            stopped: BaseException | None = stop
            outcomes = tally.outcomes(refs)
        except (httpx.HTTPError, OSError) as exc:  # the server's connection, not a hub bug
            if orchestration.api_url is None:  # no Prefect server: a source's failure is its own
                raise
            # The Prefect server went away (its `hub serve` stopped): the hub's own runs
            # still say what each source did, published data included.
            stopped, outcomes = None, tally.outcomes(refs)
            lost = str(exc).splitlines()[0] if str(exc) else ""
            console.print(
                f"[yellow]warning:[/] the Prefect server stopped answering "
                f"({escape(type(exc).__name__)}: {escape(lost)}): Prefect's record of this "
                "harvest is incomplete; the summary is what the hub's own runs recorded.",
                highlight=False,
            )
        else:
            stopped = None
    _print_outcomes(outcomes)
    if stopped:  # Ctrl-C or SIGTERM: what ended is said, then the command ends as stopped
        left = len(refs) - len(outcomes)
        console.print(
            f"[yellow]Stopped[/]: {len(outcomes)} source(s) above ended"
            + (f", {left} not harvested." if left else ".")
        )
        raise stopped
    # Anything but a stored batch counts: failed (every row invalid, too many invalid rows,
    # a broken feed), refused, any status a later hub may add, and a source with no outcome.
    unknown = len(refs) - len(outcomes)
    return unknown + sum(1 for o in outcomes if o["status"] not in ("succeeded", "partial"))


def _print_outcomes(outcomes: list[dict]) -> None:
    table = Table(title="Harvest summary")
    table.add_column("source", no_wrap=True)
    table.add_column("status")
    counts = ("read", "published", "updated", "quarantined", "skipped", "withdrawn")
    for column in counts:
        table.add_column(column, justify="right")
    colours = {"succeeded": "green", "partial": "yellow", "refused": "red", "failed": "red"}
    for o in outcomes:
        colour = colours.get(o["status"], "white")
        _add_plain_row(
            table,
            o["source"],
            Text(o["status"], style=colour),
            *(f"{o.get(k, 0):,}" for k in counts),
        )
    _wide_console().print(table)
    for o in outcomes:
        if o["message"]:
            console.print(f"[red]{escape(o['source'])}[/]: {escape(o['message'])}", highlight=False)


@app.command("sources")
def list_sources() -> None:
    """List the harvest sources the hub knows, by id (a territory's file shadows a bundled one)."""
    from hub import schemas
    from pipelines.sources import survey_sources

    survey = survey_sources()
    broken: list[str] = []
    for s in survey.sources:
        if not s.schema:
            continue  # a grid or a portal's metadata: no table schema
        try:
            schemas.load_schema(s.schema)
        except schemas.SchemaFileError as exc:  # its harvests would all fail: say so now
            broken.append(f"source {s.id}: schema {s.schema} cannot be used: {exc}")
    table = Table(title="Harvest sources")
    for column in ("id", "format", "schema", "charter", "enabled"):
        table.add_column(column, no_wrap=True)
    table.add_column("file", overflow="fold")
    for s in survey.sources:
        _add_plain_row(
            table,
            s.id,
            s.format,
            s.schema,
            s.charter or "—",
            "yes" if s.enabled else "no",
            str(s.path or ""),
        )
    _wide_console().print(table)
    for problem in broken:
        _say_error(problem)
    if _say_unreadable(survey.problems) or broken:
        raise typer.Exit(1)


@charters_app.command("check")
def charters_check(
    ids: Annotated[
        list[str] | None, typer.Argument(help="Charter ids (default: every charter).")
    ] = None,
) -> None:
    """Check every version of the charters against the schemas they list; exits 1 on a problem.

    Each file is loaded with the load rules; then each schema a version lists must exist, load,
    belong to one of its themes and satisfy the personal-data rules the gate applies."""
    from hub import charterchecks, charters

    problems: list[str] = []
    checked = 0
    for charter_id in ids or charters.known_charters():
        try:
            versions = charters.charter_versions(charter_id)
        except charters.CharterError as exc:
            problems.append(str(exc))
            continue
        for version in versions:
            checked += 1
            problems += charterchecks.charter_problems(version)
    for problem in problems:
        _say_error(problem)
    if problems:
        raise typer.Exit(1)
    console.print(f"{checked} charter versions checked: no problem")


def _wide_console() -> Console:
    """Standard output, at least 120 columns wide even when piped, so ids are never cut."""
    return Console(width=max(Console().width, 120))


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A CSV file.")],
    schema: Annotated[
        str | None, typer.Option(help="A schema name or a path to a Table Schema.")
    ] = None,
    source: Annotated[
        Path | None,
        typer.Option(help="A harvest source file: check FILE as its harvest would publish it."),
    ] = None,
    charter: Annotated[str | None, typer.Option(help="Also check it is in force.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print frictionless's report.")] = False,
    encoding: Annotated[str | None, typer.Option(help="File encoding (default UTF-8).")] = None,
    delimiter: Annotated[str | None, typer.Option(help="Delimiter (default: sniffed).")] = None,
) -> None:
    """Validate a file against a schema, or as a source's harvest reads it; exits 1 if invalid."""
    if (schema is None) == (source is None):
        console.print("[red]error:[/] give exactly one of --schema and --source")
        raise typer.Exit(2)
    if source is not None:
        _print_report(_check_as_source(file, source), as_json)
        return
    assert schema is not None

    from hub import charterchecks, charterdays, charters, schemas
    from hub.validation import validate_file
    from hub.validation.tables import TableReadError

    by_path = Path(schema).suffix == ".json" or "/" in schema
    try:
        descriptor = (
            schemas.load_plain_schema(schema) if by_path else schemas.load_schema(schema).descriptor
        )
        if charter:
            found = charters.load_charter(charter)
            if not found.in_force(charterdays.today()):
                _say_error(f"charter {charter} {found.version} is not in force today")
                raise typer.Exit(1)
            name, theme = descriptor.get("name", schema), descriptor.get("theme", "")
            if theme and not found.covers(theme, name):
                _say_error(
                    f"charter {charter} {found.version} does not cover schema {name} ({theme})"
                )
                raise typer.Exit(1)
            if not by_path:  # a registry schema: the gate's charter-versus-schema rules too
                refusal = charterchecks.schema_refusal(schemas.load_schema(schema), found)
                if refusal:
                    _say_error(f"a harvest would be refused: {refusal}")
                    raise typer.Exit(1)
        report = validate_file(file, descriptor, encoding=encoding, delimiter=delimiter)
    except (
        schemas.SchemaFileError,
        schemas.UnknownSchemaError,
        charters.CharterError,
        TableReadError,
    ) as exc:
        _say_error(exc)
        raise typer.Exit(2) from exc
    _print_report(report, as_json)


def _print_report(report: dict[str, Any], as_json: bool) -> None:
    """Print a validation report (frictionless's descriptor with --json); exit 1 if invalid."""
    from hub.validation import format_report

    if as_json:
        sys.stdout.write(json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n")
    else:
        sys.stdout.write(format_report(report) + "\n")
    raise typer.Exit(0 if report["valid"] else 1)


def _check_as_source(file: Path, source_file: Path) -> dict[str, Any]:
    """The report of FILE read, mapped and normalised as the source's harvest does it."""
    from hub.catalogue import PublishRefused
    from hub.validation.tables import TableReadError
    from pipelines.checking import check_file
    from pipelines.fetch import FetchError
    from pipelines.readers import ReaderError
    from pipelines.sources import SourceError, load_source

    try:
        return check_file(file, load_source(source_file))
    except (
        SourceError,
        ReaderError,
        TableReadError,
        PublishRefused,
        FetchError,
        OSError,
        ValueError,
    ) as exc:
        _say_error(exc)
        raise typer.Exit(2) from exc


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database to the latest migration."""
    _reach_store()
    console.print("Database is at the latest migration.")


@db_app.command("backup")
def db_backup(
    target: Annotated[Path, typer.Argument(help="The new file to write (never overwritten).")],
) -> None:
    """Copy the embedded SQLite store consistently while the hub serves, then verify the copy's
    access log (PostgreSQL: use pg_dump)."""
    from hub import audit
    from hub.backup import BackupError, backup
    from hub.db import make_engine

    try:
        backup(_existing_store(), target)
    except (BackupError, OSError) as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from exc
    copy = make_engine(f"sqlite:///{target.resolve()}")
    try:
        checked = audit.verify(copy)
    finally:
        copy.dispose()
    sys.stdout.write(
        f"backed up to {target}: {target.stat().st_size:,} bytes; its access log holds "
        f"{checked.checked} entries, head {checked.checked}:{checked.head}\n"
    )
    if checked.broken_at is not None:
        sys.stdout.write(f"its access log does not verify: {checked.problem}\n")
        raise typer.Exit(1)


@db_app.command("purge-expired")
def db_purge_expired() -> None:
    """Delete personal records older than their charter's retention, and what housekeeping
    forgets (old events, link attempts, sign-ins, ended tokens), now (as the daily flow)."""
    from hub.housekeeping import sweep
    from hub.retention import purge_expired

    engine = _store()
    purges = purge_expired(engine)
    for purge in purges:
        sys.stdout.write(f"{purge.dataset_id}: {purge.note}\n")
    sys.stdout.write(f"{sweep(engine).note}\n")
    rows = sum(purge.rows for purge in purges)
    console.print(f"{len(purges)} personal dataset(s), {rows:,} record row(s) deleted.")
    if any(purge.failed for purge in purges):
        raise typer.Exit(1)


def _store() -> Engine:
    """The migrated database, after checking the secret key (exit 2 with the reason)."""
    from hub.db import get_engine, upgrade
    from hub.keys import SecretKeyError, secret_key

    try:
        secret_key()
    except SecretKeyError as exc:
        _say_error(exc)
        raise typer.Exit(2) from exc
    engine = get_engine()
    _reach(upgrade, engine)
    return engine


def _reach_store() -> None:
    """The migrated database, or one line and exit 2 (a harvest needs no secret key)."""
    from hub.db import get_engine, upgrade

    _reach(upgrade, get_engine())


def _reach(upgrade: Callable[[Engine], None], engine: Engine) -> None:
    """Migrate `engine`'s database; one that cannot be reached (a wrong host, port or password
    in HUB_DATABASE_URL, a server that is down) exits 2 with one line, its password hidden."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    try:
        upgrade(engine)
    except (OperationalError, InterfaceError) as exc:
        reason = str(exc.orig or exc).strip().splitlines()[0] if str(exc.orig or exc) else ""
        _say_error(
            f"HUB_DATABASE_URL {engine.url.render_as_string(hide_password=True)} cannot be "
            f"used: {reason}"
        )
        raise typer.Exit(2) from None


@token_app.command("create")
def token_create(
    role: Annotated[
        str, typer.Option(help="admin | operator | agency | service | crisis-cell | subject")
    ],
    org: Annotated[
        list[str] | None,
        typer.Option(help="Organization id (repeat for an agency member of several)."),
    ] = None,
    name: Annotated[str, typer.Option(help="Who or what holds it.")] = "",
    expires: Annotated[str, typer.Option(help="90d, 12h, 30m, 2w or never.")] = "90d",
    account: Annotated[
        str | None,
        typer.Option(help="Subject tokens: the account it speaks for (default: a new one)."),
    ] = None,
    service: Annotated[
        str | None, typer.Option(help="Service tokens: the registered service it speaks for.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Issue a token; it is printed once and stored only as a hash (and the access log says so)."""
    from sqlmodel import Session

    from hub import orgtokens, tokens

    engine = _store()
    try:
        with Session(engine) as session:
            issued = tokens.issue(
                session,
                role,
                org,
                name,
                tokens.parse_expiry(expires),
                account=account,
                service=service,
            )
    except tokens.TokenRequestError as exc:
        _say_error(exc)
        raise typer.Exit(2) from exc
    row = issued.row
    orgtokens.record(engine, orgtokens.CLI, row, "issued", "hub token create")
    with Session(engine) as session:
        for unknown in tokens.unknown_organizations(session, row):
            console.print(
                f"[yellow]warning:[/] no organization {escape(repr(unknown))} is known yet (no "
                "harvest of its data, no crisis naming it): check its spelling",
                highlight=False,
            )
    expiry = row.expires_at.isoformat().replace("+00:00", "Z") if row.expires_at else None
    if as_json:
        orgs = list(row.organizations)
        sys.stdout.write(
            json.dumps(
                {
                    "id": row.id,
                    "token": issued.token,
                    "role": row.role,
                    "org": orgs[0] if len(orgs) == 1 else (orgs or None),
                    "expires": expiry,
                    **({"account": row.account} if row.account else {}),
                    **({"service": row.service_id} if row.service_id else {}),
                }
            )
            + "\n"
        )
        return
    sys.stdout.write(issued.token + "\n")
    speaks = row.account or row.service_id
    console.print(
        f"Token [bold]{row.id}[/] ({row.role}"
        f"{', ' + escape(', '.join(row.organizations)) if row.organizations else ''}"
        f"{', for ' + escape(speaks) if speaks else ''}), "
        f"expires {expiry or 'never'}. It is shown only now: keep it secret."
    )


@service_app.command("register")
def service_register(
    name: Annotated[str, typer.Option(help="The service's name, as subjects will see it.")],
    url: Annotated[str, typer.Option(help="Its address (http or https).")],
    service_id: Annotated[
        str | None, typer.Option("--id", help="Its id (default: from the name).")
    ] = None,
    org: Annotated[str, typer.Option(help="The organization that runs it.")] = "",
) -> None:
    """Register a service; prints its id, for `hub token create --role service --service ID`."""
    from sqlmodel import Session

    from hub.selfdata import services

    with Session(_store()) as session:
        try:
            row = services.register(session, name, url, service_id, org)
        except services.ServiceRequestError as exc:
            _say_error(exc)
            raise typer.Exit(2) from exc
    sys.stdout.write(row.id + "\n")
    console.print(
        f"Service [bold]{row.id}[/] ({escape(row.name)}, {escape(row.url)}) registered.",
        highlight=False,
    )


@service_app.command("list")
def service_list() -> None:
    """List registered services."""
    from sqlmodel import Session

    from hub.models import as_utc
    from hub.selfdata import services

    with Session(_store()) as session:
        rows = services.listing(session)
    table = Table(title="Services")
    for column in ("id", "name", "url", "organization", "registered"):
        table.add_column(column, no_wrap=column in ("id", "registered"))
    for row in rows:
        _add_plain_row(
            table,
            row.id,
            row.name,
            row.url,
            row.organization or "—",
            f"{as_utc(row.created_at):%Y-%m-%d}",
        )
    _wide_console().print(table)


@token_app.command("list")
def token_list() -> None:
    """List tokens (never their secrets)."""
    from sqlmodel import Session

    from hub import tokens
    from hub.models import as_utc, utcnow

    with Session(_store()) as session:
        rows = tokens.listing(session)
    table = Table(title="Tokens")
    for column in (
        "id",
        "role",
        "organizations",
        "name",
        "created",
        "expires",
        "state",
        "issued by",
    ):
        table.add_column(column, no_wrap=column != "name")
    now = utcnow()
    for row in rows:
        state = (
            "revoked"
            if row.revoked_at
            else "expired"
            if row.expires_at and as_utc(row.expires_at) <= now
            else "active"
        )
        _add_plain_row(
            table,
            row.id,
            row.role,
            ", ".join(row.organizations) or "—",
            row.name or "—",
            f"{as_utc(row.created_at):%Y-%m-%d %H:%M}",
            f"{as_utc(row.expires_at):%Y-%m-%d %H:%M}" if row.expires_at else "never",
            state,
            row.issued_by or "—",
        )
    _wide_console().print(table)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id.")],
    with_issued: Annotated[
        bool,
        typer.Option(
            "--with-issued",
            help="Revoke too every token it issued through its organization's self-service, "
            "and those they issued: for a leaked token.",
        ),
    ] = False,
) -> None:
    """Revoke a token; it stops working on the next request (and the access log says so)."""
    from sqlmodel import Session

    from hub import orgtokens, tokens

    engine = _store()
    with Session(engine) as session:
        chosen = [token_id, *(orgtokens.descendants(session, token_id) if with_issued else [])]
        for position, chosen_id in enumerate(chosen):
            try:
                row = tokens.revoke(session, chosen_id)
            except tokens.UnknownToken as exc:
                _say_error(exc)
                raise typer.Exit(1) from exc
            orgtokens.record(engine, orgtokens.CLI, row, "revoked", "hub token revoke")
            issued = f" (issued by {row.issued_by})" if position else ""
            console.print(f"Token {escape(chosen_id)}{escape(issued)} revoked.")


@audit_app.command("verify")
def audit_verify(
    head: Annotated[
        str | None,
        typer.Option(help="A head printed by an earlier verify (ID:HASH): it must still be there."),
    ] = None,
) -> None:
    """Check the access log's hash chain, seals and kept head; exit 1 at the first altered,
    missing or unsealed entry, or if the log is empty or ends before the kept head."""
    from hub import audit, auditanchor

    given = _given_head(head) if head else None
    engine = _existing_store()
    result = audit.verify(engine, given)
    if not result.intact:
        if result.checked == 0 and result.broken_at is None:
            problem = (  # the database named, its password never
                f"is empty in {engine.url.render_as_string(hide_password=True)}: nothing to "
                "verify (a new hub, or not the database you meant)"
            )
        elif result.broken_at == 0:
            problem = f"NOT VERIFIED: {result.problem}"
        else:
            problem = (
                f"BROKEN at entry {result.broken_at}: {result.problem} "
                f"({result.checked} entries before it hold)"
            )
        sys.stdout.write(f"access log {problem}\n")
        raise typer.Exit(1)
    sys.stdout.write(
        f"access log intact: {result.checked} entries, head {result.checked}:{result.head}\n"
    )
    if result.sealed_from is None:
        sys.stdout.write("  no entry is sealed with the hub's key yet (all from before sealing)\n")
    elif result.sealed_from > 1:
        sys.stdout.write(
            f"  entries 1 to {result.sealed_from - 1} predate sealing: they hold through the "
            f"sealed entry {result.sealed_from}, whose hash covers theirs\n"
        )
    if result.keyed_from and result.keyed_from > 1:
        sys.stdout.write(
            f"  entries 1 to {result.keyed_from - 1} carry a former key's seals: the head kept "
            "since `hub audit reanchor --new-key` holds them\n"
        )
    if result.anchored is None:
        sys.stdout.write(
            f"  no head was kept for this database in {result.anchor}: removing the last "
            "entries would not have shown; this head is kept from now on (record it "
            "elsewhere too, and pass it back with --head)\n"
        )
    else:
        sys.stdout.write(
            f"  the head kept outside the database (entry {result.anchored}) is in it\n"
        )
    with contextlib.suppress(OSError, auditanchor.AnchorError):
        auditanchor.keep(engine, result.checked, result.head)


@audit_app.command("reanchor")
def audit_reanchor(
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    new_key: Annotated[
        bool,
        typer.Option(
            "--new-key",
            help="HUB_SECRET_KEY changed: accept the former key's seals on the older entries.",
        ),
    ] = False,
) -> None:
    """Keep the access log's end as its head after a restore or a key change (chain checked
    first, exit 1 if broken; the head kept before is moved aside)."""
    from hub import audit, auditanchor

    engine = _existing_store()
    if audit.verify(engine).intact:
        sys.stdout.write("the kept head is in the access log: nothing to re-anchor\n")
        return
    chain = audit.verify(engine, anchored=False, former_key=new_key)
    if not chain.intact:
        problem = chain.problem or "the access log is empty: there is no head to keep"
        sys.stdout.write(f"access log NOT re-anchored: {problem}\n")
        if "seal" in problem and not new_key:
            sys.stdout.write("  if HUB_SECRET_KEY changed since those entries, pass --new-key\n")
        raise typer.Exit(1)
    _say_replaced_head(auditanchor.kept_unchecked(engine), chain)
    if not yes and not typer.confirm("Replace the kept head?", default=False):
        sys.stdout.write("nothing changed\n")
        raise typer.Exit(1)
    done = auditanchor.replace(
        engine, chain.checked, chain.head, chain.keyed_from if new_key else None
    )
    sys.stdout.write(f"kept head replaced: now {chain.checked}:{chain.head}\n")
    if done.kept_aside:
        sys.stdout.write(f"  the head kept before is in {done.kept_aside}\n")


def _say_replaced_head(old: tuple[dict[str, object], bool] | None, chain: Verification) -> None:
    """What a reanchor replaces, and with what."""
    if old is None:
        sys.stdout.write("kept head: none\n")
    else:
        data, sealed = old
        trust = "sealed with this key" if sealed else "NOT sealed with this key"
        sys.stdout.write(f"kept head: entry {data.get('id')}:{data.get('hash')} ({trust})\n")
    sys.stdout.write(f"chain end: entry {chain.checked}:{chain.head} (chain checked)\n")
    if chain.keyed_from and chain.keyed_from > 1:
        sys.stdout.write(
            f"  entries 1 to {chain.keyed_from - 1} carry a former key's seals, which this key "
            "cannot check: from now on the new head, sealed with this key, holds them\n"
        )


def _given_head(text: str) -> tuple[int, str]:
    """`--head ID:HASH`, or exit 2."""
    number, _, digest = text.partition(":")
    if not number.isdigit() or len(digest) != 64:
        console.print(f"[red]error:[/] --head {escape(text)}: expected ID:HASH as verify prints it")
        raise typer.Exit(2)
    return int(number), digest.lower()


def _existing_store() -> Engine:
    """The migrated database, refusing to create an embedded one that is not there (a mistyped
    path must not pass for an empty store)."""
    from sqlalchemy.engine import make_url

    from hub.db import normalise_url

    url = make_url(normalise_url(get_settings().effective_database_url))
    database = url.database or ""
    if (
        url.get_backend_name() == "sqlite"
        and database != ":memory:"
        and not Path(database).is_file()
    ):
        console.print(f"[red]error:[/] no database at {escape(database)} (HUB_DATABASE_URL)")
        raise typer.Exit(2)
    return _store()


@crisis_app.command("declare")
def crisis_declare(
    name: Annotated[str, typer.Option(help="The crisis's name.")],
    area: Annotated[Path, typer.Option(help="A GeoJSON file: a Polygon or MultiPolygon in WGS84.")],
    start: Annotated[
        str, typer.Option("--from", help="When access opens (ISO 8601; no zone: UTC).")
    ],
    until: Annotated[str, typer.Option(help="When it ends, exclusive (ISO 8601; no zone: UTC).")],
    cells: Annotated[
        list[str], typer.Option(help="Organization ids of its crisis cells (one or more).")
    ],
    more: Annotated[list[str] | None, typer.Argument(hidden=True)] = None,
    exercise: Annotated[
        bool,
        typer.Option(
            "--exercise",
            help="An exercise (CAP status Exercise): shown as one, left out of public lists "
            "and feeds, and opens only charters that accept exercises.",
        ),
    ] = False,
) -> None:
    """Declare a crisis; prints its id (exit 2, storing nothing, on malformed input)."""
    from hub import crises, selection
    from hub.crises.plausibility import area_warnings

    try:
        shape = json.loads(area.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # UnicodeDecodeError and JSON errors are ValueErrors
        console.print(
            f"[red]error:[/] {escape(str(area))}: no GeoJSON to read ({escape(str(exc))})"
        )
        raise typer.Exit(2) from exc
    try:
        begins = selection.parse_instant("--from", start)
        ends = selection.parse_instant("--until", until)
    except selection.QueryError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from exc
    # `--cells a --cells b`, `--cells a,b` and `--cells a b` alike
    named = [cell for value in [*cells, *(more or [])] for cell in value.split(",")]
    try:
        crisis = crises.declare(
            _store(),
            name=name,
            area=shape,
            start=begins,
            end=ends,
            cells=named,
            by="cli",
            exercise=exercise,
        )
    except crises.CrisisRefused as refused:
        console.print(f"[red]error:[/] {escape(refused.reason)}")
        raise typer.Exit(2) from refused
    sys.stdout.write(crisis.id + "\n")
    kind = "Exercise" if crisis.exercise else "Crisis"
    console.print(
        f"{kind} [bold]{crisis.id}[/] ({escape(crisis.name)}) declared for "
        f"{escape(', '.join(crisis.cells))}."
    )
    for cell in crises.unknown_cells(_store(), crisis):
        console.print(f"[yellow]warning:[/] {escape(crises.UNKNOWN_CELL.format(cell=cell))}")
    for warning in area_warnings(_store(), crisis.area, crisis.bbox):
        console.print(f"[yellow]warning:[/] {escape(warning)}")


@crisis_app.command("update")
def crisis_update(
    crisis_id: Annotated[str, typer.Argument(help="The crisis's id.")],
    until: Annotated[
        str | None, typer.Option(help="Its new end, exclusive (ISO 8601; no zone: UTC).")
    ] = None,
    cells: Annotated[
        list[str] | None, typer.Option(help="Its cells from now on (replaces them all).")
    ] = None,
    area: Annotated[
        Path | None, typer.Option(help="Its new area: a GeoJSON file, as for declare.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Its new name.")] = None,
) -> None:
    """Change a crisis in place (same id): extend or shorten it, change its cells, area or
    name; an access-log entry and a `crisis` event (exit 2 on malformed input, 1 if closed)."""
    from hub import crises, selection
    from hub.crises import updates
    from hub.crises.plausibility import area_warnings

    changes: dict[str, Any] = {}
    try:
        if until is not None:
            changes["until"] = selection.parse_instant("--until", until)
        if area is not None:
            changes["area"] = json.loads(area.read_text(encoding="utf-8"))
    except (OSError, ValueError, selection.QueryError) as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from exc
    if cells is not None:
        changes["cells"] = [cell for value in cells for cell in value.split(",")]
    if name is not None:
        changes["name"] = name
    if not changes:
        console.print("[red]error:[/] nothing to change: --until, --cells, --area or --name")
        raise typer.Exit(2)
    try:
        crisis, changed = updates.update(_store(), crisis_id, by="cli", **changes)
    except crises.CrisisRefused as refused:
        console.print(f"[red]error:[/] {escape(refused.reason)}")
        raise typer.Exit(2) from refused
    except crises.CrisisError as exc:
        console.print(f"[red]error:[/] {escape(exc.reason)}")
        raise typer.Exit(1) from exc
    said = ", ".join(changed) or "nothing (as it was)"
    console.print(f"Crisis {escape(crisis.id)} updated: {escape(said)}.")
    if "cells" in changed:
        for cell in crises.unknown_cells(_store(), crisis):
            console.print(f"[yellow]warning:[/] {escape(crises.UNKNOWN_CELL.format(cell=cell))}")
    if "area" in changed:
        for warning in area_warnings(_store(), crisis.area, crisis.bbox):
            console.print(f"[yellow]warning:[/] {escape(warning)}")


@crisis_app.command("close")
def crisis_close(crisis_id: Annotated[str, typer.Argument(help="The crisis's id.")]) -> None:
    """Close a crisis: its cells' next requests are refused."""
    from hub import crises

    try:
        crises.close(_store(), crisis_id, by="cli")
    except crises.CrisisError as exc:
        console.print(f"[red]error:[/] {escape(exc.reason)}")
        raise typer.Exit(1) from exc
    console.print(f"Crisis {escape(crisis_id)} closed.")


@crisis_app.command("list")
def crisis_list() -> None:
    """List crises, the latest declared first."""
    from hub import crises

    table = Table(title="Crises")
    for column in ("id", "name", "from", "until", "status", "cells"):
        table.add_column(column, no_wrap=column not in ("name", "cells"))
    for crisis in crises.listing(_store()):
        shown = crises.as_json(crisis)
        _add_plain_row(
            table,
            crisis.id,
            crisis.name,
            shown["from"],
            shown["until"],
            f"{shown['status']} EXERCISE" if crisis.exercise else shown["status"],
            ", ".join(crisis.cells),
        )
    _wide_console().print(table)


@alert_app.command("cancel")
def alert_cancel(
    alert: Annotated[str, typer.Argument(help="The alert's CAP identifier (or its API id).")],
    reason: Annotated[str, typer.Option(help="Why, said in the Cancel.")] = "",
) -> None:
    """Cancel a hub alert sent in error: a CAP Cancel referencing it, on the Atom index and
    the feed (exit 1 if the hub raised no such alert, or cancelled it already)."""
    from hub.alerts import cancellation

    try:
        row = cancellation.cancel_in_error(
            _store(), alert, by="the crisis authority (hub alert cancel)", reason=reason
        )
    except cancellation.CancelRefused as exc:
        console.print(f"[red]error:[/] {escape(exc.reason)}")
        raise typer.Exit(1) from exc
    sys.stdout.write(f"{row['identifier']}\n")
    console.print(f"Cancel {escape(str(row['identifier']))} published ({row['status']}).")


if __name__ == "__main__":
    app()


@i18n_app.command("check")
def i18n_check() -> None:
    """Fail if a message the UI shows lacks a translation in any language."""
    from hub.ui import i18n

    try:
        gaps = i18n.missing()
    except i18n.UnreadableTemplate as broken:
        console.print(f"[red]a template cannot be read[/]: {escape(str(broken))}", highlight=False)
        raise typer.Exit(1) from None
    for language, msgid, problem in gaps:
        console.print(f"{problem} in [red]{language}[/]: {escape(repr(msgid))}", highlight=False)
    if gaps:
        console.print(f"[red]{len(gaps)} missing translation(s)[/]")
        raise typer.Exit(1)
    used = len(i18n.used_messages())
    console.print(f"{used} messages, translated in {', '.join(i18n.LANGUAGES)}")


@i18n_app.command("add")
def i18n_add(
    part: Annotated[str, typer.Argument(help="The catalogue part (file name without .po).")],
    sources: Annotated[list[str], typer.Argument(help="Globs under hub/ui, e.g. templates/x.html")],
) -> None:
    """Add the messages of `sources` no catalogue holds yet: English filled, French to translate."""
    from hub.ui import i18n

    console.print(f"{i18n.add_missing(part, sources)} message(s) added to part {escape(part)}")
