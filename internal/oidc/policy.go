package oidc

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/portvakt/portvakt/internal/authn"
	"github.com/portvakt/portvakt/internal/orgs"
	"github.com/portvakt/portvakt/internal/session"
)

// Sign-in policy: an organization can ask more of how its people sign in
// (orgs.Settings: RequireMFA, MinACR, SignInMethods) than the application
// does. It applies once the request's organization is settled, to every
// application a person signs in to for the organization, as a client's
// own RequireMFA and MinACR do. A tightened policy takes effect at the
// next sign-in; tokens already issued, refresh tokens included, are left
// as they are.

// policyRetry marks the return to the callback from a sign-in the policy
// asked for. A sign-in that still does not count ends the request with
// access_denied instead of asking again.
const policyRetry = "policy"

// followsPolicy holds the session to the sign-in policy of the request's
// organization: it sends the person to sign in another way, to step up or
// to give a second factor, or answers the application, and reports false;
// or reports true when the session meets the policy (or there is none).
func (h *Handler) followsPolicy(w http.ResponseWriter, r *http.Request, c Client, ar AuthRequest, s session.Session) bool {
	if h.cfg.Organizations == nil || ar.Params.Organization == "" {
		return true
	}
	ctx := r.Context()
	o, err := h.cfg.Organizations.Find(ctx, ar.Params.Organization)
	switch {
	case errors.Is(err, orgs.ErrNotFound):
		// Deleted since it was picked.
		op.AuthRequestError(h.issWriter(w), r, &ar, zoidc.ErrAccessDenied().WithDescription("the user is not a member of the organization"), h.provider)
		return false
	case err != nil:
		h.fail(w, r, err)
		return false
	case !o.HasPolicy():
		return true
	}
	want, err := h.wantedLevel(c, ar)
	if err != nil {
		op.AuthRequestError(h.issWriter(w), r, &ar, errUnmet(err.Error()), h.provider)
		return false
	}
	if o.MinACR != "" {
		want = h.cfg.Levels.Levels().Highest(want, o.MinACR)
	}
	mfa := h.cfg.MFARequired || c.RequireMFA || o.RequireMFA
	allowed := o.AllowsSignIn(s.Methods)
	levelOK := h.meets(s.ACR, want)
	mfaOK := !mfa || slices.Contains(s.Methods, authn.MethodMFA)
	if allowed && levelOK && mfaOK {
		return true
	}
	log := h.cfg.Logger.With("client_id", c.ID, "org_id", o.ID, "user", s.UserID)
	switch {
	case has(ar.Params.Prompt, "none"):
		// Meeting the policy needs the person; prompt=none forbids asking.
		op.AuthRequestError(h.issWriter(w), r, &ar, zoidc.ErrInteractionRequired().WithDescription("the organization's sign-in policy asks for another way of signing in, a higher level of assurance or a second factor"), h.provider)
	case !allowed && r.URL.Query().Get(policyRetry) != "":
		log.InfoContext(ctx, "authorization request refused: the sign-in is not one the organization allows", "amr", s.Methods)
		op.AuthRequestError(h.issWriter(w), r, &ar, zoidc.ErrAccessDenied().WithDescription("the organization does not allow the way the user signed in"), h.provider)
	case !allowed:
		// First a sign-in that counts; it is then asked for what is still
		// missing.
		q := h.loginQuery(ar, callbackPath(ar)+"&"+policyRetry+"=1", want, mfa)
		q.Set("org", o.ID)
		http.Redirect(w, r, "/login?"+q.Encode(), http.StatusSeeOther)
	case !levelOK:
		h.stepUp(w, r, ar, s, want, mfa)
	default:
		h.toSecondFactor(w, r, ar, s, want)
	}
	return false
}

// loginQuery is the sign-in page's query for ar, returning to returnTo.
func (h *Handler) loginQuery(ar AuthRequest, returnTo, want string, mfa bool) url.Values {
	q := url.Values{"return_to": {returnTo}}
	if mfa {
		q.Set("mfa", "1")
	}
	if len(ar.Params.UILocales) > 0 {
		q.Set("ui_locales", strings.Join(ar.Params.UILocales, " "))
	}
	if ar.Params.LoginHint != "" {
		q.Set("login_hint", ar.Params.LoginHint)
	}
	if want != "" && h.cfg.Levels.Levels().Rank(want) > 0 {
		q.Set("acr", want)
	}
	return q
}
