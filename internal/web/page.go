package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/text/language"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/flows"
	"github.com/portvakt/portvakt/internal/i18n"
	"github.com/portvakt/portvakt/internal/privacy"
	"github.com/portvakt/portvakt/internal/request"
)

// Branding is how the pages look: product name, logo and primary colour.
type Branding struct {
	ProductName  string
	LogoURL      string
	PrimaryColor string
}

// page is the data every template gets.
type page struct {
	Lang      string
	Title     string
	Brand     Branding
	CSRF      string
	RequestID string
	Languages []langLink
	Flow      flows.Flow
	// Action is the form's target (path and query).
	Action string
	// Form holds the values typed, to show them again.
	Form map[string]string
	// Errors holds a translated message per field name.
	Errors map[string]string
	// Alert is a translated message above the form (role=alert).
	Alert string
	// Notice is a translated, non-error message above the form.
	Notice string
	User   accounts.User
	// Message page: heading, text, and a link to continue.
	Heading  string
	Text     string
	LinkURL  string
	LinkText string
	// Items is a list the page shows, such as the consent page's
	// permissions.
	Items []string
	// Orgs are the organizations the organization page offers, or the
	// account page lists.
	Orgs []OrgOption
	// Members are an organization's people, for its admins; InviteRoles
	// the roles they may invite with; Invitations the pending ones.
	Members     []orgMember
	InviteRoles []orgRoleChoice
	Invitations []orgInvitation
	// InviteApps are the applications an invitation can lead to.
	InviteApps []inviteApp
	// Sessions are where the person is signed in (account page).
	Sessions []sessionItem
	// Apps are the applications the person let into their account.
	Apps []appView
	// JoinRequests are an organization's pending requests to join, for
	// its admins; Joinable the organizations the account page offers to
	// join.
	JoinRequests []orgJoinRequest
	Joinable     []joinableOrg
	// Extra carries page-specific values.
	Extra map[string]string
	// QR is a QR code image made by the server (a data: URL).
	QR template.URL
	// Passkeys lists the person's passkeys on the account page.
	Passkeys []passkeyView
	// PasskeysOn says whether this server offers passkeys.
	PasskeysOn bool
	// Providers are the "Continue with …" buttons.
	Providers []providerButton
	// Identities are the person's linked upstream accounts.
	Identities []identityView
	// Profile are the profile fields on the account page.
	Profile []profileField
	// Export is everything kept about the person ("Your data").
	Export *privacy.Export
	// Consents are the purposes a form asks for (checkboxes); Purposes
	// the purposes on the privacy page and the page that asks for new
	// versions; Receipts the person's consent history.
	Consents []consentField
	Purposes []purposeView
	Receipts []receiptView

	loc *i18n.Localizer
}

type identityView struct {
	Provider, ProviderName, Subject, Email string
}

type passkeyView struct {
	ID, Name, Created, LastUsed string
}

type langLink struct {
	Code    string
	Name    string
	URL     string
	Current bool
}

// T translates a message for the template.
func (p *page) T(id string) string { return p.loc.T(id) }

// TF translates a message with named values given as pairs.
func (p *page) TF(id string, kv ...any) string {
	data := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		data[fmt.Sprint(kv[i])] = kv[i+1]
	}
	return p.loc.T(id, data)
}

// HasErrors reports whether any field has an error.
func (p *page) HasErrors() bool { return len(p.Errors) > 0 }

// Invalid returns "true" for a field with an error, for aria-invalid.
func (p *page) Invalid(field string) string {
	if _, ok := p.Errors[field]; ok {
		return "true"
	}
	return "false"
}

// Described returns the aria-describedby value for a field.
func (p *page) Described(field string, hint bool) template.HTMLAttr {
	var ids []string
	if hint {
		ids = append(ids, field+"-hint")
	}
	if _, ok := p.Errors[field]; ok {
		ids = append(ids, field+"-error")
	}
	if len(ids) == 0 {
		return ""
	}
	return template.HTMLAttr(`aria-describedby="` + template.HTMLEscapeString(strings.Join(ids, " ")) + `"`)
}

// language picks the page language: an explicit choice (the lang query
// parameter, remembered in a cookie), then the relying party's ui_locales,
// then the user's own setting, then Accept-Language.
func (h *Handler) language(w http.ResponseWriter, r *http.Request, uiLocales, userLocale string) language.Tag {
	if q := r.URL.Query().Get("lang"); q != "" {
		if tag, ok := h.Catalog.Supported(q); ok {
			http.SetCookie(w, &http.Cookie{
				Name: langCookie, Value: tag.String(), Path: "/", MaxAge: 365 * 24 * 3600,
				HttpOnly: true, Secure: h.secure(), SameSite: http.SameSiteLaxMode,
			})
			return tag
		}
	}
	chosen := ""
	if c, err := r.Cookie(langCookie); err == nil {
		chosen = c.Value
	}
	return h.Catalog.Match(chosen, uiLocales, userLocale, r.Header.Get("Accept-Language"))
}

const langCookie = "portvakt_lang"

// newPage prepares the common page data.
func (h *Handler) newPage(w http.ResponseWriter, r *http.Request, f flows.Flow, userLocale string) *page {
	tag := h.language(w, r, f.UILocales, userLocale)
	p := &page{
		Lang:      tag.String(),
		Brand:     h.Brand,
		CSRF:      h.csrfToken(w, r),
		RequestID: request.ID(r.Context()),
		Flow:      f,
		Form:      map[string]string{},
		Errors:    map[string]string{},
		Extra:     map[string]string{},
		loc:       h.Catalog.Localizer(tag),
	}
	for _, l := range i18n.Languages {
		q := r.URL.Query()
		q.Set("lang", l.String())
		u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
		p.Languages = append(p.Languages, langLink{
			Code: l.String(), Name: h.Catalog.Localizer(l).T("lang.name"), URL: u.String(), Current: l == tag,
		})
	}
	return p
}

// CSRF: a random value in a cookie (HttpOnly, SameSite=Lax, __Host- on
// https) that every form repeats in a hidden field. A cross-site page can
// neither read the cookie nor set it, so it cannot forge the pair.

func (h *Handler) csrfCookieName() string {
	if h.secure() {
		return "__Host-portvakt_csrf"
	}
	return "portvakt_csrf"
}

func (h *Handler) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(h.csrfCookieName()); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{
		Name: h.csrfCookieName(), Value: v, Path: "/", HttpOnly: true, Secure: h.secure(), SameSite: http.SameSiteLaxMode,
	})
	return v
}

// checkCSRF reports whether a form post carries the browser's CSRF token
// and, when the browser says where it comes from, comes from this origin.
func (h *Handler) checkCSRF(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" && o != "null" && o != h.origin() {
		return false
	}
	c, err := r.Cookie(h.csrfCookieName())
	if err != nil || c.Value == "" {
		return false
	}
	form := r.PostFormValue("csrf_token")
	return form != "" && subtle.ConstantTimeCompare([]byte(form), []byte(c.Value)) == 1
}

func (h *Handler) origin() string {
	return h.Issuer.Scheme + "://" + h.Issuer.Host
}

func (h *Handler) secure() bool { return h.Issuer.Scheme == "https" }
