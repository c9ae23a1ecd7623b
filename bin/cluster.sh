#!/usr/bin/env bash
# npm run cluster / cluster:stop — the local cluster under pm2 with its own PM2_HOME (.data/pm2),
# so it never mixes with another pm2 on the machine and `stop` leaves no process behind.
set -euo pipefail
cd "$(dirname "$0")/.."
export PM2_HOME="${PM2_HOME:-$PWD/.data/pm2}"
PM2="node $PWD/node_modules/pm2/bin/pm2"
PORT="${CLUSTER_PORT:-3000}"
RUN_DIR="${CLUSTER_RUN_DIR:-$PWD/.data/cluster}"

case "${1:-start}" in
  start)
    [ -f .env ] && set -a && . ./.env && set +a
    : "${DATABASE_URL:?DATABASE_URL must name the PostgreSQL of the cluster, e.g. postgres://postgres@127.0.0.1:5432/postgres}"
    if [ -z "${REDIS_URL:-}" ] && [ -z "${REDIS_CLUSTER_NODES:-}" ]; then
      echo "REDIS_URL (one Redis, e.g. redis://127.0.0.1:6379) or REDIS_CLUSTER_NODES (a Redis Cluster's seeds, e.g. 127.0.0.1:7001,127.0.0.1:7002; bash bin/redis-cluster.sh start) must be set" >&2
      exit 1
    fi
    if ! { [ -n "${NGINX_BIN:-}" ] && [ -x "$NGINX_BIN" ]; } && ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
      echo "nginx is not installed (the cluster's one origin): apt-get install nginx-light, or set NGINX_BIN" >&2
      exit 1
    fi
    export DATABASE_URL REDIS_URL REDIS_CLUSTER_NODES
    [ "${CLUSTER_SKIP_BUILD:-}" = 1 ] || npm run build --silent
    node dist/bin/migrate.js
    mkdir -p "$PM2_HOME"
    $PM2 start ecosystem.config.js --update-env
    # Ready when nginx answers and the api behind it reports its database and Redis.
    for _ in $(seq 1 120); do
      if curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then
        echo "cluster ready on http://localhost:$PORT"
        exit 0
      fi
      sleep 0.5
    done
    echo "cluster did not become ready on port $PORT; see: PM2_HOME=$PM2_HOME npx pm2 logs" >&2
    exit 1
    ;;
  stop)
    # This cluster's processes only: nginx serving RUN_DIR, and the api, gateways and workers whose pm2 is
    # this PM2_HOME (another cluster started from the same checkout is left alone).
    ours() {
      for p in /proc/[0-9]*; do
        cmd=$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null) || continue
        case "$cmd" in
          *"$RUN_DIR"*) echo "${p#/proc/}" ;;
          *"$PWD/dist/bin/api.js"* | *"$PWD/dist/bin/gateway.js"* | *"$PWD/dist/bin/worker.js"*)
            tr '\0' '\n' < "$p/environ" 2>/dev/null | grep -qxF "PM2_HOME=$PM2_HOME" && echo "${p#/proc/}" ;;
        esac
      done
    }
    if [ -d "$PM2_HOME" ]; then $PM2 kill >/dev/null 2>&1 || true; fi
    # nginx's master exits last; wait until nothing of ours is left.
    for _ in $(seq 1 40); do
      [ -z "$(ours)" ] && exit 0
      sleep 0.25
    done
    left=$(ours)
    [ -n "$left" ] && kill -9 $left 2>/dev/null || true
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
