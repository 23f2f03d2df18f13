#!/bin/sh
# bench_run_fixed.sh -- the instructions that `mida run` costs around a
# command that does nothing (/bin/true), and that the preload library
# costs a process that does nothing, counted by callgrind (issue 14).
#
# bench_run_phases.py times `mida run`'s start and end; on a shared 2-core
# VM a millisecond moves with the load, an instruction count does not.
# Counted:
#   run (store there)  `mida run -- /bin/true` into a store a first run
#                      made: the process and its threads, not the command
#                      nor the detached `mida recover --settle`;
#   run (new store)    the same into a store that does not exist yet;
#   of which           SQLite compiling SQL (sqlite3Prepare: the schema
#                      read by each new connection, and each statement
#                      the first time a connection uses it) and reading
#                      the schema (sqlite3Init);
#   process            /bin/true under the library with a spool
#                      (MIDA_PRELOAD_SPOOL), less /bin/true alone.
#
# usage: bench/bench_run_fixed.sh [BUILD]   (default build-release); -h or
#        --help says so; a build without `mida` is refused with exit
#        status 2 before valgrind runs. Prints a table and a JSON line.
set -eu
usage="usage: bench_run_fixed.sh [BUILD]"
case ${1:-} in
-h | --help)
  printf '%s\n' "$usage" "  BUILD  a build directory (default build-release)"
  exit 0
  ;;
esac
refuse() {
  printf 'bench_run_fixed.sh: %s\n%s\n' "$1" "$usage" >&2
  exit 2
}
[ $# -le 1 ] || refuse "'$2' is one argument too many"
build=${1:-build-release}
mida=$build/src/cli/mida
lib=$build/src/preload/libmida_preload.so
[ -x "$mida" ] && [ -f "$lib" ] ||
  refuse "'$build' is not a build directory (no src/cli/mida or libmida_preload.so in it)"
command -v valgrind >/dev/null || refuse "valgrind is not installed"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Waits for the detached recover a run leaves (src/cli/run_after.h).
settled() {
  flock "$1.spool/shipping.lock" true
}

# Instructions of one process under callgrind: its total, and the
# inclusive counts of sqlite3Prepare and sqlite3Init (0 when not called).
# $client_env (VAR=VALUE words, or nothing) is the process's environment
# beside this one's.
client_env=
count() {
  tag=$1
  shift
  env $client_env valgrind --tool=callgrind \
    --callgrind-out-file="$out/$tag.cg" "$@" \
    >"$out/$tag.out" 2>"$out/$tag.err" || { cat "$out/$tag.err" >&2; exit 1; }
  callgrind_annotate --inclusive=yes "$out/$tag.cg" 2>/dev/null | awk '
    /PROGRAM TOTALS/ { gsub(",", "", $1); t = $1 }
    /:sqlite3Prepare / { gsub(",", "", $1); if ($1 > p) p = $1 }
    /:sqlite3Init / { gsub(",", "", $1); if ($1 > i) i = $1 }
    END { printf "%d %d %d\n", t, p + 0, i + 0 }'
}

"$mida" --store "$out/there.db" run -- /bin/true
settled "$out/there.db"
set -- $(count there "$mida" --store "$out/there.db" run -- /bin/true)
there=$1 there_prepare=$2 there_init=$3
settled "$out/there.db"
set -- $(count new "$mida" --store "$out/new.db" run -- /bin/true)
new=$1 new_prepare=$2 new_init=$3
settled "$out/new.db"
set -- $(count plain /bin/true)
plain=$1
# The library in LD_PRELOAD as valgrind starts /bin/true: valgrind's
# tool is a static program, which the loader's LD_PRELOAD does not reach;
# the client is given it (after valgrind's own preload).
client_env="MIDA_PRELOAD_SPOOL=$out/lib.spool LD_PRELOAD=$lib"
set -- $(count lib /bin/true)
client_env=
process=$(($1 - plain))

awk -v there="$there" -v tp="$there_prepare" -v ti="$there_init" \
  -v new="$new" -v np="$new_prepare" -v ni="$new_init" \
  -v plain="$plain" -v process="$process" 'BEGIN {
  printf "run (store there)  %10d instructions; SQL compiled %d (%.0f %%), of which schema read %d\n",
         there, tp, 100 * tp / there, ti
  printf "run (new store)    %10d instructions; SQL compiled %d (%.0f %%), of which schema read %d\n",
         new, np, 100 * np / new, ni
  printf "process            %10d instructions more than /bin/true alone (%d)\n",
         process, plain
  printf "{\"bench\":\"run_fixed_ir\",\"run_store_there\":%d," \
         "\"run_store_there_sql_compile\":%d,\"run_store_there_schema_read\":%d," \
         "\"run_new_store\":%d,\"run_new_store_sql_compile\":%d," \
         "\"process_library\":%d,\"process_plain\":%d}\n",
         there, tp, ti, new, np, process, plain
}'
