#!/usr/bin/env bash
# A local Redis Cluster for development and the tests: 6 nodes on 127.0.0.1 (3 masters, 3 replicas),
# from Debian's redis-server 7, with a short node timeout so that a failover takes seconds.
#
#   bash bin/redis-cluster.sh start [PORT…]   # default 7001-7006; prints REDIS_CLUSTER_NODES=…
#   bash bin/redis-cluster.sh stop  [PORT…]   # stops only the servers this script started on those ports
#
# Each node keeps its files under $REDIS_CLUSTER_DIR (default .data/redis-cluster)/<port>/; the
# cluster bus uses port+10000, which must be free too. Every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
cmd="${1:-start}"
shift || true
PORTS=("$@")
[ ${#PORTS[@]} -gt 0 ] || PORTS=(7001 7002 7003 7004 7005 7006)
ROOT="${REDIS_CLUSTER_DIR:-$PWD/.data/redis-cluster}"
SERVER="${REDIS_SERVER_BIN:-/usr/bin/redis-server}"
CLI="${REDIS_CLI_BIN:-/usr/bin/redis-cli}"

stop() {
  for p in "${PORTS[@]}"; do
    pidfile="$ROOT/$p/redis.pid"
    if [ -f "$pidfile" ]; then
      pid="$(cat "$pidfile")"
      # Only a redis-server started from this node's directory.
      if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "redis-server"; then kill -9 "$pid" 2>/dev/null || true; fi
      rm -f "$pidfile"
    fi
    rm -rf "${ROOT:?}/$p"
  done
}

wait_for() { # seconds, command…
  local tries=$(( $1 * 10 )); shift
  for _ in $(seq "$tries"); do "$@" && return 0; sleep 0.1; done
  return 1
}

all_ok() {
  for p in "${PORTS[@]}"; do "$CLI" -p "$p" cluster info 2>/dev/null | grep -q 'cluster_state:ok' || return 1; done
}

replicas_synced() {
  local info
  for p in "${PORTS[@]}"; do
    info="$("$CLI" -p "$p" info replication 2>/dev/null)" || return 1
    if grep -q 'role:slave' <<<"$info" && ! grep -q 'master_link_status:up' <<<"$info"; then return 1; fi
  done
}

case "$cmd" in
  start)
    [ ${#PORTS[@]} -eq 6 ] || { echo "usage: $0 start [6 ports]" >&2; exit 2; }
    stop
    for p in "${PORTS[@]}"; do
      mkdir -p "$ROOT/$p"
      "$SERVER" --port "$p" --bind 127.0.0.1 --daemonize yes --dir "$ROOT/$p" \
        --pidfile "$ROOT/$p/redis.pid" --logfile "$ROOT/$p/redis.log" \
        --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 1000 \
        --save "" --appendonly no --repl-diskless-sync-delay 0
    done
    for p in "${PORTS[@]}"; do wait_for 10 "$CLI" -p "$p" ping >/dev/null || { echo "node $p did not start (see $ROOT/$p/redis.log)" >&2; exit 1; }; done
    nodes=()
    for p in "${PORTS[@]}"; do nodes+=("127.0.0.1:$p"); done
    "$CLI" --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$ROOT/create.log" 2>&1 \
      || { cat "$ROOT/create.log" >&2; exit 1; }
    wait_for 20 all_ok || { echo "the cluster did not reach cluster_state:ok" >&2; exit 1; }
    # A replica that never finished its first sync refuses to fail over.
    wait_for 30 replicas_synced || { echo "the replicas did not sync" >&2; exit 1; }
    echo "REDIS_CLUSTER_NODES=$(IFS=,; echo "${nodes[*]}")"
    ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop [PORT…]" >&2; exit 2 ;;
esac
