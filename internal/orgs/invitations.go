package orgs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/portvakt/portvakt/internal/events"
)

// Invitation statuses.
const (
	InvitationPending  = "pending"
	InvitationAccepted = "accepted"
	InvitationRevoked  = "revoked"
	InvitationExpired  = "expired"
)

// How an invitation's link reaches the person.
const (
	DeliveryEmail = "email"
	DeliveryLink  = "link"
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
	// LockedFields are pre-filled fields (given_name, family_name, phone)
	// the person cannot change: read-only on the registration form and,
	// once registered, owned by the CRM for that person.
	LockedFields []string
	// ReturnTo is where the person goes once they have joined (a path on
	// this server, such as an authorization request), or "".
	ReturnTo string
	// ClientID is the application (an OIDC client with an initiate login
	// URI) the person is sent on to once they have joined, or "". It
	// comes before ReturnTo.
	ClientID string
	// Reference is the inviting system's own ID for the invitation (the
	// CRM's), carried in its events.
	Reference string
	// Delivery is how the link reaches the person: DeliveryEmail (mailed
	// from here) or DeliveryLink (the inviter got it, to send itself).
	Delivery string
	// SealedToken is the link's token sealed by the keyring, for the mailer
	// of an invitation whose inviter also got the link; nil once mailed,
	// and for every other invitation.
	SealedToken []byte
	TokenHash   string
	Status      string
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

// DefaultInvitationTTL is how long an invitation can be accepted.
const DefaultInvitationTTL = 7 * 24 * time.Hour

// Invitations invites people to organizations: each change with its
// event (invitation.created|resent|accepted|revoked|expired, and the
// membership's).
type Invitations struct {
	Store interface {
		Store
		InvitationStore
	}
	// Apps tells which applications an invitation may lead to; nil allows
	// none.
	Apps Applications
	// Cipher seals the token of an invitation both mailed and handed to
	// its inviter (InviteWithLink with mail), until it is mailed.
	Cipher interface {
		Encrypt(plaintext, aad []byte) ([]byte, error)
		Decrypt(ctx context.Context, ciphertext, aad []byte) ([]byte, error)
	}
	// TTL is how long an invitation can be accepted (default 7 days).
	TTL time.Duration
	Now func() time.Time
}

// Applications are the applications an accepted invitation can send a
// person on to.
type Applications interface {
	// InitiateLoginURI returns where the client (by ID) is opened signed
	// in: its initiate login URI, "" when it has none or does not exist.
	InitiateLoginURI(ctx context.Context, clientID string) (string, error)
}

func (s *Invitations) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Invitations) ttl() time.Duration {
	if s.TTL > 0 {
		return s.TTL
	}
	return DefaultInvitationTTL
}

// NewInvitationToken returns a random token for an invitation link and
// the hash that is stored.
func NewInvitationToken() (token, hash string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, TokenHash(token)
}

// TokenHash is the stored form of an invitation token.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func invitationData(inv Invitation) map[string]any {
	d := map[string]any{"invitation_id": inv.ID, "email": inv.Email, "roles": grantNames(inv.Roles), "expires_at": inv.ExpiresAt.Format(time.RFC3339)}
	if inv.ClientID != "" {
		d["client_id"] = inv.ClientID
	}
	if inv.Reference != "" {
		d["reference"] = inv.Reference
	}
	if inv.Delivery != "" {
		d["delivery"] = inv.Delivery
	}
	if len(inv.LockedFields) > 0 {
		d["locked_fields"] = inv.LockedFields
	}
	return d
}

// lockable checks inv's locked fields: only pre-filled ones of the fields
// an invitation fills. It returns them once each, in a fixed order.
func lockable(inv Invitation) ([]string, error) {
	prefilled := map[string]string{"given_name": inv.GivenName, "family_name": inv.FamilyName, "phone": inv.Phone}
	for _, f := range inv.LockedFields {
		v, ok := prefilled[f]
		if !ok {
			return nil, FieldError{"locked_fields", fmt.Sprintf("%q is not a field an invitation can lock (given_name, family_name, phone)", f)}
		}
		if strings.TrimSpace(v) == "" {
			return nil, FieldError{"locked_fields", fmt.Sprintf("%s is locked but not pre-filled", f)}
		}
	}
	var out []string
	for _, f := range []string{"given_name", "family_name", "phone"} {
		if slices.Contains(inv.LockedFields, f) {
			out = append(out, f)
		}
	}
	return out, nil
}

// Invite invites inv.Email to inv.OrgID with inv.Roles. An organization
// invites an address once at a time: a second invitation while one is
// pending replaces the pending one's details, roles and expiry (and it is
// sent again). The mail with the link goes out from the event
// (InvitationMailer), which mints the link's token.
func (s *Invitations) Invite(ctx context.Context, inv Invitation, actor string) (Invitation, error) {
	return s.invite(ctx, inv, actor, nil)
}

