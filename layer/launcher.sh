#!/bin/sh
# Lambda starts every file in /opt/extensions/ at init. This launcher starts the extension that lives in
# ../otel-lambda-extension/ relative to its own directory, so the layout works from /opt or from any
# other directory (local simulators):
#   - the compiled executable (bin/otel-lambda-extension, the architecture flavours), and if it cannot
#     start (a CPU or C library it does not support, a layer of the wrong architecture), the bundle on a
#     Node.js it finds;
#   - in the Node.js-runtime flavour (no executable), the bundle on the runtime's Node.js.
set -u

# Parameter expansion rather than dirname/basename: no extra processes on the cold-start path.
case $0 in
  */*) self_dir=${0%/*} ;;
  *) self_dir=. ;;
esac
self_dir=$(CDPATH='' cd -- "$self_dir" && pwd -P) || exit 1
name=${0##*/}
home_dir=${self_dir%/*}/otel-lambda-extension
executable=$home_dir/bin/otel-lambda-extension

debug=false
case ${LAMBDA_OTEL_LOG_LEVEL:-} in
  [Dd][Ee][Bb][Uu][Gg]) debug=true ;;
esac

# The function's NODE_OPTIONS (e.g. --require of an auto-instrumentation) must not load into the
# extension: it would instrument the extension and export to itself. LAMBDA_OTEL_NODE_OPTIONS is ours.
unset NODE_OPTIONS
LAMBDA_OTEL_EXTENSION_NAME=$name
export LAMBDA_OTEL_EXTENSION_NAME

if [ -x "$executable" ]; then
  $debug && echo "[otel-lambda-extension] DEBUG launcher: starting $executable"
  # The executable reads Bun's settings from the environment like bun does, and Lambda gives it the
  # function's: a Bun runtime's BUN_OPTIONS=--preload would load the function's instrumentation into
  # the extension, BUN_CONFIG_VERBOSE_FETCH would print every export request with its API key or
  # authorization header. None of the function's BUN_* variables reach it; LAMBDA_OTEL_BUN_OPTIONS
  # is passed as BUN_OPTIONS. bash (Lambda's /bin/sh) names them without a subshell (~1 ms of CPU
  # less); other shells read their own export list, and only well-formed BUN_ names are unset.
  if [ -n "${BASH_VERSION:-}" ]; then
    eval 'for bun_name in ${!BUN_*}; do unset "$bun_name"; done'
  else
    set -f
    for bun_word in $(export -p); do
      case $bun_word in
        BUN_*=*)
          bun_name=${bun_word%%=*}
          case $bun_name in *[!A-Za-z0-9_]*) ;; *) unset "$bun_name" ;; esac
          ;;
      esac
    done
    set +f
  fi
  unset bun_word bun_name
  if [ -n "${LAMBDA_OTEL_BUN_OPTIONS:-}" ]; then
    BUN_OPTIONS=$LAMBDA_OTEL_BUN_OPTIONS
    export BUN_OPTIONS
  fi
  # Not exec: if the executable cannot start, this shell is still here to start the bundle on Node.
  # Signals sent to the extension's pid (SIGTERM when a runtime tears down) are passed on.
  # SIGUSR1 from the executable: its work is done and it exits with status 0; this shell exits at
  # once rather than after the process has been torn down (a few ms of Lambda's SHUTDOWN phase).
  released=false
  trap 'released=true' USR1
  LAMBDA_OTEL_LAUNCHER_PID=$$
  export LAMBDA_OTEL_LAUNCHER_PID
  # JavaScriptCore hands a function to its optimizing compiler after ~1,000 runs (3,000 at the
  # executable's JIT policy). The extension runs the same code a few dozen times per invocation, so
  # when invocations are rare that compiles code which will run a few times more. Ten times later:
  # first twenty invocations a second apart 11.4 -> 9.5 ms CPU each (JIT threads 2.8 -> 1.5 ms), the
  # receiver's and the converter's throughput within 10 % (hot code still gets there in well under a
  # second).
  BUN_JSC_thresholdForOptimizeAfterWarmUp=10000 "$executable" &
  child=$!
  trap 'kill -TERM "$child" 2>/dev/null' TERM
  trap 'kill -INT "$child" 2>/dev/null' INT
  while :; do
    wait "$child"
    status=$?
    $released && exit 0
    # A trapped signal interrupts wait (status > 128) while the executable still runs: wait again.
    kill -0 "$child" 2>/dev/null || break
  done
  unset LAMBDA_OTEL_LAUNCHER_PID
  trap - TERM INT USR1
  # Only statuses that mean "could not start" fall back: the shell could not run the file (126: wrong
  # architecture or format; 127: missing dynamic loader or C library, or symbols the C library lacks),
  # or the executable died on an instruction or memory access it does not support (SIGILL, SIGBUS,
  # SIGSEGV, SIGABRT). The extension's own exit codes (0, or 1 after an error it reported) are final.
  case $status in
    126 | 127 | 132 | 134 | 135 | 139) ;;
    *) exit "$status" ;;
  esac
  fallback="the executable $executable could not start (exit status $status)"
fi

# LAMBDA_OTEL_RUNTIME_NODE is a testing knob only: it stands in for /var/lang/bin/node so tests can
# exercise the Node.js-runtime path off Lambda.
runtime_node=${LAMBDA_OTEL_RUNTIME_NODE:-/var/lang/bin/node}
if [ -x "$runtime_node" ]; then
  node_bin=$runtime_node # Node.js managed runtimes
elif command -v node >/dev/null 2>&1; then
  node_bin=$(command -v node)
else
  echo "[otel-lambda-extension] ERROR ${fallback:+$fallback and }no Node.js found ($runtime_node, PATH); extension not started" >&2
  exit 1
fi

if [ -n "${fallback:-}" ]; then
  echo "[otel-lambda-extension] WARN $fallback; starting the bundle on $node_bin instead" >&2
elif $debug; then
  echo "[otel-lambda-extension] DEBUG launcher: starting $home_dir/index.mjs with $node_bin"
fi

# No V8 options here: most of them (e.g. --max-semi-space-size, --max-old-space-size) make Node
# compile its built-in modules without their embedded code cache, about 15 ms more start-up CPU.
# V8 already sizes the heap from the memory the function is given (young generation included).
# shellcheck disable=SC2086 # word splitting of the options is intended
exec "$node_bin" ${LAMBDA_OTEL_NODE_OPTIONS:-} "$home_dir/index.mjs"
