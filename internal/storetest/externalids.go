package storetest

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portvakt/portvakt/internal/externalids"
)

// RunExternalIDs is the conformance suite of external IDs
// (externalids.Store) on engine e.
func RunExternalIDs(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	ada, bo := newUser(t, "ada@example.com", ""), newUser(t, "bo@example.com", "")
	must(t, s.CreateUser(ctx, ada, userEvent(t, ada)), "CreateUser")
	must(t, s.CreateUser(ctx, bo, userEvent(t, bo)), "CreateUser")
	acme := newOrg(t, "acme", "acme.example")
	must(t, s.CreateOrganization(ctx, acme, orgEvent(t, "organization.created", acme)), "CreateOrganization")

	ev := newEvent(t, "user.updated", ada.Subject(), nil)
	must(t, s.SetExternalIDs(ctx, externalids.User, ada.ID, map[string]string{"erp": "E-1", "support": "S-9"}, ev), "SetExternalIDs")
	must(t, s.SetExternalIDs(ctx, externalids.Organization, acme.ID, map[string]string{"erp": "E-1"}), "SetExternalIDs(org)")
	got, err := s.ExternalIDs(ctx, externalids.User, []string{ada.ID, bo.ID})
	must(t, err, "ExternalIDs")
	if d := cmp.Diff(map[string]map[string]string{ada.ID: {"erp": "E-1", "support": "S-9"}}, got); d != "" {
		t.Errorf("ExternalIDs (-want +got):\n%s", d)
	}
	// Users and organizations are separate: the same source and ID for an
	// organization is another thing.
	if id, err := s.FindExternal(ctx, externalids.User, "erp", "E-1"); err != nil || id != ada.ID {
		t.Errorf("FindExternal(user, erp, E-1) = %q, %v; want Ada", id, err)
	}
	if id, err := s.FindExternal(ctx, externalids.Organization, "erp", "E-1"); err != nil || id != acme.ID {
		t.Errorf("FindExternal(org, erp, E-1) = %q, %v; want Acme", id, err)
	}
	if _, err := s.FindExternal(ctx, externalids.User, "support", "E-1"); !errors.Is(err, externalids.ErrNotFound) {
		t.Errorf("FindExternal of an ID in another source: %v, want not found", err)
	}
	// Unique within the source: Bo cannot take Ada's, and nothing is kept
	// of a refused change.
	err = s.SetExternalIDs(ctx, externalids.User, bo.ID, map[string]string{"support": "S-1", "erp": "E-1"}, newEvent(t, "user.updated", bo.Subject(), nil))
	if !errors.Is(err, externalids.ErrConflict) {
		t.Errorf("SetExternalIDs to a taken ID: %v, want ErrConflict", err)
	}
	if got, _ := s.ExternalIDs(ctx, externalids.User, []string{bo.ID}); len(got) != 0 {
		t.Errorf("a refused change kept %v", got)
	}
	if types := eventTypesAbout(t, s, bo.Subject()); len(types) != 1 {
		t.Errorf("events about Bo after a refused change: %v, want only the import", types)
	}
	// Changed and removed.
	must(t, s.SetExternalIDs(ctx, externalids.User, ada.ID, map[string]string{"erp": "E-2", "support": ""}), "SetExternalIDs(change)")
	got, _ = s.ExternalIDs(ctx, externalids.User, []string{ada.ID})
	if d := cmp.Diff(map[string]map[string]string{ada.ID: {"erp": "E-2"}}, got); d != "" {
		t.Errorf("after the change (-want +got):\n%s", d)
	}
	if err := s.SetExternalIDs(ctx, externalids.User, "no-such-user", map[string]string{"erp": "E-3"}); !errors.Is(err, externalids.ErrNotFound) {
		t.Errorf("SetExternalIDs of a missing user: %v, want not found", err)
	}
	// They go with their user and organization.
	eraseUser(t, s, ada.ID)
	must(t, s.DeleteOrganization(ctx, acme.ID, base, orgEvent(t, "organization.deleted", acme)), "DeleteOrganization")
	for _, k := range []externalids.Kind{externalids.User, externalids.Organization} {
		if _, err := s.FindExternal(ctx, k, "erp", "E-2"); !errors.Is(err, externalids.ErrNotFound) {
			t.Errorf("FindExternal(%s) after deletion: %v", k, err)
		}
	}
}
