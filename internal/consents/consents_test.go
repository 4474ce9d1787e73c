package consents

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

var now = day("2026-06-15")

// purposes: terms (2 in effect, 3 announced), marketing (optional), and a
// webshop's own profiling.
func purposes() []Purpose {
	return []Purpose{
		{ID: "terms", Required: true, Title: map[string]string{"en": "Terms", "sv": "Villkor"}, Versions: []Version{
			{Label: "3", Effective: day("2026-07-01"), URL: map[string]string{"en": "https://example.com/t3"}},
			{Label: "1", Effective: day("2025-01-01"), URL: map[string]string{"en": "https://example.com/t1"}},
			{Label: "2", Effective: day("2026-03-01"), URL: map[string]string{"en": "https://example.com/t2", "fi": "https://example.com/fi/t2"}, Text: map[string]string{"sv": "Villkoren."}},
		}},
		{ID: "marketing", Title: map[string]string{"en": "News"}, Description: map[string]string{"en": "Weekly."},
			Versions: []Version{{Label: "1", Effective: day("2025-01-01"), Text: map[string]string{"en": "We mail you."}}}},
		{ID: "profiling", Clients: []string{"webshop"}, Title: map[string]string{"en": "Profiling"},
			Versions: []Version{{Label: "1", Effective: day("2025-01-01"), URL: map[string]string{"en": "/profiling"}}}},
	}
}

func TestVersions(t *testing.T) {
	p := purposes()[0]
	if v, ok := p.Current(now); !ok || v.Label != "2" {
		t.Errorf("Current = %q, %v; want 2", v.Label, ok)
	}
	if v, ok := p.Next(now); !ok || v.Label != "3" {
		t.Errorf("Next = %q, %v; want 3", v.Label, ok)
	}
	if v, ok := p.Current(day("2026-07-01")); !ok || v.Label != "3" {
		t.Errorf("Current on the day 3 takes effect = %q", v.Label)
	}
	if _, ok := p.Current(day("2024-01-01")); ok {
		t.Error("a version in effect before any took effect")
	}
	v, _ := p.Version("2")
	for _, tc := range []struct{ lang, want string }{
		{"en", "en https://example.com/t2 "}, {"fi", "fi https://example.com/fi/t2 "}, {"sv", "sv  Villkoren."}, {"de", "en https://example.com/t2 "},
	} {
		d := v.Document(tc.lang)
		if got := d.Lang + " " + d.URL + " " + d.Text; got != tc.want {
			t.Errorf("Document(%s) = %q, want %q", tc.lang, got, tc.want)
		}
	}
	if p.TitleIn("fi") != "Terms" || p.TitleIn("sv") != "Villkor" || p.DescriptionIn("sv") != "" {
		t.Errorf("titles fall back to English")
	}
	shop := purposes()[2]
	if shop.AppliesTo("") || !shop.AppliesTo("webshop") || shop.AppliesTo("other") || !p.AppliesTo("") || !p.AppliesTo("other") {
		t.Error("AppliesTo")
	}
}

