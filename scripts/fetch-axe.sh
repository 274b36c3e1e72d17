#!/usr/bin/env bash
# Fetches axe-core (the accessibility checker the portal's browser tests run inside Chromium)
# from the npm registry at the pinned version, checks the tarball against the registry's
# integrity hash, and writes axe.min.js with its licence under test/e2e/testdata/axe-core/.
# The result is committed: the tests need no network and no Node.js. Run it again only to
# move to another version (change both pins below).
set -euo pipefail

AXE_VERSION=4.14.1
AXE_INTEGRITY='sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=='
REGISTRY="${NPM_REGISTRY:-https://registry.npmjs.org}"

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/test/e2e/testdata/axe-core"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

curl -fsSL -o "$tmp/axe.tgz" "$REGISTRY/axe-core/-/axe-core-$AXE_VERSION.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tmp/axe.tgz" | base64 -w0)"
if [ "$got" != "$AXE_INTEGRITY" ]; then
	echo "fetch-axe: axe-core-$AXE_VERSION.tgz has integrity $got, want $AXE_INTEGRITY" >&2
	exit 1
fi
tar -xzf "$tmp/axe.tgz" -C "$tmp" package/axe.min.js package/LICENSE package/package.json
mkdir -p "$dest"
cp "$tmp/package/axe.min.js" "$tmp/package/LICENSE" "$dest/"
echo "$AXE_VERSION" > "$dest/VERSION"
echo "axe-core $AXE_VERSION in $dest"
