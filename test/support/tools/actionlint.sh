#!/usr/bin/env bash
# Checks the GitHub Actions workflows (.github/workflows/*.yml) with actionlint, installed at a
# pinned version through the Go module proxy and cached under .cache/go-tools/actionlint/.
# actionlint also runs shellcheck on `run:` scripts when shellcheck is on PATH.
set -euo pipefail
ACTIONLINT_VERSION=v1.7.12
SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/../../.." && pwd)
bin=$(bash "$SCRIPT_DIR/go-install.sh" actionlint github.com/rhysd/actionlint/cmd/actionlint "$ACTIONLINT_VERSION" | tail -n 1)
cd "$REPO_ROOT"
"$bin" -no-color "$@"
echo "actionlint $ACTIONLINT_VERSION: workflows OK"
