package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portvakt/portvakt/internal/storetest"
)

// clientJSON runs a client command that prints one JSON object and returns
// it, failing the test unless it exits 0 with exactly one line of JSON.
func clientJSON(t *testing.T, dir string, env []string, args ...string) map[string]any {
	t.Helper()
	r := mustRun(t, dir, env, args...)
	if n := len(nonBlankLines(r.stdout)); n != 1 {
		t.Fatalf("portvakt %s printed %d lines, want one JSON object:\n%s", strings.Join(args, " "), n, r.stdout)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatalf("portvakt %s printed %q: %v", strings.Join(args, " "), r.stdout, err)
	}
	return m
}

func clientSecretDigest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

var (
	clientIDPattern     = regexp.MustCompile(`^[A-Za-z0-9]{24}$`)
	clientSecretPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
)

func TestClientCommands(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		dir := t.TempDir()
		dbURL := "sqlite://" + filepath.Join(dir, "portvakt-data", "portvakt.db")
		env := childEnv(t, "PORTVAKT_LOG_LEVEL=error")
		if e.Name == "postgres" {
			dbURL = e.NewURL(t)
			env = append(env, "PORTVAKT_DATABASE_URL="+dbURL)
		}

		// A confidential client: its secret is printed once, stored as a
		// digest and never in an event.
		conf := clientJSON(t, dir, env, "client", "create", "--name", "Webshop", "--type", "confidential",
			"--redirect-uri", "https://shop.example.com/callback", "--redirect-uri", "https://shop.example.com/cb2",
			"--grant-type", "authorization_code,refresh_token", "--grant-type", "client_credentials",
			"--scope", "openid profile", "--scope", "offline_access,portvakt:users:read",
			"--post-logout-redirect-uri", "https://shop.example.com/", "--first-party",
			"--id-token-alg", "ES256", "--access-token-format", "opaque", "--audience", "https://api.example.com",
			"--access-token-lifetime", "5m", "--subject-type", "pairwise", "--require-par",
			"--backchannel-logout-uri", "https://shop.example.com/logout", "--app", "shop", "--json")
		id, _ := conf["client_id"].(string)
		if conf["app"] != "shop" {
			t.Errorf("client create --app: app = %v", conf["app"])
		}
		secret, _ := conf["client_secret"].(string)
		if !clientIDPattern.MatchString(id) || !clientSecretPattern.MatchString(secret) {
			t.Fatalf("client create --json: got client_id %q and client_secret %q, want 24 and 43 URL-safe characters", id, secret)
		}
		for k, want := range map[string]any{
			"name": "Webshop", "type": "confidential", "application_type": "web", "token_endpoint_auth_method": "client_secret_basic",
			"first_party": true, "id_token_alg": "ES256", "access_token_format": "opaque", "subject_type": "pairwise",
			"require_par": true, "access_token_lifetime_seconds": 300.0, "id_token_lifetime_seconds": 600.0,
			"refresh_token_lifetime_seconds": 2592000.0, "backchannel_logout_uri": "https://shop.example.com/logout", "has_secret": true,
		} {
			if conf[k] != want {
				t.Errorf("client create --json: %s is %v, want %v", k, conf[k], want)
			}
		}
		for k, want := range map[string][]any{
			"grant_types":   {"authorization_code", "refresh_token", "client_credentials"},
			"scopes":        {"openid", "profile", "offline_access", "portvakt:users:read"},
			"redirect_uris": {"https://shop.example.com/callback", "https://shop.example.com/cb2"},
		} {
			if got, _ := conf[k].([]any); !slices.Equal(got, want) {
				t.Errorf("client create --json: %s is %v, want %v", k, conf[k], want)
			}
		}
		db := openRawDB(t, dbURL)
		var hash string
		if err := db.QueryRow(`SELECT secret_hash FROM clients WHERE id = $1`, id).Scan(&hash); err != nil {
			t.Fatal(err)
		}
		if hash != clientSecretDigest(secret) {
			t.Errorf("stored secret_hash %q is not the SHA-256 of the printed secret", hash)
		}
		checkNoSecretInDB := func(secrets ...string) {
			t.Helper()
			for _, s := range secrets {
				n := queryInt(t, db, `SELECT COUNT(*) FROM events WHERE data LIKE '%`+s+`%' OR data LIKE '%`+clientSecretDigest(s)+`%'`)
				n += queryInt(t, db, `SELECT COUNT(*) FROM clients WHERE secret_hash = '`+s+`' OR previous_secret_hash = '`+s+`'`)
				if n != 0 {
					t.Errorf("a client secret or its digest is stored in plain or in an event")
				}
			}
		}
		checkNoSecretInDB(secret)

		got := clientJSON(t, dir, env, "client", "get", id, "--json")
		delete(conf, "client_secret")
		if !sameJSONObject(got, conf) {
			t.Errorf("client get --json:\n got %v\nwant %v", got, conf)
		}
		if r := mustRun(t, dir, env, "client", "get", id); strings.Contains(r.stdout, secret) || !strings.Contains(r.stdout, "Webshop") {
			t.Errorf("client get printed %q, want the client without its secret", r.stdout)
		}

		// A public native app: no secret.
		app := clientJSON(t, dir, env, "client", "create", "--name", "Desktop", "--type", "public", "--application-type", "native",
			"--redirect-uri", "http://127.0.0.1/callback", "--redirect-uri", "com.example.desktop:/cb",
			"--grant-type", "authorization_code", "--grant-type", "refresh_token", "--scope", "openid", "--json")
		if _, has := app["client_secret"]; has || app["token_endpoint_auth_method"] != "none" || app["has_secret"] != false {
			t.Errorf("public client create --json: got %v, want no secret and method none", app)
		}

		// Human output says the secret is shown once.
		human := mustRun(t, dir, env, "client", "create", "--name", "Batch", "--type", "confidential",
			"--grant-type", "client_credentials", "--scope", "portvakt:users:read", "--token-endpoint-auth-method", "client_secret_post")
		m := regexp.MustCompile(`(?m)^client_id: +(\S+)\nclient_secret: +(\S+)$`).FindStringSubmatch(human.stdout)
		if m == nil || !strings.Contains(human.stdout, "shown only this once") {
			t.Fatalf("client create printed %q, want client_id, client_secret and that the secret is shown once", human.stdout)
		}
		batch := m[1]

		// private_key_jwt from a key set file: no secret.
		writeFile(t, filepath.Join(dir, "jwks.json"), `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`)
		jwt := clientJSON(t, dir, env, "client", "create", "--name", "Signed", "--type", "confidential",
			"--grant-type", "client_credentials", "--token-endpoint-auth-method", "private_key_jwt", "--jwks-file", "jwks.json", "--json")
		if _, has := jwt["client_secret"]; has || jwt["jwks"] == nil {
			t.Errorf("private_key_jwt client create --json: got %v, want its key set and no secret", jwt)
		}

		for _, tc := range []struct {
			name string
			args []string
			want []string
		}{
			{"implicit grant", []string{"client", "create", "--name", "X", "--type", "public", "--redirect-uri", "https://x.example/cb", "--grant-type", "implicit"},
				[]string{"grant_types (--grant-type)", `unsupported grant type "implicit"`, "authorization_code, refresh_token, client_credentials"}},
			{"password grant", []string{"client", "create", "--name", "X", "--type", "confidential", "--grant-type", "password"},
				[]string{"grant_types (--grant-type)", `unsupported grant type "password"`}},
			{"public client credentials", []string{"client", "create", "--name", "X", "--type", "public", "--grant-type", "client_credentials"},
				[]string{"grant_types (--grant-type)", "confidential"}},
			{"http redirect URI", []string{"client", "create", "--name", "X", "--type", "confidential", "--redirect-uri", "http://shop.example.com/cb"},
				[]string{"redirect_uris (--redirect-uri)", "https"}},
			{"fragment", []string{"client", "create", "--name", "X", "--type", "confidential", "--redirect-uri", "https://shop.example.com/cb#x"},
				[]string{"redirect_uris (--redirect-uri)", "fragment"}},
			{"unknown scope", []string{"client", "create", "--name", "X", "--type", "confidential", "--redirect-uri", "https://x.example/cb", "--scope", "admin"},
				[]string{"scopes (--scope)", `"admin"`}},
			{"no type", []string{"client", "create", "--name", "X"}, []string{"--type is required"}},
			{"no name", []string{"client", "create", "--type", "public", "--redirect-uri", "http://127.0.0.1/cb"}, []string{"name (--name)"}},
			{"private_key_jwt without keys", []string{"client", "create", "--name", "X", "--type", "confidential", "--grant-type", "client_credentials",
				"--token-endpoint-auth-method", "private_key_jwt"}, []string{"jwks (--jwks-file)", "jwks_uri"}},
			{"missing key file", []string{"client", "create", "--name", "X", "--type", "confidential", "--jwks-file", "nowhere.json"}, []string{"--jwks-file"}},
			{"http back-channel logout", []string{"client", "create", "--name", "X", "--type", "confidential", "--redirect-uri", "https://x.example/cb",
				"--backchannel-logout-uri", "http://x.example/logout"}, []string{"backchannel_logout_uri (--backchannel-logout-uri)"}},
			{"short lifetime", []string{"client", "create", "--name", "X", "--type", "confidential", "--redirect-uri", "https://x.example/cb",
				"--access-token-lifetime", "30s"}, []string{"access_token_lifetime (--access-token-lifetime)"}},
			{"bad duration", []string{"client", "create", "--name", "X", "--type", "confidential", "--access-token-lifetime", "soon"}, []string{"--access-token-lifetime"}},
			{"unknown client", []string{"client", "get", "nobody"}, []string{"no such client"}},
			{"delete needs --yes", []string{"client", "delete", id}, []string{"--yes"}},
			{"update without flags", []string{"client", "update", id}, []string{"nothing to change"}},
			{"update the type", []string{"client", "update", id, "--type", "public"}, []string{"type (--type)", "cannot be changed"}},
			{"update to an invalid client", []string{"client", "update", id, "--redirect-uri", ""}, []string{"redirect_uris (--redirect-uri)"}},
			{"rotate a public client", []string{"client", "rotate-secret", app["client_id"].(string)}, []string{"token_endpoint_auth_method", "no secret"}},
			{"negative overlap", []string{"client", "rotate-secret", id, "--overlap", "-1h"}, []string{"overlap (--overlap)"}},
			{"unknown subcommand", []string{"client", "rotate", id}, []string{"unknown command"}},
			{"a bad application name", []string{"client", "update", id, "--app", "My Shop"}, []string{"app (--app)", `"My Shop"`}},
			{"unknown verified attribute", []string{"client", "create", "--name", "X", "--type", "confidential", "--redirect-uri", "https://x.example/cb",
				"--release-verified", "legal_name,passport"}, []string{"release_verified (--release-verified)", `"passport"`, "legal_name, birthdate, national_id"}},
			{"verified attributes without sign-in", []string{"client", "update", batch, "--release-verified", "birthdate"},
				[]string{"release_verified (--release-verified)", "authorization_code"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := runPortvakt(t, dir, env, tc.args...)
				if r.code != exitUsage {
					t.Errorf("exit %d, want %d; stderr %q", r.code, exitUsage, r.stderr)
				}
				line := errorLine(t, r.stderr, true)
				for _, w := range tc.want {
					if !strings.Contains(line, w) {
						t.Errorf("error line %q does not mention %q", line, w)
					}
				}
				if r.stdout != "" {
					t.Errorf("stdout %q, want nothing", r.stdout)
				}
			})
		}

		// Update changes only the fields given.
		up := clientJSON(t, dir, env, "client", "update", id, "--name", "Webshop 2", "--redirect-uri", "https://shop.example.com/new",
			"--first-party=false", "--json")
		if up["name"] != "Webshop 2" || up["first_party"] != false || up["id_token_alg"] != "ES256" || up["require_par"] != true {
			t.Errorf("client update: got %v", up)
		}
		if got, _ := up["redirect_uris"].([]any); !slices.Equal(got, []any{"https://shop.example.com/new"}) {
			t.Errorf("client update: redirect_uris %v, want the one given", up["redirect_uris"])
		}
		if got, _ := up["scopes"].([]any); len(got) != 4 {
			t.Errorf("client update: scopes %v, want the four unchanged", up["scopes"])
		}

		// Verified attributes: none unless given; given, they are listed,
		// shown and stored; '' stops them.
		if got, ok := conf["release_verified"].([]any); !ok || len(got) != 0 {
			t.Errorf("client create --json: release_verified %v, want an empty list", conf["release_verified"])
		}
		rel := clientJSON(t, dir, env, "client", "update", id, "--release-verified", "legal_name,birthdate", "--release-verified", "national_id", "--json")
		if got, _ := rel["release_verified"].([]any); !slices.Equal(got, []any{"legal_name", "birthdate", "national_id"}) {
			t.Errorf("client update --release-verified: release_verified %v, want legal_name, birthdate, national_id", rel["release_verified"])
		}
		if r := mustRun(t, dir, env, "client", "get", id); !strings.Contains(r.stdout, "legal_name birthdate national_id") {
			t.Errorf("client get printed %q, want the verified attributes it receives", r.stdout)
		}
		var stored string
		if err := db.QueryRow(`SELECT release_verified FROM clients WHERE id = $1`, id).Scan(&stored); err != nil || stored != `["legal_name","birthdate","national_id"]` {
			t.Errorf("stored release_verified %q (%v)", stored, err)
		}
		if rel := clientJSON(t, dir, env, "client", "update", id, "--release-verified", "", "--json"); len(rel["release_verified"].([]any)) != 0 {
			t.Errorf("client update --release-verified '': release_verified %v, want none", rel["release_verified"])
		}

		// Rotation: the previous secret stays valid for the overlap.
		before := time.Now()
		rot := clientJSON(t, dir, env, "client", "rotate-secret", id, "--json")
		second, _ := rot["client_secret"].(string)
		until, err := time.Parse(time.RFC3339Nano, rot["previous_secret_valid_until"].(string))
		if rot["client_id"] != id || !clientSecretPattern.MatchString(second) || second == secret || err != nil {
			t.Fatalf("client rotate-secret --json: got %v (%v)", rot, err)
		}
		if d := until.Sub(before); d < 24*time.Hour-time.Minute || d > 24*time.Hour+time.Minute {
			t.Errorf("previous secret valid until %v, want about 24h from now", until)
		}
		var cur, prev string
		if err := db.QueryRow(`SELECT secret_hash, previous_secret_hash FROM clients WHERE id = $1`, id).Scan(&cur, &prev); err != nil {
			t.Fatal(err)
		}
		if cur != clientSecretDigest(second) || prev != clientSecretDigest(secret) {
			t.Errorf("after rotate-secret: stored digests are not those of the new and the old secret")
		}
		r := mustRun(t, dir, env, "client", "rotate-secret", id, "--overlap", "0")
		third := regexp.MustCompile(`(?m)^client_secret: (\S+)$`).FindStringSubmatch(r.stdout)
		if third == nil || !strings.Contains(r.stdout, "shown only this once") || !strings.Contains(r.stdout, "no longer works") {
			t.Fatalf("client rotate-secret --overlap 0 printed %q", r.stdout)
		}
		if queryInt(t, db, `SELECT COUNT(*) FROM clients WHERE id = '`+id+`' AND previous_secret_hash = '' AND previous_secret_expires_at IS NULL`) != 1 {
			t.Errorf("after rotate-secret --overlap 0 the previous secret is still stored")
		}
		checkNoSecretInDB(secret, second, third[1])

		// List, delete.
		list := mustRun(t, dir, env, "client", "list", "--json")
		if n := len(nonBlankLines(list.stdout)); n != 4 {
			t.Errorf("client list --json printed %d lines, want 4", n)
		}
		if table := mustRun(t, dir, env, "client", "list"); !strings.Contains(table.stdout, "CLIENT_ID") || !strings.Contains(table.stdout, batch) {
			t.Errorf("client list printed %q", table.stdout)
		}
		if del := mustRun(t, dir, env, "client", "delete", id, "--yes"); !strings.Contains(del.stdout, id) {
			t.Errorf("client delete printed %q", del.stdout)
		}
		if r := runPortvakt(t, dir, env, "client", "get", id); r.code != exitUsage {
			t.Errorf("client get after delete: exit %d, want %d", r.code, exitUsage)
		}

		rows, err := db.Query(`SELECT type FROM events WHERE subject = $1 ORDER BY position`, "client:"+id)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var types []string
		for rows.Next() {
			var typ string
			if err := rows.Scan(&typ); err != nil {
				t.Fatal(err)
			}
			types = append(types, typ)
		}
		want := []string{"client.created", "client.updated", "client.updated", "client.updated", "client.secret_rotated", "client.secret_rotated", "client.deleted"}
		if !slices.Equal(types, want) {
			t.Errorf("events about the client: got %v, want %v", types, want)
		}
	})
}

// sameJSONObject compares two decoded JSON objects.
func sameJSONObject(a, b map[string]any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
