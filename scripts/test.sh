#!/usr/bin/env bash
# The whole test suite, as the README and CI run it: installs what the tests
# run for real (Prometheus, promtool, Chromium), then vets and tests every
# package with the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
./scripts/test-deps.sh
echo "test: checking go.mod is tidy and the code vets"
if ! go mod tidy -diff; then
  echo "test: go mod tidy would change go.mod/go.sum (run 'go mod tidy' and commit)" >&2
  exit 1
fi
gofmt_out=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$gofmt_out" ]; then
  echo "test: gofmt would change: $gofmt_out" >&2
  exit 1
fi
go vet ./...
go test -race -count=1 -timeout 20m ./...
