# canaryd build and test entry points. The README's two commands call these.
GO ?= go
PKGS := ./...

.PHONY: all build test test-deps demo lint bench fmt

all: build

build:
	$(GO) build $(PKGS)

## test-deps: installs what the tests need (Debian's prometheus package).
test-deps:
	@./scripts/test-deps.sh

## test: the whole suite, with the race detector, after installing its dependencies.
test: test-deps
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

## demo: canaryd's main job on embedded defaults: judge a healthy and a
## regressed canary, interval by interval, from recordings in testdata/.
demo:
	$(GO) build -o /dev/null ./cmd/canaryctl
	@echo "== A healthy canary (testdata/recordings/healthy.json)"
	$(GO) run ./cmd/canaryctl replay --config testdata/recordings/config.yml --template scenario --recording testdata/recordings/healthy.json
	@echo
	@echo "== A canary whose p99 latency regressed by 50% (testdata/recordings/regressed-p99.json)"
	$(GO) run ./cmd/canaryctl replay --config testdata/recordings/config.yml --template scenario --recording testdata/recordings/regressed-p99.json

lint:
	gofmt -l . | (! grep .)
	$(GO) vet $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)
