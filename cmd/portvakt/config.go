package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/authn"
	"github.com/portvakt/portvakt/internal/federation"
	"github.com/portvakt/portvakt/internal/request"
	"github.com/portvakt/portvakt/internal/store"
)

// Secret is a configuration value that is never printed.
type Secret string

// String redacts the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "REDACTED"
}

// MarshalJSON redacts the secret.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// Config is Portvakt's whole configuration, decoded only here and handed to
// packages as plain values. Each key can be set in the config file (YAML),
// as PORTVAKT_<KEY> in the environment, or as a flag, in rising precedence.
type Config struct {
	Addr              string        `koanf:"addr" json:"addr"`
	Issuer            string        `koanf:"issuer" json:"issuer"`
	DataDir           string        `koanf:"data_dir" json:"data_dir"`
	DatabaseURL       Secret        `koanf:"database_url" json:"database_url"`
	MasterKey         Secret        `koanf:"master_key" json:"master_key"`
	MasterKeyPrevious []Secret      `koanf:"master_key_previous" json:"master_key_previous"`
	SMTPURL           Secret        `koanf:"smtp_url" json:"smtp_url"`
	MailFrom          string        `koanf:"mail_from" json:"mail_from"`
	LogLevel          string        `koanf:"log_level" json:"log_level"`
	LogFormat         string        `koanf:"log_format" json:"log_format"`
	TrustedProxies    []string      `koanf:"trusted_proxies" json:"trusted_proxies"`
	MaxRequestBytes   int64         `koanf:"max_request_bytes" json:"max_request_bytes"`
	ShutdownTimeout   time.Duration `koanf:"shutdown_timeout" json:"shutdown_timeout"`

	ProductName  string `koanf:"product_name" json:"product_name"`
	LogoURL      string `koanf:"logo_url" json:"logo_url"`
	PrimaryColor string `koanf:"primary_color" json:"primary_color"`
	ThemeDir     string `koanf:"theme_dir" json:"theme_dir"`

	SessionIdleTimeout     time.Duration `koanf:"session_idle_timeout" json:"session_idle_timeout"`
	SessionAbsoluteTimeout time.Duration `koanf:"session_absolute_timeout" json:"session_absolute_timeout"`

	PasswordMinLength       int  `koanf:"password_min_length" json:"password_min_length"`
	PasswordMemoryKiB       int  `koanf:"password_memory_kib" json:"password_memory_kib"`
	PasswordIterations      int  `koanf:"password_iterations" json:"password_iterations"`
	PasswordParallelism     int  `koanf:"password_parallelism" json:"password_parallelism"`
	PasswordHashConcurrency int  `koanf:"password_hash_concurrency" json:"password_hash_concurrency"`
	PasswordBreachCheck     bool `koanf:"password_breach_check" json:"password_breach_check"`

	UserAttributes map[string]accounts.AttributeRule `koanf:"user_attributes" json:"user_attributes"`

	LoALadder      string   `koanf:"loa_ladder" json:"loa_ladder"`
	MFA            string   `koanf:"mfa" json:"mfa"`
	EmailCodes     bool     `koanf:"email_codes" json:"email_codes"`
	Passkeys       bool     `koanf:"passkeys" json:"passkeys"`
	PasskeyAAGUIDs []string `koanf:"passkey_aaguids" json:"passkey_aaguids"`

	RegistrationFields []string          `koanf:"registration_fields" json:"registration_fields"`
	AttributeOwners    map[string]string `koanf:"attribute_owners" json:"attribute_owners"`
	ProfileFreshness   time.Duration     `koanf:"profile_freshness" json:"profile_freshness"`
	InvitationTTL      time.Duration     `koanf:"invitation_ttl" json:"invitation_ttl"`
	IdentityProviders  []idpConfig       `koanf:"identity_providers" json:"identity_providers"`
	TermsURL           string            `koanf:"terms_url" json:"terms_url"`
	GeoIPDatabase      string            `koanf:"geoip_database" json:"geoip_database"`

	DeletionGracePeriod        time.Duration   `koanf:"deletion_grace_period" json:"deletion_grace_period"`
	UnverifiedAccountRetention time.Duration   `koanf:"unverified_account_retention" json:"unverified_account_retention"`
	Consents                   []consentConfig `koanf:"consents" json:"consents"`

	WebhooksAllowHTTP            bool          `koanf:"webhooks_allow_http" json:"webhooks_allow_http"`
	WebhooksAllowPrivateNetworks bool          `koanf:"webhooks_allow_private_networks" json:"webhooks_allow_private_networks"`
	WebhooksTimeout              time.Duration `koanf:"webhooks_timeout" json:"webhooks_timeout"`
	WebhooksRetryFor             time.Duration `koanf:"webhooks_retry_for" json:"webhooks_retry_for"`
	WebhooksPauseAfter           time.Duration `koanf:"webhooks_pause_after" json:"webhooks_pause_after"`
	OperatorEmail                string        `koanf:"operator_email" json:"operator_email"`
}

