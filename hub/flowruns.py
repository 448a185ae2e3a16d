"""The Prefect flow run a harvest runs in: named on its hub runs, ended Crashed when they are
recovered.

A harvest through Prefect is one flow run. When its process dies (kill -9, a stopped worker, a
full disk) Prefect never learns it ended: its flow-run heartbeats are off (they cost every
`hub harvest` up to a second, see `pipelines.orchestration`), and its zombie automation is not
there by default. The flow run then stays Running for ever and, under a work pool's concurrency
limit, holds a slot. The hub's recovery finds the dead process, so it ends that flow run too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

log = logging.getLogger(__name__)

# Set by the harvest flow; harvest threads copy their context, so their runs see it too.
_current: ContextVar[tuple[str, str] | None] = ContextVar("hub_flow_run", default=None)
API_SECONDS = 10.0  # a Prefect API that does not answer must not hold up a recovery


@contextmanager
def running_in(flow_run_id: str, api_url: str) -> Iterator[None]:
    """Name flow run `flow_run_id` of the API at `api_url` on the runs opened inside."""
    token = _current.set((flow_run_id, _without_credentials(api_url)))
    try:
        yield
    finally:
        _current.reset(token)


def current() -> tuple[str, str] | None:
    """(flow run id, API url) of the flow run this harvest runs in, if any."""
    return _current.get()


def crash(flow_runs: set[tuple[str, str]], reason: str) -> int:
    """End each (flow run id, API url) that has not ended as Crashed; how many were ended."""
    if not flow_runs:
        return 0
    # Imported here: only a recovery of runs that ran through Prefect pays for the import.
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_REQUEST_TIMEOUT, PREFECT_API_URL, temporary_settings
    from prefect.states import Crashed

    ended = 0
    for flow_run_id, api in sorted(flow_runs):
        try:
            with (
                temporary_settings(
                    {PREFECT_API_URL: api, PREFECT_API_REQUEST_TIMEOUT: API_SECONDS}
                ),
                get_client(sync_client=True) as client,
            ):
                flow_run = client.read_flow_run(UUID(flow_run_id))
                if flow_run.state is not None and flow_run.state.is_final():
                    continue  # its process ended it, or someone did
                client.set_flow_run_state(flow_run.id, Crashed(message=reason), force=True)
                ended += 1
        except Exception as exc:  # noqa: BLE001 — its server away, the run deleted: the hub's run still fails
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.warning("Prefect flow run %s of a dead harvest not ended: %s", flow_run_id, first)
    if ended:
        log.warning("ended %d Prefect flow run(s) of dead harvests as Crashed", ended)
    return ended


def _without_credentials(url: str) -> str:
    """`url` without a user or password: the runs table is no place for them."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    netloc += f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=netloc))
