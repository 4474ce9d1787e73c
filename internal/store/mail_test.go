package store_test

import (
	"testing"

	"github.com/portvakt/portvakt/internal/storetest"
)

// TestMailConformance runs the mail records' conformance suite on SQLite,
// and on PostgreSQL when PORTVAKT_TEST_POSTGRES_URL is set.
func TestMailConformance(t *testing.T) {
	storetest.ForEachEngine(t, storetest.RunMail)
}
