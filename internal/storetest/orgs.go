package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/oidc"
	"github.com/portvakt/portvakt/internal/orgs"
	"github.com/portvakt/portvakt/internal/store"
)

// RunOrgs is the conformance suite for organizations, roles and
// memberships (orgs.Store) on engine e.
func RunOrgs(t *testing.T, e Engine) {
	t.Run("RoundTrip", func(t *testing.T) { testOrgRoundTrip(t, e) })
	t.Run("Conflicts", func(t *testing.T) { testOrgConflicts(t, e) })
	t.Run("Update", func(t *testing.T) { testOrgUpdate(t, e) })
	t.Run("List", func(t *testing.T) { testOrgList(t, e) })
	t.Run("Delete", func(t *testing.T) { testOrgDelete(t, e) })
	t.Run("Roles", func(t *testing.T) { testRoles(t, e) })
	t.Run("DeleteRole", func(t *testing.T) { testDeleteRole(t, e) })
	t.Run("Memberships", func(t *testing.T) { testMemberships(t, e) })
	t.Run("Members", func(t *testing.T) { testMembers(t, e) })
	t.Run("UserRoles", func(t *testing.T) { testUserRoles(t, e) })
	t.Run("ConcurrentPuts", func(t *testing.T) { testOrgConcurrentPuts(t, e) })
	t.Run("FailedEvents", func(t *testing.T) { testOrgFailedEvents(t, e) })
	t.Run("Settings", func(t *testing.T) { testOrgSettings(t, e) })
}

// testOrgSettings: an organization's sign-in settings are kept, and
// replaced by an update.
func testOrgSettings(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	o := newOrg(t, "sso", "sso.example")
	o.Settings = orgs.Settings{SSOProvider: "entra", SSORoles: []orgs.Grant{{App: "portal", Role: "viewer"}}}
	must(t, s.CreateOrganization(ctx, o), "CreateOrganization")
	got, err := s.OrganizationByDomain(ctx, "sso.example")
	must(t, err, "OrganizationByDomain")
	if got.SSOProvider != "entra" || !slices.Equal(got.SSORoles, o.SSORoles) {
		t.Errorf("settings read back as %+v", got.Settings)
	}
	o.Settings = orgs.Settings{}
	o.UpdatedAt = base.Add(time.Hour)
	must(t, s.UpdateOrganization(ctx, o, time.Time{}), "UpdateOrganization")
	if got, err := s.OrganizationByID(ctx, o.ID); err != nil || got.SSOProvider != "" || len(got.SSORoles) != 0 {
		t.Errorf("settings after clearing them: %+v, %v", got.Settings, err)
	}
}

// newOrg returns a valid organization with slug and domains, created at
// base.
func newOrg(t testing.TB, slug string, domains ...string) orgs.Organization {
	t.Helper()
	o := orgs.Organization{ID: "org_" + slug, Name: "Org " + slug, Slug: slug, Domains: domains, CreatedAt: base, UpdatedAt: base}
	must(t, o.Validate(), "validate organization %s", slug)
	return o
}

// orgAsStored is o as the store gives it back.
func orgAsStored(o orgs.Organization) orgs.Organization {
	o.CreatedAt, o.UpdatedAt = stored(o.CreatedAt), stored(o.UpdatedAt)
	if len(o.Domains) == 0 {
		o.Domains = nil
	}
	return o
}

// orgEvent returns an event about o.
func orgEvent(t testing.TB, typ string, o orgs.Organization) events.Event {
	t.Helper()
	return newEvent(t, typ, o.Subject(), nil)
}

// createOrgs creates each organization with its event.
func createOrgs(t testing.TB, s *store.Store, list ...orgs.Organization) {
	t.Helper()
	for _, o := range list {
		must(t, s.CreateOrganization(t.Context(), o, orgEvent(t, "org.created", o)), "CreateOrganization(%s)", o.Slug)
	}
}

// newRole returns a valid role created at base.
func newRole(t testing.TB, app, name string, permissions ...string) orgs.Role {
	t.Helper()
	r := orgs.Role{App: app, Name: name, Description: "The " + name + " of " + app, Permissions: permissions, CreatedAt: base}
	must(t, r.Validate(), "validate role %s/%s", app, name)
	return r
}

// roleSubject is a role's name in events.
func roleSubject(app, name string) string { return "role:" + app + "/" + name }

// createRoles creates app/name roles, each written as "app/name".
func createRoles(t testing.TB, s *store.Store, keys ...string) {
	t.Helper()
	for _, k := range keys {
		app, name, _ := strings.Cut(k, "/")
		must(t, s.CreateRole(t.Context(), newRole(t, app, name), newEvent(t, "role.created", roleSubject(app, name), nil)), "CreateRole(%s)", k)
	}
}

// grants parses "app/role" keys.
func grants(keys ...string) []orgs.Grant {
	var out []orgs.Grant
	for _, k := range keys {
		app, role, _ := strings.Cut(k, "/")
		out = append(out, orgs.Grant{App: app, Role: role})
	}
	return out
}

// createUsers creates a user per email.
func createUsers(t testing.TB, s *store.Store, emails ...string) []accounts.User {
	t.Helper()
	var out []accounts.User
	for _, email := range emails {
		u := newUser(t, email, "")
		must(t, s.CreateUser(t.Context(), u, userEvent(t, u)), "CreateUser(%s)", email)
		out = append(out, u)
	}
	return out
}

// member returns a membership of u in o with roles, created and updated at.
func member(o orgs.Organization, u accounts.User, at time.Time, roles ...string) orgs.Membership {
	return orgs.Membership{OrgID: o.ID, UserID: u.ID, Roles: grants(roles...), CreatedAt: at, UpdatedAt: at}
}

// memberEvent returns an event about a change to m.
func memberEvent(t testing.TB, typ string, m orgs.Membership) events.Event {
	t.Helper()
	return newEvent(t, typ, "org:"+m.OrgID, map[string]string{"user_id": m.UserID})
}

// isOrgNotFound reports whether err matches both not-found sentinels.
func isOrgNotFound(err error) bool {
	return errors.Is(err, orgs.ErrNotFound) && errors.Is(err, store.ErrNotFound)
}

// isOrgConflict reports whether err matches both conflict sentinels.
func isOrgConflict(err error) bool {
	return errors.Is(err, orgs.ErrConflict) && errors.Is(err, store.ErrConflict)
}

