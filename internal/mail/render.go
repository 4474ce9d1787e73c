package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"math"
	"regexp"
	"strconv"
	"strings"
	texttemplate "text/template"

	"golang.org/x/text/language"

	"github.com/portvakt/portvakt/internal/i18n"
)

//go:embed templates
var templateFiles embed.FS

// Branding is how mail presents the business that sends it.
type Branding struct {
	// ProductName names the service in subjects, headings and footers
	// (default "Portvakt").
	ProductName string
	// LogoURL is an absolute https (or http) URL of a logo shown at the top
	// of HTML mail instead of the product name; optional.
	LogoURL string
	// PrimaryColor is the brand colour as hex, "#rrggbb" or "#rgb"
	// (default "#1d4ed8"). Buttons use it; their text is white or black,
	// whichever contrasts more.
	PrimaryColor string
}

// brand is Branding made ready for templates.
type brand struct {
	ProductName string
	LogoURL     string
	// Color is the primary colour, OnColor the text colour on it, and
	// LinkColor a colour for links on white with at least 4.5:1 contrast.
	Color, OnColor, LinkColor string
}

var hexColor = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

func (b Branding) prepare() (brand, error) {
	out := brand{ProductName: strings.TrimSpace(b.ProductName), LogoURL: strings.TrimSpace(b.LogoURL), Color: strings.TrimSpace(b.PrimaryColor)}
	if out.ProductName == "" {
		out.ProductName = "Portvakt"
	}
	if out.Color == "" {
		out.Color = "#1d4ed8"
	}
	if !hexColor.MatchString(out.Color) {
		return brand{}, fmt.Errorf("mail branding: primary colour %q is not #rrggbb or #rgb", b.PrimaryColor)
	}
	if out.LogoURL != "" {
		if err := checkLink(out.LogoURL); err != nil {
			return brand{}, fmt.Errorf("mail branding: logo URL: %w", err)
		}
	}
	white, black := contrast(out.Color, "#ffffff"), contrast(out.Color, "#000000")
	out.OnColor = "#ffffff"
	if black > white {
		out.OnColor = "#000000"
	}
	out.LinkColor = out.Color
	if white < 4.5 {
		out.LinkColor = "#1d4ed8"
	}
	return out, nil
}

