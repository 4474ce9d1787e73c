package store_test

import (
	"testing"

	"github.com/portvakt/portvakt/internal/storetest"
)

// TestConnectionsConformance runs the connected applications' conformance
// suite on SQLite, and on PostgreSQL when PORTVAKT_TEST_POSTGRES_URL is
// set.
func TestConnectionsConformance(t *testing.T) {
	storetest.ForEachEngine(t, storetest.RunConnections)
}
