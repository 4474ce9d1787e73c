package oidc_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/portvakt/portvakt/internal/golden"
	"github.com/portvakt/portvakt/internal/storetest"
)

func fetchJSON(t *testing.T, u string, v any) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v: %s", u, err, b)
	}
}

// TestGoldenDiscovery pins the discovery document (with the test server's
// address replaced by ISSUER), so that any change to what Portvakt
// advertises is reviewed.
func TestGoldenDiscovery(t *testing.T) {
	s := newStack(t, storetest.SQLite())
	var d map[string]any
	fetchJSON(t, s.url+"/.well-known/openid-configuration", &d)
	b, _ := json.MarshalIndent(d, "", "  ")
	golden.Check(t, "discovery.json", append(bytes.ReplaceAll(b, []byte(s.url), []byte("ISSUER")), '\n'))
}

// TestGoldenJWKS pins the shape of the JWKS: which members each key has.
// Key material differs per run and is left out.
func TestGoldenJWKS(t *testing.T) {
	s := newStack(t, storetest.SQLite())
	var jwks struct {
		Keys []map[string]any `json:"keys"`
	}
	fetchJSON(t, s.url+"/keys", &jwks)
	var shapes []string
	for _, k := range jwks.Keys {
		var members []string
		for m := range k {
			members = append(members, m)
		}
		sort.Strings(members)
		shapes = append(shapes, k["kty"].(string)+" "+k["alg"].(string)+" use="+k["use"].(string)+" members="+strings.Join(members, ","))
	}
	sort.Strings(shapes)
	golden.Check(t, "jwks-shape.txt", []byte(strings.Join(shapes, "\n")+"\n"))
}