// countRows counts the rows of table where cond holds, read past the store.
func countRows(t testing.TB, e Engine, rawURL, table, cond string, args ...any) int {
	t.Helper()
	var n int
	must(t, e.RawDB(t, rawURL).QueryRowContext(t.Context(), `SELECT COUNT(*) FROM `+table+` WHERE `+cond, args...).Scan(&n), "count %s", table)
	return n
}

func testOrgRoundTrip(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	full := orgs.Organization{
		ID:         "org_full",
		Name:       "  Åkerö Bygg AB ",
		Slug:       "akero-bygg",
		ExternalID: "crm-17",
		Domains:    []string{"Mail.Akero.SE.", "akero.se"},
		Metadata:   json.RawMessage(`{"tier": "gold",  "seats": [1, 2]}`),
		Status:     orgs.StatusSuspended,
		CreatedAt:  base,
		UpdatedAt:  base.Add(time.Second + 999*time.Nanosecond),
	}
	must(t, full.Validate(), "validate")
	minimal := newOrg(t, "minimal")
	createOrgs(t, s, full, minimal)

	want := orgAsStored(full)
	lookups := []struct {
		name string
		get  func() (orgs.Organization, error)
	}{
		{"OrganizationByID", func() (orgs.Organization, error) { return s.OrganizationByID(ctx, "org_full") }},
		{"OrganizationBySlug", func() (orgs.Organization, error) { return s.OrganizationBySlug(ctx, "akero-bygg") }},
		{"OrganizationByExternalID", func() (orgs.Organization, error) { return s.OrganizationByExternalID(ctx, "crm-17") }},
		{"OrganizationByDomain(akero.se)", func() (orgs.Organization, error) { return s.OrganizationByDomain(ctx, "akero.se") }},
		{"OrganizationByDomain(mail.akero.se)", func() (orgs.Organization, error) { return s.OrganizationByDomain(ctx, "mail.akero.se") }},
	}
	for _, l := range lookups {
		got, err := l.get()
		must(t, err, "%s", l.name)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", l.name, diff)
		}
		for name, tm := range map[string]time.Time{"CreatedAt": got.CreatedAt, "UpdatedAt": got.UpdatedAt} {
			if tm.Location() != time.UTC {
				t.Errorf("%s.%s: got time in %v, want UTC", l.name, name, tm.Location())
			}
		}
	}
	got, err := s.OrganizationByID(ctx, minimal.ID)
	must(t, err, "OrganizationByID(minimal)")
	if diff := cmp.Diff(orgAsStored(minimal), got); diff != "" {
		t.Errorf("OrganizationByID(minimal) (-want +got):\n%s", diff)
	}
	if got.Domains != nil || string(got.Metadata) != "{}" || got.ExternalID != "" || got.Status != orgs.StatusActive {
		t.Errorf("minimal organization: got domains %v, metadata %s, external ID %q, status %q; want none, {}, none, active",
			got.Domains, got.Metadata, got.ExternalID, got.Status)
	}

	// Domains come back sorted, whatever the order they were given in.
	unsorted := newOrg(t, "unsorted")
	unsorted.Domains = []string{"z.example", "a.example", "m.example"}
	createOrgs(t, s, unsorted)
	got, err = s.OrganizationByID(ctx, unsorted.ID)
	must(t, err, "OrganizationByID(unsorted)")
	if want := []string{"a.example", "m.example", "z.example"}; !slices.Equal(got.Domains, want) {
		t.Errorf("domains given unsorted: got %v, want %v", got.Domains, want)
	}

	misses := []struct {
		name string
		get  func() (orgs.Organization, error)
	}{
		{"OrganizationByID", func() (orgs.Organization, error) { return s.OrganizationByID(ctx, "ghost") }},
		{"OrganizationBySlug", func() (orgs.Organization, error) { return s.OrganizationBySlug(ctx, "ghost") }},
		{"OrganizationByExternalID", func() (orgs.Organization, error) { return s.OrganizationByExternalID(ctx, "ghost") }},
		// The minimal organization has no external ID: "" finds nothing.
		{"OrganizationByExternalID(empty)", func() (orgs.Organization, error) { return s.OrganizationByExternalID(ctx, "") }},
		{"OrganizationByDomain", func() (orgs.Organization, error) { return s.OrganizationByDomain(ctx, "ghost.example") }},
		{"OrganizationByDomain(parent)", func() (orgs.Organization, error) { return s.OrganizationByDomain(ctx, "se") }},
	}
	for _, m := range misses {
		if got, err := m.get(); !isOrgNotFound(err) {
			t.Errorf("%s: got %+v, %v; want orgs.ErrNotFound and store.ErrNotFound", m.name, got, err)
		}
	}
	for _, o := range []orgs.Organization{full, minimal} {
		if got := eventTypesAbout(t, s, o.Subject()); !slices.Equal(got, []string{"org.created"}) {
			t.Errorf("events about %s: got %v, want [org.created]", o.Slug, got)
		}
	}
}