// setting describes one configuration key.
type setting struct {
	key    string
	def    any
	secret bool // also read from PORTVAKT_<KEY>_FILE
	list   bool // comma-separated in the environment
	pairs  bool // key=value, comma-separated in the environment
	usage  string
}

var settings = []setting{
	{key: "addr", def: "localhost:8080", usage: "address to listen on, host:port"},
	{key: "issuer", def: "http://localhost:8080", usage: "public URL of this server, as it appears in tokens"},
	{key: "data_dir", def: "portvakt-data", usage: "directory for the SQLite database and the master key file"},
	{key: "database_url", def: "", secret: true, usage: "sqlite:///path/to/db or postgres://user:pass@host/db (default: SQLite in the data directory)"},
	{key: "master_key", def: "", secret: true, usage: "32-byte key (base64 or hex) that encrypts secrets at rest (default: master.key in the data directory)"},
	{key: "master_key_previous", def: []string{}, secret: true, list: true, usage: "master keys being rotated out, comma-separated"},
	{key: "smtp_url", def: "", secret: true, usage: "mail server, smtp://user:pass@host:587 (STARTTLS) or smtps://…:465"},
	{key: "mail_from", def: "", usage: "sender address of mail, e.g. Portvakt <no-reply@example.com>"},
	{key: "log_level", def: "info", usage: "debug, info, warn or error"},
	{key: "log_format", def: "json", usage: "json or text"},
	{key: "trusted_proxies", def: []string{}, list: true, usage: "CIDRs of reverse proxies whose X-Forwarded-For is believed, comma-separated"},
	{key: "max_request_bytes", def: int64(1 << 20), usage: "largest request body accepted"},
	{key: "shutdown_timeout", def: "15s", usage: "how long to drain in-flight requests on SIGTERM"},
	{key: "product_name", def: "Portvakt", usage: "product name shown on pages and in mail"},
	{key: "logo_url", def: "", usage: "https URL (or /path) of a logo shown on pages and in mail"},
	{key: "primary_color", def: "#1f5fbf", usage: "primary colour of pages and mail, #rrggbb; white text on it must have 4.5:1 contrast"},
	{key: "theme_dir", def: "", usage: "directory whose templates (layouts/, pages/) override the built-in ones"},
	{key: "session_idle_timeout", def: "8h", usage: "sign a browser out after this long without activity"},
	{key: "session_absolute_timeout", def: "168h", usage: "sign a browser out this long after sign-in, active or not"},
	{key: "password_min_length", def: int64(8), usage: "shortest password accepted (NIST SP 800-63B: at least 8)"},
	{key: "password_memory_kib", def: int64(19456), usage: "argon2id memory per hash, KiB"},
	{key: "password_iterations", def: int64(2), usage: "argon2id passes"},
	{key: "password_parallelism", def: int64(1), usage: "argon2id lanes"},
	{key: "password_hash_concurrency", def: int64(0), usage: "hashes computed at once (0: one per CPU); memory use is this times password_memory_kib"},
	{key: "password_breach_check", def: false, usage: "also refuse passwords found in Have I Been Pwned (k-anonymity range API; needs network)"},
	{key: "user_attributes", def: map[string]any{}, usage: "schema of custom user attributes (config file only)"},
	{key: "identity_providers", def: []any{}, usage: "upstream identity providers, applied at start (config file only; see docs/identity-providers.md)"},
	{key: "mfa", def: "optional", usage: "two-step verification: off, optional (people may set it up; whoever has, uses it) or required (everyone sets it up at their next sign-in)"},
	{key: "email_codes", def: false, usage: "offer sign-in by a 6-digit code sent by mail (valid 10 minutes), besides the password"},
	{key: "passkeys", def: true, usage: "offer passkeys (WebAuthn) for sign-in and as a second factor; needs an issuer whose host is a domain name, not an IP address"},
	{key: "passkey_aaguids", def: []string{}, list: true, usage: "accept new passkeys only from these authenticator models (AAGUIDs, comma-separated); attestation is then requested"},
	{key: "attribute_owners", def: map[string]any{}, pairs: true, usage: "who owns each profile field (given_name, family_name, phone, locale): person (default), crm or idp; field=owner, comma-separated in the environment"},
	{key: "profile_freshness", def: "8760h", usage: "ask people at sign-in to confirm their profile once it is older than this since they last confirmed or edited it (default 8760h, a year); 0 never asks"},
	{key: "registration_fields", def: []string{}, list: true, usage: "fields every registration must have, comma-separated: given_name, family_name, phone (asked on the form, and after an upstream sign-in that did not send them)"},
	{key: "invitation_ttl", def: "168h", usage: "how long an invitation to an organization can be accepted, 1h to 2160h (90 days)"},
	{key: "terms_url", def: "", usage: "https URL (or /path) of the terms of service every registration accepts (a checkbox on the registration pages): a shorthand for a required purpose terms in consents, with one version"},
	{key: "consents", def: []any{}, usage: "purposes people agree to (terms, privacy notice, marketing …) with versioned documents (config file only; see docs/consents.md)"},
	{key: "deletion_grace_period", def: "336h", usage: "how long an account whose owner asked for its deletion waits before it is erased (signing in cancels it), up to 2160h (90 days); 0 erases at once"},
	{key: "unverified_account_retention", def: "720h", usage: "erase an account the person registered but never verified the address of this long after registration and its last sign-in, at least 24h; 0 keeps them"},
	{key: "geoip_database", def: "", usage: "MaxMind DB file (GeoLite2 or GeoIP2, City or Country) that shows roughly where each session's address is on the account page; empty: none"},
	{key: "webhooks_allow_http", def: false, usage: "accept http:// webhook URLs (development only: production webhooks use https)"},
	{key: "webhooks_allow_private_networks", def: false, usage: "let webhooks reach loopback, private (RFC 1918, RFC 4193), link-local and CGNAT addresses (development, or receivers on a trusted network)"},
	{key: "webhooks_timeout", def: "10s", usage: "how long one webhook request may take, 1s to 60s"},
	{key: "webhooks_retry_for", def: "72h", usage: "how long a webhook delivery is retried before it is dead-lettered, 1h to 720h"},
	{key: "webhooks_pause_after", def: "24h", usage: "pause a webhook subscription whose every delivery has failed for this long, at least 1h"},
	{key: "operator_email", def: "", usage: "the deployment operator's address: told by mail when something needs a person, such as a webhook subscription paused for failing"},
	{key: "loa_ladder", def: "", usage: "levels of assurance, lowest first: acr=methods+methods …; …, e.g. urn:portvakt:loa:low=pwd; urn:portvakt:loa:substantial=pwd+otp (default: low, substantial, high; see docs/strong-authentication.md)"},
}

