#!/usr/bin/env bash
# netns-rehearsal.sh [BUILD] -- a multi-host rehearsal on one machine.
#
# Builds three "hosts" as network namespaces joined by a bridge on a private
# /24 that exists only inside them (10.203.7.0/24):
#
#   mida-cloud-N  10.203.7.1  Redis, PostgreSQL (a private cluster made
#                             here), and one `mida ingest`
#   mida-edge-N   10.203.7.2  one producer (host name "edge-node")
#   mida-hpc-N    10.203.7.3  two producers (host name "hpc-node")
#
# Each producer runs in its own UTS namespace too, so its records carry its
# host's name. The producers reach the broker at 10.203.7.1 only; they have
# no route to this machine's own addresses or services (checked). At the
# end one query in the cloud namespace must see every task of every host.
#
# Needs root (ip netns, veth, a bridge), iproute2, redis-server and the
# PostgreSQL server binaries. Exit status: 0 rehearsal passed, 1 failed,
# 77 cannot run here (not root, or namespaces not permitted), with the
# reason on stderr. Everything it creates is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
tasks=${MIDA_REHEARSAL_TASKS:-20000}
case $build in /*) ;; *) build=$PWD/$build ;; esac
mida=$build/src/cli/mida
produce=$build/tests/mida_produce
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)

skip() { echo "netns-rehearsal: cannot run here: $*" >&2; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root for ip netns"
command -v ip >/dev/null || skip "iproute2 (ip) is not installed"
command -v redis-server >/dev/null || skip "redis-server is not installed"
[ -x "$pgbin/initdb" ] || skip "PostgreSQL server binaries are not installed"
[ -x "$mida" ] && [ -x "$produce" ] || skip "build $build first"
grep -q 'MIDA_HAVE_HIREDIS 1' "$build/mida_config.h" &&
  grep -q 'MIDA_HAVE_LIBPQ 1' "$build/mida_config.h" ||
  skip "this build lacks the Redis or PostgreSQL backend"

id=$$
cloud=mida-cloud-$id edge=mida-edge-$id hpc=mida-hpc-$id
tmp=$(mktemp -d /tmp/mida-netns.XXXXXX)
chmod 755 "$tmp"
pids=()

cleanup() {
  set +e
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  if [ -f "$tmp/pg/postmaster.pid" ]; then
    ip netns exec "$cloud" runuser -u postgres -- \
      "$pgbin/pg_ctl" -D "$tmp/pg" -m immediate -w stop >/dev/null 2>&1
  fi
  for ns in "$cloud" "$edge" "$hpc"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

ip netns add "$cloud" 2>/dev/null || skip "ip netns add is not permitted"
ip netns add "$edge"
ip netns add "$hpc"
for ns in "$cloud" "$edge" "$hpc"; do ip -n "$ns" link set lo up; done
ip -n "$cloud" link add br0 type bridge
ip -n "$cloud" addr add 10.203.7.1/24 dev br0
ip -n "$cloud" link set br0 up
n=2
for ns in "$edge" "$hpc"; do
  ip link add "m$n-$id" netns "$ns" type veth peer name "b$n-$id" \
    netns "$cloud"
  ip -n "$ns" link set "m$n-$id" name eth0
  ip -n "$ns" addr add "10.203.7.$n/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$cloud" link set "b$n-$id" master br0
  ip -n "$cloud" link set "b$n-$id" up
  n=$((n + 1))
done
echo "rehearsal: hosts cloud 10.203.7.1, edge 10.203.7.2, hpc 10.203.7.3"

# The cloud: PostgreSQL (a private cluster) and Redis on 10.203.7.1.
mkdir -p "$tmp/pg" "$tmp/sock"
chown postgres "$tmp/pg" "$tmp/sock"
runuser -u postgres -- "$pgbin/initdb" -D "$tmp/pg" -U postgres \
  --auth=trust >"$tmp/initdb.log" 2>&1 || { cat "$tmp/initdb.log"; exit 1; }
echo "host all all 10.203.7.0/24 trust" >>"$tmp/pg/pg_hba.conf"
ip netns exec "$cloud" runuser -u postgres -- "$pgbin/pg_ctl" -D "$tmp/pg" \
  -l "$tmp/sock/pg.log" -w -o "-c listen_addresses=10.203.7.1 -p 5432 \
  -k $tmp/sock -c fsync=off" start >/dev/null
ip netns exec "$cloud" redis-server --bind 10.203.7.1 --port 6379 \
  --requirepass rehearsal --save "" --appendonly no --dir "$tmp" \
  >"$tmp/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
  ip netns exec "$cloud" bash -c 'exec 3<>/dev/tcp/10.203.7.1/6379' \
    2>/dev/null && break
  sleep 0.1
done
broker=redis://:rehearsal@10.203.7.1:6379/mida
store=postgresql://postgres@10.203.7.1:5432/postgres

# Traffic stays inside: a producer host reaches the broker's address and
# nothing of this machine's own (its services listen on 127.0.0.1).
if ip netns exec "$edge" timeout 2 bash -c \
    'exec 3<>/dev/tcp/127.0.0.1/6379' 2>/dev/null; then
  echo "rehearsal: the edge namespace reaches this machine's Redis" >&2
  exit 1
fi
ip netns exec "$edge" timeout 2 bash -c 'exec 3<>/dev/tcp/10.203.7.1/6379'

ip netns exec "$cloud" env -i PATH="$PATH" "$mida" ingest --from "$broker" \
  --to "$store" --name cloud-1 >"$tmp/ingest.log" 2>&1 &
ingest_pid=$!
pids+=($ingest_pid)

# The producers: one on the edge, two on the HPC node.
run_producer() { # namespace hostname label
  ip netns exec "$1" unshare --uts bash -c \
    'hostname "$1"; shift; exec env -i PATH="$PATH" "$@"' _ "$2" \
    MIDA_STORE="$broker" MIDA_SPOOL="$tmp/spool-$3" \
    "$produce" "$tasks" "$3" 120000
}
run_producer "$edge" edge-node sensor >"$tmp/p1.log" 2>&1 &
p1=$!
run_producer "$hpc" hpc-node simulate >"$tmp/p2.log" 2>&1 &
p2=$!
run_producer "$hpc" hpc-node analyse >"$tmp/p3.log" 2>&1 &
p3=$!
for p in $p1 $p2 $p3; do
  wait "$p" || { echo "rehearsal: a producer failed:" >&2;
                 cat "$tmp"/p*.log >&2; exit 1; }
done

want=$((3 * tasks))
got=0
for _ in $(seq 240); do
  got=$(ip netns exec "$cloud" "$mida" --store "$store" query --csv \
        "SELECT count(*) FROM task WHERE status = 'FINISHED'" 2>/dev/null |
        tail -n1 | tr -d '\r') || got=0
  [ "$got" = "$want" ] && break
  kill -0 "$ingest_pid" 2>/dev/null ||
    { echo "rehearsal: ingest stopped:" >&2; cat "$tmp/ingest.log" >&2;
      exit 1; }
  sleep 0.5
done
echo "rehearsal: one query on the cloud sees every host's tasks:"
ip netns exec "$cloud" "$mida" --store "$store" query \
  "SELECT host, activity, count(*) AS tasks, count(DISTINCT id) AS ids
   FROM task GROUP BY host, activity ORDER BY host, activity"
kill -INT "$ingest_pid"
wait "$ingest_pid" || true
sed 's/^/rehearsal: /' "$tmp/ingest.log"
summary=$(ip netns exec "$cloud" "$mida" --store "$store" query --csv \
  "SELECT string_agg(host || ':' || n, ' ' ORDER BY host) FROM
   (SELECT host, count(*) AS n FROM task GROUP BY host) t" | tail -n1 |
  tr -d '\r"')
expect="edge-node:$tasks hpc-node:$((2 * tasks))"
if [ "$got" != "$want" ] || [ "$summary" != "$expect" ]; then
  echo "rehearsal: FAILED: $got of $want tasks; by host: $summary" >&2
  exit 1
fi
echo "rehearsal: OK: $want tasks from 3 producers on 2 hosts, by host:" \
  "$summary"
