package store_test

import (
	"testing"

	"github.com/portvakt/portvakt/internal/storetest"
)

// TestConsentsConformance runs the consents' conformance suite on SQLite,
// and on PostgreSQL when PORTVAKT_TEST_POSTGRES_URL is set.
func TestConsentsConformance(t *testing.T) {
	storetest.ForEachEngine(t, storetest.RunConsents)
}
