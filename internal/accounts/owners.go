package accounts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
)

// Who owns a profile field: the one party whose changes count.
const (
	// OwnerPerson: the person edits the field on the account page (the
	// default); the management API may change it too.
	OwnerPerson = "person"
	// OwnerCRM: only the management API (the CRM) changes the field; the
	// account page shows it read-only.
	OwnerCRM = "crm"
	// OwnerIdP: the identity provider the person signs in with owns the
	// field; it is refreshed at each federated sign-in and read-only
	// everywhere else.
	OwnerIdP = "idp"
)

// OwnedFields are the profile fields an owner can be declared for, in the
// order pages show them.
var OwnedFields = []string{"given_name", "family_name", "phone", "locale"}

// Owners is the deployment's declaration of who owns each profile field
// (field name → owner). A field it does not name belongs to the person.
// The zero value leaves every field to the person.
type Owners map[string]string

// NewOwners checks a declaration and returns it; it reports every unknown
// field and owner at once.
func NewOwners(m map[string]string) (Owners, error) {
	var errs []error
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := Owners{}
	for _, f := range keys {
		o := m[f]
		if !slices.Contains(OwnedFields, f) {
			errs = append(errs, fmt.Errorf("unknown field %q (fields are given_name, family_name, phone, locale)", f))
			continue
		}
		switch o {
		case OwnerPerson, OwnerCRM, OwnerIdP:
			out[f] = o
		default:
			errs = append(errs, fmt.Errorf("%s: unknown owner %q (owners are person, crm, idp)", f, o))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// Owner returns who owns field across the deployment (OwnerPerson unless
// declared otherwise).
func (o Owners) Owner(field string) string {
	if v, ok := o[field]; ok && v != "" {
		return v
	}
	return OwnerPerson
}

// PersonMayEdit reports whether people edit field themselves.
func (o Owners) PersonMayEdit(field string) bool { return o.Owner(field) == OwnerPerson }

// Of returns who owns field of u: the deployment's owner, except that a
// field locked for u (by the invitation u registered with) is CRM-owned
// where the deployment would leave it to the person. A lock never takes a
// field away from an identity provider.
func (o Owners) Of(u User, field string) string {
	owner := o.Owner(field)
	if owner == OwnerPerson && slices.Contains(u.LockedFields, field) {
		return OwnerCRM
	}
	return owner
}

// ownedMessages are the developer-facing texts of a refused change.
var ownedMessages = map[string]string{
	OwnerPerson: "is owned by the person; it is changed on the account page",
	OwnerCRM:    "is owned by the CRM; it is changed through the management API",
	OwnerIdP:    "is owned by the identity provider; it is refreshed at each federated sign-in",
}

// OwnedError is the FieldError of a change to field that its owner did
// not make: code "owned_by_<owner>".
func OwnedError(field, owner string) FieldError {
	return FieldError{Field: field, Code: "owned_by_" + owner, Message: ownedMessages[owner]}
}

// UpdateOwned is Update for a party that may change only the fields owned
// by one of owners (see Owners.Of): a change to any other field is refused
// with an OwnedError, and nothing is written. Setting a field to the value
// it has is no change and is never refused.
func (s *Service) UpdateOwned(ctx context.Context, id string, up Update, ifVersion, actor string, owners ...string) (User, error) {
	return s.update(ctx, id, up, ifVersion, actor, func(cur User) error { return s.CheckOwned(cur, up, owners...) }, "")
}

// CheckOwned reports the fields up would change in cur that are owned by
// none of owners (as OwnedErrors), for checking before a change that must
// not half happen.
func (s *Service) CheckOwned(cur User, up Update, owners ...string) error {
	var errs []error
	for _, f := range []struct {
		name string
		cur  string
		v    *string
	}{
		{"given_name", cur.GivenName, up.GivenName},
		{"family_name", cur.FamilyName, up.FamilyName},
		{"phone", cur.Phone, up.Phone},
		{"locale", cur.Locale, up.Locale},
	} {
		if f.v == nil || trim(*f.v) == f.cur {
			continue
		}
		if owner := s.Owners.Of(cur, f.name); !slices.Contains(owners, owner) {
			errs = append(errs, OwnedError(f.name, owner))
		}
	}
	_, _, changed, err := mergeAttributes(cur.Attributes, up.Attributes)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, name := range changed {
		if owner := s.attributeOwner(name); !slices.Contains(owners, owner) {
			errs = append(errs, OwnedError("attributes."+name, owner))
		}
	}
	return errors.Join(errs...)
}

// attributeOwner is who owns the custom attribute name: the person for an
// attribute they edit on the account page (SelfServiceEdit), the CRM for
// every other one.
func (s *Service) attributeOwner(name string) string {
	if s.Attributes.PersonMayEdit(name) {
		return OwnerPerson
	}
	return OwnerCRM
}

// Refresh brings the fields of user id that the identity provider owns up
// to date with what provider sent at a sign-in (values by field name): it
// changes only IdP-owned fields, only to values that are set and differ,
// as actor "idp:<provider>". A value that would not validate is skipped,
// so that a sign-in never fails over it.
func (s *Service) Refresh(ctx context.Context, id, provider string, values map[string]string) (User, error) {
	var up Update
	changed := false
	for field, dst := range map[string]**string{
		"given_name": &up.GivenName, "family_name": &up.FamilyName, "phone": &up.Phone, "locale": &up.Locale,
	} {
		v := trim(values[field])
		if v == "" || s.Owners.Owner(field) != OwnerIdP {
			continue
		}
		probe := User{Email: "probe@example.com"}
		switch field {
		case "phone":
			probe.Phone = v
		case "locale":
			probe.Locale = v
		case "given_name":
			probe.GivenName = v
		case "family_name":
			probe.FamilyName = v
		}
		if probe.Validate() != nil {
			continue
		}
		*dst, changed = &v, true
	}
	if !changed {
		return s.Store.UserByID(ctx, id)
	}
	return s.UpdateOwned(ctx, id, up, "", "idp:"+provider, OwnerIdP)
}
