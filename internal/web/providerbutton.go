package web

import (
	"html/template"
	"unicode"

	"github.com/portvakt/portvakt/internal/federation"
)

// Each known provider's button has its colours (in the stylesheet, as
// .idp-btn.idp-<brand>: the pages' CSP allows no inline styles) and its
// mark, drawn here as a small inline SVG after the provider's published
// button guidelines. A mark is decorative: the button's text names it.

// newProviderButton is the button for provider pr; a brand without a look
// here gets the plain one.
func newProviderButton(pr federation.Provider) providerButton {
	b := providerButton{ID: pr.ID, Name: pr.Name}
	if _, ok := brandMarks[pr.Brand]; ok {
		b.Brand = pr.Brand
	}
	return b
}

// Class is the button's CSS classes: the brand's, or the secondary look
// for a provider without one.
func (b providerButton) Class() string {
	if b.Brand == "" {
		return "secondary idp-btn idp-generic"
	}
	return "idp-btn idp-" + b.Brand
}

// Mark is the button's logo, hidden from assistive technology: the brand's
// mark, or for another provider the first letter of its name in a circle.
func (b providerButton) Mark() template.HTML {
	if m, ok := brandMarks[b.Brand]; ok {
		return markSVG(m)
	}
	for _, r := range b.Name {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return markSVG(`<circle cx="12" cy="12" r="10.25" fill="none" stroke="currentColor" stroke-width="1.5"/>` +
				`<text x="12" y="16.3" text-anchor="middle" font-size="12" font-weight="700" fill="currentColor">` +
				template.HTMLEscapeString(string(unicode.ToUpper(r))) + `</text>`)
		}
	}
	return ""
}

// markSVG wraps a mark's shapes, drawn on a 24×24 grid.
func markSVG(shapes string) template.HTML {
	return template.HTML(`<svg class="idp-mark" viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false">` + shapes + `</svg>`)
}

// brandMarks are the marks of federation.Brands. Shapes drawn in the
// button's background colour read as cut out of the mark.
var brandMarks = map[string]string{
	// A "G" of four arcs (red, yellow, green, blue) and its blue bar.
	"google": `<g fill="none" stroke-width="4">` +
		`<path d="M17.66 6.34A8 8 0 0 0 4.48 9.26" stroke="#EA4335"/>` +
		`<path d="M4.48 9.26A8 8 0 0 0 4.48 14.74" stroke="#FBBC05"/>` +
		`<path d="M4.48 14.74A8 8 0 0 0 17.66 17.66" stroke="#34A853"/>` +
		`<path d="M17.66 17.66A8 8 0 0 0 20 12" stroke="#4285F4"/></g>` +
		`<rect x="12" y="10" width="9.8" height="4" fill="#4285F4"/>`,
	// Four squares: red, green, blue, yellow.
	"microsoft": `<rect x="2" y="2" width="9.5" height="9.5" fill="#F25022"/>` +
		`<rect x="12.5" y="2" width="9.5" height="9.5" fill="#7FBA00"/>` +
		`<rect x="2" y="12.5" width="9.5" height="9.5" fill="#00A4EF"/>` +
		`<rect x="12.5" y="12.5" width="9.5" height="9.5" fill="#FFB900"/>`,
	// An apple with a bite and a leaf, in the text colour.
	"apple": `<path fill="currentColor" d="M12 8.2C13.2 7.2 14.6 6.8 16 6.9C17.4 7 18.6 7.7 19.4 8.9A4 4 0 0 0 19.8 16.2` +
		`C18.9 19 17.4 21.8 15.6 21.8C14.2 21.8 13.6 21 12 21C10.4 21 9.8 21.8 8.4 21.8` +
		`C6.2 21.8 4 17.6 4 13.6C4 10 6.2 7.1 9.2 7.1C10.4 7.1 11.2 7.7 12 8.2Z"/>` +
		`<path fill="currentColor" d="M12.3 6.6C12.2 4.6 13.8 2.9 15.8 2.7C15.9 4.7 14.3 6.5 12.3 6.6Z"/>`,
	// A cat with ears and a tail in a white circle.
	"github": `<circle cx="12" cy="12" r="10" fill="currentColor"/>` +
		`<g fill="#24292f"><ellipse cx="12" cy="11.2" rx="5" ry="4.3"/>` +
		`<path d="M7.4 9.6L7.8 5.2L10.4 7.2ZM16.6 9.6L16.2 5.2L13.6 7.2ZM10 14H14V23H10Z"/></g>` +
		`<path d="M10 18.6C8.2 18.8 7.7 17.1 6.3 16.7" fill="none" stroke="#24292f" stroke-width="1.4" stroke-linecap="round"/>`,
	// An "f" cut out of a white circle.
	"facebook": `<circle cx="12" cy="12" r="10" fill="currentColor"/>` +
		`<path fill="#166FE5" d="M13 23V13.6H10.4V11H13V9C13 6.5 14.4 5.2 16.7 5.2C17.3 5.2 17.8 5.25 18.1 5.3V7.6H16.9` +
		`C16 7.6 15.6 8.1 15.6 8.9V11H18L17.6 13.6H15.6V23Z"/>`,
	// "in" cut out of a white rounded square.
	"linkedin": `<rect x="2" y="2" width="20" height="20" rx="3" fill="currentColor"/>` +
		`<g fill="#0A66C2"><circle cx="7.4" cy="6.9" r="1.7"/><rect x="5.9" y="9.6" width="3" height="9"/>` +
		`<rect x="10.6" y="9.6" width="2.9" height="9"/>` +
		`<path d="M13.5 11.2C14 10 15.1 9.4 16.4 9.4C18.4 9.4 19.2 10.8 19.2 13V18.6H16.3V13.6` +
		`C16.3 12.5 15.9 11.9 15 11.9C14.1 11.9 13.5 12.6 13.5 13.7Z"/></g>`,
}
