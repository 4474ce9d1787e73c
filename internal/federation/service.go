package federation

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/consents"
	"github.com/portvakt/portvakt/internal/events"
)

// ErrUpstream means the provider could not be used: unreachable, a bad
// answer, an ID token that does not check out (wrong issuer, audience,
// nonce, signature), a state that does not match, or the person said no.
// What went wrong is in the wrapped error, for the log; people see a
// friendly page.
var ErrUpstream = errors.New("the identity provider's answer was not accepted")

// Cipher seals provider secrets and pending sign-ins (the keyring).
type Cipher interface {
	Encrypt(plaintext, aad []byte) ([]byte, error)
	Decrypt(ctx context.Context, ciphertext, aad []byte) ([]byte, error)
}

// Service runs sign-ins with upstream providers.
type Service struct {
	Store  Store
	Cipher Cipher
	// HTTPClient makes the calls to providers (default: 10 s timeout).
	HTTPClient *http.Client
	// DiscoveryTTL is how long a provider's discovery document and keys
	// are reused (default 1 h).
	DiscoveryTTL time.Duration
	// NationalIDKey keys the hashes national identity numbers are looked
	// up by (from the keyring; the same on every node, never changed).
	NationalIDKey [32]byte
	Now           func() time.Time

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	p       *oidc.Provider
	fetched time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) client() *http.Client {
	if s.HTTPClient != nil {
		return s.HTTPClient
	}
	return &http.Client{Timeout: 10 * time.Second}
}

// Create registers a provider on behalf of actor, sealing its secret.
func (s *Service) Create(ctx context.Context, p Provider, actor string) (Provider, error) {
	if err := s.check(&p); err != nil {
		return Provider{}, err
	}
	now := s.now()
	p.CreatedAt, p.UpdatedAt = now, now
	if err := s.seal(&p); err != nil {
		return Provider{}, err
	}
	ev, err := events.New("idp.created", "idp:"+p.ID, actor, now, map[string]any{"issuer": p.Issuer, "name": p.Name})
	if err != nil {
		return Provider{}, err
	}
	return p, s.Store.CreateProvider(ctx, p, ev)
}

// Put creates provider p or replaces the one with its ID (keeping its
// linked accounts), on behalf of actor: the configuration file's
// providers, applied at start. An unchanged provider is left as it is,
// so that every node can apply the same file. It reports whether
// anything changed.
func (s *Service) Put(ctx context.Context, p Provider, actor string) (bool, error) {
	if err := s.check(&p); err != nil {
		return false, err
	}
	now := s.now()
	typ := "idp.created"
	p.CreatedAt = now
	old, err := s.Store.ProviderByID(ctx, p.ID)
	switch {
	case err == nil:
		secret := ""
		if len(old.Secret) > 0 {
			b, err := s.Cipher.Decrypt(ctx, old.Secret, []byte("idp-secret:"+p.ID))
			if err != nil {
				return false, fmt.Errorf("decrypt the client secret of %s: %w", p.ID, err)
			}
			secret = string(b)
		}
		if fingerprint(old) == fingerprint(p) && subtle.ConstantTimeCompare([]byte(secret), []byte(p.SecretPlain)) == 1 {
			return false, nil
		}
		typ, p.CreatedAt = "idp.updated", old.CreatedAt
	case !errors.Is(err, ErrNotFound):
		return false, err
	}
	p.UpdatedAt = now
	if err := s.seal(&p); err != nil {
		return false, err
	}
	ev, err := events.New(typ, "idp:"+p.ID, actor, now, map[string]any{"issuer": p.Issuer, "name": p.Name})
	if err != nil {
		return false, err
	}
	s.forget(p.ID)
	return true, s.Store.PutProvider(ctx, p, ev)
}

// check validates p, and an Apple key given as its secret.
func (s *Service) check(p *Provider) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if p.AppleTeamID != "" {
		if _, err := appleKey(p.SecretPlain); err != nil {
			return FieldError{"secret", err.Error()}
		}
	}
	return nil
}

// seal encrypts p's secret, bound to the provider.
func (s *Service) seal(p *Provider) error {
	p.Secret = nil
	if p.SecretPlain == "" {
		return nil
	}
	sealed, err := s.Cipher.Encrypt([]byte(p.SecretPlain), []byte("idp-secret:"+p.ID))
	if err != nil {
		return err
	}
	p.Secret, p.SecretPlain = sealed, ""
	return nil
}

