"""The `hub` command: demo, serve, harvest, sources, validate, db upgrade."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

# Prefect starts a temporary API server for a flow run; its 20 s start-up limit is too tight on a
# loaded two-core machine, where the first start also migrates Prefect's own database.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# Its telemetry write races the first flow on the temporary SQLite server ("database is locked").
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


class HubCommand(typer.Typer):
    """The `hub` app; run as a program of its own (not inside a test runner) it guards children."""

    own_process = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the command line (the console script's entry point)."""
        HubCommand.own_process = True
        return super().__call__(*args, **kwargs)


def _guard_children() -> None:
    """No orphan process: Prefect's temporary server ends with this command, however it ends."""
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
console = Console(stderr=True, soft_wrap=True)  # never split FILE:LINE in logs

Host = Annotated[str, typer.Option(help="Interface to listen on.")]
Port = Annotated[int, typer.Option(help="Port to listen on.")]


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    """Harvest, validate, catalogue and serve a territory's environmental and crisis data."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command()
def serve(host: Host = "127.0.0.1", port: Port = 8000) -> None:
    """Serve the catalogue UI and the APIs."""
    import uvicorn

    from hub.app import create_app

    console.print(f"[bold]Serving the hub on http://{host}:{port}[/] (API docs at /docs)")
    uvicorn.run(create_app(), host=host, port=port, log_level="info")


@app.command()
def demo(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve")] = True,
) -> None:
    """Generate the offline demo feeds, harvest every bundled source, then serve."""
    from hub.config import get_settings
    from pipelines import demo as demo_feeds
    from pipelines.sources import find_sources

    folder = get_settings().data_dir / "demo"
    written = demo_feeds.generate(folder)
    console.print(f"Generated {len(written)} demo feed file(s) in {folder}")
    samples = get_settings().samples_dir
    sources = [s for s in find_sources() if s.enabled]
    if not samples.is_dir():  # sources built on the shared sample files need them beside the repo
        skipped = [s.id for s in sources if "{samples}" in s.url]
        sources = [s for s in sources if "{samples}" not in s.url]
        if skipped:
            console.print(
                f"Skipped {', '.join(skipped)}: no sample files at {samples} "
                "(set HUB_SAMPLES_DIR to harvest them)."
            )
    _guard_children()
    failures = _harvest([str(s.path) for s in sources])
    if failures:
        console.print(f"[yellow]{failures} source(s) did not harvest; the rest are served.[/]")
    if serve_after:
        serve(host, port)


@app.command()
def harvest(
    sources: Annotated[
        list[str] | None,
        typer.Argument(help="Source ids or source-file paths (default: every enabled source)."),
    ] = None,
) -> None:
    """Harvest sources into the catalogue, with progress and a summary."""
    from pipelines.sources import find_sources

    refs = sources or [str(s.path) for s in find_sources() if s.enabled]
    if not refs:
        console.print("No enabled sources found.")
        raise typer.Exit(1)
    _guard_children()
    raise typer.Exit(1 if _harvest(refs) else 0)


def _harvest(refs: list[str]) -> int:
    """Run the harvest flow over `refs`; print a summary; return how many failed or were refused."""
    from rich.progress import Progress, SpinnerColumn, TextColumn

    from pipelines import flows

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), console=console, transient=True
    ) as bar:
        task = bar.add_task("Harvesting…", total=None)

        def tick(rows: int) -> None:
            bar.update(task, description=f"Harvesting… {rows:,} rows read")

        with flows.reporting_progress(tick):
            outcomes = flows.harvest(refs)
    _print_outcomes(outcomes)
    # Anything but a stored batch counts: failed (every row invalid, too many invalid rows,
    # a broken feed), refused, and any status a later hub may add.
    return sum(1 for o in outcomes if o["status"] not in ("succeeded", "partial"))


def _print_outcomes(outcomes: list[dict]) -> None:
    table = Table(title="Harvest summary")
    table.add_column("source", no_wrap=True)
    table.add_column("status")
    for column in ("read", "published", "updated", "quarantined", "skipped"):
        table.add_column(column, justify="right")
    colours = {"succeeded": "green", "partial": "yellow", "refused": "red", "failed": "red"}
    for o in outcomes:
        colour = colours.get(o["status"], "white")
        table.add_row(
            o["source"],
            f"[{colour}]{o['status']}[/]",
            *(f"{o[k]:,}" for k in ("read", "published", "updated", "quarantined", "skipped")),
        )
    _wide_console().print(table)
    for o in outcomes:
        if o["message"]:
            console.print(f"[red]{o['source']}[/]: {o['message']}")


@app.command("sources")
def list_sources() -> None:
    """List the harvest sources the hub knows (territory folders first)."""
    from pipelines.sources import find_sources

    table = Table(title="Harvest sources")
    for column in ("id", "format", "schema", "charter", "enabled"):
        table.add_column(column, no_wrap=True)
    table.add_column("file", overflow="fold")
    for s in find_sources():
        table.add_row(
            s.id,
            s.format,
            s.schema,
            s.charter or "—",
            "yes" if s.enabled else "no",
            str(s.path or ""),
        )
    _wide_console().print(table)


def _wide_console() -> Console:
    """Standard output, at least 120 columns wide even when piped, so ids are never cut."""
    return Console(width=max(Console().width, 120))


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A CSV file.")],
    schema: Annotated[str, typer.Option(help="A schema name or a path to a Table Schema.")],
    charter: Annotated[str | None, typer.Option(help="Also check it is in force.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print frictionless's report.")] = False,
    encoding: Annotated[str | None, typer.Option(help="File encoding (default UTF-8).")] = None,
    delimiter: Annotated[str | None, typer.Option(help="Delimiter (default: sniffed).")] = None,
) -> None:
    """Validate a file against a schema; prints the report; exits 1 if invalid."""
    from datetime import UTC, datetime

    from hub import charters, schemas
    from hub.validation import format_report, validate_file
    from hub.validation.tables import TableReadError

    try:
        descriptor = (
            schemas.load_plain_schema(schema)
            if Path(schema).suffix == ".json" or "/" in schema
            else schemas.load_schema(schema).descriptor
        )
        if charter:
            found = charters.load_charter(charter)
            if not found.in_force(datetime.now(UTC).date()):
                console.print(f"[red]charter {charter} {found.version} is not in force today[/]")
                raise typer.Exit(1)
            name, theme = descriptor.get("name", schema), descriptor.get("theme", "")
            if theme and not found.covers(theme, name):
                console.print(
                    f"[red]charter {charter} {found.version} does not cover schema "
                    f"{name} ({theme})[/]"
                )
                raise typer.Exit(1)
        report = validate_file(file, descriptor, encoding=encoding, delimiter=delimiter)
    except (
        schemas.SchemaFileError,
        schemas.UnknownSchemaError,
        charters.CharterError,
        TableReadError,
    ) as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n")
    else:
        sys.stdout.write(format_report(report) + "\n")
    raise typer.Exit(0 if report["valid"] else 1)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database to the latest migration."""
    from hub.db import get_engine, upgrade

    upgrade(get_engine())
    console.print("Database is at the latest migration.")


