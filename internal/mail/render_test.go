package mail_test

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/text/language"

	"github.com/portvakt/portvakt/internal/i18n"
	"github.com/portvakt/portvakt/internal/mail"
)

func newCatalog(t testing.TB) *i18n.Catalog {
	t.Helper()
	c, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newRenderer(t testing.TB, b mail.Branding) *mail.Renderer {
	t.Helper()
	r, err := mail.NewRenderer(newCatalog(t), b)
	if err != nil {
		t.Fatalf("NewRenderer: %v", err)
	}
	return r
}

// exampleData returns values for template name; its links carry a query
// with "&", which HTML must escape.
func exampleData(name string) (data map[string]any, links []string, code string) {
	link := func(path string) string { return "https://id.example.com/" + path + "?token=tok-" + name + "&flow=f1" }
	switch name {
	case mail.VerifyEmail:
		return map[string]any{"Link": link("verify"), "Code": "482915", "Name": "Ada"}, []string{link("verify")}, "482915"
	case mail.AccountExists:
		return map[string]any{"SignInLink": link("login"), "ResetLink": link("reset")}, []string{link("login"), link("reset")}, ""
	case mail.ResetPassword:
		return map[string]any{"Link": link("reset"), "Name": "Ada"}, []string{link("reset")}, ""
	case mail.PasswordChanged:
		return map[string]any{"ResetLink": link("reset"), "Name": "Ada"}, []string{link("reset")}, ""
	case mail.FactorAdded:
		return map[string]any{"AccountLink": link("account")}, []string{link("account")}, ""
	case mail.FactorRemoved:
		return map[string]any{"AccountLink": link("account"), "ResetLink": link("reset"), "Name": "Ada"}, []string{link("account"), link("reset")}, ""
	case mail.SignInCode:
		return map[string]any{"Code": "730164", "Minutes": 10, "Name": "Ada"}, nil, "730164"
	case mail.PasskeyAdded, mail.PasskeyRemoved:
		return map[string]any{"AccountLink": link("account"), "ResetLink": link("reset")}, []string{link("account"), link("reset")}, ""
	case mail.Invitation:
		return map[string]any{"Link": link("invitation"), "Organization": "Acme Oy", "Days": 7, "Name": "Maria"}, []string{link("invitation")}, ""
	case mail.DeletionScheduled:
		return map[string]any{"SignInLink": link("login"), "Date": "2026-12-09 12:00 UTC", "Name": "Ada"}, []string{link("login")}, ""
	case mail.WebhookPaused:
		return map[string]any{"Subscription": "0194c0de", "URL": "https://crm.example.com/hooks", "Reason": "every attempt has failed since 2026-11-25T09:00:00Z",
			"LastError": "503 Service Unavailable"}, nil, ""
	case mail.ChangeEmail:
		return map[string]any{"Link": link("account/email/confirm"), "Code": "205817", "Email": "ada.new@example.org", "Hours": 24, "Name": "Ada"},
			[]string{link("account/email/confirm")}, "205817"
	case mail.EmailInUse:
		return map[string]any{"SignInLink": link("login"), "ResetLink": link("recovery")}, []string{link("login"), link("recovery")}, ""
	case mail.EmailChanged:
		return map[string]any{"UndoLink": link("account/email/undo"), "NewEmail": "ada.new@example.org", "Days": 7, "Name": "Ada"},
			[]string{link("account/email/undo")}, ""
	case mail.RecoveryCodeUsed:
		return map[string]any{"AccountLink": link("account"), "ResetLink": link("reset"), "Remaining": 7}, []string{link("account"), link("reset")}, ""
	}
	panic("no example data for " + name)
}

func TestRenderEveryTemplateInEveryLanguage(t *testing.T) {
	r := newRenderer(t, mail.Branding{ProductName: "Acme ID", PrimaryColor: "#0b6e4f"})
	for _, name := range mail.Templates() {
		subjects := map[string]language.Tag{}
		for _, tag := range i18n.Languages {
			t.Run(name+"/"+tag.String(), func(t *testing.T) {
				data, links, code := exampleData(name)
				subject, text, html, err := r.Render(mail.Message{To: "ada@example.com", Template: name, Lang: tag, Data: data})
				if err != nil {
					t.Fatalf("Render: %v", err)
				}
				if strings.TrimSpace(subject) == "" || strings.ContainsAny(subject, "\r\n") {
					t.Errorf("subject = %q, want one non-empty line", subject)
				}
				if other, dup := subjects[subject]; dup {
					t.Errorf("subject %q is the same in %s and %s: not translated", subject, other, tag)
				}
				subjects[subject] = tag
				if !strings.Contains(subject, "Acme ID") {
					t.Errorf("subject = %q, want the product name in it", subject)
				}
				for part, body := range map[string]string{"subject": subject, "text": text, "html": html} {
					for _, bad := range []string{"mail.", "<no value>", "%!", "ZgotmplZ", "{{"} {
						if strings.Contains(body, bad) {
							t.Errorf("%s contains %q (an untranslated ID or a template mistake):\n%s", part, bad, body)
						}
					}
				}
				for _, l := range links {
					if !strings.Contains(text, l) {
						t.Errorf("text body lacks link %s:\n%s", l, text)
					}
					if esc := strings.ReplaceAll(l, "&", "&amp;"); !strings.Contains(html, `href="`+esc+`"`) || !strings.Contains(html, ">"+esc+"</a>") {
						t.Errorf("html body lacks link %s as a clickable href and as visible text", esc)
					}
				}
				if code != "" && (!strings.Contains(text, code) || !strings.Contains(html, ">"+code+"</p>")) {
					t.Errorf("code %s missing from text or html", code)
				}
				if want := `<html lang="` + tag.String() + `"`; !strings.Contains(html, want) {
					t.Errorf("html lacks %s", want)
				}
				if !strings.Contains(html, "<title>"+subject+"</title>") {
					t.Errorf("html title is not the subject %q", subject)
				}
				if !strings.Contains(html, "#0b6e4f") {
					t.Errorf("html does not use the primary colour")
				}
				if !strings.HasSuffix(text, "\n") || strings.Contains(text, "\n\n\n") {
					t.Errorf("text body is not tidy:\n%q", text)
				}
				if !strings.Contains(text, "\n-- \n") {
					t.Errorf("text body lacks the signature separator \"-- \":\n%s", text)
				}
			})
		}
	}
}

func TestRenderEscapesValuesInHTML(t *testing.T) {
	r := newRenderer(t, mail.Branding{ProductName: `Acme <b>ID</b>`})
	name := `<script>alert("x")</script>`
	subject, text, html, err := r.Render(mail.Message{
		To: "ada@example.com", Template: mail.ResetPassword, Lang: language.English,
		Data: map[string]any{"Link": `https://id.example.com/reset?t=1"><script>x</script>`, "Name": name},
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html, "<script>") || strings.Contains(html, "<b>ID") {
		t.Errorf("html contains unescaped markup:\n%s", html)
	}
	if !strings.Contains(html, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
		t.Errorf("html lacks the escaped name:\n%s", html)
	}
	if !strings.Contains(text, "Hello "+name+",") {
		t.Errorf("text body: got %q, want the name as written", text)
	}
	if !strings.Contains(subject, "Acme <b>ID</b>") {
		t.Errorf("subject = %q, want the product name as written (a subject is not HTML)", subject)
	}
}

func TestRenderGreeting(t *testing.T) {
	r := newRenderer(t, mail.Branding{})
	for _, tc := range []struct {
		lang language.Tag
		name string
		want string
	}{
		{language.English, "", "Hello,\n"},
		{language.English, "Ada", "Hello Ada,\n"},
		{language.Swedish, "Åsa", "Hej Åsa!\n"},
		{language.Finnish, "", "Hei!\n"},
		{language.MustParse("sv-FI"), "", "Hej!\n"},
		{language.German, "", "Hello,\n"}, // not spoken: English
	} {
		t.Run(tc.lang.String()+"/"+tc.name, func(t *testing.T) {
			_, text, _, err := r.Render(mail.Message{To: "a@example.com", Template: mail.PasswordChanged, Lang: tc.lang,
				Data: map[string]any{"ResetLink": "https://id.example.com/reset", "Name": tc.name}})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(text, tc.want) {
				t.Errorf("text starts %q, want %q", text[:min(len(text), 20)], tc.want)
			}
		})
	}
}

func TestRenderRefusesBadMessages(t *testing.T) {
	r := newRenderer(t, mail.Branding{})
	for _, tc := range []struct {
		name     string
		template string
		data     map[string]any
	}{
		{"unknown template", "welcome", map[string]any{"Link": "https://x.example/"}},
		{"no template", "", nil},
		{"missing link", mail.VerifyEmail, map[string]any{"Code": "123456"}},
		{"missing code", mail.VerifyEmail, map[string]any{"Link": "https://x.example/v"}},
		{"relative link", mail.ResetPassword, map[string]any{"Link": "/reset?t=1"}},
		{"javascript link", mail.ResetPassword, map[string]any{"Link": "javascript:alert(1)"}},
		{"one of two links", mail.AccountExists, map[string]any{"SignInLink": "https://x.example/in"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := r.Render(mail.Message{To: "a@example.com", Template: tc.template, Lang: language.English, Data: tc.data})
			if !errors.Is(err, mail.ErrInvalidMessage) {
				t.Errorf("Render: got %v, want ErrInvalidMessage", err)
			}
		})
	}
}

func TestBranding(t *testing.T) {
	c := newCatalog(t)
	for _, tc := range []struct {
		name    string
		b       mail.Branding
		wantErr bool
		want    []string // in the HTML
	}{
		{"defaults", mail.Branding{}, false, []string{">Portvakt</p>", "background-color:#1d4ed8", "color:#ffffff;text-decoration:none"}},
		{"light colour gets dark button text", mail.Branding{PrimaryColor: "#ffd500"}, false,
			[]string{"background-color:#ffd500", "color:#000000;text-decoration:none", "color:#1d4ed8;word-break"}},
		{"short hex", mail.Branding{PrimaryColor: "#036"}, false, []string{"background-color:#036", "color:#036;word-break"}},
		{"logo", mail.Branding{ProductName: "Acme", LogoURL: "https://cdn.example.com/logo.png"}, false,
			[]string{`<img src="https://cdn.example.com/logo.png" alt="Acme"`}},
		{"colour name", mail.Branding{PrimaryColor: "red"}, true, nil},
		{"css injection", mail.Branding{PrimaryColor: "#fff;background:url(x)"}, true, nil},
		{"logo not a URL", mail.Branding{LogoURL: "javascript:alert(1)"}, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := mail.NewRenderer(c, tc.b)
			if tc.wantErr {
				if err == nil {
					t.Fatal("NewRenderer: got no error, want one")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, _, html, err := r.Render(mail.Message{To: "a@example.com", Template: mail.ResetPassword, Lang: language.English,
				Data: map[string]any{"Link": "https://id.example.com/reset"}})
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(html, w) {
					t.Errorf("html lacks %q", w)
				}
			}
		})
	}
	if _, err := mail.NewRenderer(nil, mail.Branding{}); err == nil {
		t.Error("NewRenderer(nil catalog): got no error, want one")
	}
}

func TestLinks(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"no links here", nil},
		{"Open https://id.example.com/v?t=1&f=2\n", []string{"https://id.example.com/v?t=1&f=2"}},
		{"two: http://a.example/x, and https://b.example/y.", []string{"http://a.example/x", "https://b.example/y"}},
		{"(see https://a.example/z)", []string{"https://a.example/z"}},
		{"ftp://a.example/ and mailto:x@example.com", nil},
	} {
		got := mail.Links(tc.text)
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("Links(%q): got %q, want %q", tc.text, got, tc.want)
		}
	}
}

