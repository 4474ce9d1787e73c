// Package fedtest runs a mock upstream OpenID provider for tests
// (github.com/oauth2-proxy/mockoidc), optionally rewriting the claims of
// the ID tokens it issues and signing them again with its own key, so that
// tests can see how Portvakt treats a token for another audience, from
// another issuer, or with an eID's claims.
package fedtest

import (
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
)

// OP is a running mock provider.
type OP struct {
	*mockoidc.MockOIDC
	// Tamper, when set, changes the claims of every ID token issued.
	Tamper func(jwt.MapClaims)
	// AppleKey, when set, makes the provider behave like Apple at its
	// token endpoint: the client secret must be a JWT signed (ES256) by
	// this key, issued by AppleTeam for the client, for the issuer, and
	// unexpired. A good one is swapped for the mock's own secret.
	AppleKey  *ecdsa.PublicKey
	AppleTeam string
	// FormPost makes authorization answers asked for with
	// response_mode=form_post come back as a page with a form that posts
	// them, as Apple's do, with PostUser (if set) as the user field.
	FormPost bool
	PostUser string
}

// Posted is an answer that came back as a form to post: where to, and
// the fields.
type Posted struct {
	Action string
	Fields url.Values
}

// ReadPosted reads the form of a form_post answer page.
func ReadPosted(page string) (Posted, bool) {
	m := formAction.FindStringSubmatch(page)
	if m == nil {
		return Posted{}, false
	}
	out := Posted{Action: html.UnescapeString(m[1]), Fields: url.Values{}}
	for _, f := range formField.FindAllStringSubmatch(page, -1) {
		out.Fields.Add(html.UnescapeString(f[1]), html.UnescapeString(f[2]))
	}
	return out, true
}

var (
	formAction = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	formField  = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
)

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
		if strings.HasSuffix(r.URL.Path, "/authorize") && op.FormPost && r.URL.Query().Get("response_mode") == "form_post" {
			op.formPost(w, r, next)
			return
		}
		if op.AppleKey != nil && strings.HasSuffix(r.URL.Path, "/token") {
			if !op.appleSecret(w, r) {
				return
			}
		}
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

// formPost turns the provider's redirect into a page whose form posts the
// answer to the redirect URI.
func (op *OP) formPost(w http.ResponseWriter, r *http.Request, next http.Handler) {
	rec := httptest.NewRecorder()
	next.ServeHTTP(rec, r)
	to, err := url.Parse(rec.Header().Get("Location"))
	if err != nil || rec.Code != http.StatusFound {
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		return
	}
	fields := to.Query()
	if op.PostUser != "" {
		fields.Set("user", op.PostUser)
	}
	to.RawQuery = ""
	var b strings.Builder
	fmt.Fprintf(&b, `<!doctype html><form method="post" action="%s">`, html.EscapeString(to.String()))
	for k, vs := range fields {
		for _, v := range vs {
			fmt.Fprintf(&b, `<input type="hidden" name="%s" value="%s">`, html.EscapeString(k), html.EscapeString(v))
		}
	}
	b.WriteString(`<button>Continue</button></form>`)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = io.WriteString(w, b.String())
}

// appleSecret checks an Apple-style client secret and swaps in the mock's
// own; it answers invalid_client (and false) for a bad one.
func (op *OP) appleSecret(w http.ResponseWriter, r *http.Request) bool {
	fail := func(why string) bool {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "error_description": why})
		return false
	}
	if _, _, basic := r.BasicAuth(); basic {
		return fail("Apple takes the client secret in the form, not in the Authorization header")
	}
	_ = r.ParseForm()
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	tok, err := josejwt.ParseSigned(secret, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return fail("the client secret is not a signed JWT")
	}
	var c josejwt.Claims
	if err := tok.Claims(op.AppleKey, &c); err != nil {
		return fail("the client secret's signature is not the key's")
	}
	if err := c.ValidateWithLeeway(josejwt.Expected{Issuer: op.AppleTeam, Subject: id, AnyAudience: []string{op.Issuer()}, Time: time.Now()}, 0); err != nil {
		return fail("the client secret's claims: " + err.Error())
	}
	if len(tok.Headers) == 0 || tok.Headers[0].KeyID == "" {
		return fail("the client secret names no key (kid)")
	}
	r.PostForm.Set("client_secret", op.Config().ClientSecret)
	body := r.PostForm.Encode()
	r.Body, r.ContentLength = io.NopCloser(strings.NewReader(body)), int64(len(body))
	r.Form = nil
	r.PostForm = nil
	return true
}
