#!/usr/bin/env bash
# bench/scan.sh — Berth's built-in vulnerability scanner, measured: berthbench's scan-one and
# scan-all scenarios (bench/cmd/berthbench/scan.go) against a fresh Berth on SQLite.
#
#   bash bench/scan.sh                  # full run; appends an entry to bench/RESULTS.md
#   BENCH_SMOKE=1 bash bench/scan.sh    # tiny sizes, well under a minute, no RESULTS.md
#
# It builds Berth and berthbench, starts Berth on a free loopback port with a fresh data
# directory and BERTH_VULNDB_REPOSITORY=library/vulndb (where berthbench pushes its OSV
# bundle), samples the idle RSS, runs `berthbench -scenarios scan -pid <berth>` and appends an
# entry with the BENCH lines and the aims: a first scan of one ~100-package image under 1 s,
# Berth's peak RSS during a scan-all of 1,000 artifacts under 300 MB. The Berth it started is
# stopped on exit, whatever happens.
#
# Environment:
#   BENCH_SMOKE=1      tiny sizes (scale 0.01: 10 scan-all images; 1 scan-one image of 1 MiB;
#                      20 packages)
#   BENCH_SCAN_ARGS    extra berthbench flags, e.g. "-scan-images 10 -scan-all-images 2000"
#   BENCH_RESULTS      file to append the entry to (default bench/RESULTS.md; smoke: none)
#   BENCH_KEEP=1       keep the data directory (default: deleted, logs kept)
#   BENCH_PPROF=1      start Berth with BERTH_PPROF=true (profile it while the run goes)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

SMOKE="${BENCH_SMOKE:-0}"
STAMP="$(date -u +%Y%m%d-%H%M%S)"
WORK="$(mktemp -d "/tmp/berth-scan.$STAMP.XXXX")"
LOG="/tmp/berth-scan-$STAMP.log"
VULNDB_REPO=library/vulndb
if [[ "$SMOKE" == 1 ]]; then
  SIZES=(-scale 0.01 -scan-images 1 -scan-layer-mib 1 -scan-all-layer-kib 16 -scan-packages 20)
  RESULTS="${BENCH_RESULTS:-}"
  MAX_TIME=120
else
  SIZES=()
  RESULTS="${BENCH_RESULTS:-$ROOT/bench/RESULTS.md}"
  # Per scenario. The aim is minutes; the bound is there so that a stuck scan-all ends the run.
  MAX_TIME=1800
fi
read -r -a EXTRA <<<"${BENCH_SCAN_ARGS:-}"
SEED="$(date +%s%N)"
PASS="$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
START_TS="$(date +%s)"
LOAD_AT_START="$(cut -d' ' -f1-3 /proc/loadavg)"

say() { echo "scan.sh: $*" >&2; }