def _store() -> Engine:
    """The migrated database, after checking the secret key (exit 2 with the reason)."""
    from hub.db import get_engine, upgrade
    from hub.keys import SecretKeyError, secret_key

    try:
        secret_key()
    except SecretKeyError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    engine = get_engine()
    upgrade(engine)
    return engine


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
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Issue a token; it is printed once and stored only as a hash."""
    from sqlmodel import Session

    from hub import tokens

    engine = _store()
    try:
        with Session(engine) as session:
            issued = tokens.issue(session, role, org, name, tokens.parse_expiry(expires))
    except tokens.TokenRequestError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    row = issued.row
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
                }
            )
            + "\n"
        )
        return
    sys.stdout.write(issued.token + "\n")
    console.print(
        f"Token [bold]{row.id}[/] ({row.role}"
        f"{', ' + ', '.join(row.organizations) if row.organizations else ''}), "
        f"expires {expiry or 'never'}. It is shown only now: keep it secret."
    )


@token_app.command("list")
def token_list() -> None:
    """List tokens (never their secrets)."""
    from sqlmodel import Session

    from hub import tokens
    from hub.models import as_utc, utcnow

    with Session(_store()) as session:
        rows = tokens.listing(session)
    table = Table(title="Tokens")
    for column in ("id", "role", "organizations", "name", "created", "expires", "state"):
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
        table.add_row(
            row.id,
            row.role,
            ", ".join(row.organizations) or "—",
            row.name or "—",
            f"{as_utc(row.created_at):%Y-%m-%d %H:%M}",
            f"{as_utc(row.expires_at):%Y-%m-%d %H:%M}" if row.expires_at else "never",
            state,
        )
    _wide_console().print(table)


@token_app.command("revoke")
def token_revoke(token_id: Annotated[str, typer.Argument(help="The token's id.")]) -> None:
    """Revoke a token; it stops working on the next request."""
    from sqlmodel import Session

    from hub import tokens

    with Session(_store()) as session:
        try:
            tokens.revoke(session, token_id)
        except tokens.UnknownToken as exc:
            console.print(f"[red]error:[/] {exc}")
            raise typer.Exit(1) from exc
    console.print(f"Token {token_id} revoked.")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the access log's hash chain; exit 1 at the first altered or missing entry."""
    from hub import audit

    result = audit.verify(_store())
    if result.intact:
        sys.stdout.write(f"access log intact: {result.checked} entries, head {result.head}\n")
        return
    sys.stdout.write(
        f"access log BROKEN at entry {result.broken_at}: {result.problem} "
        f"({result.checked} entries before it hold)\n"
    )
    raise typer.Exit(1)


if __name__ == "__main__":
    app()
