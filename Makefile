# nocbot developer targets. "make test" is what CI runs (.ci/run).

GO ?= go
# Debian's python, which has python3-jsonschema (a pyenv python3 on PATH would not).
PYTHON ?= /usr/bin/python3

# How long "make fuzz" runs each fuzz target.
FUZZTIME ?= 30s

.PHONY: test test-deps build run bench static-checks image fuzz test-faults soak

test: test-deps
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	scripts/static-checks.sh
	$(GO) test -race -count=1 -timeout 30m ./...
	$(PYTHON) -m unittest discover -s contrib/nocbot_messages/tests
	scripts/image.sh
	$(MAKE) test-faults

# The fault and load suite (build tag "faults", so plain "go test ./..." does not build it): the
# real binary SIGKILLed during a burst, bus delivery, an S3 publish and a blocker sync; S3 down;
# IRC server, homeserver and broker restarted under load; 1,000 commands/minute for LOAD_DURATION.
# No -race: the daemon is its own (non-race) binary, and the figures are the point.
LOAD_DURATION ?= 1m
test-faults: test-deps
	FAULTS_LOAD_DURATION=$(LOAD_DURATION) $(GO) test -tags faults -count=1 -timeout 20m -v -run '^TestFault' ./cmd/nocbot

# The load test alone for five minutes.
soak: test-deps
	FAULTS_LOAD_DURATION=5m $(GO) test -tags faults -count=1 -timeout 20m -v -run '^TestFaultLoad$$' ./cmd/nocbot

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
