package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/orgs"
	"github.com/portvakt/portvakt/internal/store"
)

func TestOrgCommands(t *testing.T) {
	dir := t.TempDir()
	env := childEnv(t, "PORTVAKT_LOG_LEVEL=error")
	var org map[string]any
	r := mustRun(t, dir, env, "org", "create", "--name", "Acme Oy", "--slug", "acme", "--external-id", "crm-1042",
		"--domain", "Acme.Example", "--metadata", `{"segment":"enterprise"}`, "--json")
	if err := json.Unmarshal([]byte(r.stdout), &org); err != nil {
		t.Fatalf("org create --json printed %q", r.stdout)
	}
	id, _ := org["id"].(string)
	if id == "" || org["slug"] != "acme" || org["external_id"] != "crm-1042" || org["status"] != "active" ||
		!strings.Contains(r.stdout, `"domains":["acme.example"]`) || !strings.Contains(r.stdout, `"metadata":{"segment":"enterprise"}`) {
		t.Errorf("org create: %s", r.stdout)
	}
	// Found by ID, slug and external ID alike.
	for _, ref := range []string{id, "acme", "ext:crm-1042"} {
		if got := mustRun(t, dir, env, "org", "get", ref, "--json"); !strings.Contains(got.stdout, `"id":"`+id+`"`) {
			t.Errorf("org get %s: %s", ref, got.stdout)
		}
	}
	up := mustRun(t, dir, env, "org", "update", "acme", "--name", "Acme Group Oy", "--domain", "acme.example", "--domain", "acme-group.example", "--json")
	if !strings.Contains(up.stdout, `"name":"Acme Group Oy"`) || !strings.Contains(up.stdout, `"domains":["acme-group.example","acme.example"]`) {
		t.Errorf("org update: %s", up.stdout)
	}
	mustRun(t, dir, env, "org", "create", "--name", "Beta AB", "--slug", "beta")
	if list := mustRun(t, dir, env, "org", "list"); !strings.Contains(list.stdout, "acme") || !strings.Contains(list.stdout, "Beta AB") {
		t.Errorf("org list:\n%s", list.stdout)
	}

	// Roles, and a member holding them.
	role := mustRun(t, dir, env, "role", "create", "--app", "portal", "--name", "buyer", "--permission", "orders:read",
		"--permission", "orders:create", "--description", "Places orders", "--delegable", "--json")
	if !strings.Contains(role.stdout, `"permissions":["orders:read","orders:create"]`) || !strings.Contains(role.stdout, `"delegable":true`) {
		t.Errorf("role create: %s", role.stdout)
	}
	mustRun(t, dir, env, "role", "create", "--app", "portal", "--name", "viewer", "--permission", "orders:read")
	if r := runWithStdin(t, dir, env, "tangerine-orbit-velvet-42\n", "user", "create", "--email", "maria@acme.example", "--password-stdin"); r.code != 0 {
		t.Fatalf("user create: %s", r.stderr)
	}
	add := mustRun(t, dir, env, "org", "member", "add", "acme", "maria@acme.example", "--role", "portal/buyer", "--app", "portal", "--role", "viewer")
	if !strings.Contains(add.stdout, "portal/buyer, portal/viewer") {
		t.Errorf("org member add: %s", add.stdout)
	}
	members := mustRun(t, dir, env, "org", "member", "list", "ext:crm-1042", "--json")
	if !strings.Contains(members.stdout, `"email":"maria@acme.example"`) || !strings.Contains(members.stdout, `"roles":["portal/buyer","portal/viewer"]`) ||
		!strings.Contains(members.stdout, `"profile_confirmed_at":null,"stale":false`) {
		t.Errorf("org member list: %s", members.stdout)
	}
	// A profile last confirmed long ago, in the registry it came from.
	writeFile(t, filepath.Join(dir, "old.jsonl"), `{"email":"olle@acme.example","profile_confirmed_at":"2020-01-02T03:04:05Z"}`+"\n")
	mustRun(t, dir, env, "import", "users", "--file", "old.jsonl")
	mustRun(t, dir, env, "org", "member", "add", "acme", "olle@acme.example")
	if m := mustRun(t, dir, env, "org", "member", "list", "acme"); !strings.Contains(m.stdout, "PROFILE CONFIRMED") ||
		!strings.Contains(m.stdout, "2020-01-02 (may be out of date)") || !strings.Contains(m.stdout, "never") {
		t.Errorf("org member list without the profiles' confirmation:\n%s", m.stdout)
	}
	if m := mustRun(t, dir, append(env, "PORTVAKT_PROFILE_FRESHNESS=0"), "org", "member", "list", "acme"); strings.Contains(m.stdout, "may be out of date") {
		t.Errorf("with profile_freshness 0 a profile is marked:\n%s", m.stdout)
	}
	mustRun(t, dir, env, "org", "member", "remove", "acme", "olle@acme.example")
	mustRun(t, dir, env, "org", "member", "add", "acme", "maria@acme.example", "--role", "portal/viewer")
	if m := mustRun(t, dir, env, "org", "member", "list", "acme"); !strings.Contains(m.stdout, "portal/viewer") || strings.Contains(m.stdout, "buyer") {
		t.Errorf("adding again replaces the roles:\n%s", m.stdout)
	}
	mustRun(t, dir, env, "org", "member", "remove", "acme", "maria@acme.example")
	if m := mustRun(t, dir, env, "org", "member", "list", "acme"); strings.Contains(m.stdout, "maria") {
		t.Errorf("a removed member is listed:\n%s", m.stdout)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"org", "create", "--name", "Again", "--slug", "acme"}, "already exists"},
		{[]string{"org", "create", "--name", "Other", "--slug", "other", "--domain", "acme.example"}, "already exists"},
		{[]string{"org", "create", "--name", "", "--slug", "Bad Slug", "--metadata", "[1]"}, "name (--name)"},
		{[]string{"org", "create", "--name", "", "--slug", "Bad Slug"}, "slug (--slug)"},
		{[]string{"org", "create", "--name", "X", "--slug", "x", "--metadata", "[1]"}, "metadata (--metadata)"},
		{[]string{"org", "update", "acme", "--status", "gone"}, "status (--status)"},
		{[]string{"org", "get", "nobody"}, "not found"},
		{[]string{"org", "get", "ext:nobody"}, "not found"},
		{[]string{"org", "delete", "acme"}, "--yes"},
		{[]string{"org", "member", "add", "acme", "nobody@acme.example", "--role", "portal/viewer"}, "no such user"},
		{[]string{"org", "member", "add", "acme", "maria@acme.example", "--role", "portal/ghost"}, "portal/ghost"},
		{[]string{"org", "member", "add", "acme", "maria@acme.example", "--role", "viewer"}, "roles (--role)"},
		{[]string{"org", "member", "remove", "beta", "maria@acme.example"}, "not found"},
		{[]string{"role", "create", "--app", "Portal", "--name", "x"}, "app (--app)"},
		{[]string{"role", "create", "--app", "portal", "--name", "buyer"}, "already exists"},
		{[]string{"role", "delete", "portal-buyer", "--yes"}, "APP/ROLE"},
		{[]string{"role", "delete", "portvakt/org_admin", "--yes"}, "built in"},
		{[]string{"role", "create", "--app", "portvakt", "--name", "x"}, "Portvakt's own"},
		{[]string{"role", "delete", "portal/buyer"}, "--yes"},
		{[]string{"org", "frobnicate"}, "unknown command"},
		{[]string{"org", "update", "acme", "--sso-provider", "nobody"}, "sso_provider (--sso-provider): no identity provider"},
		{[]string{"org", "create", "--name", "NoDomain", "--slug", "nodomain", "--sso-provider", "entra"}, "sso_provider (--sso-provider)"},
	} {
		r := runPortvakt(t, dir, env, tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("portvakt %s: exit %d, stderr %q; want 2 and %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.want)
		}
	}
	// Invitations: created (the server mails them), listed, withdrawn.
	inv := mustRun(t, dir, env, "org", "invite", "acme", "Nina@Acme.example", "--given-name", "Nina", "--lock", "given_name", "--locale", "sv", "--role", "portal/buyer", "--json")
	var invited map[string]any
	if err := json.Unmarshal([]byte(inv.stdout), &invited); err != nil || invited["status"] != "pending" || invited["email"] != "nina@acme.example" {
		t.Fatalf("org invite: %s", inv.stdout)
	}
	if strings.Contains(inv.stdout, "token") {
		t.Errorf("org invite printed a token: %s", inv.stdout)
	}
	if !strings.Contains(inv.stdout, `"locked_fields":["given_name"]`) {
		t.Errorf("org invite --lock given_name: %s", inv.stdout)
	}
	if l := mustRun(t, dir, env, "org", "invitation", "list", "acme"); !strings.Contains(l.stdout, "nina@acme.example") || !strings.Contains(l.stdout, "pending") {
		t.Errorf("org invitation list:\n%s", l.stdout)
	}
	invID := invited["id"].(string)
	mustRun(t, dir, env, "org", "invitation", "revoke", "acme", invID)
	if l := mustRun(t, dir, env, "org", "invitation", "list", "acme", "--status", "revoked", "--json"); !strings.Contains(l.stdout, `"status":"revoked"`) {
		t.Errorf("after revoking:\n%s", l.stdout)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"org", "invitation", "revoke", "acme", invID}, "accepted, withdrawn or has expired"},
		{[]string{"org", "invitation", "revoke", "beta", invID}, "not found"},
		{[]string{"org", "invite", "acme", "not-an-address"}, "email (EMAIL)"},
		{[]string{"org", "invite", "acme", "x@acme.example", "--role", "portal/ghost"}, "roles (--role)"},
		{[]string{"org", "invite", "acme", "x@acme.example", "--return-to", "https://evil.example/"}, "return_to (--return-to)"},
		{[]string{"org", "invite", "acme", "x@acme.example", "--lock", "family_name"}, "locked_fields (--lock): family_name is locked but not pre-filled"},
	} {
		r := runPortvakt(t, dir, env, tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("portvakt %s: exit %d, stderr %q; want 2 and %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.want)
		}
	}
	// An organization's own identity provider and the roles its people
	// join with.
	mustRun(t, dir, env, "idp", "create", "--id", "entra", "--name", "Acme Entra", "--issuer-url", "https://login.acme.example", "--client-id", "x")
	sso := mustRun(t, dir, env, "org", "update", "acme", "--sso-provider", "entra", "--sso-role", "portal/viewer", "--json")
	if !strings.Contains(sso.stdout, `"sso_provider":"entra"`) || !strings.Contains(sso.stdout, `"sso_roles":["portal/viewer"]`) {
		t.Errorf("org update --sso-provider: %s", sso.stdout)
	}
	mustRun(t, dir, env, "role", "delete", "portal/viewer", "--yes")
	if roles := mustRun(t, dir, env, "role", "list", "--app", "portal"); strings.Contains(roles.stdout, "viewer") || !strings.Contains(roles.stdout, "portal/buyer") {
		t.Errorf("role list after delete:\n%s", roles.stdout)
	}
	if del := mustRun(t, dir, env, "org", "delete", "ext:crm-1042", "--yes"); !strings.Contains(del.stdout, "deleted organization acme") {
		t.Errorf("org delete: %s", del.stdout)
	}
}

