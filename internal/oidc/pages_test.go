package oidc_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/portvakt/portvakt/internal/oidc"
	"github.com/portvakt/portvakt/internal/storetest"
)

// TestWithoutPagesFailsClosed: a provider built without its pages neither
// assumes consent nor signs anyone out unasked.
func TestWithoutPagesFailsClosed(t *testing.T) {
	s := newStack(t, storetest.SQLite(), func(c *oidc.Config) { c.Pages = nil })
	b, _, _ := signedInAt(t, s)
	f := newConsentFlow(t, s, b, "openid")
	if p := f.start("x"); p.status != http.StatusInternalServerError || p.to != nil {
		t.Errorf("consent needed without pages: %d at %s (to %v), want 500 and no code", p.status, p.url, p.to)
	}
	if p := b.endSession(url.Values{"client_id": {clientID}}); p.status != http.StatusInternalServerError || p.to != nil {
		t.Errorf("sign-out to confirm without pages: %d at %s (to %v), want 500", p.status, p.url, p.to)
	}
	if !b.isSignedIn() {
		t.Error("signed out without being asked")
	}
}
