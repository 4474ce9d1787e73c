package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// Verifier checks a webhook's signature headers.
type Verifier interface {
	Verify(payload []byte, headers http.Header) error
}

// Profiles reads a person's profile from Portvakt.
type Profiles interface {
	// Profile returns the user, or ErrGone if they no longer exist.
	Profile(ctx context.Context, userID string) (Profile, error)
}

// ErrGone means the user no longer exists.
var ErrGone = errors.New("the user no longer exists")

// Profile is what the CRM keeps of a person's profile.
type Profile struct {
	ID            string `json:"id"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	GivenName     string `json:"given_name"`
	FamilyName    string `json:"family_name"`
	Phone         string `json:"phone"`
	ExternalID    string `json:"external_id"`
}

// Receiver takes Portvakt's webhooks.
type Receiver struct {
	Verifier Verifier
	Contacts *Contacts
	Profiles Profiles
	Log      *slog.Logger
}

// message is a webhook's body: type, timestamp and data (the event's ID,
// subject, actor and details).
type message struct {
	Type string `json:"type"`
	Data struct {
		EventID string          `json:"event_id"`
		Subject string          `json:"subject"`
		Details json.RawMessage `json:"details"`
	} `json:"data"`
}

func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return
	}
	if err := rc.Verifier.Verify(body, r.Header); err != nil {
		rc.Log.Warn("webhook refused: bad signature", "error", err)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	id := r.Header.Get("webhook-id")
	if rc.Contacts.Seen(id) {
		w.WriteHeader(http.StatusNoContent) // a duplicate: done before
		return
	}
	var m message
	if err := json.Unmarshal(body, &m); err != nil {
		http.Error(w, "not a webhook message", http.StatusBadRequest)
		return
	}
	if err := rc.apply(r.Context(), m); err != nil {
		// Portvakt sends it again later.
		rc.Log.Error("webhook not applied", "type", m.Type, "webhook_id", id, "error", err)
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	if err := rc.Contacts.Done(id); err != nil {
		rc.Log.Error("contacts not saved", "error", err)
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	rc.Log.Info("webhook applied", "type", m.Type, "subject", m.Data.Subject, "webhook_id", id)
	w.WriteHeader(http.StatusNoContent)
}

// apply changes the contacts as the event says.
func (rc *Receiver) apply(ctx context.Context, m message) error {
	kind, id, _ := strings.Cut(m.Data.Subject, ":")
	var d struct {
		UserID    string   `json:"user_id"`
		Roles     []string `json:"roles"`
		New       []string `json:"new"`
		Reference string   `json:"reference"`
	}
	if len(m.Data.Details) > 0 {
		if err := json.Unmarshal(m.Data.Details, &d); err != nil {
			return fmt.Errorf("details of %s: %w", m.Type, err)
		}
	}
	switch {
	case kind == "user" && m.Type == "user.deleted":
		return rc.Contacts.Update(func(cs map[string]*Contact) { delete(cs, id) })
	case kind == "user":
		// Any other change of a person: read the profile as it is now
		// (events say what changed; the API says what is).
		p, err := rc.Profiles.Profile(ctx, id)
		if errors.Is(err, ErrGone) {
			return rc.Contacts.Update(func(cs map[string]*Contact) { delete(cs, id) })
		}
		if err != nil {
			return err
		}
		return rc.Contacts.Update(func(cs map[string]*Contact) { contact(cs, id).Profile = p })
	case m.Type == "membership.added" || m.Type == "membership.roles_changed":
		roles := d.Roles
		if m.Type == "membership.roles_changed" {
			roles = d.New
		}
		if roles == nil {
			roles = []string{}
		}
		return rc.Contacts.Update(func(cs map[string]*Contact) { contact(cs, d.UserID).Organizations[id] = roles })
	case m.Type == "membership.removed":
		return rc.Contacts.Update(func(cs map[string]*Contact) {
			if c, ok := cs[d.UserID]; ok {
				delete(c.Organizations, id)
			}
		})
	case m.Type == "invitation.accepted" && d.UserID != "" && d.Reference != "":
		// The CRM's own invitation, accepted by this person.
		return rc.Contacts.Update(func(cs map[string]*Contact) { contact(cs, d.UserID).Invitation = d.Reference })
	}
	return nil // not something the CRM keeps
}

// contact returns the contact of userID, made if it is new.
func contact(cs map[string]*Contact, userID string) *Contact {
	c, ok := cs[userID]
	if !ok {
		c = &Contact{Profile: Profile{ID: userID}, Organizations: map[string][]string{}}
		cs[userID] = c
	}
	return c
}
