#!/usr/bin/env bash
# The whole test suite, as the README and CI run it: installs what the tests
# run for real (Prometheus, promtool, Chromium), then vets and tests every
# package with the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
./scripts/test-deps.sh
go vet ./...
go test -race -count=1 -timeout 20m ./...
