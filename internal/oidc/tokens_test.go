package oidc_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/portvakt/portvakt/internal/storetest"
)

// Tests of the token endpoints, named after the certification modules and
// RFCs they check.

// codeFlow signs a new browser in through the webapp's code flow with
// scopes and returns the tokens and the verified ID token.
func codeFlow(t *testing.T, s *stack, scopes ...string) (*oauth2.Token, *gooidc.IDToken) {
	t.Helper()
	ctx := context.Background()
	conf, verifier := s.oauth2Config(ctx, scopes...)
	v := oauth2.GenerateVerifier()
	cb := s.browser().authorize(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v)), true)
	tok, err := conf.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	idt, err := verifier.Verify(ctx, tok.Extra("id_token").(string))
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	return tok, idt
}

// publicFlow runs the code flow of the public client (opaque access
// tokens).
func publicFlow(t *testing.T, s *stack) *oauth2.Token {
	t.Helper()
	ctx := context.Background()
	conf := s.clientConfig(ctx, "spa", "", "/spa", "openid", "profile")
	v := oauth2.GenerateVerifier()
	cb := s.browser().authorize(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v)), true)
	tok, err := conf.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatalf("public client exchange: %v", err)
	}
	return tok
}

// userinfoStatus is the status of a userinfo request with token.
func userinfoStatus(t *testing.T, s *stack, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.url+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// oauthError returns the OAuth error code of a failed token request.
func oauthError(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

func inactive(m map[string]any) bool {
	return m["active"] == false && len(m) == 1
}

// TestRFC7662Introspection: an active token says who, for which client,
// with what scope and until when; revoked, expired and unknown tokens are
// inactive and say nothing else; the caller must authenticate.
func TestRFC7662Introspection(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := newStack(t, e)
		tok, idt := codeFlow(t, s, "email", "offline_access")
		opaque := publicFlow(t, s)
		for _, tc := range []struct {
			name   string
			token  string
			client string
			scope  string
		}{
			{"JWT access token", tok.AccessToken, clientID, "openid email offline_access"},
			{"opaque access token", opaque.AccessToken, "spa", "openid profile"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				m := s.introspect(tc.token)
				if m["active"] != true || m["sub"] != idt.Subject || m["client_id"] != tc.client || m["scope"] != tc.scope {
					t.Errorf("introspection = %v, want active, sub %s, client_id %s, scope %q", m, idt.Subject, tc.client, tc.scope)
				}
				exp, _ := m["exp"].(float64)
				if now := float64(s.clock.Now().Unix()); exp <= now || exp > now+float64(11*time.Minute/time.Second) {
					t.Errorf("exp = %v, want within the access token's 10 minutes from now", m["exp"])
				}
			})
		}
		if status, m := s.postJSON("/oauth/introspect", clientID, clientSecret, url.Values{"token": {""}}); status != http.StatusBadRequest || m["error"] != "invalid_request" {
			t.Errorf("introspection without a token: %d %v, want 400 invalid_request", status, m)
		}
		for _, garbage := range []string{"not-a-token", tok.RefreshToken, tok.AccessToken + "x", strings.Repeat("A", 300)} {
			if m := s.introspect(garbage); !inactive(m) {
				t.Errorf("introspection of %.20q… = %v, want only active:false", garbage, m)
			}
		}
		// Random strings shaped like opaque tokens are never active. (Under
		// unauthenticated AES-CFB about one in seventeen decrypts to a
		// token ID and a subject.)
		for range 128 {
			b := make([]byte, 32)
			_, _ = rand.Read(b)
			if m := s.introspect(base64.RawURLEncoding.EncodeToString(b)); !inactive(m) {
				t.Fatalf("introspection of a random string = %v, want only active:false", m)
			}
		}

		// Expired tokens are inactive.
		s.clock.advance(11 * time.Minute)
		for _, token := range []string{tok.AccessToken, opaque.AccessToken} {
			if m := s.introspect(token); !inactive(m) {
				t.Errorf("introspection of an expired token = %v, want only active:false", m)
			}
		}

		// The caller must authenticate (section 2.1).
		for _, tc := range []struct {
			name, id, secret string
			form             url.Values
		}{
			{"no authentication", "", "", url.Values{"token": {opaque.AccessToken}}},
			{"wrong secret", clientID, "wrong", url.Values{"token": {opaque.AccessToken}}},
			{"public client", "", "", url.Values{"token": {opaque.AccessToken}, "client_id": {"spa"}}},
			{"unknown client", "nobody", "x", url.Values{"token": {opaque.AccessToken}}},
		} {
			if status, m := s.postJSON("/oauth/introspect", tc.id, tc.secret, tc.form); status != http.StatusUnauthorized || m["active"] != nil {
				t.Errorf("%s: %d %v, want 401 and no answer", tc.name, status, m)
			}
		}
	})
}

