package consents

import (
	"context"
	"fmt"
	"time"
)

// Service knows the deployment's purposes and keeps people's decisions.
type Service struct {
	// Purposes are the configured purposes (checked with Validate), in
	// the order they are shown.
	Purposes []Purpose
	Store    Store
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Purpose returns the purpose with the ID.
func (s *Service) Purpose(id string) (Purpose, bool) {
	if s == nil {
		return Purpose{}, false
	}
	for _, p := range s.Purposes {
		if p.ID == id {
			return p, true
		}
	}
	return Purpose{}, false
}

// Offer is a purpose put to a person, at its current version. Previous is
// what they decided before, if anything (Previous.Purpose is "" if not).
type Offer struct {
	Purpose  Purpose
	Version  Version
	Previous State
}

// ForRegistration are the purposes a registration asks for (required) and
// offers (optional): those of the whole service that have a version in
// effect, in order.
func (s *Service) ForRegistration() []Offer {
	if s == nil {
		return nil
	}
	now := s.now()
	var out []Offer
	for _, p := range s.Purposes {
		if v, ok := p.Current(now); ok && p.AppliesTo("") {
			out = append(out, Offer{Purpose: p, Version: v})
		}
	}
	return out
}

// AsksAtSignIn reports whether a sign-in may have to stop for a required
// version.
func (s *Service) AsksAtSignIn() bool {
	if s == nil {
		return false
	}
	for _, p := range s.Purposes {
		if p.Required && !p.RegistrationOnly {
			return true
		}
	}
	return false
}

// Pending returns what userID must accept before going on to clientID
// ("" for the service as a whole): the required purposes concerning it
// whose current version they have not accepted — and, for the same page,
// the optional purposes of the application itself that they have never
// decided on (registration offered the others). It reads the person's
// states once.
func (s *Service) Pending(ctx context.Context, userID, clientID string) (required, optional []Offer, err error) {
	if !s.AsksAtSignIn() {
		return nil, nil, nil
	}
	states, err := s.states(ctx, userID)
	if err != nil {
		return nil, nil, err
	}
	now := s.now()
	for _, p := range s.Purposes {
		v, ok := p.Current(now)
		if !ok || !p.AppliesTo(clientID) {
			continue
		}
		st, decided := states[p.ID]
		o := Offer{Purpose: p, Version: v, Previous: st}
		switch {
		case p.Required && !p.RegistrationOnly && !(st.Granted && st.Version == v.Label):
			required = append(required, o)
		case !p.Required && !decided && len(p.Clients) > 0:
			optional = append(optional, o)
		}
	}
	if len(required) == 0 {
		return nil, nil, nil
	}
	return required, optional, nil
}

func (s *Service) states(ctx context.Context, userID string) (map[string]State, error) {
	list, err := s.Store.ConsentStates(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("consent states of %s: %w", userID, err)
	}
	out := make(map[string]State, len(list))
	for _, st := range list {
		out[st.Purpose] = st
	}
	return out, nil
}

// Choose reads what a form's checkboxes said: ticked maps purpose IDs to
// the version shown beside the ticked box. Every required offer must be
// ticked at its version; the IDs of those that are not are missing (a box
// ticked for a version no longer current is missing too: the person saw
// another document). Ticked optional offers are grants.
func Choose(offers []Offer, ticked map[string]string) (grants []Decision, missing []string) {
	for _, o := range offers {
		v, ok := ticked[o.Purpose.ID]
		switch {
		case ok && v == o.Version.Label:
			grants = append(grants, Decision{Purpose: o.Purpose.ID, Version: v, Grant: true})
		case o.Purpose.Required:
			missing = append(missing, o.Purpose.ID)
		}
	}
	return grants, missing
}

// NewReceipts are the receipts of decisions made before the person's
// account exists (registration); Stamp gives them the account when it is
// made. Every decision must be a grant of a current version.
func (s *Service) NewReceipts(ds []Decision, via Via) ([]Receipt, error) {
	now := s.now()
	var out []Receipt
	for _, d := range ds {
		p, v, err := s.grantable(d, now)
		if err != nil {
			return nil, err
		}
		if !d.Grant {
			return nil, FieldError{"action", "invalid", "a new account can only be given consents"}
		}
		out = append(out, Receipt{Purpose: p.ID, Version: v.Label, Action: Granted, At: now, Channel: via.Channel,
			ClientID: via.ClientID, Actor: via.Actor, Method: methodOr(via.Method)})
	}
	return out, nil
}

// grantable finds the purpose of d and the version it gives: the current
// one, which d.Version must name if it names any.
func (s *Service) grantable(d Decision, now time.Time) (Purpose, Version, error) {
	p, ok := s.Purpose(d.Purpose)
	if !ok {
		return p, Version{}, FieldError{"purpose", "unknown", fmt.Sprintf("%q is not a configured purpose", d.Purpose)}
	}
	v, ok := p.Current(now)
	if !ok {
		return p, v, FieldError{"purpose", "not_current", fmt.Sprintf("%s has no version in effect yet", p.ID)}
	}
	if d.Version != "" && d.Version != v.Label {
		if _, known := p.Version(d.Version); !known {
			return p, v, FieldError{"version", "unknown", fmt.Sprintf("%s has no version %q", p.ID, d.Version)}
		}
		return p, v, FieldError{"version", "not_current", fmt.Sprintf("version %s of %s is not the one in effect (%s)", d.Version, p.ID, v.Label)}
	}
	return p, v, nil
}

// Record records decisions of userID's made in via, each as a receipt
// with its event, and returns the receipts written. A decision that
// changes nothing (a version already given, a withdrawal of what is not
// given) writes nothing. A required purpose cannot be withdrawn: that is
// done by deleting the account.
func (s *Service) Record(ctx context.Context, userID string, ds []Decision, via Via) ([]Receipt, error) {
	now := s.now()
	if via.Actor == "" {
		via.Actor = "user:" + userID
	}
	if via.Method != "" && !methodPattern.MatchString(via.Method) {
		return nil, FieldError{"method", "invalid", fmt.Sprintf("%q is not a method: 1 to 32 lower-case letters, digits and _, such as checkbox or paper_form", via.Method)}
	}
	// Checked before the transaction, so that a refused decision writes
	// nothing and says why.
	for _, d := range ds {
		if d.Grant {
			if _, _, err := s.grantable(d, now); err != nil {
				return nil, err
			}
			continue
		}
		p, ok := s.Purpose(d.Purpose)
		switch {
		case !ok:
			return nil, FieldError{"purpose", "unknown", fmt.Sprintf("%q is not a configured purpose", d.Purpose)}
		case p.Required:
			return nil, FieldError{"purpose", "required", fmt.Sprintf("%s is required to have an account: it is withdrawn by deleting the account", p.ID)}
		}
	}
	var written []Receipt
	err := s.Store.UpdateConsents(ctx, userID, func(list []State) (Change, error) {
		written = nil
		states := map[string]State{}
		for _, st := range list {
			states[st.Purpose] = st
		}
		var c Change
		for _, d := range ds {
			st := states[d.Purpose]
			r := Receipt{UserID: userID, Purpose: d.Purpose, At: now, Channel: via.Channel, ClientID: via.ClientID, Actor: via.Actor, Method: methodOr(via.Method)}
			if d.Grant {
				p, _ := s.Purpose(d.Purpose)
				v, _ := p.Current(now)
				if st.Granted && st.Version == v.Label {
					continue
				}
				r.Version, r.Action = v.Label, Granted
			} else {
				if !st.Granted {
					continue
				}
				r.Version, r.Action = st.Version, Withdrawn
			}
			ev, err := r.Event()
			if err != nil {
				return Change{}, err
			}
			r.ID = ev.UUID
			c.Receipts, c.Events = append(c.Receipts, r), append(c.Events, ev)
			states[d.Purpose] = State{Purpose: r.Purpose, Version: r.Version, Granted: r.Action == Granted, At: r.At, ReceiptID: r.ID}
		}
		written = c.Receipts
		return c, nil
	})
	if err != nil {
		return nil, err
	}
	return written, nil
}

func methodOr(m string) string {
	if m == "" {
		return MethodAPI
	}
	return m
}

// Status is one purpose as it stands for a person.
type Status struct {
	Purpose Purpose
	// Current is the version in effect (HasCurrent false: none yet), Next
	// one announced (HasNext).
	Current    Version
	HasCurrent bool
	Next       Version
	HasNext    bool
	// State is the person's last decision; Decided false if they made
	// none.
	State   State
	Decided bool
	// UpToDate: given at the current version.
	UpToDate bool
}

// Overview is every purpose as it stands for userID, in order: what the
// account page and the management API show, and what a copy of the
// person's data includes (with Receipts).
func (s *Service) Overview(ctx context.Context, userID string) ([]Status, error) {
	if s == nil || len(s.Purposes) == 0 {
		return nil, nil
	}
	states, err := s.states(ctx, userID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := make([]Status, 0, len(s.Purposes))
	for _, p := range s.Purposes {
		st := Status{Purpose: p}
		st.Current, st.HasCurrent = p.Current(now)
		st.Next, st.HasNext = p.Next(now)
		st.State, st.Decided = states[p.ID]
		st.UpToDate = st.HasCurrent && st.State.Granted && st.State.Version == st.Current.Label
		out = append(out, st)
	}
	return out, nil
}

// Receipts returns every receipt of userID's, oldest first.
func (s *Service) Receipts(ctx context.Context, userID string) ([]Receipt, error) {
	if s == nil {
		return nil, nil
	}
	rs, err := s.Store.ConsentReceipts(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("consent receipts of %s: %w", userID, err)
	}
	return rs, nil
}

// ClaimValue is a purpose in the consents claim: whether it is given,
// which version, and since when (seconds since 1970).
type ClaimValue struct {
	Granted bool   `json:"granted"`
	Version string `json:"version,omitempty"`
	At      int64  `json:"at,omitempty"`
}

// Claim is the consents claim for application clientID about userID: one
// member per purpose that concerns the application; a purpose never
// decided on is not granted.
func (s *Service) Claim(ctx context.Context, userID, clientID string) (map[string]ClaimValue, error) {
	out := map[string]ClaimValue{}
	if s == nil || len(s.Purposes) == 0 {
		return out, nil
	}
	states, err := s.states(ctx, userID)
	if err != nil {
		return nil, err
	}
	for _, p := range s.Purposes {
		if !p.AppliesTo(clientID) {
			continue
		}
		v := ClaimValue{}
		if st, ok := states[p.ID]; ok {
			v = ClaimValue{Granted: st.Granted, Version: st.Version, At: st.At.Unix()}
		}
		out[p.ID] = v
	}
	return out, nil
}
