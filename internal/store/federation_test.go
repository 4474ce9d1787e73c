package store_test

import (
	"testing"

	"github.com/portvakt/portvakt/internal/storetest"
)

// TestFederationConformance runs the identity providers' conformance suite
// on SQLite, and on PostgreSQL when PORTVAKT_TEST_POSTGRES_URL is set.
func TestFederationConformance(t *testing.T) {
	storetest.ForEachEngine(t, storetest.RunFederation)
}
