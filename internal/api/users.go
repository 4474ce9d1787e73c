package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/orgs"
)

// userOut is a user as the API shows it (never a password hash).
type userOut struct {
	ID            string    `json:"id"`
	Email         string    `json:"email"`
	EmailVerified bool      `json:"email_verified"`
	GivenName     string    `json:"given_name"`
	FamilyName    string    `json:"family_name"`
	Phone         string    `json:"phone"`
	Locale        string    `json:"locale"`
	Status        string    `json:"status"`
	ExternalID    string    `json:"external_id"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

func userView(u accounts.User) userOut {
	return userOut{ID: u.ID, Email: u.Email, EmailVerified: u.EmailVerified, GivenName: u.GivenName, FamilyName: u.FamilyName,
		Phone: u.Phone, Locale: u.Locale, Status: string(u.Status), ExternalID: u.ExternalID, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

// listUsers: GET /api/v1/users?email=&external_id=&updated_since=&limit=&cursor=
func (h *Handler) listUsers(w http.ResponseWriter, r *http.Request, c caller) {
	after, limit, ok := h.pageParams(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	query := accounts.Query{Email: q.Get("email"), ExternalID: q.Get("external_id"), OrgID: c.org, After: after, Limit: limit + 1}
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
	users, err := h.Accounts.Users(r.Context(), query)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]userOut, 0, len(users))
	for _, u := range users {
		out = append(out, userView(u))
	}
	writeJSON(w, http.StatusOK, pageOf(out, limit, func(u userOut) string { return u.ID }))
}

type userIn struct {
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	GivenName     string `json:"given_name"`
	FamilyName    string `json:"family_name"`
	Phone         string `json:"phone"`
	Locale        string `json:"locale"`
	ExternalID    string `json:"external_id"`
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
		w.Header().Set("Location", "/api/v1/users/"+u.ID)
		w.Header().Set("ETag", etag(accounts.Version(u)))
		writeJSON(w, http.StatusCreated, userView(u))
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
	w.Header().Set("ETag", etag(accounts.Version(u)))
	writeJSON(w, http.StatusOK, userView(u))
}

// userPatch is a JSON merge patch of a user: fields present are set.
type userPatch struct {
	GivenName  *string `json:"given_name"`
	FamilyName *string `json:"family_name"`
	Phone      *string `json:"phone"`
	Locale     *string `json:"locale"`
	ExternalID *string `json:"external_id"`
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
	if _, ok := h.user(w, r, c); !ok {
		return
	}
	// The API speaks for the CRM: it changes the fields the person or the
	// CRM owns, not those an identity provider does.
	u, err := h.Accounts.UpdateOwned(r.Context(), r.PathValue("id"), accounts.Update{GivenName: in.GivenName, FamilyName: in.FamilyName,
		Phone: in.Phone, Locale: in.Locale, ExternalID: in.ExternalID}, version, c.actor(), accounts.OwnerPerson, accounts.OwnerCRM)
	if err != nil {
		h.invalid(w, r, err, "Another user has this external ID.")
		return
	}
	w.Header().Set("ETag", etag(accounts.Version(u)))
	writeJSON(w, http.StatusOK, userView(u))
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
	if err := h.Accounts.Delete(r.Context(), u.ID, c.actor()); err != nil {
		h.invalid(w, r, err, "")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
