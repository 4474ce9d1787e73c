package store_test

import (
	"testing"

	"github.com/portvakt/portvakt/internal/storetest"
)

// TestSigningConformance runs the signing keys' conformance suite on
// SQLite, and on PostgreSQL when PORTVAKT_TEST_POSTGRES_URL is set.
func TestSigningConformance(t *testing.T) {
	storetest.ForEachEngine(t, storetest.RunSigning)
}
