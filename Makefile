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

## demo: canaryd's main job on embedded defaults.
demo:
	$(GO) run ./cmd/canaryd demo

lint:
	gofmt -l . | (! grep .)
	$(GO) vet $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)