func TestOrgJoinRequestCommands(t *testing.T) {
	dir := t.TempDir()
	env := childEnv(t, "PORTVAKT_LOG_LEVEL=error")
	mustRun(t, dir, env, "role", "create", "--app", "portal", "--name", "viewer", "--permission", "orders:read")
	mustRun(t, dir, env, "org", "create", "--name", "Acme Oy", "--slug", "acme", "--domain", "acme.example", "--join-role", "portal/viewer")
	mustRun(t, dir, env, "org", "create", "--name", "Beta AB", "--slug", "beta")
	for _, email := range []string{"eva@acme.example", "fred@acme.example"} {
		if r := runWithStdin(t, dir, env, "tangerine-orbit-velvet-42\n", "user", "create", "--email", email, "--password-stdin", "--verified"); r.code != 0 {
			t.Fatalf("user create: %s", r.stderr)
		}
	}
	// People ask on their account page; here, through the service.
	ids := map[string]string{}
	func() {
		ctx := context.Background()
		st, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "portvakt-data", "portvakt.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		joins := &orgs.Joins{Store: st, Emails: &accounts.Service{Store: st}}
		o, err := st.OrganizationBySlug(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		for _, email := range []string{"eva@acme.example", "fred@acme.example"} {
			u, err := st.UserByEmail(ctx, email)
			if err != nil {
				t.Fatal(err)
			}
			jr, err := joins.Ask(ctx, o.ID, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			ids[email] = jr.ID
		}
	}()

	if l := mustRun(t, dir, env, "org", "join-request", "list", "acme"); !strings.Contains(l.stdout, "eva@acme.example") ||
		!strings.Contains(l.stdout, "fred@acme.example") || strings.Count(l.stdout, "pending") != 2 {
		t.Errorf("org join-request list:\n%s", l.stdout)
	}
	if r := mustRun(t, dir, env, "org", "join-request", "approve", "acme", ids["eva@acme.example"]); !strings.Contains(r.stdout, "approved join request") {
		t.Errorf("org join-request approve: %s", r.stdout)
	}
	if m := mustRun(t, dir, env, "org", "member", "list", "acme"); !strings.Contains(m.stdout, "eva@acme.example") || !strings.Contains(m.stdout, "portal/viewer") {
		t.Errorf("after approving, org member list:\n%s", m.stdout)
	}
	mustRun(t, dir, env, "org", "join-request", "decline", "acme", ids["fred@acme.example"])
	l := mustRun(t, dir, env, "org", "join-request", "list", "acme", "--status", "declined", "--json")
	var out map[string]any
	if err := json.Unmarshal([]byte(l.stdout), &out); err != nil || out["email"] != "fred@acme.example" || out["status"] != "declined" || out["decided_by"] != "system:cli" {
		t.Errorf("org join-request list --status declined --json: %s", l.stdout)
	}
	if m := mustRun(t, dir, env, "org", "member", "list", "acme"); strings.Contains(m.stdout, "fred") {
		t.Errorf("a declined person is a member:\n%s", m.stdout)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"org", "join-request", "approve", "acme", ids["eva@acme.example"]}, "decided already"},
		{[]string{"org", "join-request", "decline", "acme", ids["fred@acme.example"]}, "decided already"},
		{[]string{"org", "join-request", "approve", "beta", ids["eva@acme.example"]}, "not found"},
		{[]string{"org", "join-request", "approve", "acme", "no-such-request"}, "not found"},
		{[]string{"org", "join-request", "list", "nobody"}, "not found"},
	} {
		r := runPortvakt(t, dir, env, tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("portvakt %s: exit %d, stderr %q; want 2 and %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.want)
		}
	}
}
