#!/usr/bin/env bash
# Installs one Go command at a pinned version with `go install`, through the Go module proxy, into
# a cache directory, and prints the binary's path as the last stdout line.
#
#   bash test/support/tools/go-install.sh NAME PACKAGE VERSION
#   e.g. bash test/support/tools/go-install.sh actionlint github.com/rhysd/actionlint/cmd/actionlint v1.7.12
#
# The binary lands in .cache/go-tools/NAME/<hash>/NAME, where <hash> covers this script and its
# arguments, so it is rebuilt only when either changes; older builds of NAME are removed. Progress
# goes to stderr. GOPROXY comes from the environment (or Go's default); the user's GOBIN is never
# touched.
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

log() { printf '[go-install %s] %s\n' "$NAME" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/../../.." && pwd)
CACHE_DIR=${GO_TOOLS_CACHE_DIR:-"$REPO_ROOT/.cache/go-tools"}/$NAME

hash_inputs() {
  local sum=sha256sum
  command -v sha256sum >/dev/null 2>&1 || sum='shasum -a 256' # macOS
  { cat "${BASH_SOURCE[0]}" && printf '%s\n' "$PACKAGE" "$VERSION"; } | $sum | cut -c1-16
}
HASH=$(hash_inputs)
OUT_DIR="$CACHE_DIR/$HASH"
OUT_BIN="$OUT_DIR/$NAME"

# Fast path: already built for these inputs (no Go needed at all).
if [[ -x "$OUT_BIN" ]]; then
  log "up to date: $OUT_BIN"
  printf '%s\n' "$OUT_BIN"
  exit 0
fi

command -v go >/dev/null 2>&1 || die "'go' not found on PATH; install Go (https://go.dev/dl/)"
mkdir -p "$CACHE_DIR"

# Serialise concurrent builds (parallel test files may all call this script).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE_DIR/.build.lock"
  if ! flock -n 9; then
    log "another build is running; waiting for it"
    flock 9
  fi
  if [[ -x "$OUT_BIN" ]]; then
    log "built by a concurrent run: $OUT_BIN"
    printf '%s\n' "$OUT_BIN"
    exit 0
  fi
fi

START_S=$(date +%s)
log "go install $PACKAGE@$VERSION ($(go env GOVERSION), GOPROXY=$(go env GOPROXY))"

# Installed into a private directory first; only a finished binary is renamed into place, so an
# interrupted build never leaves a half-written binary behind.
WORK_DIR=$(mktemp -d "$CACHE_DIR/.build-XXXXXX")
trap 'rm -rf "$WORK_DIR"' EXIT
# Static, stripped, reproducible paths; run from the work dir so no go.mod around interferes.
(cd "$WORK_DIR" && GOBIN="$WORK_DIR" CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=mod" \
  go install -trimpath -ldflags='-s -w' "$PACKAGE@$VERSION" >&2) || die "go install failed (see above)"
BUILT="$WORK_DIR/${PACKAGE##*/}"
[[ -x "$BUILT" ]] || die "go install finished but $BUILT is missing"

mkdir -p "$OUT_DIR"
mv -f "$BUILT" "$OUT_BIN.partial"
mv -f "$OUT_BIN.partial" "$OUT_BIN"

# Drop builds from older inputs (running processes keep their inode).
for old in "$CACHE_DIR"/*/; do
  old=${old%/}
  name=${old##*/}
  if [[ "$name" =~ ^[0-9a-f]{16}$ && "$name" != "$HASH" ]]; then rm -rf "$old"; fi
done

ELAPSED=$(($(date +%s) - START_S))
log "done in ${ELAPSED}s: $OUT_BIN ($(wc -c <"$OUT_BIN" | tr -d ' ') bytes)"
printf '%s\n' "$OUT_BIN"
