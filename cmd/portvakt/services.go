package main

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"time"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/authn"
	"github.com/portvakt/portvakt/internal/clients"
	"github.com/portvakt/portvakt/internal/federation"
	"github.com/portvakt/portvakt/internal/flows"
	"github.com/portvakt/portvakt/internal/i18n"
	"github.com/portvakt/portvakt/internal/mail"
	"github.com/portvakt/portvakt/internal/password"
	"github.com/portvakt/portvakt/internal/privacy"
	"github.com/portvakt/portvakt/internal/session"
	"github.com/portvakt/portvakt/internal/signing"
	"github.com/portvakt/portvakt/internal/throttle"
	"github.com/portvakt/portvakt/internal/web"
)

// clientCacheTTL is how long a node answers from its memory of a client:
// a client changed by the CLI or on another node is seen within it. The
// token endpoint then authenticates clients without reading the database.
const clientCacheTTL = 5 * time.Second

// services are the domain services that serve and the commands share.
type services struct {
	catalog  *i18n.Catalog
	hasher   *password.Hasher
	accounts *accounts.Service
	authn    *authn.Service
	flows    *flows.Service
	sessions *session.Manager
	outbox   *mail.Outbox
	limits   web.Limits
	clients  *clients.Service
	keys     *signing.Keys
	privacy  *privacy.Service
}

