#!/usr/bin/env bash
# bench/profile.sh SCENARIO [sqlite|postgres] — profile Berth while one berthbench scenario runs.
#
#   bash bench/profile.sh small-push
#   bash bench/profile.sh manifest-get postgres
#
# Starts a fresh Berth with BERTH_PPROF=true, runs the scenario against it, takes a 10 s CPU
# profile from /debug/pprof/profile once the scenario is under way (PROFILE_DELAY seconds
# after it starts, default 8: past the setup of the read scenarios), and the allocation
# profile before and after that window (the difference is what the window allocated). Prints
# `go tool pprof -top` of both and leaves the profiles in /tmp/berth-profile-*/.
# Env: PROFILE_DELAY, PROFILE_SECONDS (10), BENCH_DURATION (30s, for the fixed-time scenarios),
# PGHOST_URL (postgres://postgres@127.0.0.1:5432).
set -euo pipefail

SCENARIO="${1:?usage: bench/profile.sh SCENARIO [sqlite|postgres]}"
DB="${2:-sqlite}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="$(mktemp -d "/tmp/berth-profile-$(date -u +%Y%m%d-%H%M%S)-$SCENARIO-$DB.XXXX")"
PASS="$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
PGURL="${PGHOST_URL:-postgres://postgres@127.0.0.1:5432}"
DELAY="${PROFILE_DELAY:-8}"
SECONDS_CPU="${PROFILE_SECONDS:-10}"

BERTH_PID="" BENCH_PID="" PGDB=""
cleanup() {
  local rc=$?
  [[ -n "$BENCH_PID" ]] && kill "$BENCH_PID" 2>/dev/null || true
  if [[ -n "$BERTH_PID" ]]; then
    kill "$BERTH_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$BERTH_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$BERTH_PID" 2>/dev/null || true
  fi
  [[ -n "$PGDB" ]] && psql -q "$PGURL/postgres?sslmode=disable" -c "DROP DATABASE IF EXISTS $PGDB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$OUT/data"
  echo "profile.sh: profiles and logs in $OUT" >&2
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

go build -o "$OUT/berth" ./cmd/berth
go build -o "$OUT/berthbench" ./bench/cmd/berthbench

port=$((20000 + RANDOM % 30000))
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((20000 + RANDOM % 30000)); done
env_args=(BERTH_PPROF=true BERTH_ADMIN_PASSWORD="$PASS" BERTH_LOG_LEVEL=warn BERTH_EXTERNAL_URL="http://127.0.0.1:$port" BERTH_AIR_GAPPED=true)
if [[ "$DB" == postgres ]]; then
  PGDB="berth_profile_$$_$(date +%s)"
  psql -q "$PGURL/postgres?sslmode=disable" -c "CREATE DATABASE $PGDB" >/dev/null
  env_args+=(BERTH_DATABASE_URL="$PGURL/$PGDB?sslmode=disable")
fi
mkdir -p "$OUT/data"
env "${env_args[@]}" "$OUT/berth" serve --addr "127.0.0.1:$port" --data-dir "$OUT/data" >"$OUT/berth.log" 2>&1 &
BERTH_PID=$!
for _ in $(seq 1 150); do
  [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" == 200 ]] && break
  sleep 0.2
done

pprof_get() { curl -sf -u "admin:$PASS" -o "$OUT/$2" "http://127.0.0.1:$port/debug/pprof/$1"; }

BERTHBENCH_PASSWORD="$PASS" timeout 600 "$OUT/berthbench" -url "http://127.0.0.1:$port" -user admin -name "berth-$DB" \
  -pid "$BERTH_PID" -scenarios "$SCENARIO" -duration "${BENCH_DURATION:-30s}" >"$OUT/bench.out" 2>&1 &
BENCH_PID=$!
sleep "$DELAY"
pprof_get allocs allocs-before.pprof
pprof_get "profile?seconds=$SECONDS_CPU" cpu.pprof &
CPU_PID=$!
# Where goroutines wait (the CPU profile only shows where they run): one snapshot mid-window.
sleep $((SECONDS_CPU / 2))
pprof_get 'goroutine?debug=1' goroutines.txt
wait "$CPU_PID"
pprof_get allocs allocs-after.pprof
wait "$BENCH_PID" || echo "profile.sh: berthbench exited with $?" >&2
BENCH_PID=""
cat "$OUT/bench.out"

echo
echo "=== CPU, flat (top 30)"
go tool pprof -top -nodecount=30 "$OUT/berth" "$OUT/cpu.pprof" 2>/dev/null
echo
echo "=== CPU, cumulative (top 45)"
go tool pprof -top -cum -nodecount=45 "$OUT/berth" "$OUT/cpu.pprof" 2>/dev/null
echo
echo "=== where the CPU time goes (samples whose stack contains the pattern; categories overlap)"
for cat in 'fsync, files:os\.\(\*File\)\.Sync' 'fsync, SQLite:libc\.Xfsync' 'SQLite parse/prepare:sqlite3Prepare' 'SQLite execute:sqlite3VdbeExec' \
  'SQL total:database/sql' 'hashing:sha256|sha512' 'JSON:encoding/json' 'JWT verify/sign:TokenService|ecdsa' \
  'password hashing:argon2|bcrypt' 'logging:log/slog' 'GC and allocation:gcBgMarkWorker|runtime\.mallocgc' \
  'HTTP read/write:net/http\.\(\*conn\)\.readRequest|net/http\.\(\*response\)|bufio'; do
  printf '%-24s %s\n' "${cat%%:*}" "$(go tool pprof -top -focus="${cat#*:}" "$OUT/berth" "$OUT/cpu.pprof" 2>/dev/null | grep -m1 'Showing nodes' | sed 's/Showing nodes accounting for //')"
done
echo
echo "=== goroutines mid-window: count, where they wait | innermost Berth frames (top 15)"
awk '
  function flush() { if (n) { key = wait " | " berth; cnt[key] += n } }
  /^[0-9]+ @/ { flush(); n = $1; wait = ""; berth = ""; kb = 0; next }
  /^#/ {
    f = $0; sub(/^#[ \t]+0x[0-9a-f]+[ \t]+/, "", f); sub(/\+0x.*/, "", f); sub(/^github.com\/berthreg\/berth\/internal\//, "", f)
    if (wait == "" && f !~ /^(runtime|internal\/|sync\.|syscall\.|os\.ignoringEINTR)/) wait = f
    if (f ~ /^(meta|registry|oci|auth|blob|rbac|api)\./ && kb < 2) { berth = berth (kb ? " <- " : "") f; kb++ }
  }
  END { flush(); for (k in cnt) print cnt[k] "\t" k }' "$OUT/goroutines.txt" | sort -rn | head -15
echo
echo "=== allocated bytes during the CPU window (top 25)"
go tool pprof -top -sample_index=alloc_space -nodecount=25 -diff_base "$OUT/allocs-before.pprof" "$OUT/berth" "$OUT/allocs-after.pprof" 2>/dev/null
