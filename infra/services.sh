#!/usr/bin/env bash
# Start what the test suite talks to, if it is not running already: PostgreSQL, Redis and
# Mosquitto (over real connections), and Debian's Chromium for the UI tests. Idempotent; needs root
# only for what is missing.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
mqtt_up() { (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; }
apt_ready=0
apt_install() {
  [ $apt_ready = 1 ] || { apt-get update -qq; apt_ready=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_up; then
  echo "services: installing PostgreSQL"
  apt_install postgresql
fi
if ! command -v redis-server >/dev/null 2>&1 && ! redis_up; then
  echo "services: installing Redis"
  apt_install redis-server
fi

if ! pg_up; then
  echo "services: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
pg_up || { echo "services: PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }
# The suite connects as the current user to database `test` (each test in its own schema).
if ! psql -h 127.0.0.1 -d test -Atc 'select 1' >/dev/null 2>&1; then
  echo "services: creating PostgreSQL role $(id -un) and database test"
  su postgres -c "psql -qc \"CREATE ROLE \\\"$(id -un)\\\" SUPERUSER LOGIN\"" 2>/dev/null || true
  su postgres -c "createdb -O '$(id -un)' test"
fi

if ! redis_up; then
  echo "services: starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 30); do redis_up && break; sleep 1; done
fi
redis_up || { echo "services: Redis is not reachable on 127.0.0.1:6379" >&2; exit 1; }

# The MQTT bridge's tests talk to Mosquitto on 1883 and start private brokers of their own.
if ! command -v mosquitto >/dev/null 2>&1; then
  echo "services: installing Mosquitto"
  apt_install mosquitto
fi
if ! mqtt_up; then
  echo "services: starting Mosquitto"
  if [ -f /etc/mosquitto/mosquitto.conf ]; then
    mosquitto -d -c /etc/mosquitto/mosquitto.conf
  else
    mosquitto -d -p 1883
  fi
  for _ in $(seq 1 30); do mqtt_up && break; sleep 1; done
fi
mqtt_up || { echo "services: Mosquitto is not reachable on 127.0.0.1:1883" >&2; exit 1; }

if ! command -v chromium >/dev/null 2>&1; then
  echo "services: installing Debian's chromium for the UI tests"
  apt_install chromium
fi
echo "services: PostgreSQL, Redis, Mosquitto and Chromium ready"
