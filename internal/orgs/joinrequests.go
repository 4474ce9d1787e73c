package orgs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/portvakt/portvakt/internal/events"
)

// Join request statuses.
const (
	JoinPending  = "pending"
	JoinApproved = "approved"
	JoinDeclined = "declined"
)

// JoinActor is who admits a person at once when the organization admits
// its domain (Settings.AutoJoin), in events and on the request.
const JoinActor = "system:auto-join"

// Errors of joining by domain.
var (
	// ErrNotEligible means the person may not ask to join the
	// organization: their address is not verified, not in one of its
	// domains, or they are a member already.
	ErrNotEligible = errors.New("not eligible to join the organization")
	// ErrJoinRequestDecided means the request was approved or declined
	// already.
	ErrJoinRequestDecided = errors.New("the request to join was decided already")
)

// JoinRequest is a person's request to join an organization whose domain
// their verified address is in.
type JoinRequest struct {
	ID     string
	OrgID  string
	UserID string
	// Email is the person's address when they asked (lower case), for the
	// organization's admins.
	Email     string
	Status    string
	CreatedAt time.Time
	// DecidedAt and DecidedBy (user:<id>, system:cli, JoinActor) are set
	// once it is approved or declined.
	DecidedAt time.Time
	DecidedBy string
}

// JoinRequestStore keeps requests to join; each change is written with its
// events in one transaction.
type JoinRequestStore interface {
	// CreateJoinRequest stores a new request; ErrConflict if the person
	// has a pending one to the organization. A request stored approved
	// (the organization admits at once) makes the person a member with
	// roles (added to any they hold there; roles no longer declared left
	// out) in the same transaction.
	CreateJoinRequest(ctx context.Context, jr JoinRequest, roles []Grant, evs ...events.Event) error
	JoinRequestByID(ctx context.Context, id string) (JoinRequest, error)
	// PendingJoinRequest returns the person's pending request to the
	// organization, ErrNotFound if there is none.
	PendingJoinRequest(ctx context.Context, orgID, userID string) (JoinRequest, error)
	// JoinRequests returns the organization's requests of a status (""
	// for all), oldest first.
	JoinRequests(ctx context.Context, orgID, status string) ([]JoinRequest, error)
	// DecideJoinRequest marks the pending request id approved or declined
	// (status) by decidedBy at the time given; approved, it makes the
	// person a member with roles (added to any they hold there; roles no
	// longer declared left out). It returns the request as stored;
	// ErrJoinRequestDecided if it is not pending, ErrNotFound if there is
	// no such request.
	DecideJoinRequest(ctx context.Context, id, status, decidedBy string, at time.Time, roles []Grant, evs ...events.Event) (JoinRequest, error)
}

// Emails tells the address of a person and whether they proved it is
// theirs.
type Emails interface {
	// UserEmail returns userID's address and whether it is verified.
	UserEmail(ctx context.Context, userID string) (email string, verified bool, err error)
}

// Joins lets people join the organization of their verified address's
// domain: admitted at once when it admits its domain, otherwise on a
// request its admins approve or decline. Each change is written with its
// events: join_request.created|approved|declined and membership.added (or
// membership.roles_changed).
type Joins struct {
	Store interface {
		Store
		JoinRequestStore
	}
	Emails Emails
	Now    func() time.Time
}

func (s *Joins) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Joinable is an organization a person may ask to join, and whether
// they have asked already.
type Joinable struct {
	Organization
	Pending bool
}

