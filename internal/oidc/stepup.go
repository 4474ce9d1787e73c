package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/portvakt/portvakt/internal/authn"
	"github.com/portvakt/portvakt/internal/session"
)

// Levels is what the provider needs to know of levels of assurance
// (authn.Service): the ladder, and how high a person could get.
type Levels interface {
	// Levels is the ladder, lowest first.
	Levels() authn.Ladder
	// ReachableLevel is the highest level userID could reach from a
	// sign-in with methods by adding the factors they have set up.
	ReachableLevel(ctx context.Context, userID string, methods []string) (string, error)
	// HasSecondFactor reports whether userID has set up a second factor.
	HasSecondFactor(ctx context.Context, userID string) (bool, error)
}

// ladderOnly is Levels for a provider without second factors: nobody can
// add anything to what they signed in with.
type ladderOnly struct{ ladder authn.Ladder }

func (l ladderOnly) Levels() authn.Ladder { return l.ladder }
func (l ladderOnly) ReachableLevel(_ context.Context, _ string, methods []string) (string, error) {
	return l.ladder.Of(methods), nil
}
func (ladderOnly) HasSecondFactor(context.Context, string) (bool, error) { return false, nil }

// needsMFA reports whether a session must still give a second factor for
// client c: the deployment or the client requires one, and the session
// used only one.
func (h *Handler) needsMFA(c Client, s session.Session) bool {
	return (h.cfg.MFARequired || c.RequireMFA) && !slices.Contains(s.Methods, authn.MethodMFA)
}

// toSecondFactor sends a person who must use a second factor to give it,
// or, without one, to set one up first; either way back to the request.
func (h *Handler) toSecondFactor(w http.ResponseWriter, r *http.Request, ar AuthRequest, s session.Session, want string) {
	has, err := h.cfg.Levels.HasSecondFactor(r.Context(), s.UserID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if has {
		h.toLogin(w, r, ar, want, true)
		return
	}
	q := url.Values{"return_to": {callbackPath(ar)}, "required": {"1"}}
	http.Redirect(w, r, "/account/mfa?"+q.Encode(), http.StatusSeeOther)
}

// errUnmet is what an application hears when the person cannot reach the
// level it asked for (OpenID Connect Unmet Authentication Requirements 1.0).
func errUnmet(why string) *zoidc.Error {
	return &zoidc.Error{ErrorType: "unmet_authentication_requirements", Description: why}
}

// errNoSuchLevel means an essential acr claim names only values the
// ladder does not have, so that no sign-in can meet it (OpenID Connect
// Core 5.5.1.1).
var errNoSuchLevel = errors.New("none of the essential acr values is a level of assurance of this provider")

// wantedLevel is the level of assurance a request needs: the lowest of
// the acr_values this provider knows (a list of acceptable values, any of
// which will do), raised by an essential acr claim and by the client's
// minimum. "" means any.
func (h *Handler) wantedLevel(c Client, ar AuthRequest) (string, error) {
	ladder := h.cfg.Levels.Levels()
	want := ladder.Minimum(ar.Params.ACRValues)
	if values, ok := essentialACR(ar.Params.Claims); ok && len(values) > 0 {
		min := ladder.Minimum(values)
		if min == "" {
			return "", errNoSuchLevel
		}
		want = ladder.Highest(want, min)
	}
	if c.MinACR != "" {
		want = ladder.Highest(want, c.MinACR)
	}
	return want, nil
}

// essentialACR returns the values of an acr claim requested as essential
// in the claims parameter (ID token or userinfo).
func essentialACR(raw json.RawMessage) ([]string, bool) {
	if len(raw) == 0 {
		return nil, false
	}
	var cr claimsRequest
	if json.Unmarshal(raw, &cr) != nil {
		return nil, false
	}
	for _, target := range []map[string]*claimRequest{cr.IDToken, cr.UserInfo} {
		req := target["acr"]
		if req == nil || !req.Essential {
			continue
		}
		var values []string
		var one string
		if len(req.Value) > 0 && json.Unmarshal(req.Value, &one) == nil && one != "" {
			values = append(values, one)
		}
		if len(req.Values) > 0 {
			var many []string
			if json.Unmarshal(req.Values, &many) == nil {
				values = append(values, many...)
			}
		}
		return values, true
	}
	return nil, false
}
