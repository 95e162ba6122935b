#!/usr/bin/env bash
# The whole test suite, as the README and CI run it: installs what the tests
# run for real (Prometheus, promtool, Chromium), then vets and tests every
# package with the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
echo "test: checking the test dependencies (Prometheus, promtool, Chromium)"
./scripts/test-deps.sh
echo "test: checking go.mod is tidy and the code is gofmt-ed"
if ! go mod tidy -diff; then
  echo "test: go mod tidy would change go.mod/go.sum (run 'go mod tidy' and commit)" >&2
  exit 1
fi
gofmt_out=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$gofmt_out" ]; then
  echo "test: gofmt would change: $gofmt_out" >&2
  exit 1
fi
npkg=$(go list ./... | wc -l)
echo "test: building $npkg packages with the race detector (the first build compiles NATS, Prometheus' TSDB and"
echo "      PromQL engine and the rest: several minutes on 2 cores; later runs take seconds)"
start=$SECONDS
go build -race ./...
echo "test: built in $((SECONDS - start)) s; vetting"
go vet ./...
echo "test: running the tests of $npkg packages (a line per package as it finishes; the whole suite takes minutes)"
go test -race -count=1 -timeout 20m ./...
echo "test: every package passed in $((SECONDS - start)) s"
