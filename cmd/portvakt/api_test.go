package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"net/http/httptest"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/portvakt/portvakt/internal/api"
	"github.com/portvakt/portvakt/internal/storetest"
)

// The management API, driven as a CRM drives it: a client registered with
// the CLI gets tokens from the token endpoint (client credentials) and
// calls the running server over HTTP. Every request (except those meant to
// be wrong) and every answer is held to the OpenAPI document the server
// serves.

// contract validates requests and answers against the OpenAPI document.
type contract struct {
	t *testing.T
	v validator.Validator
	// ops are the document's operations ("GET /users/{id}"); mu guards
	// seen, those exercised.
	ops  []string
	mu   sync.Mutex
	seen map[string]bool
}

func newContract(t *testing.T, doc []byte) *contract {
	t.Helper()
	d, err := libopenapi.NewDocument(doc)
	if err != nil {
		t.Fatalf("the OpenAPI document does not parse: %v", err)
	}
	v, errs := validator.NewValidator(d)
	if len(errs) > 0 {
		t.Fatalf("the OpenAPI document cannot be used to validate: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("the OpenAPI document is not valid OpenAPI 3.1: %s (%s)", e.Message, e.Reason)
		}
		t.FailNow()
	}
	var raw struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &raw); err != nil {
		t.Fatal(err)
	}
	c := &contract{t: t, v: v, seen: map[string]bool{}}
	for path, ops := range raw.Paths {
		for method := range ops {
			if method != "parameters" {
				c.ops = append(c.ops, strings.ToUpper(method)+" "+path)
			}
		}
	}
	return c
}

// saw notes the operation a request to path (under /api/v1) is.
func (c *contract) saw(method, path string) {
	path, _, _ = strings.Cut(path, "?")
	got := strings.Split(strings.Trim(path, "/"), "/")
	for _, op := range c.ops {
		m, tmpl, _ := strings.Cut(op, " ")
		want := strings.Split(strings.Trim(tmpl, "/"), "/")
		if m != method || len(want) != len(got) {
			continue
		}
		match := true
		for i := range want {
			if !strings.HasPrefix(want[i], "{") && want[i] != got[i] {
				match = false
				break
			}
		}
		if match {
			c.mu.Lock()
			c.seen[op] = true
			c.mu.Unlock()
			return
		}
	}
}

// everyOperation fails the test for each documented operation no request
// exercised.
func (c *contract) everyOperation() {
	c.t.Helper()
	for _, op := range c.ops {
		if !c.seen[op] {
			c.t.Errorf("the tests never call %s", op)
		}
	}
}

// crm is an API client with one token.
type crm struct {
	t     *testing.T
	base  string
	token string
	c     *contract
	// dir and env run the CLI on the same server.
	dir string
	env []string
}

type apiAnswer struct {
	status int
	header http.Header
	body   []byte
}

func (a apiAnswer) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("decode %s: %v", a.body, err)
	}
}

// problemType is the answer's problem type.
func (a apiAnswer) problemType() string {
	var p struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(a.body, &p)
	return p.Type
}

// call sends a request; body is JSON-encoded unless it is a string or nil.
// A request marked wrong is not held to the document (it is meant not to
// fit); its answer always is.
func (c *crm) call(method, path string, body any, header map[string]string, wrong bool) apiAnswer {
	c.t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			c.t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, c.base+"/api/v1"+path, bytes.NewReader(raw))
	if err != nil {
		c.t.Fatal(err)
	}
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if !wrong {
		check := req.Clone(context.Background())
		check.Body = io.NopCloser(bytes.NewReader(raw))
		if ok, errs := c.c.v.ValidateHttpRequest(check); !ok {
			for _, e := range errs {
				c.t.Errorf("%s %s does not fit the OpenAPI document: %s (%s)", method, path, e.Message, e.Reason)
			}
		}
	}
	c.c.saw(method, path)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	got, _ := io.ReadAll(res.Body)
	check := req.Clone(context.Background())
	check.Body = io.NopCloser(bytes.NewReader(raw))
	res.Body = io.NopCloser(bytes.NewReader(got))
	if ok, errs := c.c.v.ValidateHttpResponse(check, res); !ok {
		for _, e := range errs {
			c.t.Errorf("the answer %d to %s %s does not fit the OpenAPI document: %s (%s)\n%s", res.StatusCode, method, path, e.Message, e.Reason, got)
		}
	}
	return apiAnswer{status: res.StatusCode, header: res.Header, body: got}
}

func (c *crm) expect(a apiAnswer, status int, problem string) {
	c.t.Helper()
	if a.status != status || (problem != "" && a.problemType() != "urn:portvakt:problem:"+problem) {
		c.t.Errorf("got %d %s, want %d %s\n%s", a.status, a.problemType(), status, problem, a.body)
	}
	if a.status >= 400 && a.header.Get("Content-Type") != "application/problem+json" {
		c.t.Errorf("an error answered as %q, want application/problem+json", a.header.Get("Content-Type"))
	}
}

// apiClient registers a client with scopes and returns a CRM holding its
// token.
func apiClient(t *testing.T, s *serveProc, dir string, env []string, c *contract, scopes string, extra ...string) *crm {
	t.Helper()
	r := runPortvakt(t, dir, env, append([]string{"client", "create", "--name", "CRM " + scopes, "--type", "confidential",
		"--grant-type", "client_credentials", "--scope", scopes, "--json"}, extra...)...)
	if r.code != 0 {
		t.Fatalf("client create: %d\n%s", r.code, r.stderr)
	}
	var cl struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &cl); err != nil {
		t.Fatal(err)
	}
	conf := clientcredentials.Config{ClientID: cl.ID, ClientSecret: cl.Secret, TokenURL: s.base + "/oauth/token", Scopes: strings.Fields(scopes)}
	tok, err := conf.Token(context.Background())
	if err != nil {
		t.Fatalf("client credentials token: %v", err)
	}
	return &crm{t: t, base: s.base, token: tok.AccessToken, c: c, dir: dir, env: env}
}

func TestManagementAPI(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		dir := t.TempDir()
		// The test's webhook receiver is on loopback, over http.
		env := childEnv(t, "PORTVAKT_WEBHOOKS_ALLOW_HTTP=true", "PORTVAKT_WEBHOOKS_ALLOW_PRIVATE_NETWORKS=true",
			// The CRM owns the family name (it may change it); the sign-in
			// service owns the language (it may not).
			"PORTVAKT_ATTRIBUTE_OWNERS=family_name=crm,locale=idp")
		if e.Name == "postgres" {
			env = append(env, "PORTVAKT_DATABASE_URL="+e.NewURL(t))
		}
		// Purposes people agree to: terms, and marketing mail.
		conf := dir + "/portvakt.yaml"
		writeFile(t, conf, consentsConfig(""))
		env = append(env, "PORTVAKT_CONFIG="+conf)
		s := startServe(t, dir, env)
		s.waitReady(15 * time.Second)

		res, err := httpClient.Get(s.base + "/api/v1/openapi.json")
		if err != nil {
			t.Fatal(err)
		}
		served, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !bytes.Equal(served, api.OpenAPIDocument()) {
			t.Fatalf("GET /api/v1/openapi.json: %d, %d bytes; want the document", res.StatusCode, len(served))
		}
		c := newContract(t, served)
		admin := apiClient(t, s, dir, env, c, "portvakt:users:write portvakt:orgs:write portvakt:invitations:write portvakt:events:read portvakt:webhooks:write portvakt:roles:write portvakt:clients:write portvakt:idps:write")
		reader := apiClient(t, s, dir, env, c, "portvakt:users:read")
		if r := runPortvakt(t, dir, env, "role", "create", "--app", "portal", "--name", "buyer", "--delegable"); r.code != 0 {
			t.Fatalf("role create: %s", r.stderr)
		}

		t.Run("authentication", func(t *testing.T) { testAPIAuthentication(t, admin, reader) })
		t.Run("users", func(t *testing.T) { testAPIUsers(t, admin, reader) })
		t.Run("organizations", func(t *testing.T) { testAPIOrganizations(t, admin) })
		t.Run("invitations", func(t *testing.T) { testAPIInvitations(t, admin) })
		t.Run("events", func(t *testing.T) { testAPIEvents(t, admin) })
		t.Run("webhooks", func(t *testing.T) { testAPIWebhooks(t, admin) })
		t.Run("roles", func(t *testing.T) { testAPIRoles(t, admin) })
		t.Run("identity providers", func(t *testing.T) { testAPIIdPs(t, admin) })
		t.Run("external IDs", func(t *testing.T) { testAPIExternalIDs(t, admin) })
		t.Run("profile freshness", func(t *testing.T) { testAPIFreshness(t, admin) })
		t.Run("consents", func(t *testing.T) { testAPIConsents(t, admin, reader) })
		t.Run("clients", func(t *testing.T) {
			testAPIClients(t, admin, apiClient(t, s, dir, env, c, "portvakt:clients:write portvakt:users:read"))
		})
		acmeOnly := apiClient(t, s, dir, env, c, "portvakt:users:write portvakt:orgs:write portvakt:invitations:write portvakt:events:read portvakt:webhooks:write portvakt:roles:write portvakt:clients:write",
			"--organization", "acme")
		t.Run("limited to one organization", func(t *testing.T) { testAPIOrgLimited(t, admin, acmeOnly) })
		c.everyOperation()
	})
}

