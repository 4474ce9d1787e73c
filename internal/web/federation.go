package web

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/authn"
	"github.com/portvakt/portvakt/internal/consents"
	"github.com/portvakt/portvakt/internal/federation"
	"github.com/portvakt/portvakt/internal/flows"
)

// Sign-in with upstream identity providers ("Continue with …"). The
// sign-in starts in a login flow bound to this browser by a cookie; the
// provider's answer comes back to /login/idp/callback, whose state names
// the flow. A known upstream account signs its user in; an unknown one
// whose address has an account here is linked only after the person signs
// in to that account in the same flow; otherwise a new account is made.

// providerButton is a "Continue with …" button. Brand is one of
// federation.Brands, styling it after that provider, or "" for a plain one.
type providerButton struct{ ID, Name, Brand string }

// providerButtons lists the configured providers for the sign-in and
// registration pages.
func (h *Handler) providerButtons(ctx context.Context, p *page) {
	if h.Federation == nil {
		return
	}
	ps, err := h.Federation.Store.ListProviders(ctx)
	if err != nil {
		h.Logger.ErrorContext(ctx, "list identity providers", "error", err)
		return
	}
	for _, pr := range ps {
		p.Providers = append(p.Providers, newProviderButton(pr))
	}
}

func (h *Handler) callbackURL() string {
	return strings.TrimSuffix(h.Issuer.String(), "/") + "/login/idp/callback"
}

// startUpstream sends the browser to the provider named in the path.
func (h *Handler) startUpstream(w http.ResponseWriter, r *http.Request) {
	if h.Federation == nil || !h.checkCSRF(r) {
		h.showError(w, r, http.StatusForbidden, "error.csrf")
		return
	}
	h.sendUpstream(w, r, flows.Flow{ReturnTo: safeReturn(r.PostFormValue("return_to")), UILocales: truncate(r.PostFormValue("ui_locales"), 64)}, r.PathValue("id"))
}

