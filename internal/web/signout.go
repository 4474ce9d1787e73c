package web

import (
	"net/http"

	"github.com/portvakt/portvakt/internal/flows"
)

// SignOut is what the page that asks whether to sign out needs: an
// application asked to end the browser's session without proving that the
// request came from it (RP-Initiated Logout 1.0 requires the question then).
type SignOut struct {
	// ClientName is the application that asked, if it is known.
	ClientName string
	// Action is where the form posts: path and query on this server.
	Action string
	// Hidden are the form's hidden fields, posted back as they are.
	Hidden map[string]string
	// UILocales are the application's preferred languages (ui_locales);
	// UserLocale is the signed-in person's own setting.
	UILocales  string
	UserLocale string
}

// ShowSignOut asks the person whether to sign out; "stay signed in" leads to
// the start page.
func (h *Handler) ShowSignOut(w http.ResponseWriter, r *http.Request, s SignOut) {
	p := h.newPage(w, r, flows.Flow{UILocales: truncate(s.UILocales, 64)}, s.UserLocale)
	p.Title = p.T("signout.title")
	p.Heading = p.T("signout.title")
	p.Text = p.T("signout.text")
	if s.ClientName != "" {
		p.Text = p.TF("signout.text_client", "Client", s.ClientName)
	}
	p.Action = s.Action
	for k, v := range s.Hidden {
		if v != "" {
			p.Form[k] = v
		}
	}
	h.render(w, r, http.StatusOK, "signout", p)
}

// CheckForm reports whether a posted form comes from one of this server's
// own pages (its CSRF token matches the browser's). When it does not, it
// has answered with an error page.
func (h *Handler) CheckForm(w http.ResponseWriter, r *http.Request) bool {
	if !h.checkCSRF(r) {
		h.showError(w, r, http.StatusForbidden, "error.csrf")
		return false
	}
	return true
}

// ShowRequestExpired says that an authorization request is unknown or no
// longer valid, in the application's language (uiLocales) if it gave one.
func (h *Handler) ShowRequestExpired(w http.ResponseWriter, r *http.Request, uiLocales string) {
	p := h.newPage(w, r, flows.Flow{UILocales: truncate(uiLocales, 64)}, "")
	h.message(w, r, p, http.StatusBadRequest, "authorize.expired.title", "authorize.expired.text", "", "")
}

// ShowAuthorizeError says that an authorization request cannot be used
// and cannot be answered at the application (its client or redirect URI is
// unknown, say): in the application's language (uiLocales) if it gave one,
// with the protocol error for its developers.
func (h *Handler) ShowAuthorizeError(w http.ResponseWriter, r *http.Request, status int, uiLocales, code, description string) {
	p := h.newPage(w, r, flows.Flow{UILocales: truncate(uiLocales, 64)}, "")
	detail := truncate(code, 64)
	if description != "" {
		detail += ": " + truncate(description, 300)
	}
	p.Extra = map[string]string{"detail_label": p.T("authorize.invalid.detail"), "detail": detail}
	h.message(w, r, p, status, "authorize.invalid.title", "authorize.invalid.text", "", "")
}
