#!/usr/bin/env bash
# The whole test suite, as the README and CI run it: installs what the tests
# run for real (Prometheus, promtool, Chromium), then vets and tests every
# package with the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
echo "test: checking the test dependencies (Prometheus, promtool, Chromium)"
./scripts/test-deps.sh
echo "test: checking go.mod is tidy (canaryd's and the contract tests') and the code is gofmt-ed"
for mod in . integrations/contract; do
  if ! (cd "$mod" && go mod tidy -diff); then
    echo "test: go mod tidy would change $mod/go.mod or go.sum (run 'go mod tidy' there and commit)" >&2
    exit 1
  fi
done
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
echo "test: canaryd's packages passed in $((SECONDS - start)) s"
# The contract tests run the README's Argo Rollouts and Flagger recipes in the tools' own code: a module of
# its own (integrations/contract), so that canaryd's go.mod does not carry Kubernetes' and the tools'
# dependencies. Their first build compiles Argo Rollouts, Flagger and client-go; the race detector is left out
# there, as it would double that for code that is not canaryd's.
echo "test: the contract tests with Argo Rollouts and Flagger (integrations/contract; the first build takes minutes)"
contract=$SECONDS
(cd integrations/contract && go vet ./... && go test -count=1 -timeout 10m ./...)
echo "test: the contract tests passed in $((SECONDS - contract)) s; everything passed in $((SECONDS - start)) s"
