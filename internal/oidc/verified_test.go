package oidc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/portvakt/portvakt/internal/clients"
	"github.com/portvakt/portvakt/internal/federation"
	"github.com/portvakt/portvakt/internal/oidc"
	"github.com/portvakt/portvakt/internal/storetest"
)

// lockedBuffer collects log lines written from the server's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// verifiedOf returns the verified_claims of a set of claims, as JSON
// objects: one, or each of an array.
func verifiedOf(t *testing.T, claims map[string]any) []map[string]any {
	t.Helper()
	switch v := claims["verified_claims"].(type) {
	case nil:
		return nil
	case map[string]any:
		return []map[string]any{v}
	case []any:
		out := make([]map[string]any, len(v))
		for i, o := range v {
			out[i], _ = o.(map[string]any)
		}
		return out
	}
	t.Fatalf("verified_claims is %T: %v", claims["verified_claims"], claims["verified_claims"])
	return nil
}

// checkGroup checks one verified_claims object: who vouched, when, and
// exactly which claims.
func checkGroup(t *testing.T, where string, g map[string]any, source string, at time.Time, want map[string]any) {
	t.Helper()
	v, _ := g["verification"].(map[string]any)
	if v["trust_framework"] != source || v["verification_process"] != source || v["time"] != at.UTC().Format(time.RFC3339) {
		t.Errorf("%s: verification = %v, want %s at %s", where, v, source, at.UTC().Format(time.RFC3339))
	}
	got, _ := g["claims"].(map[string]any)
	if b, _ := json.Marshal(got); !sameJSONObjects(got, want) {
		t.Errorf("%s: claims = %s, want %v", where, b, want)
	}
}

func sameJSONObjects(a, b map[string]any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// rawUserinfo fetches userinfo with an access token and returns the status
// and body.
func rawUserinfo(t *testing.T, s *stack, access string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.url+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+access)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, body
}

