# canaryd build and test entry points (the README shows the commands behind them).
GO ?= go
PKGS := ./...

.PHONY: all build test test-deps demo replay-demo lint bench

all: build

build:
	$(GO) build $(PKGS)

## test-deps: installs what the tests run for real (Prometheus, promtool, Chromium).
test-deps:
	@./scripts/test-deps.sh

## test: the whole suite, with the race detector, after installing its dependencies.
test:
	./scripts/test.sh

## demo: canaryd's main job on embedded defaults: a healthy canary promoted
## and a regressed one rolled back, on a compressed clock.
demo:
	$(GO) run ./cmd/canaryd demo

## replay-demo: recorded analyses in testdata/, replayed as the daemon would run them.
replay-demo:
	$(GO) run ./cmd/canaryctl replay --config testdata/recordings/config.yml --template scenario --recording testdata/recordings/healthy.json
	$(GO) run ./cmd/canaryctl replay --config testdata/recordings/config.yml --template scenario --recording testdata/recordings/regressed-p99.json

lint:
	gofmt -l . | (! grep .)
	$(GO) vet $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)
