#!/usr/bin/env bash
# bench/portal.sh — the web portal with a registry the size of a real one: berthbench's portal
# scenario (bench/cmd/berthbench/portal.go) against a fresh Berth on SQLite, then on PostgreSQL.
#
#   bash bench/portal.sh                  # 100,000 artifacts in 1,000 repositories; appends an entry to bench/RESULTS.md
#   BENCH_SMOKE=1 bash bench/portal.sh    # 200 artifacts in 10 repositories, no RESULTS.md
#
# Per database it starts Berth on a free loopback port with a fresh data directory (and a fresh
# PostgreSQL database), runs `berthbench -scenarios portal`, and stops it. The entry gives, per
# kind of page, p50 and p95 of a whole page load from two concurrent signed-in browsers, and
# what a browser with an empty cache transfers for the page and its assets; the aims are p95
# under 50 ms for the projects, repository and artifact pages, and under 150 KB for the
# heaviest page. On PostgreSQL the database is vacuumed and analysed between the seeding and the
# page loads (the state autovacuum reaches minutes after a bulk load).
#
# Environment:
#   BENCH_SMOKE=1        tiny sizes
#   BENCH_PG=0           leave out PostgreSQL
#   BENCH_PORTAL_ARGS    extra berthbench flags, e.g. "-portal-artifacts 20000 -portal-requests 500"
#   BENCH_RESULTS        file to append the entry to (default bench/RESULTS.md; smoke: none)
#   PGHOST_URL           PostgreSQL server (default postgres://postgres@127.0.0.1:5432)
#   BENCH_PPROF=1        start Berth with BERTH_PPROF=true
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

SMOKE="${BENCH_SMOKE:-0}"
STAMP="$(date -u +%Y%m%d-%H%M%S)"
WORK="$(mktemp -d "/tmp/berth-portal.$STAMP.XXXX")"
LOG="/tmp/berth-portal-$STAMP.log"
PGURL="${PGHOST_URL:-postgres://postgres@127.0.0.1:5432}"
if [[ "$SMOKE" == 1 ]]; then
  SIZES=(-portal-artifacts 200 -portal-repos 10 -portal-requests 20)
  RESULTS="${BENCH_RESULTS:-}"
  MAX_TIME=300
else
  SIZES=()
  RESULTS="${BENCH_RESULTS:-$ROOT/bench/RESULTS.md}"
  MAX_TIME=3600
fi
read -r -a EXTRA <<<"${BENCH_PORTAL_ARGS:-}"
SEED="$(date +%s%N)"
PASS="$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
START_TS="$(date +%s)"
LOAD_AT_START="$(cut -d' ' -f1-3 /proc/loadavg)"
# Read before the run: the entry appended at the end would make the tree look changed.
REV="$(berth_rev)"

say() { echo "portal.sh: $*" >&2; }