// TestRecoveryCodeUsedSaysHowManyAreLeft: the count reaches both bodies.
func TestRecoveryCodeUsedSaysHowManyAreLeft(t *testing.T) {
	r := newRenderer(t, mail.Branding{ProductName: "Acme ID", PrimaryColor: "#0b6e4f"})
	_, text, html, err := r.Render(mail.Message{To: "ada@example.com", Template: mail.RecoveryCodeUsed, Lang: language.English,
		Data: map[string]any{"AccountLink": "https://id.example.com/account", "ResetLink": "https://id.example.com/recovery", "Remaining": 7}})
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{text, html} {
		if !strings.Contains(body, "You have 7 recovery codes left") {
			t.Errorf("body lacks the count:\n%s", body)
		}
	}
}

// TestEmailChangeMailsNameTheAddressesAndTimes: the mail to a new address
// names it and how long its code works; the one to the old address names
// the new one and how long its undo link works — in every language.
func TestEmailChangeMailsNameTheAddressesAndTimes(t *testing.T) {
	r := newRenderer(t, mail.Branding{ProductName: "Acme ID"})
	for _, tag := range i18n.Languages {
		for _, tc := range []struct {
			template string
			data     map[string]any
			want     []string
		}{
			{mail.ChangeEmail, map[string]any{"Link": "https://id.example.com/account/email/confirm?token=x", "Code": "205817", "Email": "ada.new@example.org", "Hours": 24},
				[]string{"ada.new@example.org", "24", "205817"}},
			{mail.EmailChanged, map[string]any{"UndoLink": "https://id.example.com/account/email/undo?token=y", "NewEmail": "ada.new@example.org", "Days": 7},
				[]string{"ada.new@example.org", "7"}},
		} {
			_, text, html, err := r.Render(mail.Message{To: "ada@example.com", Template: tc.template, Lang: tag, Data: tc.data})
			if err != nil {
				t.Fatalf("%s/%s: %v", tc.template, tag, err)
			}
			for _, body := range []string{text, html} {
				for _, w := range tc.want {
					if !strings.Contains(body, w) {
						t.Errorf("%s/%s lacks %q:\n%s", tc.template, tag, w, body)
					}
				}
			}
		}
	}
}
