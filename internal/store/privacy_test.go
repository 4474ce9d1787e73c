package store_test

import (
	"testing"

	"github.com/portvakt/portvakt/internal/storetest"
)

// TestPrivacyConformance runs the erasure's and the export's conformance
// suite on SQLite, and on PostgreSQL when PORTVAKT_TEST_POSTGRES_URL is
// set.
func TestPrivacyConformance(t *testing.T) {
	storetest.ForEachEngine(t, storetest.RunPrivacy)
}
