# Conveniences over the commands the README gives.

.PHONY: build test lint e2e bench bench-load run

# One static binary: no cgo (SQLite is pure Go), nothing to install beside it.
build:
	CGO_ENABLED=0 go build -o bin/portvakt ./cmd/portvakt

run:
	go run ./cmd/portvakt serve

test:
	./scripts/test

lint:
	test -z "$$(gofmt -l $$(git ls-files '*.go'))"
	go vet ./...
	staticcheck ./...

e2e:
	cd e2e && npm ci --no-audit --no-fund && npm test

bench:
	go test -run '^$$' -bench . -benchtime 3s ./...

# End-to-end load on loopback with wrk (bench/): SQLite, and PostgreSQL when
# PORTVAKT_TEST_POSTGRES_URL is set. About five minutes; see docs/benchmarks.md.
bench-load:
	go run ./bench/cmd/load $(BENCH_LOAD_FLAGS)
