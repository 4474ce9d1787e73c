package signing_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/keyring"
	"github.com/portvakt/portvakt/internal/signing"
	"github.com/portvakt/portvakt/internal/store"
	"github.com/portvakt/portvakt/internal/storetest"
)

// t0 is the tests' first start.
var t0 = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

const day = 24 * time.Hour

// clock is an injected clock that tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// node is one Portvakt process on a database: its own connections and its
// own keyring.
type node struct {
	store   *store.Store
	keyring *keyring.Keyring
}

// database is a fresh database of one engine with a master key.
type database struct {
	url    string
	master keyring.MasterKey
	raw    func() *sql.DB
}

func newDatabase(t *testing.T, e storetest.Engine) database {
	t.Helper()
	mk, err := keyring.ParseMasterKey(keyring.GenerateMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	url := e.NewURL(t)
	return database{url: url, master: mk, raw: func() *sql.DB { return e.RawDB(t, url) }}
}

// node opens a new node on the database.
func (d database) node(t *testing.T) node {
	t.Helper()
	s := storetest.OpenURL(t, d.url)
	kr, err := keyring.Open(t.Context(), s, keyring.MasterKeys{Current: d.master}, t0)
	if err != nil {
		t.Fatalf("keyring.Open: %v", err)
	}
	return node{store: s, keyring: kr}
}

// keys returns Keys on the node, failing the test on error.
func (n node) keys(t *testing.T, opts signing.Options) *signing.Keys {
	t.Helper()
	k, err := signing.New(n.store, n.keyring, opts)
	if err != nil {
		t.Fatalf("signing.New: %v", err)
	}
	return k
}

// sqliteNode is a node on a fresh SQLite database.
func sqliteNode(t *testing.T) node { return newDatabase(t, storetest.SQLite()).node(t) }

func must(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func signer(t *testing.T, k *signing.Keys, alg jose.SignatureAlgorithm) *signing.PrivateKey {
	t.Helper()
	pk, err := k.Signer(t.Context(), alg)
	must(t, err, "Signer("+string(alg)+")")
	return pk
}

func list(t *testing.T, k *signing.Keys) []signing.Info {
	t.Helper()
	infos, err := k.List(t.Context())
	must(t, err, "List")
	return infos
}

// summary is a key's ID and state, for comparing lists.
type summary struct {
	ID    string
	Alg   jose.SignatureAlgorithm
	State signing.State
}

func summarize(infos []signing.Info) []summary {
	var out []summary
	for _, i := range infos {
		out = append(out, summary{i.ID, i.Algorithm, i.State})
	}
	return out
}

// jwksKIDs returns the kids of the node's JWKS, in order.
func jwksKIDs(t *testing.T, k *signing.Keys) []string {
	t.Helper()
	set, err := k.JWKS(t.Context())
	must(t, err, "JWKS")
	var out []string
	for _, key := range set.Keys {
		out = append(out, key.KeyID)
	}
	return out
}

// servedJWKS returns the JWKS as the framework's JWKS endpoint serves it.
func servedJWKS(t *testing.T, k *signing.Keys) []byte {
	t.Helper()
	rec := httptest.NewRecorder()
	op.Keys(rec, httptest.NewRequest("GET", "/keys", nil), k)
	if rec.Code != 200 {
		t.Fatalf("JWKS endpoint: got status %d, want 200; body %s", rec.Code, rec.Body)
	}
	return rec.Body.Bytes()
}

func allEvents(t *testing.T, s *store.Store) []events.Event {
	t.Helper()
	evs, err := s.EventsAfter(t.Context(), 0, 100_000)
	must(t, err, "EventsAfter")
	return evs
}

// signingEvents returns the signing_key events as "type subject".
func signingEvents(t *testing.T, s *store.Store) []string {
	t.Helper()
	var out []string
	for _, e := range allEvents(t, s) {
		if strings.HasPrefix(e.Type, "signing_key.") {
			out = append(out, e.Type+" "+strings.TrimPrefix(e.Subject, "signing_key:"))
		}
	}
	return out
}

// signJWT signs claims with key through the framework's signer, as the
// OpenID Provider will.
func signJWT(t *testing.T, key op.SigningKey, claims map[string]any) string {
	t.Helper()
	js, err := op.SignerFromKey(key)
	must(t, err, "op.SignerFromKey")
	payload, err := json.Marshal(claims)
	must(t, err, "marshal claims")
	obj, err := js.Sign(payload)
	must(t, err, "sign")
	token, err := obj.CompactSerialize()
	must(t, err, "serialize")
	return token
}

func TestSignAndVerify(t *testing.T) {
	tests := []struct {
		name string
		alg  jose.SignatureAlgorithm
		bits int
	}{
		{"RS256", jose.RS256, 0},
		{"RS256 with 3072 bits", jose.RS256, 3072},
		{"ES256", jose.ES256, 0},
		{"EdDSA", jose.EdDSA, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := sqliteNode(t).keys(t, signing.Options{Algorithms: []jose.SignatureAlgorithm{tt.alg}, RSABits: tt.bits, Now: newClock().Now})
			must(t, k.Ensure(t.Context()), "Ensure")
			pk := signer(t, k, tt.alg)
			if pk.SignatureAlgorithm() != tt.alg || pk.ID() == "" {
				t.Fatalf("Signer(%s): got algorithm %s and kid %q", tt.alg, pk.SignatureAlgorithm(), pk.ID())
			}
			if tt.bits != 0 {
				if got := pk.Key().(*rsa.PrivateKey).N.BitLen(); got != tt.bits {
					t.Errorf("RSA key: got %d bits, want %d", got, tt.bits)
				}
			}
			claims := map[string]any{"iss": "https://id.example.com", "sub": "user-1", "aud": "app", "exp": t0.Add(time.Hour).Unix()}
			token := signJWT(t, pk, claims)

			// The relying party's side: the JWKS as the endpoint serves
			// it, nothing else.
			body := servedJWKS(t, k)
			for _, private := range []string{`"d"`, `"p"`, `"q"`, `"dp"`, `"dq"`, `"qi"`} {
				if bytes.Contains(body, []byte(private)) {
					t.Errorf("the JWKS holds the private parameter %s: %s", private, body)
				}
			}
			var set jose.JSONWebKeySet
			must(t, json.Unmarshal(body, &set), "parse the JWKS")
			jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{tt.alg})
			must(t, err, "ParseSigned")
			hdr := jws.Signatures[0].Header
			if hdr.KeyID != pk.ID() || hdr.Algorithm != string(tt.alg) {
				t.Errorf("JWS header: got kid %q alg %q, want %q %q", hdr.KeyID, hdr.Algorithm, pk.ID(), tt.alg)
			}
			jwks := set.Key(hdr.KeyID)
			if len(jwks) != 1 {
				t.Fatalf("JWKS: got %d keys with kid %s, want 1: %s", len(jwks), hdr.KeyID, body)
			}
			jwk := jwks[0]
			if !jwk.IsPublic() || jwk.Algorithm != string(tt.alg) || jwk.Use != "sig" {
				t.Errorf("JWK: got public %v, alg %q, use %q; want a public key, %s, sig", jwk.IsPublic(), jwk.Algorithm, jwk.Use, tt.alg)
			}
			payload, err := jws.Verify(jwk)
			must(t, err, "verify with the published key")
			var got map[string]any
			must(t, json.Unmarshal(payload, &got), "parse payload")
			if got["sub"] != "user-1" {
				t.Errorf("verified payload: got %v", got)
			}

			// A changed payload does not verify.
			parts := strings.Split(token, ".")
			parts[1] = base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"admin"}`))
			forged, err := jose.ParseSignedCompact(strings.Join(parts, "."), []jose.SignatureAlgorithm{tt.alg})
			must(t, err, "ParseSigned of the forgery")
			if _, err := forged.Verify(jwk); err == nil {
				t.Error("a token with a changed payload verified")
			}
			// Nor does a token signed by another key of the same kind.
			other := sqliteNode(t).keys(t, signing.Options{Algorithms: []jose.SignatureAlgorithm{tt.alg}, RSABits: tt.bits, Now: newClock().Now})
			must(t, other.Ensure(t.Context()), "Ensure on another database")
			alien, err := jose.ParseSignedCompact(signJWT(t, signer(t, other, tt.alg), claims), []jose.SignatureAlgorithm{tt.alg})
			must(t, err, "ParseSigned")
			if _, err := alien.Verify(jwk); err == nil {
				t.Error("a token signed by another database's key verified")
			}
		})
	}
}

func TestPublicKeysAreOpKeys(t *testing.T) {
	k := sqliteNode(t).keys(t, signing.Options{Now: newClock().Now})
	must(t, k.Ensure(t.Context()), "Ensure")
	ks, err := k.KeySet(t.Context())
	must(t, err, "KeySet")
	pub, err := k.PublicKeys(t.Context())
	must(t, err, "PublicKeys")
	if len(ks) != 3 || len(pub) != 3 {
		t.Fatalf("KeySet, PublicKeys: got %d and %d keys, want 3 (one per default algorithm)", len(ks), len(pub))
	}
	for i, key := range ks {
		pk := signer(t, k, key.Algorithm())
		if key.ID() != pk.ID() || key.Use() != "sig" || pub[i].State() != signing.StateActive {
			t.Errorf("key %d: got kid %s use %s state %s, want the active %s key %s, use sig", i, key.ID(), key.Use(), pub[i].State(), key.Algorithm(), pk.ID())
		}
		want := pk.Key().(crypto.Signer).Public()
		if eq, ok := key.Key().(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(want) {
			t.Errorf("key %s: Key() is a %T that is not the signer's public key", key.ID(), key.Key())
		}
	}
	if got := []jose.SignatureAlgorithm{ks[0].Algorithm(), ks[1].Algorithm(), ks[2].Algorithm()}; !slices.Equal(got, signing.DefaultAlgorithms()) {
		t.Errorf("KeySet algorithms: got %v, want %v", got, signing.DefaultAlgorithms())
	}
}

func TestPrivateKeysAreNotStoredInPlaintext(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		db := newDatabase(t, e)
		n := db.node(t)
		k := n.keys(t, signing.Options{Now: newClock().Now})
		must(t, k.Ensure(t.Context()), "Ensure")
		haystack := storedBytes(t, e, db)
		for _, alg := range signing.DefaultAlgorithms() {
			pk := signer(t, k, alg)
			for _, leak := range leaks(t, haystack, pk) {
				t.Errorf("%s key %s: its %s is in the database", alg, pk.ID(), leak)
			}
			// The scan does see key material: the public key is there.
			jwk := jose.JSONWebKey{Key: pk.Key().(crypto.Signer).Public()}
			pubJSON, err := jwk.MarshalJSON()
			must(t, err, "marshal public JWK")
			var fields map[string]string
			must(t, json.Unmarshal(pubJSON, &fields), "parse public JWK")
			coord := fields["x"]
			if alg == jose.RS256 {
				coord = fields["n"]
			}
			if !bytes.Contains(haystack, []byte(coord)) {
				t.Errorf("%s key %s: the scan does not find the public key either: it reads the wrong data", alg, pk.ID())
			}
		}

		// And the scan would find a private key stored in the clear.
		clearDB := newDatabase(t, e)
		leaky, err := signing.New(clearDB.node(t).store, plainSealer{}, signing.Options{Now: newClock().Now})
		must(t, err, "New")
		must(t, leaky.Ensure(t.Context()), "Ensure with a sealer that does not encrypt")
		leakyHaystack := storedBytes(t, e, clearDB)
		for _, alg := range signing.DefaultAlgorithms() {
			if got := leaks(t, leakyHaystack, signer(t, leaky, alg)); !slices.Contains(got, "PKCS #8 DER") {
				t.Errorf("%s key stored unencrypted: the scan found %v, want the PKCS #8 DER at least", alg, got)
			}
		}
	})
}

// plainSealer "seals" by copying: a broken keyring, for checking that the
// plaintext scan can fail.
type plainSealer struct{}

func (plainSealer) Encrypt(p, _ []byte) ([]byte, error) { return bytes.Clone(p), nil }
func (plainSealer) Decrypt(_ context.Context, c, _ []byte) ([]byte, error) {
	return bytes.Clone(c), nil
}

// storedBytes returns every value of the signing_keys and events tables,
// read past the store, and on SQLite every byte of the database files.
func storedBytes(t *testing.T, e storetest.Engine, db database) []byte {
	t.Helper()
	haystack := rawRows(t, db.raw(), "signing_keys", "events")
	if e.Name == "sqlite" {
		path, err := store.SQLitePath(db.url)
		must(t, err, "SQLitePath")
		for _, f := range []string{path, path + "-wal"} {
			b, err := os.ReadFile(f)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			haystack = append(haystack, b...)
		}
	}
	return haystack
}

// leaks names the forms of pk's private key that occur in haystack.
func leaks(t *testing.T, haystack []byte, pk *signing.PrivateKey) []string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(pk.Key())
	must(t, err, "MarshalPKCS8PrivateKey")
	secret := privateScalar(t, pk.Key())
	needles := []struct {
		name   string
		needle []byte
	}{
		{"PKCS #8 DER", der},
		{"PKCS #8 in base64", []byte(base64.StdEncoding.EncodeToString(der))},
		{"PKCS #8 in URL-safe base64", []byte(base64.RawURLEncoding.EncodeToString(der))},
		{"PKCS #8 in hex", []byte(hex.EncodeToString(der))},
		{"private scalar", secret},
		{`private scalar as a JWK "d"`, []byte(base64.RawURLEncoding.EncodeToString(secret))},
	}
	var out []string
	for _, n := range needles {
		if bytes.Contains(haystack, n.needle) {
			out = append(out, n.name)
		}
	}
	return out
}

// privateScalar returns the secret number of a private key: RSA's d,
// ECDSA's d, Ed25519's seed.
func privateScalar(t *testing.T, key any) []byte {
	t.Helper()
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return k.D.Bytes()
	case *ecdsa.PrivateKey:
		b, err := k.Bytes()
		must(t, err, "ECDSA private key bytes")
		return b
	case ed25519.PrivateKey:
		return k.Seed()
	}
	t.Fatalf("unexpected key type %T", key)
	return nil
}

// rawRows returns every column of every row of tables, as bytes, read past
// the store.
func rawRows(t *testing.T, db *sql.DB, tables ...string) []byte {
	t.Helper()
	var out []byte
	for _, table := range tables {
		rows, err := db.QueryContext(t.Context(), "SELECT * FROM "+table)
		must(t, err, "read "+table)
		cols, err := rows.Columns()
		must(t, err, "columns")
		n := 0
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			must(t, rows.Scan(ptrs...), "scan "+table)
			for _, v := range vals {
				switch v := v.(type) {
				case []byte:
					out = append(out, v...)
				case string:
					out = append(out, v...)
				}
				out = append(out, 0)
			}
			n++
		}
		must(t, rows.Err(), "read "+table)
		_ = rows.Close()
		if table == "signing_keys" && n != 3 {
			t.Fatalf("signing_keys: got %d rows, want 3", n)
		}
	}
	return out
}

func TestLifecycle(t *testing.T) {
	opts := func(c *clock) signing.Options {
		return signing.Options{
			Algorithms:       []jose.SignatureAlgorithm{jose.ES256},
			RotateEvery:      10 * day,
			PublishAhead:     day,
			MaxTokenLifetime: 2 * day,
			Now:              c.Now,
		}
	}

	t.Run("schedule", func(t *testing.T) {
		c := newClock()
		n := sqliteNode(t)
		k := n.keys(t, opts(c))
		must(t, k.Ensure(t.Context()), "Ensure")
		infos := list(t, k)
		if len(infos) != 1 || infos[0].State != signing.StateActive || !infos[0].ActivatedAt.Equal(t0) || !infos[0].RotatesAt.Equal(t0.Add(10*day)) {
			t.Fatalf("after the first Ensure: got %+v, want one active key activated at %v, rotating at %v", infos, t0, t0.Add(10*day))
		}
		a := infos[0].ID
		// Keys are named in the steps: A is the first key, N the next one.
		names := map[string]string{a: "A"}
		name := func(kid string) string {
			if _, ok := names[kid]; !ok {
				names[kid] = "N"
			}
			return names[kid]
		}
		describe := func(infos []signing.Info) string {
			var out []string
			for _, i := range infos {
				out = append(out, name(i.ID)+" "+string(i.State))
			}
			return strings.Join(out, ", ")
		}

		steps := []struct {
			at      time.Duration // since t0
			keys    string
			signing string
			jwks    string
		}{
			// Nothing to do until the next key is due.
			{0, "A active", "A", "A"},
			{9*day - time.Microsecond, "A active", "A", "A"},
			// PublishAhead before the rotation, the next key is published.
			{9 * day, "A active, N next", "A", "A N"},
			{10*day - time.Microsecond, "A active, N next", "A", "A N"},
			// Then it takes over and the old key retires, still published.
			{10 * day, "N active, A retired", "N", "N A"},
			// Until every token it signed has expired.
			{12*day - time.Microsecond, "N active, A retired", "N", "N A"},
			{12 * day, "N active", "N", "N"},
		}
		for _, st := range steps {
			c.Set(t0.Add(st.at))
			// Twice: Maintain is idempotent; and Ensure changes nothing.
			must(t, k.Maintain(t.Context()), "Maintain")
			must(t, k.Maintain(t.Context()), "Maintain again")
			must(t, k.Ensure(t.Context()), "Ensure")
			if got := describe(list(t, k)); got != st.keys {
				t.Errorf("at t0+%v: got keys %q, want %q", st.at, got, st.keys)
			}
			if got := name(signer(t, k, jose.ES256).ID()); got != st.signing {
				t.Errorf("at t0+%v: signing with %s, want %s", st.at, got, st.signing)
			}
			var jwks []string
			for _, kid := range jwksKIDs(t, k) {
				jwks = append(jwks, name(kid))
			}
			if got := strings.Join(jwks, " "); got != st.jwks {
				t.Errorf("at t0+%v: got JWKS %q, want %q", st.at, got, st.jwks)
			}
			if st.at == 9*day {
				infos := list(t, k)
				if want := t0.Add(10 * day); !infos[1].ActivatesAt.Equal(want) {
					t.Errorf("next key: ActivatesAt %v, want %v", infos[1].ActivatesAt, want)
				}
			}
		}
		var nxt string
		for kid, n := range names {
			if n == "N" {
				nxt = kid
			}
		}
		for _, info := range list(t, k) {
			if info.ID == nxt && !info.ActivatedAt.Equal(t0.Add(10*day)) {
				t.Errorf("the new active key: ActivatedAt %v, want %v", info.ActivatedAt, t0.Add(10*day))
			}
		}
		want := []string{
			"signing_key.created " + a, "signing_key.activated " + a,
			"signing_key.created " + nxt,
			"signing_key.retired " + a, "signing_key.activated " + nxt,
			"signing_key.deleted " + a,
		}
		if d := cmp.Diff(want, signingEvents(t, n.store)); d != "" {
			t.Errorf("events (-want +got):\n%s", d)
		}
		for _, e := range allEvents(t, n.store) {
			if !strings.HasPrefix(e.Type, "signing_key.") {
				continue
			}
			var data map[string]any
			must(t, json.Unmarshal(e.Data, &data), "event data")
			for f := range data {
				if !slices.Contains([]string{"alg", "state", "replaces", "retire_until"}, f) {
					t.Errorf("event %s carries %q: %s", e.Type, f, e.Data)
				}
			}
			if e.Actor != "system:signing" {
				t.Errorf("event %s: actor %q, want system:signing", e.Type, e.Actor)
			}
		}
	})

	t.Run("late maintenance still publishes ahead", func(t *testing.T) {
		// A database whose nodes were all down when the rotation was due:
		// the next key is made late, and still published for PublishAhead
		// before it signs.
		c := newClock()
		k := sqliteNode(t).keys(t, opts(c))
		must(t, k.Ensure(t.Context()), "Ensure")
		late := t0.Add(100 * day)
		c.Set(late)
		must(t, k.Maintain(t.Context()), "Maintain")
		infos := list(t, k)
		if len(infos) != 2 || infos[1].State != signing.StateNext || !infos[1].ActivatesAt.Equal(late.Add(day)) {
			t.Fatalf("after a late Maintain: got %+v, want the active key and a next key activating at %v", infos, late.Add(day))
		}
		c.Set(late.Add(day - time.Microsecond))
		must(t, k.Maintain(t.Context()), "Maintain")
		if got := summarize(list(t, k)); got[0].ID != infos[0].ID || got[1].State != signing.StateNext {
			t.Errorf("before PublishAhead passed: got %+v, want no change", got)
		}
		c.Set(late.Add(day))
		must(t, k.Maintain(t.Context()), "Maintain")
		if got := summarize(list(t, k)); got[0].ID != infos[1].ID || got[0].State != signing.StateActive {
			t.Errorf("after PublishAhead: got %+v, want %s active", got, infos[1].ID)
		}
	})

	t.Run("a next key without an active one signs at once", func(t *testing.T) {
		c := newClock()
		db := newDatabase(t, storetest.SQLite())
		n := db.node(t)
		k := n.keys(t, opts(c))
		must(t, k.Ensure(t.Context()), "Ensure")
		c.Set(t0.Add(9 * day))
		must(t, k.Maintain(t.Context()), "Maintain")
		infos := list(t, k)
		// Someone deleted the active key by hand.
		if _, err := db.raw().ExecContext(t.Context(), `DELETE FROM signing_keys WHERE id = $1`, infos[0].ID); err != nil {
			t.Fatal(err)
		}
		must(t, k.Ensure(t.Context()), "Ensure")
		if got := summarize(list(t, k)); len(got) != 1 || got[0].ID != infos[1].ID || got[0].State != signing.StateActive {
			t.Errorf("Ensure with only a next key: got %+v, want %s active", got, infos[1].ID)
		}
	})
}

func TestRotate(t *testing.T) {
	opts := func(c *clock) signing.Options {
		return signing.Options{RotateEvery: 10 * day, PublishAhead: day, MaxTokenLifetime: 2 * day, Now: c.Now}
	}

	t.Run("promotes the next key", func(t *testing.T) {
		c := newClock()
		n := sqliteNode(t)
		k := n.keys(t, opts(c))
		must(t, k.Ensure(t.Context()), "Ensure")
		c.Set(t0.Add(9 * day))
		must(t, k.Maintain(t.Context()), "Maintain")
		before := list(t, k)
		old, nxt := before[0], before[3] // RS256 active and next
		if old.Algorithm != jose.RS256 || old.State != signing.StateActive || nxt.Algorithm != jose.RS256 || nxt.State != signing.StateNext {
			t.Fatalf("before the rotation: got %+v", summarize(before))
		}
		c.Advance(time.Hour)
		rot, err := k.Rotate(t.Context(), jose.RS256, "system:test")
		must(t, err, "Rotate")
		want := signing.Rotation{Algorithm: jose.RS256, Active: nxt.ID, WasPublished: true, Retired: old.ID, RetireUntil: c.Now().Add(2 * day)}
		if d := cmp.Diff(want, rot); d != "" {
			t.Errorf("Rotate (-want +got):\n%s", d)
		}
		if got := signer(t, k, jose.RS256).ID(); got != nxt.ID {
			t.Errorf("after Rotate: signing with %s, want %s", got, nxt.ID)
		}
		if kids := jwksKIDs(t, k); !slices.Contains(kids, old.ID) {
			t.Errorf("after Rotate: JWKS %v lacks the retired key %s", kids, old.ID)
		}
		// The other algorithms are untouched.
		for _, i := range []int{1, 2, 4, 5} {
			after := list(t, k)
			if !slices.ContainsFunc(after, func(a signing.Info) bool { return a.ID == before[i].ID && a.State == before[i].State }) {
				t.Errorf("after rotating RS256: %s key %s is no longer %s", before[i].Algorithm, before[i].ID, before[i].State)
			}
		}
		evs := allEvents(t, n.store)
		last := evs[len(evs)-2:]
		if last[0].Type != "signing_key.retired" || last[1].Type != "signing_key.activated" || last[0].Actor != "system:test" || last[1].Actor != "system:test" {
			t.Errorf("events of the rotation: got %s by %s, %s by %s; want retired and activated by system:test", last[0].Type, last[0].Actor, last[1].Type, last[1].Actor)
		}
		// The schedule starts again from the rotation.
		must(t, k.Maintain(t.Context()), "Maintain")
		if got := list(t, k); len(got) != len(before) {
			t.Errorf("Maintain right after Rotate: got %d keys, want %d (no change)", len(got), len(before))
		}
	})

	t.Run("makes a fresh key without a next one", func(t *testing.T) {
		c := newClock()
		k := sqliteNode(t).keys(t, opts(c))
		must(t, k.Ensure(t.Context()), "Ensure")
		old := signer(t, k, jose.EdDSA).ID()
		c.Advance(time.Minute)
		rot, err := k.Rotate(t.Context(), jose.EdDSA, "system:test")
		must(t, err, "Rotate")
		if rot.Active == "" || rot.Active == old || rot.WasPublished || rot.Retired != old || !rot.RetireUntil.Equal(c.Now().Add(2*day)) {
			t.Errorf("Rotate: got %+v, want a fresh, unpublished key replacing %s", rot, old)
		}
		if got := signer(t, k, jose.EdDSA).ID(); got != rot.Active {
			t.Errorf("after Rotate: signing with %s, want %s", got, rot.Active)
		}
		if kids := jwksKIDs(t, k); !slices.Contains(kids, old) || !slices.Contains(kids, rot.Active) {
			t.Errorf("after Rotate: JWKS %v, want both %s and %s", kids, old, rot.Active)
		}
		// Twice in a row: both old keys stay published.
		rot2, err := k.Rotate(t.Context(), jose.EdDSA, "system:test")
		must(t, err, "second Rotate")
		if kids := jwksKIDs(t, k); !slices.Contains(kids, old) || !slices.Contains(kids, rot.Active) || !slices.Contains(kids, rot2.Active) {
			t.Errorf("after two rotations: JWKS %v, want %s, %s and %s", kids, old, rot.Active, rot2.Active)
		}
	})

	t.Run("refuses an algorithm that is not configured", func(t *testing.T) {
		k := sqliteNode(t).keys(t, signing.Options{Algorithms: []jose.SignatureAlgorithm{jose.ES256}, Now: newClock().Now})
		must(t, k.Ensure(t.Context()), "Ensure")
		for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.HS256} {
			if _, err := k.Rotate(t.Context(), alg, "system:test"); !errors.Is(err, signing.ErrUnsupported) {
				t.Errorf("Rotate(%s): got %v, want ErrUnsupported", alg, err)
			}
		}
		if _, err := k.Signer(t.Context(), jose.RS256); !errors.Is(err, signing.ErrNoKey) {
			t.Errorf("Signer(RS256) with only ES256 configured: got %v, want ErrNoKey", err)
		}
	})
}

// TestNodesTogether runs several nodes on one database at the same moment,
// as a rolling start or every node's maintenance tick does.
func TestNodesTogether(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		db := newDatabase(t, e)
		c := newClock()
		const nodes = 4
		var ks []*signing.Keys
		var first node
		for i := range nodes {
			n := db.node(t)
			if i == 0 {
				first = n
			}
			ks = append(ks, n.keys(t, signing.Options{RotateEvery: 10 * day, PublishAhead: day, MaxTokenLifetime: 2 * day, Now: c.Now}))
		}
		together := func(what string, fn func(k *signing.Keys) error) {
			t.Helper()
			errs := make([]error, nodes)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i, k := range ks {
				wg.Go(func() {
					<-start
					errs[i] = fn(k)
				})
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("%s on node %d: %v", what, i, err)
				}
			}
		}
		// perState counts the keys per algorithm and state.
		check := func(when string, want map[signing.State]int) {
			t.Helper()
			got := map[string]int{}
			for _, info := range list(t, ks[0]) {
				got[string(info.Algorithm)+" "+string(info.State)]++
			}
			wantN := map[string]int{}
			for _, alg := range signing.DefaultAlgorithms() {
				for st, n := range want {
					wantN[string(alg)+" "+string(st)] = n
				}
			}
			if d := cmp.Diff(wantN, got); d != "" {
				t.Errorf("%s: keys per algorithm and state (-want +got):\n%s", when, d)
			}
		}

		together("Ensure", func(k *signing.Keys) error { return k.Ensure(t.Context()) })
		check("after Ensure on every node", map[signing.State]int{signing.StateActive: 1})
		c.Set(t0.Add(9 * day))
		together("Maintain", func(k *signing.Keys) error { return k.Maintain(t.Context()) })
		check("after Maintain when the next key is due", map[signing.State]int{signing.StateActive: 1, signing.StateNext: 1})
		c.Set(t0.Add(10 * day))
		together("Maintain and Ensure", func(k *signing.Keys) error {
			if err := k.Ensure(t.Context()); err != nil {
				return err
			}
			return k.Maintain(t.Context())
		})
		check("after Maintain when the rotation is due", map[signing.State]int{signing.StateActive: 1, signing.StateRetired: 1})

		// Each change was made once: one event each.
		var types []string
		for _, ev := range signingEvents(t, first.store) {
			types = append(types, strings.Fields(ev)[0])
		}
		count := func(typ string) int {
			return len(slices.DeleteFunc(slices.Clone(types), func(s string) bool { return s != typ }))
		}
		for typ, want := range map[string]int{"signing_key.created": 6, "signing_key.activated": 6, "signing_key.retired": 3} {
			if got := count(typ); got != want {
				t.Errorf("%s events: got %d, want %d", typ, got, want)
			}
		}
		// Every node serves the same JWKS, and signs with the same keys.
		want := servedJWKS(t, ks[0])
		for i, k := range ks {
			if got := servedJWKS(t, k); !bytes.Equal(got, want) {
				t.Errorf("node %d serves another JWKS:\n%s\nwant\n%s", i, got, want)
			}
			for _, alg := range signing.DefaultAlgorithms() {
				if got, want := signer(t, k, alg).ID(), signer(t, ks[0], alg).ID(); got != want {
					t.Errorf("node %d signs %s with %s, node 0 with %s", i, alg, got, want)
				}
			}
		}
	})
}

func TestOtherNodeSeesChanges(t *testing.T) {
	db := newDatabase(t, storetest.SQLite())
	c := newClock()
	opts := signing.Options{Algorithms: []jose.SignatureAlgorithm{jose.ES256}, RotateEvery: 10 * day, PublishAhead: day, Refresh: 5 * time.Second, Now: c.Now}
	k1, k2 := db.node(t).keys(t, opts), db.node(t).keys(t, opts)
	must(t, k1.Ensure(t.Context()), "Ensure on node 1")
	old := signer(t, k2, jose.ES256).ID()
	if got := signer(t, k1, jose.ES256).ID(); got != old {
		t.Fatalf("nodes sign with %s and %s, want the same key", got, old)
	}

	rot, err := k1.Rotate(t.Context(), jose.ES256, "system:test")
	must(t, err, "Rotate on node 1")
	if got := signer(t, k1, jose.ES256).ID(); got != rot.Active {
		t.Errorf("node 1 after its Rotate: signing with %s, want %s", got, rot.Active)
	}
	// Node 2 trusts its cache for Refresh…
	c.Advance(4 * time.Second)
	if got := signer(t, k2, jose.ES256).ID(); got != old {
		t.Errorf("node 2 within Refresh of its last check: signing with %s, want the cached %s", got, old)
	}
	// …and then finds the change.
	c.Advance(time.Second)
	if got := signer(t, k2, jose.ES256).ID(); got != rot.Active {
		t.Errorf("node 2 after Refresh: signing with %s, want %s", got, rot.Active)
	}
	if a, b := servedJWKS(t, k1), servedJWKS(t, k2); !bytes.Equal(a, b) {
		t.Errorf("the nodes serve different JWKS:\n%s\n%s", a, b)
	}

	// A next key made by node 1's schedule is published by node 2 too.
	c.Set(t0.Add(9*day + 5*time.Second))
	must(t, k1.Maintain(t.Context()), "Maintain on node 1")
	c.Advance(5 * time.Second)
	kids := jwksKIDs(t, k2)
	infos := list(t, k1)
	var nxt string
	for _, i := range infos {
		if i.State == signing.StateNext {
			nxt = i.ID
		}
	}
	if nxt == "" || !slices.Contains(kids, nxt) {
		t.Errorf("node 2's JWKS %v: want node 1's next key %q in it", kids, nxt)
	}
}

func TestWrongMasterKey(t *testing.T) {
	db := newDatabase(t, storetest.SQLite())
	n := db.node(t)
	c := newClock()
	must(t, n.keys(t, signing.Options{Now: c.Now}).Ensure(t.Context()), "Ensure")
	before := list(t, n.keys(t, signing.Options{Now: c.Now}))

	t.Run("the keyring refuses it", func(t *testing.T) {
		other, err := keyring.ParseMasterKey(keyring.GenerateMasterKey())
		must(t, err, "ParseMasterKey")
		if _, err := keyring.Open(t.Context(), n.store, keyring.MasterKeys{Current: other}, t0); !errors.Is(err, keyring.ErrWrongMasterKey) {
			t.Errorf("keyring.Open with another master key: got %v, want ErrWrongMasterKey", err)
		}
	})

	t.Run("keys sealed by another keyring", func(t *testing.T) {
		// The keyring of another database, under another master key: its
		// data key has the same ID as this database's (the first one's is
		// fixed) but other bytes, as after restoring a database beside the
		// wrong master key.
		foreign := sqliteNode(t).keyring
		k, err := signing.New(n.store, foreign, signing.Options{Now: c.Now})
		must(t, err, "New")
		err = k.Ensure(t.Context())
		if !errors.Is(err, keyring.ErrDecrypt) {
			t.Fatalf("Ensure with a keyring that cannot open the keys: got %v, want keyring.ErrDecrypt", err)
		}
		if msg := err.Error(); !strings.Contains(msg, before[0].ID) || !strings.Contains(msg, "master key") {
			t.Errorf("Ensure: got message %q, want it to name key %s and the master key", msg, before[0].ID)
		}
		if _, err := k.Signer(t.Context(), jose.RS256); !errors.Is(err, keyring.ErrDecrypt) {
			t.Errorf("Signer: got %v, want keyring.ErrDecrypt", err)
		}
		// The refused node made no keys of its own.
		if d := cmp.Diff(summarize(before), summarize(list(t, k))); d != "" {
			t.Errorf("keys after the refused Ensure (-before +after):\n%s", d)
		}
		// It can still publish: the public keys need no keyring.
		if kids := jwksKIDs(t, k); len(kids) != len(before) {
			t.Errorf("JWKS: got %d keys, want %d", len(kids), len(before))
		}
	})
}

func TestOptions(t *testing.T) {
	n := sqliteNode(t)
	tests := []struct {
		name string
		opts signing.Options
		want []string // in the message
	}{
		{"unsupported algorithm", signing.Options{Algorithms: []jose.SignatureAlgorithm{jose.HS256}}, []string{"HS256"}},
		{"algorithm twice", signing.Options{Algorithms: []jose.SignatureAlgorithm{jose.ES256, jose.ES256}}, []string{"ES256", "twice"}},
		{"small RSA keys", signing.Options{RSABits: 1024}, []string{"1024"}},
		{"everything at once", signing.Options{RSABits: 1000, RotateEvery: -1, PublishAhead: -time.Hour, MaxTokenLifetime: -time.Hour, Refresh: -1},
			[]string{"1000", "rotation interval", "publish-ahead", "token lifetime", "refresh"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := signing.New(n.store, n.keyring, tt.opts)
			if err == nil {
				t.Fatal("New: got no error, want one")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New: got %q, want it to mention %q", err, w)
				}
			}
		})
	}
	k, err := signing.New(n.store, n.keyring, signing.Options{})
	must(t, err, "New with defaults")
	if got := k.Algorithms(); !slices.Equal(got, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}) {
		t.Errorf("default algorithms: got %v", got)
	}
}

func TestParseAlgorithm(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want jose.SignatureAlgorithm
		ok   bool
	}{
		{"RS256", jose.RS256, true},
		{"es256", jose.ES256, true},
		{"EdDSA", jose.EdDSA, true},
		{"EDDSA", jose.EdDSA, true},
		{"HS256", "", false},
		{"none", "", false},
		{"", "", false},
	} {
		got, err := signing.ParseAlgorithm(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseAlgorithm(%q): got %q, %v; want %q, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
		if !tt.ok && !errors.Is(err, signing.ErrUnsupported) {
			t.Errorf("ParseAlgorithm(%q): got %v, want ErrUnsupported", tt.in, err)
		}
	}
}

func TestPrivateKeyIsNotPrinted(t *testing.T) {
	k := sqliteNode(t).keys(t, signing.Options{Algorithms: []jose.SignatureAlgorithm{jose.RS256}, Now: newClock().Now})
	must(t, k.Ensure(t.Context()), "Ensure")
	pk := signer(t, k, jose.RS256)
	d := pk.Key().(*rsa.PrivateKey).D
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(format, pk)
		if strings.Contains(out, d.String()) || strings.Contains(out, d.Text(16)) || !strings.Contains(out, pk.ID()) || len(out) > 100 {
			t.Errorf("Sprintf(%q, key): got %q, want the kid and no key", format, out)
		}
	}
}

func TestRun(t *testing.T) {
	c := newClock()
	k := sqliteNode(t).keys(t, signing.Options{Algorithms: []jose.SignatureAlgorithm{jose.ES256}, RotateEvery: 10 * day, PublishAhead: day, Now: c.Now})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		k.Run(ctx, 10*time.Millisecond)
		close(done)
	}()
	waitFor := func(what string, cond func([]signing.Info) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond(list(t, k)) {
			if time.Now().After(deadline) {
				t.Fatalf("Run: %s did not happen within 10s; keys %+v", what, summarize(list(t, k)))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// Run maintains at once: the first key appears without Ensure.
	waitFor("the first key", func(infos []signing.Info) bool { return len(infos) == 1 })
	c.Set(t0.Add(9 * day))
	waitFor("the next key", func(infos []signing.Info) bool { return len(infos) == 2 && infos[1].State == signing.StateNext })
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
