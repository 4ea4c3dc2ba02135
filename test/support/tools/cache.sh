# Cached builds under .cache/, for the scripts that build or install what the tests need (sourced,
# not run). One artifact per directory <cache>/<hash>/, where <hash> covers the caller's inputs (its
# own script, this file, manifests, pinned versions), so it is rebuilt only when one of them changes.
# A build runs in a private directory beside the cache and is renamed into place only when finished,
# so an interrupted build never leaves a half-written artifact; concurrent builds (parallel test
# files) wait for each other on a lock. Progress goes to stderr; the artifact's path is the last
# stdout line.
#
#   source cache.sh
#   cache_build LABEL CACHE_DIR ARTIFACT BUILD_FUNCTION INPUT...
#
# INPUT is a file (hashed by content) or any other word (hashed as text). BUILD_FUNCTION is called
# with an empty work directory and must leave ARTIFACT (a path relative to it) there.

CACHE_SH=${BASH_SOURCE[0]}

cache_log() { printf '[%s] %s\n' "$CACHE_LABEL" "$*" >&2; }
cache_die() {
  cache_log "error: $*"
  exit 1
}

CACHE_WORK=
# A caller's cache_on_exit (if defined) runs first, e.g. to stop a build's process group.
cache_cleanup() {
  if declare -F cache_on_exit >/dev/null; then cache_on_exit; fi
  if [[ -n "$CACHE_WORK" ]]; then rm -rf "$CACHE_WORK"; fi
}

cache_hash() {
  local sum=sha256sum input
  command -v sha256sum >/dev/null 2>&1 || sum='shasum -a 256' # macOS
  for input in "$CACHE_SH" "$@"; do
    if [[ -f "$input" ]]; then cat "$input"; else printf '%s\n' "$input"; fi
  done | $sum | cut -c1-16
}

cache_build() {
  CACHE_LABEL=$1
  local cache_dir=$2 artifact=$3 build=$4
  shift 4
  local hash out_dir out start work
  hash=$(cache_hash "$@")
  out_dir="$cache_dir/$hash"
  out="$out_dir/$artifact"

  # Fast path: already built for these inputs (no toolchain needed at all).
  if [[ -e "$out" ]]; then
    touch "$out_dir" 2>/dev/null || true # last use, for pruning
    cache_log "up to date: $out"
    printf '%s\n' "$out"
    return 0
  fi

  mkdir -p "$cache_dir"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$cache_dir/.build.lock"
    if ! flock -n 9; then
      cache_log "another build is running; waiting for it"
      flock 9
    fi
    if [[ -e "$out" ]]; then
      cache_log "built by a concurrent run: $out"
      printf '%s\n' "$out"
      return 0
    fi
  fi

  start=$(date +%s)
  CACHE_WORK=$(mktemp -d "$cache_dir/.build-XXXXXX")
  trap cache_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  "$build" "$CACHE_WORK" || cache_die "build failed (see messages above)"
  [[ -e "$CACHE_WORK/$artifact" ]] || cache_die "build finished but $artifact is missing"

  mkdir -p "$out_dir"
  mv -f "$CACHE_WORK/$artifact" "$out.partial"
  mv -f "$out.partial" "$out"

  # Drop builds from other inputs unused for a week: checkouts of other revisions share the cache,
  # and a running process keeps its file's inode.
  local old name
  for old in "$cache_dir"/*/; do
    old=${old%/}
    name=${old##*/}
    if [[ "$name" =~ ^[0-9a-f]{16}$ && "$name" != "$hash" && -n $(find "$old" -maxdepth 0 -mtime +7) ]]; then
      rm -rf "$old"
    fi
  done

  cache_log "done in $(($(date +%s) - start))s: $out ($(du -sh "$out" | cut -f1))"
  printf '%s\n' "$out"
}