func testAPIAuthentication(t *testing.T, admin, reader *crm) {
	anon := &crm{t: t, base: admin.base, c: admin.c}
	a := anon.call("GET", "/users", nil, nil, false)
	anon.expect(a, 401, "unauthenticated")
	if !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("401 without WWW-Authenticate: Bearer: %v", a.header)
	}
	forged := &crm{t: t, base: admin.base, c: admin.c, token: admin.token + "x"}
	a = forged.call("GET", "/users", nil, nil, false)
	forged.expect(a, 401, "invalid-token")
	if !strings.Contains(a.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate = %q", a.header.Get("WWW-Authenticate"))
	}
	// Read scope only: reading works, writing is refused.
	reader.expect(reader.call("GET", "/users", nil, nil, false), 200, "")
	a = reader.call("POST", "/users", map[string]any{"email": "nope@example.com"}, nil, false)
	reader.expect(a, 403, "insufficient-scope")
	if !strings.Contains(a.header.Get("WWW-Authenticate"), `scope="portvakt:users:write"`) {
		t.Errorf("WWW-Authenticate = %q", a.header.Get("WWW-Authenticate"))
	}
	reader.expect(reader.call("GET", "/organizations", nil, nil, false), 403, "insufficient-scope")
	// A route the document does not have: a problem too.
	req, _ := http.NewRequest("GET", admin.base+"/api/v1/no-such-thing", nil)
	req.Header.Set("Authorization", "Bearer "+admin.token)
	res, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 || res.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("an unknown route: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
}

type apiUser struct {
	ID, Email, GivenName, FamilyName, ExternalID, Phone string
	UpdatedAt                                           time.Time
}

func (u *apiUser) UnmarshalJSON(b []byte) error {
	var v struct {
		ID         string    `json:"id"`
		Email      string    `json:"email"`
		GivenName  string    `json:"given_name"`
		FamilyName string    `json:"family_name"`
		ExternalID string    `json:"external_id"`
		Phone      string    `json:"phone"`
		UpdatedAt  time.Time `json:"updated_at"`
	}
	err := json.Unmarshal(b, &v)
	*u = apiUser{v.ID, v.Email, v.GivenName, v.FamilyName, v.ExternalID, v.Phone, v.UpdatedAt}
	return err
}

func testAPIUsers(t *testing.T, admin, reader *crm) {
	// Validation: every bad field named.
	a := admin.call("POST", "/users", map[string]any{"email": "not-an-address", "phone": "12"}, nil, false)
	admin.expect(a, 400, "validation")
	for _, f := range []string{`"field":"email"`, `"field":"phone"`} {
		if !strings.Contains(string(a.body), f) {
			t.Errorf("validation problem without %s: %s", f, a.body)
		}
	}
	admin.expect(admin.call("POST", "/users", `{"email": "x@example.com", "colour": "red"}`, nil, true), 400, "malformed-request")
	admin.expect(admin.call("POST", "/users", `{"email": `, nil, true), 400, "malformed-request")
	admin.expect(admin.call("POST", "/users", "email=x", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, true), 415, "unsupported-media-type")

	// Created, with its version and place.
	a = admin.call("POST", "/users", map[string]any{"email": "Maria.Berg@Example.com", "given_name": "Maria", "family_name": "Berg",
		"external_id": "crm-100", "locale": "sv", "email_verified": true}, nil, false)
	admin.expect(a, 201, "")
	var maria apiUser
	a.decode(t, &maria)
	if a.header.Get("Location") != "/api/v1/users/"+maria.ID || a.header.Get("ETag") == "" {
		t.Errorf("Location %q, ETag %q", a.header.Get("Location"), a.header.Get("ETag"))
	}
	admin.expect(admin.call("POST", "/users", map[string]any{"email": "maria.berg@example.com"}, nil, false), 409, "conflict")
	admin.expect(admin.call("POST", "/users", map[string]any{"email": "other@example.com", "external_id": "crm-100"}, nil, false), 409, "conflict")
	for i := range 3 {
		admin.expect(admin.call("POST", "/users", map[string]any{"email": fmt.Sprintf("page%d@example.com", i)}, nil, false), 201, "")
	}

	// Found by address (any case) and by external ID.
	var p struct {
		Items      []apiUser `json:"items"`
		NextCursor string    `json:"next_cursor"`
	}
	a = reader.call("GET", "/users?email="+url.QueryEscape("MARIA.BERG@example.com"), nil, nil, false)
	a.decode(t, &p)
	if len(p.Items) != 1 || p.Items[0].ID != maria.ID {
		t.Errorf("by email: %+v", p.Items)
	}
	a = reader.call("GET", "/users?external_id=crm-100", nil, nil, false)
	a.decode(t, &p)
	if len(p.Items) != 1 || p.Items[0].ID != maria.ID {
		t.Errorf("by external ID: %+v", p.Items)
	}
	// Page by page: every user once.
	seen := map[string]bool{}
	for cursor, pages := "", 0; ; pages++ {
		q := "/users?limit=2"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		p.NextCursor = ""
		reader.call("GET", q, nil, nil, false).decode(t, &p)
		for _, u := range p.Items {
			if seen[u.ID] {
				t.Errorf("user %s on two pages", u.ID)
			}
			seen[u.ID] = true
		}
		if p.NextCursor == "" || pages > 10 {
			break
		}
		cursor = p.NextCursor
	}
	if len(seen) != 4 {
		t.Errorf("paging saw %d users, want 4", len(seen))
	}
	// Newest first: the same users, the other way round.
	var newest struct {
		Items []apiUser `json:"items"`
	}
	reader.call("GET", "/users?sort=-created&limit=200", nil, nil, false).decode(t, &newest)
	if len(newest.Items) != 4 || newest.Items[0].Email != "page2@example.com" || newest.Items[3].ID != maria.ID {
		t.Errorf("newest first: %+v", newest.Items)
	}
	reader.expect(reader.call("GET", "/users?sort=name", nil, nil, true), 400, "validation")
	reader.expect(reader.call("GET", "/users?cursor=!!!", nil, nil, true), 400, "validation")
	reader.expect(reader.call("GET", "/users?limit=0", nil, nil, true), 400, "validation")
	reader.expect(reader.call("GET", "/users?updated_since=yesterday", nil, nil, true), 400, "validation")

	// Updated with If-Match; a change based on an old version is refused.
	a = reader.call("GET", "/users/"+maria.ID, nil, nil, false)
	v1 := a.header.Get("ETag")
	a = admin.call("PATCH", "/users/"+maria.ID, map[string]any{"family_name": "Berg-Lind", "phone": "+46701234567"}, map[string]string{"If-Match": v1}, false)
	admin.expect(a, 200, "")
	var changed apiUser
	a.decode(t, &changed)
	if changed.FamilyName != "Berg-Lind" || changed.Phone != "+46701234567" || changed.GivenName != "Maria" || a.header.Get("ETag") == v1 {
		t.Errorf("after the change: %+v, ETag %q (was %q)", changed, a.header.Get("ETag"), v1)
	}
	admin.expect(admin.call("PATCH", "/users/"+maria.ID, map[string]any{"family_name": "Lost"}, map[string]string{"If-Match": v1}, false), 412, "precondition-failed")
	admin.expect(admin.call("PATCH", "/users/"+maria.ID, map[string]any{"phone": "12"}, nil, false), 400, "validation")
	// The language is the identity provider's: not the CRM's to change.
	a = admin.call("PATCH", "/users/"+maria.ID, map[string]any{"locale": "fi", "given_name": "Mia"}, nil, false)
	admin.expect(a, 400, "validation")
	var owned struct {
		Errors []struct{ Field, Code, Message string } `json:"errors"`
	}
	a.decode(t, &owned)
	if len(owned.Errors) != 1 || owned.Errors[0].Field != "locale" || owned.Errors[0].Code != "owned_by_idp" || !strings.Contains(owned.Errors[0].Message, "identity provider") {
		t.Errorf("a change of an IdP-owned field: %s", a.body)
	}
	a = reader.call("GET", "/users/"+maria.ID, nil, nil, false)
	reader.decodeUser(a, &changed)
	if changed.FamilyName != "Berg-Lind" {
		t.Errorf("a refused change was kept: %+v", changed)
	}
	updated := changed.UpdatedAt
	a = reader.call("GET", "/users?updated_since="+url.QueryEscape(updated.Format(time.RFC3339Nano)), nil, nil, false)
	a.decode(t, &p)
	if len(p.Items) != 1 || p.Items[0].ID != maria.ID {
		t.Errorf("updated since the change: %+v", p.Items)
	}

	// Everything held about her, in the shape of the person's own
	// download; recorded as an export by the client.
	a = reader.call("GET", "/users/"+maria.ID+"/export", nil, nil, false)
	reader.expect(a, 200, "")
	var x struct {
		Format string `json:"format"`
		User   struct {
			ID         string `json:"id"`
			Email      string `json:"email"`
			FamilyName string `json:"family_name"`
			Phone      string `json:"phone"`
			ExternalID string `json:"external_id"`
		} `json:"user"`
		Events []struct {
			Type string `json:"type"`
		} `json:"events"`
	}
	a.decode(t, &x)
	if x.Format != "portvakt-export/1" || x.User.ID != maria.ID || x.User.Email != "Maria.Berg@Example.com" || x.User.FamilyName != "Berg-Lind" ||
		x.User.Phone != "+46701234567" || x.User.ExternalID != "crm-100" || len(x.Events) < 2 || x.Events[0].Type != "user.created" {
		t.Errorf("export: %+v", x)
	}
	if a.header.Get("Cache-Control") != "no-store" {
		t.Errorf("export Cache-Control %q", a.header.Get("Cache-Control"))
	}
	reader.expect(reader.call("GET", "/users/no-such-user/export", nil, nil, false), 404, "not-found")

	// Deleted; then gone.
	admin.expect(admin.call("DELETE", "/users/"+maria.ID, nil, map[string]string{"If-Match": v1}, false), 412, "precondition-failed")
	admin.expect(admin.call("DELETE", "/users/"+maria.ID, nil, nil, false), 204, "")
	admin.expect(admin.call("GET", "/users/"+maria.ID, nil, nil, false), 404, "not-found")
	admin.expect(admin.call("PATCH", "/users/"+maria.ID, map[string]any{"given_name": "X"}, nil, false), 404, "not-found")
}

