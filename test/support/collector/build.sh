#!/usr/bin/env bash
# Builds the end-to-end test OpenTelemetry Collector with the official builder (ocb).
#
#   bash test/support/collector/build.sh        -> prints the binary path as the last stdout line
#
# The binary lands in .cache/otelcol/<hash>/otelcol-test, where <hash> covers this script and
# builder-config.yaml (test/support/tools/cache.sh keeps it), so it is rebuilt only when either
# changes. Progress goes to stderr. Everything comes from the Go module proxy (GOPROXY from the
# environment, or Go's default); the builder itself is installed by go-install.sh into the cache,
# never into the user's GOBIN.
#
# Environment overrides:
#   OTELCOL_CACHE_DIR   where binaries live (default <repo>/.cache/otelcol)
#   OTELCOL_BUILD_JOBS  parallel compile jobs (default: CPUs, capped by free memory)
set -euo pipefail

# The builder release; every component in builder-config.yaml must match it.
OCB_VERSION=v0.162.0
BINARY_NAME=otelcol-test

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/../../.." && pwd)
MANIFEST="$SCRIPT_DIR/builder-config.yaml"
TOOLS_DIR="$SCRIPT_DIR/../tools"
# shellcheck source=../tools/cache.sh
source "$TOOLS_DIR/cache.sh"

[[ -f "$MANIFEST" ]] || { echo "[otelcol-build] error: manifest not found: $MANIFEST" >&2; exit 1; }

OCB_PGID=
# The builder's `go` children do not die with it: stop the whole process group.
cache_on_exit() {
  if [[ -n "$OCB_PGID" ]]; then kill -TERM -- "-$OCB_PGID" 2>/dev/null || true; fi
}

build_collector() {
  local work=$1
  command -v go >/dev/null 2>&1 || cache_die "'go' not found on PATH; install Go >= 1.25 (https://go.dev/dl/)"
  local ocb
  ocb=$(bash "$TOOLS_DIR/go-install.sh" ocb go.opentelemetry.io/collector/cmd/builder "$OCB_VERSION" | tail -n 1)

  # Parallelism: both cores, but each heavy compile/link job can take ~1 GiB, so cap the job count
  # by available memory to avoid swapping on small CI machines.
  local cpus mem_jobs avail_kib jobs
  cpus=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
  mem_jobs=$cpus
  if [[ -r /proc/meminfo ]]; then
    avail_kib=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
    if [[ -n "$avail_kib" ]]; then
      mem_jobs=$((avail_kib / 1048576))
      ((mem_jobs >= 1)) || mem_jobs=1
    fi
  fi
  jobs=${OTELCOL_BUILD_JOBS:-$((cpus < mem_jobs ? cpus : mem_jobs))}
  cache_log "building $BINARY_NAME with ocb $OCB_VERSION ($jobs parallel jobs, $(go env GOVERSION), GOPROXY=$(go env GOPROXY))"

  # -mod=mod lets the builder's generated module update go.mod/go.sum freely.
  # -e (honoured by `go mod tidy`, ignored by build) lets tidy pass when a module
  # needed only by a component's own tests is not served by the module proxy; a
  # package the binary really needs still fails the compile step loudly.
  # Existing GOFLAGS from the environment are kept.
  export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod -e -p=$jobs"
  export CGO_ENABLED=0

  local src="$work/src"
  # The manifest has no output_path; inject one under `dist:` for this build.
  awk -v out="$src" '{ print } /^dist:[[:space:]]*$/ { print "  output_path: " out }' \
    "$MANIFEST" >"$work/builder-config.yaml"

  # ocb strips symbols (-ldflags="-s -w") and passes -trimpath by default; CGO is off
  # because the manifest does not enable it.
  cache_log "generating and compiling (the first build downloads modules and takes minutes)"
  set -m # the background job gets its own process group, so cleanup can stop all of it
  "$ocb" --config "$work/builder-config.yaml" >&2 &
  OCB_PGID=$!
  set +m
  wait "$OCB_PGID" || return 1
  OCB_PGID=

  [[ -x "$src/$BINARY_NAME" ]] || cache_die "builder finished but $src/$BINARY_NAME is missing"
  "$src/$BINARY_NAME" components >/dev/null || cache_die "built binary does not run"
  mv "$src/$BINARY_NAME" "$work/$BINARY_NAME"
}

cache_build otelcol-build "${OTELCOL_CACHE_DIR:-"$REPO_ROOT/.cache/otelcol"}" "$BINARY_NAME" build_collector \
  "${BASH_SOURCE[0]}" "$MANIFEST"