func testOrgConflicts(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	acme := newOrg(t, "acme", "acme.com")
	acme.ExternalID = "crm-1"
	createOrgs(t, s, acme)

	// Organizations without an external ID do not collide.
	c, d := newOrg(t, "c", "c.example"), newOrg(t, "d")
	createOrgs(t, s, c, d)

	for _, tc := range []struct {
		name string
		edit func(o *orgs.Organization)
	}{
		{"slug", func(o *orgs.Organization) { o.Slug = "acme" }},
		{"external ID", func(o *orgs.Organization) { o.ExternalID = "crm-1" }},
		{"domain", func(o *orgs.Organization) { o.Domains = []string{"acme.com", "fresh.example"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newOrg(t, "fresh", "fresh.example")
			tc.edit(&o)
			must(t, o.Validate(), "validate")
			if err := s.CreateOrganization(ctx, o, orgEvent(t, "org.created", o)); !isOrgConflict(err) {
				t.Fatalf("CreateOrganization with a taken %s: got %v, want orgs.ErrConflict and store.ErrConflict", tc.name, err)
			}
			if _, err := s.OrganizationByID(ctx, o.ID); !isOrgNotFound(err) {
				t.Errorf("the refused organization: got %v, want not found", err)
			}
			if got, err := s.OrganizationByDomain(ctx, "fresh.example"); !isOrgNotFound(err) {
				t.Errorf("a domain of the refused organization went to %s (%v)", got.Slug, err)
			}
			if got := eventTypesAbout(t, s, o.Subject()); len(got) != 0 {
				t.Errorf("events about the refused organization: got %v, want none", got)
			}

			// The same, taken by an update of c: c stays as it was,
			// domains included.
			u := c
			u.Domains = slices.Clone(c.Domains)
			tc.edit(&u)
			u.UpdatedAt = base.Add(time.Hour)
			if err := s.UpdateOrganization(ctx, u, time.Time{}, orgEvent(t, "org.updated", u)); !isOrgConflict(err) {
				t.Fatalf("UpdateOrganization to a taken %s: got %v, want orgs.ErrConflict and store.ErrConflict", tc.name, err)
			}
			got, err := s.OrganizationByID(ctx, c.ID)
			must(t, err, "OrganizationByID(c)")
			if diff := cmp.Diff(orgAsStored(c), got); diff != "" {
				t.Errorf("c after the refused update (-want +got):\n%s", diff)
			}
		})
	}
	if got, err := s.OrganizationByDomain(ctx, "acme.com"); err != nil || got.ID != acme.ID {
		t.Errorf("OrganizationByDomain(acme.com): got %q, %v; want %s", got.ID, err, acme.ID)
	}
	if got := eventTypesAbout(t, s, c.Subject()); !slices.Equal(got, []string{"org.created"}) {
		t.Errorf("events about c: got %v, want [org.created] only", got)
	}
}

func testOrgUpdate(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	o := newOrg(t, "before", "keep.example", "drop.example")
	o.ExternalID, o.Metadata = "crm-9", json.RawMessage(`{"a":1}`)
	createOrgs(t, s, o)

	u := o
	u.Name, u.Slug, u.ExternalID, u.Status = "After AB", "after", "", orgs.StatusSuspended
	u.Domains = []string{"new.example", "keep.example"}
	u.Metadata = json.RawMessage(`{"b": [true, null]}`)
	u.CreatedAt, u.UpdatedAt = base.Add(2*time.Hour), base.Add(time.Hour)
	must(t, u.Validate(), "validate")
	must(t, s.UpdateOrganization(ctx, u, time.Time{}, orgEvent(t, "org.updated", u)), "UpdateOrganization")

	want := orgAsStored(u)
	want.CreatedAt = stored(base) // kept from the creation
	for _, l := range []struct {
		name string
		get  func() (orgs.Organization, error)
	}{
		{"OrganizationByID", func() (orgs.Organization, error) { return s.OrganizationByID(ctx, o.ID) }},
		{"OrganizationBySlug(after)", func() (orgs.Organization, error) { return s.OrganizationBySlug(ctx, "after") }},
		{"OrganizationByDomain(new.example)", func() (orgs.Organization, error) { return s.OrganizationByDomain(ctx, "new.example") }},
		{"OrganizationByDomain(keep.example)", func() (orgs.Organization, error) { return s.OrganizationByDomain(ctx, "keep.example") }},
	} {
		got, err := l.get()
		must(t, err, "%s", l.name)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s after the update (-want +got):\n%s", l.name, diff)
		}
	}
	for _, m := range []struct {
		name string
		get  func() (orgs.Organization, error)
	}{
		{"OrganizationBySlug(before)", func() (orgs.Organization, error) { return s.OrganizationBySlug(ctx, "before") }},
		{"OrganizationByExternalID(crm-9)", func() (orgs.Organization, error) { return s.OrganizationByExternalID(ctx, "crm-9") }},
		{"OrganizationByDomain(drop.example)", func() (orgs.Organization, error) { return s.OrganizationByDomain(ctx, "drop.example") }},
	} {
		if got, err := m.get(); !isOrgNotFound(err) {
			t.Errorf("%s after the update: got %s, %v; want not found", m.name, got.Slug, err)
		}
	}

	// What the update let go of is free for others.
	other := newOrg(t, "before", "drop.example")
	other.ID, other.ExternalID = "org_other", "crm-9"
	must(t, s.CreateOrganization(ctx, other), "CreateOrganization with the released slug, external ID and domain")

	// No domains at all.
	u.Domains = nil
	must(t, s.UpdateOrganization(ctx, u, time.Time{}), "UpdateOrganization(no domains)")
	if got, err := s.OrganizationByID(ctx, o.ID); err != nil || got.Domains != nil {
		t.Errorf("OrganizationByID after removing every domain: got domains %v, %v; want none", got.Domains, err)
	}
	if _, err := s.OrganizationByDomain(ctx, "keep.example"); !isOrgNotFound(err) {
		t.Errorf("OrganizationByDomain(keep.example) after removing every domain: got %v, want not found", err)
	}

	// Based on a version that is no longer the stored one: a lost update,
	// refused, nothing written.
	cur, err := s.OrganizationByID(ctx, o.ID)
	must(t, err, "OrganizationByID")
	late := cur
	late.Name, late.UpdatedAt = "Late AB", cur.UpdatedAt.Add(time.Hour)
	if err := s.UpdateOrganization(ctx, late, cur.UpdatedAt.Add(-time.Second), orgEvent(t, "org.updated", late)); !errors.Is(err, orgs.ErrStale) {
		t.Errorf("UpdateOrganization based on an old version: got %v, want orgs.ErrStale", err)
	}
	if got, _ := s.OrganizationByID(ctx, o.ID); got.Name != cur.Name {
		t.Errorf("a refused update changed the name to %q", got.Name)
	}
	late.UpdatedAt = cur.UpdatedAt.Add(2 * time.Hour)
	must(t, s.UpdateOrganization(ctx, late, cur.UpdatedAt, orgEvent(t, "org.updated", late)), "UpdateOrganization based on the stored version")

	ghost := newOrg(t, "ghost", "ghost.example")
	if err := s.UpdateOrganization(ctx, ghost, time.Time{}, orgEvent(t, "org.updated", ghost)); !isOrgNotFound(err) {
		t.Errorf("UpdateOrganization of a missing organization: got %v, want not found", err)
	}
	if _, err := s.OrganizationByDomain(ctx, "ghost.example"); !isOrgNotFound(err) {
		t.Errorf("the failed update of a missing organization kept its domain: %v", err)
	}
	if got := eventTypesAbout(t, s, ghost.Subject()); len(got) != 0 {
		t.Errorf("events about a missing organization: got %v, want none", got)
	}
	// The refused update wrote no event.
	if got := eventTypesAbout(t, s, o.Subject()); !slices.Equal(got, []string{"org.created", "org.updated", "org.updated"}) {
		t.Errorf("events: got %v, want org.created and two org.updated", got)
	}
}

