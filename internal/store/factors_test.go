package store_test

import (
	"testing"

	"github.com/portvakt/portvakt/internal/storetest"
)

// TestFactorsConformance runs the second factors' conformance suite on
// SQLite, and on PostgreSQL when PORTVAKT_TEST_POSTGRES_URL is set.
func TestFactorsConformance(t *testing.T) {
	storetest.ForEachEngine(t, storetest.RunFactors)
}
