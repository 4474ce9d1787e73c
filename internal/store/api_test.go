package store_test

import (
	"testing"

	"github.com/portvakt/portvakt/internal/storetest"
)

// TestIdempotencyConformance runs the idempotency keys' conformance suite
// on SQLite, and on PostgreSQL when PORTVAKT_TEST_POSTGRES_URL is set.
func TestIdempotencyConformance(t *testing.T) {
	storetest.ForEachEngine(t, storetest.RunIdempotency)
}