func envName(key string) string { return "PORTVAKT_" + strings.ToUpper(key) }

// addConfigFlags registers --config and a flag per setting.
func addConfigFlags(fl *pflag.FlagSet) {
	fl.String("config", "", "YAML configuration file (env PORTVAKT_CONFIG)")
	for _, s := range settings {
		name := strings.ReplaceAll(s.key, "_", "-")
		usage := fmt.Sprintf("%s (env %s)", s.usage, envName(s.key))
		if s.secret {
			usage = fmt.Sprintf("%s (env %s or %s_FILE)", s.usage, envName(s.key), envName(s.key))
		}
		switch d := s.def.(type) {
		case string:
			fl.String(name, d, usage)
		case int64:
			fl.Int64(name, d, usage)
		case []string:
			fl.StringSlice(name, d, usage)
		case bool:
			fl.Bool(name, d, usage)
		}
	}
}

// configError is bad configuration: exit code 2.
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }
func (e configError) Unwrap() error { return e.err }

// loadConfig merges defaults, the config file, the environment and the
// flags that were set, in that order, and validates the result.
func loadConfig(fl *pflag.FlagSet, getenv func(string) string) (Config, error) {
	k := koanf.New(".")
	defaults := map[string]any{}
	for _, s := range settings {
		defaults[s.key] = s.def
	}
	if err := k.Load(confmap.Provider(defaults, "."), nil); err != nil {
		return Config{}, configError{err}
	}

	path, _ := fl.GetString("config")
	if path == "" {
		path = getenv("PORTVAKT_CONFIG")
	}
	if path != "" {
		fk := koanf.New(".")
		if err := fk.Load(file.Provider(path), yaml.Parser()); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return Config{}, configError{fmt.Errorf("config file %s: does not exist", path)}
			}
			return Config{}, configError{fmt.Errorf("config file %s: %w", path, err)}
		}
		if unknown := unknownKeys(fk.Keys()); len(unknown) > 0 {
			return Config{}, configError{fmt.Errorf("config file %s: unknown settings %s", path, strings.Join(unknown, ", "))}
		}
		if err := checkIdpKeys(fk.Get("identity_providers")); err != nil {
			return Config{}, configError{fmt.Errorf("config file %s: %w", path, err)}
		}
		if err := checkConsentKeys(fk.Get("consents")); err != nil {
			return Config{}, configError{fmt.Errorf("config file %s: %w", path, err)}
		}
		if err := k.Merge(fk); err != nil {
			return Config{}, configError{err}
		}
	}

	env := map[string]any{}
	for _, s := range settings {
		v := getenv(envName(s.key))
		if s.secret {
			if p := getenv(envName(s.key) + "_FILE"); p != "" {
				if v != "" {
					return Config{}, configError{fmt.Errorf("set %s or %s_FILE, not both", envName(s.key), envName(s.key))}
				}
				b, err := os.ReadFile(p)
				if err != nil {
					return Config{}, configError{fmt.Errorf("%s_FILE: %w", envName(s.key), err)}
				}
				v = strings.TrimSpace(string(b))
			}
		}
		if v == "" {
			continue
		}
		switch {
		case s.list:
			env[s.key] = splitList(v)
		case s.pairs:
			m, err := splitPairs(v)
			if err != nil {
				return Config{}, configError{fmt.Errorf("%s: %w", envName(s.key), err)}
			}
			env[s.key] = m
		default:
			env[s.key] = v
		}
	}
	if err := k.Load(confmap.Provider(env, "."), nil); err != nil {
		return Config{}, configError{err}
	}

	set := map[string]any{}
	for _, s := range settings {
		f := fl.Lookup(strings.ReplaceAll(s.key, "_", "-"))
		if f == nil || !f.Changed {
			continue
		}
		if s.list {
			l, _ := fl.GetStringSlice(f.Name)
			set[s.key] = l
		} else {
			set[s.key] = f.Value.String()
		}
	}
	if err := k.Load(confmap.Provider(set, "."), nil); err != nil {
		return Config{}, configError{err}
	}

	var c Config
	if err := k.Unmarshal("", &c); err != nil {
		return Config{}, configError{fmt.Errorf("configuration: %w", err)}
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = Secret("sqlite://" + filepath.Join(c.DataDir, "portvakt.db"))
	}
	if err := c.Validate(); err != nil {
		return Config{}, configError{err}
	}
	return c, nil
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// splitPairs reads "key=value, key=value".
func splitPairs(v string) (map[string]any, error) {
	out := map[string]any{}
	for _, p := range splitList(v) {
		k, val, ok := strings.Cut(p, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("%q is not key=value", p)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(val)
	}
	return out, nil
}

func unknownKeys(keys []string) []string {
	known := map[string]bool{}
	for _, s := range settings {
		known[s.key] = true
	}
	var out []string
	for _, k := range keys {
		top, _, _ := strings.Cut(k, ".")
		if !known[k] && !(known[top] && (top == "user_attributes" || top == "attribute_owners")) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// Validate reports every problem at once, each naming its setting.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s (%s): %s", key, envName(key), fmt.Sprintf(format, args...)))
	}
	if _, port, err := net.SplitHostPort(c.Addr); err != nil {
		bad("addr", "%q is not host:port", c.Addr)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		bad("addr", "port %q is not a number from 0 to 65535", port)
	}
	if u, err := url.Parse(c.Issuer); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("issuer", "%q must be an absolute http or https URL", c.Issuer)
	} else if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		bad("issuer", "%q may not have a query, fragment or user info", c.Issuer)
	} else if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		bad("issuer", "%q uses http on a public host; use https (http is allowed only for localhost)", c.Issuer)
	}
	if c.DataDir == "" {
		bad("data_dir", "is empty")
	}
	db := string(c.DatabaseURL)
	switch {
	case strings.HasPrefix(db, "sqlite:"):
		if _, err := store.SQLitePath(db); err != nil {
			bad("database_url", "%v", err)
		}
	case strings.HasPrefix(db, "postgres://"), strings.HasPrefix(db, "postgresql://"):
	default:
		scheme, _, _ := strings.Cut(db, ":")
		bad("database_url", "unknown scheme %q; use sqlite:///path/to/db or postgres://user@host/db", scheme)
	}
	if c.SMTPURL != "" {
		if u, err := url.Parse(string(c.SMTPURL)); err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Host == "" {
			bad("smtp_url", "must be smtp://[user:pass@]host:port or smtps://…")
		}
	}
	if c.MailFrom != "" {
		if _, err := mail.ParseAddress(c.MailFrom); err != nil {
			bad("mail_from", "%q is not a mail address", c.MailFrom)
		}
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		bad("log_level", "%q is not one of debug, info, warn, error", c.LogLevel)
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		bad("log_format", "%q is not json or text", c.LogFormat)
	}
	if _, err := c.proxies(); err != nil {
		bad("trusted_proxies", "%v", err)
	}
	if c.MaxRequestBytes < 1024 {
		bad("max_request_bytes", "%d is below the minimum of 1024", c.MaxRequestBytes)
	}
	if c.ShutdownTimeout <= 0 {
		bad("shutdown_timeout", "must be a positive duration such as 15s")
	}
	if strings.TrimSpace(c.ProductName) == "" || len(c.ProductName) > 100 {
		bad("product_name", "must be 1 to 100 characters")
	}
	if c.LogoURL != "" {
		if u, err := url.Parse(c.LogoURL); err != nil || !(u.Scheme == "https" || (u.Scheme == "" && strings.HasPrefix(c.LogoURL, "/") && !strings.HasPrefix(c.LogoURL, "//"))) {
			bad("logo_url", "%q must be an https URL or a path on this server", c.LogoURL)
		}
	}
	if !hexColor.MatchString(c.PrimaryColor) {
		bad("primary_color", "%q is not a colour like #1f5fbf", c.PrimaryColor)
	} else if r := contrastWithWhite(c.PrimaryColor); r < 4.5 {
		bad("primary_color", "%s has a contrast of %.1f:1 with white text; pick a darker colour (at least 4.5:1, WCAG AA)", c.PrimaryColor, r)
	}
	if c.ThemeDir != "" {
		if st, err := os.Stat(c.ThemeDir); err != nil || !st.IsDir() {
			bad("theme_dir", "%q is not a directory", c.ThemeDir)
		}
	}
	if c.SessionIdleTimeout < time.Minute {
		bad("session_idle_timeout", "must be at least 1m")
	}
	if c.SessionAbsoluteTimeout < c.SessionIdleTimeout {
		bad("session_absolute_timeout", "must not be shorter than session_idle_timeout")
	}
	if c.PasswordMinLength < 8 || c.PasswordMinLength > 64 {
		bad("password_min_length", "%d is outside 8 to 64", c.PasswordMinLength)
	}
	if c.PasswordMemoryKiB < 8192 || c.PasswordMemoryKiB > 1<<20 {
		bad("password_memory_kib", "%d is outside 8192 to 1048576 (OWASP: at least 19456 with 2 passes)", c.PasswordMemoryKiB)
	}
	if c.PasswordIterations < 1 || c.PasswordIterations > 20 {
		bad("password_iterations", "%d is outside 1 to 20", c.PasswordIterations)
	}
	if c.PasswordParallelism < 1 || c.PasswordParallelism > 16 {
		bad("password_parallelism", "%d is outside 1 to 16", c.PasswordParallelism)
	}
	if _, err := accounts.NewAttributeSchema(c.UserAttributes); err != nil {
		bad("user_attributes", "%v", err)
	}
	if _, err := authn.ParseAAGUIDs(c.PasskeyAAGUIDs); err != nil {
		bad("passkey_aaguids", "%v", err)
	}
	if c.InvitationTTL < time.Hour || c.InvitationTTL > 90*24*time.Hour {
		bad("invitation_ttl", "%v is outside 1h to 2160h", c.InvitationTTL)
	}
	for _, f := range c.RegistrationFields {
		if !slices.Contains(federation.ProfileFields, f) {
			bad("registration_fields", "%q is not one of %s", f, strings.Join(federation.ProfileFields, ", "))
		}
	}
	if _, err := accounts.NewOwners(c.AttributeOwners); err != nil {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				bad("attribute_owners", "%v", e)
			}
		}
	}
	if c.ProfileFreshness < 0 || c.ProfileFreshness > maxProfileFreshness {
		bad("profile_freshness", "%v is outside 0 (off) to %v", c.ProfileFreshness, maxProfileFreshness)
	}
	if c.TermsURL != "" && !httpsOrPath(c.TermsURL) {
		bad("terms_url", "%q must be an https URL or a path on this server", c.TermsURL)
	}
	if c.GeoIPDatabase != "" {
		if st, err := os.Stat(c.GeoIPDatabase); err != nil || !st.Mode().IsRegular() {
			bad("geoip_database", "%q is not a file", c.GeoIPDatabase)
		}
	}
	errs = append(errs, idpProblems(c.IdentityProviders)...)
	errs = append(errs, c.consentProblems(time.Now())...)
	if _, err := authn.ParsePolicy(c.MFA); err != nil {
		bad("mfa", "%v", err)
	}
	if _, err := authn.ParseLadder(c.LoALadder); err != nil {
		bad("loa_ladder", "%v", err)
	}
	if c.WebhooksTimeout < time.Second || c.WebhooksTimeout > time.Minute {
		bad("webhooks_timeout", "%v is outside 1s to 60s", c.WebhooksTimeout)
	}
	if c.WebhooksRetryFor < time.Hour || c.WebhooksRetryFor > 720*time.Hour {
		bad("webhooks_retry_for", "%v is outside 1h to 720h", c.WebhooksRetryFor)
	}
	if c.WebhooksPauseAfter < time.Hour {
		bad("webhooks_pause_after", "%v is shorter than 1h", c.WebhooksPauseAfter)
	}
	if c.OperatorEmail != "" {
		if a, err := mail.ParseAddress(c.OperatorEmail); err != nil || a.Name != "" {
			bad("operator_email", "%q is not a bare mail address such as ops@example.com", c.OperatorEmail)
		}
	}
	if c.DeletionGracePeriod < 0 || c.DeletionGracePeriod > 90*24*time.Hour {
		bad("deletion_grace_period", "%v is outside 0 to 2160h (90 days)", c.DeletionGracePeriod)
	}
	if c.UnverifiedAccountRetention != 0 && c.UnverifiedAccountRetention < 24*time.Hour {
		bad("unverified_account_retention", "%v is shorter than 24h (0 keeps unverified accounts)", c.UnverifiedAccountRetention)
	}
	if c.PasswordHashConcurrency < 0 || c.PasswordHashConcurrency > 256 {
		bad("password_hash_concurrency", "%d is outside 0 to 256", c.PasswordHashConcurrency)
	}
	return errors.Join(errs...)
}