// TestRFC7009Revocation: revoking a refresh token revokes its family, so
// refreshing fails and the access token is inactive; revoking an access
// token leaves the refresh token; unknown tokens are fine (200); another
// client's token is not revoked.
func TestRFC7009Revocation(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := newStack(t, e)
		ctx := context.Background()
		conf, _ := s.oauth2Config(ctx)
		revoke := func(id, secret, token, hint string) (int, map[string]any) {
			form := url.Values{"token": {token}}
			if hint != "" {
				form.Set("token_type_hint", hint)
			}
			return s.postJSON("/revoke", id, secret, form)
		}

		for _, hint := range []string{"refresh_token", ""} {
			t.Run("refresh token, hint "+hint, func(t *testing.T) {
				tok, _ := codeFlow(t, s, "offline_access")
				if status, m := revoke(clientID, clientSecret, tok.RefreshToken, hint); status != http.StatusOK {
					t.Fatalf("revoke: %d %v", status, m)
				}
				if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthError(err) != "invalid_grant" {
					t.Errorf("refresh after revocation: %v, want invalid_grant", err)
				}
				if m := s.introspect(tok.AccessToken); !inactive(m) {
					t.Errorf("the access token of a revoked refresh token: %v, want inactive", m)
				}
				if got := userinfoStatus(t, s, tok.AccessToken); got == http.StatusOK {
					t.Errorf("userinfo with the access token of a revoked refresh token: %d, want a refusal", got)
				}
			})
		}

		t.Run("access token", func(t *testing.T) {
			tok, _ := codeFlow(t, s, "offline_access")
			if status, m := revoke(clientID, clientSecret, tok.AccessToken, "access_token"); status != http.StatusOK {
				t.Fatalf("revoke: %d %v", status, m)
			}
			if m := s.introspect(tok.AccessToken); !inactive(m) {
				t.Errorf("revoked access token: %v, want inactive", m)
			}
			if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err != nil {
				t.Errorf("refresh after revoking only the access token: %v", err)
			}
			// A public client revokes its own opaque token with its client_id.
			opaque := publicFlow(t, s)
			if status, m := s.postJSON("/revoke", "", "", url.Values{"token": {opaque.AccessToken}, "client_id": {"spa"}}); status != http.StatusOK {
				t.Fatalf("public client revoke: %d %v", status, m)
			}
			if m := s.introspect(opaque.AccessToken); !inactive(m) {
				t.Errorf("revoked opaque access token: %v, want inactive", m)
			}
		})

		t.Run("unknown token", func(t *testing.T) {
			for _, token := range []string{"not-a-token", strings.Repeat("z", 43)} {
				if status, m := revoke(clientID, clientSecret, token, ""); status != http.StatusOK {
					t.Errorf("revoke %q: %d %v, want 200 (section 2.2)", token, status, m)
				}
				if denied, err := s.store.JTIRevoked(ctx, token); err != nil || denied {
					t.Errorf("revoking an unknown token stored %q on the deny-list (%v)", token, err)
				}
			}
		})

		t.Run("token of another client", func(t *testing.T) {
			tok, _ := codeFlow(t, s, "offline_access")
			for _, token := range []string{tok.RefreshToken, tok.AccessToken} {
				if status, m := revoke(thirdParty, thirdPartySecret, token, ""); status == http.StatusOK || status == http.StatusUnauthorized {
					t.Errorf("another client revoking a token: %d %v, want a refusal that is not about its own credentials", status, m)
				}
			}
			if m := s.introspect(tok.AccessToken); m["active"] != true {
				t.Errorf("another client's revocation took effect: %v", m)
			}
			if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err != nil {
				t.Errorf("refresh after another client's revocation attempt: %v", err)
			}
		})

		t.Run("client authentication", func(t *testing.T) {
			tok, _ := codeFlow(t, s, "offline_access")
			for _, tc := range []struct{ id, secret string }{{"", ""}, {clientID, "wrong"}} {
				if status, m := revoke(tc.id, tc.secret, tok.RefreshToken, ""); status != http.StatusUnauthorized {
					t.Errorf("revoke as %q/%q: %d %v, want 401", tc.id, tc.secret, status, m)
				}
			}
			if m := s.introspect(tok.AccessToken); m["active"] != true {
				t.Errorf("an unauthenticated revocation took effect: %v", m)
			}
		})
	})
}

