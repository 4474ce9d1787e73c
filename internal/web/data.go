package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/flows"
)

// "Your data": the person downloads everything kept about them (JSON,
// for portability) or reads it on a page, and deletes their account. All
// of it needs a recent sign-in; each copy is recorded (user.exported).
// A deletion waits the grace period, when signing in cancels it, or
// happens at once without one.

// dateFormat is how the pages show a moment: unambiguous in every
// language, in UTC.
const dateFormat = "2006-01-02 15:04 UTC"

// when formats a time (or a pointer to one) for the pages; "" for none.
func when(v any) string {
	switch t := v.(type) {
	case time.Time:
		if !t.IsZero() {
			return t.UTC().Format(dateFormat)
		}
	case *time.Time:
		if t != nil && !t.IsZero() {
			return t.UTC().Format(dateFormat)
		}
	}
	return ""
}

// dataOn says whether this server offers the data pages.
func (h *Handler) dataOn(w http.ResponseWriter, r *http.Request) bool {
	if h.Privacy == nil {
		http.NotFound(w, r)
		return false
	}
	return true
}

// showData is the "Your data" page: a copy, and the deletion.
func (h *Handler) showData(w http.ResponseWriter, r *http.Request) {
	if !h.dataOn(w, r) {
		return
	}
	u, _, ok := h.recentlySignedIn(w, r, "/account/data")
	if !ok {
		return
	}
	h.renderData(w, r, h.accountPage(w, r, u), http.StatusOK)
}

func (h *Handler) renderData(w http.ResponseWriter, r *http.Request, p *page, status int) {
	p.Title = p.T("data.title")
	if grace := h.Privacy.GracePeriod; grace > 0 {
		p.Extra["delete_text"] = p.TF("data.delete.text_later", "Date", h.now().Add(grace).Format(dateFormat))
	} else {
		p.Extra["delete_text"] = p.T("data.delete.text_now")
	}
	h.render(w, r, status, "data", p)
}

// showDataView shows everything kept about the person on a page.
func (h *Handler) showDataView(w http.ResponseWriter, r *http.Request) {
	if !h.dataOn(w, r) {
		return
	}
	u, _, ok := h.recentlySignedIn(w, r, "/account/data/view")
	if !ok {
		return
	}
	x, err := h.Privacy.Export(r.Context(), u.ID, u.Subject(), "html")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p := h.accountPage(w, r, u)
	p.Title = p.T("data_view.title")
	p.Export = &x
	p.Extra["generated"] = p.TF("data_view.generated", "When", when(x.GeneratedAt))
	h.render(w, r, http.StatusOK, "data_view", p)
}

// submitExport downloads everything kept about the person as JSON.
func (h *Handler) submitExport(w http.ResponseWriter, r *http.Request) {
	if !h.dataOn(w, r) {
		return
	}
	u, _, ok := h.postedChange(w, r, "/account/data")
	if !ok {
		return
	}
	x, err := h.Privacy.Export(r.Context(), u.ID, u.Subject(), "json")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	body, err := json.MarshalIndent(x, "", "  ")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json; charset=utf-8")
	hd.Set("Content-Disposition", `attachment; filename="my-data-`+x.GeneratedAt.Format("2006-01-02")+`.json"`)
	// The copy must not linger in caches.
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(body, '\n'))
}

// submitDelete deletes the person's account: at once, or at the end of
// the grace period (they are signed out everywhere now, and told by mail).
func (h *Handler) submitDelete(w http.ResponseWriter, r *http.Request) {
	if !h.dataOn(w, r) {
		return
	}
	u, _, ok := h.postedChange(w, r, "/account/data")
	if !ok {
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		p := h.accountPage(w, r, u)
		p.Errors["confirm"] = p.T("data.delete.confirm_required")
		h.renderData(w, r, p, http.StatusUnprocessableEntity)
		return
	}
	ctx := r.Context()
	d, erased, err := h.Privacy.RequestDeletion(ctx, u.ID, u.Subject())
	switch {
	case errors.Is(err, accounts.ErrNotFound):
		erased = true // gone meanwhile: by another request, or an operator
	case err != nil:
		h.fail(w, r, err)
		return
	}
	h.Wake()
	// The session is gone with the account, or ended by the request: the
	// cookie goes too.
	if err := h.Sessions.End(ctx, w, r); err != nil {
		h.Logger.WarnContext(ctx, "clear the session cookie", "error", err)
	}
	q := url.Values{}
	if !erased {
		q.Set("due", d.DueAt.Format(time.RFC3339))
	}
	to := "/account/deleted"
	if len(q) > 0 {
		to += "?" + q.Encode()
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// showDeleted says that the account is deleted, or when it will be
// (?due=, a time in RFC 3339). It needs no session: there is none.
func (h *Handler) showDeleted(w http.ResponseWriter, r *http.Request) {
	p := h.newPage(w, r, flows.Flow{}, "")
	if due, err := time.Parse(time.RFC3339, r.URL.Query().Get("due")); err == nil {
		p.Title = p.T("deletion_scheduled.title")
		p.Heading = p.Title
		p.Text = p.TF("deletion_scheduled.text", "Date", due.UTC().Format(dateFormat))
		p.LinkURL, p.LinkText = "/login", p.T("deletion_scheduled.sign_in")
		h.render(w, r, http.StatusOK, "message", p)
		return
	}
	h.message(w, r, p, http.StatusOK, "deleted.title", "deleted.text", "", "")
}

// cancelDeletion cancels the pending deletion of the account userID
// signs in to, and reports whether there was one. A failure is logged:
// the sign-in goes on, and the deletion stays until the next one.
func (h *Handler) cancelDeletion(r *http.Request, userID string) bool {
	if h.Privacy == nil {
		return false
	}
	cancelled, err := h.Privacy.CancelDeletion(r.Context(), userID)
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "cancel the account's deletion", "error", err)
	}
	return cancelled
}

// keptURL is where a sign-in that cancelled a deletion goes instead of
// next: the account page with its notice, or a page that says so and
// continues to next.
func keptURL(next string) string {
	if next == "/account" {
		return "/account?done=deletion_cancelled"
	}
	return "/account/deletion-cancelled?" + url.Values{"return_to": {next}}.Encode()
}

// showDeletionCancelled says that signing in cancelled the deletion, and
// continues where the sign-in was going.
func (h *Handler) showDeletionCancelled(w http.ResponseWriter, r *http.Request) {
	u, ok := h.signedIn(w, r)
	if !ok {
		return
	}
	next := safeReturn(r.URL.Query().Get("return_to"))
	if next == "" {
		next = "/account"
	}
	h.message(w, r, h.accountPage(w, r, u), http.StatusOK, "deletion_cancelled.title", "deletion_cancelled.text", next, "common.continue")
}
