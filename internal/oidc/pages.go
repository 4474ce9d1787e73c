package oidc

import (
	"log/slog"
	"net/http"

	"github.com/portvakt/portvakt/internal/web"
)

// Pages are the hosted pages the provider shows people. Package web renders
// them, translated and with its CSRF protection; the provider decides when.
type Pages interface {
	// ShowConsent asks the signed-in person whether a third-party client
	// may have what it asks for.
	ShowConsent(w http.ResponseWriter, r *http.Request, c web.Consent)
	// ShowSignOut asks the person whether to sign out.
	ShowSignOut(w http.ResponseWriter, r *http.Request, s web.SignOut)
	// ShowRequestExpired says that an authorization request is unknown or
	// no longer valid.
	ShowRequestExpired(w http.ResponseWriter, r *http.Request, uiLocales string)
	// ShowAuthorizeError says that an authorization request cannot be
	// used, when the error cannot go back to the application.
	ShowAuthorizeError(w http.ResponseWriter, r *http.Request, status int, uiLocales, code, description string)
	// ShowOrganizations lets a person in several organizations pick the
	// one to sign in to an application for.
	ShowOrganizations(w http.ResponseWriter, r *http.Request, c web.OrgChoice)
	// CheckForm reports whether a posted form comes from one of this
	// server's own pages; when it does not, it has answered.
	CheckForm(w http.ResponseWriter, r *http.Request) bool
}

var _ Pages = (*web.Handler)(nil)

// noPages stands in when Config.Pages is not set. What needs a page fails
// closed — no consent is assumed, no session is ended unasked — and the log
// says why.
type noPages struct{ log *slog.Logger }

func (p noPages) ShowConsent(w http.ResponseWriter, r *http.Request, _ web.Consent) { p.fail(w, r) }
func (p noPages) ShowSignOut(w http.ResponseWriter, r *http.Request, _ web.SignOut) { p.fail(w, r) }
func (p noPages) ShowOrganizations(w http.ResponseWriter, r *http.Request, _ web.OrgChoice) {
	p.fail(w, r)
}

func (p noPages) ShowRequestExpired(w http.ResponseWriter, _ *http.Request, _ string) {
	http.Error(w, "This sign-in request has expired. Go back to the application and start again.", http.StatusBadRequest)
}

func (p noPages) ShowAuthorizeError(w http.ResponseWriter, _ *http.Request, status int, _, code, description string) {
	http.Error(w, "The application's sign-in request cannot be used ("+code+": "+description+").", status)
}

func (p noPages) CheckForm(w http.ResponseWriter, r *http.Request) bool {
	p.fail(w, r)
	return false
}

func (p noPages) fail(w http.ResponseWriter, r *http.Request) {
	p.log.ErrorContext(r.Context(), "oidc: a page is needed but no hosted pages are configured (oidc.Config.Pages)")
	http.Error(w, "internal server error", http.StatusInternalServerError)
}