func (c *crm) decodeUser(a apiAnswer, u *apiUser) { a.decode(c.t, u) }

func testAPIOrganizations(t *testing.T, admin *crm) {
	a := admin.call("POST", "/organizations", map[string]any{"name": "Acme Oy", "slug": "acme", "external_id": "crm-acc-1", "domains": []string{"acme.example"}}, nil, false)
	admin.expect(a, 201, "")
	var acme struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	a.decode(t, &acme)
	admin.expect(admin.call("POST", "/organizations", map[string]any{"name": "Other", "slug": "acme"}, nil, false), 409, "conflict")
	admin.expect(admin.call("POST", "/organizations", map[string]any{"name": "", "slug": "Not A Slug"}, nil, false), 400, "validation")
	// Read by ID, slug and external ID alike.
	for _, ref := range []string{acme.ID, "acme", "ext:crm-acc-1"} {
		if a := admin.call("GET", "/organizations/"+url.PathEscape(ref), nil, nil, false); a.status != 200 {
			t.Errorf("GET /organizations/%s = %d", ref, a.status)
		}
	}
	a = admin.call("GET", "/organizations?external_id=crm-acc-1", nil, nil, false)
	if !strings.Contains(string(a.body), acme.ID) {
		t.Errorf("by external ID: %s", a.body)
	}
	v1 := admin.call("GET", "/organizations/acme", nil, nil, false).header.Get("ETag")
	admin.expect(admin.call("PATCH", "/organizations/acme", map[string]any{"name": "Acme Group Oy"}, map[string]string{"If-Match": v1}, false), 200, "")
	admin.expect(admin.call("PATCH", "/organizations/acme", map[string]any{"name": "Lost Oy"}, map[string]string{"If-Match": v1}, false), 412, "precondition-failed")
	admin.expect(admin.call("PATCH", "/organizations/acme", map[string]any{"status": "asleep"}, nil, true), 400, "validation")

	// Members.
	a = admin.call("POST", "/users", map[string]any{"email": "member@acme.example"}, nil, false)
	var u apiUser
	a.decode(t, &u)
	admin.expect(admin.call("PUT", "/organizations/acme/members/"+u.ID, map[string]any{"roles": []string{"portal/buyer"}}, nil, false), 201, "")
	admin.expect(admin.call("PUT", "/organizations/acme/members/"+u.ID, map[string]any{"roles": []string{"portal/buyer"}}, nil, false), 200, "")
	admin.expect(admin.call("PUT", "/organizations/acme/members/"+u.ID, map[string]any{"roles": []string{"portal/owner"}}, nil, false), 400, "validation")
	admin.expect(admin.call("PUT", "/organizations/acme/members/no-such-user", map[string]any{"roles": []string{}}, nil, false), 404, "not-found")
	var members struct {
		Items []apiUser `json:"items"`
	}
	admin.call("GET", "/users?org=acme", nil, nil, false).decode(t, &members)
	if len(members.Items) != 1 || members.Items[0].ID != u.ID {
		t.Errorf("users of acme: %+v", members.Items)
	}
	admin.call("GET", "/users?org=nowhere", nil, nil, false).decode(t, &members)
	if len(members.Items) != 0 {
		t.Errorf("users of an organization that does not exist: %+v", members.Items)
	}
	a = admin.call("GET", "/organizations/acme/members", nil, nil, false)
	if !strings.Contains(string(a.body), `"portal/buyer"`) {
		t.Errorf("members: %s", a.body)
	}
	admin.expect(admin.call("GET", "/organizations/acme/members/"+u.ID, nil, nil, false), 200, "")
	admin.expect(admin.call("DELETE", "/organizations/acme/members/"+u.ID, nil, nil, false), 204, "")
	admin.expect(admin.call("DELETE", "/organizations/acme/members/"+u.ID, nil, nil, false), 404, "not-found")

	admin.expect(admin.call("POST", "/organizations", map[string]any{"name": "Gone", "slug": "gone"}, nil, false), 201, "")
	admin.expect(admin.call("DELETE", "/organizations/gone", nil, nil, false), 204, "")
	admin.expect(admin.call("GET", "/organizations/gone", nil, nil, false), 404, "not-found")
}

