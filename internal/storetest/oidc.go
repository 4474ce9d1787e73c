package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/oidc"
	"github.com/portvakt/portvakt/internal/store"
)

// RunOIDC is the conformance suite for the OpenID Provider's records (the
// oidc.Store methods: authorization requests, codes, tokens, revocations and
// consents) on engine e. Call it once per engine, typically through
// ForEachEngine.
func RunOIDC(t *testing.T, e Engine) {
	t.Run("AuthRequests", func(t *testing.T) { testOIDCAuthRequests(t, e) })
	t.Run("RedeemCode", func(t *testing.T) { testOIDCRedeemCode(t, e) })
	t.Run("RedeemCodeRace", func(t *testing.T) { testOIDCRedeemCodeRace(t, e) })
	t.Run("Tokens", func(t *testing.T) { testOIDCTokens(t, e) })
	t.Run("RotateRefresh", func(t *testing.T) { testOIDCRotateRefresh(t, e) })
	t.Run("RevokeFamily", func(t *testing.T) { testOIDCRevokeFamily(t, e) })
	t.Run("RevokeJTI", func(t *testing.T) { testOIDCRevokeJTI(t, e) })
	t.Run("TokenWithUser", func(t *testing.T) { testOIDCTokenWithUser(t, e) })
	t.Run("Consents", func(t *testing.T) { testOIDCConsents(t, e) })
}

// oidcBase is the suite's clock: not UTC and with nanoseconds, so that the
// tests see the store convert to UTC and truncate to microseconds.
var oidcBase = time.Date(2026, 2, 28, 22, 30, 15, 123456789, time.FixedZone("EET", 2*3600))

var errOIDCRefused = errors.New("refused by the update function")

// isOIDCNotFound reports whether err matches both not-found sentinels.
func isOIDCNotFound(err error) bool {
	return errors.Is(err, oidc.ErrNotFound) && errors.Is(err, store.ErrNotFound)
}

func authRequestFixture(id string) oidc.AuthRequest {
	maxAge := uint(300)
	return oidc.AuthRequest{
		ID: id, ClientID: "webshop",
		Params: oidc.Params{
			Scopes: []string{"openid", "email"}, ResponseType: "code", RedirectURI: "https://shop.example.com/cb?x=1&y=%20",
			State: "st\u00e4te", Nonce: "n", CodeChallenge: "abc", CodeChallengeMethod: "S256", Prompt: []string{"login"},
			MaxAge: &maxAge, UILocales: []string{"sv", "fi"}, LoginHint: "ada@example.com",
		},
		CreatedAt: oidcBase, ExpiresAt: oidcBase.Add(30 * time.Minute),
	}
}

func authRequestAsStored(ar oidc.AuthRequest) oidc.AuthRequest {
	for _, tm := range []*time.Time{&ar.AuthTime, &ar.CodeUsedAt, &ar.CreatedAt, &ar.ExpiresAt} {
		if !tm.IsZero() {
			*tm = stored(*tm)
		}
	}
	return ar
}

func oidcTokenFixture(id string, kind oidc.TokenKind, family, hash string) oidc.Token {
	return oidc.Token{
		ID: id, Kind: kind, FamilyID: family, Hash: hash, ClientID: "webshop", UserID: "u1",
		Scopes: []string{"openid", "offline_access"}, Audience: []string{"webshop", "https://api.example.com"},
		AuthTime: oidcBase.Add(-time.Minute), AMR: []string{"pwd"}, ACR: "urn:portvakt:loa:low", SessionID: "s1",
		Claims: json.RawMessage(`{"userinfo":{"name":null}}`), OrgID: "org-1",
		CreatedAt: oidcBase, ExpiresAt: oidcBase.Add(time.Hour),
	}
}

func oidcTokenAsStored(tk oidc.Token) oidc.Token {
	for _, tm := range []*time.Time{&tk.AuthTime, &tk.CreatedAt, &tk.ExpiresAt, &tk.UsedAt, &tk.RevokedAt} {
		if !tm.IsZero() {
			*tm = stored(*tm)
		}
	}
	return tk
}

// eventTypesAbout returns the types of the events about subject, oldest
// first.
func eventTypesAbout(t testing.TB, s *store.Store, subject string) []string {
	t.Helper()
	var out []string
	for _, ev := range allEvents(t, s) {
		if ev.Subject == subject {
			out = append(out, ev.Type)
		}
	}
	return out
}

