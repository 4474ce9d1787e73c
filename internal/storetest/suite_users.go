package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/store"
)

// newUser returns a valid user with email and external ID, created at base.
func newUser(t testing.TB, email, externalID string) accounts.User {
	t.Helper()
	u := accounts.User{ID: accounts.NewID(), Email: email, ExternalID: externalID, CreatedAt: base, UpdatedAt: base}
	must(t, u.Validate(), "validate user %s", email)
	return u
}

// userEvent returns the event that accompanies the creation of u.
func userEvent(t testing.TB, u accounts.User) events.Event {
	t.Helper()
	return newEvent(t, "user.imported", u.Subject(), nil)
}

// userAsStored is u as the store gives it back.
func userAsStored(u accounts.User) accounts.User {
	u.CreatedAt, u.UpdatedAt = stored(u.CreatedAt), stored(u.UpdatedAt)
	if !u.ProfileConfirmedAt.IsZero() {
		u.ProfileConfirmedAt = stored(u.ProfileConfirmedAt)
	}
	return u
}

func testUsers(t *testing.T, e Engine) {
	t.Run("RoundTrip", func(t *testing.T) {
		ctx := t.Context()
		s := Open(t, e)
		full := accounts.User{
			ID:                 accounts.NewID(),
			Email:              " Ada.Lovelace@Example.COM ",
			EmailVerified:      true,
			GivenName:          "Ada",
			FamilyName:         "Lövelace",
			Phone:              "+46701234567",
			Locale:             "sv-SE",
			Status:             accounts.StatusDisabled,
			ExternalID:         "crm-42",
			Attributes:         json.RawMessage(`{"tier": "gold", "n": [1, 2]}`),
			LockedFields:       []string{"given_name", "phone"},
			PasswordHash:       "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
			CreatedAt:          base,
			UpdatedAt:          base.Add(time.Second + 999*time.Nanosecond),
			ProfileConfirmedAt: base.Add(2 * time.Second),
		}
		must(t, full.Validate(), "validate")
		minimal := newUser(t, "min@example.com", "")
		for _, u := range []accounts.User{full, minimal} {
			must(t, s.CreateUser(ctx, u, userEvent(t, u)), "CreateUser(%s)", u.Email)
		}
		for _, u := range []accounts.User{full, minimal} {
			want := userAsStored(u)
			got, err := s.UserByID(ctx, u.ID)
			must(t, err, "UserByID")
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("UserByID(%s) (-want +got):\n%s", u.Email, diff)
			}
			for name, tm := range map[string]time.Time{"CreatedAt": got.CreatedAt, "UpdatedAt": got.UpdatedAt} {
				if tm.Location() != time.UTC {
					t.Errorf("UserByID(%s).%s: got time in %v, want UTC", u.Email, name, tm.Location())
				}
			}
			got, err = s.UserByEmail(ctx, u.EmailNormalized)
			must(t, err, "UserByEmail")
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("UserByEmail(%s) (-want +got):\n%s", u.EmailNormalized, diff)
			}
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		ctx := t.Context()
		s := Open(t, e)
		u := newUser(t, "someone@example.com", "")
		must(t, s.CreateUser(ctx, u, userEvent(t, u)), "CreateUser")
		if _, err := s.UserByID(ctx, accounts.NewID()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UserByID of an unknown ID: got %v, want ErrNotFound", err)
		}
		if _, err := s.UserByEmail(ctx, "nobody@example.com"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UserByEmail of an unknown email: got %v, want ErrNotFound", err)
		}
	})

	t.Run("Conflicts", func(t *testing.T) {
		ctx := t.Context()
		s := Open(t, e)
		taken := newUser(t, "taken@example.com", "crm-1")
		must(t, s.CreateUser(ctx, taken, userEvent(t, taken)), "CreateUser")
		sameID := newUser(t, "other@example.com", "")
		sameID.ID = taken.ID
		tests := []struct {
			name string
			u    accounts.User
		}{
			{"same normalized email", newUser(t, " TAKEN@Example.com", "")},
			{"same external ID", newUser(t, "other@example.com", "crm-1")},
			{"same ID", sameID},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := allEvents(t, s)
				ev := userEvent(t, tt.u)
				if err := s.CreateUser(ctx, tt.u, ev); !errors.Is(err, store.ErrConflict) {
					t.Errorf("CreateUser with the %s: got %v, want ErrConflict", tt.name, err)
				}
				if diff := cmp.Diff(uuids(before), uuids(allEvents(t, s))); diff != "" {
					t.Errorf("event log after the refused CreateUser (-want +got):\n%s", diff)
				}
				got, err := s.UserByID(ctx, tt.u.ID)
				if tt.u.ID == taken.ID {
					must(t, err, "UserByID")
					if diff := cmp.Diff(userAsStored(taken), got); diff != "" {
						t.Errorf("the existing user after the refused CreateUser (-want +got):\n%s", diff)
					}
				} else if !errors.Is(err, store.ErrNotFound) {
					t.Errorf("UserByID of the refused user: got %v, want ErrNotFound", err)
				}
			})
		}
	})

	t.Run("EmptyExternalIDs", func(t *testing.T) {
		ctx := t.Context()
		s := Open(t, e)
		for i := range 3 {
			u := newUser(t, fmt.Sprintf("no-crm-%d@example.com", i), "")
			if err := s.CreateUser(ctx, u, userEvent(t, u)); err != nil {
				t.Errorf("CreateUser of user %d without external ID: %v", i, err)
			}
		}
	})

	t.Run("EventsWithTheUser", func(t *testing.T) {
		ctx := t.Context()
		s := Open(t, e)
		var users []accounts.User
		var evs []events.Event
		for i := range 3 {
			u := newUser(t, fmt.Sprintf("u%d@example.com", i), "")
			ev := userEvent(t, u)
			must(t, s.CreateUser(ctx, u, ev), "CreateUser")
			users, evs = append(users, u), append(evs, ev)
		}
		for i, u := range users {
			got, err := s.EventsFor(ctx, u.Subject(), 10)
			must(t, err, "EventsFor")
			if diff := cmp.Diff([]string{evs[i].UUID}, uuids(got)); diff != "" {
				t.Errorf("events about %s (-want +got):\n%s", u.Email, diff)
			}
		}

		// A user whose event is invalid is not written: the user and its
		// events commit together or not at all.
		u := newUser(t, "bad-event@example.com", "")
		bad := userEvent(t, u)
		bad.Subject = ""
		if err := s.CreateUser(ctx, u, userEvent(t, u), bad); err == nil {
			t.Error("CreateUser with an invalid event: got no error, want one")
		}
		if _, err := s.UserByID(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UserByID of the user whose event was invalid: got %v, want ErrNotFound", err)
		}
		if got := allEvents(t, s); len(got) != len(users) {
			t.Errorf("event log: got %d events, want %d", len(got), len(users))
		}
	})

	t.Run("ListUsers", func(t *testing.T) {
		ctx := t.Context()
		s := Open(t, e)
		var ids []string
		for i := range 7 {
			u := newUser(t, fmt.Sprintf("list-%d@example.com", i), "")
			must(t, s.CreateUser(ctx, u, userEvent(t, u)), "CreateUser")
			ids = append(ids, u.ID)
		}
		slices.Sort(ids)
		tests := []struct {
			limit     int
			wantPages []int
		}{
			{3, []int{3, 3, 1}},
			{7, []int{7}},
			{100, []int{7}},
			{1, []int{1, 1, 1, 1, 1, 1, 1}},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("limit %d", tt.limit), func(t *testing.T) {
				var got []string
				var pages []int
				after := ""
				for range 20 {
					page, err := s.ListUsers(ctx, after, tt.limit)
					must(t, err, "ListUsers(%q, %d)", after, tt.limit)
					if len(page) == 0 {
						break
					}
					pages = append(pages, len(page))
					for _, u := range page {
						got = append(got, u.ID)
						if u.Email == "" || u.CreatedAt.IsZero() {
							t.Errorf("ListUsers: got user %s without email or creation time", u.ID)
						}
					}
					after = page[len(page)-1].ID
				}
				if diff := cmp.Diff(ids, got); diff != "" {
					t.Errorf("ListUsers IDs over all pages (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tt.wantPages, pages); diff != "" {
					t.Errorf("ListUsers page sizes (-want +got):\n%s", diff)
				}
			})
		}
	})
}

