package web

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Profile freshness: a person whose profile is stale
// (accounts.Service.ProfileStale) is asked at sign-in "Is this still
// correct?" with their profile, and confirms it with one press, corrects
// it, or goes on with "Not now" — which records nothing, so the question
// comes again at the next sign-in. Confirming or saving records the
// confirmation (user.profile_confirmed) and goes on to where the person
// was going (return_to, a local path only).

// confirmProfilePath is the stop's page.
const confirmProfilePath = "/account/confirm-profile"

// profileStop asks at each sign-in whether the person's profile is stale.
func (h *Handler) profileStop() stop {
	return stop{Name: "profile", Pending: func(ctx context.Context, userID, _ string) (string, error) {
		u, err := h.Accounts.Store.UserByID(ctx, userID)
		if err != nil {
			return "", err
		}
		if h.Accounts.ProfileStale(u) {
			return confirmProfilePath, nil
		}
		return "", nil
	}}
}

// confirmProfileURL is the stop's page going on to next, in edit mode or
// not.
func confirmProfileURL(next string, edit bool) string {
	q := url.Values{"return_to": {next}}
	if edit {
		q.Set("edit", "1")
	}
	return confirmProfilePath + "?" + q.Encode()
}

// showConfirmProfile shows the profile with "Yes, this is correct", "Edit"
// and "Not now"; with ?edit=1 the profile form instead.
func (h *Handler) showConfirmProfile(w http.ResponseWriter, r *http.Request) {
	u, ok := h.signedIn(w, r)
	if !ok || !h.accountReady(w, r, u, thisPage(r)) {
		return
	}
	p := h.accountPage(w, r, u)
	h.renderConfirmProfile(w, r, p, r.URL.Query().Get("edit") == "1", http.StatusOK)
}

// renderConfirmProfile shows the stop's page p, in edit mode or not.
func (h *Handler) renderConfirmProfile(w http.ResponseWriter, r *http.Request, p *page, edit bool, status int) {
	next := nextPage(r)
	p.Title = p.T("confirm_profile.title")
	back := url.Values{"return_to": {next}}.Encode()
	p.Extra["confirm_action"] = confirmProfilePath + "?" + back
	p.Extra["edit_action"] = confirmProfilePath + "/edit?" + back
	p.Extra["later_url"] = next
	p.Extra["edit_url"] = confirmProfileURL(next, true)
	p.Extra["view_url"] = confirmProfileURL(next, false)
	if edit {
		p.Extra["edit"] = "1"
	}
	if c := p.User.ProfileConfirmedAt; !c.IsZero() {
		p.Extra["confirmed"] = c.In(time.UTC).Format("2006-01-02")
	}
	h.profileExtras(p)
	h.render(w, r, status, "confirm_profile", p)
}

// submitConfirmProfile records that the person confirmed their profile as
// it is, and goes on.
func (h *Handler) submitConfirmProfile(w http.ResponseWriter, r *http.Request) {
	u, ok := h.postedSignedIn(w, r)
	next := nextPage(r)
	if !ok || !h.accountReady(w, r, u, confirmProfileURL(next, false)) {
		return
	}
	if _, err := h.Accounts.ConfirmProfile(r.Context(), u.ID); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, doneAt(next, "profile_confirmed"), http.StatusSeeOther)
}

// submitConfirmProfileEdit saves the corrected profile, which confirms it,
// and goes on; mistakes come back on the form.
func (h *Handler) submitConfirmProfileEdit(w http.ResponseWriter, r *http.Request) {
	u, ok := h.postedSignedIn(w, r)
	next := nextPage(r)
	if !ok || !h.accountReady(w, r, u, confirmProfileURL(next, true)) {
		return
	}
	p := h.accountPage(w, r, u)
	up := h.profileForm(r, p)
	if !p.HasErrors() {
		_, err := h.Accounts.EditProfile(r.Context(), u.ID, up)
		if err == nil {
			http.Redirect(w, r, doneAt(next, "profile_saved"), http.StatusSeeOther)
			return
		}
		if !h.profileErrors(p, err) {
			h.fail(w, r, err)
			return
		}
	}
	p.Alert = p.T("form.has_errors")
	h.renderConfirmProfile(w, r, p, true, http.StatusBadRequest)
}

// showConfirmProfileEdit sends the browser to the form: the form comes
// back with errors under this path, whose language links lead here.
func (h *Handler) showConfirmProfileEdit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	q.Set("edit", "1")
	http.Redirect(w, r, confirmProfilePath+"?"+q.Encode(), http.StatusSeeOther)
}

// doneAt is next, with the account page's notice done when next is the
// bare account page.
func doneAt(next, done string) string {
	if next == "/account" {
		return "/account?done=" + done
	}
	return next
}
