package store_test

import (
	"testing"

	"github.com/portvakt/portvakt/internal/storetest"
)

// TestBackchannelConformance runs the back-channel logout records'
// conformance suite on SQLite, and on PostgreSQL when
// PORTVAKT_TEST_POSTGRES_URL is set.
func TestBackchannelConformance(t *testing.T) {
	storetest.ForEachEngine(t, storetest.RunBackchannel)
}
