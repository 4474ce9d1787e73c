package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testAPIFreshness: users and members carry when the person last confirmed
// their profile and whether it may be out of date (the deployment's
// default profile_freshness, a year); the stale filter lists an
// organization's people to remind; a write by the CRM confirms nothing.
func testAPIFreshness(t *testing.T, admin *crm) {
	// A profile last confirmed in the registry it came from, long ago.
	writeFile(t, filepath.Join(admin.dir, "old.jsonl"), `{"email":"old.profile@fresh.example","profile_confirmed_at":"2020-01-02T03:04:05Z"}`+"\n")
	mustRun(t, admin.dir, admin.env, "import", "users", "--file", "old.jsonl")
	type fresh struct {
		ID                 string     `json:"id"`
		UserID             string     `json:"user_id"`
		Email              string     `json:"email"`
		ProfileConfirmedAt *time.Time `json:"profile_confirmed_at"`
		Stale              bool       `json:"stale"`
	}
	var page struct {
		Items []fresh `json:"items"`
	}
	admin.call("GET", "/users?email=old.profile@fresh.example", nil, nil, false).decode(t, &page)
	if len(page.Items) != 1 {
		t.Fatalf("the imported user: %+v", page.Items)
	}
	old := page.Items[0]
	want := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if old.ProfileConfirmedAt == nil || !old.ProfileConfirmedAt.Equal(want) || !old.Stale {
		t.Errorf("the imported user: confirmed %v, stale %v; want %v, true", old.ProfileConfirmedAt, old.Stale, want)
	}
	var made fresh
	a := admin.call("POST", "/users", map[string]any{"email": "new.profile@fresh.example"}, nil, false)
	admin.expect(a, 201, "")
	a.decode(t, &made)
	if made.ProfileConfirmedAt != nil || made.Stale || !strings.Contains(string(a.body), `"profile_confirmed_at":null`) {
		t.Errorf("a user made by the CRM: %s; want never confirmed, not stale", a.body)
	}

	admin.expect(admin.call("POST", "/organizations", map[string]any{"name": "Fresh AB", "slug": "fresh"}, nil, false), 201, "")
	for _, id := range []string{old.ID, made.ID} {
		admin.expect(admin.call("PUT", "/organizations/fresh/members/"+id, map[string]any{"roles": []string{}}, nil, false), 201, "")
	}
	admin.call("GET", "/organizations/fresh/members", nil, nil, false).decode(t, &page)
	stale := map[string]bool{}
	for _, m := range page.Items {
		stale[m.UserID] = m.Stale
	}
	if len(stale) != 2 || !stale[old.ID] || stale[made.ID] {
		t.Errorf("members' staleness: %v; want only %s", stale, old.ID)
	}
	// Page by page, each member once, with their freshness.
	seen := map[string]bool{}
	for cursor, pages := "", 0; pages < 5; pages++ {
		var pg struct {
			Items      []fresh `json:"items"`
			NextCursor string  `json:"next_cursor"`
		}
		q := "/organizations/fresh/members?limit=1"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		admin.call("GET", q, nil, nil, false).decode(t, &pg)
		for _, m := range pg.Items {
			if seen[m.UserID] || m.Stale != (m.UserID == old.ID) {
				t.Errorf("page %d: %+v", pages, m)
			}
			seen[m.UserID] = true
		}
		if cursor = pg.NextCursor; cursor == "" {
			break
		}
	}
	if len(seen) != 2 {
		t.Errorf("paging the members saw %d, want 2", len(seen))
	}
	var one fresh
	admin.call("GET", "/organizations/fresh/members/"+old.ID, nil, nil, false).decode(t, &one)
	if !one.Stale || one.ProfileConfirmedAt == nil || !one.ProfileConfirmedAt.Equal(want) {
		t.Errorf("one member: %+v", one)
	}
	for q, wantID := range map[string]string{"stale=true": old.ID, "stale=false": made.ID} {
		admin.call("GET", "/users?org=fresh&"+q, nil, nil, false).decode(t, &page)
		if len(page.Items) != 1 || page.Items[0].ID != wantID {
			t.Errorf("/users?org=fresh&%s: %+v, want %s", q, page.Items, wantID)
		}
	}
	admin.expect(admin.call("GET", "/users?stale=maybe", nil, nil, true), 400, "validation")

	// The CRM corrects the name: the person has still not confirmed.
	a = admin.call("PATCH", "/users/"+old.ID, map[string]any{"given_name": "Olle"}, nil, false)
	admin.expect(a, 200, "")
	a.decode(t, &one)
	if !one.Stale || one.ProfileConfirmedAt == nil || !one.ProfileConfirmedAt.Equal(want) {
		t.Errorf("after the CRM's change: %+v; want still stale, confirmed %v", one, want)
	}
}
