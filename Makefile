# Entry points. `make demo` runs the extension in the local Lambda simulator; `make test` runs
# every check. Both install what they need (npm packages, the test OpenTelemetry Collector).

SHELL := /bin/bash
# Test files run at once (CI with an external Collector runs them one at a time).
TEST_CONCURRENCY ?= 2
NODE_TEST := node --import tsx --test --test-concurrency=$(TEST_CONCURRENCY) --test-timeout=180000
TEST_FILES = $(shell find test bench -name '*.test.ts' -not -path '*/node_modules/*' | sort)

.PHONY: all install build layer layer-nodejs executables dist tools cli collector bun-binaries pyenv emulator actionlint test unit e2e typecheck lint format demo bench bench-peers clean

all: layer

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

install: node_modules/.installed

build: install
	node build.mjs

# build/layer: this machine's architecture flavour, unpacked (the compiled executable, its fallback
# bundle, the launcher, config.yaml). The pinned Bun (npm: @oven/bun-linux-*) is fetched once into
# .cache/bun-binaries/ and compiles the executable.
layer: build
	node layer/build-layer.mjs

# build/layer-nodejs: the Node.js-runtime flavour unpacked (the bundle on the function's Node).
layer-nodejs: build
	node layer/build-layer.mjs --flavour nodejs --layer-dir build/layer-nodejs

# The compiled executable for both architectures (build/executable/<arch>/), cross-compiled offline.
executables: build
	node layer/build-executable.mjs x86_64 arm64

# Deployable zips: one per architecture with the compiled executable, and the Node.js-runtime flavour.
dist: build
	node layer/build-layer.mjs --zip

# The otel-lambda-sim and otel-lambda-local commands (tools/), bundled to build/tools/*.mjs: the
# package's bins. `cli` is the older name.
tools cli: install
	node tools/build.mjs

collector:
	bash test/support/collector/build.sh >/dev/null

# The pinned Bun runtimes the layer's executables are compiled with, for every architecture (npm
# registry), cached under .cache/bun-binaries/ where `make layer`, `make dist` and the tests read them.
bun-binaries:
	node layer/bun-binaries.mjs >/dev/null

# Python packages some tests use (test/support/python/requirements.txt), in a cached venv.
pyenv:
	bash test/support/python/build-env.sh >/dev/null

# AWS's Lambda Runtime Interface Emulator (Go module) and its Node.js runtime interface client
# (npm, compiles native code), cached under .cache.
emulator:
	bash test/support/emulator/build.sh >/dev/null
	bash test/support/emulator/install-runtime-client.sh >/dev/null

# The GitHub Actions workflows, checked by actionlint (Go module, cached under .cache).
actionlint:
	bash test/support/tools/actionlint.sh

typecheck: install
	npx tsc --noEmit -p .

lint: install
	npx biome check .

format: install
	npx biome check --write .

# Unit tests need nothing built; end-to-end tests run the built layer and the real Collector.
test: install typecheck lint actionlint layer collector bun-binaries pyenv emulator
	$(NODE_TEST) $(TEST_FILES)

# The simulator's contract tests run real processes but need nothing built.
unit: install bun-binaries
	$(NODE_TEST) $(shell find test/unit test/simulator -name '*.test.ts' | sort)

e2e: layer collector bun-binaries pyenv emulator
	$(NODE_TEST) $(shell find test/e2e -name '*.test.ts' | sort)

demo: layer
	node --import tsx tools/local-run/demo.ts

bench: layer
	node --import tsx bench/run.ts

# This project's layer (the compiled executable, and the Node.js-runtime flavour) against the Rust
# OpenTelemetry Lambda extension (crates.io, built once into .cache/peers/ by cargo install), side by
# side in one interleaved run. Plain HTTP: the peer's rustls refuses the test sink's self-signed
# certificate. Free ports for the peer's fixed ones (4318, 9999). Fewer invocations per pattern: the
# peer holds each one about a second. BENCH_PEERS_ARGS adds options (e.g. --only init,layer).
bench-peers: layer layer-nodejs
	@peer=$$(bench/peers/build-rust-peer.sh) && \
	node --import tsx bench/run.ts --only init,patterns,layer --plain-http --repeat 2 --measured 40 \
		$(BENCH_PEERS_ARGS) \
		--extension build/layer --name otel-lambda-extension \
		--extension build/layer-nodejs --name otel-lambda-extension-nodejs \
		--extension "$$peer" --name opentelemetry-lambda-extension-rs \
		--env 'opentelemetry-lambda-extension-rs:LAMBDA_OTEL_RECEIVER_HTTP_PORT={freePort}' \
		--env 'opentelemetry-lambda-extension-rs:LAMBDA_OTEL_TELEMETRY_API_LISTENER_PORT={freePort}'

clean:
	rm -rf build dist