func testAPIInvitations(t *testing.T, admin *crm) {
	body := map[string]any{"email": "new.person@globex.example", "given_name": "Nina", "family_name": "Nyberg", "locale": "fi",
		"organization": "ext:crm-acc-2", "create_organization": map[string]any{"name": "Globex", "slug": "globex", "external_id": "crm-acc-2"},
		"roles": []string{"portal/buyer"}, "reference": "crm-invite-9", "send_email": false, "locked_fields": []string{"family_name"}}
	key := map[string]string{"Idempotency-Key": "invite-nina-1"}
	a := admin.call("POST", "/invitations", body, key, false)
	admin.expect(a, 201, "")
	var inv struct {
		ID, Link, Status, Reference, Delivery, OrganizationID string
	}
	var raw map[string]any
	a.decode(t, &raw)
	inv.ID, _ = raw["id"].(string)
	inv.Link, _ = raw["link"].(string)
	inv.Reference, _ = raw["reference"].(string)
	inv.Delivery, _ = raw["delivery"].(string)
	if inv.ID == "" || !strings.Contains(inv.Link, "/invitation?token=") || inv.Reference != "crm-invite-9" || inv.Delivery != "link" {
		t.Fatalf("the invitation: %s", a.body)
	}
	if locked, _ := raw["locked_fields"].([]any); len(locked) != 1 || locked[0] != "family_name" {
		t.Errorf("the invitation's locked fields: %v, want [family_name]", raw["locked_fields"])
	}
	// Only a pre-filled field can be locked.
	admin.expect(admin.call("POST", "/invitations", map[string]any{"email": "x@globex.example", "organization": "ext:crm-acc-2",
		"locked_fields": []string{"phone"}}, nil, false), 400, "validation")
	// The CRM retries (a timeout): the same answer, not a second invitation.
	again := admin.call("POST", "/invitations", body, key, false)
	admin.expect(again, 201, "")
	if again.header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(again.body, a.body) {
		t.Errorf("a retry: replayed %q, body %s", again.header.Get("Idempotent-Replayed"), again.body)
	}
	// The same key for another request is refused.
	other := maps(body, "email", "someone.else@globex.example")
	admin.expect(admin.call("POST", "/invitations", other, key, false), 422, "idempotency-key-reused")

	// The link, on the issuer (the default one here, so fetched from
	// the server's address), opens the pre-filled registration.
	if !strings.HasPrefix(inv.Link, "http://localhost:8080/invitation?token=") {
		t.Errorf("the link %q is not on the issuer", inv.Link)
	}
	link, _ := url.Parse(inv.Link)
	res, err := httpClient.Get(admin.base + link.RequestURI())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(page), `value="new.person@globex.example"`) || !strings.Contains(string(page), `value="Nina"`) {
		t.Errorf("the invitation link: %d\n%s", res.StatusCode, page)
	}

	got := admin.call("GET", "/invitations/"+inv.ID, nil, nil, false)
	admin.expect(got, 200, "")
	if strings.Contains(string(got.body), "token=") {
		t.Errorf("the link is shown again: %s", got.body)
	}
	admin.expect(admin.call("POST", "/invitations/"+inv.ID+"/revoke", nil, nil, false), 200, "")
	admin.expect(admin.call("POST", "/invitations/"+inv.ID+"/revoke", nil, nil, false), 409, "invitation-not-pending")
	res, err = httpClient.Get(admin.base + link.RequestURI())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusGone {
		t.Errorf("a revoked link: %d, want 410", res.StatusCode)
	}

	// Mailed (the default), into an organization named by slug: the
	// answer has the link the mail carries.
	a = admin.call("POST", "/invitations", map[string]any{"email": "mailed@acme.example", "organization": "acme", "roles": []string{"portal/buyer"}}, nil, false)
	admin.expect(a, 201, "")
	var mailed struct {
		Link     string `json:"link"`
		Delivery string `json:"delivery"`
	}
	a.decode(t, &mailed)
	if mailed.Delivery != "email" || !strings.Contains(mailed.Link, "/invitation?token=") {
		t.Errorf("a mailed invitation: %s", a.body)
	}
	// Once the mailer has sent it (it would replace a token it did not
	// reuse), the link still opens the form.
	mailedLink, _ := url.Parse(mailed.Link)
	waitFor(t, 10*time.Second, "the invitation mail with the link the answer gave", func() bool {
		r := runPortvakt(t, admin.dir, admin.env, "mail", "list", "--json")
		return strings.Contains(r.stdout, mailed.Link)
	})
	res, err = httpClient.Get(admin.base + mailedLink.RequestURI())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("the link of a mailed invitation, after the mail: %d, want 200", res.StatusCode)
	}
	admin.expect(admin.call("POST", "/invitations", map[string]any{"email": "x@acme.example", "organization": "nowhere"}, nil, false), 404, "not-found")
	admin.expect(admin.call("POST", "/invitations", map[string]any{"email": "x@acme.example"}, nil, true), 400, "validation")
	admin.expect(admin.call("POST", "/invitations", map[string]any{"email": "x@acme.example", "organization": "acme", "roles": []string{"portal/nothing"}}, nil, false), 400, "validation")
	admin.expect(admin.call("GET", "/invitations/nope", nil, nil, false), 404, "not-found")
}

// maps returns a copy of m with k set to v.
func maps(m map[string]any, k string, v any) map[string]any {
	out := map[string]any{}
	for kk, vv := range m {
		out[kk] = vv
	}
	out[k] = v
	return out
}

// testAPIEvents follows a user's life in the event log, as a CRM that
// keeps no webhook endpoint does.
func testAPIEvents(t *testing.T, admin *crm) {
	type event struct {
		ID       string         `json:"id"`
		Position int64          `json:"position"`
		Type     string         `json:"type"`
		Subject  string         `json:"subject"`
		Actor    string         `json:"actor"`
		Data     map[string]any `json:"data"`
	}
	var head struct {
		Items []event `json:"items"`
		After int64   `json:"after"`
	}
	// Read to the end first.
	for {
		admin.call("GET", fmt.Sprintf("/events?after=%d&limit=200", head.After), nil, nil, false).decode(t, &head)
		if len(head.Items) < 200 {
			break
		}
	}
	from := head.After
	a := admin.call("POST", "/users", map[string]any{"email": "followed@example.com", "external_id": "crm-777"}, nil, false)
	var u apiUser
	a.decode(t, &u)
	admin.expect(admin.call("PATCH", "/users/"+u.ID, map[string]any{"given_name": "Fia"}, nil, false), 200, "")
	admin.expect(admin.call("DELETE", "/users/"+u.ID, nil, nil, false), 204, "")

	var p struct {
		Items []event `json:"items"`
		After int64   `json:"after"`
	}
	q := url.Values{"after": {fmt.Sprint(from)}, "type": {"user.*"}, "subject": {"user:" + u.ID}}
	admin.call("GET", "/events?"+q.Encode(), nil, nil, false).decode(t, &p)
	var types []string
	for _, e := range p.Items {
		types = append(types, e.Type)
		if e.Actor != "client:"+strings.TrimPrefix(e.Actor, "client:") || e.Subject != "user:"+u.ID || e.ID == "" {
			t.Errorf("event %+v", e)
		}
	}
	if strings.Join(types, " ") != "user.created user.updated user.deleted" {
		t.Fatalf("the user's events: %v", types)
	}
	// The deletion erased the person's names from the events that stay;
	// the record of what changed stays.
	changes, _ := p.Items[1].Data["changes"].(map[string]any)
	given, _ := changes["given_name"].(map[string]any)
	if given["old"] != "" || given["new"] != "[erased]" {
		t.Errorf("user.updated data after the erasure: %v", p.Items[1].Data)
	}
	if p.Items[2].Data["external_id"] != "crm-777" || p.Items[2].Data["reason"] != "admin" {
		t.Errorf("user.deleted data: %v", p.Items[2].Data)
	}
	if p.After != p.Items[2].Position {
		t.Errorf("after = %d, want the last position %d", p.After, p.Items[2].Position)
	}
	admin.call("GET", fmt.Sprintf("/events?after=%d&type=user.deleted", p.After), nil, nil, false).decode(t, &p)
	if len(p.Items) != 0 {
		t.Errorf("after the end: %+v", p.Items)
	}
	admin.expect(admin.call("GET", "/events?type=USER", nil, nil, false), 400, "validation")
	admin.expect(admin.call("GET", "/events?after=-1", nil, nil, true), 400, "validation")
}

