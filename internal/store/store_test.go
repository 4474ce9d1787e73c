package store_test

import (
	"testing"

	"github.com/portvakt/portvakt/internal/storetest"
)

// TestConformance runs the storage conformance suite on SQLite, and on
// PostgreSQL when PORTVAKT_TEST_POSTGRES_URL is set.
func TestConformance(t *testing.T) {
	storetest.ForEachEngine(t, storetest.Run)
}
