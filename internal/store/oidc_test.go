package store_test

import (
	"testing"

	"github.com/portvakt/portvakt/internal/storetest"
)

// TestOIDCConformance runs the OpenID Provider records' conformance suite
// on SQLite, and on PostgreSQL when PORTVAKT_TEST_POSTGRES_URL is set.
func TestOIDCConformance(t *testing.T) {
	storetest.ForEachEngine(t, storetest.RunOIDC)
}