func testOIDCAuthRequests(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	ar := authRequestFixture("ar1")
	must(t, s.CreateAuthRequest(ctx, ar), "CreateAuthRequest")
	if err := s.CreateAuthRequest(ctx, ar); err == nil {
		t.Error("CreateAuthRequest with a taken ID: got no error")
	}
	got, err := s.AuthRequestByID(ctx, "ar1")
	must(t, err, "AuthRequestByID")
	if d := cmp.Diff(authRequestAsStored(ar), got, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("AuthRequestByID (-want +got):\n%s", d)
	}
	if _, err := s.AuthRequestByID(ctx, "nope"); !isOIDCNotFound(err) {
		t.Errorf("AuthRequestByID of a missing request: got %v, want ErrNotFound", err)
	}

	// A refused update changes nothing.
	if _, err := s.UpdateAuthRequest(ctx, "ar1", func(a oidc.AuthRequest) (oidc.AuthRequest, error) {
		a.UserID = "changed"
		return a, errOIDCRefused
	}); !errors.Is(err, errOIDCRefused) {
		t.Errorf("refused UpdateAuthRequest: got %v, want the function's error", err)
	}
	if _, err := s.UpdateAuthRequest(ctx, "nope", func(a oidc.AuthRequest) (oidc.AuthRequest, error) { return a, nil }); !isOIDCNotFound(err) {
		t.Errorf("UpdateAuthRequest of a missing request: got %v, want ErrNotFound", err)
	}

	signedIn := oidcBase.Add(time.Second + time.Nanosecond)
	updated, err := s.UpdateAuthRequest(ctx, "ar1", func(a oidc.AuthRequest) (oidc.AuthRequest, error) {
		a.SignedIn, a.UserID, a.AuthTime, a.AMR, a.ACR, a.SessionID = true, "u1", signedIn, []string{"pwd", "otp"}, "urn:acr:2", "sess"
		a.CodeHash, a.ExpiresAt = "code-digest", oidcBase.Add(time.Minute)
		return a, nil
	})
	must(t, err, "UpdateAuthRequest")
	want := ar
	want.SignedIn, want.UserID, want.AuthTime, want.AMR, want.ACR, want.SessionID = true, "u1", signedIn, []string{"pwd", "otp"}, "urn:acr:2", "sess"
	want.CodeHash, want.ExpiresAt = "code-digest", oidcBase.Add(time.Minute)
	if d := cmp.Diff(authRequestAsStored(want), authRequestAsStored(updated), cmpopts.EquateEmpty()); d != "" {
		t.Errorf("UpdateAuthRequest result (-want +got):\n%s", d)
	}
	for name, get := range map[string]func() (oidc.AuthRequest, error){
		"AuthRequestByID": func() (oidc.AuthRequest, error) { return s.AuthRequestByID(ctx, "ar1") },
	} {
		got, err := get()
		must(t, err, "%s after update", name)
		if d := cmp.Diff(authRequestAsStored(want), got, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("%s after update (-want +got):\n%s", name, d)
		}
	}
}

// issuing is a RedeemCode check that accepts and issues ts with evs.
func issuing(ts []oidc.Token, evs ...events.Event) func(oidc.AuthRequest) ([]oidc.Token, []events.Event, error) {
	return func(oidc.AuthRequest) ([]oidc.Token, []events.Event, error) { return ts, evs, nil }
}

func noEvents(oidc.AuthRequest) []events.Event { return nil }

