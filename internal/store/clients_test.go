package store_test

import (
	"testing"

	"github.com/portvakt/portvakt/internal/storetest"
)

// TestClientsConformance runs the OAuth clients' conformance suite on
// SQLite, and on PostgreSQL when PORTVAKT_TEST_POSTGRES_URL is set.
func TestClientsConformance(t *testing.T) {
	storetest.ForEachEngine(t, storetest.RunClients)
}