BERTH_PID="" PGDB=""
cleanup() {
  local rc=$?
  [[ -n "$BERTH_PID" ]] && stop_pid "$BERTH_PID"
  if [[ -n "$PGDB" ]]; then
    psql -q "$PGURL/postgres?sslmode=disable" -c "DROP DATABASE IF EXISTS $PGDB WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK/sqlite" "$WORK/postgres" "$WORK/berth" "$WORK/berthbench"
  say "logs: $LOG and $WORK/berth-*.log"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "building berth and berthbench into $WORK"
go build -o "$WORK/berth" ./cmd/berth
go build -o "$WORK/berthbench" ./bench/cmd/berthbench

FAILED=""
run_one() { # name dburl [command run after seeding]
  local name=$1 dburl=$2 after=${3:-} port rc
  port="$(pick_port)"
  mkdir -p "$WORK/$name"
  local env=(BERTH_ADMIN_PASSWORD="$PASS" BERTH_LOG_LEVEL=warn BERTH_EXTERNAL_URL="http://127.0.0.1:$port" BERTH_AIR_GAPPED=true)
  [[ -n "$dburl" ]] && env+=(BERTH_DATABASE_URL="$dburl")
  [[ "${BENCH_PPROF:-0}" == 1 ]] && env+=(BERTH_PPROF=true)
  env "${env[@]}" "$WORK/berth" serve --addr "127.0.0.1:$port" --data-dir "$WORK/$name" >"$WORK/berth-$name.log" 2>&1 &
  BERTH_PID=$!
  if ! wait_ready "$port" "$BERTH_PID"; then
    say "berth-$name did not become ready; last log lines:"; tail -20 "$WORK/berth-$name.log" >&2
    FAILED+="${FAILED:+; }berth-$name did not start"
    BERTH_PID=""
    return
  fi
  say "berth-$name up on 127.0.0.1:$port (pid $BERTH_PID)"
  set +e
  BERTHBENCH_PASSWORD="$PASS" timeout -k 10 $((MAX_TIME + 60)) "$WORK/berthbench" \
    -url "http://127.0.0.1:$port" -user admin -name "berth-$name" -pid "$BERTH_PID" -scenarios portal -seed "$SEED" \
    -max-time "${MAX_TIME}s" -portal-after-seed "$after" "${SIZES[@]}" "${EXTRA[@]}" 2>&1 | tee -a "$LOG" >&2
  rc=${PIPESTATUS[0]}
  set -e
  [[ "$rc" != 0 ]] && FAILED+="${FAILED:+; }berthbench against berth-$name exited $rc"
  if ! kill -0 "$BERTH_PID" 2>/dev/null; then FAILED+="${FAILED:+; }berth-$name died"; fi
  stop_pid "$BERTH_PID"
  BERTH_PID=""
}

DBS=(sqlite)
run_one sqlite ""
if [[ "${BENCH_PG:-1}" != 0 ]]; then
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    PGDB="berth_portal_${STAMP//-/_}_$$"
    psql -q "$PGURL/postgres?sslmode=disable" -c "CREATE DATABASE $PGDB" >/dev/null
    # After a bulk load PostgreSQL's first reads of each new page also write it (hint bits),
    # until autovacuum has been through; VACUUM ANALYZE brings the steady state at once.
    run_one postgres "$PGURL/$PGDB?sslmode=disable" "psql -q '$PGURL/$PGDB?sslmode=disable' -c 'VACUUM ANALYZE'"
    DBS+=(postgres)
  elif [[ "$SMOKE" == 1 ]]; then
    say "PostgreSQL not reachable on 127.0.0.1:5432: smoke run without it"
  else
    say "PostgreSQL not reachable on 127.0.0.1:5432 (start it, or BENCH_PG=0 to leave it out)"
    exit 1
  fi
fi
ELAPSED=$(( $(date +%s) - START_TS ))

# ---- report --------------------------------------------------------------------------------
line() { grep -m1 "^BENCH scenario=portal registry=$1 " "$LOG" || true; }
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }
aim() { # value limit: met when value < limit
  if [[ -z "$1" ]]; then echo "no value"; elif awk -v v="$1" -v l="$2" 'BEGIN { exit !(v < l) }'; then echo met; else echo "**missed**"; fi
}
declare -A DESC=(
  [projects]="projects list"
  [project]="project page (repositories, first page)"
  [project-deep]="project page, a random page of its repositories"
  [repository]="repository page (artifacts, first 25)"
  [repository-100]="repository page with 100 artifacts"
  [artifact]="artifact page"
  [search]="search for a repository"
)
HEAD="| page |"; SEP="|---|"
for db in "${DBS[@]}"; do HEAD+=" $db p50 / p95 ms | $db KB |"; SEP+="---:|---:|"; done
HEAD+=" aim |"; SEP+="---|"
TABLE="$HEAD"$'\n'"$SEP"
for kind in projects project project-deep repository repository-100 artifact search; do
  row="| ${DESC[$kind]} |"
  verdict=""
  for db in "${DBS[@]}"; do
    l="$(line "berth-$db")"
    p95="$(field "$l" "${kind}_p95_ms")"
    row+=" $(field "$l" "${kind}_p50_ms") / ${p95:-?} | $(field "$l" "${kind}_kb") |"
    case "$kind" in projects|repository|repository-100|artifact|project) verdict+="${verdict:+, }$db $(aim "$p95" 50)";; esac
  done
  [[ -n "$verdict" ]] && verdict="p95 < 50 ms: $verdict"
  TABLE+=$'\n'"$row $verdict |"
done
heaviest=""
for db in "${DBS[@]}"; do
  kb="$(field "$(line "berth-$db")" max_kb)"
  heaviest+="${heaviest:+; }$db ${kb:-?} KB: $(aim "$kb" 150)"
done
echo
echo "$TABLE"
echo
say "heaviest page with its assets: $heaviest"
say "wall time ${ELAPSED}s; raw lines in $LOG"

SERVER_ERRORS="$(server_errors "$WORK"/berth-*.log)"$'\n'
echo "$SERVER_ERRORS" >&2

if [[ -n "$RESULTS" ]]; then
  first="$(line berth-sqlite)"
  {
    echo
    echo "## $(date -u '+%Y-%m-%d %H:%M UTC') — web portal (bench/portal.sh)"
    echo
    echo "- machine: \`$(uname -m)\`, nproc $(nproc), load average at start: $LOAD_AT_START"
    echo "- $(go version), Berth $REV, ${DBS[*]}"
    echo "- $(field "$first" artifacts) artifacts in $(field "$first" repos) repositories of one project (seeded in $(for db in "${DBS[@]}"; do echo -n "$db $(field "$(line "berth-$db")" seed_s) s "; done)); each kind of page loaded ${EXTRA[*]:+with extra flags ${EXTRA[*]}, }by two concurrent signed-in clients at random repositories and artifacts; KB is what a browser with an empty cache transfers for the page and its assets (compressed where the server compresses)"
    echo "- heaviest page with its assets: $heaviest"
    echo "- wall time ${ELAPSED}s; raw log \`$LOG\`"
    if [[ -n "$FAILED" ]]; then echo "- **errors:** $FAILED"; fi
    echo
    echo "$TABLE"
    echo
    entry_logs "Server logs" "$SERVER_ERRORS" "$LOG"
  } >>"$RESULTS"
  say "appended the entry to $RESULTS"
fi

if [[ -n "$FAILED" ]]; then
  say "FAILED: $FAILED"
  exit 1
fi
say "done without errors"