// services builds the domain services from the configuration.
func (a *app) services() (*services, error) {
	cfg := a.cfg
	cat, err := i18n.New()
	if err != nil {
		return nil, err
	}
	concurrency := cfg.PasswordHashConcurrency
	if concurrency == 0 {
		concurrency = runtime.NumCPU()
	}
	hasher, err := password.NewHasher(password.Params{
		Memory:  uint32(cfg.PasswordMemoryKiB),
		Time:    uint32(cfg.PasswordIterations),
		Threads: uint8(cfg.PasswordParallelism),
		SaltLen: 16,
		KeyLen:  32,
	}, concurrency)
	if err != nil {
		return nil, configError{fmt.Errorf("password hashing: %w", err)}
	}
	policy := password.Policy{MinLength: cfg.PasswordMinLength, ProductName: cfg.ProductName}
	if err := policy.Validate(); err != nil {
		return nil, configError{fmt.Errorf("password policy: %w", err)}
	}
	var pp accounts.PasswordPolicy = policy
	if cfg.PasswordBreachCheck {
		pp = breachCheckedPolicy{policy: policy, pwned: &password.PwnedChecker{}}
	}
	renderer, err := mail.NewRenderer(cat, mail.Branding{ProductName: cfg.ProductName, LogoURL: absoluteLogo(cfg), PrimaryColor: cfg.PrimaryColor})
	if err != nil {
		return nil, err
	}
	outbox := &mail.Outbox{Store: a.store, Keyring: a.keyring, Renderer: renderer, Logger: a.log.With("component", "mail"), Now: a.now}
	if cfg.SMTPURL != "" {
		sender, err := mail.NewSMTPSender(mail.SMTPConfig{URL: string(cfg.SMTPURL), From: cfg.MailFrom})
		if err != nil {
			return nil, configError{fmt.Errorf("smtp_url (PORTVAKT_SMTP_URL): %w", err)}
		}
		outbox.Sender = sender
	}
	attrs, err := accounts.NewAttributeSchema(cfg.UserAttributes)
	if err != nil {
		return nil, configError{fmt.Errorf("user_attributes: %w", err)}
	}
	if len(cfg.UserAttributes) == 0 {
		attrs = nil // no schema: any JSON object
	}
	owners, err := accounts.NewOwners(cfg.AttributeOwners)
	if err != nil {
		return nil, configError{fmt.Errorf("attribute_owners: %w", err)}
	}
	keys, err := signing.New(a.store, a.keyring, signing.Options{Now: a.now, Logger: a.log.With("component", "signing")})
	if err != nil {
		return nil, err
	}
	ladder, err := authn.ParseLadder(cfg.LoALadder)
	if err != nil {
		return nil, configError{fmt.Errorf("loa_ladder (PORTVAKT_LOA_LADDER): %w", err)}
	}
	mfa, err := authn.ParsePolicy(cfg.MFA)
	if err != nil {
		return nil, configError{fmt.Errorf("mfa (PORTVAKT_MFA): %w", err)}
	}
	factors := &authn.Service{Store: a.store, Cipher: a.keyring, Issuer: cfg.ProductName, Ladder: ladder, Policy: mfa, Now: a.now}
	if cfg.Passkeys {
		issuer := cfg.issuerURL()
		if _, err := netip.ParseAddr(issuer.Hostname()); err == nil {
			a.log.Warn("passkeys are off: WebAuthn needs an issuer whose host is a domain name (such as localhost), not an IP address", "issuer", cfg.Issuer)
		} else {
			w, aaguids, err := authn.NewWebAuthn(authn.PasskeyConfig{Issuer: issuer, Name: cfg.ProductName, AAGUIDs: cfg.PasskeyAAGUIDs})
			if err != nil {
				return nil, configError{fmt.Errorf("passkey_aaguids (PORTVAKT_PASSKEY_AAGUIDS): %w", err)}
			}
			factors.WebAuthn, factors.AAGUIDs = w, aaguids
		}
	}
	limiter := func(name string, free int, base, window time.Duration) *throttle.Limiter {
		return &throttle.Limiter{Store: a.store, Name: name, Free: free, Window: window, BaseDelay: base, MaxDelay: 15 * time.Minute, Now: a.now}
	}
	// Verified attributes are opened for exports only: no national
	// identity number is looked up here.
	proofing := &federation.Service{Store: a.store, Cipher: a.keyring, Now: a.now}
	return &services{
		catalog: cat,
		hasher:  hasher,
		accounts: &accounts.Service{
			Store: a.store, Events: a.store, Hasher: hasher, Policy: pp, Attributes: attrs, Owners: owners,
			ProfileMaxAge: cfg.ProfileFreshness, Now: a.now,
		},
		authn: factors,
		flows: &flows.Service{Store: a.store, Now: a.now},
		sessions: &session.Manager{
			Store: a.store, Secure: a.cfg.issuerURL().Scheme == "https",
			IdleTimeout: cfg.SessionIdleTimeout, AbsoluteTimeout: cfg.SessionAbsoluteTimeout, Now: a.now,
		},
		outbox:  outbox,
		clients: &clients.Service{Store: a.store, Now: a.now, CacheTTL: clientCacheTTL, Levels: ladder.ACRs()},
		keys:    keys,
		privacy: &privacy.Service{
			Store: a.store, Profiles: a.store, SignIns: a.store, Memberships: a.store, Activity: a.store, Consents: a.store, Proofing: proofing,
			GracePeriod: cfg.DeletionGracePeriod, UnverifiedRetention: cfg.UnverifiedAccountRetention, Now: a.now,
		},
		limits: web.Limits{
			// Five wrong passwords per account cost nothing; then the wait
			// doubles from 30 s to at most 15 min, and ends on its own.
			LoginAccount:    limiter("login:account", 5, 30*time.Second, time.Hour),
			LoginIP:         limiter("login:ip", 50, 10*time.Second, time.Hour),
			Register:        limiter("register:ip", 20, time.Minute, time.Hour),
			RecoveryIP:      limiter("recovery:ip", 20, time.Minute, time.Hour),
			RecoveryAccount: limiter("recovery:account", 3, 5*time.Minute, time.Hour),
			Verify:          limiter("verify:user", 5, 30*time.Second, time.Hour),
			// Codes from an authenticator app: five wrong ones per account
			// are free (a sign-in flow allows five before starting over),
			// then the wait doubles from 30 s.
			SecondFactor: limiter("second_factor:user", 5, 30*time.Second, time.Hour),
			// Each request to change the address mails a code to an
			// address the person types: five an hour, then from 5 min.
			EmailChange: limiter("email_change:user", 5, 5*time.Minute, time.Hour),
		},
	}, nil
}

// absoluteLogo makes a logo path absolute for mail, which has no base URL.
func absoluteLogo(cfg Config) string {
	if cfg.LogoURL == "" || cfg.LogoURL[0] != '/' {
		return cfg.LogoURL
	}
	return cfg.issuerURL().JoinPath(cfg.LogoURL).String()
}

// breachCheckedPolicy adds the Have I Been Pwned range check to the local
// policy. The check fails open: if the service cannot be reached in time the
// local policy alone decides, so sign-up never depends on a third party.
type breachCheckedPolicy struct {
	policy password.Policy
	pwned  *password.PwnedChecker
}

func (b breachCheckedPolicy) Check(pw string, personal ...string) error {
	if err := b.policy.Check(pw, personal...); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if breached, err := b.pwned.Check(ctx, pw); err == nil && breached {
		return &password.PolicyError{Reason: password.ReasonTooCommon}
	}
	return nil
}