// invite is Invite; seal, if set, seals the token the inviter also holds
// for the invitation's ID (known only here), for the mailer.
func (s *Invitations) invite(ctx context.Context, inv Invitation, actor string, seal func(id string) ([]byte, error)) (Invitation, error) {
	inv.SealedToken = nil
	email, err := normalizeEmail(inv.Email)
	if err != nil {
		return Invitation{}, FieldError{"email", err.Error()}
	}
	inv.Email = email
	if _, err := s.Store.OrganizationByID(ctx, inv.OrgID); err != nil {
		return Invitation{}, err
	}
	if err := s.checkRoles(ctx, inv.Roles); err != nil {
		return Invitation{}, err
	}
	sortGrants(inv.Roles)
	if inv.ReturnTo != "" && (!strings.HasPrefix(inv.ReturnTo, "/") || strings.HasPrefix(inv.ReturnTo, "//")) {
		return Invitation{}, FieldError{"return_to", "is not a path on this server"}
	}
	if inv.ClientID != "" {
		uri := ""
		if s.Apps != nil {
			if uri, err = s.Apps.InitiateLoginURI(ctx, inv.ClientID); err != nil {
				return Invitation{}, err
			}
		}
		if uri == "" {
			return Invitation{}, FieldError{"client_id", fmt.Sprintf("%q is not an application people can be sent on to (a client with an initiate login URI)", inv.ClientID)}
		}
	}
	if len(inv.Reference) > 255 {
		return Invitation{}, FieldError{"reference", "is longer than 255 characters"}
	}
	if inv.LockedFields, err = lockable(inv); err != nil {
		return Invitation{}, err
	}
	switch inv.Delivery {
	case "":
		inv.Delivery = DeliveryEmail
	case DeliveryEmail, DeliveryLink:
	default:
		return Invitation{}, FieldError{"delivery", fmt.Sprintf("%q is not email or link", inv.Delivery)}
	}
	now := s.now()
	if inv.TokenHash == "" {
		_, inv.TokenHash = NewInvitationToken() // nobody holds this token: the mail gets a new one
	}
	inv.Status, inv.InvitedBy, inv.UpdatedAt, inv.ExpiresAt = InvitationPending, actor, now, now.Add(s.ttl())
	old, err := s.Store.PendingInvitation(ctx, inv.OrgID, email)
	switch {
	case err == nil:
		inv.ID, inv.CreatedAt = old.ID, old.CreatedAt
		if seal != nil {
			if inv.SealedToken, err = seal(inv.ID); err != nil {
				return Invitation{}, err
			}
		}
		ev, err := events.New("invitation.resent", "org:"+inv.OrgID, actor, now, invitationData(inv))
		if err != nil {
			return Invitation{}, err
		}
		return inv, s.Store.UpdateInvitation(ctx, inv, ev)
	case !errors.Is(err, ErrNotFound):
		return Invitation{}, err
	}
	inv.ID, inv.CreatedAt = uuid.Must(uuid.NewV7()).String(), now
	if seal != nil {
		if inv.SealedToken, err = seal(inv.ID); err != nil {
			return Invitation{}, err
		}
	}
	ev, err := events.New("invitation.created", "org:"+inv.OrgID, actor, now, invitationData(inv))
	if err != nil {
		return Invitation{}, err
	}
	return inv, s.Store.CreateInvitation(ctx, inv, ev)
}

// InviteWithLink invites as Invite does and returns the link's token too
// (only its hash is kept). With mail false nothing is mailed: the inviter
// sends the link through its own channel. With mail true the mail carries
// the same link: its token waits, sealed, until the mailer has used it.
// Inviting the address again replaces the link.
func (s *Invitations) InviteWithLink(ctx context.Context, inv Invitation, mail bool, actor string) (Invitation, string, error) {
	token, hash := NewInvitationToken()
	inv.Delivery, inv.TokenHash = DeliveryLink, hash
	var seal func(id string) ([]byte, error)
	if mail {
		if s.Cipher == nil {
			return Invitation{}, "", errors.New("invitations: no cipher to keep a mailed link")
		}
		inv.Delivery = DeliveryEmail
		seal = func(id string) ([]byte, error) { return s.Cipher.Encrypt([]byte(token), tokenAAD(id)) }
	}
	inv, err := s.invite(ctx, inv, actor, seal)
	if err != nil {
		return Invitation{}, "", err
	}
	return inv, token, nil
}

// tokenAAD binds a sealed token to its invitation.
func tokenAAD(id string) []byte { return []byte("invitation-token:" + id) }