func testOIDCRedeemCode(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	ar := authRequestFixture("ar1")
	ar.CodeHash = "code-digest"
	must(t, s.CreateAuthRequest(ctx, ar), "CreateAuthRequest")
	at := oidcTokenFixture("at1", oidc.KindAccess, "ar1", "")
	rt := oidcTokenFixture("rt1", oidc.KindRefresh, "ar1", "rt-digest")
	other := oidcTokenFixture("at2", oidc.KindAccess, "other-family", "")

	if _, err := s.RedeemCode(ctx, "wrong", oidcBase, issuing([]oidc.Token{other}), noEvents); !isOIDCNotFound(err) {
		t.Errorf("RedeemCode of an unknown code: got %v, want ErrNotFound", err)
	}
	used := oidcBase.Add(2 * time.Second)
	if _, err := s.GrantTokenByID(ctx, "at2"); !isOIDCNotFound(err) {
		t.Errorf("a token given with an unknown code: got %v, want it not recorded", err)
	}
	// A check that refuses leaves the code unused and nothing recorded.
	errRefused := errors.New("refused")
	if _, err := s.RedeemCode(ctx, "code-digest", used, func(got oidc.AuthRequest) ([]oidc.Token, []events.Event, error) {
		if got.ID != "ar1" {
			t.Errorf("the check got request %q, want ar1", got.ID)
		}
		return nil, nil, errRefused
	}, noEvents); !errors.Is(err, errRefused) {
		t.Errorf("RedeemCode with a refusing check: got %v, want its error", err)
	}
	if got, _ := s.AuthRequestByID(ctx, "ar1"); !got.CodeUsedAt.IsZero() {
		t.Error("a refused check used the code")
	}
	issued := newEvent(t, "oidc.token_issued", "client:webshop", nil)
	got, err := s.RedeemCode(ctx, "code-digest", used, issuing([]oidc.Token{at, rt}, issued), noEvents)
	must(t, err, "first RedeemCode")
	if !stored(got.CodeUsedAt).Equal(stored(used)) || got.ID != "ar1" {
		t.Errorf("first RedeemCode: got request %s used at %v, want ar1 used at %v", got.ID, got.CodeUsedAt, stored(used))
	}
	for _, id := range []string{"at1", "rt1"} {
		if _, err := s.GrantTokenByID(ctx, id); err != nil {
			t.Errorf("token %s issued with the code: %v", id, err)
		}
	}
	must(t, s.SaveGrantTokens(ctx, []oidc.Token{other}), "SaveGrantTokens")

	reuse := newEvent(t, "oidc.code_reused", "client:webshop", nil)
	again := oidcBase.Add(30 * time.Second)
	late := oidcTokenFixture("at3", oidc.KindAccess, "ar1", "")
	if _, err := s.RedeemCode(ctx, "code-digest", again, issuing([]oidc.Token{late}), func(oidc.AuthRequest) []events.Event { return []events.Event{reuse} }); !errors.Is(err, oidc.ErrCodeReused) {
		t.Fatalf("second RedeemCode: got %v, want ErrCodeReused", err)
	}
	for _, id := range []string{"at1", "rt1"} {
		tk, err := s.GrantTokenByID(ctx, id)
		must(t, err, "GrantTokenByID(%s)", id)
		if !tk.RevokedAt.Equal(stored(again)) {
			t.Errorf("token %s after the code's reuse: revoked at %v, want %v", id, tk.RevokedAt, stored(again))
		}
	}
	if tk, err := s.GrantTokenByID(ctx, "at2"); err != nil || !tk.RevokedAt.IsZero() {
		t.Errorf("token of another family after the code's reuse: got %+v, %v, want it untouched", tk, err)
	}
	if denied, err := s.JTIRevoked(ctx, "at1"); err != nil || !denied {
		t.Errorf("JTIRevoked(at1) after the code's reuse: got %v, %v, want true", denied, err)
	}
	if _, err := s.GrantTokenByID(ctx, "at3"); !isOIDCNotFound(err) {
		t.Errorf("a token given with a reused code: got %v, want it not recorded", err)
	}
	if got := eventTypesAbout(t, s, "client:webshop"); !slices.Equal(got, []string{"oidc.token_issued", "oidc.code_reused"}) {
		t.Errorf("events after the code's reuse: got %v, want [oidc.token_issued oidc.code_reused]", got)
	}
	// The first use stays recorded.
	ar2, err := s.AuthRequestByID(ctx, "ar1")
	must(t, err, "AuthRequestByID")
	if !ar2.CodeUsedAt.Equal(stored(used)) {
		t.Errorf("code used at after reuse: got %v, want the first use %v", ar2.CodeUsedAt, stored(used))
	}
}

// testOIDCRedeemCodeRace: of two exchanges of one code at the same moment,
// exactly one gets the request.
func testOIDCRedeemCodeRace(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	ar := authRequestFixture("ar1")
	ar.CodeHash = "code-digest"
	must(t, s.CreateAuthRequest(ctx, ar), "CreateAuthRequest")
	const n = 4
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			tk := oidcTokenFixture(fmt.Sprintf("at%d", i), oidc.KindAccess, "ar1", "")
			_, errs[i] = s.RedeemCode(ctx, "code-digest", oidcBase, issuing([]oidc.Token{tk}), noEvents)
		})
	}
	close(start)
	wg.Wait()
	ok, reused := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, oidc.ErrCodeReused):
			reused++
		default:
			t.Errorf("concurrent RedeemCode: %v", err)
		}
	}
	if ok != 1 || reused != n-1 {
		t.Errorf("concurrent RedeemCode: got %d successes and %d reuses, want 1 and %d", ok, reused, n-1)
	}
}