func testOrgList(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	if got, err := s.ListOrganizations(ctx, "", 10); err != nil || len(got) != 0 {
		t.Fatalf("ListOrganizations on an empty store: got %d, %v; want none", len(got), err)
	}
	// Slugs whose order depends on how '-' sorts: byte order puts it
	// before digits and letters.
	slugs := []string{"b", "a-c", "ab", "a-b", "a1", "c", "a"}
	want := map[string]orgs.Organization{}
	for i, slug := range slugs {
		var domains []string
		if i%2 == 0 {
			domains = []string{"www." + slug + ".example", slug + ".example"}
		}
		o := newOrg(t, slug, domains...)
		createOrgs(t, s, o)
		want[slug] = orgAsStored(o)
	}
	sorted := slices.Sorted(slices.Values(slugs))
	for _, limit := range []int{1, 2, 3, 100} {
		var got []string
		after := ""
		for range len(slugs) + 1 {
			page, err := s.ListOrganizations(ctx, after, limit)
			must(t, err, "ListOrganizations(%q, %d)", after, limit)
			if len(page) > limit {
				t.Fatalf("ListOrganizations(%q, %d): got %d organizations", after, limit, len(page))
			}
			for _, o := range page {
				got = append(got, o.Slug)
				if diff := cmp.Diff(want[o.Slug], o); diff != "" {
					t.Errorf("ListOrganizations(%q, %d): %s (-want +got):\n%s", after, limit, o.Slug, diff)
				}
			}
			if len(page) < limit {
				break
			}
			after = page[len(page)-1].Slug
		}
		if !slices.Equal(got, sorted) {
			t.Errorf("ListOrganizations pages of %d: got %v, want %v", limit, got, sorted)
		}
	}
	page, err := s.ListOrganizations(ctx, "a1", 2)
	must(t, err, "ListOrganizations(a1, 2)")
	if len(page) != 2 || page[0].Slug != "ab" || page[1].Slug != "b" {
		t.Errorf("ListOrganizations(a1, 2): got %v, want ab, b", page)
	}
}

func testOrgDelete(t *testing.T, e Engine) {
	ctx := t.Context()
	rawURL := e.NewURL(t)
	s := OpenURL(t, rawURL)
	doomed, other := newOrg(t, "doomed", "doomed.example"), newOrg(t, "other", "other.example")
	createOrgs(t, s, doomed, other)
	createRoles(t, s, "shop/admin", "shop/orders")
	users := createUsers(t, s, "one@example.com", "two@example.com")
	for _, m := range []orgs.Membership{
		member(doomed, users[0], base, "shop/admin", "shop/orders"),
		member(doomed, users[1], base, "shop/orders"),
		member(other, users[0], base.Add(time.Hour), "shop/admin"),
	} {
		must(t, s.PutMembership(ctx, m, memberEvent(t, "org.member_added", m)), "PutMembership")
	}
	must(t, s.PutUserRoles(ctx, users[0].ID, grants("shop/admin")), "PutUserRoles")

	inDoomed := oidcTokenFixture("tok-doomed", oidc.KindRefresh, "fam-d", "hash-doomed")
	inOther := oidcTokenFixture("tok-other", oidc.KindRefresh, "fam-o", "hash-other")
	inDoomed.UserID, inDoomed.OrgID, inOther.UserID, inOther.OrgID = users[1].ID, doomed.ID, users[0].ID, other.ID
	must(t, s.SaveGrantTokens(ctx, []oidc.Token{inDoomed, inOther}), "SaveGrantTokens")

	must(t, s.DeleteOrganization(ctx, doomed.ID, base, orgEvent(t, "org.deleted", doomed)), "DeleteOrganization")
	for id, revoked := range map[string]bool{"tok-doomed": true, "tok-other": false} {
		tok, err := s.GrantTokenByID(ctx, id)
		must(t, err, "GrantTokenByID")
		if tok.RevokedAt.IsZero() == revoked {
			t.Errorf("token %s after the organization was deleted: revoked at %v, want revoked %v", id, tok.RevokedAt, revoked)
		}
	}
	if _, err := s.OrganizationByID(ctx, doomed.ID); !isOrgNotFound(err) {
		t.Errorf("OrganizationByID after DeleteOrganization: got %v, want not found", err)
	}
	if _, err := s.OrganizationByDomain(ctx, "doomed.example"); !isOrgNotFound(err) {
		t.Errorf("OrganizationByDomain of the deleted organization's domain: got %v, want not found", err)
	}
	for _, u := range users {
		if _, err := s.Membership(ctx, doomed.ID, u.ID); !isOrgNotFound(err) {
			t.Errorf("Membership in the deleted organization: got %v, want not found", err)
		}
		if _, err := s.UserByID(ctx, u.ID); err != nil {
			t.Errorf("a member went with the organization: %v", err)
		}
	}
	if got, err := s.Members(ctx, doomed.ID, "", 10); err != nil || len(got) != 0 {
		t.Errorf("Members of the deleted organization: got %+v, %v; want none", got, err)
	}
	if n := countRows(t, e, rawURL, "membership_roles", "org_id = $1", doomed.ID); n != 0 {
		t.Errorf("roles held in the deleted organization: %d rows left, want none", n)
	}
	got, err := s.MembershipsOf(ctx, users[0].ID)
	must(t, err, "MembershipsOf")
	wantOther := []orgs.Membership{{OrgID: other.ID, UserID: users[0].ID, Roles: grants("shop/admin"),
		CreatedAt: stored(base.Add(time.Hour)), UpdatedAt: stored(base.Add(time.Hour))}}
	if diff := cmp.Diff(wantOther, got); diff != "" {
		t.Errorf("MembershipsOf after deleting one organization (-want +got):\n%s", diff)
	}
	if got, err := s.UserRoles(ctx, users[0].ID); err != nil || !slices.Equal(got, grants("shop/admin")) {
		t.Errorf("UserRoles after deleting an organization: got %v, %v; want shop/admin", got, err)
	}
	if got := eventTypesAbout(t, s, doomed.Subject()); !slices.Equal(got, []string{"org.created", "org.member_added", "org.member_added", "org.deleted"}) {
		t.Errorf("events: got %v, want org.created, two org.member_added, org.deleted", got)
	}
	if err := s.DeleteOrganization(ctx, doomed.ID, base, orgEvent(t, "org.deleted", doomed)); !isOrgNotFound(err) {
		t.Errorf("second DeleteOrganization: got %v, want not found", err)
	}
	// Its domain and slug are free again.
	createOrgs(t, s, newOrg(t, "doomed", "doomed.example"))
}

