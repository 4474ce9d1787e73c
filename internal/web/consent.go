package web

import (
	"net/http"
	"slices"
	"strings"

	"github.com/portvakt/portvakt/internal/clients"
	"github.com/portvakt/portvakt/internal/flows"
)

// Consent is what the consent page shows: a third-party application asking
// for the signed-in person's permission.
type Consent struct {
	// ClientName is the application's registered name.
	ClientName string
	// Scopes are what it asks for, as OAuth scope values.
	Scopes []string
	// Verified are the verified attributes (legal_name, birthdate,
	// national_id) the application is registered to receive.
	Verified []string
	// Consents: the application receives the person's consents (which
	// purposes they have given).
	Consents bool
	// Email is the signed-in person's address, so that someone signed in
	// with the wrong account notices.
	Email string
	// Action is where the form posts: path and query on this server. The
	// form sends decision=allow or decision=deny.
	Action string
	// UILocales are the application's preferred languages (ui_locales);
	// UserLocale is the person's own setting.
	UILocales  string
	UserLocale string
}

// scopeMessages are the scopes that have a sentence of their own; others
// are shown by name.
var scopeMessages = []string{"openid", "profile", "email", "phone", "address", "offline_access"}

// scopeItems says in words what each of scopes lets an application do:
// OAuth scopes, and verified:<attribute> for a verified attribute.
func scopeItems(p *page, scopes []string) []string {
	var out []string
	for _, s := range scopes {
		v, verified := strings.CutPrefix(s, "verified:")
		switch {
		case verified && slices.Contains(clients.VerifiableAttributes, v):
			out = append(out, p.T("consent.verified."+v))
		case slices.Contains(scopeMessages, s):
			out = append(out, p.T("consent.scope."+s))
		default:
			out = append(out, p.TF("consent.scope.other", "Scope", s))
		}
	}
	return out
}

// ShowConsent asks the signed-in person whether an application may have
// what it asks for.
func (h *Handler) ShowConsent(w http.ResponseWriter, r *http.Request, c Consent) {
	p := h.newPage(w, r, flows.Flow{UILocales: truncate(c.UILocales, 64)}, c.UserLocale)
	p.Title = p.T("consent.title")
	p.Heading = p.TF("consent.heading", "Client", c.ClientName)
	p.Text = p.TF("consent.intro", "Client", c.ClientName)
	items := slices.Clone(c.Scopes)
	for _, v := range c.Verified {
		items = append(items, "verified:"+v)
	}
	p.Items = scopeItems(p, items)
	if c.Consents {
		p.Items = append(p.Items, p.T("consent.consents"))
	}
	if c.Email != "" {
		p.Extra["signed_in_as"] = p.TF("consent.signed_in_as", "Email", c.Email)
	}
	p.Extra["note"] = p.TF("consent.note", "Client", c.ClientName)
	p.Action = c.Action
	h.render(w, r, http.StatusOK, "consent", p)
}