func testOIDCTokens(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	at := oidcTokenFixture("at1", oidc.KindAccess, "f1", "")
	at.AuthTime = time.Time{} // client tokens have no sign-in
	rt := oidcTokenFixture("rt1", oidc.KindRefresh, "f1", "rt-digest")
	ev := newEvent(t, "oidc.token_issued", "user:u1", map[string]any{"client_id": "webshop"})
	must(t, s.SaveGrantTokens(ctx, []oidc.Token{at, rt}, ev), "SaveGrantTokens")
	if err := s.SaveGrantTokens(ctx, []oidc.Token{oidcTokenFixture("new", oidc.KindAccess, "f1", ""), at}); err == nil {
		t.Error("SaveGrantTokens with a taken ID: got no error")
	}
	if _, err := s.GrantTokenByID(ctx, "new"); !isOIDCNotFound(err) {
		t.Errorf("a failed SaveGrantTokens stored a token: got %v, want ErrNotFound", err)
	}
	if got := eventTypesAbout(t, s, "user:u1"); !slices.Equal(got, []string{"oidc.token_issued"}) {
		t.Errorf("events: got %v, want [oidc.token_issued]", got)
	}
	for _, tc := range []struct {
		name string
		get  func() (oidc.Token, error)
		want oidc.Token
	}{
		{"GrantTokenByID access", func() (oidc.Token, error) { return s.GrantTokenByID(ctx, "at1") }, at},
		{"GrantTokenByID refresh", func() (oidc.Token, error) { return s.GrantTokenByID(ctx, "rt1") }, rt},
		{"GrantTokenByHash", func() (oidc.Token, error) { return s.GrantTokenByHash(ctx, "rt-digest") }, rt},
	} {
		got, err := tc.get()
		must(t, err, "%s", tc.name)
		if d := cmp.Diff(oidcTokenAsStored(tc.want), got); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, d)
		}
	}
	if _, err := s.GrantTokenByHash(ctx, "nope"); !isOIDCNotFound(err) {
		t.Errorf("GrantTokenByHash of a missing token: got %v, want ErrNotFound", err)
	}
	if _, err := s.GrantTokenByHash(ctx, ""); !isOIDCNotFound(err) {
		t.Errorf("GrantTokenByHash of the empty digest (access tokens have none): got %v, want ErrNotFound", err)
	}
}