// TestOIDCCRefreshToken is oidcc-refresh-token: a refresh returns a new ID
// token for the same person, and a new access token that works.
func TestOIDCCRefreshToken(t *testing.T) {
	s := newStack(t, storetest.SQLite())
	ctx := context.Background()
	tok, idt := codeFlow(t, s, "email", "offline_access")
	conf, verifier := s.oauth2Config(ctx)
	s.clock.advance(time.Minute)
	refreshed, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	raw, _ := refreshed.Extra("id_token").(string)
	if raw == "" {
		t.Fatal("no ID token in the refresh response")
	}
	idt2, err := verifier.Verify(ctx, raw)
	if err != nil {
		t.Fatalf("refreshed ID token: %v", err)
	}
	if idt2.Subject != idt.Subject || idt2.Issuer != idt.Issuer || len(idt2.Audience) == 0 || idt2.Audience[0] != clientID {
		t.Errorf("refreshed ID token: sub %s iss %s aud %v, want sub %s iss %s aud %s", idt2.Subject, idt2.Issuer, idt2.Audience, idt.Subject, idt.Issuer, clientID)
	}
	var a, b struct {
		AuthTime int64 `json:"auth_time"`
	}
	_ = idt.Claims(&a)
	_ = idt2.Claims(&b)
	if a.AuthTime != b.AuthTime {
		t.Errorf("auth_time changed on refresh: %d, then %d; no one signed in again", a.AuthTime, b.AuthTime)
	}
	if err := idt2.VerifyAccessToken(refreshed.AccessToken); err != nil {
		t.Errorf("at_hash of the refreshed ID token: %v", err)
	}
	if m := userinfoClaims(t, s, refreshed, "get"); m["sub"] != idt.Subject || m["email"] != "ada@example.com" {
		t.Errorf("userinfo with the refreshed access token = %v", m)
	}
	// A refresh may ask for fewer scopes, never for more (RFC 6749,
	// section 6).
	refresh := func(token, scope string) (int, map[string]any) {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}
		if scope != "" {
			form.Set("scope", scope)
		}
		return s.postJSON("/oauth/token", clientID, clientSecret, form)
	}
	status, m := refresh(refreshed.RefreshToken, "openid phone")
	if status != http.StatusBadRequest || m["error"] != "invalid_scope" {
		t.Errorf("refresh asking for a scope the grant lacks: %d %v, want invalid_scope", status, m)
	}
	status, m = refresh(refreshed.RefreshToken, "openid")
	if status != http.StatusOK || m["scope"] != "openid" {
		t.Fatalf("refresh asking for fewer scopes: %d %v, want scope openid", status, m)
	}
	if got := s.introspect(m["access_token"].(string)); got["scope"] != "openid" {
		t.Errorf("introspection of the narrowed access token = %v, want scope openid", got)
	}
	// The new refresh token keeps the grant's scopes (section 6: "identical
	// to that of the refresh token included by the client").
	status, m = refresh(m["refresh_token"].(string), "")
	if status != http.StatusOK || m["scope"] != "openid email offline_access" {
		t.Errorf("refresh after a narrowed one: %d %v, want the grant's scopes again", status, m)
	}
}