// contrast is the WCAG 2 contrast ratio of two hex colours.
func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// luminance is the WCAG 2 relative luminance of a hex colour.
func luminance(hex string) float64 {
	h := strings.TrimPrefix(hex, "#")
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	var c [3]float64
	for i := range c {
		v, _ := strconv.ParseUint(h[2*i:2*i+2], 16, 8)
		s := float64(v) / 255
		if s <= 0.04045 {
			c[i] = s / 12.92
		} else {
			c[i] = math.Pow((s+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*c[0] + 0.7152*c[1] + 0.0722*c[2]
}

// Renderer turns messages into localized mail. It is safe for concurrent
// use.
type Renderer struct {
	catalog *i18n.Catalog
	brand   brand
	// html and text hold each template's parsed set per language, with T
	// bound to that language.
	html map[string]map[language.Tag]*htmltemplate.Template
	text map[string]map[language.Tag]*texttemplate.Template
}

// NewRenderer parses every template for every language. A missing or
// broken template, or unusable branding, fails it.
func NewRenderer(catalog *i18n.Catalog, b Branding) (*Renderer, error) {
	return newRenderer(templateFiles, catalog, b)
}

// newRenderer is NewRenderer with the templates read from fsys.
func newRenderer(fsys fs.FS, catalog *i18n.Catalog, b Branding) (*Renderer, error) {
	if catalog == nil {
		return nil, errors.New("mail renderer: no message catalog")
	}
	br, err := b.prepare()
	if err != nil {
		return nil, err
	}
	r := &Renderer{
		catalog: catalog,
		brand:   br,
		html:    map[string]map[language.Tag]*htmltemplate.Template{},
		text:    map[string]map[language.Tag]*texttemplate.Template{},
	}
	// Placeholders let the templates parse; each language's copy gets its
	// own T below.
	stubs := map[string]any{
		"T":      func(string, ...map[string]any) string { return "" },
		"button": newButton,
	}
	htmlLayout, err := htmltemplate.New("layout.html.tmpl").Option("missingkey=error").Funcs(stubs).
		ParseFS(fsys, "templates/layout.html.tmpl")
	if err != nil {
		return nil, fmt.Errorf("mail templates: %w", err)
	}
	textLayout, err := texttemplate.New("layout.txt.tmpl").Option("missingkey=error").Funcs(stubs).
		ParseFS(fsys, "templates/layout.txt.tmpl")
	if err != nil {
		return nil, fmt.Errorf("mail templates: %w", err)
	}
	for _, name := range Templates() {
		hb, err := htmlLayout.Clone()
		if err != nil {
			return nil, err
		}
		if _, err := hb.ParseFS(fsys, "templates/"+name+".html.tmpl"); err != nil {
			return nil, fmt.Errorf("mail templates: %w", err)
		}
		tb, err := textLayout.Clone()
		if err != nil {
			return nil, err
		}
		if _, err := tb.ParseFS(fsys, "templates/"+name+".txt.tmpl"); err != nil {
			return nil, fmt.Errorf("mail templates: %w", err)
		}
		r.html[name] = map[language.Tag]*htmltemplate.Template{}
		r.text[name] = map[language.Tag]*texttemplate.Template{}
		for _, tag := range i18n.Languages {
			funcs := map[string]any{"T": catalog.Localizer(tag).T}
			h, err := hb.Clone()
			if err != nil {
				return nil, err
			}
			r.html[name][tag] = h.Funcs(funcs)
			t, err := tb.Clone()
			if err != nil {
				return nil, err
			}
			r.text[name][tag] = t.Funcs(funcs)
		}
	}
	return r, nil
}

// button is a call to action in HTML mail.
type button struct {
	URL, Label string
	Brand      brand
}

func newButton(url, label string, b brand) button { return button{URL: url, Label: label, Brand: b} }

// view is what a mail template sees.
type view struct {
	// Lang is the BCP 47 tag of the mail's language.
	Lang    string
	Subject string
	Brand   brand
	// Data holds the message's values as strings, with ProductName.
	Data map[string]any
}

// rendered is a mail ready to send.
type rendered struct {
	Lang                language.Tag
	Subject, Text, HTML string
}

// Render returns m's subject and bodies in m's language (English if
// Portvakt does not speak it). An unknown template or missing values give
// ErrInvalidMessage.
func (r *Renderer) Render(m Message) (subject, text, html string, err error) {
	out, err := r.render(m)
	if err != nil {
		return "", "", "", err
	}
	return out.Subject, out.Text, out.HTML, nil
}

func (r *Renderer) render(m Message) (rendered, error) {
	sp, ok := specFor(m.Template)
	if !ok {
		return rendered{}, fmt.Errorf("%w: unknown template %q", ErrInvalidMessage, m.Template)
	}
	data, err := sp.values(m.Data)
	if err != nil {
		return rendered{}, fmt.Errorf("mail %s: %w", m.Template, err)
	}
	data["ProductName"] = r.brand.ProductName
	tag := r.catalog.Match(m.Lang.String())
	subject := r.catalog.Localizer(tag).T("mail."+m.Template+".subject", data)
	// A header is one line, whatever a value holds.
	subject = strings.Join(strings.Fields(subject), " ")
	v := view{Lang: tag.String(), Subject: subject, Brand: r.brand, Data: data}
	var hb, tb bytes.Buffer
	if err := r.html[m.Template][tag].Execute(&hb, v); err != nil {
		return rendered{}, fmt.Errorf("render mail %s (%s) as HTML: %w", m.Template, tag, err)
	}
	if err := r.text[m.Template][tag].Execute(&tb, v); err != nil {
		return rendered{}, fmt.Errorf("render mail %s (%s) as text: %w", m.Template, tag, err)
	}
	return rendered{Lang: tag, Subject: subject, Text: tidyText(tb.String()), HTML: hb.String()}, nil
}

// tidyText trims trailing spaces from lines and collapses runs of blank
// lines, so that templates can be laid out for reading.
func tidyText(s string) string {
	lines := strings.Split(s, "\n")
	var out []string
	blank := true // drop leading blank lines
	for _, l := range lines {
		if l != "-- " { // the signature separator keeps its space
			l = strings.TrimRight(l, " \t\r")
		}
		if l == "" {
			if blank {
				continue
			}
			blank = true
		} else {
			blank = false
		}
		out = append(out, l)
	}
	return strings.TrimRight(strings.Join(out, "\n"), "\n") + "\n"
}