func testOIDCRotateRefresh(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	at := oidcTokenFixture("at1", oidc.KindAccess, "f1", "")
	rt := oidcTokenFixture("rt1", oidc.KindRefresh, "f1", "rt1-digest")
	must(t, s.SaveGrantTokens(ctx, []oidc.Token{at, rt}), "SaveGrantTokens")
	reuseEvents := func(old oidc.Token) []events.Event {
		return []events.Event{newEvent(t, "oidc.refresh_token_reused", "user:"+old.UserID, nil)}
	}
	now := oidcBase.Add(time.Minute)
	next := func(old oidc.Token) ([]oidc.Token, []events.Event, error) {
		if old.ID != "rt1" {
			t.Errorf("next got token %s, want rt1", old.ID)
		}
		a := oidcTokenFixture("at2", oidc.KindAccess, old.FamilyID, "")
		r := oidcTokenFixture("rt2", oidc.KindRefresh, old.FamilyID, "rt2-digest")
		return []oidc.Token{a, r}, []events.Event{newEvent(t, "oidc.token_refreshed", "user:"+old.UserID, nil)}, nil
	}

	// A refused rotation changes nothing.
	if _, err := s.RotateRefresh(ctx, "rt1-digest", now, func(oidc.Token) ([]oidc.Token, []events.Event, error) {
		return nil, nil, errOIDCRefused
	}, reuseEvents); !errors.Is(err, errOIDCRefused) {
		t.Errorf("refused RotateRefresh: got %v, want the function's error", err)
	}
	if tk, _ := s.GrantTokenByID(ctx, "rt1"); !tk.UsedAt.IsZero() {
		t.Errorf("a refused rotation used the refresh token: %+v", tk)
	}
	if _, err := s.RotateRefresh(ctx, "at-has-no-digest", now, next, reuseEvents); !isOIDCNotFound(err) {
		t.Errorf("RotateRefresh of an unknown token: got %v, want ErrNotFound", err)
	}

	got, err := s.RotateRefresh(ctx, "rt1-digest", now, next, reuseEvents)
	must(t, err, "RotateRefresh")
	if len(got) != 2 || got[1].ID != "rt2" {
		t.Errorf("RotateRefresh: got %v, want the new tokens", got)
	}
	old, err := s.GrantTokenByID(ctx, "rt1")
	must(t, err, "GrantTokenByID(rt1)")
	if !old.UsedAt.Equal(stored(now)) || !old.RevokedAt.IsZero() {
		t.Errorf("rotated refresh token: used %v revoked %v, want used at %v", old.UsedAt, old.RevokedAt, stored(now))
	}
	if _, err := s.GrantTokenByHash(ctx, "rt2-digest"); err != nil {
		t.Errorf("new refresh token: %v", err)
	}

	// Presenting the rotated token again revokes the family, newest
	// included.
	later := now.Add(time.Minute)
	if _, err := s.RotateRefresh(ctx, "rt1-digest", later, next, reuseEvents); !errors.Is(err, oidc.ErrRefreshReused) {
		t.Fatalf("RotateRefresh of a used token: got %v, want ErrRefreshReused", err)
	}
	for _, id := range []string{"at1", "at2", "rt2"} {
		tk, err := s.GrantTokenByID(ctx, id)
		must(t, err, "GrantTokenByID(%s)", id)
		if !tk.RevokedAt.Equal(stored(later)) {
			t.Errorf("token %s after reuse: revoked at %v, want %v", id, tk.RevokedAt, stored(later))
		}
	}
	if got := eventTypesAbout(t, s, "user:u1"); !slices.Equal(got, []string{"oidc.token_refreshed", "oidc.refresh_token_reused"}) {
		t.Errorf("events: got %v, want refreshed then reused", got)
	}

	// An expired refresh token is not found and not rotated.
	expired := oidcTokenFixture("rt3", oidc.KindRefresh, "f3", "rt3-digest")
	must(t, s.SaveGrantTokens(ctx, []oidc.Token{expired}), "SaveGrantTokens")
	if _, err := s.RotateRefresh(ctx, "rt3-digest", expired.ExpiresAt, next, reuseEvents); !isOIDCNotFound(err) {
		t.Errorf("RotateRefresh of an expired token: got %v, want ErrNotFound", err)
	}
}

func testOIDCRevokeFamily(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	earlier := oidcBase.Add(time.Second)
	revokedBefore := oidcTokenFixture("rt0", oidc.KindRefresh, "f1", "rt0-digest")
	revokedBefore.RevokedAt = earlier
	at := oidcTokenFixture("at1", oidc.KindAccess, "f1", "")
	rt := oidcTokenFixture("rt1", oidc.KindRefresh, "f1", "rt1-digest")
	other := oidcTokenFixture("at2", oidc.KindAccess, "f2", "")
	must(t, s.SaveGrantTokens(ctx, []oidc.Token{revokedBefore, at, rt, other}), "SaveGrantTokens")

	now := oidcBase.Add(time.Minute)
	ev := newEvent(t, "oidc.token_revoked", "user:u1", nil)
	must(t, s.RevokeFamily(ctx, "f1", now, ev), "RevokeFamily")
	must(t, s.RevokeFamily(ctx, "f1", now.Add(time.Minute)), "RevokeFamily again")
	for id, want := range map[string]time.Time{"rt0": earlier, "at1": now, "rt1": now, "at2": {}} {
		tk, err := s.GrantTokenByID(ctx, id)
		must(t, err, "GrantTokenByID(%s)", id)
		if want.IsZero() != tk.RevokedAt.IsZero() || (!want.IsZero() && !tk.RevokedAt.Equal(stored(want))) {
			t.Errorf("token %s: revoked at %v, want %v (a revocation keeps its first time)", id, tk.RevokedAt, stored(want))
		}
	}
	for jti, want := range map[string]bool{"at1": true, "rt1": false, "at2": false} {
		if got, err := s.JTIRevoked(ctx, jti); err != nil || got != want {
			t.Errorf("JTIRevoked(%s) after RevokeFamily: got %v, %v, want %v", jti, got, err, want)
		}
	}
	if got := eventTypesAbout(t, s, "user:u1"); !slices.Equal(got, []string{"oidc.token_revoked"}) {
		t.Errorf("events: got %v, want [oidc.token_revoked]", got)
	}
	// A family of nothing (a client credentials token) only writes events.
	must(t, s.RevokeFamily(ctx, "", now, newEvent(t, "oidc.token_revoked", "client:c", nil)), "RevokeFamily of no family")
	if tk, _ := s.GrantTokenByID(ctx, "at2"); !tk.RevokedAt.IsZero() {
		t.Errorf("RevokeFamily(\"\") revoked a token: %+v", tk)
	}
}

