package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/externalids"
	"github.com/portvakt/portvakt/internal/orgs"
)

// userOut is a user as the API shows it (never a password hash).
type userOut struct {
	ID            string `json:"id"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	GivenName     string `json:"given_name"`
	FamilyName    string `json:"family_name"`
	Phone         string `json:"phone"`
	Locale        string `json:"locale"`
	Status        string `json:"status"`
	ExternalID    string `json:"external_id"`
	// ExternalIDs are the IDs of further source systems: source → ID.
	ExternalIDs map[string]string `json:"external_ids"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
	freshnessOut
}

// freshnessOut is how up to date a person's profile is: when they last
// confirmed it (null if never), and whether it may be out of date
// (accounts.Service.ProfileStale).
type freshnessOut struct {
	ProfileConfirmedAt *time.Time `json:"profile_confirmed_at"`
	Stale              bool       `json:"stale"`
}

func (h *Handler) freshness(u accounts.User) freshnessOut {
	f := freshnessOut{Stale: h.Accounts.ProfileStale(u)}
	if !u.ProfileConfirmedAt.IsZero() {
		c := u.ProfileConfirmedAt
		f.ProfileConfirmedAt = &c
	}
	return f
}

func (h *Handler) userView(u accounts.User) userOut {
	return userOut{ID: u.ID, Email: u.Email, EmailVerified: u.EmailVerified, GivenName: u.GivenName, FamilyName: u.FamilyName,
		Phone: u.Phone, Locale: u.Locale, Status: string(u.Status), ExternalID: u.ExternalID, ExternalIDs: map[string]string{},
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt, freshnessOut: h.freshness(u)}
}

// usersOut are the users as the API shows them, with their external IDs.
func (h *Handler) usersOut(r *http.Request, users ...accounts.User) ([]userOut, error) {
	out := make([]userOut, 0, len(users))
	for _, u := range users {
		out = append(out, h.userView(u))
	}
	err := h.withExternalIDs(r, externalids.User, len(out), func(i int) string { return out[i].ID },
		func(i int, m map[string]string) { out[i].ExternalIDs = m })
	return out, err
}

// withExternalIDs gives each of n subjects of kind (the i-th has ID id(i))
// its external IDs, read at once.
func (h *Handler) withExternalIDs(r *http.Request, kind externalids.Kind, n int, id func(int) string, set func(int, map[string]string)) error {
	if h.ExternalIDs == nil || n == 0 {
		return nil
	}
	ids := make([]string, n)
	for i := range n {
		ids[i] = id(i)
	}
	ext, err := h.ExternalIDs.Store.ExternalIDs(r.Context(), kind, ids)
	if err != nil {
		return err
	}
	for i := range n {
		if m := ext[ids[i]]; m != nil {
			set(i, m)
		}
	}
	return nil
}

// writeUser answers with u and its external IDs.
func (h *Handler) writeUser(w http.ResponseWriter, r *http.Request, status int, u accounts.User) {
	out, err := h.usersOut(r, u)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("ETag", etag(accounts.Version(u)))
	writeJSON(w, status, out[0])
}

// setExternalIDs applies a change of a subject's external IDs (nil
// removes one), answering a problem and reporting false when it cannot.
func (h *Handler) setExternalIDs(w http.ResponseWriter, r *http.Request, c caller, kind externalids.Kind, id string, in map[string]*string) bool {
	if len(in) == 0 || h.ExternalIDs == nil {
		return true
	}
	set := map[string]string{}
	for src, v := range in {
		if v != nil {
			set[src] = *v
		} else {
			set[src] = ""
		}
	}
	err := h.ExternalIDs.Set(r.Context(), kind, id, set, c.actor())
	if err == nil {
		return true
	}
	h.domainProblem(w, r, err, domainErrors{
		field: func(e error) (fieldProblem, bool) {
			var fe externalids.FieldError
			ok := errors.As(e, &fe)
			return fieldProblem{Field: fe.Field, Code: "invalid", Message: fe.Message}, ok
		},
		notFound: externalids.ErrNotFound, conflict: externalids.ErrConflict,
		conflictDetail: "Another one has this ID in that source system (external_ids).",
	})
	return false
}

