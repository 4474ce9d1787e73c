package oidc

import (
	"context"
	"fmt"
)

// The consents claim: a client registered for it (Client.ReleaseConsents)
// receives, in its ID tokens and from userinfo, the person's consents to
// the purposes that concern it, one member per purpose:
//
//	"consents": {
//	  "terms": {"granted": true, "version": "2", "at": 1767225600},
//	  "marketing_email": {"granted": false, "version": "1", "at": 1767312000},
//	  "profiling": {"granted": false}
//	}
//
// version and at are those of the person's last decision (at in seconds
// since 1970); a purpose never decided on is not granted. It is read anew
// at every token and userinfo response, so a withdrawal shows at the next
// refresh.

// Consents gives the consents claim.
type Consents interface {
	// ConsentsClaim returns the claim's value for clientID about userID:
	// a JSON object, one member per purpose concerning the client.
	ConsentsClaim(ctx context.Context, userID, clientID string) (any, error)
}

// consentsClaim is the consents claim for client c about userID, or nil
// when the client is not registered for it.
func (h *Handler) consentsClaim(ctx context.Context, c Client, userID string) (any, error) {
	if !c.ReleaseConsents || h.cfg.Consents == nil || userID == "" {
		return nil, nil
	}
	v, err := h.cfg.Consents.ConsentsClaim(ctx, userID, c.ID)
	if err != nil {
		return nil, fmt.Errorf("consents claim for client %s: %w", c.ID, err)
	}
	return v, nil
}