func testOIDCRevokeJTI(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	if got, err := s.JTIRevoked(ctx, "j1"); err != nil || got {
		t.Errorf("JTIRevoked before revocation: got %v, %v, want false", got, err)
	}
	ev := newEvent(t, "oidc.token_revoked", "client:c", nil)
	must(t, s.RevokeJTI(ctx, "j1", oidcBase.Add(time.Hour), ev), "RevokeJTI")
	must(t, s.RevokeJTI(ctx, "j1", oidcBase.Add(time.Hour)), "RevokeJTI again")
	if got, err := s.JTIRevoked(ctx, "j1"); err != nil || !got {
		t.Errorf("JTIRevoked after revocation: got %v, %v, want true", got, err)
	}
	if got, err := s.JTIRevoked(ctx, "j2"); err != nil || got {
		t.Errorf("JTIRevoked of another jti: got %v, %v, want false", got, err)
	}
	if got := eventTypesAbout(t, s, "client:c"); !slices.Equal(got, []string{"oidc.token_revoked"}) {
		t.Errorf("events: got %v, want [oidc.token_revoked]", got)
	}

	// GrantTokenDenied reads a record and its denial together.
	must(t, s.SaveGrantTokens(ctx, []oidc.Token{oidcTokenFixture("j1", oidc.KindAccess, "f1", ""), oidcTokenFixture("j3", oidc.KindAccess, "f1", "")}), "SaveGrantTokens")
	for _, tc := range []struct {
		id     string
		denied bool
	}{{"j1", true}, {"j3", false}} {
		tk, denied, err := s.GrantTokenDenied(ctx, tc.id)
		if err != nil || tk.ID != tc.id || denied != tc.denied || tk.ACR != "urn:portvakt:loa:low" {
			t.Errorf("GrantTokenDenied(%s): got %s, %v, %v, want the token, denied %v", tc.id, tk.ID, denied, err, tc.denied)
		}
	}
	if _, _, err := s.GrantTokenDenied(ctx, "j2"); !isOIDCNotFound(err) {
		t.Errorf("GrantTokenDenied of no token: got %v, want ErrNotFound", err)
	}
}

