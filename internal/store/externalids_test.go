package store_test

import (
	"testing"

	"github.com/portvakt/portvakt/internal/storetest"
)

// TestExternalIDsConformance runs the external IDs' conformance suite on
// SQLite, and on PostgreSQL when PORTVAKT_TEST_POSTGRES_URL is set.
func TestExternalIDsConformance(t *testing.T) {
	storetest.ForEachEngine(t, storetest.RunExternalIDs)
}
