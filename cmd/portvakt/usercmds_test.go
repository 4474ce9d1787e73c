package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runWithStdin runs the binary with stdin and returns exit code and output.
func runWithStdin(t *testing.T, dir string, env []string, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	_ = cmd.Run()
	r := result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
	checkNoCrash(t, r.stderr)
	return r
}

func TestUserCommands(t *testing.T) {
	dir := t.TempDir()
	env := childEnv(t, "PORTVAKT_LOG_LEVEL=error")

	created := runWithStdin(t, dir, env, "tangerine-orbit-velvet-42\n",
		"user", "create", "--email", "Ada@Example.com", "--password-stdin", "--verified", "--given-name", "Ada", "--json")
	if created.code != 0 {
		t.Fatalf("user create: exit %d: %s", created.code, created.stderr)
	}
	var u map[string]any
	if err := json.Unmarshal([]byte(created.stdout), &u); err != nil {
		t.Fatalf("user create --json printed %q: %v", created.stdout, err)
	}
	if u["email"] != "Ada@Example.com" || u["email_verified"] != true || u["given_name"] != "Ada" || u["id"] == "" {
		t.Errorf("created user = %v", u)
	}
	if strings.Contains(created.stdout+created.stderr, "tangerine") {
		t.Errorf("the password was printed")
	}

	for _, tc := range []struct {
		name, stdin string
		args        []string
		code        int
		want        string
	}{
		{"taken email, any case", "another-long-passphrase-7\n", []string{"user", "create", "--email", "ada@example.com", "--password-stdin"}, 2, "already exists"},
		{"weak password", "password1\n", []string{"user", "create", "--email", "bo@example.com", "--password-stdin"}, 2, "too common"},
		{"empty stdin", "", []string{"user", "create", "--email", "bo@example.com", "--password-stdin"}, 2, "standard input is empty"},
		{"no email", "", []string{"user", "create"}, 2, "--email is required"},
		{"bad email", "", []string{"user", "create", "--email", "not-an-address"}, 2, "email"},
		{"unknown user", "", []string{"user", "get", "nobody@example.com"}, 2, "no such user"},
		{"delete needs --yes", "", []string{"user", "delete", "ada@example.com"}, 2, "--yes"},
		{"export of an unknown user", "", []string{"user", "export", "nobody@example.com"}, 2, "no such user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runWithStdin(t, dir, env, tc.stdin, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d stderr %q, want %d mentioning %q", r.code, r.stderr, tc.code, tc.want)
			}
		})
	}

	status := func(args ...string) string {
		t.Helper()
		r := mustRun(t, dir, env, append(args, "--json")...)
		var m map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
			t.Fatalf("%v printed %q", args, r.stdout)
		}
		return m["status"].(string)
	}
	if got := status("user", "disable", "ada@example.com"); got != "disabled" {
		t.Errorf("after disable: status %q", got)
	}
	if got := status("user", "get", u["id"].(string)); got != "disabled" {
		t.Errorf("get by ID: status %q, want disabled", got)
	}
	if got := status("user", "enable", "ADA@example.com"); got != "active" {
		t.Errorf("after enable: status %q", got)
	}
	list := mustRun(t, dir, env, "user", "list")
	if n := len(nonBlankLines(list.stdout)); n != 1 {
		t.Errorf("user list printed %d users, want 1", n)
	}
	// Everything held about her, as JSON on standard output.
	exported := mustRun(t, dir, env, "user", "export", "ADA@example.com")
	var x struct {
		Format string `json:"format"`
		User   struct {
			ID, Email, GivenName, Status string
		} `json:"user"`
		Events []struct {
			Type, Actor string
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(exported.stdout), &x); err != nil {
		t.Fatalf("user export printed %q: %v", exported.stdout, err)
	}
	var types []string
	for _, e := range x.Events {
		types = append(types, e.Type)
	}
	if x.Format != "portvakt-export/1" || x.User.ID != u["id"] || x.User.Email != "Ada@Example.com" || x.User.Status != "active" ||
		strings.Join(types, " ") != "user.created user.disabled user.enabled" {
		t.Errorf("user export: %+v", x)
	}
	if strings.Contains(exported.stdout, "argon2") {
		t.Error("the export holds the password hash")
	}
	mustRun(t, dir, env, "user", "delete", "ada@example.com", "--yes")
	if r := runPortvakt(t, dir, env, "user", "get", "ada@example.com"); r.code != 2 {
		t.Errorf("get after delete: exit %d, want 2", r.code)
	}
	// The export and the erasure are recorded, without her address.
	db := openRawDB(t, "sqlite://"+filepath.Join(dir, "portvakt-data", "portvakt.db"))
	if n := queryInt(t, db, `SELECT COUNT(*) FROM events WHERE type = 'user.exported' AND actor = 'system:cli'`); n != 1 {
		t.Errorf("user.exported events: %d, want 1", n)
	}
	if n := queryInt(t, db, `SELECT COUNT(*) FROM events WHERE type = 'user.deleted' AND data LIKE '%"reason":"admin"%'`); n != 1 {
		t.Errorf("user.deleted events: %d, want 1", n)
	}
	if n := queryInt(t, db, `SELECT COUNT(*) FROM users`); n != 0 {
		t.Errorf("users left: %d", n)
	}
}

func TestMailListShowsCapturedMail(t *testing.T) {
	dir := t.TempDir()
	env := childEnv(t, "PORTVAKT_LOG_LEVEL=error")
	empty := mustRun(t, dir, env, "mail", "list", "--json")
	if strings.TrimSpace(empty.stdout) != "" {
		t.Errorf("mail list on a fresh database printed %q", empty.stdout)
	}
	if r := runPortvakt(t, dir, env, "mail", "list", "--limit", "0"); r.code != 2 {
		t.Errorf("--limit 0: exit %d, want 2", r.code)
	}
}
