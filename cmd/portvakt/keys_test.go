package main

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portvakt/portvakt/internal/storetest"
)

// signingKeyLine is a line of "keys list --json".
type signingKeyLine struct {
	KID         string    `json:"kid"`
	Alg         string    `json:"alg"`
	State       string    `json:"state"`
	CreatedAt   time.Time `json:"created_at"`
	RetireUntil time.Time `json:"retire_until"`
}

// listSigningKeys runs "keys list --json" and parses its lines, checking that they
// carry nothing but the documented fields.
func listSigningKeys(t *testing.T, dir string, env []string) []signingKeyLine {
	t.Helper()
	r := mustRun(t, dir, env, "keys", "list", "--json")
	allowed := []string{"kid", "alg", "state", "created_at", "activated_at", "activates_at", "rotates_at", "retired_at", "retire_until"}
	var out []signingKeyLine
	for _, line := range nonBlankLines(r.stdout) {
		var fields map[string]any
		if err := json.Unmarshal([]byte(line), &fields); err != nil {
			t.Fatalf("keys list --json printed %q: %v", line, err)
		}
		for f := range fields {
			if !slices.Contains(allowed, f) {
				t.Errorf("keys list --json prints field %q: %s", f, line)
			}
		}
		var k signingKeyLine
		if err := json.Unmarshal([]byte(line), &k); err != nil {
			t.Fatalf("keys list --json printed %q: %v", line, err)
		}
		out = append(out, k)
	}
	return out
}

// signingKIDs returns the kids of keys of alg in state.
func signingKIDs(keys []signingKeyLine, alg, state string) []string {
	var out []string
	for _, k := range keys {
		if k.Alg == alg && k.State == state {
			out = append(out, k.KID)
		}
	}
	return out
}

type signingRotation struct {
	Alg          string    `json:"alg"`
	Active       string    `json:"active"`
	WasPublished bool      `json:"was_published"`
	Retired      string    `json:"retired"`
	RetireUntil  time.Time `json:"retire_until"`
}