// testAPIOrgLimited: a client limited to Acme sees and changes Acme, its
// members and its invitations, and nothing of any other organization or
// person: those answer 404 as if they did not exist, or 403 for what it
// may never do.
func testAPIOrgLimited(t *testing.T, admin, acme *crm) {
	// Globex (made by the invitation test) and a member of it; Acme and a
	// member of it.
	mk := func(email string) string {
		var u apiUser
		admin.call("POST", "/users", map[string]any{"email": email}, nil, false).decode(t, &u)
		return u.ID
	}
	outsider, insider := mk("outsider@globex.example"), mk("insider@acme.example")
	admin.expect(admin.call("PUT", "/organizations/globex/members/"+outsider, map[string]any{"roles": []string{}}, nil, false), 201, "")
	admin.expect(admin.call("PUT", "/organizations/acme/members/"+insider, map[string]any{"roles": []string{}}, nil, false), 201, "")
	var globex struct {
		ID string `json:"id"`
	}
	admin.call("GET", "/organizations/globex", nil, nil, false).decode(t, &globex)

	// Its own.
	acme.expect(acme.call("GET", "/organizations/acme", nil, nil, false), 200, "")
	acme.expect(acme.call("PATCH", "/organizations/acme", map[string]any{"name": "Acme Oy"}, nil, false), 200, "")
	acme.expect(acme.call("GET", "/users/"+insider, nil, nil, false), 200, "")
	acme.expect(acme.call("PATCH", "/users/"+insider, map[string]any{"given_name": "Ida"}, nil, false), 200, "")
	acme.expect(acme.call("PUT", "/organizations/acme/members/"+insider, map[string]any{"roles": []string{"portal/buyer"}}, nil, false), 200, "")
	var list struct {
		Items []apiUser `json:"items"`
	}
	acme.call("GET", "/users?limit=200", nil, nil, false).decode(t, &list)
	for _, u := range list.Items {
		if u.ID == outsider {
			t.Errorf("the user list shows a person of another organization")
		}
	}
	if len(list.Items) == 0 {
		t.Errorf("the user list is empty, want Acme's members")
	}
	var orgsList struct {
		Items []struct {
			Slug string `json:"slug"`
		} `json:"items"`
	}
	acme.call("GET", "/organizations", nil, nil, false).decode(t, &orgsList)
	if len(orgsList.Items) != 1 || orgsList.Items[0].Slug != "acme" {
		t.Errorf("the organization list: %+v, want Acme only", orgsList.Items)
	}
	a := acme.call("POST", "/invitations", map[string]any{"email": "colleague@acme.example", "organization": "acme"}, nil, false)
	acme.expect(a, 201, "")
	var inv struct {
		ID string `json:"id"`
	}
	a.decode(t, &inv)
	acme.expect(acme.call("GET", "/invitations/"+inv.ID, nil, nil, false), 200, "")

	// Anything of another organization, as if it did not exist.
	for _, ref := range []string{"globex", globex.ID, "ext:crm-acc-2"} {
		p := "/organizations/" + url.PathEscape(ref)
		acme.expect(acme.call("GET", p, nil, nil, false), 404, "not-found")
		acme.expect(acme.call("PATCH", p, map[string]any{"name": "Mine now"}, nil, false), 404, "not-found")
		acme.expect(acme.call("GET", p+"/members", nil, nil, false), 404, "not-found")
		acme.expect(acme.call("GET", p+"/members/"+outsider, nil, nil, false), 404, "not-found")
		acme.expect(acme.call("PUT", p+"/members/"+insider, map[string]any{"roles": []string{}}, nil, false), 404, "not-found")
		acme.expect(acme.call("DELETE", p+"/members/"+outsider, nil, nil, false), 404, "not-found")
	}
	acme.expect(acme.call("GET", "/users/"+outsider, nil, nil, false), 404, "not-found")
	acme.expect(acme.call("PATCH", "/users/"+outsider, map[string]any{"given_name": "X"}, nil, false), 404, "not-found")
	acme.expect(acme.call("GET", "/users/"+outsider+"/consents", nil, nil, false), 404, "not-found")
	acme.expect(acme.call("POST", "/users/"+outsider+"/consents", map[string]any{"purpose": "marketing_email", "action": "granted"}, nil, false), 404, "not-found")
	acme.expect(acme.call("GET", "/users/"+insider+"/consents", nil, nil, false), 200, "")
	if a := acme.call("GET", "/users?org=globex", nil, nil, false); strings.Contains(string(a.body), outsider) {
		t.Errorf("the outsider listed through ?org: %s", a.body)
	}
	if a := acme.call("GET", "/users?email=outsider@globex.example", nil, nil, false); strings.Contains(string(a.body), outsider) {
		t.Errorf("the outsider found by address: %s", a.body)
	}
	acme.expect(acme.call("POST", "/invitations", map[string]any{"email": "x@globex.example", "organization": "globex"}, nil, false), 404, "not-found")
	var globexInv struct {
		ID string `json:"id"`
	}
	admin.call("POST", "/invitations", map[string]any{"email": "y@globex.example", "organization": "globex"}, nil, false).decode(t, &globexInv)
	acme.expect(acme.call("GET", "/invitations/"+globexInv.ID, nil, nil, false), 404, "not-found")
	acme.expect(acme.call("POST", "/invitations/"+globexInv.ID+"/revoke", nil, nil, false), 404, "not-found")
	// An outsider cannot be pulled in by ID: people join by invitation.
	acme.expect(acme.call("PUT", "/organizations/acme/members/"+outsider, map[string]any{"roles": []string{}}, nil, false), 404, "not-found")

	// What it may never do.
	acme.expect(acme.call("POST", "/organizations", map[string]any{"name": "New", "slug": "new-org"}, nil, false), 403, "organization-limited")
	acme.expect(acme.call("DELETE", "/organizations/acme", nil, nil, false), 403, "organization-limited")
	acme.expect(acme.call("POST", "/users", map[string]any{"email": "free@example.com"}, nil, false), 403, "organization-limited")
	acme.expect(acme.call("DELETE", "/users/"+insider, nil, nil, false), 403, "organization-limited")
	acme.expect(acme.call("GET", "/users/"+insider+"/export", nil, nil, false), 403, "organization-limited")
	acme.expect(acme.call("POST", "/invitations", map[string]any{"email": "z@new.example", "organization": "ext:crm-new",
		"create_organization": map[string]any{"name": "New", "slug": "new-org-2", "external_id": "crm-new"}}, nil, false), 403, "organization-limited")

	// Its events: Acme's only.
	var evs struct {
		Items []struct {
			Subject string `json:"subject"`
		} `json:"items"`
	}
	acme.call("GET", "/events?limit=200", nil, nil, false).decode(t, &evs)
	for _, e := range evs.Items {
		if e.Subject != "org:"+strings.TrimPrefix(e.Subject, "org:") || strings.Contains(e.Subject, globex.ID) {
			t.Errorf("an event about %s", e.Subject)
		}
	}
	if len(evs.Items) == 0 {
		t.Errorf("no events about Acme")
	}
	acme.expect(acme.call("GET", "/events?"+url.Values{"subject": {"org:" + globex.ID}}.Encode(), nil, nil, false), 403, "organization-limited")
	acme.expect(acme.call("GET", "/webhooks", nil, nil, false), 403, "organization-limited")
	acme.expect(acme.call("POST", "/roles", map[string]any{"app": "portal", "name": "spy"}, nil, false), 403, "organization-limited")
	acme.expect(acme.call("DELETE", "/roles/portal/buyer", nil, nil, false), 403, "organization-limited")
	acme.expect(acme.call("GET", "/clients", nil, nil, false), 403, "organization-limited")
	acme.expect(acme.call("GET", "/identity-providers", nil, nil, false), 403, "insufficient-scope")
}