BERTH_PID=""
cleanup() {
  local rc=$?
  [[ -n "$BERTH_PID" ]] && stop_pid "$BERTH_PID"
  if [[ "${BENCH_KEEP:-0}" != 1 ]]; then
    rm -rf "$WORK/data" "$WORK/berth" "$WORK/berthbench"
  fi
  say "logs: $LOG and $WORK/berth.log"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "building berth and berthbench into $WORK"
go build -o "$WORK/berth" ./cmd/berth
go build -o "$WORK/berthbench" ./bench/cmd/berthbench

PORT="$(pick_port)"
URL="http://127.0.0.1:$PORT"
mkdir -p "$WORK/data"
env_args=(BERTH_ADMIN_PASSWORD="$PASS" BERTH_LOG_LEVEL=warn BERTH_EXTERNAL_URL="$URL" BERTH_VULNDB_REPOSITORY="$VULNDB_REPO" BERTH_AIR_GAPPED=true)
[[ "${BENCH_PPROF:-0}" == 1 ]] && env_args+=(BERTH_PPROF=true)
env "${env_args[@]}" "$WORK/berth" serve --addr "127.0.0.1:$PORT" --data-dir "$WORK/data" >"$WORK/berth.log" 2>&1 &
BERTH_PID=$!
if ! wait_ready "$PORT" "$BERTH_PID"; then
  say "berth did not become ready; last log lines:"; tail -20 "$WORK/berth.log" >&2
  exit 1
fi
say "berth up on $URL (pid $BERTH_PID)"
sleep 2
echo "IDLE registry=berth-sqlite rss_mb=$(rss_mb "$BERTH_PID")" | tee -a "$LOG"

set +e
BERTHBENCH_PASSWORD="$PASS" timeout -k 10 $((2 * MAX_TIME + 60)) "$WORK/berthbench" \
  -url "$URL" -user admin -name berth-sqlite -pid "$BERTH_PID" -scenarios scan -seed "$SEED" \
  -scan-vulndb-repo "$VULNDB_REPO" -max-time "${MAX_TIME}s" "${SIZES[@]}" "${EXTRA[@]}" 2>&1 | tee -a "$LOG" >&2
RC=${PIPESTATUS[0]}
set -e
FAILED=""
[[ "$RC" != 0 ]] && FAILED="berthbench exited $RC"
if ! kill -0 "$BERTH_PID" 2>/dev/null; then FAILED+="${FAILED:+; }berth (pid $BERTH_PID) died"; fi
ELAPSED=$(( $(date +%s) - START_TS ))

# ---- report --------------------------------------------------------------------------------
line() { grep -m1 "^BENCH scenario=$1 " "$LOG" || true; }
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }
ONE="$(line scan-one)" ALL="$(line scan-all)"
aim() { # value limit: met when value < limit
  if [[ -z "$1" ]]; then echo "no value"; elif awk -v v="$1" -v l="$2" 'BEGIN { exit !(v < l) }'; then echo met; else echo "**missed**"; fi
}
p50="$(field "$ONE" scan_p50_ms)" rss="$(field "$ALL" scan_peak_rss_mb)"
TABLE="$(cat <<EOF
| measure | value | aim |
|---|---:|---|
| scan-one: first scan of one image ($(field "$ONE" packages) packages, $(field "$ONE" layer_mib) MiB layer), p50 of $(field "$ONE" images), request to report | ${p50:-?} ms | < 1000 ms: $(aim "$p50" 1000) |
| scan-one: slowest first scan | $(field "$ONE" scan_max_ms) ms | |
| scan-one: the server's own start-to-end time, p50 | $(field "$ONE" server_scan_p50_ms) ms | |
| scan-one: wait from the request until a job worker starts the scan, p50 | $(field "$ONE" pickup_p50_ms) ms | |
| scan-one: rescan of an image already scanned (stored inventory) | $(field "$ONE" rescan_ms) ms | |
| scan-all: artifacts scanned (ok / skipped / failed) | $(field "$ALL" artifacts) ($(field "$ALL" scanned_ok) / $(field "$ALL" skipped) / $(field "$ALL" failed)) in $(field "$ALL" seconds) s | |
| scan-all: throughput | $(field "$ALL" artifacts_per_s) artifacts/s | |
| scan-all: Berth's peak RSS during the scan-all | ${rss:-?} MB | < 300 MB: $(aim "$rss" 300) |
| vulnerability database import ($(field "$ONE" osv_records) OSV records) | $(field "$ONE" vulndb_import_s) s | |
| idle RSS after start | $(sed -n 's/^IDLE .* rss_mb=//p' "$LOG") MB | |
EOF
)"
echo
echo "$TABLE"
echo
say "wall time ${ELAPSED}s; raw lines in $LOG"

SERVER_ERRORS="$(server_errors "$WORK/berth.log")"$'\n'
echo "$SERVER_ERRORS" >&2

if [[ -n "$RESULTS" ]]; then
  if [[ ! -f "$RESULTS" ]]; then
    printf '# Benchmark results\n\nEntries are appended by `bench/compare.sh` and `bench/scan.sh` (newest last); see bench/README.md for how to read them.\n' >"$RESULTS"
  fi
  {
    echo
    echo "## $(date -u '+%Y-%m-%d %H:%M UTC') — scanning (bench/scan.sh)"
    echo
    echo "- machine: \`$(uname -m)\`, nproc $(nproc), load average at start: $LOAD_AT_START"
    echo "- $(go version), Berth $(berth_rev), SQLite"
    echo "- sizes: scan-one $(field "$ONE" images) images of $(field "$ONE" packages) packages, $(field "$ONE" layer_mib) MiB layer ($(field "$ONE" layer_gz_mib) MiB gzip); scan-all $(field "$ALL" images) images of $(field "$ALL" layer_kib) KiB pushed by $(field "$ALL" clients) clients in $(field "$ALL" push_s) s; OSV bundle of $(field "$ONE" osv_records) records${EXTRA[*]:+; extra flags: ${EXTRA[*]}}"
    echo "- wall time ${ELAPSED}s; raw log \`$LOG\`"
    if [[ -n "$FAILED" ]]; then echo "- **errors:** $FAILED"; fi
    echo
    echo "$TABLE"
    echo
    entry_logs "Server log" "$SERVER_ERRORS" "$LOG"
  } >>"$RESULTS"
  say "appended the entry to $RESULTS"
fi

if [[ -n "$FAILED" ]]; then
  say "FAILED: $FAILED"
  exit 1
fi
say "both scenarios ran without errors"
