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
