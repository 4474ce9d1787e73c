// Package fedtest runs a mock upstream OpenID provider for tests
// (github.com/oauth2-proxy/mockoidc), optionally rewriting the claims of
// the ID tokens it issues and signing them again with its own key, so that
// tests can see how Portvakt treats a token for another audience, from
// another issuer, or with an eID's claims.
package fedtest

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
)

// OP is a running mock provider.
type OP struct {
	*mockoidc.MockOIDC
	// Tamper, when set, changes the claims of every ID token issued.
	Tamper func(jwt.MapClaims)
}

// Start runs a mock provider on 127.0.0.1 until the test ends.
func Start(t testing.TB) *OP {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	op := &OP{MockOIDC: m}
	if err := m.AddMiddleware(op.rewrite); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return op
}

func (op *OP) rewrite(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if op.Tamper == nil || !strings.HasSuffix(r.URL.Path, "/token") {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		var body map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		if raw, ok := body["id_token"].(string); ok {
			if tok, err := op.Keypair.VerifyJWT(raw, time.Now); err == nil {
				claims := tok.Claims.(jwt.MapClaims)
				op.Tamper(claims)
				body["id_token"], _ = op.Keypair.SignJWT(claims)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rec.Code)
		_ = json.NewEncoder(w).Encode(body)
	})
}
