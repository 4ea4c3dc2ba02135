#!/usr/bin/env bash
# Builds the end-to-end test OpenTelemetry Collector with the official builder (ocb).
#
#   bash test/support/collector/build.sh        -> prints the binary path as the last stdout line
#
# The binary lands in .cache/otelcol/<hash>/otelcol-test, where <hash> covers this
# script and builder-config.yaml, so it is rebuilt only when either changes. Progress
# goes to stderr. Everything comes from the Go module proxy (GOPROXY from the
# environment, or Go's default); the builder itself is installed into a GOBIN under
# .cache, never into the user's GOBIN.
#
# Environment overrides:
#   OTELCOL_CACHE_DIR   where binaries and the builder live (default <repo>/.cache/otelcol)
#   OTELCOL_BUILD_JOBS  parallel compile jobs (default: CPUs, capped by free memory)
set -euo pipefail

# The builder release; every component in builder-config.yaml must match it.
OCB_VERSION=v0.162.0
BINARY_NAME=otelcol-test

log() { printf '[otelcol-build] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/../../.." && pwd)
MANIFEST="$SCRIPT_DIR/builder-config.yaml"
CACHE_DIR=${OTELCOL_CACHE_DIR:-"$REPO_ROOT/.cache/otelcol"}

[[ -f "$MANIFEST" ]] || die "manifest not found: $MANIFEST"

hash_inputs() {
  if command -v sha256sum >/dev/null 2>&1; then
    cat "$MANIFEST" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16
  else # macOS
    cat "$MANIFEST" "${BASH_SOURCE[0]}" | shasum -a 256 | cut -c1-16
  fi
}
HASH=$(hash_inputs)
OUT_DIR="$CACHE_DIR/$HASH"
OUT_BIN="$OUT_DIR/$BINARY_NAME"

# Fast path: already built for this manifest (no Go needed at all).
if [[ -x "$OUT_BIN" ]]; then
  log "up to date: $OUT_BIN"
  printf '%s\n' "$OUT_BIN"
  exit 0
fi

command -v go >/dev/null 2>&1 || die "'go' not found on PATH; install Go >= 1.25 (https://go.dev/dl/)"
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

# Parallelism: both cores, but each heavy compile/link job can take ~1 GiB, so cap
# the job count by available memory to avoid swapping on small CI machines.
cpus=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
mem_jobs=$cpus
if [[ -r /proc/meminfo ]]; then
  avail_kib=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
  if [[ -n "$avail_kib" ]]; then
    mem_jobs=$((avail_kib / 1048576))
    ((mem_jobs >= 1)) || mem_jobs=1
  fi
fi
JOBS=${OTELCOL_BUILD_JOBS:-$((cpus < mem_jobs ? cpus : mem_jobs))}
log "building $BINARY_NAME with ocb $OCB_VERSION ($JOBS parallel jobs, $(go env GOVERSION), GOPROXY=$(go env GOPROXY))"

# -mod=mod lets the builder's generated module update go.mod/go.sum freely.
# -e (honoured by `go mod tidy`, ignored by build) lets tidy pass when a module
# needed only by a component's own tests is not served by the module proxy; a
# package the binary really needs still fails the compile step loudly.
# Existing GOFLAGS from the environment are kept.
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod -e -p=$JOBS"
export CGO_ENABLED=0

# 1. The builder, in a versioned GOBIN under the cache.
OCB_GOBIN="$CACHE_DIR/bin/ocb-$OCB_VERSION"
OCB="$OCB_GOBIN/builder"
if [[ ! -x "$OCB" ]]; then
  log "installing go.opentelemetry.io/collector/cmd/builder@$OCB_VERSION"
  mkdir -p "$OCB_GOBIN"
  GOBIN="$OCB_GOBIN" go install -trimpath "go.opentelemetry.io/collector/cmd/builder@$OCB_VERSION" >&2
fi

# 2. Generate and compile in a private temp dir; only a finished binary is renamed
#    into place, so an interrupted build never leaves a half-written binary behind.
WORK_DIR=$(mktemp -d "$CACHE_DIR/.build-XXXXXX")
OCB_PGID=
cleanup() {
  # The builder's `go` children do not die with it: stop the whole process group.
  if [[ -n "$OCB_PGID" ]]; then kill -TERM -- "-$OCB_PGID" 2>/dev/null || true; fi
  rm -rf "$WORK_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
SRC_DIR="$WORK_DIR/src"
# The manifest has no output_path; inject one under `dist:` for this build.
awk -v out="$SRC_DIR" '{ print } /^dist:[[:space:]]*$/ { print "  output_path: " out }' \
  "$MANIFEST" >"$WORK_DIR/builder-config.yaml"

# ocb strips symbols (-ldflags="-s -w") and passes -trimpath by default; CGO is off
# because the manifest does not enable it.
log "generating and compiling (the first build downloads modules and takes minutes)"
set -m # the background job gets its own process group, so cleanup can stop all of it
"$OCB" --config "$WORK_DIR/builder-config.yaml" >&2 &
OCB_PGID=$!
set +m
wait "$OCB_PGID" || die "builder failed (see messages above)"
OCB_PGID=

[[ -x "$SRC_DIR/$BINARY_NAME" ]] || die "builder finished but $SRC_DIR/$BINARY_NAME is missing"
"$SRC_DIR/$BINARY_NAME" components >/dev/null || die "built binary does not run"

mkdir -p "$OUT_DIR"
mv -f "$SRC_DIR/$BINARY_NAME" "$OUT_BIN.partial"
mv -f "$OUT_BIN.partial" "$OUT_BIN"

# Drop binaries built from older manifests (running processes keep their inode).
for old in "$CACHE_DIR"/*/; do
  old=${old%/}
  name=${old##*/}
  if [[ "$name" =~ ^[0-9a-f]{16}$ && "$name" != "$HASH" ]]; then rm -rf "$old"; fi
done

ELAPSED=$(($(date +%s) - START_S))
SIZE=$(wc -c <"$OUT_BIN" | tr -d ' ')
log "done in ${ELAPSED}s; binary $((SIZE / 1048576)) MiB ($SIZE bytes)"
printf '%s\n' "$OUT_BIN"
