#!/bin/sh
# Lambda starts every file in /opt/extensions/ at init. This launcher starts the Node.js extension
# that lives in ../otel-lambda-extension/ relative to its own directory, so the layout works from /opt
# or from any other directory (local simulators).
set -eu

# Parameter expansion rather than dirname/basename: no extra processes on the cold-start path.
case $0 in
  */*) self_dir=${0%/*} ;;
  *) self_dir=. ;;
esac
self_dir=$(CDPATH='' cd -- "$self_dir" && pwd -P)
name=${0##*/}
home_dir=${self_dir%/*}/otel-lambda-extension

# LAMBDA_OTEL_RUNTIME_NODE is a testing knob only: it stands in for /var/lang/bin/node so tests can
# exercise the Node.js-runtime path off Lambda.
runtime_node=${LAMBDA_OTEL_RUNTIME_NODE:-/var/lang/bin/node}
if [ -x "$runtime_node" ]; then
  node_bin=$runtime_node # Node.js managed runtimes
elif [ -x "$home_dir/bin/node" ]; then
  node_bin="$home_dir/bin/node" # a Node shipped inside the layer (other runtimes)
elif command -v node >/dev/null 2>&1; then
  node_bin=$(command -v node)
else
  echo "[otel-lambda-extension] ERROR no Node.js found ($runtime_node, $home_dir/bin/node, PATH); extension not started" >&2
  exit 1
fi

case ${LAMBDA_OTEL_LOG_LEVEL:-} in
  [Dd][Ee][Bb][Uu][Gg]) echo "[otel-lambda-extension] DEBUG launcher: starting $home_dir/index.mjs with $node_bin" ;;
esac

# The function's NODE_OPTIONS (e.g. --require of an auto-instrumentation) must not load into the
# extension: it would instrument the extension and export to itself. LAMBDA_OTEL_NODE_OPTIONS is ours.
unset NODE_OPTIONS
LAMBDA_OTEL_EXTENSION_NAME=$name
export LAMBDA_OTEL_EXTENSION_NAME

# No V8 options here: most of them (e.g. --max-semi-space-size, --max-old-space-size) make Node
# compile its built-in modules without their embedded code cache, about 15 ms more start-up CPU.
# V8 already sizes the heap from the memory the function is given (young generation included).
# shellcheck disable=SC2086 # word splitting of the options is intended
exec "$node_bin" ${LAMBDA_OTEL_NODE_OPTIONS:-} "$home_dir/index.mjs"
