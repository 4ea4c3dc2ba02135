#!/usr/bin/env bash
# Creates the Python virtual environment the tests use (packages from test/support/python/requirements.txt).
#
#   bash test/support/python/build-env.sh      -> prints the venv's python path as the last stdout line
#
# The venv lands in .cache/python/<hash>/, where <hash> covers this script and requirements.txt,
# so it is rebuilt only when either changes. Progress goes to stderr.
# Override the location with PYTHON_ENV_CACHE_DIR, the interpreter with PYTHON (default python3).
set -euo pipefail

log() { printf '[python-env] %s\n' "$*" >&2; }

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/../../.." && pwd)
REQUIREMENTS="$SCRIPT_DIR/requirements.txt"
CACHE_DIR=${PYTHON_ENV_CACHE_DIR:-"$REPO_ROOT/.cache/python"}
HASH=$(cat "$REQUIREMENTS" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)
VENV="$CACHE_DIR/$HASH"
PY="$VENV/bin/python"

if [[ -x "$PY" && -f "$VENV/.complete" ]]; then
  printf '%s\n' "$PY"
  exit 0
fi

mkdir -p "$CACHE_DIR"
exec 9>"$CACHE_DIR/.build.lock"
flock 9
if [[ -x "$PY" && -f "$VENV/.complete" ]]; then
  printf '%s\n' "$PY"
  exit 0
fi

rm -rf "$VENV"
log "creating $VENV"
"${PYTHON:-python3}" -m venv "$VENV" >&2
"$PY" -m pip install --quiet --disable-pip-version-check --no-input -r "$REQUIREMENTS" >&2
touch "$VENV/.complete"

# Drop environments built from other requirements and unused for a week (checkouts of other
# revisions may share this cache, so a recent one is kept).
touch "$VENV/.complete"
for old in "$CACHE_DIR"/*/; do
  old=${old%/}
  name=${old##*/}
  if [[ "$name" =~ ^[0-9a-f]{16}$ && "$name" != "$HASH" ]] && [[ -n $(find "$old/.complete" -mtime +7 2>/dev/null) ]]; then
    rm -rf "$old"
  fi
done
printf '%s\n' "$PY"
