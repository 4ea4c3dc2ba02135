#!/usr/bin/env bash
# Builds AWS's Lambda Runtime Interface Emulator (aws-lambda-rie) from its Go module, cached under
# .cache/go-tools/aws-lambda-rie/; prints the binary path as the last stdout line.
#
# The repository tags releases as v1.NN, which are not semantic versions, so the module proxy
# serves it only by pseudo-version: this pins the commit of the release we test against.
set -euo pipefail
RIE_VERSION=v0.0.0-20261030222936-bef5c4ba774d
exec bash "$(dirname -- "${BASH_SOURCE[0]}")/../tools/go-install.sh" aws-lambda-rie \
  github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie "$RIE_VERSION"