// listUsers: GET /api/v1/users?email=&external_id=&updated_since=&org=&stale=&limit=&cursor=
func (h *Handler) listUsers(w http.ResponseWriter, r *http.Request, c caller) {
	after, limit, ok := h.pageParams(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	query := accounts.Query{Email: q.Get("email"), ExternalID: q.Get("external_id"), OrgID: c.org, After: after, Limit: limit + 1}
	switch q.Get("sort") {
	case "", "created":
	case "-created":
		query.Newest = true
	default:
		p := errInvalid
		p.fields = []fieldProblem{{"sort", "invalid", "is not created (oldest first, the default) or -created (newest first)"}}
		h.problem(w, r, p)
		return
	}
	// stale=true: the profiles that may be out of date (none when
	// freshness is off); stale=false: the others.
	noneStale := false
	switch q.Get("stale") {
	case "":
	case "true":
		query.CheckedBefore = h.Accounts.StaleBefore()
		noneStale = query.CheckedBefore.IsZero()
	case "false":
		query.CheckedSince = h.Accounts.StaleBefore()
	default:
		p := errInvalid
		p.fields = []fieldProblem{{"stale", "invalid", "is not true (profiles that may be out of date) or false (the others)"}}
		h.problem(w, r, p)
		return
	}
	if ref := q.Get("org"); ref != "" {
		// The members of an organization (by ID, slug or ext:<external ID>).
		o, err := h.Orgs.Find(r.Context(), ref)
		if err != nil && !errors.Is(err, orgs.ErrNotFound) {
			h.fail(w, r, err)
			return
		}
		if err != nil || (c.org != "" && o.ID != c.org) {
			writeJSON(w, http.StatusOK, page[userOut]{Items: []userOut{}})
			return
		}
		query.OrgID = o.ID
	}
	if s := q.Get("updated_since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			p := errInvalid
			p.fields = []fieldProblem{{"updated_since", "invalid", "is not a time such as 2026-01-31T12:00:00Z (RFC 3339)"}}
			h.problem(w, r, p)
			return
		}
		query.UpdatedSince = t
	}
	if noneStale {
		writeJSON(w, http.StatusOK, page[userOut]{Items: []userOut{}})
		return
	}
	var users []accounts.User
	var err error
	if src := q.Get("external_source"); src != "" {
		// external_id is then that source's ID: that user, if the other
		// filters hold.
		query.ExternalID = ""
		users, err = h.userByExternal(r, c, src, q.Get("external_id"), query)
	} else {
		users, err = h.Accounts.Users(r.Context(), query)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := h.usersOut(r, users...)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, pageOf(out, limit, func(u userOut) string { return u.ID }))
}

