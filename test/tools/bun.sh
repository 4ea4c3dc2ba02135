#!/usr/bin/env bash
# Installs the Bun runtime the platform tests and benchmarks run the extension's Bun implementation
# with: the npm package @oven/bun-linux-<arch> at a pinned version, cached under
# .cache/bun/<version>-<arch>/, linked as .cache/bun/bin/bun. Prints the binary's path.
set -euo pipefail
BUN_VERSION=1.4.5
SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/../.." && pwd)
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=aarch64 ;;
  *) echo "no Bun package for $(uname -m)" >&2; exit 1 ;;
esac
dir="$REPO_ROOT/.cache/bun/$BUN_VERSION-$arch"
bin="$dir/node_modules/@oven/bun-linux-$arch/bin/bun"
if [ ! -x "$bin" ]; then
  mkdir -p "$dir"
  (cd "$dir" && npm install --no-audit --no-fund --no-save --prefix "$dir" "@oven/bun-linux-$arch@$BUN_VERSION" >/dev/null)
fi
mkdir -p "$REPO_ROOT/.cache/bun/bin"
ln -sfn "../$BUN_VERSION-$arch/node_modules/@oven/bun-linux-$arch/bin/bun" "$REPO_ROOT/.cache/bun/bin/bun"
"$bin" --version >/dev/null
echo "$bin"
