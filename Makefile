# Conveniences over the commands the README gives.

.PHONY: build test lint e2e bench run

build:
	go build -o bin/portvakt ./cmd/portvakt

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
