package store_test

import (
	"testing"

	"github.com/portvakt/portvakt/internal/storetest"
)

// TestAssertionsConformance runs the used client assertions' conformance
// suite on SQLite, and on PostgreSQL when PORTVAKT_TEST_POSTGRES_URL is set.
func TestAssertionsConformance(t *testing.T) {
	storetest.ForEachEngine(t, storetest.RunAssertions)
}