// TestClientCredentials: a JWT access token signed with a published key,
// for the client itself (no user), with only its registered scopes; wrong
// secrets and clients without the grant are refused.
func TestClientCredentials(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := newStack(t, e)
		ctx := context.Background()
		grant := func(id, secret string, form url.Values) (int, map[string]any) {
			form.Set("grant_type", "client_credentials")
			return s.postJSON("/oauth/token", id, secret, form)
		}
		status, m := grant(backend, backendSecret, url.Values{"scope": {"portvakt:users:read portvakt:admin openid"}})
		if status != http.StatusOK {
			t.Fatalf("client_credentials: %d %v", status, m)
		}
		at, _ := m["access_token"].(string)
		if m["token_type"] != "Bearer" || m["scope"] != "portvakt:users:read" || at == "" {
			t.Errorf("token response = %v, want a Bearer token with only the registered scope", m)
		}
		if _, ok := m["refresh_token"]; ok {
			t.Error("client_credentials issued a refresh token")
		}
		if _, ok := m["id_token"]; ok {
			t.Error("client_credentials issued an ID token")
		}

		// The JWT verifies against the published keys, and names the
		// client, not a user.
		payload, err := gooidc.NewRemoteKeySet(ctx, s.url+"/keys").VerifySignature(ctx, at)
		if err != nil {
			t.Fatalf("access token against /keys: %v", err)
		}
		var claims struct {
			Iss      string `json:"iss"`
			Sub      string `json:"sub"`
			ClientID string `json:"client_id"`
			Exp      int64  `json:"exp"`
			JTI      string `json:"jti"`
		}
		if err := json.Unmarshal(payload, &claims); err != nil {
			t.Fatal(err)
		}
		if claims.Iss != s.url || claims.Sub != backend || claims.ClientID != backend || claims.JTI == "" || claims.Exp <= time.Now().Unix() {
			t.Errorf("access token claims = %+v, want iss %s, sub and client_id %s, a jti and a future exp", claims, s.url, backend)
		}
		if got := userinfoStatus(t, s, at); got == http.StatusOK {
			t.Error("userinfo answered for a client credentials token, which has no user")
		}
		if m := s.introspectAs(backend, backendSecret, at); m["active"] != true || m["sub"] != backend || m["client_id"] != backend {
			t.Errorf("introspection of the client's token = %v", m)
		}
		// Another client that is not in the token's audience learns nothing.
		if m := s.introspect(at); !inactive(m) {
			t.Errorf("introspection by another client = %v, want inactive", m)
		}
		// The client can revoke it.
		if status, m := s.postJSON("/revoke", backend, backendSecret, url.Values{"token": {at}}); status != http.StatusOK {
			t.Errorf("revoke: %d %v", status, m)
		}
		if m := s.introspectAs(backend, backendSecret, at); !inactive(m) {
			t.Errorf("introspection after revocation = %v, want inactive", m)
		}

		for _, tc := range []struct {
			name, id, secret string
			form             url.Values
			status           int
			code             string
		}{
			{"wrong secret", backend, "wrong", url.Values{}, http.StatusUnauthorized, "invalid_client"},
			{"secret in the body, wrong", "", "", url.Values{"client_id": {backend}, "client_secret": {"wrong"}}, http.StatusUnauthorized, "invalid_client"},
			{"public client", "", "", url.Values{"client_id": {"spa"}}, http.StatusUnauthorized, "invalid_client"},
			{"public client with basic auth", "spa", "", url.Values{}, http.StatusUnauthorized, "invalid_client"},
			{"client without the grant", clientID, clientSecret, url.Values{}, http.StatusBadRequest, "unauthorized_client"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, m := grant(tc.id, tc.secret, tc.form)
				if status != tc.status || m["error"] != tc.code || m["access_token"] != nil {
					t.Errorf("%d %v, want %d %s", status, m, tc.status, tc.code)
				}
			})
		}
	})
}