// startLink sends a signed-in person to a provider to link an account
// there to theirs.
func (h *Handler) startLink(w http.ResponseWriter, r *http.Request) {
	_, s, ok := h.postedChange(w, r, "/account")
	if !ok {
		return
	}
	if h.Federation == nil {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	h.sendUpstream(w, r, flows.Flow{State: flows.StateLink, UserID: s.UserID, ReturnTo: "/account"}, r.PathValue("id"))
}

// sendUpstream starts a login flow from template and sends the browser to
// provider id.
func (h *Handler) sendUpstream(w http.ResponseWriter, r *http.Request, template flows.Flow, id string) {
	ctx := r.Context()
	f, err := h.Flows.Start(ctx, flows.Login, template)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	to, sealed, err := h.Federation.Begin(ctx, id, f.ID, h.callbackURL())
	if err != nil {
		h.upstreamFailed(w, r, f, err)
		return
	}
	raw := h.bindBrowser(w)
	if _, err := h.Flows.Update(ctx, flows.Login, f.ID, func(f flows.Flow) (flows.Flow, error) {
		f.Upstream, f.Binding = sealed, bindingDigest(raw)
		if template.State == flows.StateLink {
			// Start begins every flow afresh; a link flow says so here.
			f.State, f.UserID = flows.StateLink, template.UserID
		}
		return f, nil
	}); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// upstreamCallback takes the provider's answer from the query.
func (h *Handler) upstreamCallback(w http.ResponseWriter, r *http.Request) {
	h.upstreamAnswer(w, r, r.URL.Query())
}

// postedFields are the fields of a posted answer (form_post) carried over.
var postedFields = []string{"state", "code", "error", "error_description", "user"}

// upstreamPosted takes an answer the provider posted (form_post). Posted
// from the provider's site, it comes without this site's SameSite=Lax
// cookies; the browser is then asked to post it again from here (a page
// that submits itself, or a Continue button without JavaScript), which
// brings them.
func (h *Handler) upstreamPosted(w http.ResponseWriter, r *http.Request) {
	if h.Federation == nil {
		http.NotFound(w, r)
		return
	}
	if err := r.ParseForm(); err != nil {
		h.showError(w, r, http.StatusBadRequest, "error.bad_request")
		return
	}
	if _, err := r.Cookie(h.bindingCookieName()); err == nil || r.PostForm.Get("again") != "" {
		h.upstreamAnswer(w, r, r.PostForm)
		return
	}
	p := h.newPage(w, r, flows.Flow{}, "")
	p.Title, p.Heading, p.Text = p.T("upstream.continue_title"), p.T("upstream.continue_title"), p.T("upstream.continue_text")
	p.Action = "/login/idp/callback"
	p.Extra["autosubmit"] = "1"
	for _, k := range postedFields {
		if v := r.PostForm.Get(k); v != "" {
			p.Form[k] = truncate(v, 4096)
		}
	}
	h.render(w, r, http.StatusOK, "continue", p)
}

// upstreamAnswer takes the provider's answer: params from the query, or
// posted.
func (h *Handler) upstreamAnswer(w http.ResponseWriter, r *http.Request, q url.Values) {
	if h.Federation == nil {
		http.NotFound(w, r)
		return
	}
	ctx := r.Context()
	flowID, _, _ := strings.Cut(q.Get("state"), ".")
	f, err := h.Flows.Get(ctx, flows.Login, flowID)
	if err != nil || !h.bound(r, f) || f.Upstream == "" {
		p := h.newPage(w, r, f, "")
		h.message(w, r, p, http.StatusGone, "error.flow_expired.title", "error.flow_expired.text", "/login", "common.start_over")
		return
	}
	sealed := f.Upstream
	if f, err = h.Flows.Update(ctx, flows.Login, f.ID, func(f flows.Flow) (flows.Flow, error) {
		f.Upstream = "" // an answer counts once
		return f, nil
	}); err != nil {
		h.fail(w, r, err)
		return
	}
	c, err := h.Federation.Finish(ctx, f.ID, sealed, q, h.callbackURL())
	if err != nil {
		h.upstreamFailed(w, r, f, err)
		return
	}
	id, err := h.Federation.Store.IdentityBySubject(ctx, c.Provider, c.Subject)
	if f.State == flows.StateLink {
		h.finishLink(w, r, f, c, id, err)
		return
	}
	if c.Proofing {
		// The level the eID vouched for holds for the session.
		var uerr error
		if f, uerr = h.Flows.Update(ctx, flows.Login, f.ID, func(f flows.Flow) (flows.Flow, error) {
			f.Proofed = c.Level
			return f, nil
		}); uerr != nil {
			h.fail(w, r, uerr)
			return
		}
	}
	if errors.Is(err, federation.ErrNotFound) && c.NationalID != "" {
		// The same person, proofed before (perhaps by another eID): found
		// by the keyed hash of their national identity number.
		if owner, lerr := h.Federation.Store.UserByNationalID(ctx, h.Federation.NationalIDDigest(c.NationalID)); lerr == nil {
			if lerr := h.Federation.Link(ctx, owner, c); lerr != nil {
				h.fail(w, r, lerr)
				return
			}
			id, err = federation.Identity{ProviderID: c.Provider, Subject: c.Subject, UserID: owner}, nil
		}
	}
	switch {
	case err == nil:
		h.signInUpstream(w, r, f, id.UserID, c)
	case !errors.Is(err, federation.ErrNotFound):
		h.fail(w, r, err)
	default:
		h.newUpstreamIdentity(w, r, f, c)
	}
}

// signInUpstream signs in the user of a known upstream account.
func (h *Handler) signInUpstream(w http.ResponseWriter, r *http.Request, f flows.Flow, userID string, c federation.Claims) {
	ctx := r.Context()
	u, err := h.Accounts.Store.UserByID(ctx, userID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if u.Status != accounts.StatusActive {
		p := h.newPage(w, r, f, "")
		p.Alert = p.T("login.disabled")
		h.renderLogin(w, r, p, http.StatusUnauthorized)
		return
	}
	if err := h.Federation.Store.TouchIdentity(ctx, c.Provider, c.Subject, h.now()); err != nil {
		h.Logger.WarnContext(ctx, "touch identity", "error", err)
	}
	// The fields the identity provider owns follow it at each sign-in; a
	// failed refresh does not stop the sign-in.
	if _, err := h.Accounts.Refresh(ctx, u.ID, c.Provider, map[string]string{
		"given_name": c.GivenName, "family_name": c.FamilyName, "phone": c.Phone, "locale": c.Locale,
	}); err != nil {
		h.Logger.WarnContext(ctx, "refresh profile from identity provider", "provider", c.Provider, "error", err)
	}
	if err := h.Federation.Proof(ctx, u.ID, c); err != nil {
		h.upstreamFailed(w, r, f, err)
		return
	}
	if err := h.joinBySSO(ctx, u.ID, u.Email, c); err != nil {
		h.fail(w, r, err)
		return
	}
	h.firstFactorDone(w, r, f, u.ID, fedMethods(c), source(c))
}

// fedMethods are the methods of an upstream sign-in: fed, and eid for an
// identity-proofing provider (the ladder's marker for a proofed identity).
func fedMethods(c federation.Claims) []string {
	if c.Proofing {
		return []string{authn.MethodFederated, authn.MethodEID}
	}
	return []string{authn.MethodFederated}
}

// source names an upstream sign-in in events: social:<id> or eid:<id>.
func source(c federation.Claims) string {
	if c.Proofing {
		return "eid:" + c.Provider
	}
	return "social:" + c.Provider
}

// newUpstreamIdentity registers a new account from the upstream one, or,
// when its address already has an account, asks the person to sign in to
// that account first and links them then.
func (h *Handler) newUpstreamIdentity(w http.ResponseWriter, r *http.Request, f flows.Flow, c federation.Claims) {
	ctx := r.Context()
	if c.Email == "" {
		h.upstreamFailed(w, r, f, errors.New("the provider sent no email address"))
		return
	}
	norm, err := accounts.NormalizeEmail(c.Email)
	if err != nil {
		h.upstreamFailed(w, r, f, err)
		return
	}
	_, err = h.Accounts.Store.UserByEmail(ctx, norm)
	switch {
	case err == nil:
		// Never linked silently: the person proves they own the account.
		raw, _ := json.Marshal(c)
		sealed, err := h.Federation.Cipher.Encrypt(raw, []byte("idp-link:"+f.ID))
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if _, err := h.Flows.Update(ctx, flows.Login, f.ID, func(f flows.Flow) (flows.Flow, error) {
			f.PendingLink, f.Email = base64.RawURLEncoding.EncodeToString(sealed), norm
			return f, nil
		}); err != nil {
			h.fail(w, r, err)
			return
		}
		http.Redirect(w, r, "/login?flow="+url.QueryEscape(f.ID), http.StatusSeeOther)
	case errors.Is(err, accounts.ErrNotFound):
		if len(h.missingFields(r, c)) > 0 || len(h.Consents.ForRegistration()) > 0 {
			h.askProfile(w, r, f, c)
			return
		}
		h.registerUpstream(w, r, f, c, nil)
	default:
		h.fail(w, r, err)
	}
}

// registerUpstream makes a new account from the upstream identity c, with
// the receipts of the consents given on the way, and signs it in
// (just-in-time registration).
func (h *Handler) registerUpstream(w http.ResponseWriter, r *http.Request, f flows.Flow, c federation.Claims, receipts []consents.Receipt) {
	ctx := r.Context()
	u, err := h.Federation.Register(ctx, c, receipts)
	if err != nil {
		h.upstreamFailed(w, r, f, err)
		return
	}
	if err := h.Federation.Proof(ctx, u.ID, c); err != nil {
		h.upstreamFailed(w, r, f, err)
		return
	}
	if err := h.joinBySSO(ctx, u.ID, u.Email, c); err != nil {
		h.fail(w, r, err)
		return
	}
	h.Wake()
	h.firstFactorDone(w, r, f, u.ID, fedMethods(c), source(c))
}

// linkPending links the flow's pending upstream identity to userID, who
// has just signed in to their account in this flow.
func (h *Handler) linkPending(ctx context.Context, f flows.Flow, userID string) {
	if f.PendingLink == "" || h.Federation == nil {
		return
	}
	ct, err := base64.RawURLEncoding.DecodeString(f.PendingLink)
	if err != nil {
		return
	}
	raw, err := h.Federation.Cipher.Decrypt(ctx, ct, []byte("idp-link:"+f.ID))
	if err != nil {
		h.Logger.WarnContext(ctx, "pending link", "error", err)
		return
	}
	var c federation.Claims
	if err := json.Unmarshal(raw, &c); err != nil {
		return
	}
	if err := h.Federation.Link(ctx, userID, c); err != nil && !errors.Is(err, federation.ErrConflict) {
		h.Logger.ErrorContext(ctx, "link identity", "error", err)
	}
}

// upstreamFailed shows the friendly page for a provider that could not be
// used; nothing was created.
func (h *Handler) upstreamFailed(w http.ResponseWriter, r *http.Request, f flows.Flow, err error) {
	h.Logger.InfoContext(r.Context(), "upstream sign-in failed", "error", err)
	p := h.newPage(w, r, f, "")
	status := http.StatusBadGateway
	if errors.Is(err, federation.ErrNotFound) {
		status = http.StatusNotFound
	}
	h.message(w, r, p, status, "upstream.failed.title", "upstream.failed.text", "/login?"+returnQuery(f), "common.try_again")
}

// submitUnlink removes one of the person's linked upstream accounts.
func (h *Handler) submitUnlink(w http.ResponseWriter, r *http.Request) {
	_, s, ok := h.postedChange(w, r, "/account")
	if !ok {
		return
	}
	if h.Federation == nil {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	err := h.Federation.Unlink(r.Context(), s.UserID, r.PostFormValue("provider"), r.PostFormValue("subject"))
	switch {
	case errors.Is(err, federation.ErrLastMethod):
		http.Redirect(w, r, "/account?done=identity_last", http.StatusSeeOther)
	case err != nil && !errors.Is(err, federation.ErrNotFound):
		h.fail(w, r, err)
	default:
		http.Redirect(w, r, "/account?done=identity_unlinked", http.StatusSeeOther)
	}
}

// finishLink links the upstream account to the signed-in person who asked
// for it, unless it belongs to someone else.
func (h *Handler) finishLink(w http.ResponseWriter, r *http.Request, f flows.Flow, c federation.Claims, existing federation.Identity, lookup error) {
	ctx := r.Context()
	s, ok, err := h.Sessions.Current(ctx, r)
	switch {
	case err != nil:
		h.fail(w, r, err)
		return
	case !ok || s.UserID != f.UserID:
		p := h.newPage(w, r, f, "")
		h.message(w, r, p, http.StatusGone, "error.flow_expired.title", "error.flow_expired.text", "/account", "common.start_over")
		return
	}
	switch {
	case lookup == nil && existing.UserID != f.UserID:
		http.Redirect(w, r, "/account?done=identity_taken", http.StatusSeeOther)
	case lookup == nil:
		http.Redirect(w, r, "/account?done=identity_linked", http.StatusSeeOther)
	case !errors.Is(lookup, federation.ErrNotFound):
		h.fail(w, r, lookup)
	default:
		if err := h.Federation.Link(ctx, f.UserID, c); err != nil {
			if errors.Is(err, federation.ErrConflict) {
				http.Redirect(w, r, "/account?done=identity_taken", http.StatusSeeOther)
				return
			}
			h.fail(w, r, err)
			return
		}
		http.Redirect(w, r, "/account?done=identity_linked", http.StatusSeeOther)
	}
}
