package consents

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/portvakt/portvakt/internal/events"
)

// Action is what a receipt records.
type Action string

// The actions.
const (
	Granted   Action = "granted"
	Withdrawn Action = "withdrawn"
)

// Channel is where a decision was made.
type Channel string

// The channels.
const (
	// ChannelRegistration is the registration form.
	ChannelRegistration Channel = "registration"
	// ChannelInvitation is the form of an invitation to an organization.
	ChannelInvitation Channel = "invitation"
	// ChannelUpstreamRegistration is the page that completes a
	// registration through an upstream identity provider.
	ChannelUpstreamRegistration Channel = "upstream_registration"
	// ChannelSignIn is the page a sign-in passes when there is a new
	// version to accept.
	ChannelSignIn Channel = "sign_in"
	// ChannelAccount is the account's privacy page.
	ChannelAccount Channel = "account"
	// ChannelAPI is the management API: a decision made elsewhere (a
	// CRM's form, a call), recorded by an integration.
	ChannelAPI Channel = "api"
)

// Ways a decision was made (Receipt.Method); the API may record others.
const (
	MethodCheckbox = "checkbox"
	MethodButton   = "button"
	MethodAPI      = "api"
)

// Receipt records one grant or withdrawal. Receipts are never changed.
type Receipt struct {
	// ID is the UUID of the receipt's event.
	ID      string
	UserID  string
	Purpose string
	// Version is the version given, or the one withdrawn.
	Version string
	Action  Action
	At      time.Time
	Channel Channel
	// ClientID is the application the decision was made in, if any.
	ClientID string
	// Actor is who recorded it: user:<ID> (the person) or client:<ID> (an
	// integration).
	Actor string
	// Method is how: checkbox, button, api, or what the API was told.
	Method string
}

// State is where a person's receipts for a purpose have led: the last
// receipt's action and version.
type State struct {
	Purpose string
	Version string
	Granted bool
	At      time.Time
	// ReceiptID is the last receipt's.
	ReceiptID string
}

// Change is what a change of consents writes: its receipts and their
// events.
type Change struct {
	Receipts []Receipt
	Events   []events.Event
}

// Store keeps receipts and states.
type Store interface {
	// ConsentStates returns userID's current state per purpose recorded;
	// none for a person with no receipts (or no such person).
	ConsentStates(ctx context.Context, userID string) ([]State, error)
	// ConsentReceipts returns userID's receipts, oldest first.
	ConsentReceipts(ctx context.Context, userID string) ([]Receipt, error)
	// UpdateConsents applies fn to userID's states, atomically, and writes
	// the receipts it returns (moving the states on) with its events, in
	// one transaction; ErrNotFound if there is no such user.
	UpdateConsents(ctx context.Context, userID string, fn func([]State) (Change, error)) error
}

// Errors.
var (
	// ErrNotFound means there is no such user.
	ErrNotFound = errors.New("user not found")
)

// FieldError is a decision that cannot be recorded: Field is purpose,
// version or action; Code is unknown, not_current or required.
type FieldError struct{ Field, Code, Message string }

func (e FieldError) Error() string { return e.Field + ": " + e.Message }

// EventType is the type of the event of a receipt with action a.
func EventType(a Action) string { return "consent." + string(a) }

// Event is the receipt's event, whose UUID is the receipt's ID. It names
// the purpose, version, channel, application and method, never the
// person's address or name.
func (r Receipt) Event() (events.Event, error) {
	ev, err := events.New(EventType(r.Action), "user:"+r.UserID, r.Actor, r.At, map[string]any{
		"purpose": r.Purpose, "version": r.Version, "channel": string(r.Channel), "client_id": r.ClientID, "method": r.Method,
	})
	if err != nil {
		return ev, err
	}
	if r.ID != "" {
		ev.UUID = r.ID
	}
	return ev, nil
}

// Stamp gives receipts made before their person existed (at
// registration) the new user's ID — and, without an actor, the person as
// actor — and their IDs, and returns them with their events.
func Stamp(receipts []Receipt, userID string) ([]Receipt, []events.Event, error) {
	out := make([]Receipt, len(receipts))
	evs := make([]events.Event, len(receipts))
	for i, r := range receipts {
		r.UserID = userID
		if r.Actor == "" {
			r.Actor = "user:" + userID
		}
		r.ID = ""
		ev, err := r.Event()
		if err != nil {
			return nil, nil, fmt.Errorf("consent receipt: %w", err)
		}
		r.ID = ev.UUID
		out[i], evs[i] = r, ev
	}
	return out, evs, nil
}

var methodPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// Via is where and how decisions were made.
type Via struct {
	Channel Channel
	// ClientID is the application, if any.
	ClientID string
	// Actor records them: user:<ID> or client:<ID>; "" is the person.
	Actor string
	// Method is how: MethodCheckbox, MethodButton, MethodAPI, or what an
	// integration says (1 to 32 lower-case letters, digits and _).
	Method string
}

// Decision is one answer: a purpose given (at a version) or withdrawn.
type Decision struct {
	Purpose string
	// Version is the version given; "" is the current one. A withdrawal
	// withdraws whatever was given.
	Version string
	Grant   bool
}