func rotateSigningKeys(t *testing.T, dir string, env []string, args ...string) []signingRotation {
	t.Helper()
	r := mustRun(t, dir, env, append([]string{"keys", "rotate", "--json"}, args...)...)
	if n := len(nonBlankLines(r.stdout)); n != 1 {
		t.Fatalf("keys rotate --json printed %d lines, want one JSON object:\n%s", n, r.stdout)
	}
	var out struct {
		Rotated []signingRotation `json:"rotated"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("keys rotate --json printed %q: %v", r.stdout, err)
	}
	return out.Rotated
}

var signingAlgs = []string{"RS256", "ES256", "EdDSA"}

func TestSigningKeyCommands(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		dir := t.TempDir()
		// On SQLite, no configuration at all: the first start of a
		// person trying Portvakt.
		env := childEnv(t)
		dbURL := "sqlite://" + filepath.Join(dir, "portvakt-data", "portvakt.db") // the default
		if e.Name != "sqlite" {
			dbURL = e.NewURL(t)
			env = childEnv(t, "PORTVAKT_DATABASE_URL="+dbURL, "PORTVAKT_MASTER_KEY="+newMasterKey())
		}

		// The first start makes one active key per default algorithm.
		// "serve" makes them; "keys list" would too, on a database
		// without keys.
		s := startServe(t, dir, env)
		s.waitReady(30 * time.Second)
		s.stop()
		if n := queryInt(t, openRawDB(t, dbURL), `SELECT COUNT(*) FROM signing_keys WHERE state = 'active'`); n != int64(len(signingAlgs)) {
			t.Errorf("after the first serve: got %d active signing keys in the database, want %d", n, len(signingAlgs))
		}
		first := listSigningKeys(t, dir, env)
		if len(first) != len(signingAlgs) {
			t.Fatalf("keys list after the first start: got %d keys, want %d: %+v", len(first), len(signingAlgs), first)
		}
		urlSafe := regexp.MustCompile(`^[A-Za-z0-9_-]{16,}$`)
		active := map[string]string{}
		for _, alg := range signingAlgs {
			kids := signingKIDs(first, alg, "active")
			if len(kids) != 1 {
				t.Fatalf("keys list: got %d active %s keys, want 1: %+v", len(kids), alg, first)
			}
			if !urlSafe.MatchString(kids[0]) {
				t.Errorf("kid %q is not URL-safe", kids[0])
			}
			active[alg] = kids[0]
		}
		if again := listSigningKeys(t, dir, env); !slices.Equal(again, first) {
			t.Errorf("keys list a second time: got %+v, want the same keys %+v", again, first)
		}
		text := mustRun(t, dir, env, "keys", "list")
		for _, alg := range signingAlgs {
			if !regexp.MustCompile(active[alg] + `\s+` + alg + `\s+active\s`).MatchString(text.stdout) {
				t.Errorf("keys list does not show %s key %s as active:\n%s", alg, active[alg], text.stdout)
			}
		}

		// Rotating one algorithm: a new kid signs, the old one is still
		// published, as retired.
		before := time.Now()
		rot := rotateSigningKeys(t, dir, env, "--alg", "ES256")
		if len(rot) != 1 || rot[0].Alg != "ES256" || rot[0].Retired != active["ES256"] || rot[0].Active == "" || rot[0].Active == active["ES256"] || rot[0].WasPublished {
			t.Fatalf("keys rotate --alg ES256: got %+v, want a new, unpublished ES256 key replacing %s", rot, active["ES256"])
		}
		if until := rot[0].RetireUntil; until.Before(before.Add(23*time.Hour)) || until.After(time.Now().Add(25*time.Hour)) {
			t.Errorf("keys rotate: retire_until %v, want a day from now (the longest token lifetime)", until)
		}
		after := listSigningKeys(t, dir, env)
		if got := signingKIDs(after, "ES256", "active"); !slices.Equal(got, []string{rot[0].Active}) {
			t.Errorf("after rotating ES256: active ES256 keys %v, want [%s]", got, rot[0].Active)
		}
		if got := signingKIDs(after, "ES256", "retired"); !slices.Equal(got, []string{active["ES256"]}) {
			t.Errorf("after rotating ES256: retired ES256 keys %v, want [%s]", got, active["ES256"])
		}
		for _, k := range after {
			if k.State == "retired" && !k.RetireUntil.Equal(rot[0].RetireUntil) {
				t.Errorf("retired key %s: retire_until %v, want %v", k.KID, k.RetireUntil, rot[0].RetireUntil)
			}
		}
		for _, alg := range []string{"RS256", "EdDSA"} {
			if got := signingKIDs(after, alg, "active"); !slices.Equal(got, []string{active[alg]}) {
				t.Errorf("after rotating ES256: active %s keys %v, want the untouched %s", alg, got, active[alg])
			}
		}

		// Without --alg every algorithm rotates.
		all := rotateSigningKeys(t, dir, env)
		var rotated []string
		for _, r := range all {
			rotated = append(rotated, r.Alg)
		}
		if !slices.Equal(rotated, signingAlgs) {
			t.Errorf("keys rotate: rotated %v, want %v", rotated, signingAlgs)
		}
		final := listSigningKeys(t, dir, env)
		for _, alg := range signingAlgs {
			if n := len(signingKIDs(final, alg, "active")); n != 1 {
				t.Errorf("after rotating everything: %d active %s keys, want 1", n, alg)
			}
			if got := signingKIDs(final, alg, "retired"); !slices.Contains(got, active[alg]) {
				t.Errorf("after rotating everything: retired %s keys %v, want the first key %s among them", alg, got, active[alg])
			}
		}
		if len(final) != 2*len(signingAlgs)+1 {
			t.Errorf("after two rotations: got %d keys, want %d", len(final), 2*len(signingAlgs)+1)
		}
		text = mustRun(t, dir, env, "keys", "rotate", "--alg", "eddsa")
		if !strings.Contains(text.stdout, "EdDSA: ") || !strings.Contains(text.stdout, "retired") {
			t.Errorf("keys rotate --alg eddsa printed %q, want the EdDSA signingRotation described", text.stdout)
		}
	})
}

func TestSigningKeyCommandErrors(t *testing.T) {
	dir := t.TempDir()
	env := childEnv(t, "PORTVAKT_MASTER_KEY="+newMasterKey())
	mustRun(t, dir, env, "keys", "list")

	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"unknown algorithm", env, []string{"keys", "rotate", "--alg", "HS256"}, "HS256"},
		{"argument to list", env, []string{"keys", "list", "extra"}, "arg"},
		{"another master key", childEnv(t, "PORTVAKT_MASTER_KEY="+newMasterKey()), []string{"keys", "list"}, "master_key (PORTVAKT_MASTER_KEY)"},
		{"another master key, rotating", childEnv(t, "PORTVAKT_MASTER_KEY="+newMasterKey()), []string{"keys", "rotate"}, "master_key (PORTVAKT_MASTER_KEY)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runPortvakt(t, dir, tc.env, tc.args...)
			if r.code != exitUsage {
				t.Errorf("%v: got exit code %d, want %d; stderr:\n%s", tc.args, r.code, exitUsage, r.stderr)
			}
			if line := errorLine(t, r.stderr, false); !strings.Contains(line, tc.want) {
				t.Errorf("%v: got error %q, want it to mention %q", tc.args, line, tc.want)
			}
		})
	}
	// Nothing was rotated by the refused commands.
	keys := listSigningKeys(t, dir, env)
	if len(keys) != len(signingAlgs) {
		t.Errorf("after the refused commands: got %d keys, want %d", len(keys), len(signingAlgs))
	}

	help := mustRun(t, dir, env, "keys", "--help").stdout
	for _, sub := range []string{"list", "rotate", "rotate-master"} {
		if !regexp.MustCompile(`(?m)^\s+` + sub + `\s`).MatchString(help) {
			t.Errorf("keys --help does not list %q:\n%s", sub, help)
		}
	}
	if h := mustRun(t, dir, env, "keys", "rotate", "--help").stdout; !strings.Contains(h, "--alg") || !strings.Contains(h, "retire") {
		t.Errorf("keys rotate --help does not explain --alg and retirement:\n%s", h)
	}
}