// apiHookReceiver is a webhook endpoint that verifies signatures with the
// Standard Webhooks library and keeps what it got.
type apiHookReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	secret string
	got    []apiReceivedHook
	bad    int
}

type apiReceivedHook struct {
	id, typ string
	subject string
	details map[string]any
}

func newAPIHookReceiver(t *testing.T) *apiHookReceiver {
	h := &apiHookReceiver{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		wh, err := standardwebhooks.NewWebhook(h.secret)
		if err == nil {
			err = wh.Verify(body, r.Header)
		}
		if err != nil {
			h.bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var m struct {
			Type string `json:"type"`
			Data struct {
				Subject string         `json:"subject"`
				Details map[string]any `json:"details"`
			} `json:"data"`
		}
		_ = json.Unmarshal(body, &m)
		h.got = append(h.got, apiReceivedHook{id: r.Header.Get("webhook-id"), typ: m.Type, subject: m.Data.Subject, details: m.Data.Details})
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *apiHookReceiver) setSecret(s string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.secret = s
}

// waitFor waits until the receiver got a hook of typ about subject.
func (h *apiHookReceiver) waitFor(t *testing.T, typ, subject string) apiReceivedHook {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		for _, g := range h.got {
			if g.typ == typ && g.subject == subject {
				h.mu.Unlock()
				return g
			}
		}
		h.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %s webhook about %s arrived; got %+v (bad signatures: %d)", typ, subject, h.got, h.bad)
	return apiReceivedHook{}
}

func (h *apiHookReceiver) count(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, g := range h.got {
		if g.id == id {
			n++
		}
	}
	return n
}

// testAPIWebhooks subscribes a receiver through the API; a change made
// through the API reaches it signed; its delivery and attempts are listed
// and it can be sent again with the same webhook-id.
func testAPIWebhooks(t *testing.T, admin *crm) {
	rcv := newAPIHookReceiver(t)
	admin.expect(admin.call("POST", "/webhooks", map[string]any{"url": "ftp://example.com/x", "event_types": []string{"user.*"}}, nil, false), 400, "validation")
	admin.expect(admin.call("POST", "/webhooks", map[string]any{"url": rcv.URL, "event_types": []string{"no such pattern!"}}, nil, false), 400, "validation")
	a := admin.call("POST", "/webhooks", map[string]any{"url": rcv.URL, "event_types": []string{"user.*"}, "description": "CRM"}, nil, false)
	admin.expect(a, 201, "")
	var sub struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	a.decode(t, &sub)
	if !strings.HasPrefix(sub.Secret, "whsec_") {
		t.Fatalf("the subscription's secret: %q", sub.Secret)
	}
	rcv.setSecret(sub.Secret)
	if g := admin.call("GET", "/webhooks/"+sub.ID, nil, nil, false); strings.Contains(string(g.body), "whsec_") {
		t.Errorf("the secret is shown again: %s", g.body)
	}
	admin.expect(admin.call("GET", "/webhooks", nil, nil, false), 200, "")

	var u apiUser
	admin.call("POST", "/users", map[string]any{"email": "hooked@example.com"}, nil, false).decode(t, &u)
	admin.expect(admin.call("PATCH", "/users/"+u.ID, map[string]any{"family_name": "Krok"}, nil, false), 200, "")
	got := rcv.waitFor(t, "user.updated", "user:"+u.ID)
	if changes, _ := got.details["changes"].(map[string]any); changes["family_name"] == nil {
		t.Errorf("user.updated details: %v", got.details)
	}

	var dl struct {
		Items []struct {
			ID        string `json:"id"`
			EventType string `json:"event_type"`
			Status    string `json:"status"`
		} `json:"items"`
	}
	admin.call("GET", "/webhooks/"+sub.ID+"/deliveries?status=delivered", nil, nil, false).decode(t, &dl)
	var delivery string
	for _, d := range dl.Items {
		if d.ID == got.id {
			delivery = d.ID
		}
	}
	if delivery == "" {
		t.Fatalf("the delivery %s is not listed as delivered: %+v", got.id, dl.Items)
	}
	var at struct {
		Items []struct {
			StatusCode int `json:"status_code"`
		} `json:"items"`
	}
	admin.call("GET", "/webhooks/"+sub.ID+"/deliveries/"+delivery+"/attempts", nil, nil, false).decode(t, &at)
	if len(at.Items) != 1 || at.Items[0].StatusCode != 204 {
		t.Errorf("attempts: %+v", at.Items)
	}
	admin.expect(admin.call("GET", "/webhooks/"+sub.ID+"/deliveries?status=sideways", nil, nil, true), 400, "validation")
	admin.expect(admin.call("GET", "/webhooks/nope/deliveries", nil, nil, false), 404, "not-found")
	admin.expect(admin.call("GET", "/webhooks/"+sub.ID+"/deliveries/nope/attempts", nil, nil, false), 404, "not-found")

	// Sent again on request: the same webhook-id.
	admin.expect(admin.call("POST", "/webhooks/"+sub.ID+"/deliveries/"+delivery+"/replay", nil, nil, false), 202, "")
	deadline := time.Now().Add(20 * time.Second)
	for rcv.count(delivery) < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := rcv.count(delivery); n != 2 {
		t.Errorf("after a replay the receiver got webhook-id %s %d times, want 2", delivery, n)
	}
	var replayed struct {
		Replayed int `json:"replayed"`
	}
	admin.call("POST", "/webhooks/"+sub.ID+"/replay-dead", nil, nil, false).decode(t, &replayed)
	if replayed.Replayed != 0 {
		t.Errorf("replay-dead with none dead: %d", replayed.Replayed)
	}

	// A new secret; then disabled, then gone.
	a = admin.call("POST", "/webhooks/"+sub.ID+"/rotate-secret", map[string]any{"overlap_seconds": 0}, nil, false)
	admin.expect(a, 200, "")
	var rotated struct {
		Secret string `json:"secret"`
	}
	a.decode(t, &rotated)
	if rotated.Secret == sub.Secret || !strings.HasPrefix(rotated.Secret, "whsec_") {
		t.Errorf("the rotated secret: %q", rotated.Secret)
	}
	a = admin.call("PATCH", "/webhooks/"+sub.ID, map[string]any{"enabled": false}, nil, false)
	admin.expect(a, 200, "")
	if !strings.Contains(string(a.body), `"enabled":false`) {
		t.Errorf("after disabling: %s", a.body)
	}
	admin.expect(admin.call("DELETE", "/webhooks/"+sub.ID, nil, nil, false), 204, "")
	admin.expect(admin.call("GET", "/webhooks/"+sub.ID, nil, nil, false), 404, "not-found")
}

func testAPIRoles(t *testing.T, admin *crm) {
	a := admin.call("POST", "/roles", map[string]any{"app": "portal", "name": "viewer", "description": "Reads orders",
		"permissions": []string{"orders:read"}, "delegable": true}, nil, false)
	admin.expect(a, 201, "")
	admin.expect(admin.call("POST", "/roles", map[string]any{"app": "portal", "name": "viewer"}, nil, false), 409, "conflict")
	admin.expect(admin.call("POST", "/roles", map[string]any{"app": "portvakt", "name": "root"}, nil, false), 400, "validation")
	admin.expect(admin.call("POST", "/roles", map[string]any{"app": "Portal App", "name": "x"}, nil, false), 400, "validation")
	a = admin.call("GET", "/roles?app=portal", nil, nil, false)
	if !strings.Contains(string(a.body), `"name":"viewer"`) || !strings.Contains(string(a.body), `"orders:read"`) {
		t.Errorf("roles of portal: %s", a.body)
	}
	admin.expect(admin.call("DELETE", "/roles/portvakt/org_admin", nil, nil, false), 400, "validation")
	admin.expect(admin.call("DELETE", "/roles/portal/viewer", nil, nil, false), 204, "")
	if a := admin.call("GET", "/roles?app=portal", nil, nil, false); strings.Contains(string(a.body), `"name":"viewer"`) {
		t.Errorf("a deleted role is listed: %s", a.body)
	}
}

// testAPIClients registers, changes, rotates and deletes an application;
// a client with fewer API scopes can neither give a client more than it
// has nor take a stronger client's secret.
func testAPIClients(t *testing.T, admin, weaker *crm) {
	a := admin.call("POST", "/clients", map[string]any{"name": "Portal", "type": "confidential",
		"redirect_uris": []string{"https://portal.example.com/callback"}, "grant_types": []string{"authorization_code", "refresh_token"},
		"scopes": []string{"openid", "profile"}, "first_party": true, "app": "portal", "organizations": "required",
		"initiate_login_uri": "https://portal.example.com/login"}, nil, false)
	admin.expect(a, 201, "")
	var cl struct {
		ID, ClientSecret string
	}
	var raw map[string]any
	a.decode(t, &raw)
	cl.ID, _ = raw["id"].(string)
	cl.ClientSecret, _ = raw["client_secret"].(string)
	if cl.ID == "" || cl.ClientSecret == "" || a.header.Get("Location") != "/api/v1/clients/"+cl.ID {
		t.Fatalf("the new client: %s", a.body)
	}
	if g := admin.call("GET", "/clients/"+cl.ID, nil, nil, false); strings.Contains(string(g.body), cl.ClientSecret) || strings.Contains(string(g.body), `"client_secret":`) {
		t.Errorf("the secret is shown again: %s", g.body)
	}
	a = admin.call("POST", "/clients", map[string]any{"name": "Bad", "type": "confidential", "redirect_uris": []string{"http://evil.example/cb"},
		"grant_types": []string{"authorization_code"}}, nil, false)
	admin.expect(a, 400, "validation")
	if !strings.Contains(string(a.body), `"field":"redirect_uris"`) {
		t.Errorf("the validation problem does not name redirect_uris: %s", a.body)
	}
	admin.expect(admin.call("POST", "/clients", map[string]any{"name": "Limited", "type": "confidential", "grant_types": []string{"client_credentials"},
		"organization": "nowhere"}, nil, false), 404, "not-found")
	a = admin.call("PATCH", "/clients/"+cl.ID, map[string]any{"name": "Portal (web)", "require_mfa": true}, nil, false)
	admin.expect(a, 200, "")
	if !strings.Contains(string(a.body), `"name":"Portal (web)"`) || !strings.Contains(string(a.body), `"require_mfa":true`) ||
		!strings.Contains(string(a.body), `"organizations":"required"`) {
		t.Errorf("after the change: %s", a.body)
	}
	a = admin.call("POST", "/clients/"+cl.ID+"/rotate-secret", nil, nil, false)
	admin.expect(a, 200, "")
	if strings.Contains(string(a.body), cl.ClientSecret) || !strings.Contains(string(a.body), `"client_secret":"`) {
		t.Errorf("after rotation: %s", a.body)
	}
	var list struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
		NextCursor string `json:"next_cursor"`
	}
	admin.call("GET", "/clients?limit=200", nil, nil, false).decode(t, &list)
	found := false
	for _, it := range list.Items {
		found = found || it.ID == cl.ID
	}
	if !found {
		t.Errorf("the client is not listed")
	}

	// No more power than the caller has.
	weaker.expect(weaker.call("POST", "/clients", map[string]any{"name": "Escalate", "type": "confidential",
		"grant_types": []string{"client_credentials"}, "scopes": []string{"portvakt:users:write"}}, nil, false), 403, "insufficient-scope")
	weaker.expect(weaker.call("POST", "/clients", map[string]any{"name": "Reader", "type": "confidential",
		"grant_types": []string{"client_credentials"}, "scopes": []string{"portvakt:users:read"}}, nil, false), 201, "")
	var adminID string
	for _, it := range list.Items {
		g := admin.call("GET", "/clients/"+it.ID, nil, nil, false)
		if strings.Contains(string(g.body), "portvakt:clients:write") && strings.Contains(string(g.body), "portvakt:roles:write") {
			adminID = it.ID
		}
	}
	if adminID == "" {
		t.Fatal("the admin's own client is not listed")
	}
	weaker.expect(weaker.call("POST", "/clients/"+adminID+"/rotate-secret", nil, nil, false), 403, "insufficient-scope")
	weaker.expect(weaker.call("PATCH", "/clients/"+adminID, map[string]any{"name": "Mine"}, nil, false), 403, "insufficient-scope")
	weaker.expect(weaker.call("DELETE", "/clients/"+adminID, nil, nil, false), 403, "insufficient-scope")
	weaker.expect(weaker.call("PATCH", "/clients/"+cl.ID, map[string]any{"scopes": []string{"openid", "portvakt:orgs:write"}}, nil, false), 403, "insufficient-scope")

	admin.expect(admin.call("DELETE", "/clients/"+adminID, nil, nil, false), 409, "conflict")
	admin.expect(admin.call("DELETE", "/clients/"+cl.ID, nil, nil, false), 204, "")
	admin.expect(admin.call("GET", "/clients/"+cl.ID, nil, nil, false), 404, "not-found")
}

func testAPIIdPs(t *testing.T, admin *crm) {
	spec := map[string]any{"preset": "google", "client_id": "1234.apps.googleusercontent.com", "client_secret": "s3cret-value"}
	a := admin.call("PUT", "/identity-providers/google", spec, nil, false)
	admin.expect(a, 201, "")
	if strings.Contains(string(a.body), "s3cret-value") || !strings.Contains(string(a.body), `"has_secret":true`) ||
		!strings.Contains(string(a.body), `"issuer":"https://accounts.google.com"`) {
		t.Errorf("the new provider: %s", a.body)
	}
	// The same again changes nothing; a new name without a secret keeps
	// the secret.
	admin.expect(admin.call("PUT", "/identity-providers/google", spec, nil, false), 200, "")
	a = admin.call("PUT", "/identity-providers/google", map[string]any{"preset": "google", "client_id": "1234.apps.googleusercontent.com", "name": "Google Workspace"}, nil, false)
	admin.expect(a, 200, "")
	if !strings.Contains(string(a.body), `"name":"Google Workspace"`) || !strings.Contains(string(a.body), `"has_secret":true`) {
		t.Errorf("after renaming: %s", a.body)
	}
	admin.expect(admin.call("PUT", "/identity-providers/bad", map[string]any{"preset": "myspace", "client_id": "x"}, nil, true), 400, "validation")
	admin.expect(admin.call("PUT", "/identity-providers/bad", map[string]any{"client_id": "x", "issuer": "not a url"}, nil, false), 400, "validation")
	admin.expect(admin.call("PUT", "/identity-providers/other", map[string]any{"id": "google", "preset": "google", "client_id": "x"}, nil, false), 400, "validation")
	a = admin.call("GET", "/identity-providers", nil, nil, false)
	if !strings.Contains(string(a.body), `"id":"google"`) || strings.Contains(string(a.body), "s3cret") {
		t.Errorf("the list: %s", a.body)
	}
	admin.expect(admin.call("GET", "/identity-providers/google", nil, nil, false), 200, "")
	admin.expect(admin.call("DELETE", "/identity-providers/google", nil, nil, false), 204, "")
	admin.expect(admin.call("GET", "/identity-providers/google", nil, nil, false), 404, "not-found")
	admin.expect(admin.call("DELETE", "/identity-providers/google", nil, nil, false), 404, "not-found")
}

// testAPIExternalIDs: users and organizations carry IDs of further source
// systems, unique within each source, found by them, changed and removed
// with their events.
func testAPIExternalIDs(t *testing.T, admin *crm) {
	a := admin.call("POST", "/users", map[string]any{"email": "multi@example.com", "external_id": "crm-9",
		"external_ids": map[string]any{"erp": "E-100", "support": "S-7"}}, nil, false)
	admin.expect(a, 201, "")
	var u struct {
		ID          string            `json:"id"`
		ExternalIDs map[string]string `json:"external_ids"`
	}
	a.decode(t, &u)
	if u.ExternalIDs["erp"] != "E-100" || u.ExternalIDs["support"] != "S-7" {
		t.Fatalf("the new user's external IDs: %s", a.body)
	}
	admin.expect(admin.call("POST", "/users", map[string]any{"email": "other@example.com", "external_ids": map[string]any{"erp": "E-100"}}, nil, false), 409, "conflict")
	admin.expect(admin.call("POST", "/users", map[string]any{"email": "bad@example.com", "external_ids": map[string]any{"Bad Source": "x"}}, nil, false), 400, "validation")

	var list struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	admin.call("GET", "/users?"+url.Values{"external_source": {"erp"}, "external_id": {"E-100"}}.Encode(), nil, nil, false).decode(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != u.ID {
		t.Errorf("by the ERP's ID: %+v", list.Items)
	}
	admin.call("GET", "/users?"+url.Values{"external_source": {"support"}, "external_id": {"E-100"}}.Encode(), nil, nil, false).decode(t, &list)
	if len(list.Items) != 0 {
		t.Errorf("an ID of another source found %+v", list.Items)
	}

	// Changed and removed, as events say.
	a = admin.call("PATCH", "/users/"+u.ID, map[string]any{"external_ids": map[string]any{"erp": "E-101", "support": nil}}, nil, false)
	admin.expect(a, 200, "")
	u.ExternalIDs = nil
	a.decode(t, &u)
	if u.ExternalIDs["erp"] != "E-101" || u.ExternalIDs["support"] != "" {
		t.Errorf("after the change: %s", a.body)
	}
	var evs struct {
		Items []struct {
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		} `json:"items"`
	}
	admin.call("GET", "/events?"+url.Values{"subject": {"user:" + u.ID}, "type": {"user.updated"}}.Encode(), nil, nil, false).decode(t, &evs)
	found := false
	for _, e := range evs.Items {
		ch, _ := e.Data["changes"].(map[string]any)
		if erp, ok := ch["external_ids.erp"].(map[string]any); ok && erp["old"] == "E-100" && erp["new"] == "E-101" {
			found = true
		}
	}
	if !found {
		t.Errorf("no user.updated with external_ids.erp E-100 → E-101: %+v", evs.Items)
	}

	// Organizations too, separately from users.
	a = admin.call("POST", "/organizations", map[string]any{"name": "Multi", "slug": "multi", "external_ids": map[string]any{"erp": "E-100"}}, nil, false)
	admin.expect(a, 201, "")
	var orgList struct {
		Items []struct {
			Slug        string            `json:"slug"`
			ExternalIDs map[string]string `json:"external_ids"`
		} `json:"items"`
	}
	admin.call("GET", "/organizations?"+url.Values{"external_source": {"erp"}, "external_id": {"E-100"}}.Encode(), nil, nil, false).decode(t, &orgList)
	if len(orgList.Items) != 1 || orgList.Items[0].Slug != "multi" || orgList.Items[0].ExternalIDs["erp"] != "E-100" {
		t.Errorf("the organization by the ERP's ID: %+v", orgList.Items)
	}
	admin.expect(admin.call("PATCH", "/organizations/multi", map[string]any{"external_ids": map[string]any{"erp": nil}}, nil, false), 200, "")
	admin.expect(admin.call("DELETE", "/users/"+u.ID, nil, nil, false), 204, "")
	admin.call("GET", "/users?"+url.Values{"external_source": {"erp"}, "external_id": {"E-101"}}.Encode(), nil, nil, false).decode(t, &list)
	if len(list.Items) != 0 {
		t.Errorf("a deleted user is found by its external ID: %+v", list.Items)
	}
}

// testAPIConsents: a CRM records a consent given on its own form and its
// withdrawal; both are receipts (channel api, the client as actor) and
// reach a webhook subscriber; what cannot be recorded is refused with the
// field named; a reader reads but does not record.
func testAPIConsents(t *testing.T, admin, reader *crm) {
	rcv := newAPIHookReceiver(t)
	var sub struct {
		Secret string `json:"secret"`
	}
	admin.call("POST", "/webhooks", map[string]any{"url": rcv.URL, "event_types": []string{"consent.*"}}, nil, false).decode(t, &sub)
	rcv.setSecret(sub.Secret)
	var u apiUser
	admin.call("POST", "/users", map[string]any{"email": "consenting@example.com"}, nil, false).decode(t, &u)
	type state struct {
		Consents []struct {
			Purpose        string `json:"purpose"`
			Required       bool   `json:"required"`
			Granted        bool   `json:"granted"`
			Version        string `json:"version"`
			CurrentVersion string `json:"current_version"`
			UpToDate       bool   `json:"up_to_date"`
		} `json:"consents"`
		Receipts []struct {
			ID, Purpose, Version, Action, Channel, Actor, Method string
			ClientID                                             string `json:"client_id"`
		} `json:"receipts"`
	}
	var st state
	a := reader.call("GET", "/users/"+u.ID+"/consents", nil, nil, false)
	reader.expect(a, 200, "")
	a.decode(t, &st)
	if len(st.Consents) != 2 || st.Consents[0].Purpose != "terms" || !st.Consents[0].Required || st.Consents[0].Granted ||
		st.Consents[0].CurrentVersion != "1" || len(st.Receipts) != 0 {
		t.Fatalf("a new user's consents: %s", a.body)
	}
	path := "/users/" + u.ID + "/consents"
	reader.expect(reader.call("POST", path, map[string]any{"purpose": "marketing_email", "action": "granted"}, nil, false), 403, "insufficient-scope")
	a = admin.call("POST", path, map[string]any{"purpose": "marketing_email", "action": "granted", "version": "1", "client_id": "webshop", "method": "paper_form"}, nil, false)
	admin.expect(a, 200, "")
	// The same again records nothing.
	admin.expect(admin.call("POST", path, map[string]any{"purpose": "marketing_email", "action": "granted"}, nil, false), 200, "")
	a = admin.call("POST", path, map[string]any{"purpose": "marketing_email", "action": "withdrawn"}, nil, false)
	admin.expect(a, 200, "")
	st = state{}
	a.decode(t, &st)
	if len(st.Receipts) != 2 || st.Receipts[0].Action != "granted" || st.Receipts[0].Method != "paper_form" || st.Receipts[0].ClientID != "webshop" ||
		st.Receipts[1].Action != "withdrawn" || st.Receipts[1].Channel != "api" || !strings.HasPrefix(st.Receipts[1].Actor, "client:") || st.Consents[1].Granted {
		t.Errorf("after granting and withdrawing: %s", a.body)
	}
	got := rcv.waitFor(t, "consent.withdrawn", "user:"+u.ID)
	if got.id == "" || got.details["purpose"] != "marketing_email" || got.details["channel"] != "api" || got.details["version"] != "1" {
		t.Errorf("the consent.withdrawn webhook: %+v", got)
	}
	for _, tc := range []struct {
		name  string
		body  any
		field string
	}{
		{"unknown purpose", map[string]any{"purpose": "telepathy", "action": "granted"}, `"field":"purpose","code":"unknown"`},
		{"required withdrawn", map[string]any{"purpose": "terms", "action": "withdrawn"}, `"field":"purpose","code":"required"`},
		{"old version", map[string]any{"purpose": "terms", "action": "granted", "version": "0"}, `"field":"version","code":"unknown"`},
		{"bad action", map[string]any{"purpose": "terms", "action": "maybe"}, `"field":"action"`},
		{"bad method", map[string]any{"purpose": "terms", "action": "granted", "method": "By Phone"}, `"field":"method"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := admin.call("POST", path, tc.body, nil, true)
			admin.expect(a, 400, "validation")
			if !strings.Contains(string(a.body), tc.field) {
				t.Errorf("the problem does not name %s: %s", tc.field, a.body)
			}
		})
	}
	admin.expect(admin.call("GET", "/users/no-such-user/consents", nil, nil, false), 404, "not-found")
	admin.expect(admin.call("POST", "/users/no-such-user/consents", map[string]any{"purpose": "terms", "action": "granted"}, nil, false), 404, "not-found")
	admin.expect(admin.call("POST", path, "{not json", nil, true), 400, "malformed-request")
}
