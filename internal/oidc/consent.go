package oidc

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/web"
)

// Consent for third-party clients. A first-party client (the business's
// own application) is trusted with what it is registered for; any other
// client gets what it asks for only when the person allows it. The answer
// is remembered per person and client, so the page comes back only when a
// client asks for more than was allowed, or sends prompt=consent.

// consentURL is the consent page of an authorization request.
func consentURL(id string) string {
	return "/authorize/consent?" + url.Values{"id": {id}}.Encode()
}

// errConsentRequired is OpenID Connect Core's consent_required (section
// 3.1.2.6): prompt=none, and the person has not allowed the client what it
// asks for. The framework has no constructor for it.
func errConsentRequired() *zoidc.Error {
	return &zoidc.Error{ErrorType: "consent_required", Description: "the user has not allowed this client what it asks for"}
}

// mustAsk reports whether the person must be asked before the client gets
// what the request asks for.
func (h *Handler) mustAsk(ctx context.Context, c Client, ar AuthRequest, userID string) (bool, error) {
	if c.FirstParty {
		return false, nil
	}
	if has(ar.Params.Prompt, "consent") {
		return true, nil
	}
	given, err := h.cfg.Grants.ConsentFor(ctx, userID, c.ID)
	if errors.Is(err, ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return !given.Covers(consented(c, ar)), nil
}

// consented is what a person's consent to the request covers: its scopes,
// the verified attributes the client is registered to receive (as
// verified:<name>) and the consents claim (as consents), so that a client
// later registered for more asks again.
func consented(c Client, ar AuthRequest) []string {
	out := slices.Clone(ar.Params.Scopes)
	for _, v := range c.ReleaseVerified {
		out = append(out, "verified:"+v)
	}
	if c.ReleaseConsents {
		out = append(out, "consents")
	}
	return out
}

// showConsent asks the signed-in person whether the client may have what
// it asks for; when that is no longer needed, it completes the request.
func (h *Handler) showConsent(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ar, ok := h.liveRequest(w, r)
	if !ok {
		return
	}
	s, ok := h.signedInFor(w, r, ar)
	if !ok {
		return
	}
	c, err := h.cfg.Clients.LookupClient(ctx, ar.ClientID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ask, err := h.mustAsk(ctx, c, ar, s.UserID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !ask {
		h.issue(w, r, ar, s)
		return
	}
	u, err := h.cfg.Users.UserByID(ctx, s.UserID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.cfg.Pages.ShowConsent(w, r, web.Consent{
		ClientName: c.displayName(),
		Scopes:     ar.Params.Scopes,
		Verified:   c.ReleaseVerified,
		Consents:   c.ReleaseConsents,
		Email:      u.Email,
		Action:     consentURL(ar.ID),
		UILocales:  strings.Join(ar.Params.UILocales, " "),
		UserLocale: u.Locale,
	})
}

// submitConsent takes the person's answer: allow remembers it and issues
// the code; deny ends the request and tells the client access_denied.
func (h *Handler) submitConsent(w http.ResponseWriter, r *http.Request) {
	if !h.cfg.Pages.CheckForm(w, r) {
		return
	}
	ctx := r.Context()
	ar, ok := h.liveRequest(w, r)
	if !ok {
		return
	}
	s, ok := h.signedInFor(w, r, ar)
	if !ok {
		return
	}
	switch r.PostFormValue("decision") {
	case "allow":
		c, err := h.cfg.Clients.LookupClient(ctx, ar.ClientID)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if err := h.saveConsent(ctx, consented(c, ar), ar, s.UserID); err != nil {
			h.fail(w, r, err)
			return
		}
		h.issue(w, r, ar, s)
	case "deny":
		// The request ends here: going back and allowing after all needs a
		// new request from the client.
		if _, err := h.cfg.Grants.UpdateAuthRequest(ctx, ar.ID, func(a AuthRequest) (AuthRequest, error) {
			a.ExpiresAt = h.now()
			return a, nil
		}); err != nil {
			h.fail(w, r, err)
			return
		}
		h.cfg.Logger.InfoContext(ctx, "consent denied", "client_id", ar.ClientID, "user", s.UserID)
		op.AuthRequestError(h.issWriter(w), r, &ar, zoidc.ErrAccessDenied().WithDescription("the user did not allow the request"), h.provider)
	default:
		http.Redirect(w, r, consentURL(ar.ID), http.StatusSeeOther)
	}
}

// saveConsent remembers that the person allowed items (the request's
// scopes and verified attributes), on top of what they allowed the client
// before.
func (h *Handler) saveConsent(ctx context.Context, items []string, ar AuthRequest, userID string) error {
	now := h.now()
	c := Consent{UserID: userID, ClientID: ar.ClientID, Scopes: items, CreatedAt: now, UpdatedAt: now}
	before, err := h.cfg.Grants.ConsentFor(ctx, userID, ar.ClientID)
	switch {
	case err == nil:
		c.CreatedAt = before.CreatedAt
		for _, s := range before.Scopes {
			if !slices.Contains(c.Scopes, s) {
				c.Scopes = append(c.Scopes, s)
			}
		}
	case !errors.Is(err, ErrNotFound):
		return err
	}
	ev, err := events.New("oidc.consent_granted", "user:"+userID, "user:"+userID, now,
		map[string]any{"client_id": ar.ClientID, "scopes": items})
	if err != nil {
		return err
	}
	return h.cfg.Grants.SaveConsent(ctx, c, ev)
}
