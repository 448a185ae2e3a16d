#!/usr/bin/env bash
# Scheduled harvests on several machines: one Prefect server on PostgreSQL, a process work pool,
# and workers on the harvest machines (README, "Schedules on several machines").
#
#   infra/prefect.sh server   # the Prefect server (PREFECT_API_DATABASE_CONNECTION_URL)
#   infra/prefect.sh deploy   # create the work pool if missing, (re)deploy every scheduled source
#   infra/prefect.sh worker   # a worker: runs the pool's flow runs as local processes
#
# Settings come from the environment, or from infra/.env (see infra/.env.example).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
if [ -f "$here/.env" ]; then
  set -a
  # shellcheck disable=SC1091
  . "$here/.env"
  set +a
fi
venv="${HUB_VENV:-$root/.venv}"
pool="${HUB_PREFECT_POOL:-hub-harvest}"
export PREFECT_SERVER_ANALYTICS_ENABLED="${PREFECT_SERVER_ANALYTICS_ENABLED:-false}"

need_api() {
  if [ -z "${PREFECT_API_URL:-}" ]; then
    echo "prefect.sh: set PREFECT_API_URL to the Prefect server's API (http://HOST:4200/api)" >&2
    exit 2
  fi
}

case "${1:-}" in
  server)
    case "${PREFECT_API_DATABASE_CONNECTION_URL:-}" in
      postgresql*) ;;
      *) echo "prefect.sh: PREFECT_API_DATABASE_CONNECTION_URL is not PostgreSQL: workers on" \
              "several machines need it (postgresql+asyncpg://USER:PASSWORD@HOST/prefect)" >&2 ;;
    esac
    exec "$venv/bin/prefect" server start \
      --host "${PREFECT_SERVER_API_HOST:-0.0.0.0}" --port "${PREFECT_SERVER_API_PORT:-4200}"
    ;;
  deploy)
    need_api
    cd "$root"
    exec "$venv/bin/python" -m pipelines.serve deploy --pool "$pool"
    ;;
  worker)
    need_api
    cd "$root"
    exec "$venv/bin/prefect" worker start --pool "$pool" --type process \
      --limit "${HUB_HARVEST_CONCURRENCY:-4}"
    ;;
  *)
    echo "usage: infra/prefect.sh server|deploy|worker" >&2
    exit 2
    ;;
esac