func testRoles(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	orders := newRole(t, "shop", "orders", "orders:read", "orders:create")
	orders.Delegable = true
	roles := []orgs.Role{orders, newRole(t, "shop", "order-desk", "orders:read"), newRole(t, "crm", "viewer"), newRole(t, "shop", "admin", "shop:all"),
		newRole(t, "crm", "admin")}
	for _, r := range roles {
		must(t, s.CreateRole(ctx, r, newEvent(t, "role.created", roleSubject(r.App, r.Name), nil)), "CreateRole(%s)", r.Key())
	}
	again := newRole(t, "shop", "orders")
	if err := s.CreateRole(ctx, again, newEvent(t, "role.created", roleSubject("shop", "orders"), nil)); !isOrgConflict(err) {
		t.Errorf("CreateRole with a taken name: got %v, want orgs.ErrConflict and store.ErrConflict", err)
	}

	asStored := func(keys ...string) []orgs.Role {
		var out []orgs.Role
		for _, k := range keys {
			i := slices.IndexFunc(roles, func(r orgs.Role) bool { return r.Key() == k })
			r := roles[i]
			r.CreatedAt = stored(r.CreatedAt)
			out = append(out, r)
		}
		return out
	}
	for _, tc := range []struct {
		app  string
		want []orgs.Role
	}{
		{"", append(asStored("crm/admin", "crm/viewer"), append([]orgs.Role{builtinAdmin}, asStored("shop/admin", "shop/order-desk", "shop/orders")...)...)},
		{orgs.AdminApp, []orgs.Role{builtinAdmin}},
		{"shop", asStored("shop/admin", "shop/order-desk", "shop/orders")},
		{"crm", asStored("crm/admin", "crm/viewer")},
		{"ghost", nil},
	} {
		got, err := s.Roles(ctx, tc.app)
		must(t, err, "Roles(%q)", tc.app)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Roles(%q) (-want +got):\n%s", tc.app, diff)
		}
	}
	all, err := s.Roles(ctx, "")
	must(t, err, "Roles")
	for _, r := range all {
		if r.CreatedAt.Location() != time.UTC {
			t.Errorf("role %s: got creation time in %v, want UTC", r.Key(), r.CreatedAt.Location())
		}
	}
	if got := eventTypesAbout(t, s, roleSubject("shop", "orders")); !slices.Equal(got, []string{"role.created"}) {
		t.Errorf("events about shop/orders: got %v, want [role.created] only", got)
	}

	must(t, s.DeleteRole(ctx, "crm", "admin", newEvent(t, "role.deleted", roleSubject("crm", "admin"), nil)), "DeleteRole")
	if got, err := s.Roles(ctx, "crm"); err != nil || len(got) != 1 || got[0].Name != "viewer" {
		t.Errorf("Roles(crm) after deleting crm/admin: got %+v, %v; want crm/viewer", got, err)
	}
	if err := s.DeleteRole(ctx, "crm", "admin", newEvent(t, "role.deleted", roleSubject("crm", "admin"), nil)); !isOrgNotFound(err) {
		t.Errorf("second DeleteRole: got %v, want not found", err)
	}
	if got := eventTypesAbout(t, s, roleSubject("crm", "admin")); !slices.Equal(got, []string{"role.created", "role.deleted"}) {
		t.Errorf("events about crm/admin: got %v, want role.created, role.deleted", got)
	}
}

func testDeleteRole(t *testing.T, e Engine) {
	ctx := t.Context()
	rawURL := e.NewURL(t)
	s := OpenURL(t, rawURL)
	o := newOrg(t, "acme")
	createOrgs(t, s, o)
	createRoles(t, s, "shop/admin", "shop/orders", "crm/admin")
	users := createUsers(t, s, "one@example.com")
	m := member(o, users[0], base, "shop/admin", "shop/orders", "crm/admin")
	must(t, s.PutMembership(ctx, m), "PutMembership")
	must(t, s.PutUserRoles(ctx, users[0].ID, grants("shop/admin", "shop/orders", "crm/admin")), "PutUserRoles")

	// Deleting a role takes it from everyone who holds it, and only it.
	must(t, s.DeleteRole(ctx, "shop", "admin"), "DeleteRole")
	got, err := s.Membership(ctx, o.ID, users[0].ID)
	must(t, err, "Membership")
	if want := grants("crm/admin", "shop/orders"); !slices.Equal(got.Roles, want) {
		t.Errorf("roles in the organization after deleting shop/admin: got %v, want %v", got.Roles, want)
	}
	if got, err := s.UserRoles(ctx, users[0].ID); err != nil || !slices.Equal(got, grants("crm/admin", "shop/orders")) {
		t.Errorf("UserRoles after deleting shop/admin: got %v, %v; want crm/admin, shop/orders", got, err)
	}
	for _, table := range []string{"membership_roles", "user_roles"} {
		if n := countRows(t, e, rawURL, table, "app = $1 AND role = $2", "shop", "admin"); n != 0 {
			t.Errorf("%s: %d grants of the deleted role left, want none", table, n)
		}
	}
	// A role of the same name created again is not granted to anyone.
	createRoles(t, s, "shop/admin")
	if got, _ := s.UserRoles(ctx, users[0].ID); slices.Contains(got, orgs.Grant{App: "shop", Role: "admin"}) {
		t.Errorf("a re-created role came back granted: %v", got)
	}
}

