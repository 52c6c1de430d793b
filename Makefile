# nocbot developer targets. "make test" is what CI runs (.ci/run).

GO ?= go
# Debian's python, which has python3-jsonschema (a pyenv python3 on PATH would not).
PYTHON ?= /usr/bin/python3

# How long "make fuzz" runs each fuzz target.
FUZZTIME ?= 30s

.PHONY: test test-deps build run bench static-checks image fuzz

test: test-deps
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	scripts/static-checks.sh
	$(GO) test -race -count=1 -timeout 30m ./...
	$(PYTHON) -m unittest discover -s contrib/nocbot_messages/tests
	scripts/image.sh

# staticcheck and govulncheck (local vulnerability database), as in "make test".
static-checks:
	scripts/static-checks.sh

# Builds the FROM-scratch container image with podman and checks it, as in "make test".
image:
	scripts/image.sh

# Runs every fuzz target for FUZZTIME; what it finds lands in the package's testdata/fuzz, which
# plain "go test" then replays.
fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

# Installs the servers and tools the integration tests start (see internal/testsrv).
test-deps:
	scripts/testservers/install.sh

build:
	$(GO) build -o bin/nocbot ./cmd/nocbot

run:
	$(GO) run ./cmd/nocbot

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
