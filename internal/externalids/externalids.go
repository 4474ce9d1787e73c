// Package externalids keeps the IDs other systems (a CRM, an ERP, a
// support desk) give the people and organizations Portvakt knows: per
// source system, one ID each, unique within the source, readable and
// searchable by integrations, and carried in webhooks so that a receiver
// finds its own record.
//
// The single external_id of users and organizations is the CRM's, kept as
// it is; these are the IDs of any number of further sources.
package externalids

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"time"

	"github.com/portvakt/portvakt/internal/events"
)

// Kind is what an ID names.
type Kind string

// The kinds.
const (
	User         Kind = "user"
	Organization Kind = "org"
)

// Errors.
var (
	// ErrNotFound means no user or organization has the ID, or the one
	// named does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means another user (organization) has the ID in that
	// source.
	ErrConflict = errors.New("the external ID belongs to another")
)

// FieldError is a problem with one source's ID.
type FieldError struct{ Field, Message string }

func (e FieldError) Error() string { return e.Field + ": " + e.Message }

// Store keeps external IDs.
type Store interface {
	// ExternalIDs returns the IDs of each subject of kind (by its ID):
	// source → external ID; subjects without any are left out.
	ExternalIDs(ctx context.Context, kind Kind, ids []string) (map[string]map[string]string, error)
	// FindExternal returns the subject of kind with the ID in source.
	FindExternal(ctx context.Context, kind Kind, source, value string) (string, error)
	// SetExternalIDs sets the subject's IDs of the sources given (""
	// removes one) with evs, in one transaction; ErrNotFound if there is
	// no such subject, ErrConflict if another has an ID in its source.
	SetExternalIDs(ctx context.Context, kind Kind, id string, set map[string]string, evs ...events.Event) error
}

// Service changes external IDs, each change with its event.
type Service struct {
	Store Store
	Now   func() time.Time
}

var sourcePattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// Check validates a change: source → new ID, "" to remove.
func Check(set map[string]string) error {
	var errs []error
	for _, src := range slices.Sorted(maps.Keys(set)) {
		field := "external_ids." + src
		switch v := set[src]; {
		case !sourcePattern.MatchString(src):
			errs = append(errs, FieldError{"external_ids", fmt.Sprintf("%q is not a source name: 1 to 32 lower-case letters, digits, _ and -, starting with a letter", src)})
		case len(v) > 255:
			errs = append(errs, FieldError{field, "is longer than 255 characters"})
		}
	}
	return errors.Join(errs...)
}

// Set changes the IDs of the subject of kind (source → ID, "" removes) on
// behalf of actor. The event is the subject's <kind>.updated, naming each
// changed ID as external_ids.<source> with its old and new value; a change
// that changes nothing writes nothing.
func (s *Service) Set(ctx context.Context, kind Kind, id string, set map[string]string, actor string) error {
	if len(set) == 0 {
		return nil
	}
	if err := Check(set); err != nil {
		return err
	}
	cur, err := s.Store.ExternalIDs(ctx, kind, []string{id})
	if err != nil {
		return err
	}
	changes := map[string]any{}
	for src, v := range set {
		if old := cur[id][src]; old != v {
			changes["external_ids."+src] = map[string]any{"old": old, "new": v}
		}
	}
	if len(changes) == 0 {
		return nil
	}
	now := time.Now().UTC()
	if s.Now != nil {
		now = s.Now().UTC()
	}
	typ := "user.updated"
	if kind == Organization {
		typ = "organization.updated"
	}
	ev, err := events.New(typ, string(kind)+":"+id, actor, now, map[string]any{"changes": changes})
	if err != nil {
		return err
	}
	return s.Store.SetExternalIDs(ctx, kind, id, set, ev)
}
