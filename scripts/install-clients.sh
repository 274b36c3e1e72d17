#!/usr/bin/env bash
# Install the third-party clients Berth's end-to-end tests drive, at the
# versions pinned in scripts/clients.env. Idempotent and fast when everything
# is present: each Go binary's module version is read with `go version -m`
# and only a missing or mismatched one is (re)built.
#
#   scripts/install-clients.sh
#
# Env: GOBIN (default /usr/local/bin when writable, else $(go env GOPATH)/bin)
#      BERTH_TOOLS_BIN (where the conformance binary goes; default
#      ${XDG_CACHE_HOME:-$HOME/.cache}/berth-tools/bin, as run-conformance.sh expects)
# A cold install takes ~8 minutes on 2 cores (helm and cosign ~2.5-3 min each).
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=clients.env
source "$here/clients.env"

if [[ -z "${GOBIN:-}" ]]; then
  if [[ -w /usr/local/bin ]]; then GOBIN=/usr/local/bin; else GOBIN="$(go env GOPATH)/bin"; fi
fi
TOOLS_BIN="${BERTH_TOOLS_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/berth-tools/bin}"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
mkdir -p "$GOBIN" "$TOOLS_BIN"

rc=0
started=$(date +%s)

# --- Debian packages -------------------------------------------------------
# apt-get runs beside the Go builds below: it waits on the network and the disk, they on the
# CPU. Its outcome is collected at the end.
missing=()
for p in $APT_PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
apt_pid=
if ((${#missing[@]})); then
  echo "install-clients: apt-get install ${missing[*]} (in the background)"
  (
    s=$(date +%s)
    sudo=()
    [[ $(id -u) -ne 0 ]] && sudo=(sudo -n)
    if ! { "${sudo[@]}" apt-get update -qq &&
           DEBIAN_FRONTEND=noninteractive timeout 900 "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; }; then
      # --no-install-recommends can leave podman without a runtime; retry plainly.
      DEBIAN_FRONTEND=noninteractive timeout 900 "${sudo[@]}" apt-get install -y -qq "${missing[@]}" ||
        { echo "install-clients: FAILED apt-get install ${missing[*]}" >&2; exit 1; }
    fi
    echo "install-clients: installed ${missing[*]} in $(($(date +%s) - s))s"
  ) &
  apt_pid=$!
else
  echo "install-clients: have $APT_PACKAGES"
fi

# --- Go binaries -----------------------------------------------------------
# modversion BIN: the version of the module BIN's main package came from.
modversion() { go version -m "$1" 2>/dev/null | awk '$1 == "mod" { print $3; exit }'; }

# goinstall NAME PKG VERSION DIR [LDFLAGS]
goinstall() {
  local bin=$1 pkg=$2 ver=$3 dir=$4 ldflags=${5:-} have path s
  for path in "$dir/$bin" "$(command -v "$bin" 2>/dev/null)"; do
    [[ -n "$path" && -x "$path" ]] || continue
    have=$(modversion "$path")
    if [[ "$have" == "$ver" ]]; then echo "install-clients: have $bin $ver ($path)"; return 0; fi
    echo "install-clients: $path is ${have:-of unknown version}, want $ver: reinstalling"
    break
  done
  s=$(date +%s)
  local cmd=(go install)
  [[ -n "$ldflags" ]] && cmd+=(-ldflags "$ldflags")
  cmd+=("$pkg@$ver")
  # Retried once: concurrent go commands sharing a cold build cache have
  # failed with "could not import ... no such file or directory".
  if ! (cd /tmp && GOBIN="$dir" timeout 900 "${cmd[@]}") &&
     ! (cd /tmp && GOBIN="$dir" timeout 900 "${cmd[@]}"); then
    echo "install-clients: FAILED go install $pkg@$ver" >&2
    return 1
  fi
  echo "install-clients: built $bin $ver into $dir in $(($(date +%s) - s))s"
  if [[ "$(command -v "$bin")" != "$dir/$bin" && "$dir" == "$GOBIN" ]]; then
    echo "install-clients: warning: $(command -v "$bin" || echo "$bin is not on PATH"); $dir/$bin is not first on PATH" >&2
  fi
}

goinstall crane  "$CRANE_PKG"  "$CRANE_VERSION"  "$GOBIN" || rc=1
goinstall regctl "$REGCTL_PKG" "$REGCTL_VERSION" "$GOBIN" || rc=1
goinstall oras   "$ORAS_PKG"   "$ORAS_VERSION"   "$GOBIN" || rc=1
goinstall helm   "$HELM_PKG"   "$HELM_VERSION"   "$GOBIN" || rc=1
goinstall cosign "$COSIGN_PKG" "$COSIGN_VERSION" "$GOBIN" || rc=1
goinstall conformance "$CONFORMANCE_PKG" "$CONFORMANCE_VERSION" "$TOOLS_BIN" \
  "-X main.Version=${CONFORMANCE_VERSION##*-}" || rc=1
goinstall registry "$DISTRIBUTION_PKG" "$DISTRIBUTION_VERSION" "$TOOLS_BIN" || rc=1

if [[ -n "$apt_pid" ]] && ! wait "$apt_pid"; then rc=1; fi

echo "install-clients: done in $(($(date +%s) - started))s (rc=$rc)"
exit $rc
