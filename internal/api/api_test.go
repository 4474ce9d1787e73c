package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portvakt/portvakt/internal/oidc"
)

// verified is a token verifier that knows one token: the API's own rules
// about what it then allows are what is tested here (the verification
// itself is the provider's, tested there and end to end).
type verified map[string]oidc.Bearer

func (v verified) VerifyBearer(_ context.Context, raw string) (oidc.Bearer, error) {
	b, ok := v[raw]
	if !ok {
		return oidc.Bearer{}, oidc.ErrInvalidBearer
	}
	return b, nil
}

// TestPersonTokensRefused: a token issued for a person, whatever its
// scopes, does not open the management API.
func TestPersonTokensRefused(t *testing.T) {
	h := &Handler{Tokens: verified{
		"person": {ClientID: "app", UserID: "u1", Scopes: []string{ScopeUsersRead, ScopeUsersWrite}},
	}, Logger: slog.New(slog.DiscardHandler)}
	mux := http.NewServeMux()
	h.Mount(mux)
	req := httptest.NewRequest("GET", "/api/v1/users", nil)
	req.Header.Set("Authorization", "Bearer person")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	var p struct{ Type, Detail string }
	_ = json.Unmarshal(rec.Body.Bytes(), &p)
	if rec.Code != http.StatusUnauthorized || p.Type != "urn:portvakt:problem:invalid-token" || !strings.Contains(p.Detail, "client credentials") {
		t.Errorf("a person's token: %d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(rec.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate = %q", rec.Header().Get("WWW-Authenticate"))
	}
}
