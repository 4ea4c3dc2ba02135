#!/usr/bin/env bash
# Installs AWS's Lambda runtime interface client for Node.js (npm: aws-lambda-ric, pinned in
# runtime-client/package.json and its lock) into a cache directory; prints the path of its entry
# point (index.mjs) as the last stdout line.
#
# The package compiles native code at install (curl and aws-lambda-cpp from bundled sources, then a
# Node-API addon with node-gyp: needs a C/C++ toolchain, make and cmake), which takes minutes, so it
# is kept out of the repository's node_modules and cached (test/support/tools/cache.sh) in
# .cache/aws-lambda-ric/<hash>/install/, where <hash> covers this script, the manifest and the lock.
# The addon uses Node-API, so one build serves every Node version. Progress goes to stderr.
#
# Environment overrides:
#   RIC_CACHE_DIR   where installs live (default <repo>/.cache/aws-lambda-ric)
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/../../.." && pwd)
MANIFEST_DIR="$SCRIPT_DIR/runtime-client"
# shellcheck source=../tools/cache.sh
source "$SCRIPT_DIR/../tools/cache.sh"

install_into() {
  local work=$1 tool
  for tool in cmake make c++; do
    command -v "$tool" >/dev/null 2>&1 || cache_die "'$tool' not found: aws-lambda-ric compiles native code at install"
  done
  cache_log "npm ci of $(node -p "require('$MANIFEST_DIR/package.json').dependencies['aws-lambda-ric']") (compiles curl, aws-lambda-cpp and a Node-API addon; takes minutes)"
  local dir="$work/install"
  mkdir -p "$dir"
  # The emulator runs the runtime as another user (Lambda's sandbox user).
  chmod 755 "$dir"
  cp "$MANIFEST_DIR/package.json" "$MANIFEST_DIR/package-lock.json" "$dir/"
  # The package declares Node >= 22 but runs on 20 (checked below by loading it); engine-strict
  # would refuse it.
  (cd "$dir" && npm ci --no-audit --no-fund --engine-strict=false >&2) || return 1
  local addon="$dir/node_modules/aws-lambda-ric/rapid-client.node"
  [[ -f "$dir/node_modules/aws-lambda-ric/index.mjs" && -f "$addon" ]] ||
    cache_die "install finished without aws-lambda-ric's index.mjs and its native addon"
  # Loading the addon connects nothing but reads the Runtime API address (it aborts without one).
  AWS_LAMBDA_RUNTIME_API=127.0.0.1:9 node -e "require(process.argv[1])" "$addon" ||
    cache_die "the native addon does not load in $(node --version)"
}

installed=$(cache_build aws-lambda-ric "${RIC_CACHE_DIR:-"$REPO_ROOT/.cache/aws-lambda-ric"}" install install_into \
  "${BASH_SOURCE[0]}" "$MANIFEST_DIR/package.json" "$MANIFEST_DIR/package-lock.json" "$(uname -m)" | tail -n 1)
printf '%s\n' "$installed/node_modules/aws-lambda-ric/index.mjs"