func TestValidate(t *testing.T) {
	if err := Validate(purposes(), now); err != nil {
		t.Fatalf("valid purposes: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func([]Purpose) []Purpose
		want string
	}{
		{"bad id", func(ps []Purpose) []Purpose { ps[0].ID = "Terms!"; return ps }, `consents[0] (Terms!): id "Terms!": 1 to 40 lower-case letters`},
		{"id twice", func(ps []Purpose) []Purpose { ps[1].ID = "terms"; return ps }, `consents[1] (terms): the id "terms" is given twice`},
		{"unknown language", func(ps []Purpose) []Purpose { ps[0].Title["de"] = "AGB"; return ps }, `consents[0] (terms): title: "de" is not a language; use en, sv, fi`},
		{"no English title", func(ps []Purpose) []Purpose { ps[1].Title = map[string]string{"sv": "Nyheter"}; return ps }, "title.en: give the title in English at least"},
		{"no versions", func(ps []Purpose) []Purpose { ps[1].Versions = nil; return ps }, "consents[1] (marketing): versions: give at least one version"},
		{"version twice", func(ps []Purpose) []Purpose { ps[0].Versions[2].Label = "1"; return ps }, `versions[2]: the version "1" is given twice`},
		{"bad label", func(ps []Purpose) []Purpose { ps[0].Versions[0].Label = "v 3"; return ps }, `versions[0]: version "v 3": 1 to 40 letters`},
		{"no date", func(ps []Purpose) []Purpose { ps[1].Versions[0].Effective = time.Time{}; return ps }, "versions[0] (1): effective: give the date"},
		{"same date", func(ps []Purpose) []Purpose { ps[0].Versions[2].Effective = day("2025-01-01"); return ps }, "takes effect at the same time as version 1"},
		{"url and text", func(ps []Purpose) []Purpose { ps[0].Versions[2].Text["fi"] = "Ehdot."; return ps }, "url.fi and text.fi: give the document in one language as a link or as text, not both"},
		{"http link", func(ps []Purpose) []Purpose { ps[0].Versions[1].URL["en"] = "http://example.com/t1"; return ps }, `url.en: "http://example.com/t1" must be an https URL or a path on this server`},
		{"no English document", func(ps []Purpose) []Purpose { ps[1].Versions[0].Text = map[string]string{"fi": "Postia."}; return ps }, "give the document in English at least"},
		{"unknown document language", func(ps []Purpose) []Purpose { ps[1].Versions[0].Text["no"] = "x"; return ps }, `text: "no" is not a language`},
		{"required without a current version", func(ps []Purpose) []Purpose {
			ps[0].Versions = ps[0].Versions[:1]
			return ps
		}, "a required purpose needs a version in effect now; the earliest takes effect 2026-07-01T00:00:00Z"},
		{"empty client", func(ps []Purpose) []Purpose { ps[2].Clients = []string{" "}; return ps }, `clients: " " is not a client ID`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.edit(purposes()), now)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
	// An optional purpose may be announced before it takes effect.
	ps := purposes()
	ps[1].Versions[0].Effective = day("2027-01-01")
	if err := Validate(ps, now); err != nil {
		t.Errorf("an announced optional purpose: %v", err)
	}
}

func TestChoose(t *testing.T) {
	s := &Service{Purposes: purposes(), Now: func() time.Time { return now }}
	offers := s.ForRegistration()
	var ids []string
	for _, o := range offers {
		ids = append(ids, o.Purpose.ID+":"+o.Version.Label)
	}
	if !slices.Equal(ids, []string{"terms:2", "marketing:1"}) {
		t.Fatalf("ForRegistration = %v; the webshop's own purpose is not offered", ids)
	}
	grants, missing := Choose(offers, map[string]string{"terms": "1", "marketing": "1"})
	if len(grants) != 1 || grants[0].Purpose != "marketing" || !slices.Equal(missing, []string{"terms"}) {
		t.Errorf("a box ticked for an old version: grants %v, missing %v", grants, missing)
	}
	grants, missing = Choose(offers, map[string]string{"terms": "2"})
	if len(grants) != 1 || grants[0] != (Decision{Purpose: "terms", Version: "2", Grant: true}) || len(missing) != 0 {
		t.Errorf("terms ticked: grants %v, missing %v", grants, missing)
	}
}

// memStore keeps receipts and states in memory.
type memStore struct {
	receipts []Receipt
	states   map[string]map[string]State
	events   []string
}

func (m *memStore) ConsentStates(_ context.Context, userID string) ([]State, error) {
	var out []State
	for _, st := range m.states[userID] {
		out = append(out, st)
	}
	return out, nil
}

func (m *memStore) ConsentReceipts(_ context.Context, userID string) ([]Receipt, error) {
	var out []Receipt
	for _, r := range m.receipts {
		if r.UserID == userID {
			out = append(out, r)
		}
	}
	return out, nil
}

func (m *memStore) UpdateConsents(ctx context.Context, userID string, fn func([]State) (Change, error)) error {
	if userID == "ghost" {
		return ErrNotFound
	}
	list, _ := m.ConsentStates(ctx, userID)
	c, err := fn(list)
	if err != nil {
		return err
	}
	for _, r := range c.Receipts {
		m.receipts = append(m.receipts, r)
		if m.states[userID] == nil {
			m.states[userID] = map[string]State{}
		}
		m.states[userID][r.Purpose] = State{Purpose: r.Purpose, Version: r.Version, Granted: r.Action == Granted, At: r.At, ReceiptID: r.ID}
	}
	for _, e := range c.Events {
		m.events = append(m.events, e.Type+" "+e.UUID+" "+string(e.Data))
	}
	return nil
}

func (m *memStore) summary() []string {
	var out []string
	for _, r := range m.receipts {
		out = append(out, fmt.Sprintf("%s %s:%s %s %s %s %s %s", r.UserID, r.Purpose, r.Version, r.Action, r.Channel, r.ClientID, r.Actor, r.Method))
	}
	return out
}

func TestRecord(t *testing.T) {
	ctx := context.Background()
	st := &memStore{states: map[string]map[string]State{}}
	clock := now
	s := &Service{Purposes: purposes(), Store: st, Now: func() time.Time { return clock }}
	web := Via{Channel: ChannelAccount, Method: MethodButton}
	if _, err := s.Record(ctx, "u1", []Decision{{Purpose: "terms", Grant: true}, {Purpose: "marketing", Grant: true}}, web); err != nil {
		t.Fatal(err)
	}
	// The same again, and a withdrawal of what was never given: nothing.
	written, err := s.Record(ctx, "u1", []Decision{{Purpose: "marketing", Version: "1", Grant: true}, {Purpose: "profiling"}}, web)
	if err != nil || len(written) != 0 {
		t.Errorf("decisions that change nothing wrote %v, %v", written, err)
	}
	api := Via{Channel: ChannelAPI, ClientID: "webshop", Actor: "client:crm", Method: "paper_form"}
	if _, err := s.Record(ctx, "u1", []Decision{{Purpose: "marketing", Version: "7"}}, api); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"u1 terms:2 granted account  user:u1 button",
		"u1 marketing:1 granted account  user:u1 button",
		"u1 marketing:1 withdrawn api webshop client:crm paper_form",
	}
	if got := st.summary(); !slices.Equal(got, want) {
		t.Errorf("receipts:\n got %q\nwant %q", got, want)
	}
	if len(st.events) != 3 || !strings.HasPrefix(st.events[2], "consent.withdrawn "+st.receipts[2].ID+" ") ||
		!strings.Contains(st.events[2], `"channel":"api","client_id":"webshop","method":"paper_form","purpose":"marketing","version":"1"`) {
		t.Errorf("events %q", st.events)
	}
	for _, tc := range []struct {
		name string
		d    Decision
		via  Via
		want FieldError
	}{
		{"unknown purpose", Decision{Purpose: "nope", Grant: true}, web, FieldError{Field: "purpose", Code: "unknown"}},
		{"unknown purpose withdrawn", Decision{Purpose: "nope"}, web, FieldError{Field: "purpose", Code: "unknown"}},
		{"old version", Decision{Purpose: "terms", Version: "1", Grant: true}, web, FieldError{Field: "version", Code: "not_current"}},
		{"announced version", Decision{Purpose: "terms", Version: "3", Grant: true}, web, FieldError{Field: "version", Code: "not_current"}},
		{"unknown version", Decision{Purpose: "terms", Version: "9", Grant: true}, web, FieldError{Field: "version", Code: "unknown"}},
		{"required withdrawn", Decision{Purpose: "terms"}, web, FieldError{Field: "purpose", Code: "required"}},
		{"bad method", Decision{Purpose: "marketing", Grant: true}, Via{Channel: ChannelAPI, Method: "Paper Form"}, FieldError{Field: "method", Code: "invalid"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Record(ctx, "u1", []Decision{tc.d}, tc.via)
			var fe FieldError
			if !errors.As(err, &fe) || fe.Field != tc.want.Field || fe.Code != tc.want.Code {
				t.Errorf("got %v, want %s %s", err, tc.want.Field, tc.want.Code)
			}
		})
	}
	if len(st.receipts) != 3 {
		t.Errorf("refused decisions wrote %d receipts", len(st.receipts)-3)
	}
	if _, err := s.Record(ctx, "ghost", []Decision{{Purpose: "marketing", Grant: true}}, web); !errors.Is(err, ErrNotFound) {
		t.Errorf("for no such user: %v", err)
	}

	// Overview, the claim and what a sign-in must ask, before and after
	// version 3 takes effect.
	over, _ := s.Overview(ctx, "u1")
	if len(over) != 3 || !over[0].UpToDate || over[0].Next.Label != "3" || over[1].State.Granted || !over[1].Decided || over[2].Decided {
		t.Errorf("overview %+v", over)
	}
	if req, _, _ := s.Pending(ctx, "u1", ""); len(req) != 0 {
		t.Errorf("pending with version 2 given: %v", req)
	}
	claim, _ := s.Claim(ctx, "u1", "webshop")
	if fmt.Sprint(claim) != fmt.Sprintf("map[marketing:{false 1 %d} profiling:{false  0} terms:{true 2 %d}]", now.Unix(), now.Unix()) {
		t.Errorf("claim for the webshop %v", claim)
	}
	if claim, _ := s.Claim(ctx, "u1", "other"); len(claim) != 2 {
		t.Errorf("claim for another application %v: profiling is not its", claim)
	}
	clock = day("2026-07-02")
	req, opt, _ := s.Pending(ctx, "u1", "webshop")
	if len(req) != 1 || req[0].Version.Label != "3" || req[0].Previous.Version != "2" || len(opt) != 1 || opt[0].Purpose.ID != "profiling" {
		t.Errorf("pending after version 3: %+v, optional %+v", req, opt)
	}
	if req, opt, _ := s.Pending(ctx, "u1", ""); len(req) != 1 || len(opt) != 0 {
		t.Errorf("pending for the service: %d required, %d optional (only an application's own are offered)", len(req), len(opt))
	}

	// Receipts made at registration get their user when it exists.
	rs, err := s.NewReceipts([]Decision{{Purpose: "terms", Version: "3", Grant: true}}, Via{Channel: ChannelRegistration, Method: MethodCheckbox})
	if err != nil {
		t.Fatal(err)
	}
	stamped, evs, err := Stamp(rs, "u2")
	if err != nil || stamped[0].UserID != "u2" || stamped[0].Actor != "user:u2" || stamped[0].ID != evs[0].UUID || evs[0].Subject != "user:u2" || evs[0].Type != "consent.granted" {
		t.Errorf("stamped %+v %+v, %v", stamped, evs, err)
	}
	if _, err := s.NewReceipts([]Decision{{Purpose: "marketing"}}, Via{Channel: ChannelRegistration}); err == nil {
		t.Error("a withdrawal at registration")
	}
}
