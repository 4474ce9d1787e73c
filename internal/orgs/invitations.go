package orgs

import (
	"context"
	"errors"
	"time"

	"github.com/portvakt/portvakt/internal/events"
)

// Invitation statuses.
const (
	InvitationPending  = "pending"
	InvitationAccepted = "accepted"
	InvitationRevoked  = "revoked"
	InvitationExpired  = "expired"
)

// ErrInvitationUsed means the invitation was accepted, revoked or has
// expired.
var ErrInvitationUsed = errors.New("the invitation is no longer valid")

// Invitation asks a person to join an organization with roles. Its link
// carries a random token; only the token's SHA-256 is kept.
type Invitation struct {
	ID    string
	OrgID string
	// Email is where the invitation goes, normalized (lower case); it is
	// fixed on the registration form, since the link proves it.
	Email string
	// GivenName, FamilyName and Phone pre-fill the registration form;
	// Locale is the language of the mail and the pages.
	GivenName  string
	FamilyName string
	Phone      string
	Locale     string
	Roles      []Grant
	// ReturnTo is where the person goes once they have joined (a path on
	// this server, such as an authorization request), or "".
	ReturnTo  string
	TokenHash string
	Status    string
	// InvitedBy is who invited (user:<id>, system:cli, …).
	InvitedBy  string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	ExpiresAt  time.Time
	AcceptedAt time.Time
	// AcceptedBy is the user who accepted it.
	AcceptedBy string
}

// InvitationStore keeps invitations; each change is written with its
// events in one transaction.
type InvitationStore interface {
	// CreateInvitation stores a new invitation; ErrConflict if the
	// organization has a pending one for the same address.
	CreateInvitation(ctx context.Context, inv Invitation, evs ...events.Event) error
	// UpdateInvitation replaces the invitation with inv.ID (a new token
	// and expiry when it is sent again, or its status).
	UpdateInvitation(ctx context.Context, inv Invitation, evs ...events.Event) error
	InvitationByID(ctx context.Context, id string) (Invitation, error)
	// InvitationByTokenHash returns the invitation whose token has the
	// SHA-256 hash (any status).
	InvitationByTokenHash(ctx context.Context, hash string) (Invitation, error)
	// PendingInvitation returns the organization's pending invitation for
	// the address, ErrNotFound if there is none.
	PendingInvitation(ctx context.Context, orgID, email string) (Invitation, error)
	// Invitations returns the organization's invitations of a status (""
	// for all), newest first.
	Invitations(ctx context.Context, orgID, status string) ([]Invitation, error)
	// AcceptInvitation marks the pending, unexpired invitation with the
	// token hash accepted by userID at the time given and makes userID a
	// member of its organization with its roles (added to any they hold
	// there), in one transaction with the events; ErrInvitationUsed if it
	// is not pending or has expired, ErrNotFound if there is no such
	// invitation.
	AcceptInvitation(ctx context.Context, hash, userID string, at time.Time, evs ...events.Event) (Invitation, error)
	// ExpireInvitations marks pending invitations past their expiry as
	// expired, up to limit of them, each with the event made by ev; it
	// returns how many.
	ExpireInvitations(ctx context.Context, now time.Time, limit int, ev func(Invitation) (events.Event, error)) (int, error)
}
