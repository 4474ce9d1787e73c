package accounts

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/portvakt/portvakt/internal/events"
)

// ErrStale means the user changed after the version the caller based its
// change on (a lost update).
var ErrStale = errors.New("the user changed since it was read")

// Version names the state of a user a change can be based on: it changes
// with every write.
func Version(u User) string { return strconv.FormatInt(u.UpdatedAt.UnixMicro(), 36) }

// Update is a change of some of a user's profile fields by an operator or
// an integrating system; nil leaves a field as it is, "" clears it (names,
// phone, locale and external ID may be empty).
type Update struct {
	GivenName  *string
	FamilyName *string
	Phone      *string
	Locale     *string
	ExternalID *string
	// Attributes sets the custom attributes it names (a JSON value each;
	// null removes one) and leaves every other attribute as it is. The
	// attributes object after the change must pass the schema for the
	// attributes changed (see Service.Attributes).
	Attributes map[string]json.RawMessage
}

// Update applies up to the user with id on behalf of actor, if the user is
// still at version ifVersion ("" for any); ErrStale otherwise. The
// user.updated event names each changed field with its old and new value;
// a change that changes nothing writes nothing.
func (s *Service) Update(ctx context.Context, id string, up Update, ifVersion, actor string) (User, error) {
	return s.update(ctx, id, up, ifVersion, actor, nil, "")
}

// trim is how Update normalizes a field's new value.
func trim(v string) string { return strings.TrimSpace(v) }

// update is Update with check, if not nil, judging the change against the
// current user inside the same transaction. A confirm other than "" (a
// ConfirmedAs… way) makes the change the person's confirmation of their
// profile too: ProfileConfirmedAt becomes now, with a
// user.profile_confirmed event, even when no field changes.
func (s *Service) update(ctx context.Context, id string, up Update, ifVersion, actor string, check func(cur User) error, confirm string) (User, error) {
	return s.Store.UpdateUser(ctx, id, func(cur User) (Change, error) {
		if ifVersion != "" && Version(cur) != ifVersion {
			return Change{}, ErrStale
		}
		if check != nil {
			if err := check(cur); err != nil {
				return Change{}, err
			}
		}
		next := cur
		set := func(dst *string, v *string) {
			if v != nil {
				*dst = trim(*v)
			}
		}
		set(&next.GivenName, up.GivenName)
		set(&next.FamilyName, up.FamilyName)
		set(&next.Phone, up.Phone)
		set(&next.Locale, up.Locale)
		set(&next.ExternalID, up.ExternalID)
		attrs, attrChanges, changed, err := mergeAttributes(cur.Attributes, up.Attributes)
		if err != nil {
			return Change{}, err
		}
		next.Attributes = attrs
		var attrErr error
		if len(changed) > 0 {
			attrErr = s.Attributes.validateChanged(attrs, changed)
		}
		if err := errors.Join(next.Validate(), attrErr); err != nil {
			return Change{}, err
		}
		changes := map[string]any{}
		for k, v := range attrChanges {
			changes[k] = v
		}
		for _, f := range []struct {
			name     string
			old, new string
		}{
			{"given_name", cur.GivenName, next.GivenName},
			{"family_name", cur.FamilyName, next.FamilyName},
			{"phone", cur.Phone, next.Phone},
			{"locale", cur.Locale, next.Locale},
			{"external_id", cur.ExternalID, next.ExternalID},
		} {
			if f.old != f.new {
				changes[f.name] = map[string]any{"old": f.old, "new": f.new}
			}
		}
		if len(changes) == 0 && confirm == "" {
			return Change{User: cur}, nil
		}
		now := s.now()
		if !now.After(cur.UpdatedAt) {
			// Versions must differ: never the same time twice.
			now = cur.UpdatedAt.Add(time.Microsecond)
		}
		next.UpdatedAt = now
		var evs []events.Event
		if len(changes) > 0 {
			ev, err := events.New("user.updated", next.Subject(), actor, now, map[string]any{"changes": changes})
			if err != nil {
				return Change{}, err
			}
			evs = append(evs, ev)
		}
		if confirm != "" {
			next.ProfileConfirmedAt = now
			data := map[string]any{"via": confirm}
			if !cur.ProfileConfirmedAt.IsZero() {
				data["previous"] = cur.ProfileConfirmedAt
			}
			ev, err := events.New("user.profile_confirmed", next.Subject(), actor, now, data)
			if err != nil {
				return Change{}, err
			}
			evs = append(evs, ev)
		}
		return Change{User: next, Events: evs}, nil
	})
}

// Query selects users to list. Every field set must match; results are in
// ID order (creation order, or newest first), after the ID After.
type Query struct {
	// Email matches the normalized address.
	Email        string
	ExternalID   string
	UpdatedSince time.Time
	// OrgID limits the list to the organization's members.
	OrgID string
	// CheckedBefore and CheckedSince, when set, select the users whose
	// profile was last checked (ProfileCheckedAt) before, or at or after,
	// the time: with StaleBefore, the stale or the fresh profiles.
	CheckedBefore time.Time
	CheckedSince  time.Time
	// Newest lists the newest first (after: older than After).
	Newest bool
	After  string
	Limit  int
}

// Users lists the users q selects.
func (s *Service) Users(ctx context.Context, q Query) ([]User, error) {
	if q.Email != "" {
		norm, err := NormalizeEmail(q.Email)
		if err != nil {
			return nil, nil // no user has an address that is not one
		}
		q.Email = norm
	}
	return s.Store.QueryUsers(ctx, q)
}
