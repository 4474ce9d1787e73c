package privacy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/events"
)

// Errors.
var (
	// ErrNotFound means there is no pending deletion.
	ErrNotFound = errors.New("no pending deletion")
	// ErrKept means an account the sweep looked at is not to be erased
	// (any more): its deletion is not due, it was cancelled, or the
	// unverified registration was verified or used meanwhile.
	ErrKept = errors.New("account kept")
)

// Reason is why an account was erased, in its user.deleted event.
type Reason string

// The reasons.
const (
	// ReasonRequested: the person asked for it.
	ReasonRequested Reason = "requested"
	// ReasonAdmin: an operator or an integration deleted it.
	ReasonAdmin Reason = "admin"
	// ReasonUnverified: a registration whose address was never verified,
	// past its retention.
	ReasonUnverified Reason = "unverified"
)

// Deletion is an account's pending deletion.
type Deletion struct {
	RequestedAt time.Time `json:"requested_at"`
	// DueAt is when the sweep erases the account, unless the person
	// signs in before.
	DueAt time.Time `json:"due_at"`
}

// Pending is an account about to be marked for deletion, as the store
// finds it inside the transaction that marks it.
type Pending struct {
	User accounts.User
	// Sessions are the account's sessions, which end with the request,
	// by their names in events (session:<sid>).
	Sessions []string
}

// LogoutTarget is an application that holds tokens of the person, to be
// told by back-channel logout: its client ID and the session ID (sid) the
// tokens were issued in ("" for none).
type LogoutTarget struct {
	ClientID string `json:"client_id"`
	SID      string `json:"sid,omitempty"`
}

// Erasure is an account about to be erased, as the store finds it inside
// the erasing transaction.
type Erasure struct {
	User accounts.User
	// ExternalIDs are the IDs of further source systems (source → ID).
	ExternalIDs map[string]string
	// Deletion is the pending deletion; zero when none.
	Deletion Deletion
	// Addresses are the mail addresses records about the person keep
	// besides the account's own: of linked upstream accounts, of join
	// requests and of invitations they accepted.
	Addresses []string
	// SelfRegistered says that the person made the account (it has a
	// user.registered event), rather than an operator or an import.
	SelfRegistered bool
	// Identities, Factors and Memberships count the linked upstream
	// accounts, second factors and passkeys, and organizations.
	Identities, Factors, Memberships int
	// LastSignIn is the last user.login_succeeded; zero for none.
	LastSignIn time.Time
	// Logout are the applications holding live tokens of the person or
	// tokens of their live sessions.
	Logout []LogoutTarget
}

// Store keeps pending deletions and erases accounts. Each change is
// written with its events in one transaction.
type Store interface {
	// ScheduleDeletion marks the user's account for deletion, in one
	// transaction: fn gets the account and its sessions and returns the
	// deletion and its events; the sessions are then deleted, the user's
	// tokens revoked (their access tokens denied) and the deletion stored
	// (replacing one pending). accounts.ErrNotFound if there is no such
	// user; fn's error aborts.
	ScheduleDeletion(ctx context.Context, userID string, fn func(Pending) (Deletion, []events.Event, error)) (Deletion, error)
	// CancelDeletion removes the user's pending deletion and writes ev;
	// false (and nothing written) if there is none.
	CancelDeletion(ctx context.Context, userID string, ev events.Event) (bool, error)
	// DueDeletions returns up to limit users whose deletion is due at
	// now, earliest first.
	DueDeletions(ctx context.Context, now time.Time, limit int) ([]string, error)
	// UnverifiedAccounts returns up to limit users, oldest first, who made
	// their account themselves before before, never verified its
	// address, link no upstream account, have no second factor or passkey
	// and no organization, and have not signed in since before.
	UnverifiedAccounts(ctx context.Context, before time.Time, limit int) ([]string, error)
	// EraseUser erases the user in one transaction: fn gets what is
	// about to go (found at now) and returns the events to write, or an
	// error that aborts. The account goes with everything keyed to it or
	// naming its addresses; the person's addresses, names, phone and IP
	// addresses are scrubbed (Scrubber) from the events and webhook
	// deliveries that stay; fn's events are written last.
	// accounts.ErrNotFound if there is no such user.
	EraseUser(ctx context.Context, userID string, now time.Time, fn func(Erasure) ([]events.Event, error)) error
	// AppendEvents writes events that go with no other change.
	AppendEvents(ctx context.Context, evs ...events.Event) error
}

// Service exports and erases people's data.
type Service struct {
	Store       Store
	Profiles    Profiles
	SignIns     SignIns
	Memberships Memberships
	Activity    Activity
	// Proofing opens verified attributes; nil leaves them out.
	Proofing Proofing
	// Consents reads consent receipts; nil exports none.
	Consents Consents
	// GracePeriod is how long a person's deletion waits, during which
	// signing in cancels it; 0 erases at once.
	GracePeriod time.Duration
	// UnverifiedRetention is how long a registration whose address was
	// never verified is kept (from its creation and its last sign-in);
	// 0 keeps it.
	UnverifiedRetention time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// now is the clock at the precision the store keeps (microseconds).
func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC().Truncate(time.Microsecond)
	}
	return time.Now().UTC().Truncate(time.Microsecond)
}

