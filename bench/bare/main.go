// Command bare is the bound that Portvakt's load figures are held against:
// the least a token endpoint must do, and the raw signing rate.
//
// Serving (the default), it answers only POST /token for the
// client_credentials grant: HTTP Basic client authentication, the secret's
// SHA-256 digest compared with crypto/subtle, a JWT access token signed
// with a key generated at start (ES256 by default, -alg RS256 for
// comparison), and the JSON answer {access_token, token_type, expires_in}.
// Nothing else: no database, no middleware, no logging.
//
//	bare -addr 127.0.0.1:9999 -client-id bench -client-secret s3cret
//
// With -sign-rate it serves nothing: it signs a JWT the size of an ID token
// on -workers goroutines (default: one per core) for -d and prints one JSON
// object with the signatures per second.
//
//	bare -sign-rate -alg RS256 -d 2s
package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

func main() {
	var (
		addr     = flag.String("addr", "127.0.0.1:0", "address to listen on (loopback only)")
		alg      = flag.String("alg", "ES256", "signing algorithm: ES256 or RS256 (RSA 2048, as Portvakt's default key)")
		clientID = flag.String("client-id", "bench", "the one client's ID")
		secret   = flag.String("client-secret", "", "the one client's secret (env BARE_CLIENT_SECRET)")
		issuer   = flag.String("issuer", "", "iss of the tokens (default http://ADDR)")
		ttl      = flag.Duration("ttl", 10*time.Minute, "access token lifetime")
		signRate = flag.Bool("sign-rate", false, "measure the signing rate instead of serving")
		workers  = flag.Int("workers", runtime.NumCPU(), "with -sign-rate: goroutines signing at once")
		dur      = flag.Duration("d", 2*time.Second, "with -sign-rate: how long to sign")
	)
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("bare: ")

	key, err := newKey(jose.SignatureAlgorithm(*alg))
	if err != nil {
		log.Fatal(err)
	}
	if *signRate {
		if *dur <= 0 || *dur > time.Minute {
			log.Fatal("-d must be between 0 and 1m")
		}
		if err := json.NewEncoder(os.Stdout).Encode(measureSigning(key, *workers, *dur)); err != nil {
			log.Fatal(err)
		}
		return
	}

	if *secret == "" {
		*secret = os.Getenv("BARE_CLIENT_SECRET")
	}
	if *secret == "" {
		log.Fatal("-client-secret (or BARE_CLIENT_SECRET) is required")
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		log.Fatalf("-addr: %v", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		log.Fatalf("-addr: %s is not a loopback address", host)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	if *issuer == "" {
		*issuer = "http://" + ln.Addr().String()
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: key.alg, Key: jose.JSONWebKey{Key: key.priv, KeyID: key.kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		log.Fatal(err)
	}
	ep := &endpoint{
		clientID: *clientID,
		digest:   sha256.Sum256([]byte(*secret)),
		issuer:   *issuer,
		ttl:      *ttl,
		signer:   signer,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", ep.token)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	// The driver reads this line to learn the address.
	fmt.Printf("listening on %s (%s)\n", ln.Addr(), key.alg)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

type signingKey struct {
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
	kid  string
}

func newKey(alg jose.SignatureAlgorithm) (signingKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return signingKey{}, fmt.Errorf("-alg %s: want ES256 or RS256", alg)
	}
	if err != nil {
		return signingKey{}, err
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return signingKey{alg: alg, priv: priv, kid: base64.RawURLEncoding.EncodeToString(b)}, nil
}

// endpoint is the client_credentials token endpoint with one client.
type endpoint struct {
	clientID string
	digest   [sha256.Size]byte
	issuer   string
	ttl      time.Duration
	signer   jose.Signer
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

type accessClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  []string `json:"aud"`
	Expiry    int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf"`
	ID        string   `json:"jti"`
	ClientID  string   `json:"client_id"`
	Scope     string   `json:"scope,omitempty"`
}

func (e *endpoint) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if ok {
		// RFC 6749 section 2.3.1: both are form-encoded before Basic.
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		ok = err1 == nil && err2 == nil
	}
	got := sha256.Sum256([]byte(secret))
	if !ok || subtle.ConstantTimeCompare(got[:], e.digest[:]) != 1 || id != e.clientID {
		w.Header().Set("WWW-Authenticate", `Basic realm="token"`)
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	now := time.Now()
	jti := make([]byte, 16)
	_, _ = rand.Read(jti)
	payload, err := json.Marshal(accessClaims{
		Issuer: e.issuer, Subject: id, Audience: []string{id},
		Expiry: now.Add(e.ttl).Unix(), IssuedAt: now.Unix(), NotBefore: now.Unix(),
		ID: base64.RawURLEncoding.EncodeToString(jti), ClientID: id, Scope: r.PostForm.Get("scope"),
	})
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error")
		return
	}
	jws, err := e.signer.Sign(payload)
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error")
		return
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(tokenResponse{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int64(e.ttl / time.Second)})
}

func oauthError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
}

// signRate is what -sign-rate prints.
type signRate struct {
	Alg        string  `json:"alg"`
	Workers    int     `json:"workers"`
	Seconds    float64 `json:"seconds"`
	Signatures int64   `json:"signatures"`
	PerSecond  float64 `json:"per_second"`
}

// measureSigning signs a payload the size of an ID token with go-jose, as
// the provider does, on workers goroutines for d.
func measureSigning(key signingKey, workers int, d time.Duration) signRate {
	if workers < 1 {
		workers = 1
	}
	now := time.Now().Unix()
	payload, _ := json.Marshal(map[string]any{
		"iss": "http://127.0.0.1:8080", "sub": "0195a6c0-7d1e-7b3a-9f2e-4c8d1a2b3c4d", "aud": []string{"QmVuY2hDbGllbnRJRA"},
		"exp": now + 600, "iat": now, "auth_time": now, "nonce": "n-0S6_WzA2Mj", "amr": []string{"pwd"},
		"azp": "QmVuY2hDbGllbnRJRA", "at_hash": "77QmUPtjPfzWtF2AnpK9RQ", "sid": "c2Vzc2lvbi1pZC1iZW5jaA",
	})
	var n atomic.Int64
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			signer, err := jose.NewSigner(jose.SigningKey{Algorithm: key.alg, Key: jose.JSONWebKey{Key: key.priv, KeyID: key.kid}},
				(&jose.SignerOptions{}).WithType("JWT"))
			if err != nil {
				log.Fatal(err)
			}
			for ctx.Err() == nil {
				jws, err := signer.Sign(payload)
				if err != nil {
					log.Fatal(err)
				}
				if _, err := jws.CompactSerialize(); err != nil {
					log.Fatal(err)
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	return signRate{Alg: string(key.alg), Workers: workers, Seconds: secs, Signatures: n.Load(), PerSecond: float64(n.Load()) / secs}
}