// TestVerifiedClaimsReleasedPerClient: what an identity-proofing provider
// vouched for reaches only a client registered for it, and only the
// attributes it is registered for, opened, in the ID token and from
// userinfo; never the log.
func TestVerifiedClaimsReleasedPerClient(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		var logs lockedBuffer
		s := newStack(t, e, withClient("loans", func(c *oidc.Client) {
			c.ReleaseVerified = []string{"legal_name", "national_id"}
		}), func(cfg *oidc.Config) {
			cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		})
		ctx := context.Background()
		ada, err := s.store.UserByEmail(ctx, "ada@example.com")
		if err != nil {
			t.Fatal(err)
		}
		const number, birthdate = "18151210-1234", "1815-12-10"

		// Before any proofing, a registered client gets nothing.
		tok := flowFor(t, s, "loans", nil)
		if _, p := jwtParts(t, tok.Extra("id_token").(string)); p["verified_claims"] != nil {
			t.Errorf("ID token of a person never proofed has verified_claims: %v", p["verified_claims"])
		}

		bankID := time.Date(2026, 5, 4, 12, 30, 0, 0, time.UTC)
		s.proofing.Now = func() time.Time { return bankID }
		if err := s.proofing.Proof(ctx, ada.ID, federation.Claims{Provider: "bankid", Proofing: true, GivenName: "Ada", FamilyName: "Lovelace",
			BirthDate: birthdate, NationalID: number}); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"name": "Ada Lovelace", "national_id": number}

		// The registered client: name and number, not the birth date.
		tok = flowFor(t, s, "loans", nil, "offline_access")
		_, idt := jwtParts(t, tok.Extra("id_token").(string))
		groups := verifiedOf(t, idt)
		if len(groups) != 1 {
			t.Fatalf("ID token verified_claims = %v, want one object", idt["verified_claims"])
		}
		checkGroup(t, "ID token", groups[0], "eid:bankid", bankID, want)
		if idt["birthdate"] != nil || idt["national_id"] != nil {
			t.Errorf("verified attributes outside verified_claims: %v", idt)
		}
		ui := userinfoClaims(t, s, tok, "get")
		if groups := verifiedOf(t, ui); len(groups) != 1 {
			t.Errorf("userinfo verified_claims = %v, want one object", ui["verified_claims"])
		} else {
			checkGroup(t, "userinfo", groups[0], "eid:bankid", bankID, want)
		}
		// A refreshed ID token carries them too.
		conf := s.clientConfig(ctx, "loans", clientSecret, "/callback", "openid", "offline_access")
		refreshed, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if _, p := jwtParts(t, refreshed.Extra("id_token").(string)); len(verifiedOf(t, p)) != 1 {
			t.Errorf("refreshed ID token verified_claims = %v, want one object", p["verified_claims"])
		}

		// A client not registered for them gets none, nowhere, even when
		// it asks through the claims parameter.
		other := flowFor(t, s, clientID, map[string][]string{"claims": {`{"id_token":{"verified_claims":null,"national_id":null},"userinfo":{"verified_claims":null}}`}})
		raw := other.Extra("id_token").(string)
		_, p := jwtParts(t, raw)
		payload, _ := json.Marshal(p)
		if p["verified_claims"] != nil || strings.Contains(string(payload), number) || strings.Contains(string(payload), birthdate) {
			t.Errorf("ID token of a client not registered for verified attributes: %s", payload)
		}
		if status, body := rawUserinfo(t, s, other.AccessToken); status != http.StatusOK || bytes.Contains(body, []byte("verified_claims")) ||
			bytes.Contains(body, []byte(number)) {
			t.Errorf("userinfo of a client not registered for verified attributes: %d %s", status, body)
		}

		// A later proofing of the name by another provider: two objects,
		// oldest first, each with its own source and time.
		freja := bankID.Add(time.Hour)
		s.proofing.Now = func() time.Time { return freja }
		if err := s.proofing.Proof(ctx, ada.ID, federation.Claims{Provider: "freja", Proofing: true, GivenName: "Augusta Ada", FamilyName: "King"}); err != nil {
			t.Fatal(err)
		}
		tok = flowFor(t, s, "loans", nil)
		groups = verifiedOf(t, userinfoClaims(t, s, tok, "get"))
		if len(groups) != 2 {
			t.Fatalf("userinfo verified_claims after two proofings = %v, want two objects", groups)
		}
		checkGroup(t, "userinfo, first provider", groups[0], "eid:bankid", bankID, map[string]any{"national_id": number})
		checkGroup(t, "userinfo, second provider", groups[1], "eid:freja", freja, map[string]any{"name": "Augusta Ada King"})

		if l := logs.String(); strings.Contains(l, number) || strings.Contains(l, birthdate) {
			t.Errorf("a verified attribute reached the log:\n%s", l)
		}
	})
}

// TestVerifiedClaimsFailClosed: a verified attribute that does not open
// (sealed for someone else) fails the request; it is never released as
// empty or skipped in silence.
func TestVerifiedClaimsFailClosed(t *testing.T) {
	s := newStack(t, storetest.SQLite(), withClient("loans", func(c *oidc.Client) {
		c.ReleaseVerified = []string{"birthdate"}
	}))
	ctx := context.Background()
	ada, err := s.store.UserByEmail(ctx, "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	tok := flowFor(t, s, "loans", nil)
	if err := s.store.SaveProofing(ctx, ada.ID, []federation.VerifiedAttribute{
		{Name: federation.AttrBirthdate, Value: []byte("not sealed for Ada"), Source: "eid:bankid", VerifiedAt: s.clock.Now()},
	}, ""); err != nil {
		t.Fatal(err)
	}
	if status, body := rawUserinfo(t, s, tok.AccessToken); status < 500 || bytes.Contains(body, []byte("not sealed")) {
		t.Errorf("userinfo with a value that does not open: %d %s, want a server error", status, body)
	}
}

// TestVerifiedAttributeNamesAgree: the names a client is registered with
// are those a proofing keeps, each with its claim.
func TestVerifiedAttributeNamesAgree(t *testing.T) {
	if !slices.Equal(clients.VerifiableAttributes, federation.VerifiedNames) {
		t.Errorf("clients.VerifiableAttributes = %v, federation.VerifiedNames = %v; want the same", clients.VerifiableAttributes, federation.VerifiedNames)
	}
}
