package store_test

import (
	"testing"

	"github.com/portvakt/portvakt/internal/storetest"
)

// TestJoinRequestsConformance runs the join requests' conformance suite on
// SQLite, and on PostgreSQL when PORTVAKT_TEST_POSTGRES_URL is set.
func TestJoinRequestsConformance(t *testing.T) {
	storetest.ForEachEngine(t, storetest.RunJoinRequests)
}