// TestOIDCCCodeReuse30Seconds is oidcc-codereuse-30seconds: the code is
// exchanged, 30 seconds pass, and it is presented again; that fails, and
// the access token from the first exchange no longer works.
func TestOIDCCCodeReuse30Seconds(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := newStack(t, e)
		ctx := context.Background()
		conf, _ := s.oauth2Config(ctx, "offline_access")
		v := oauth2.GenerateVerifier()
		cb := s.browser().authorize(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v)), true)
		code := cb.Query().Get("code")
		tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(v))
		if err != nil {
			t.Fatal(err)
		}
		if m := s.introspect(tok.AccessToken); m["active"] != true {
			t.Fatalf("fresh access token: %v", m)
		}
		s.clock.advance(30 * time.Second)
		if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(v)); oauthError(err) != "invalid_grant" {
			t.Fatalf("second exchange after 30 seconds: %v, want invalid_grant", err)
		}
		if m := s.introspect(tok.AccessToken); !inactive(m) {
			t.Errorf("access token of a reused code: %v, want inactive", m)
		}
		if got := userinfoStatus(t, s, tok.AccessToken); got == http.StatusOK {
			t.Errorf("userinfo with the access token of a reused code: %d, want a refusal", got)
		}
		if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthError(err) != "invalid_grant" {
			t.Errorf("refresh token of a reused code: %v, want invalid_grant", err)
		}
	})
}

// TestOIDCCCodeExpires: a code lives 60 seconds.
func TestOIDCCCodeExpires(t *testing.T) {
	s := newStack(t, storetest.SQLite())
	ctx := context.Background()
	conf, _ := s.oauth2Config(ctx)
	v := oauth2.GenerateVerifier()
	cb := s.browser().authorize(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v)), true)
	s.clock.advance(61 * time.Second)
	if _, err := conf.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(v)); oauthError(err) != "invalid_grant" {
		t.Errorf("exchange after 61 seconds: %v, want invalid_grant", err)
	}
}

// TestOIDCCPromptLoginSignsInAgain is oidcc-prompt-login to its end: with
// prompt=login the person signs in again and the client gets a code with
// the new auth_time.
func TestOIDCCPromptLoginSignsInAgain(t *testing.T) {
	s := newStack(t, storetest.SQLite())
	ctx := context.Background()
	conf, verifier := s.oauth2Config(ctx)
	v := oauth2.GenerateVerifier()
	b := s.browser()
	first := b.authorize(conf.AuthCodeURL("s1", oauth2.S256ChallengeOption(v)), true)
	tok, err := conf.Exchange(ctx, first.Query().Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	idt1, _ := verifier.Verify(ctx, tok.Extra("id_token").(string))
	s.clock.advance(5 * time.Second)
	page := b.open(conf.AuthCodeURL("s2", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("prompt", "login")))
	cb := b.signIn(page)
	if cb.to == nil || cb.to.Query().Get("code") == "" || cb.to.Query().Get("state") != "s2" {
		t.Fatalf("after signing in again: %d at %s (to %v), want a code", cb.status, cb.url, cb.to)
	}
	tok, err = conf.Exchange(ctx, cb.to.Query().Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	idt2, err := verifier.Verify(ctx, tok.Extra("id_token").(string))
	if err != nil {
		t.Fatal(err)
	}
	var a, c struct {
		AuthTime int64 `json:"auth_time"`
	}
	_ = idt1.Claims(&a)
	_ = idt2.Claims(&c)
	if c.AuthTime < a.AuthTime+5 {
		t.Errorf("auth_time %d after prompt=login, want the new sign-in's (first was %d)", c.AuthTime, a.AuthTime)
	}
}
