package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
)

//go:embed templates
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// pageNames are the pages; each must exist, or start-up fails.
var pageNames = []string{
	"login", "registration", "verification", "recovery", "reset", "message", "account", "error",
	"consent", "signout", "second_factor", "totp", "recovery_codes", "passkey", "mfa_setup", "login_code", "continue", "complete_profile", "organizations", "org", "invitation",
	"confirm_profile",
	"data", "data_view",
	"email_change", "password_change", "applications", "confirm_link",
	"consent_update", "privacy",
}

// templates parses each page's set (the layout, the partials and the
// page's own blocks) when the page is first rendered. All are parsed once
// at start, so that a missing or broken template stops start-up, and then
// let go: an idle server does not hold a parsed copy of the layout per
// page.
type templates struct {
	src    fs.FS
	mu     sync.Mutex
	parsed map[string]*template.Template
}

func parseTemplates(themeDir fs.FS) (*templates, error) {
	base, err := fs.Sub(templateFS, "templates")
	if err != nil {
		return nil, err
	}
	ts := &templates{src: layered{over: themeDir, under: base}, parsed: map[string]*template.Template{}}
	for _, name := range pageNames {
		if _, err := ts.parse(name); err != nil {
			return nil, err
		}
	}
	return ts, nil
}

// get returns page name's template set, parsing it on first use.
func (ts *templates) get(name string) (*template.Template, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if t, ok := ts.parsed[name]; ok {
		return t, nil
	}
	if !slices.Contains(pageNames, name) {
		return nil, fmt.Errorf("no such page template %q", name)
	}
	t, err := ts.parse(name)
	if err != nil {
		return nil, err
	}
	ts.parsed[name] = t
	return t, nil
}

func (ts *templates) parse(name string) (*template.Template, error) {
	t := template.New(name).Funcs(template.FuncMap{
		"join":        strings.Join,
		"passkeyForm": passkeyForm,
		"when":        when,
		"text":        func(b []byte) string { return string(b) },
	})
	for _, file := range []string{"layouts/base.html", "pages/" + name + ".html"} {
		b, err := fs.ReadFile(ts.src, file)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", file, err)
		}
		if _, err := t.New(path.Base(file)).Parse(string(b)); err != nil {
			return nil, fmt.Errorf("template %s: %w", file, err)
		}
	}
	return t, nil
}

// layered reads from over first (a theme directory), then under.
type layered struct{ over, under fs.FS }

func (l layered) Open(name string) (fs.File, error) {
	if l.over != nil {
		if f, err := l.over.Open(name); err == nil {
			return f, nil
		}
	}
	return l.under.Open(name)
}

// render writes page name with data, rendered to a buffer first so that a
// template error never sends half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	t, err := h.tmpl.get(name)
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "page template", "page", name, "error", err)
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "base.html", p); err != nil {
		h.Logger.ErrorContext(r.Context(), "render page", "page", name, "error", err)
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Language", p.Lang)
	csp := pageCSP
	if p.Extra["passkey_options"] != "" || p.Extra["autosubmit"] != "" {
		// The scripts of the pages, for passkeys and for a form that
		// submits itself; from this server only.
		csp += "; script-src 'self'"
	}
	hd.Set("Content-Security-Policy", csp)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// pageCSP allows only this server's own styles and images (and https logos),
// and no script: pages with a passkey form add this server's
// /assets/webauthn.js, a page that posts an answer on /assets/autosubmit.js.
// form-action is not limited to 'self': after sign-in a form's redirect may
// lead to a relying party's redirect URI, which browsers check against it.
const pageCSP = "default-src 'none'; style-src 'self'; img-src 'self' https: data:; form-action 'self' https: http://localhost:* http://127.0.0.1:*; frame-ancestors 'none'; base-uri 'none'"

// passkeyFormData is what the passkey-form template needs.
type passkeyFormData struct {
	Page                         *page
	Mode, Action, Label, Options string
	Hidden                       map[string]string
}

// passkeyForm prepares a passkey form: mode is register, login or assert;
// label is the button's message ID; hidden are name, value pairs.
func passkeyForm(p *page, mode, action, label string, hidden ...string) passkeyFormData {
	d := passkeyFormData{Page: p, Mode: mode, Action: action, Label: label, Options: p.Extra["passkey_options"], Hidden: map[string]string{}}
	for i := 0; i+1 < len(hidden); i += 2 {
		d.Hidden[hidden[i]] = hidden[i+1]
	}
	return d
}