func testOIDCConsents(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	if _, err := s.ConsentFor(ctx, "u1", "photos"); !isOIDCNotFound(err) {
		t.Errorf("ConsentFor before any consent: got %v, want ErrNotFound", err)
	}
	first := oidc.Consent{UserID: "u1", ClientID: "photos", Scopes: []string{"openid", "email"}, CreatedAt: oidcBase, UpdatedAt: oidcBase}
	granted := func() events.Event {
		return newEvent(t, "oidc.consent_granted", "user:u1", map[string]any{"client_id": "photos"})
	}
	must(t, s.SaveConsent(ctx, first, granted()), "SaveConsent")
	got, err := s.ConsentFor(ctx, "u1", "photos")
	must(t, err, "ConsentFor")
	want := first
	want.CreatedAt, want.UpdatedAt = stored(first.CreatedAt), stored(first.UpdatedAt)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("ConsentFor (-want +got):\n%s", d)
	}

	// Consents are per user and client.
	other := oidc.Consent{UserID: "u2", ClientID: "photos", Scopes: []string{"openid"}, CreatedAt: oidcBase, UpdatedAt: oidcBase}
	must(t, s.SaveConsent(ctx, other), "SaveConsent for another user")
	for _, k := range [][2]string{{"u1", "maps"}, {"u3", "photos"}} {
		if _, err := s.ConsentFor(ctx, k[0], k[1]); !isOIDCNotFound(err) {
			t.Errorf("ConsentFor(%s, %s): got %v, want ErrNotFound", k[0], k[1], err)
		}
	}

	// Saving again replaces the scopes and keeps when it was first given.
	later := oidcBase.Add(time.Hour + time.Nanosecond)
	second := oidc.Consent{UserID: "u1", ClientID: "photos", Scopes: []string{"openid", "email", "profile"}, CreatedAt: later, UpdatedAt: later}
	must(t, s.SaveConsent(ctx, second, granted()), "SaveConsent again")
	got, err = s.ConsentFor(ctx, "u1", "photos")
	must(t, err, "ConsentFor after the second SaveConsent")
	want = oidc.Consent{UserID: "u1", ClientID: "photos", Scopes: second.Scopes, CreatedAt: stored(oidcBase), UpdatedAt: stored(later)}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("ConsentFor after the second SaveConsent (-want +got):\n%s", d)
	}
	if !got.Covers([]string{"profile", "openid"}) || got.Covers([]string{"openid", "phone"}) {
		t.Errorf("Covers of %v is wrong", got.Scopes)
	}

	withdrawn := newEvent(t, "oidc.consent_withdrawn", "user:u1", map[string]any{"client_id": "photos"})
	must(t, s.DeleteConsent(ctx, "u1", "photos", withdrawn), "DeleteConsent")
	if _, err := s.ConsentFor(ctx, "u1", "photos"); !isOIDCNotFound(err) {
		t.Errorf("ConsentFor after DeleteConsent: got %v, want ErrNotFound", err)
	}
	if _, err := s.ConsentFor(ctx, "u2", "photos"); err != nil {
		t.Errorf("DeleteConsent removed another user's consent: %v", err)
	}
	if err := s.DeleteConsent(ctx, "u1", "photos", withdrawn); !isOIDCNotFound(err) {
		t.Errorf("DeleteConsent of a missing consent: got %v, want ErrNotFound", err)
	}
	want2 := []string{"oidc.consent_granted", "oidc.consent_granted", "oidc.consent_withdrawn"}
	if got := eventTypesAbout(t, s, "user:u1"); !slices.Equal(got, want2) {
		t.Errorf("events: got %v, want %v (none for the failed delete)", got, want2)
	}
}

// testOIDCTokenWithUser: GrantTokenWithUser reads a token, its denial and
// its user together, all fields intact.
func testOIDCTokenWithUser(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	u := newUser(t, "ada@example.com", "crm-1")
	u.GivenName, u.FamilyName, u.Phone, u.Locale, u.EmailVerified = "Ada", "Lovelace", "+46701234567", "sv", true
	u.ProfileConfirmedAt = base.Add(time.Minute)
	must(t, s.CreateUser(ctx, u, userEvent(t, u)), "CreateUser")
	tk := oidcTokenFixture("at1", oidc.KindAccess, "f1", "")
	tk.UserID = u.ID
	other := oidcTokenFixture("at2", oidc.KindAccess, "f1", "")
	other.UserID = "no-such-user"
	must(t, s.SaveGrantTokens(ctx, []oidc.Token{tk, other}), "SaveGrantTokens")

	got, denied, gotUser, err := s.GrantTokenWithUser(ctx, "at1")
	must(t, err, "GrantTokenWithUser")
	if diff := cmp.Diff(oidcTokenAsStored(tk), got); diff != "" || denied {
		t.Errorf("GrantTokenWithUser token (-want +got), denied %v:\n%s", denied, diff)
	}
	if diff := cmp.Diff(userAsStored(u), gotUser); diff != "" {
		t.Errorf("GrantTokenWithUser user (-want +got):\n%s", diff)
	}
	must(t, s.RevokeJTI(ctx, "at1", oidcBase.Add(time.Hour)), "RevokeJTI")
	if _, denied, _, err := s.GrantTokenWithUser(ctx, "at1"); err != nil || !denied {
		t.Errorf("GrantTokenWithUser after RevokeJTI: denied %v, %v; want true", denied, err)
	}
	for _, id := range []string{"at2", "nothing"} {
		if _, _, _, err := s.GrantTokenWithUser(ctx, id); !isOIDCNotFound(err) {
			t.Errorf("GrantTokenWithUser(%s): got %v, want ErrNotFound", id, err)
		}
	}
}