// maxProfileFreshness is the longest profile_freshness: ten years.
const maxProfileFreshness = 87600 * time.Hour

// httpsOrPath accepts an https URL or a path on this server.
func httpsOrPath(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || (u.Scheme == "" && strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//")))
}

var hexColor = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// contrastWithWhite is the WCAG contrast ratio of white text on colour.
func contrastWithWhite(colour string) float64 {
	var rgb [3]float64
	for i := range rgb {
		v, _ := strconv.ParseUint(colour[1+2*i:3+2*i], 16, 8)
		c := float64(v) / 255
		if c <= 0.03928 {
			c /= 12.92
		} else {
			c = math.Pow((c+0.055)/1.055, 2.4)
		}
		rgb[i] = c
	}
	l := 0.2126*rgb[0] + 0.7152*rgb[1] + 0.0722*rgb[2]
	return 1.05 / (l + 0.05)
}

func isLoopback(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func (c Config) proxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, p := range c.TrustedProxies {
		if pf, err := netip.ParsePrefix(p); err == nil {
			out = append(out, pf.Masked())
			continue
		}
		ip, err := netip.ParseAddr(p)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address or CIDR", p)
		}
		out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return out, nil
}

func (c Config) issuerURL() *url.URL {
	u, _ := url.Parse(c.Issuer)
	return u
}

func (c Config) logger(w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if c.LogFormat == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(request.LogHandler{Handler: h})
}

// redacted returns the configuration as printed by `config check`.
func (c Config) redacted() map[string]any {
	b, _ := json.Marshal(c)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	m["database_url"] = store.Redact(string(c.DatabaseURL))
	for k, d := range map[string]time.Duration{
		"shutdown_timeout":             c.ShutdownTimeout,
		"session_idle_timeout":         c.SessionIdleTimeout,
		"session_absolute_timeout":     c.SessionAbsoluteTimeout,
		"invitation_ttl":               c.InvitationTTL,
		"profile_freshness":            c.ProfileFreshness,
		"webhooks_timeout":             c.WebhooksTimeout,
		"webhooks_retry_for":           c.WebhooksRetryFor,
		"webhooks_pause_after":         c.WebhooksPauseAfter,
		"deletion_grace_period":        c.DeletionGracePeriod,
		"unverified_account_retention": c.UnverifiedAccountRetention,
	} {
		m[k] = d.String()
	}
	return m
}