func testMemberships(t *testing.T, e Engine) {
	ctx := t.Context()
	rawURL := e.NewURL(t)
	s := OpenURL(t, rawURL)
	a, b := newOrg(t, "a"), newOrg(t, "b")
	createOrgs(t, s, a, b)
	createRoles(t, s, "shop/admin", "shop/orders", "crm/viewer")
	users := createUsers(t, s, "one@example.com", "two@example.com")
	u := users[0]

	// Roles come back ordered by app then role, each once.
	m := member(a, u, base, "shop/orders", "crm/viewer", "shop/admin", "shop/orders")
	must(t, s.PutMembership(ctx, m, memberEvent(t, "org.member_added", m)), "PutMembership")
	want := orgs.Membership{OrgID: a.ID, UserID: u.ID, Roles: grants("crm/viewer", "shop/admin", "shop/orders"), CreatedAt: stored(base), UpdatedAt: stored(base)}
	got, err := s.Membership(ctx, a.ID, u.ID)
	must(t, err, "Membership")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Membership (-want +got):\n%s", diff)
	}
	if got.CreatedAt.Location() != time.UTC || got.UpdatedAt.Location() != time.UTC {
		t.Errorf("Membership times: got %v and %v, want UTC", got.CreatedAt.Location(), got.UpdatedAt.Location())
	}

	// Putting it again replaces the roles and keeps the creation time.
	later := base.Add(time.Hour)
	m = member(a, u, later, "shop/orders")
	must(t, s.PutMembership(ctx, m, memberEvent(t, "org.member_changed", m)), "PutMembership(replace)")
	want = orgs.Membership{OrgID: a.ID, UserID: u.ID, Roles: grants("shop/orders"), CreatedAt: stored(base), UpdatedAt: stored(later)}
	got, err = s.Membership(ctx, a.ID, u.ID)
	must(t, err, "Membership")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Membership after replacing the roles (-want +got):\n%s", diff)
	}
	m = member(a, u, later)
	must(t, s.PutMembership(ctx, m, memberEvent(t, "org.member_changed", m)), "PutMembership(no roles)")
	got, err = s.Membership(ctx, a.ID, u.ID)
	must(t, err, "Membership")
	if got.Roles != nil {
		t.Errorf("Membership without roles: got roles %v, want none", got.Roles)
	}
	m = member(a, u, later, "shop/admin")
	must(t, s.PutMembership(ctx, m), "PutMembership")
	if n := countRows(t, e, rawURL, "membership_roles", "org_id = $1 AND user_id = $2", a.ID, u.ID); n != 1 {
		t.Errorf("membership_roles: got %d rows for the membership, want 1", n)
	}

	// Refused: a role, an organization or a person that does not exist.
	// Nothing changes and no event is written.
	before := len(allEvents(t, s))
	for _, tc := range []struct {
		name, missing string
		m             orgs.Membership
	}{
		{"missing role", "shop/ghost", member(a, u, later, "shop/orders", "shop/ghost")},
		{"role of another app", "crm/admin", member(a, u, later, "crm/admin")},
		{"missing organization", "org_ghost", orgs.Membership{OrgID: "org_ghost", UserID: u.ID, CreatedAt: base, UpdatedAt: base}},
		{"missing user", "no-such-user", orgs.Membership{OrgID: b.ID, UserID: "no-such-user", CreatedAt: base, UpdatedAt: base}},
	} {
		err := s.PutMembership(ctx, tc.m, memberEvent(t, "org.member_changed", tc.m))
		if !isOrgNotFound(err) || !strings.Contains(err.Error(), tc.missing) {
			t.Errorf("PutMembership with a %s: got %v, want orgs.ErrNotFound naming %s", tc.name, err, tc.missing)
		}
	}
	got, err = s.Membership(ctx, a.ID, u.ID)
	must(t, err, "Membership")
	if !slices.Equal(got.Roles, grants("shop/admin")) || !got.UpdatedAt.Equal(stored(later)) {
		t.Errorf("Membership after refused puts: got %+v, want shop/admin only, as before", got)
	}
	if got, err := s.Members(ctx, b.ID, "", 10); err != nil || len(got) != 0 {
		t.Errorf("Members of b after a refused put: got %+v, %v; want none", got, err)
	}
	if n := len(allEvents(t, s)); n != before {
		t.Errorf("refused puts wrote %d events, want none", n-before)
	}

	// The person's memberships, oldest first.
	older := member(b, u, base.Add(-time.Hour), "crm/viewer")
	must(t, s.PutMembership(ctx, older), "PutMembership(b)")
	list, err := s.MembershipsOf(ctx, u.ID)
	must(t, err, "MembershipsOf")
	wantList := []orgs.Membership{
		{OrgID: b.ID, UserID: u.ID, Roles: grants("crm/viewer"), CreatedAt: stored(older.CreatedAt), UpdatedAt: stored(older.UpdatedAt)},
		{OrgID: a.ID, UserID: u.ID, Roles: grants("shop/admin"), CreatedAt: stored(base), UpdatedAt: stored(later)},
	}
	if diff := cmp.Diff(wantList, list); diff != "" {
		t.Errorf("MembershipsOf (-want +got):\n%s", diff)
	}
	if list, err := s.MembershipsOf(ctx, users[1].ID); err != nil || len(list) != 0 {
		t.Errorf("MembershipsOf a person in no organization: got %+v, %v; want none", list, err)
	}

	// Taking the person out takes the roles they held there, and revokes
	// their tokens issued in it (not their others).
	inA := oidcTokenFixture("tok-in-a", oidc.KindRefresh, "fam-a", "hash-in-a")
	inB := oidcTokenFixture("tok-in-b", oidc.KindRefresh, "fam-b", "hash-in-b")
	alone := oidcTokenFixture("tok-alone", oidc.KindRefresh, "fam-c", "hash-alone")
	inA.UserID, inA.OrgID, inB.UserID, inB.OrgID, alone.UserID, alone.OrgID = u.ID, a.ID, u.ID, b.ID, u.ID, ""
	must(t, s.SaveGrantTokens(ctx, []oidc.Token{inA, inB, alone}), "SaveGrantTokens")
	m = member(a, u, later)
	must(t, s.RemoveMembership(ctx, a.ID, u.ID, later, memberEvent(t, "org.member_removed", m)), "RemoveMembership")
	for _, tc := range []struct {
		id      string
		revoked bool
	}{{"tok-in-a", true}, {"tok-in-b", false}, {"tok-alone", false}} {
		tok, err := s.GrantTokenByID(ctx, tc.id)
		must(t, err, "GrantTokenByID")
		if tok.RevokedAt.IsZero() == tc.revoked {
			t.Errorf("token %s after leaving a: revoked at %v, want revoked %v", tc.id, tok.RevokedAt, tc.revoked)
		}
	}
	if _, err := s.Membership(ctx, a.ID, u.ID); !isOrgNotFound(err) {
		t.Errorf("Membership after RemoveMembership: got %v, want not found", err)
	}
	if n := countRows(t, e, rawURL, "membership_roles", "org_id = $1 AND user_id = $2", a.ID, u.ID); n != 0 {
		t.Errorf("membership_roles: %d rows left of the removed membership, want none", n)
	}
	if list, _ := s.MembershipsOf(ctx, u.ID); len(list) != 1 || list[0].OrgID != b.ID {
		t.Errorf("MembershipsOf after leaving a: got %+v, want b only", list)
	}
	if err := s.RemoveMembership(ctx, a.ID, u.ID, base, memberEvent(t, "org.member_removed", m)); !isOrgNotFound(err) {
		t.Errorf("second RemoveMembership: got %v, want not found", err)
	}
	if got := eventTypesAbout(t, s, a.Subject()); !slices.Equal(got, []string{"org.created", "org.member_added", "org.member_changed", "org.member_changed", "org.member_removed"}) {
		t.Errorf("events about a: got %v", got)
	}

	// Deleting the person ends their memberships.
	eraseUser(t, s, u.ID)
	if _, err := s.Membership(ctx, b.ID, u.ID); !isOrgNotFound(err) {
		t.Errorf("Membership of a deleted user: got %v, want not found", err)
	}
	if n := countRows(t, e, rawURL, "membership_roles", "user_id = $1", u.ID); n != 0 {
		t.Errorf("membership_roles: %d rows left of a deleted user, want none", n)
	}
}

