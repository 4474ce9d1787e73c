// Package flows keeps self-service flows — sign-in, registration, email
// verification, password recovery — as stored resources with an ID, a kind,
// a typed state and an expiry. A page in the browser is a view of a flow:
// the flow ID travels in the URL, so the back button and a reload show the
// same step, and a flow cannot be finished after it has expired.
package flows

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/portvakt/portvakt/internal/events"
)

// Kind is what a flow is for.
type Kind string

// Flow kinds.
const (
	Login        Kind = "login"
	Registration Kind = "registration"
	Verification Kind = "verification"
	Recovery     Kind = "recovery"
	// EmailChange is a signed-in person (UserID) changing their address
	// to Email: sent, it waits for the code mailed there.
	EmailChange Kind = "email_change"
)

// State is where a flow stands; each kind uses its own.
type State string

// Flow states.
const (
	// StateStarted is a form not yet submitted successfully.
	StateStarted State = "started"
	// StateSent means a mail (code or link) was sent.
	StateSent State = "sent"
	// StateDone means the flow finished; it cannot be submitted again.
	StateDone State = "done"
	// StateLink means a signed-in person (UserID) is linking an upstream
	// account from their account page.
	StateLink State = "link"
	// StateSecondFactor means a sign-in is waiting for a second factor:
	// the first was proven (Methods) for UserID.
	StateSecondFactor State = "second_factor"
)

// Errors.
var (
	// ErrNotFound means no flow has the ID.
	ErrNotFound = errors.New("flow not found")
	// ErrExpired means the flow's time is up; start a new one.
	ErrExpired = errors.New("flow expired")
)

// Flow is one self-service flow.
type Flow struct {
	ID    string
	Kind  Kind
	State State
	// ReturnTo is where to send the browser when the flow is done (a path
	// on this server).
	ReturnTo string `json:"return_to,omitempty"`
	// UILocales are the languages the relying party asked for.
	UILocales string `json:"ui_locales,omitempty"`
	// Email is what the person typed (or what was pre-filled).
	Email string `json:"email,omitempty"`
	// GivenName and FamilyName are pre-filled or typed registration values.
	GivenName  string `json:"given_name,omitempty"`
	FamilyName string `json:"family_name,omitempty"`
	// UserID is the account the flow is about once known (verification).
	UserID string `json:"user_id,omitempty"`
	// Attempts counts wrong codes entered in this flow.
	Attempts int `json:"attempts,omitempty"`
	// SignInOnVerify means the person set the account's password in this
	// browser (a new registration), so verifying the email signs them in.
	SignInOnVerify bool `json:"sign_in_on_verify,omitempty"`
	// ACR is the level of assurance the sign-in must reach (an
	// application's step-up request).
	ACR string `json:"acr,omitempty"`
	// Methods are the authentication methods (amr) proven so far in a
	// sign-in waiting for its second factor.
	Methods []string `json:"methods,omitempty"`
	// Binding is the SHA-256 of a cookie set in the browser that proved
	// the first factor; only that browser may give the second.
	Binding string `json:"binding,omitempty"`
	// Upstream is a sign-in sent to an upstream identity provider
	// (sealed), taken out when it comes back.
	Upstream string `json:"upstream,omitempty"`
	// PendingLink is an upstream identity (sealed) to link to the account
	// the person signs in to in this flow.
	PendingLink string `json:"pending_link,omitempty"`
	// PendingProfile is an upstream identity (sealed) whose registration
	// waits for the fields it lacks and the terms (progressive profiling).
	PendingProfile string `json:"pending_profile,omitempty"`
	// Proofed is the level of assurance an identity-proofing provider
	// vouched for in this sign-in: the session gets at least this level.
	Proofed string `json:"proofed,omitempty"`
	// MFA means the sign-in needs a second factor (the deployment's or the
	// application's policy).
	MFA bool `json:"mfa,omitempty"`
	// Org is the organization (its ID) whose sign-in policy did not
	// allow the way the person had signed in: the sign-in page says which
	// ways it allows.
	Org string `json:"org,omitempty"`
	// Challenge is the pending passkey ceremony (sealed), taken out when
	// it is answered.
	Challenge string `json:"challenge,omitempty"`
	CreatedAt time.Time
	UpdatedAt time.Time
	ExpiresAt time.Time
}

// Store keeps flows.
type Store interface {
	// CreateFlow stores f with its events.
	CreateFlow(ctx context.Context, f Flow, evs ...events.Event) error
	// FlowByID returns the flow or ErrNotFound.
	FlowByID(ctx context.Context, id string) (Flow, error)
	// UpdateFlow applies fn to the flow atomically.
	UpdateFlow(ctx context.Context, id string, fn func(Flow) (Flow, error)) (Flow, error)
}

// Service starts and finds flows.
type Service struct {
	Store Store
	// TTL is how long a flow lasts (default 1h).
	TTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Start creates a flow of kind from template f (its ReturnTo, UILocales and
// pre-filled fields) and writes a flow.started event for analytics.
func (s *Service) Start(ctx context.Context, kind Kind, f Flow) (Flow, error) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	now := s.now()
	ttl := s.TTL
	if ttl <= 0 {
		ttl = time.Hour
	}
	f.ID, f.Kind, f.State = hex.EncodeToString(b), kind, StateStarted
	f.CreatedAt, f.UpdatedAt, f.ExpiresAt = now, now, now.Add(ttl)
	ev, err := events.New("flow.started", "flow:"+f.ID, "system:web", now, map[string]any{"kind": kind})
	if err != nil {
		return Flow{}, err
	}
	if err := s.Store.CreateFlow(ctx, f, ev); err != nil {
		return Flow{}, fmt.Errorf("start %s flow: %w", kind, err)
	}
	return f, nil
}

// Get returns the flow of kind with id: ErrNotFound if there is none of that
// kind, ErrExpired if its time is up.
func (s *Service) Get(ctx context.Context, kind Kind, id string) (Flow, error) {
	if len(id) != 32 {
		return Flow{}, ErrNotFound
	}
	f, err := s.Store.FlowByID(ctx, id)
	if err != nil {
		return Flow{}, err
	}
	if f.Kind != kind {
		return Flow{}, ErrNotFound
	}
	if !s.now().Before(f.ExpiresAt) {
		return Flow{}, ErrExpired
	}
	return f, nil
}

// Update applies fn to the live flow of kind with id.
func (s *Service) Update(ctx context.Context, kind Kind, id string, fn func(Flow) (Flow, error)) (Flow, error) {
	now := s.now()
	return s.Store.UpdateFlow(ctx, id, func(f Flow) (Flow, error) {
		if f.Kind != kind {
			return f, ErrNotFound
		}
		if !now.Before(f.ExpiresAt) {
			return f, ErrExpired
		}
		nf, err := fn(f)
		nf.UpdatedAt = now
		return nf, err
	})
}
