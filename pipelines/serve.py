"""Deployments and schedules: each enabled source with a `schedule` becomes a deployment.

A deployment runs the `harvest` flow for its one source on the source's cron (UTC). Beside
them, the `retention` deployment runs the `purge-expired` flow every day (`pipelines.retention`)
wherever a personal charter is known. On one
machine `hub serve` runs them itself (`python -m pipelines.serve`, a runner child of its own);
on many, `python -m pipelines.serve deploy --pool POOL` registers them with a process work pool
whose workers run them (infra/prefect.sh, README "Schedules on several machines").
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

from pipelines.sources import Source, find_sources

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

log = logging.getLogger(__name__)

TAGS = ["hub", "harvest"]


def scheduled_sources(sources: list[Source] | None = None) -> list[Source]:
    """The enabled sources that have a schedule (all configured folders by default)."""
    return [s for s in (find_sources() if sources is None else sources) if s.enabled and s.schedule]


def deployment_for(source: Source, work_pool: str | None = None) -> RunnerDeployment:
    """The `harvest` flow of this one source on its cron, for a runner or a work pool."""
    from prefect.schedules import Cron
    from prefect.types.entrypoint import EntrypointType

    from pipelines.flows import harvest

    # By id: a worker finds the source in its own HUB_SOURCES_PATH, wherever the file is there.
    deployment: RunnerDeployment = harvest.to_deployment(  # type: ignore[assignment]
        name=source.id,
        schedule=Cron(source.schedule or "", timezone="UTC"),
        parameters={"source_refs": [source.id]},
        description=source.title,
        tags=[*TAGS, source.theme, source.operator.id],
        paused=False,
        work_pool_name=work_pool,
        # The hub is an installed package: workers import the flow, no code is shipped.
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
    return deployment


def retention_deployment(work_pool: str | None = None) -> RunnerDeployment:
    """The daily purge of personal records past their charter's retention."""
    from prefect.schedules import Cron
    from prefect.types.entrypoint import EntrypointType

    from pipelines.retention import DEPLOYMENT, SCHEDULE, purge_expired_records

    deployment: RunnerDeployment = purge_expired_records.to_deployment(  # type: ignore[assignment]
        name=DEPLOYMENT,
        schedule=Cron(SCHEDULE, timezone="UTC"),
        description="Delete personal records older than their charter's retention_days",
        tags=["hub", "retention"],
        paused=False,
        work_pool_name=work_pool,
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
    return deployment


def holds_personal_data() -> bool:
    """Whether any known charter shares personal data (and so needs the daily purge)."""
    from hub import charters

    for charter_id in charters.known_charters():
        try:
            versions = charters.charter_versions(charter_id)
        except charters.CharterError:  # a broken file says so where it is used
            continue
        if any(charter.access == "personal" for charter in versions):
            return True
    return False


def has_schedules() -> bool:
    """Whether there is anything for a runner to serve."""
    return bool(scheduled_sources()) or holds_personal_data()


def build_deployments(
    sources: list[Source] | None = None, work_pool: str | None = None
) -> list[RunnerDeployment]:
    """One deployment per scheduled source (a source without a schedule has none), and the
    daily retention purge where personal data may be held."""
    deployments = []
    for source in scheduled_sources(sources):
        try:
            deployments.append(deployment_for(source, work_pool))
        except ValueError as exc:  # one source's schedule never stops the others'
            log.error("source %s left out of the schedules: %s", source.id, exc)
    if holds_personal_data():
        deployments.append(retention_deployment(work_pool))
    return deployments


def serve_schedules() -> None:
    """Run the scheduled deployments in this process until stopped (what `hub serve` starts)."""
    from prefect import serve

    from pipelines.orchestration import harvest_concurrency

    deployments = build_deployments()
    log.info("serving %d scheduled deployment(s)", len(deployments))
    if deployments:
        serve(*deployments, print_starting_message=False, limit=harvest_concurrency())


def deploy_to_pool(work_pool: str, sources: list[Source] | None = None) -> list[str]:
    """Register (or update) the scheduled deployments with `work_pool`; their names."""
    ensure_pool(work_pool)
    names = []
    for deployment in build_deployments(sources, work_pool):
        deployment.apply(work_pool_name=work_pool)
        names.append(f"{deployment.flow_name}/{deployment.name}")
    return names


def ensure_pool(name: str) -> None:
    """Create the process work pool `name` unless it exists (a pool of another type is kept)."""
    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists
    from prefect.workers.process import ProcessWorker

    pool = WorkPoolCreate(
        name=name,
        type="process",
        base_job_template=ProcessWorker.get_default_base_job_template(),
    )
    with get_client(sync_client=True) as client:
        try:
            client.create_work_pool(pool)
            log.info("created the process work pool %s", name)
        except ObjectAlreadyExists:
            log.info("work pool %s exists", name)


def main(argv: list[str] | None = None) -> None:
    """`python -m pipelines.serve [deploy --pool POOL]`."""
    parser = argparse.ArgumentParser(prog="python -m pipelines.serve", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    deploy = commands.add_parser("deploy", help="register the deployments with a work pool")
    deploy.add_argument("--pool", required=True, help="a process work pool's name")
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per API call otherwise
    if arguments.command == "deploy":
        for name in deploy_to_pool(arguments.pool):
            sys.stdout.write(f"deployed {name} to work pool {arguments.pool}\n")
        return
    serve_schedules()


if __name__ == "__main__":
    main()
