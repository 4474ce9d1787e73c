package oidc

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/portvakt/portvakt/internal/federation"
)

// Verified attributes (what an identity-proofing provider vouched for: legal
// name, date of birth, national identity number) reach a client only if it
// is registered for them (Client.ReleaseVerified), in its ID tokens and
// from userinfo, as the verified_claims of OpenID Connect for Identity
// Assurance 1.0:
//
//	"verified_claims": {
//	  "verification": {
//	    "trust_framework": "eid:bankid",
//	    "verification_process": "eid:bankid",
//	    "time": "2026-05-04T12:30:00Z"
//	  },
//	  "claims": {"name": "Ada Lovelace", "birthdate": "1815-12-10", "national_id": "…"}
//	}
//
// Portvakt does not know the trust framework an upstream provider works
// under, so trust_framework names the provider (eid:<provider ID>), as
// verification_process does; time is when it vouched. The legal name is
// kept as one string, so it goes as name. Attributes vouched for by
// different providers or at different times go in one object each, and
// verified_claims is then an array of them. Values are never logged.

// Proofing is what the provider needs of identity proofing.
type Proofing interface {
	// Verified returns userID's verified attributes, opened, in name
	// order; none for a person never proofed. A value that cannot be
	// opened is an error, never an empty value.
	Verified(ctx context.Context, userID string) ([]federation.Verified, error)
}

// verifiedClaimNames are the claims the verified attributes go out as.
var verifiedClaimNames = map[string]string{
	federation.AttrLegalName:  "name",
	federation.AttrBirthdate:  "birthdate",
	federation.AttrNationalID: "national_id",
}

// verification says who vouched for a group of claims, and when.
type verification struct {
	TrustFramework      string `json:"trust_framework"`
	VerificationProcess string `json:"verification_process"`
	Time                string `json:"time"`
}

// verifiedGroup is one verified_claims object.
type verifiedGroup struct {
	Verification verification      `json:"verification"`
	Claims       map[string]string `json:"claims"`
}

// verifiedClaims returns the verified_claims value for client c about
// userID: one object, an array of objects when several providers or times
// are involved, or nil when there is nothing to release (the client is not
// registered for any, or the person was never proofed).
func (h *Handler) verifiedClaims(ctx context.Context, c Client, userID string) (any, error) {
	if len(c.ReleaseVerified) == 0 || h.cfg.Proofing == nil || userID == "" {
		return nil, nil
	}
	attrs, err := h.cfg.Proofing.Verified(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("verified claims for client %s: %w", c.ID, err)
	}
	groups := groupVerified(attrs, c.ReleaseVerified)
	switch len(groups) {
	case 0:
		return nil, nil
	case 1:
		return groups[0], nil
	}
	return groups, nil
}

// groupVerified puts the attributes named in release into verified_claims
// objects, one per source and time, oldest first.
func groupVerified(attrs []federation.Verified, release []string) []verifiedGroup {
	type key struct {
		source string
		at     time.Time
	}
	var keys []key
	byKey := map[key]map[string]string{}
	for _, a := range attrs {
		claim, ok := verifiedClaimNames[a.Name]
		if !ok || !slices.Contains(release, a.Name) || a.Value == "" {
			continue
		}
		k := key{a.Source, a.VerifiedAt.UTC().Truncate(time.Second)}
		if byKey[k] == nil {
			byKey[k] = map[string]string{}
			keys = append(keys, k)
		}
		byKey[k][claim] = a.Value
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(a.at.Compare(b.at), strings.Compare(a.source, b.source))
	})
	out := make([]verifiedGroup, len(keys))
	for i, k := range keys {
		out[i] = verifiedGroup{
			Verification: verification{TrustFramework: k.source, VerificationProcess: k.source, Time: k.at.Format(time.RFC3339)},
			Claims:       byKey[k],
		}
	}
	return out
}