// fingerprint is a provider's settings without its secret and times, for
// telling whether a stored provider is the one configured.
func fingerprint(p Provider) string {
	p.Secret, p.SecretPlain, p.CreatedAt, p.UpdatedAt = nil, "", time.Time{}, time.Time{}
	for _, m := range []*map[string]string{&p.ACRMap, &p.ClaimMap} {
		if len(*m) == 0 {
			*m = nil
		}
	}
	for _, l := range []*[]string{&p.Scopes, &p.Tenants, &p.RequiredFields} {
		if len(*l) == 0 {
			*l = nil
		}
	}
	b, _ := json.Marshal(p)
	return string(b)
}

// forget drops the cached discovery of a provider that changed or went.
func (s *Service) forget(id string) {
	s.mu.Lock()
	delete(s.cache, id)
	s.mu.Unlock()
}

// Delete removes a provider; identities linked through it go with it.
func (s *Service) Delete(ctx context.Context, id, actor string) error {
	ev, err := events.New("idp.deleted", "idp:"+id, actor, s.now(), nil)
	if err != nil {
		return err
	}
	s.forget(id)
	return s.Store.DeleteProvider(ctx, id, ev)
}

// discover returns the provider's discovery (cached for DiscoveryTTL).
func (s *Service) discover(ctx context.Context, p Provider) (*oidc.Provider, error) {
	ttl := s.DiscoveryTTL
	if ttl <= 0 {
		ttl = time.Hour
	}
	s.mu.Lock()
	c, ok := s.cache[p.ID]
	s.mu.Unlock()
	if ok && s.now().Sub(c.fetched) < ttl {
		return c.p, nil
	}
	// go-oidc checks that the document's issuer is the configured one. A
	// multi-tenant provider's document names the issuer template instead;
	// each ID token's issuer is then checked against its own tenant.
	ctx = oidc.ClientContext(ctx, s.client())
	if p.TenantIssuer != "" {
		ctx = oidc.InsecureIssuerURLContext(ctx, p.TenantIssuer)
	}
	op, err := oidc.NewProvider(ctx, p.Issuer)
	if err != nil {
		return nil, fmt.Errorf("%w: discovery of %s: %w", ErrUpstream, p.Issuer, err)
	}
	s.mu.Lock()
	if s.cache == nil {
		s.cache = map[string]cached{}
	}
	s.cache[p.ID] = cached{p: op, fetched: s.now()}
	s.mu.Unlock()
	return op, nil
}

// endpoints returns the provider's OAuth 2 endpoints, and for an OpenID
// provider its (cached) discovery.
func (s *Service) endpoints(ctx context.Context, p Provider) (oauth2.Endpoint, *oidc.Provider, error) {
	if p.Kind == KindOAuth2 {
		return oauth2.Endpoint{AuthURL: p.AuthURL, TokenURL: p.TokenURL}, nil, nil
	}
	op, err := s.discover(ctx, p)
	if err != nil {
		return oauth2.Endpoint{}, nil, err
	}
	return op.Endpoint(), op, nil
}

