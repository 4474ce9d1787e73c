package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestCRMSyncExample runs the example CRM receiver (examples/crm-sync)
// against the running server: a contact appears when a user is created,
// follows changes, records the CRM invitation a person accepted with the
// organization's roles, and goes when the user is deleted — all from
// signed webhooks and the management API.
func TestCRMSyncExample(t *testing.T) {
	dir := t.TempDir()
	example := filepath.Join(dir, "crm-sync")
	build := exec.Command("go", "build", "-o", example, "../../examples/crm-sync")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the example: %v\n%s", err, out)
	}
	env := childEnv(t, "PORTVAKT_WEBHOOKS_ALLOW_HTTP=true", "PORTVAKT_WEBHOOKS_ALLOW_PRIVATE_NETWORKS=true")
	s := startServe(t, dir, env)
	s.waitReady(15 * time.Second)
	c := newContract(t, mustGet(t, s.base+"/api/v1/openapi.json"))
	admin := apiClient(t, s, dir, env, c, "portvakt:users:write portvakt:orgs:write portvakt:invitations:write")
	if r := runPortvakt(t, dir, env, "role", "create", "--app", "portal", "--name", "buyer"); r.code != 0 {
		t.Fatal(r.stderr)
	}

	// The CRM's API client and its webhook subscription.
	r := runPortvakt(t, dir, env, "client", "create", "--name", "CRM sync", "--type", "confidential",
		"--grant-type", "client_credentials", "--scope", "portvakt:users:read", "--json")
	var cl struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &cl); err != nil {
		t.Fatalf("client create: %v\n%s", err, r.stderr)
	}
	addr := freeAddr(t)
	r = runPortvakt(t, dir, env, "webhook", "create", "--url", "http://"+addr+"/portvakt-webhooks",
		"--event", "user.*", "--event", "membership.*", "--event", "invitation.*", "--json")
	var hook struct {
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &hook); err != nil || hook.Secret == "" {
		t.Fatalf("webhook create: %v\n%s%s", err, r.stdout, r.stderr)
	}
	writeFile(t, filepath.Join(dir, "crm.secret"), cl.Secret)
	writeFile(t, filepath.Join(dir, "hook.secret"), hook.Secret)
	contactsFile := filepath.Join(dir, "contacts.json")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	crm := exec.CommandContext(ctx, example, "-addr", addr, "-issuer", s.base, "-client-id", cl.ID,
		"-client-secret-file", filepath.Join(dir, "crm.secret"), "-webhook-secret-file", filepath.Join(dir, "hook.secret"),
		"-contacts", contactsFile)
	var crmLog lockedBuffer
	crm.Stdout, crm.Stderr = &crmLog, &crmLog
	if err := crm.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = crm.Process.Kill(); _ = crm.Wait() })

	type contact struct {
		Email         string              `json:"email"`
		FamilyName    string              `json:"family_name"`
		ExternalID    string              `json:"external_id"`
		Organizations map[string][]string `json:"organizations"`
		Invitation    string              `json:"invitation"`
	}
	contacts := func() map[string]contact {
		var f struct {
			Contacts map[string]contact `json:"contacts"`
		}
		b, err := os.ReadFile(contactsFile)
		if err == nil {
			_ = json.Unmarshal(b, &f)
		}
		return f.Contacts
	}
	wait := func(what string, ok func(map[string]contact) bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if ok(contacts()) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("the CRM never saw %s; contacts: %+v\nits log:\n%s", what, contacts(), crmLog.String())
	}

	// Created, then changed through the API.
	var u apiUser
	admin.call("POST", "/users", map[string]any{"email": "sync@example.com", "external_id": "CONTACT-1"}, nil, false).decode(t, &u)
	wait("the new user", func(cs map[string]contact) bool {
		return cs[u.ID].Email == "sync@example.com" && cs[u.ID].ExternalID == "CONTACT-1"
	})
	admin.expect(admin.call("PATCH", "/users/"+u.ID, map[string]any{"family_name": "Synk"}, nil, false), 200, "")
	wait("the change", func(cs map[string]contact) bool { return cs[u.ID].FamilyName == "Synk" })

	// The CRM invites; the person registers through the link.
	a := admin.call("POST", "/invitations", map[string]any{"email": "invited@acme.example", "given_name": "Ines",
		"organization": "ext:ACC-1", "create_organization": map[string]any{"name": "Acme", "slug": "acme", "external_id": "ACC-1"},
		"roles": []string{"portal/buyer"}, "reference": "crm-invite-1", "send_email": false}, nil, false)
	admin.expect(a, 201, "")
	var inv struct {
		Link           string `json:"link"`
		OrganizationID string `json:"organization_id"`
	}
	a.decode(t, &inv)
	link, _ := url.Parse(inv.Link)
	registerByInvitation(t, s.base+link.RequestURI())
	var invited apiUser
	var list struct {
		Items []apiUser `json:"items"`
	}
	admin.call("GET", "/users?email=invited@acme.example", nil, nil, false).decode(t, &list)
	if len(list.Items) != 1 {
		t.Fatalf("the invited person's account: %+v", list.Items)
	}
	invited = list.Items[0]
	wait("the accepted invitation", func(cs map[string]contact) bool {
		c := cs[invited.ID]
		return c.Email == "invited@acme.example" && c.Invitation == "crm-invite-1" &&
			strings.Join(c.Organizations[inv.OrganizationID], ",") == "portal/buyer"
	})

	// Deleted: gone from the CRM.
	admin.expect(admin.call("DELETE", "/users/"+u.ID, nil, nil, false), 204, "")
	wait("the deletion", func(cs map[string]contact) bool { _, ok := cs[u.ID]; return !ok && len(cs) > 0 })
}

// mustGet fetches a URL's body.
func mustGet(t *testing.T, u string) []byte {
	t.Helper()
	res, err := httpClient.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	csrfInput   = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	formActions = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
)

// registerByInvitation opens an invitation link and registers with a
// password, as a browser without JavaScript does.
func registerByInvitation(t *testing.T, link string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	res, err := b.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	page := string(body)
	csrf, action := csrfInput.FindStringSubmatch(page), formActions.FindStringSubmatch(page)
	if csrf == nil || action == nil {
		t.Fatalf("the invitation page has no form (%d):\n%s", res.StatusCode, page)
	}
	base, _ := url.Parse(link)
	target, _ := base.Parse(strings.ReplaceAll(action[1], "&amp;", "&"))
	form := url.Values{"csrf_token": {csrf[1]}, "password": {"harbour-violet-engine-58"}, "given_name": {"Ines"}}
	for _, h := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`).FindAllStringSubmatch(page, -1) {
		if h[1] != "csrf_token" {
			form.Set(h[1], strings.ReplaceAll(h[2], "&amp;", "&"))
		}
	}
	res, err = b.PostForm(target.String(), form)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Request.URL.Path, "/account") {
		t.Fatalf("registering through the invitation ended at %s (%d)", res.Request.URL, res.StatusCode)
	}
}
