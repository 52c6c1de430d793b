# nocbot developer targets. "make test" is what CI runs (.ci/run).

GO ?= go
# Debian's python, which has python3-jsonschema (a pyenv python3 on PATH would not).
PYTHON ?= /usr/bin/python3

.PHONY: test test-deps build run bench

test: test-deps
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 30m ./...
	$(PYTHON) -m unittest discover -s contrib/nocbot_messages/tests

# Installs the servers and tools the integration tests start (see internal/testsrv).
test-deps:
	scripts/testservers/install.sh

build:
	$(GO) build -o bin/nocbot ./cmd/nocbot

run:
	$(GO) run ./cmd/nocbot

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