// RequestDeletion is the person's request (actor user:<id>) to delete
// their account. With a grace period the account is marked for deletion
// at its end, its sessions end and its tokens are revoked
// (user.deletion_requested, session.ended for each session); without one
// it is erased at once. It returns the deletion and whether the account
// is gone.
func (s *Service) RequestDeletion(ctx context.Context, userID, actor string) (Deletion, bool, error) {
	now := s.now()
	if s.GracePeriod <= 0 {
		return Deletion{RequestedAt: now, DueAt: now}, true, s.erase(ctx, userID, ReasonRequested, actor, nil)
	}
	d, err := s.Store.ScheduleDeletion(ctx, userID, func(p Pending) (Deletion, []events.Event, error) {
		d := Deletion{RequestedAt: now, DueAt: now.Add(s.GracePeriod)}
		req, err := events.New("user.deletion_requested", p.User.Subject(), actor, now, map[string]any{"due_at": d.DueAt})
		if err != nil {
			return d, nil, err
		}
		evs := []events.Event{req}
		for _, sid := range p.Sessions {
			ev, err := events.New("session.ended", p.User.Subject(), actor, now, map[string]any{"session": sid, "reason": "deletion_requested"})
			if err != nil {
				return d, nil, err
			}
			evs = append(evs, ev)
		}
		return d, evs, nil
	})
	return d, false, err
}

// CancelDeletion cancels the account's pending deletion because the
// person signed in (user.deletion_cancelled). It reports whether there
// was one.
func (s *Service) CancelDeletion(ctx context.Context, userID string) (bool, error) {
	ev, err := events.New("user.deletion_cancelled", "user:"+userID, "user:"+userID, s.now(), map[string]any{"via": "sign_in"})
	if err != nil {
		return false, err
	}
	return s.Store.CancelDeletion(ctx, userID, ev)
}

// Erase erases the account at once on behalf of actor (an operator or an
// integration): reason admin.
func (s *Service) Erase(ctx context.Context, userID, actor string) error {
	return s.erase(ctx, userID, ReasonAdmin, actor, nil)
}

// erase erases userID with a user.deleted event, if check (when set)
// finds the account still to be erased.
func (s *Service) erase(ctx context.Context, userID string, reason Reason, actor string, check func(Erasure) error) error {
	now := s.now()
	return s.Store.EraseUser(ctx, userID, now, func(e Erasure) ([]events.Event, error) {
		if check != nil {
			if err := check(e); err != nil {
				return nil, err
			}
		}
		// What integrations need to find their record and the
		// applications to log out; no address, name or phone.
		data := map[string]any{"reason": reason}
		if e.User.ExternalID != "" {
			data["external_id"] = e.User.ExternalID
		}
		if len(e.ExternalIDs) > 0 {
			data["external_ids"] = e.ExternalIDs
		}
		if len(e.Logout) > 0 {
			data["logout"] = e.Logout
		}
		ev, err := events.New("user.deleted", e.User.Subject(), actor, now, data)
		return []events.Event{ev}, err
	})
}

// Sweep erases, on behalf of the retention job, the accounts whose
// deletion is due and the unverified registrations past their retention,
// up to limit of each. It returns how many it erased; an account that
// fails is left for the next sweep and its error returned with the others.
func (s *Service) Sweep(ctx context.Context, limit int) (int, error) {
	now := s.now()
	n := 0
	var errs []error
	run := func(ids []string, reason Reason, check func(Erasure) error) {
		for _, id := range ids {
			err := s.erase(ctx, id, reason, "system:retention", check)
			switch {
			case err == nil:
				n++
			case errors.Is(err, ErrKept), errors.Is(err, accounts.ErrNotFound):
			default:
				errs = append(errs, fmt.Errorf("erase user %s: %w", id, err))
			}
		}
	}
	due, err := s.Store.DueDeletions(ctx, now, limit)
	if err != nil {
		return n, err
	}
	run(due, ReasonRequested, func(e Erasure) error {
		if e.Deletion.DueAt.IsZero() || e.Deletion.DueAt.After(now) {
			return ErrKept // cancelled by a sign-in meanwhile
		}
		return nil
	})
	if s.UnverifiedRetention > 0 {
		before := now.Add(-s.UnverifiedRetention)
		ids, err := s.Store.UnverifiedAccounts(ctx, before, limit)
		if err != nil {
			return n, errors.Join(append(errs, err)...)
		}
		run(ids, ReasonUnverified, func(e Erasure) error {
			if !Abandoned(e, before) {
				return ErrKept
			}
			return nil
		})
	}
	return n, errors.Join(errs...)
}

// Abandoned reports whether an account is an abandoned registration as
// of before: the person made it themselves before then, never verified
// its address, has no other way in (no linked upstream account, second
// factor or passkey), belongs to no organization, and has not signed in
// since.
func Abandoned(e Erasure, before time.Time) bool {
	return !e.User.EmailVerified && e.SelfRegistered && !e.User.CreatedAt.After(before) &&
		e.Identities == 0 && e.Factors == 0 && e.Memberships == 0 && !e.LastSignIn.After(before)
}

// DeletionOf returns the account's pending deletion, ErrNotFound if none.
func (s *Service) DeletionOf(ctx context.Context, userID string) (Deletion, error) {
	return s.Profiles.DeletionOf(ctx, userID)
}
