#!/bin/sh
# Builds the Rust OpenTelemetry Lambda extension (crates.io: opentelemetry-lambda-extension) with
# `cargo install --locked` into .cache/peers/, keyed by crate version and rustc version, and prints
# the path of the layer directory it makes (an /opt with extensions/<binary>).
# A second run with the same key reuses the cache. Heavy compile: nice -n 19, 2 jobs at most.
set -eu
CRATE=opentelemetry-lambda-extension
VERSION=${RUST_PEER_VERSION:-0.2.0}
BIN=opentelemetry-lambda-extension
JOBS=${RUST_PEER_JOBS:-2}
ROOT_DIR=$(cd "$(dirname "$0")/../.." && pwd)
RUSTC=$(rustc --version | awk '{print $2}')
KEY="$CRATE-$VERSION-rustc$RUSTC"
DEST="$ROOT_DIR/.cache/peers/$KEY"
if [ -x "$DEST/layer/extensions/$BIN" ]; then
	echo "$DEST/layer"
	exit 0
fi
mkdir -p "$ROOT_DIR/.cache/peers"
TMP="$ROOT_DIR/.cache/peers/.tmp-$KEY-$$"
rm -rf "$TMP"
mkdir -p "$TMP"
start=$(date +%s)
nice -n 19 cargo install --locked --quiet --jobs "$JOBS" --root "$TMP/root" "$CRATE@$VERSION" >&2
end=$(date +%s)
mkdir -p "$TMP/layer/extensions"
cp "$TMP/root/bin/$BIN" "$TMP/layer/extensions/$BIN"
{
	echo "crate=$CRATE"
	echo "version=$VERSION"
	echo "rustc=$RUSTC"
	echo "jobs=$JOBS"
	echo "buildSeconds=$((end - start))"
	echo "binaryBytes=$(wc -c < "$TMP/layer/extensions/$BIN")"
	echo "builtAt=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} > "$TMP/build-info.txt"
rm -rf "$DEST"
mv "$TMP" "$DEST"
echo "$DEST/layer"