func testMembers(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	a, b := newOrg(t, "a"), newOrg(t, "b")
	createOrgs(t, s, a, b)
	createRoles(t, s, "shop/admin", "shop/orders")
	users := createUsers(t, s, "1@example.com", "2@example.com", "3@example.com", "4@example.com", "5@example.com")
	want := map[string]orgs.Membership{}
	var ids []string
	for i, u := range users {
		roles := []string{"shop/orders"}
		if i%2 == 0 {
			roles = []string{"shop/orders", "shop/admin"}
		}
		m := member(a, u, base.Add(time.Duration(i)*time.Minute), roles...)
		must(t, s.PutMembership(ctx, m), "PutMembership")
		slices.SortFunc(m.Roles, func(x, y orgs.Grant) int { return strings.Compare(x.Role, y.Role) })
		m.CreatedAt, m.UpdatedAt = stored(m.CreatedAt), stored(m.UpdatedAt)
		want[u.ID] = m
		ids = append(ids, u.ID)
	}
	// A member of another organization is not listed.
	must(t, s.PutMembership(ctx, member(b, users[0], base, "shop/admin")), "PutMembership(b)")
	slices.Sort(ids)

	for _, limit := range []int{1, 2, 5, 10} {
		var got []string
		after := ""
		for range len(ids) + 1 {
			page, err := s.Members(ctx, a.ID, after, limit)
			must(t, err, "Members(%q, %d)", after, limit)
			if len(page) > limit {
				t.Fatalf("Members(%q, %d): got %d", after, limit, len(page))
			}
			for _, m := range page {
				got = append(got, m.UserID)
				if diff := cmp.Diff(want[m.UserID], m); diff != "" {
					t.Errorf("Members(%q, %d): %s (-want +got):\n%s", after, limit, m.UserID, diff)
				}
			}
			if len(page) < limit {
				break
			}
			after = page[len(page)-1].UserID
		}
		if !slices.Equal(got, ids) {
			t.Errorf("Members pages of %d: got %v, want %v", limit, got, ids)
		}
	}
	if got, err := s.Members(ctx, "org_ghost", "", 10); err != nil || len(got) != 0 {
		t.Errorf("Members of a missing organization: got %+v, %v; want none", got, err)
	}
}

func testUserRoles(t *testing.T, e Engine) {
	ctx := t.Context()
	rawURL := e.NewURL(t)
	s := OpenURL(t, rawURL)
	o := newOrg(t, "acme")
	createOrgs(t, s, o)
	createRoles(t, s, "shop/admin", "shop/orders", "crm/viewer")
	users := createUsers(t, s, "one@example.com", "two@example.com")
	u := users[0]
	changed := func() events.Event { return newEvent(t, "user.roles_changed", u.Subject(), nil) }

	if got, err := s.UserRoles(ctx, u.ID); err != nil || len(got) != 0 {
		t.Fatalf("UserRoles of a person without any: got %v, %v; want none", got, err)
	}
	must(t, s.PutUserRoles(ctx, u.ID, grants("shop/orders", "crm/viewer", "shop/orders"), changed()), "PutUserRoles")
	if got, err := s.UserRoles(ctx, u.ID); err != nil || !slices.Equal(got, grants("crm/viewer", "shop/orders")) {
		t.Errorf("UserRoles: got %v, %v; want crm/viewer, shop/orders", got, err)
	}
	must(t, s.PutUserRoles(ctx, u.ID, grants("shop/admin"), changed()), "PutUserRoles(replace)")
	if got, err := s.UserRoles(ctx, u.ID); err != nil || !slices.Equal(got, grants("shop/admin")) {
		t.Errorf("UserRoles after replacing: got %v, %v; want shop/admin", got, err)
	}

	// Roles outside organizations and in them are apart.
	must(t, s.PutMembership(ctx, member(o, u, base, "crm/viewer")), "PutMembership")
	if got, _ := s.UserRoles(ctx, u.ID); !slices.Equal(got, grants("shop/admin")) {
		t.Errorf("UserRoles after a membership: got %v, want shop/admin only", got)
	}
	if got, _ := s.Membership(ctx, o.ID, u.ID); !slices.Equal(got.Roles, grants("crm/viewer")) {
		t.Errorf("Membership roles: got %v, want crm/viewer only", got.Roles)
	}
	if got, _ := s.UserRoles(ctx, users[1].ID); len(got) != 0 {
		t.Errorf("UserRoles of another person: got %v, want none", got)
	}

	if err := s.PutUserRoles(ctx, u.ID, grants("shop/orders", "shop/ghost"), changed()); !isOrgNotFound(err) || !strings.Contains(err.Error(), "shop/ghost") {
		t.Errorf("PutUserRoles with a missing role: got %v, want orgs.ErrNotFound naming shop/ghost", err)
	}
	if err := s.PutUserRoles(ctx, "no-such-user", grants("shop/orders"), changed()); !isOrgNotFound(err) || !strings.Contains(err.Error(), "no-such-user") {
		t.Errorf("PutUserRoles for a missing user: got %v, want orgs.ErrNotFound naming the user", err)
	}
	if got, _ := s.UserRoles(ctx, u.ID); !slices.Equal(got, grants("shop/admin")) {
		t.Errorf("UserRoles after refused puts: got %v, want shop/admin as before", got)
	}
	if got := eventTypesAbout(t, s, u.Subject()); !slices.Equal(got, []string{"user.imported", "user.roles_changed", "user.roles_changed"}) {
		t.Errorf("events about the user: got %v, want user.imported and two user.roles_changed", got)
	}

	must(t, s.PutUserRoles(ctx, u.ID, nil), "PutUserRoles(none)")
	if got, err := s.UserRoles(ctx, u.ID); err != nil || len(got) != 0 {
		t.Errorf("UserRoles after taking every role: got %v, %v; want none", got, err)
	}

	// They go with the person.
	must(t, s.PutUserRoles(ctx, u.ID, grants("shop/admin", "crm/viewer")), "PutUserRoles")
	eraseUser(t, s, u.ID)
	if n := countRows(t, e, rawURL, "user_roles", "user_id = $1", u.ID); n != 0 {
		t.Errorf("user_roles: %d rows left of a deleted user, want none", n)
	}
}

