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
    if [ -d "$PM2_HOME" ]; then $PM2 kill >/dev/null 2>&1 || true; fi
    # nginx's master exits last; wait until nothing of ours is left.
    for _ in $(seq 1 40); do
      pgrep -f "$RUN_DIR" >/dev/null 2>&1 || pgrep -f "$PWD/dist/bin/(api|gateway).js" >/dev/null 2>&1 || exit 0
      sleep 0.25
    done
    pkill -9 -f "$RUN_DIR" 2>/dev/null || true
    pkill -9 -f "$PWD/dist/bin/(api|gateway).js" 2>/dev/null || true
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
