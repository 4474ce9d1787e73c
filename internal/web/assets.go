package web

import (
	"fmt"
	"net/http"
	"regexp"
)

var hexColor = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

func (h *Handler) serveCSS(w http.ResponseWriter, r *http.Request) {
	b, err := assetFS.ReadFile("assets/portvakt.css")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(b)
}

// serveBrandCSS sets the configured primary colour, as a stylesheet so that
// the pages' CSP can forbid inline styles.
func (h *Handler) serveBrandCSS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	if hexColor.MatchString(h.Brand.PrimaryColor) {
		fmt.Fprintf(w, ":root { --primary: %s; }\n", h.Brand.PrimaryColor)
	}
}