func testQueryUsers(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	var ids []string
	// All made at base; Ada never confirmed her profile (checked at
	// base), Bo confirmed his after 3 hours, Cy's was confirmed a day
	// before (in the registry it was imported from).
	for i, x := range []struct {
		email, ext string
		updated    time.Duration
		confirmed  time.Duration
	}{
		{"ada@example.com", "crm-1", 0, 0},
		{"bo@example.com", "", time.Hour, 3 * time.Hour},
		{"cy@example.com", "crm-3", 2 * time.Hour, -24 * time.Hour},
	} {
		u := newUser(t, x.email, x.ext)
		u.UpdatedAt = base.Add(x.updated)
		if x.confirmed != 0 {
			u.ProfileConfirmedAt = base.Add(x.confirmed)
		}
		must(t, s.CreateUser(ctx, u, userEvent(t, u)), "CreateUser %d", i)
		ids = append(ids, u.ID)
	}
	slices.Sort(ids)
	emails := func(us []accounts.User) []string {
		var out []string
		for _, u := range us {
			out = append(out, u.EmailNormalized)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		q    accounts.Query
		want []string
	}{
		{"all", accounts.Query{Limit: 10}, []string{"ada@example.com", "bo@example.com", "cy@example.com"}},
		{"by email", accounts.Query{Email: "bo@example.com", Limit: 10}, []string{"bo@example.com"}},
		{"by external ID", accounts.Query{ExternalID: "crm-3", Limit: 10}, []string{"cy@example.com"}},
		{"updated since", accounts.Query{UpdatedSince: base.Add(time.Hour), Limit: 10}, []string{"bo@example.com", "cy@example.com"}},
		{"two filters", accounts.Query{ExternalID: "crm-1", UpdatedSince: base.Add(time.Hour), Limit: 10}, nil},
		{"no such address", accounts.Query{Email: "nobody@example.com", Limit: 10}, nil},
		{"checked before", accounts.Query{CheckedBefore: base.Add(time.Hour), Limit: 10}, []string{"ada@example.com", "cy@example.com"}},
		{"checked before, strictly", accounts.Query{CheckedBefore: base, Limit: 10}, []string{"cy@example.com"}},
		{"checked since", accounts.Query{CheckedSince: base.Add(time.Hour), Limit: 10}, []string{"bo@example.com"}},
		{"checked since, inclusive", accounts.Query{CheckedSince: base, Limit: 10}, []string{"ada@example.com", "bo@example.com"}},
		{"checked before, with another filter", accounts.Query{CheckedBefore: base.Add(time.Hour), Email: "cy@example.com", Limit: 10}, []string{"cy@example.com"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.QueryUsers(ctx, tc.q)
			must(t, err, "QueryUsers")
			slices.Sort(tc.want)
			g := emails(got)
			slices.Sort(g)
			if !slices.Equal(g, tc.want) {
				t.Errorf("QueryUsers(%+v) = %v, want %v", tc.q, g, tc.want)
			}
		})
	}
	// Pages: in ID order, after the cursor, up to the limit.
	first, err := s.QueryUsers(ctx, accounts.Query{Limit: 2})
	must(t, err, "QueryUsers page 1")
	rest, err := s.QueryUsers(ctx, accounts.Query{After: first[len(first)-1].ID, Limit: 2})
	must(t, err, "QueryUsers page 2")
	var got []string
	for _, u := range append(first, rest...) {
		got = append(got, u.ID)
	}
	if !slices.Equal(got, ids) {
		t.Errorf("paged IDs %v, want %v", got, ids)
	}
	// Newest first, page by page.
	first, err = s.QueryUsers(ctx, accounts.Query{Newest: true, Limit: 2})
	must(t, err, "QueryUsers newest page 1")
	rest, err = s.QueryUsers(ctx, accounts.Query{Newest: true, After: first[len(first)-1].ID, Limit: 2})
	must(t, err, "QueryUsers newest page 2")
	got = nil
	for _, u := range append(first, rest...) {
		got = append(got, u.ID)
	}
	want := slices.Clone(ids)
	slices.Reverse(want)
	if !slices.Equal(got, want) {
		t.Errorf("newest first: %v, want %v", got, want)
	}
}
