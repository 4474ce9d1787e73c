package store_test

import (
	"testing"

	"github.com/portvakt/portvakt/internal/storetest"
)

// TestWebhooksConformance runs the webhooks' conformance suite on SQLite,
// and on PostgreSQL when PORTVAKT_TEST_POSTGRES_URL is set.
func TestWebhooksConformance(t *testing.T) {
	storetest.ForEachEngine(t, storetest.RunWebhooks)
}
