package mail

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"
	"time"
)

// DevHandler shows captured mail in the browser, so that someone trying
// Portvakt without a mail server can still follow a verification link. Mount
// it only when no mail server is configured: the pages show links and codes
// to anyone who can reach them.
type DevHandler struct {
	Outbox *Outbox

	pages *template.Template
}

// devListLimit is how many mails the list page shows.
const devListLimit = 100

// Mount registers GET /dev/mail (the newest mails) and GET /dev/mail/{id}
// (one mail). It panics if the embedded page templates do not parse, which
// the package's tests rule out.
func (h *DevHandler) Mount(mux *http.ServeMux) {
	h.pages = template.Must(template.New("dev").Funcs(map[string]any{"when": formatTime}).
		ParseFS(templateFiles, "templates/dev/*.html.tmpl"))
	mux.HandleFunc("GET /dev/mail", h.listMails)
	mux.HandleFunc("GET /dev/mail/{id}", h.showMail)
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func (h *DevHandler) listMails(w http.ResponseWriter, r *http.Request) {
	mails, err := h.Outbox.List(r.Context(), devListLimit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "list.html.tmpl", struct{ Mails []Mail }{mails})
}

// segment is a run of a text body: plain text, or a link.
type segment struct{ Text, URL string }

func (h *DevHandler) showMail(w http.ResponseWriter, r *http.Request) {
	m, err := h.Outbox.Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, ErrNotFound) {
		h.render(w, r, http.StatusNotFound, "notfound.html.tmpl", nil)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "mail.html.tmpl", struct {
		Mail Mail
		Body []segment
	}{m, segments(m.Text)})
}

// segments splits text into plain runs and links, for the template to
// escape each and make the links clickable.
func segments(text string) []segment {
	var out []segment
	last := 0
	for _, sp := range linkSpans(text) {
		if sp[0] > last {
			out = append(out, segment{Text: text[last:sp[0]]})
		}
		out = append(out, segment{URL: text[sp[0]:sp[1]]})
		last = sp[1]
	}
	if last < len(text) {
		out = append(out, segment{Text: text[last:]})
	}
	return out
}

// render writes a page from a buffer, so a template error never leaves half
// a page.
func (h *DevHandler) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var buf bytes.Buffer
	if err := h.pages.ExecuteTemplate(&buf, name, data); err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// The pages hold links and codes: keep them out of caches and indexes.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Robots-Tag", "noindex")
	// Stricter than the server's default: these pages load nothing at all.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail logs err and shows a generic error: internal details stay in the log.
func (h *DevHandler) fail(w http.ResponseWriter, r *http.Request, err error) {
	h.Outbox.logger().ErrorContext(r.Context(), "dev mail page failed", "path", r.URL.Path, "error", err)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write([]byte("Internal error: see the server log.\n"))
}
