package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/google/uuid"
)

// Event is one domain event: something that happened to a subject, caused by
// an actor, at a time, with type-specific data.
type Event struct {
	// Position is the event's place in the log, assigned by the store on
	// append. Positions grow in commit order.
	Position int64
	// UUID identifies the event across systems (webhook deliveries carry it),
	// so receivers can drop duplicates.
	UUID string
	// Type names what happened, as "noun.past_tense_verb", e.g. "user.registered".
	Type string
	// Subject is what the event is about, as "kind:id", e.g. "user:0193…".
	Subject string
	// Actor is who caused it, as "kind:id" ("user:…", "client:…", "system:cli").
	Actor string
	// Time is when it happened.
	Time time.Time
	// Data is a JSON object with the type-specific details. It never holds
	// secrets: events are copied to webhooks and the audit log.
	Data json.RawMessage
}

var typePattern = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)

// New builds an event with a fresh UUID. data is marshalled to JSON; nil
// becomes an empty object.
func New(typ, subject, actor string, now time.Time, data any) (Event, error) {
	raw := json.RawMessage(`{}`)
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			return Event{}, fmt.Errorf("event %s: marshal data: %w", typ, err)
		}
		// A nil map or pointer inside data is "no data" too.
		if string(b) != "null" {
			raw = b
		}
	}
	e := Event{
		UUID:    uuid.Must(uuid.NewV7()).String(),
		Type:    typ,
		Subject: subject,
		Actor:   actor,
		Time:    now.UTC(),
		Data:    raw,
	}
	return e, e.Validate()
}

// Validate reports whether the event is fit to be appended.
func (e Event) Validate() error {
	var errs []error
	if e.UUID == "" {
		errs = append(errs, errors.New("uuid is empty"))
	}
	if !typePattern.MatchString(e.Type) {
		errs = append(errs, fmt.Errorf("type %q is not of the form noun.verb", e.Type))
	}
	if e.Subject == "" {
		errs = append(errs, errors.New("subject is empty"))
	}
	if e.Actor == "" {
		errs = append(errs, errors.New("actor is empty"))
	}
	if e.Time.IsZero() {
		errs = append(errs, errors.New("time is zero"))
	}
	if len(e.Data) == 0 || !json.Valid(e.Data) || e.Data[0] != '{' {
		errs = append(errs, errors.New("data is not a JSON object"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid event: %w", err)
	}
	return nil
}

// Query selects events to read: after a position, of some types (Types
// exact, Prefixes such as "user." for every user event; either matches),
// about a subject; at most Limit, in position order.
type Query struct {
	After    int64
	Types    []string
	Prefixes []string
	Subject  string
	Limit    int
}
