#!/usr/bin/env bash
# Installs AWS's Lambda runtime interface client for Node.js (npm: aws-lambda-ric, pinned in
# runtime-client/package.json and its lock) into a cache directory; prints the path of its entry
# point (index.mjs) as the last stdout line.
#
# The package compiles native code at install (curl and aws-lambda-cpp from bundled sources, then a
# Node-API addon with node-gyp: needs a C/C++ toolchain, make and cmake), which takes minutes, so it
# is kept out of the repository's node_modules and cached in .cache/aws-lambda-ric/<hash>/, where
# <hash> covers this script, the manifest and the lock. The addon uses Node-API, so one build serves
# every Node version. Progress goes to stderr.
#
# Environment overrides:
#   RIC_CACHE_DIR   where installs live (default <repo>/.cache/aws-lambda-ric)
set -euo pipefail

log() { printf '[aws-lambda-ric] %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/../../.." && pwd)
MANIFEST_DIR="$SCRIPT_DIR/runtime-client"
CACHE_DIR=${RIC_CACHE_DIR:-"$REPO_ROOT/.cache/aws-lambda-ric"}

hash_inputs() {
  local sum=sha256sum
  command -v sha256sum >/dev/null 2>&1 || sum='shasum -a 256' # macOS
  { cat "${BASH_SOURCE[0]}" "$MANIFEST_DIR/package.json" "$MANIFEST_DIR/package-lock.json" && uname -m; } |
    $sum | cut -c1-16
}
HASH=$(hash_inputs)
OUT_DIR="$CACHE_DIR/$HASH"
ENTRY="$OUT_DIR/node_modules/aws-lambda-ric/index.mjs"
ADDON="$OUT_DIR/node_modules/aws-lambda-ric/rapid-client.node"

# Fast path: installed for these inputs.
if [[ -f "$ENTRY" && -f "$ADDON" ]]; then
  log "up to date: $ENTRY"
  printf '%s\n' "$ENTRY"
  exit 0
fi

mkdir -p "$CACHE_DIR"
# Serialise concurrent installs (parallel test files may all call this script).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE_DIR/.install.lock"
  if ! flock -n 9; then
    log "another install is running; waiting for it"
    flock 9
  fi
  if [[ -f "$ENTRY" && -f "$ADDON" ]]; then
    log "installed by a concurrent run: $ENTRY"
    printf '%s\n' "$ENTRY"
    exit 0
  fi
fi

for tool in cmake make c++; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found: aws-lambda-ric compiles native code at install"
done

START_S=$(date +%s)
log "npm ci of $(node -p "require('$MANIFEST_DIR/package.json').dependencies['aws-lambda-ric']") (compiles curl, aws-lambda-cpp and a Node-API addon; takes minutes)"

# Installed in a private directory, renamed into place only when complete.
WORK_DIR=$(mktemp -d "$CACHE_DIR/.install-XXXXXX")
trap 'rm -rf "$WORK_DIR"' EXIT
cp "$MANIFEST_DIR/package.json" "$MANIFEST_DIR/package-lock.json" "$WORK_DIR/"
# The package declares Node >= 22 but runs on 20 (checked below by loading it); engine-strict
# would refuse it.
(cd "$WORK_DIR" && npm ci --no-audit --no-fund --engine-strict=false >&2) || die "npm ci failed (see above)"
W_ENTRY="$WORK_DIR/node_modules/aws-lambda-ric/index.mjs"
W_ADDON="$WORK_DIR/node_modules/aws-lambda-ric/rapid-client.node"
[[ -f "$W_ENTRY" && -f "$W_ADDON" ]] || die "install finished without $W_ENTRY and its native addon"
# Loading the addon connects nothing but reads the Runtime API address (it aborts without one).
AWS_LAMBDA_RUNTIME_API=127.0.0.1:9 node -e "require(process.argv[1])" "$W_ADDON" ||
  die "the native addon does not load in $(node --version)"

# mktemp made it private; the emulator runs the runtime as another user (Lambda's sandbox user).
chmod 755 "$WORK_DIR"
rm -rf "$OUT_DIR"
mv "$WORK_DIR" "$OUT_DIR"
trap - EXIT

# Drop installs from older inputs.
for old in "$CACHE_DIR"/*/; do
  old=${old%/}
  name=${old##*/}
  if [[ "$name" =~ ^[0-9a-f]{16}$ && "$name" != "$HASH" ]]; then rm -rf "$old"; fi
done

log "done in $(($(date +%s) - START_S))s: $ENTRY"
printf '%s\n' "$ENTRY"