// userByExternal is the user with the ID value in the source system, in a
// list of one if it also fits q, or none.
func (h *Handler) userByExternal(r *http.Request, c caller, source, value string, q accounts.Query) ([]accounts.User, error) {
	if h.ExternalIDs == nil || value == "" {
		return nil, nil
	}
	id, err := h.ExternalIDs.Store.FindExternal(r.Context(), externalids.User, source, value)
	if errors.Is(err, externalids.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	u, err := h.Accounts.Store.UserByID(r.Context(), id)
	if errors.Is(err, accounts.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	norm, _ := accounts.NormalizeEmail(q.Email)
	checked := accounts.ProfileCheckedAt(u)
	if u.ID <= q.After || (q.Email != "" && u.EmailNormalized != norm) || (q.ExternalID != "" && u.ExternalID != q.ExternalID) ||
		(!q.UpdatedSince.IsZero() && u.UpdatedAt.Before(q.UpdatedSince)) ||
		(!q.CheckedBefore.IsZero() && !checked.Before(q.CheckedBefore)) || (!q.CheckedSince.IsZero() && checked.Before(q.CheckedSince)) {
		return nil, nil
	}
	if c.org != "" {
		if _, err := h.Orgs.Store.Membership(r.Context(), c.org, u.ID); errors.Is(err, orgs.ErrNotFound) {
			return nil, nil
		} else if err != nil {
			return nil, err
		}
	}
	return []accounts.User{u}, nil
}

type userIn struct {
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	GivenName     string `json:"given_name"`
	FamilyName    string `json:"family_name"`
	Phone         string `json:"phone"`
	Locale        string `json:"locale"`
	ExternalID    string `json:"external_id"`
	// ExternalIDs are IDs of further source systems: source → ID.
	ExternalIDs map[string]*string `json:"external_ids"`
}

// createUser: POST /api/v1/users. The person sets a password through a
// reset, or signs in another way.
func (h *Handler) createUser(w http.ResponseWriter, r *http.Request, c caller) {
	if c.org != "" {
		// Its people join by invitation.
		h.problem(w, r, errOrgLimited.with("A client limited to one organization brings people in by invitation (POST /api/v1/invitations)."))
		return
	}
	var in userIn
	body, done := h.readJSON(w, r, &in)
	if done {
		return
	}
	h.idempotent(w, r, c, body, func(w http.ResponseWriter) {
		u, err := h.Accounts.Create(r.Context(), accounts.NewUser{Email: in.Email, Verified: in.EmailVerified, GivenName: in.GivenName,
			FamilyName: in.FamilyName, Phone: in.Phone, Locale: in.Locale, ExternalID: in.ExternalID}, c.actor())
		if err != nil {
			h.invalid(w, r, err, "Another user has this email address or external ID.")
			return
		}
		if !h.setExternalIDs(w, r, c, externalids.User, u.ID, in.ExternalIDs) {
			return
		}
		w.Header().Set("Location", "/api/v1/users/"+u.ID)
		h.writeUser(w, r, http.StatusCreated, u)
	})
}

// user reads the user of the path, or answers 404: also for a user who is
// not a member of the organization the caller is limited to.
func (h *Handler) user(w http.ResponseWriter, r *http.Request, c caller) (accounts.User, bool) {
	u, err := h.Accounts.Store.UserByID(r.Context(), r.PathValue("id"))
	if err == nil && c.org != "" {
		if _, merr := h.Orgs.Store.Membership(r.Context(), c.org, u.ID); merr != nil {
			err = merr
			if errors.Is(merr, orgs.ErrNotFound) {
				err = accounts.ErrNotFound
			}
		}
	}
	return u, h.found(w, r, err, accounts.ErrNotFound, "There is no user with this ID.")
}

func (h *Handler) getUser(w http.ResponseWriter, r *http.Request, c caller) {
	u, ok := h.user(w, r, c)
	if !ok {
		return
	}
	h.writeUser(w, r, http.StatusOK, u)
}

// userPatch is a JSON merge patch of a user: fields present are set.
type userPatch struct {
	GivenName  *string `json:"given_name"`
	FamilyName *string `json:"family_name"`
	Phone      *string `json:"phone"`
	Locale     *string `json:"locale"`
	ExternalID *string `json:"external_id"`
	// ExternalIDs change IDs of further source systems; null removes one.
	ExternalIDs map[string]*string `json:"external_ids"`
}

// patchUser: PATCH /api/v1/users/{id}, with If-Match for a change based on
// a version read before.
func (h *Handler) patchUser(w http.ResponseWriter, r *http.Request, c caller) {
	version, ok := h.ifMatch(w, r)
	if !ok {
		return
	}
	var in userPatch
	if _, done := h.readJSON(w, r, &in); done {
		return
	}
	cur, ok := h.user(w, r, c)
	if !ok {
		return
	}
	// Checked before the external IDs change, so that a refused request
	// changes nothing.
	if version != "" && version != accounts.Version(cur) {
		h.problem(w, r, errStale)
		return
	}
	trial := cur
	for _, f := range []struct {
		dst *string
		v   *string
	}{{&trial.GivenName, in.GivenName}, {&trial.FamilyName, in.FamilyName}, {&trial.Phone, in.Phone}, {&trial.Locale, in.Locale}, {&trial.ExternalID, in.ExternalID}} {
		if f.v != nil {
			*f.dst = strings.TrimSpace(*f.v)
		}
	}
	// The API speaks for the CRM: it changes the fields the person or the
	// CRM owns, not those an identity provider does.
	up := accounts.Update{GivenName: in.GivenName, FamilyName: in.FamilyName, Phone: in.Phone, Locale: in.Locale, ExternalID: in.ExternalID}
	if err := errors.Join(trial.Validate(), h.Accounts.CheckOwned(cur, up, accounts.OwnerPerson, accounts.OwnerCRM)); err != nil {
		h.invalid(w, r, err, "")
		return
	}
	if !h.setExternalIDs(w, r, c, externalids.User, cur.ID, in.ExternalIDs) {
		return
	}
	u, err := h.Accounts.UpdateOwned(r.Context(), cur.ID, up, version, c.actor(), accounts.OwnerPerson, accounts.OwnerCRM)
	if err != nil {
		h.invalid(w, r, err, "Another user has this external ID.")
		return
	}
	h.writeUser(w, r, http.StatusOK, u)
}

// deleteUser: DELETE /api/v1/users/{id}, with If-Match optionally.
func (h *Handler) deleteUser(w http.ResponseWriter, r *http.Request, c caller) {
	if c.org != "" {
		// People may belong to other organizations too.
		h.problem(w, r, errOrgLimited.with("A client limited to one organization removes people from it (DELETE /api/v1/organizations/{org}/members/{user}), not from the deployment."))
		return
	}
	version, ok := h.ifMatch(w, r)
	if !ok {
		return
	}
	u, ok := h.user(w, r, c)
	if !ok {
		return
	}
	if version != "" && version != accounts.Version(u) {
		h.problem(w, r, errStale)
		return
	}
	// The same erasure as a person's own request, at once: everything
	// about the person goes, the audit log keeps a pseudonym.
	if err := h.Privacy.Erase(r.Context(), u.ID, c.actor()); err != nil {
		h.invalid(w, r, err, "")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// exportUser: GET /api/v1/users/{id}/export, everything held about the
// user (privacy.Export), for a request of access or portability that came
// by another channel. It is recorded as user.exported by the client.
func (h *Handler) exportUser(w http.ResponseWriter, r *http.Request, c caller) {
	if c.org != "" {
		// The export holds far more than the organization's.
		h.problem(w, r, errOrgLimited.with("A client limited to one organization cannot export what is held about a person."))
		return
	}
	u, ok := h.user(w, r, c)
	if !ok {
		return
	}
	x, err := h.Privacy.Export(r.Context(), u.ID, c.actor(), "json")
	if !h.found(w, r, err, accounts.ErrNotFound, "There is no user with this ID.") {
		return
	}
	writeJSON(w, http.StatusOK, x)
}
