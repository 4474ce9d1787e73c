package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"

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
}

// setting describes one configuration key.
type setting struct {
	key    string
	def    any
	secret bool // also read from PORTVAKT_<KEY>_FILE
	list   bool // comma-separated in the environment
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
		if s.list {
			env[s.key] = splitList(v)
		} else {
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

func unknownKeys(keys []string) []string {
	known := map[string]bool{}
	for _, s := range settings {
		known[s.key] = true
	}
	var out []string
	for _, k := range keys {
		if !known[k] {
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
	return errors.Join(errs...)
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
	m["shutdown_timeout"] = c.ShutdownTimeout.String()
	return m
}
