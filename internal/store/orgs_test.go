package store_test

import (
	"testing"

	"github.com/portvakt/portvakt/internal/storetest"
)

// TestOrgsConformance runs the organizations' conformance suite on SQLite,
// and on PostgreSQL when PORTVAKT_TEST_POSTGRES_URL is set.
func TestOrgsConformance(t *testing.T) {
	storetest.ForEachEngine(t, storetest.RunOrgs)
}
