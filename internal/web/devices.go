package web

import (
	"net/http"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/text/language"

	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/session"
)

// Where you're signed in: the account page lists the person's sessions —
// browser and system, address and, with a database of places, roughly
// where that is, when last seen — and signs out any other
// one, or all the others at once. Each ends with session.ended (reason
// signed_out_elsewhere), which tells the applications used in it
// (back-channel logout).

// sessionItem is a session as the account page shows it.
type sessionItem struct {
	// ID names it in forms: the first 16 hex digits of its hash (its sid).
	ID, Device, Address, LastSeen string
	// Place is where the address is, roughly ("City, Country"), when the
	// deployment has a database of places and it knows the address.
	Place   string
	Current bool
}

// Places names the approximate place of an address.
type Places interface {
	// Place returns where ip is, roughly, in lang ("City, Country", or
	// the country alone), or "" for an address it cannot place.
	Place(ip netip.Addr, lang language.Tag) string
}

// sessionExtras adds the person's sessions to the account page.
func (h *Handler) sessionExtras(r *http.Request, p *page) error {
	ctx := r.Context()
	// This device's session: the page was reached signed in, so its cookie
	// names it (no second read of it).
	cur := ""
	if c, err := r.Cookie(h.Sessions.CookieName()); err == nil {
		cur = session.Hash(c.Value)
	}
	list, err := h.Sessions.Store.SessionsOf(ctx, p.User.ID)
	if err != nil {
		return err
	}
	lang := language.Make(p.Lang)
	for _, s := range list {
		item := sessionItem{ID: s.IDHash[:16], Device: device(s.UserAgent), Address: s.ClientIP,
			LastSeen: s.LastSeenAt.In(time.UTC).Format("2006-01-02 15:04 UTC"), Current: s.IDHash == cur}
		if ip, err := netip.ParseAddr(s.ClientIP); err == nil && h.Places != nil {
			item.Place = h.Places.Place(ip, lang)
		}
		p.Sessions = append(p.Sessions, item)
	}
	return nil
}

// device names a browser and its system from a User-Agent, roughly; the
// start of the string when it is none of the usual.
func device(ua string) string {
	browser := ""
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"}, {"Safari/", "Safari"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	system := ""
	for _, o := range []struct{ token, name string }{
		{"Android", "Android"}, {"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Windows", "Windows"}, {"Mac OS X", "macOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			system = o.name
			break
		}
	}
	switch {
	case browser != "" && system != "":
		return browser + ", " + system
	case browser != "":
		return browser
	case len(ua) > 60:
		return ua[:60] + "…"
	}
	return ua
}

// submitEndSessions signs out one other session of the person
// (POST /account/sessions/{id}/end) or all the others
// (POST /account/sessions/end-others). A session that is not theirs is
// not found; their current one is ended by signing out.
func (h *Handler) submitEndSessions(w http.ResponseWriter, r *http.Request) {
	if !h.checkCSRF(r) {
		h.showError(w, r, http.StatusForbidden, "error.csrf")
		return
	}
	u, cur, ok := h.signedInSession(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	list, err := h.Sessions.Store.SessionsOf(ctx, u.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	one := r.PathValue("id")
	var ending []session.Session
	for _, s := range list {
		if s.IDHash != cur.IDHash && (one == "" || s.IDHash[:16] == one) {
			ending = append(ending, s)
		}
	}
	if one != "" && len(ending) == 0 {
		h.notFound(w, r, u)
		return
	}
	for _, s := range ending {
		ev, err := events.New("session.ended", "user:"+u.ID, "user:"+u.ID, h.now(), map[string]any{"session": s.Subject(), "reason": "signed_out_elsewhere"})
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if err := h.Sessions.Store.DeleteSession(ctx, s.IDHash, ev); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	h.Wake()
	http.Redirect(w, r, "/account?done=sessions_ended", http.StatusSeeOther)
}