// Joinable returns the active organizations userID may ask to join: the
// one whose domain their verified address is in, if they are not a member
// of it. An unverified address has none: anyone can type any address.
func (s *Joins) Joinable(ctx context.Context, userID string) ([]Joinable, error) {
	o, _, err := s.eligible(ctx, userID)
	if errors.Is(err, ErrNotEligible) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	_, err = s.Store.PendingJoinRequest(ctx, o.ID, userID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	return []Joinable{{Organization: o, Pending: err == nil}}, nil
}

// eligible returns the organization userID may ask to join and their
// address; ErrNotEligible if there is none.
func (s *Joins) eligible(ctx context.Context, userID string) (Organization, string, error) {
	email, verified, err := s.Emails.UserEmail(ctx, userID)
	if err != nil {
		return Organization{}, "", err
	}
	email = strings.ToLower(strings.TrimSpace(email))
	_, domain, ok := strings.Cut(email, "@")
	if !verified || !ok || domain == "" {
		return Organization{}, "", ErrNotEligible
	}
	o, err := s.Store.OrganizationByDomain(ctx, domain)
	if errors.Is(err, ErrNotFound) {
		return Organization{}, "", ErrNotEligible
	}
	if err != nil {
		return Organization{}, "", err
	}
	if o.Status != StatusActive {
		return Organization{}, "", ErrNotEligible
	}
	switch _, err := s.Store.Membership(ctx, o.ID, userID); {
	case err == nil:
		return Organization{}, "", ErrNotEligible
	case !errors.Is(err, ErrNotFound):
		return Organization{}, "", err
	}
	return o, email, nil
}

func joinData(jr JoinRequest) map[string]any {
	return map[string]any{"join_request_id": jr.ID, "user_id": jr.UserID, "email": jr.Email}
}

// joinRoles are the organization's join roles that are still declared;
// never the admin role, which only an admin hands over.
func (s *Joins) joinRoles(ctx context.Context, o Organization) ([]Grant, error) {
	if len(o.JoinRoles) == 0 {
		return nil, nil
	}
	declared, err := s.Store.Roles(ctx, "")
	if err != nil {
		return nil, err
	}
	var out []Grant
	for _, g := range o.JoinRoles {
		if g != Admin && slices.ContainsFunc(declared, func(r Role) bool { return r.App == g.App && r.Name == g.Role }) {
			out = append(out, g)
		}
	}
	return out, nil
}

// Ask asks for userID to join orgID, which must be the organization of
// their verified address's domain (ErrNotEligible otherwise). If it admits
// its domain, they join at once with its join roles and the request comes
// back approved; otherwise it comes back pending. Asking again while a
// request is pending returns that request.
func (s *Joins) Ask(ctx context.Context, orgID, userID string) (JoinRequest, error) {
	o, email, err := s.eligible(ctx, userID)
	if err != nil {
		return JoinRequest{}, err
	}
	if o.ID != orgID {
		return JoinRequest{}, ErrNotEligible
	}
	if jr, err := s.Store.PendingJoinRequest(ctx, o.ID, userID); err == nil {
		return jr, nil
	} else if !errors.Is(err, ErrNotFound) {
		return JoinRequest{}, err
	}
	now := s.now()
	jr := JoinRequest{ID: uuid.Must(uuid.NewV7()).String(), OrgID: o.ID, UserID: userID, Email: email, Status: JoinPending, CreatedAt: now}
	actor := "user:" + userID
	created, err := events.New("join_request.created", o.Subject(), actor, now, joinData(jr))
	if err != nil {
		return JoinRequest{}, err
	}
	evs := []events.Event{created}
	var roles []Grant
	if o.AutoJoin {
		if roles, err = s.joinRoles(ctx, o); err != nil {
			return JoinRequest{}, err
		}
		jr.Status, jr.DecidedAt, jr.DecidedBy = JoinApproved, now, JoinActor
		approved, err := events.New("join_request.approved", o.Subject(), JoinActor, now, joinData(jr))
		if err != nil {
			return JoinRequest{}, err
		}
		joined, err := events.New("membership.added", o.Subject(), JoinActor, now,
			map[string]any{"user_id": userID, "roles": grantNames(roles), "join_request_id": jr.ID, "via": "domain"})
		if err != nil {
			return JoinRequest{}, err
		}
		evs = append(evs, approved, joined)
	}
	err = s.Store.CreateJoinRequest(ctx, jr, roles, evs...)
	if errors.Is(err, ErrConflict) && jr.Status == JoinPending {
		// Asked twice at once: the other request is the one.
		return s.Store.PendingJoinRequest(ctx, o.ID, userID)
	}
	if err != nil {
		return JoinRequest{}, err
	}
	return jr, nil
}

// Pending returns the organization's pending requests, oldest first.
func (s *Joins) Pending(ctx context.Context, orgID string) ([]JoinRequest, error) {
	return s.Store.JoinRequests(ctx, orgID, JoinPending)
}

// Approve admits the person of the organization's pending request id with
// the organization's join roles. A request of another organization is
// ErrNotFound; one decided already ErrJoinRequestDecided.
func (s *Joins) Approve(ctx context.Context, orgID, id, actor string) (JoinRequest, error) {
	jr, err := s.pending(ctx, orgID, id)
	if err != nil {
		return JoinRequest{}, err
	}
	o, err := s.Store.OrganizationByID(ctx, orgID)
	if err != nil {
		return JoinRequest{}, err
	}
	roles, err := s.joinRoles(ctx, o)
	if err != nil {
		return JoinRequest{}, err
	}
	now := s.now()
	jr.Status, jr.DecidedAt, jr.DecidedBy = JoinApproved, now, actor
	approved, err := events.New("join_request.approved", o.Subject(), actor, now, joinData(jr))
	if err != nil {
		return JoinRequest{}, err
	}
	typ := "membership.added"
	if _, err := s.Store.Membership(ctx, orgID, jr.UserID); err == nil {
		typ = "membership.roles_changed" // joined another way meanwhile
	}
	joined, err := events.New(typ, o.Subject(), actor, now,
		map[string]any{"user_id": jr.UserID, "roles": grantNames(roles), "join_request_id": jr.ID, "via": "join_request"})
	if err != nil {
		return JoinRequest{}, err
	}
	return s.Store.DecideJoinRequest(ctx, jr.ID, JoinApproved, actor, now, roles, approved, joined)
}

// Decline turns down the organization's pending request id. A request of
// another organization is ErrNotFound; one decided already
// ErrJoinRequestDecided.
func (s *Joins) Decline(ctx context.Context, orgID, id, actor string) (JoinRequest, error) {
	jr, err := s.pending(ctx, orgID, id)
	if err != nil {
		return JoinRequest{}, err
	}
	now := s.now()
	jr.Status, jr.DecidedAt, jr.DecidedBy = JoinDeclined, now, actor
	ev, err := events.New("join_request.declined", "org:"+orgID, actor, now, joinData(jr))
	if err != nil {
		return JoinRequest{}, err
	}
	return s.Store.DecideJoinRequest(ctx, jr.ID, JoinDeclined, actor, now, nil, ev)
}

// pending returns the organization's request id if it is pending.
func (s *Joins) pending(ctx context.Context, orgID, id string) (JoinRequest, error) {
	jr, err := s.Store.JoinRequestByID(ctx, id)
	switch {
	case err != nil:
		return JoinRequest{}, err
	case jr.OrgID != orgID:
		return JoinRequest{}, fmt.Errorf("join request %s: %w", id, ErrNotFound)
	case jr.Status != JoinPending:
		return JoinRequest{}, ErrJoinRequestDecided
	}
	return jr, nil
}
