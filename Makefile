.PHONY: run test build lint

# Starts the site on the embedded default PostgreSQL under ./.data, with the
# demo users (DATABASE_URL points it at another server instead).
run: build
	./bin/aistat serve

# Every test, against throwaway PostgreSQL clusters (TEST_DATABASE_URL to
# use an existing server instead).
test:
	go vet ./...
	go test -race -count=1 -timeout 9m ./...

build:
	go build -o bin/aistat ./cmd/aistat

lint:
	@test -z "$$(gofmt -l .)" || (gofmt -l . && echo "gofmt: the files above need formatting" && exit 1)
	go vet ./...

# Regenerates the README's pictures in docs/ by driving the site in headless
# Chromium with the browser tests' own code.
.PHONY: screenshots
screenshots:
	go test ./e2e -run '^TestScreenshots$$' -count=1 -screenshots=$(CURDIR)/docs

# Not part of make test: three instances of the built binary on one
# database under mixed traffic for SOAK_DURATION (at least 10m for the real
# thing; e.g. SOAK_DURATION=1m for a quick check), with PostgreSQL restarted
# once in the middle. Prints a summary with counts.
SOAK_DURATION ?= 10m
.PHONY: soak
soak:
	go test ./cmd/aistat -run '^TestSoak$$' -count=1 -v -timeout 60m -soak=$(SOAK_DURATION)

# Measures the request path against PostgreSQL's own limit on a private
# cluster with 100,000 users and 1,000,000 sessions, and writes
# BENCHMARKS.md (about 10 minutes; needs wrk, installed when missing).
.PHONY: bench
bench:
	@command -v wrk >/dev/null 2>&1 || (apt-get update && apt-get install -y --no-install-recommends wrk)
	go run ./cmd/aistat-bench

# Not part of make test: the site on a primary and a synchronous standby
# (private clusters: initdb, pg_basebackup, the Debian binaries) under
# load, the primary killed and the standby promoted. Prints how long writes
# were refused, how many requests failed and that every acknowledged write
# is on the new primary (about half a minute).
.PHONY: ha
ha:
	go run ./cmd/aistat-bench -ha