func (s *Service) oauth2Config(ctx context.Context, p Provider, ep oauth2.Endpoint, redirect string) (*oauth2.Config, error) {
	secret := ""
	if len(p.Secret) > 0 {
		b, err := s.Cipher.Decrypt(ctx, p.Secret, []byte("idp-secret:"+p.ID))
		if err != nil {
			return nil, fmt.Errorf("decrypt the client secret of %s: %w", p.ID, err)
		}
		secret = string(b)
	}
	if p.AppleTeamID != "" {
		var err error
		if secret, err = s.appleSecret(p, secret); err != nil {
			return nil, err
		}
		// Apple takes the secret in the form only.
		ep.AuthStyle = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{ClientID: p.ClientID, ClientSecret: secret, Endpoint: ep, RedirectURL: redirect, Scopes: p.Scopes}, nil
}

// appleKey reads a Sign in with Apple private key: a P-256 key in a
// PKCS #8 PEM block (the .p8 file).
func appleKey(pemText string) (*ecdsa.PrivateKey, error) {
	b, _ := pem.Decode([]byte(strings.TrimSpace(pemText)))
	if b == nil {
		return nil, errors.New("the key is not a PEM block (give the .p8 file Apple issued)")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("the key is not a PKCS #8 private key: %w", err)
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("the key is not a P-256 (ES256) key")
	}
	return ec, nil
}

// appleSecret is the client secret Apple asks for: a short-lived JWT
// signed (ES256) with the team's key, naming the team (iss), the client
// (sub) and the provider (aud).
func (s *Service) appleSecret(p Provider, pemText string) (string, error) {
	k, err := appleKey(pemText)
	if err != nil {
		return "", fmt.Errorf("the Apple key of %s: %w", p.ID, err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", p.AppleKeyID))
	if err != nil {
		return "", err
	}
	now := s.now()
	return josejwt.Signed(signer).Claims(josejwt.Claims{
		Issuer: p.AppleTeamID, Subject: p.ClientID, Audience: josejwt.Audience{p.Issuer},
		IssuedAt: josejwt.NewNumericDate(now), Expiry: josejwt.NewNumericDate(now.Add(5 * time.Minute)),
	}).Serialize()
}

// Pending is a sign-in sent to a provider, kept (sealed) until it comes
// back.
type Pending struct {
	Provider string    `json:"p"`
	State    string    `json:"s"`
	Nonce    string    `json:"n"`
	Verifier string    `json:"v"`
	Expires  time.Time `json:"e"`
}

// Begin starts a sign-in with provider id: the URL to send the browser to
// and the sealed pending sign-in to keep. flowID is put in front of the
// state, so that the callback finds its flow.
func (s *Service) Begin(ctx context.Context, id, flowID, redirect string) (string, string, error) {
	p, err := s.Store.ProviderByID(ctx, id)
	if err != nil {
		return "", "", err
	}
	ep, _, err := s.endpoints(ctx, p)
	if err != nil {
		return "", "", err
	}
	conf, err := s.oauth2Config(ctx, p, ep, redirect)
	if err != nil {
		return "", "", err
	}
	pd := Pending{Provider: p.ID, State: flowID + "." + random(), Nonce: random(), Verifier: oauth2.GenerateVerifier(), Expires: s.now().Add(15 * time.Minute)}
	raw, _ := json.Marshal(pd)
	sealed, err := s.Cipher.Encrypt(raw, []byte("idp-pending:"+flowID))
	if err != nil {
		return "", "", err
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(pd.Verifier)}
	if p.Kind != KindOAuth2 {
		opts = append(opts, oidc.Nonce(pd.Nonce))
	}
	if p.ResponseMode == "form_post" {
		opts = append(opts, oauth2.SetAuthURLParam("response_mode", "form_post"))
	}
	u := conf.AuthCodeURL(pd.State, opts...)
	return u, base64.RawURLEncoding.EncodeToString(sealed), nil
}

// Claims are what the provider says about the person.
type Claims struct {
	Provider      string
	Subject       string
	Email         string
	EmailVerified bool
	GivenName     string
	FamilyName    string
	Locale        string
	// Proofing is true for an identity-proofing provider's sign-in; Level
	// is then the level of assurance its acr maps to ("" if none).
	Proofing bool
	ACR      string
	Level    string
	// BirthDate and NationalID are proofed attributes, as sent. The
	// national identity number is never logged or shown.
	BirthDate  string `json:"-"`
	NationalID string `json:"-"`
	// Phone and Asked come from the person when a registration asked for
	// what the provider did not send: Asked are the fields they were
	// asked.
	Phone string
	Asked []string
}

// Finish completes a sign-in from the provider's redirect (its query),
// given the sealed pending sign-in of flowID: the state must match, the
// code is exchanged with the PKCE verifier, and the ID token is checked
// (signature, issuer, audience, expiry, nonce).
func (s *Service) Finish(ctx context.Context, flowID, sealed string, query map[string][]string, redirect string) (Claims, error) {
	get := func(k string) string {
		if v := query[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	ct, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(ct) == 0 {
		return Claims{}, fmt.Errorf("%w: no sign-in was started here", ErrUpstream)
	}
	raw, err := s.Cipher.Decrypt(ctx, ct, []byte("idp-pending:"+flowID))
	if err != nil {
		return Claims{}, fmt.Errorf("%w: the pending sign-in is not this flow's", ErrUpstream)
	}
	var pd Pending
	if err := json.Unmarshal(raw, &pd); err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrUpstream, err)
	}
	if subtle.ConstantTimeCompare([]byte(get("state")), []byte(pd.State)) != 1 {
		return Claims{}, fmt.Errorf("%w: state mismatch", ErrUpstream)
	}
	if !s.now().Before(pd.Expires) {
		return Claims{}, fmt.Errorf("%w: the sign-in took too long", ErrUpstream)
	}
	if e := get("error"); e != "" {
		return Claims{}, fmt.Errorf("%w: the provider answered %s: %s", ErrUpstream, e, get("error_description"))
	}
	p, err := s.Store.ProviderByID(ctx, pd.Provider)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: provider %s: %w", ErrUpstream, pd.Provider, err)
	}
	ep, op, err := s.endpoints(ctx, p)
	if err != nil {
		return Claims{}, err
	}
	conf, err := s.oauth2Config(ctx, p, ep, redirect)
	if err != nil {
		return Claims{}, err
	}
	tok, err := conf.Exchange(oidc.ClientContext(ctx, s.client()), get("code"), oauth2.VerifierOption(pd.Verifier))
	if err != nil {
		return Claims{}, fmt.Errorf("%w: code exchange: %w", ErrUpstream, err)
	}
	if p.Kind == KindOAuth2 {
		return s.oauth2Claims(ctx, p, tok)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := op.Verifier(&oidc.Config{ClientID: p.ClientID, Now: s.now, SkipIssuerCheck: p.TenantIssuer != ""}).Verify(oidc.ClientContext(ctx, s.client()), rawID)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: ID token: %w", ErrUpstream, err)
	}
	subject := idt.Subject
	if p.TenantIssuer != "" {
		tid, err := tenantOf(p, idt)
		if err != nil {
			return Claims{}, err
		}
		// The same subject in two tenants is two people.
		subject = tid + "/" + idt.Subject
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(pd.Nonce)) != 1 {
		return Claims{}, fmt.Errorf("%w: nonce mismatch", ErrUpstream)
	}
	fields := map[string]any{}
	if err := idt.Claims(&fields); err != nil {
		return Claims{}, fmt.Errorf("%w: ID token claims: %w", ErrUpstream, err)
	}
	if fieldText(p, fields, "email") == "" && op.UserInfoEndpoint() != "" {
		// Many providers put the profile in userinfo only (OpenID Connect
		// Core 5.4): ask there, for the same subject.
		ui, err := op.UserInfo(oidc.ClientContext(ctx, s.client()), oauth2.StaticTokenSource(tok))
		if err != nil {
			return Claims{}, fmt.Errorf("%w: userinfo: %w", ErrUpstream, err)
		}
		if ui.Subject != idt.Subject {
			return Claims{}, fmt.Errorf("%w: userinfo is about another subject", ErrUpstream)
		}
		more := map[string]any{}
		if err := ui.Claims(&more); err != nil {
			return Claims{}, fmt.Errorf("%w: userinfo claims: %w", ErrUpstream, err)
		}
		for k, v := range more {
			if _, ok := fields[k]; !ok {
				fields[k] = v
			}
		}
	}
	out := mapClaims(p, fields)
	// The subject is the ID token's: it is what the signature vouches for.
	out.Subject = subject
	if out.GivenName == "" && out.FamilyName == "" {
		out.GivenName, out.FamilyName = postedName(get("user"))
	}
	out.ACR, _ = fields["acr"].(string)
	if p.Proofing {
		out.Proofing, out.Level = true, p.ACRMap[out.ACR]
		out.BirthDate, _ = fields["birthdate"].(string)
		claim := p.NationalIDClaim
		if claim == "" {
			claim = "national_id"
		}
		if v, ok := fields[claim].(string); ok {
			out.NationalID = strings.TrimSpace(v)
		}
	}
	return out, nil
}

// tenantOf checks a multi-tenant provider's ID token: its issuer must be
// the template with the token's own tenant (tid) in it, and the tenant one
// of those allowed (if any are named). It returns the tenant.
func tenantOf(p Provider, idt *oidc.IDToken) (string, error) {
	var t struct {
		TID string `json:"tid"`
	}
	if err := idt.Claims(&t); err != nil || t.TID == "" || strings.ContainsAny(t.TID, "/?#{} ") {
		return "", fmt.Errorf("%w: the ID token names no tenant (tid)", ErrUpstream)
	}
	if want := strings.ReplaceAll(p.TenantIssuer, "{tenantid}", t.TID); idt.Issuer != want {
		return "", fmt.Errorf("%w: issuer %q is not tenant %s's (%s)", ErrUpstream, idt.Issuer, t.TID, want)
	}
	if len(p.Tenants) > 0 && !slices.Contains(p.Tenants, t.TID) {
		return "", fmt.Errorf("%w: tenant %s is not allowed", ErrUpstream, t.TID)
	}
	return t.TID, nil
}

// postedName reads the name Apple posts beside its answer on a person's
// first sign-in ({"name":{"firstName":…,"lastName":…}}). It is not signed,
// so only the name is taken from it, never the address.
func postedName(raw string) (given, family string) {
	if raw == "" || len(raw) > 4096 {
		return "", ""
	}
	var u struct {
		Name struct {
			FirstName string `json:"firstName"`
			LastName  string `json:"lastName"`
		} `json:"name"`
	}
	if json.Unmarshal([]byte(raw), &u) != nil {
		return "", ""
	}
	return strings.TrimSpace(u.Name.FirstName), strings.TrimSpace(u.Name.LastName)
}

// fieldText is the provider's value for one of Portvakt's claims, through
// its ClaimMap (by default the same name; for sub, also id).
func fieldText(p Provider, fields map[string]any, claim string) string {
	name := p.ClaimMap[claim]
	if name == "" {
		name = claim
	}
	v, ok := fields[name]
	if !ok && claim == "sub" && p.ClaimMap["sub"] == "" {
		v = fields["id"]
	}
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

// mapClaims reads a person's claims from the provider's fields. An
// address counts as verified only if the provider says so and is trusted
// to (TrustEmail); some providers send email_verified as a string.
func mapClaims(p Provider, fields map[string]any) Claims {
	return Claims{
		Provider: p.ID, Subject: fieldText(p, fields, "sub"), Email: fieldText(p, fields, "email"),
		EmailVerified: fieldText(p, fields, "email_verified") == "true" && p.TrustEmail,
		GivenName:     fieldText(p, fields, "given_name"), FamilyName: fieldText(p, fields, "family_name"),
		Locale: fieldText(p, fields, "locale"), Phone: e164(fieldText(p, fields, "phone_number")),
	}
}

var e164Pattern = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// e164 is a phone number in E.164 form without spaces or dashes, or ""
// when the provider's is not one (the person is then asked, if needed).
func e164(phone string) string {
	n := strings.NewReplacer(" ", "", "-", "", "(", "", ")", "").Replace(phone)
	if !e164Pattern.MatchString(n) {
		return ""
	}
	return n
}

func random() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Register makes a new account from an upstream identity (just-in-time
// registration), linked to it, with the receipts of the consents given on
// the way (consents.Service.NewReceipts), in one transaction. The
// registration's event says where it came from: social:<provider>.
func (s *Service) Register(ctx context.Context, c Claims, receipts []consents.Receipt) (accounts.User, error) {
	now := s.now()
	u := accounts.User{
		ID: accounts.NewID(), Email: c.Email, EmailVerified: c.EmailVerified, GivenName: c.GivenName,
		FamilyName: c.FamilyName, Locale: c.Locale, Phone: c.Phone, Status: accounts.StatusActive, CreatedAt: now, UpdatedAt: now,
		// The person registered themselves with what they brought or
		// typed: the profile is confirmed.
		ProfileConfirmedAt: now,
	}
	if err := u.Validate(); err != nil {
		return accounts.User{}, err
	}
	id := Identity{ProviderID: c.Provider, Subject: c.Subject, UserID: u.ID, Email: c.Email, CreatedAt: now, LastUsedAt: now}
	src := "social:" + c.Provider
	if c.Proofing {
		src = "eid:" + c.Provider
	}
	data := map[string]any{"source": src, "email_verified": u.EmailVerified}
	if len(c.Asked) > 0 {
		data["asked"] = c.Asked
	}
	reg, err := events.New("user.registered", u.Subject(), u.Subject(), now, data)
	if err != nil {
		return accounts.User{}, err
	}
	linked, err := s.linkedEvent(id, u.Subject())
	if err != nil {
		return accounts.User{}, err
	}
	receipts, consented, err := consents.Stamp(receipts, u.ID)
	if err != nil {
		return accounts.User{}, err
	}
	if err := s.Store.CreateUserWithIdentity(ctx, u, id, receipts, append([]events.Event{reg, linked}, consented...)...); err != nil {
		return accounts.User{}, err
	}
	return u, nil
}

// Link links the upstream identity of c to userID, who has just proved
// they own that account.
func (s *Service) Link(ctx context.Context, userID string, c Claims) error {
	now := s.now()
	id := Identity{ProviderID: c.Provider, Subject: c.Subject, UserID: userID, Email: c.Email, CreatedAt: now, LastUsedAt: now}
	ev, err := s.linkedEvent(id, "user:"+userID)
	if err != nil {
		return err
	}
	return s.Store.LinkIdentity(ctx, id, ev)
}

func (s *Service) linkedEvent(id Identity, actor string) (events.Event, error) {
	return events.New("identity.linked", "user:"+id.UserID, actor, s.now(), map[string]any{"provider": id.ProviderID})
}

// Unlink removes one of userID's identities, unless it is their last way
// to sign in.
func (s *Service) Unlink(ctx context.Context, userID, providerID, subject string) error {
	ev, err := events.New("identity.unlinked", "user:"+userID, "user:"+userID, s.now(), map[string]any{"provider": providerID})
	if err != nil {
		return err
	}
	return s.Store.UnlinkIdentity(ctx, userID, providerID, subject, ev)
}

// NationalIDDigest is the keyed hash a national identity number is found
// by: HMAC-SHA256 under NationalIDKey, of the number without spaces or
// dashes, so that the number itself is never stored in the clear.
func (s *Service) NationalIDDigest(number string) string {
	n := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '+' {
			return -1
		}
		return r
	}, strings.ToUpper(number))
	if n == "" {
		return ""
	}
	m := hmac.New(sha256.New, s.NationalIDKey[:])
	m.Write([]byte(n))
	return hex.EncodeToString(m.Sum(nil))
}

// Proof keeps what an identity-proofing provider vouched for about
// userID: legal name, birth date and national identity number as verified
// attributes (sealed, with source and time), and the number's keyed hash.
func (s *Service) Proof(ctx context.Context, userID string, c Claims) error {
	if !c.Proofing {
		return nil
	}
	now := s.now()
	var attrs []VerifiedAttribute
	var names []string
	add := func(name, value string) error {
		if value == "" {
			return nil
		}
		sealed, err := s.Cipher.Encrypt([]byte(value), verifiedAAD(userID, name))
		if err != nil {
			return err
		}
		attrs = append(attrs, VerifiedAttribute{Name: name, Value: sealed, Source: "eid:" + c.Provider, VerifiedAt: now})
		names = append(names, name)
		return nil
	}
	legal := strings.TrimSpace(c.GivenName + " " + c.FamilyName)
	for _, a := range [][2]string{{AttrLegalName, legal}, {AttrBirthdate, c.BirthDate}, {AttrNationalID, c.NationalID}} {
		if err := add(a[0], a[1]); err != nil {
			return err
		}
	}
	ev, err := events.New("identity.proofed", "user:"+userID, "user:"+userID, now, map[string]any{
		"provider": c.Provider, "attributes": names, "level": c.Level,
	})
	if err != nil {
		return err
	}
	return s.Store.SaveProofing(ctx, userID, attrs, s.NationalIDDigest(c.NationalID), ev)
}

// oauth2Claims reads a plain OAuth 2 provider's userinfo endpoint with the
// access token and maps its fields to claims (ClaimMap; by default the
// OpenID names, and id for the subject when there is no sub). With an
// emails endpoint, the primary verified address is taken from there.
func (s *Service) oauth2Claims(ctx context.Context, p Provider, tok *oauth2.Token) (Claims, error) {
	var fields map[string]any
	if err := s.getJSON(ctx, p.UserinfoURL, tok, &fields); err != nil {
		return Claims{}, fmt.Errorf("%w: userinfo: %w", ErrUpstream, err)
	}
	c := mapClaims(p, fields)
	if c.Subject == "" {
		return Claims{}, fmt.Errorf("%w: userinfo has no subject (map one with sub=<field>)", ErrUpstream)
	}
	if p.EmailsURL != "" {
		var list []struct {
			Email    string `json:"email"`
			Primary  bool   `json:"primary"`
			Verified bool   `json:"verified"`
		}
		if err := s.getJSON(ctx, p.EmailsURL, tok, &list); err != nil {
			return Claims{}, fmt.Errorf("%w: email addresses: %w", ErrUpstream, err)
		}
		c.EmailVerified = false
		for _, e := range list {
			if e.Primary && e.Verified {
				c.Email, c.EmailVerified = e.Email, p.TrustEmail
			}
		}
	}
	return c, nil
}

// getJSON reads a JSON document from a provider's endpoint with the
// access token.
func (s *Service) getJSON(ctx context.Context, url string, tok *oauth2.Token, dst any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	tok.SetAuthHeader(req)
	res, err := s.client().Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", url, res.Status)
	}
	return json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(dst)
}
