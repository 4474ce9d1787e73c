package federation

import (
	"context"
	"fmt"
	"time"
)

// The attributes an identity-proofing provider can vouch for, by the names
// they are kept under.
const (
	// AttrLegalName is the legal name, given names then family name, as
	// one string.
	AttrLegalName = "legal_name"
	// AttrBirthdate is the date of birth as the provider sent it
	// (YYYY-MM-DD from a conforming provider).
	AttrBirthdate = "birthdate"
	// AttrNationalID is the national identity number: special-category
	// personal data, never logged or shown in full.
	AttrNationalID = "national_id"
)

// VerifiedNames are the names of the attributes a proofing keeps.
var VerifiedNames = []string{AttrLegalName, AttrBirthdate, AttrNationalID}

// Verified is a verified attribute opened: its value in plain. It holds
// special-category personal data (the national identity number); it is
// for release to applications configured for it, never for logs.
type Verified struct {
	Name  string
	Value string `json:"-"`
	// Source is the provider that vouched for it: eid:<provider ID>.
	Source     string
	VerifiedAt time.Time
}

// String leaves the value out, so that a Verified printed by mistake
// gives nothing away.
func (v Verified) String() string {
	return fmt.Sprintf("%s (from %s at %s)", v.Name, v.Source, v.VerifiedAt.Format(time.RFC3339))
}

// verifiedAAD binds a sealed verified attribute to its user and name, as
// Proof seals it: a value moved to another user or name does not open.
func verifiedAAD(userID, name string) []byte {
	return []byte("verified:" + userID + ":" + name)
}

// Verified returns what identity-proofing providers vouched for about
// userID, opened with the keyring, in name order; none for a person never
// proofed. A value that does not open is an error: it is never passed on
// as empty.
func (s *Service) Verified(ctx context.Context, userID string) ([]Verified, error) {
	sealed, err := s.Store.VerifiedAttributes(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]Verified, 0, len(sealed))
	for _, a := range sealed {
		plain, err := s.Cipher.Decrypt(ctx, a.Value, verifiedAAD(userID, a.Name))
		if err != nil {
			return nil, fmt.Errorf("open verified attribute %s of user %s: %w", a.Name, userID, err)
		}
		out = append(out, Verified{Name: a.Name, Value: string(plain), Source: a.Source, VerifiedAt: a.VerifiedAt})
	}
	return out, nil
}