// OpenToken returns the sealed token of a mailed invitation whose
// inviter also holds the link, "" for any other.
func (s *Invitations) OpenToken(ctx context.Context, inv Invitation) (string, error) {
	if len(inv.SealedToken) == 0 || s.Cipher == nil {
		return "", nil
	}
	b, err := s.Cipher.Decrypt(ctx, inv.SealedToken, tokenAAD(inv.ID))
	if err != nil {
		return "", fmt.Errorf("open the token of invitation %s: %w", inv.ID, err)
	}
	return string(b), nil
}

// checkRoles reports roles that no application declares.
func (s *Invitations) checkRoles(ctx context.Context, roles []Grant) error {
	declared, err := s.Store.Roles(ctx, "")
	if err != nil {
		return err
	}
	for _, g := range roles {
		if !slices.ContainsFunc(declared, func(r Role) bool { return r.App == g.App && r.Name == g.Role }) {
			return FieldError{"roles", fmt.Sprintf("%s/%s is not a declared role", g.App, g.Role)}
		}
	}
	return nil
}

// Resend sends a pending invitation again, with a new link and expiry.
func (s *Invitations) Resend(ctx context.Context, orgID, id, actor string) (Invitation, error) {
	inv, err := s.pending(ctx, orgID, id)
	if err != nil {
		return Invitation{}, err
	}
	return s.Invite(ctx, inv, actor)
}

// Revoke withdraws a pending invitation: its link stops working.
func (s *Invitations) Revoke(ctx context.Context, orgID, id, actor string) error {
	inv, err := s.pending(ctx, orgID, id)
	if err != nil {
		return err
	}
	now := s.now()
	inv.Status, inv.UpdatedAt = InvitationRevoked, now
	ev, err := events.New("invitation.revoked", "org:"+inv.OrgID, actor, now, invitationData(inv))
	if err != nil {
		return err
	}
	return s.Store.UpdateInvitation(ctx, inv, ev)
}

// pending returns the organization's pending invitation with id;
// ErrNotFound for another organization's, ErrInvitationUsed when it is no
// longer pending.
func (s *Invitations) pending(ctx context.Context, orgID, id string) (Invitation, error) {
	inv, err := s.Store.InvitationByID(ctx, id)
	switch {
	case err != nil:
		return Invitation{}, err
	case inv.OrgID != orgID:
		return Invitation{}, ErrNotFound
	case inv.Status != InvitationPending:
		return Invitation{}, ErrInvitationUsed
	}
	return inv, nil
}

// Open returns the invitation of a link's token if it can still be
// accepted; ErrNotFound or ErrInvitationUsed otherwise.
func (s *Invitations) Open(ctx context.Context, token string) (Invitation, error) {
	inv, err := s.Store.InvitationByTokenHash(ctx, TokenHash(token))
	if err != nil {
		return Invitation{}, err
	}
	if inv.Status != InvitationPending || !s.now().Before(inv.ExpiresAt) {
		return inv, ErrInvitationUsed
	}
	return inv, nil
}

// Accept makes userID a member of the invitation's organization with its
// roles, once.
func (s *Invitations) Accept(ctx context.Context, token, userID string) (Invitation, error) {
	inv, err := s.Open(ctx, token)
	if err != nil {
		return inv, err
	}
	now := s.now()
	data := invitationData(inv)
	data["user_id"] = userID
	accepted, err := events.New("invitation.accepted", "org:"+inv.OrgID, "user:"+userID, now, data)
	if err != nil {
		return inv, err
	}
	typ := "membership.added"
	if _, err := s.Store.Membership(ctx, inv.OrgID, userID); err == nil {
		typ = "membership.roles_changed"
	}
	joined, err := events.New(typ, "org:"+inv.OrgID, "user:"+userID, now, map[string]any{"user_id": userID, "roles": grantNames(inv.Roles), "invitation_id": inv.ID})
	if err != nil {
		return inv, err
	}
	return s.Store.AcceptInvitation(ctx, inv.TokenHash, userID, now, accepted, joined)
}

// Expire marks invitations past their expiry as expired, with
// invitation.expired events; it returns how many.
func (s *Invitations) Expire(ctx context.Context, limit int) (int, error) {
	now := s.now()
	return s.Store.ExpireInvitations(ctx, now, limit, func(inv Invitation) (events.Event, error) {
		return events.New("invitation.expired", "org:"+inv.OrgID, "system:expiry", now, invitationData(inv))
	})
}

// normalizeEmail is an address in the form invitations are kept in.
func normalizeEmail(s string) (string, error) {
	a, err := mail.ParseAddress(strings.TrimSpace(s))
	if err != nil || a.Name != "" || !strings.Contains(a.Address, "@") || len(a.Address) > 254 {
		return "", fmt.Errorf("%q is not an email address", s)
	}
	return strings.ToLower(a.Address), nil
}
