package store_test

import (
	"testing"

	"github.com/portvakt/portvakt/internal/storetest"
)

// TestInvitationsConformance runs the invitations' conformance suite on
// SQLite, and on PostgreSQL when PORTVAKT_TEST_POSTGRES_URL is set.
func TestInvitationsConformance(t *testing.T) {
	storetest.ForEachEngine(t, storetest.RunInvitations)
}
