package accounts

import (
	"context"
	"time"
)

// Profile freshness. Contact data decays: people move, change numbers and
// names. A profile counts as up to date for ProfileMaxAge after the person
// last said it was right; after that it is stale, and the next sign-in
// asks them to confirm or correct it (GDPR Art. 5(1)(d), accuracy).
//
// What counts as the person saying so, and sets ProfileConfirmedAt:
// registering (the person typed or accepted the data), editing their own
// profile (even without a change: they looked at it and saved it), and
// confirming it as it is. What does not: changes by the CRM or an operator
// through the management API or the command line, and refreshes from an
// identity provider. Those are other parties' records, not the person
// confirming, and they leave ProfileConfirmedAt as it was.

// Ways a profile is confirmed, as the user.profile_confirmed event's via.
const (
	// ConfirmedAsIs: the person confirmed the profile without a change.
	ConfirmedAsIs = "confirmation"
	// ConfirmedByEdit: the person saved their profile, changed or not.
	ConfirmedByEdit = "edit"
)

// ProfileCheckedAt is when u's profile was last known to be right: when
// the person last confirmed it, or, for a profile they never confirmed
// (made by an operator, the management API or an import), when the account
// was made, since its data was as good as its source then.
func ProfileCheckedAt(u User) time.Time {
	if !u.ProfileConfirmedAt.IsZero() {
		return u.ProfileConfirmedAt
	}
	return u.CreatedAt
}

// StaleBefore is the time before which a checked profile is stale now
// (see ProfileCheckedAt), or the zero time when freshness is off.
func (s *Service) StaleBefore() time.Time {
	if s.ProfileMaxAge <= 0 {
		return time.Time{}
	}
	return s.now().Add(-s.ProfileMaxAge)
}

// ProfileStale reports whether u's profile is due to be confirmed again:
// freshness is on and the profile was last checked longer than
// ProfileMaxAge ago. This is the one definition of stale; lists and
// filters use StaleBefore, which agrees with it.
func (s *Service) ProfileStale(u User) bool {
	cutoff := s.StaleBefore()
	return !cutoff.IsZero() && ProfileCheckedAt(u).Before(cutoff)
}

// ConfirmProfile records that the person confirmed their profile as it is:
// ProfileConfirmedAt becomes now, with a user.profile_confirmed event by
// the person (via "confirmation"). ErrNotFound if there is no such user.
func (s *Service) ConfirmProfile(ctx context.Context, id string) (User, error) {
	return s.update(ctx, id, Update{}, "", "user:"+id, nil, ConfirmedAsIs)
}

// EditProfile is the person's own change of their profile: only the fields
// they own may change (as UpdateOwned with OwnerPerson), and saving counts
// as confirming the profile, changed or not (user.updated when something
// changed, and user.profile_confirmed with via "edit", in one
// transaction).
func (s *Service) EditProfile(ctx context.Context, id string, up Update) (User, error) {
	return s.update(ctx, id, up, "", "user:"+id, func(cur User) error { return s.CheckOwned(cur, up, OwnerPerson) }, ConfirmedByEdit)
}