// testOrgConcurrentPuts checks that puts of one person's roles, in an
// organization and outside, follow one another: each succeeds and the roles
// left are those of one of them, never a mix.
func testOrgConcurrentPuts(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	o := newOrg(t, "acme")
	createOrgs(t, s, o)
	const writers = 8
	var keys []string
	for i := range writers {
		keys = append(keys, fmt.Sprintf("app/r%d", i))
	}
	createRoles(t, s, keys...)
	// Each writer's pair shares a role with the next one's.
	sets := make([][]orgs.Grant, writers)
	for i := range writers {
		sets[i] = grants(keys[i], keys[(i+1)%writers])
		slices.SortFunc(sets[i], func(a, b orgs.Grant) int { return strings.Compare(a.Role, b.Role) })
	}
	isOneSet := func(got []orgs.Grant) bool {
		return slices.ContainsFunc(sets, func(set []orgs.Grant) bool { return slices.Equal(set, got) })
	}
	for round := range 3 {
		u := createUsers(t, s, fmt.Sprintf("round-%d@example.com", round))[0]
		errs := make([]error, 2*writers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				<-start
				errs[i] = s.PutMembership(ctx, member(o, u, base, keys[i], keys[(i+1)%writers]))
			})
			wg.Go(func() {
				<-start
				errs[writers+i] = s.PutUserRoles(ctx, u.ID, sets[i])
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d: concurrent put %d: %v", round, i, err)
			}
		}
		m, err := s.Membership(ctx, o.ID, u.ID)
		must(t, err, "Membership")
		if !isOneSet(m.Roles) {
			t.Errorf("round %d: roles in the organization after concurrent puts: got %v, want one writer's pair", round, m.Roles)
		}
		got, err := s.UserRoles(ctx, u.ID)
		must(t, err, "UserRoles")
		if !isOneSet(got) {
			t.Errorf("round %d: user roles after concurrent puts: got %v, want one writer's pair", round, got)
		}
	}
}

// testOrgFailedEvents checks that every write and its events are one
// transaction: an event the log refuses undoes the write.
func testOrgFailedEvents(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	o := newOrg(t, "acme", "acme.example")
	createOrgs(t, s, o)
	createRoles(t, s, "shop/admin", "shop/orders")
	users := createUsers(t, s, "one@example.com", "two@example.com")
	must(t, s.PutMembership(ctx, member(o, users[0], base, "shop/admin")), "PutMembership")
	must(t, s.PutUserRoles(ctx, users[0].ID, grants("shop/admin")), "PutUserRoles")
	bad := newEvent(t, "test.refused", "test:1", nil)
	bad.Actor = ""

	renamed := o
	renamed.Slug, renamed.Domains = "renamed", []string{"renamed.example"}
	fresh := newOrg(t, "fresh", "fresh.example")
	writes := []struct {
		name  string
		write func() error
	}{
		{"CreateOrganization", func() error { return s.CreateOrganization(ctx, fresh, bad) }},
		{"UpdateOrganization", func() error { return s.UpdateOrganization(ctx, renamed, time.Time{}, bad) }},
		{"DeleteOrganization", func() error { return s.DeleteOrganization(ctx, o.ID, base, bad) }},
		{"CreateRole", func() error { return s.CreateRole(ctx, newRole(t, "crm", "viewer"), bad) }},
		{"DeleteRole", func() error { return s.DeleteRole(ctx, "shop", "admin", bad) }},
		{"PutMembership(new)", func() error { return s.PutMembership(ctx, member(o, users[1], base, "shop/orders"), bad) }},
		{"PutMembership(replace)", func() error { return s.PutMembership(ctx, member(o, users[0], base, "shop/orders"), bad) }},
		{"RemoveMembership", func() error { return s.RemoveMembership(ctx, o.ID, users[0].ID, base, bad) }},
		{"PutUserRoles", func() error { return s.PutUserRoles(ctx, users[0].ID, grants("shop/orders"), bad) }},
	}
	for _, w := range writes {
		t.Run(w.name, func(t *testing.T) {
			if err := w.write(); err == nil {
				t.Fatalf("%s with an invalid event: got no error", w.name)
			}
			got, err := s.OrganizationByID(ctx, o.ID)
			must(t, err, "OrganizationByID")
			if diff := cmp.Diff(orgAsStored(o), got); diff != "" {
				t.Errorf("the organization changed (-want +got):\n%s", diff)
			}
			if _, err := s.OrganizationBySlug(ctx, "fresh"); !isOrgNotFound(err) {
				t.Errorf("OrganizationBySlug(fresh): got %v, want not found", err)
			}
			if roles, err := s.Roles(ctx, "shop"); err != nil || len(roles) != 2 || roles[0].Key() != "shop/admin" || roles[1].Key() != "shop/orders" {
				t.Errorf("Roles: got %+v, %v; want shop/admin and shop/orders", roles, err)
			}
			members, err := s.Members(ctx, o.ID, "", 10)
			must(t, err, "Members")
			if len(members) != 1 || members[0].UserID != users[0].ID || !slices.Equal(members[0].Roles, grants("shop/admin")) {
				t.Errorf("Members: got %+v, want the first user with shop/admin only", members)
			}
			if got, err := s.UserRoles(ctx, users[0].ID); err != nil || !slices.Equal(got, grants("shop/admin")) {
				t.Errorf("UserRoles: got %v, %v; want shop/admin", got, err)
			}
		})
	}
	if got := eventTypesAbout(t, s, "test:1"); len(got) != 0 {
		t.Errorf("refused events were written: %v", got)
	}
}

// builtinAdmin is the organization admins' role, there from the first
// migration on.
var builtinAdmin = orgs.Role{App: orgs.AdminApp, Name: orgs.AdminRole,
	Description: "Manages the organization: invites people, gives and takes their roles, removes leavers",
	Permissions: []string{"org:manage"}, CreatedAt: time.Unix(0, 0).UTC()}
