package mail

import (
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/portvakt/portvakt/internal/i18n"
)

// TestMissingTemplateFailsConstruction removes each embedded template in turn.
func TestMissingTemplateFailsConstruction(t *testing.T) {
	c, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	names, err := fs.Glob(templateFiles, "templates/*.tmpl")
	if err != nil || len(names) != 2+2*len(Templates()) {
		t.Fatalf("embedded templates: got %d (%v), want %d", len(names), err, 2+2*len(Templates()))
	}
	if _, err := newRenderer(templateFiles, c, Branding{}); err != nil {
		t.Fatalf("with every template: %v", err)
	}
	for _, missing := range names {
		t.Run(missing, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for _, n := range names {
				if n == missing {
					continue
				}
				b, _ := fs.ReadFile(templateFiles, n)
				fsys[n] = &fstest.MapFile{Data: b}
			}
			_, err := newRenderer(fsys, c, Branding{})
			if err == nil || !strings.Contains(err.Error(), "mail templates") {
				t.Errorf("without %s: got %v, want a template error", missing, err)
			}
		})
	}
}
