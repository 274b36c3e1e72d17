# bench/lib.sh — shell functions shared by bench/compare.sh and bench/scan.sh. Sourced, it only
# defines functions (and TAKEN, the ports handed out so far); the caller defines say().

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pick_port prints a free loopback port that no earlier call returned.
TAKEN=" "
pick_port() {
  local p
  for _ in $(seq 1 500); do
    p=$((20000 + RANDOM % 30000))
    if [[ "$TAKEN" != *" $p "* ]] && ! port_busy "$p"; then
      TAKEN+="$p "
      echo "$p"
      return 0
    fi
  done
  say "no free port found"; return 1
}

# rss_mb PID prints the process's VmRSS in MB (10^6 bytes).
rss_mb() { awk '/^VmRSS:/ { printf "%.2f", $2 * 1024 / 1e6 }' "/proc/$1/status"; }

# stop_pid PID stops a process this script started: TERM, up to 10 s to exit, then KILL.
stop_pid() {
  local pid=$1
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
}

# wait_ready PORT PID waits up to 30 s for Berth's /readyz on 127.0.0.1:PORT to answer 200;
# false when it does not, or the process died.
wait_ready() {
  local port=$1 pid=$2
  for _ in $(seq 1 150); do
    [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" == 200 ]] && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}

# server_errors FILE... prints, per server log, how many error lines it has (servers run at
# warn) and the first few. Distribution logs every 404 at level=error; the 404s to
# HEAD-before-upload and to existence checks are expected, so "blob unknown"/"manifest
# unknown" lines are left out.
server_errors() {
  local err_re='level=(ERROR|error)|"level":"(ERROR|error)"|panic'
  local benign_re='err.code="(blob unknown|manifest unknown)"'
  local f n
  for f in "$@"; do
    [[ -f "$f" ]] || continue
    n=$(grep -E "$err_re" "$f" | grep -c -v -E "$benign_re" || true)
    echo "$(basename "$f"): $n error lines"
    if [[ "$n" != 0 ]]; then
      grep -E "$err_re" "$f" | grep -v -E "$benign_re" | head -n 5 | cut -c1-400 | sed 's/^/    /' || true
    fi
  done
  return 0
}

# berth_rev prints the short git revision, flagged when the working tree has changes.
berth_rev() {
  local rev
  rev="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  [[ -n "$(git status --porcelain 2>/dev/null)" ]] && rev+=" (working tree has uncommitted changes)"
  echo "$rev"
}

# entry_logs TITLE SERVER_ERRORS LOG prints the end of a results entry: the servers' error-line
# counts under TITLE, then the raw BENCH/IDLE lines of LOG in a collapsed block.
entry_logs() {
  local title=$1 errors=$2 log=$3
  echo "$title:"
  echo
  echo '```'
  echo -n "$errors"
  echo '```'
  echo
  echo "<details><summary>raw BENCH lines</summary>"
  echo
  echo '```'
  grep -E '^(BENCH|IDLE) ' "$log"
  echo '```'
  echo
  echo "</details>"
}
