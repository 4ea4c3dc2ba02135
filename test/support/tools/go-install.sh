#!/usr/bin/env bash
# Installs one Go command at a pinned version with `go install`, through the Go module proxy, into
# the cache (test/support/tools/cache.sh), and prints the binary's path as the last stdout line.
#
#   bash test/support/tools/go-install.sh NAME PACKAGE VERSION
#   e.g. bash test/support/tools/go-install.sh actionlint github.com/rhysd/actionlint/cmd/actionlint v1.7.12
#
# The binary lands in .cache/go-tools/NAME/<hash>/NAME. GOPROXY comes from the environment (or Go's
# default); the user's GOBIN is never touched.
#
# Environment overrides:
#   GO_TOOLS_CACHE_DIR   where binaries live (default <repo>/.cache/go-tools)
set -euo pipefail

[[ $# -eq 3 ]] || {
  echo "usage: $0 NAME PACKAGE VERSION" >&2
  exit 2
}
NAME=$1
PACKAGE=$2
VERSION=$3
[[ "$NAME" =~ ^[A-Za-z0-9._-]+$ ]] || {
  echo "[go-install] error: bad name '$NAME'" >&2
  exit 2
}

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/../../.." && pwd)
# shellcheck source=cache.sh
source "$SCRIPT_DIR/cache.sh"

install_into() {
  local work=$1
  command -v go >/dev/null 2>&1 || cache_die "'go' not found on PATH; install Go (https://go.dev/dl/)"
  cache_log "go install $PACKAGE@$VERSION ($(go env GOVERSION), GOPROXY=$(go env GOPROXY))"
  # Static, stripped, reproducible paths; run from the work dir so no go.mod around interferes.
  (cd "$work" && GOBIN="$work" CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=mod" \
    go install -trimpath -ldflags='-s -w' "$PACKAGE@$VERSION" >&2) || return 1
  if [[ "${PACKAGE##*/}" != "$NAME" ]]; then mv "$work/${PACKAGE##*/}" "$work/$NAME"; fi
}

cache_build "go-install $NAME" "${GO_TOOLS_CACHE_DIR:-"$REPO_ROOT/.cache/go-tools"}/$NAME" "$NAME" install_into \
  "${BASH_SOURCE[0]}" "$PACKAGE" "$VERSION"
